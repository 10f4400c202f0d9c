"""Every way a state manager hands a row out gives a read-only mapping.

The identity map holds its rows as plain dicts (a dict of plain values costs the
garbage collector nothing); each hand-out wraps the row in a read-only view, so a
caller can never change a row behind the state manager's back.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from glue.schema import Column, ColumnType, Schema
from glue.state import Insert, StateManager, Update, Upsert

if TYPE_CHECKING:
    from collections.abc import Mapping

    from glue.state.identity import Key

ORDERS = Schema(
    name="orders",
    columns=(
        Column(name="id", type=ColumnType.INTEGER),
        Column(name="total", type=ColumnType.FLOAT),
    ),
    primary_key=("id",),
    audit=True,
)
ITEMS = Schema(
    name="items",
    columns=(Column(name="id", type=ColumnType.INTEGER),),
    primary_key=("id",),
    soft_delete=True,
)
STORED = {
    ("orders", (1,)): {"id": 1, "total": 1.0, "etag": "e1"},
    ("orders", (2,)): {"id": 2, "total": 2.0, "etag": "e2"},
    ("items", (5,)): {"id": 5, "etag": "i5", "deleted_at": None},
}


async def load(schema: Schema, keys: Any) -> list[dict[str, Any]]:
    return [
        {
            **STORED[(schema.name, key)],
            **(
                {"created_at": None, "updated_at": None}
                | {"created_by": None, "updated_by": None}
                if schema.audit
                else {}
            ),
        }
        for key in keys
        if (schema.name, key) in STORED
    ]


def assert_read_only(row: Mapping[str, Any] | None) -> None:
    """``row`` is a mapping no caller can change."""
    assert row is not None
    assert not isinstance(row, dict)
    column = next(iter(row))
    before = dict(row)
    with pytest.raises(TypeError):
        row[column] = "changed"  # type: ignore[index]  # read-only: the point
    with pytest.raises(AttributeError):
        row.clear()  # type: ignore[attr-defined]
    with pytest.raises(AttributeError):
        row.update({column: "changed"})  # type: ignore[attr-defined]
    assert dict(row) == before


async def test_reads_hand_out_read_only_rows() -> None:
    state = StateManager(loader=load)
    assert_read_only(await state.get(ORDERS, 1))
    assert_read_only(await state.require(ORDERS, 1))
    (first, second, absent) = await state.get_many(ORDERS, [1, 2, 3])
    assert absent is None
    assert_read_only(first)
    assert_read_only(second)
    assert_read_only(await state.get(ITEMS, 5))
    (soft,) = await state.get_many(ITEMS, [5])
    assert_read_only(soft)
    tracked = state.track(ORDERS, [{"id": 1, "total": 1.0}, {"id": 9, "total": 9.0}])
    assert [row["id"] for row in tracked] == [1, 9]
    for row in tracked:
        assert_read_only(row)
    # What the caller passed in is copied, not held: changing it changes nothing.
    mine = {"id": 10, "total": 10.0, "etag": "e10"}
    state.track(ORDERS, [mine])
    mine["total"] = 0.0
    assert (await state.require(ORDERS, 10))["total"] == 10.0


async def test_changes_hand_out_read_only_rows() -> None:
    state = StateManager(loader=load)
    assert_read_only(await state.insert(ORDERS, {"id": 3, "total": 3.0}))
    for row in await state.insert_many(
        ORDERS, [{"id": 4, "total": 4.0}, {"id": 5, "total": 5.0}]
    ):
        assert_read_only(row)
    assert_read_only(await state.update(ORDERS, 1, {"total": 1.5}))
    assert_read_only(await state.update(ORDERS, 1, {"total": 1.5}))  # unchanged
    for row in await state.update_many(
        ORDERS, [(2, {"total": 2.5}), (3, {"total": 3.0}), (4, {"total": 4.5})]
    ):
        assert_read_only(row)
    # A key twice goes through update() in a loop: the same rule.
    for row in await state.update_many(ORDERS, [(4, {"total": 6.0}), (4, {})]):
        assert_read_only(row)
    assert_read_only(await state.upsert(ORDERS, {"id": 6, "total": 6.0}))  # create
    assert_read_only(await state.upsert(ORDERS, {"id": 6, "total": 7.0}))  # merge
    assert_read_only(await state.upsert(ORDERS, {"id": 6, "total": 7.0}))  # same
    assert_read_only(
        await state.apply(Insert(schema=ORDERS, values={"id": 7, "total": 7.0}))
    )
    assert_read_only(
        await state.apply(Update(schema=ORDERS, key=7, changes={"total": 8.0}))
    )
    assert_read_only(
        await state.apply(Upsert(schema=ORDERS, values={"id": 7, "total": 9.0}))
    )
    # Every row handed out above still holds what the state manager made.
    assert [(await state.require(ORDERS, k))["total"] for k in range(1, 8)] == [
        1.5,
        2.5,
        3.0,
        6.0,
        5.0,
        7.0,
        9.0,
    ]


async def test_entries_hand_out_read_only_rows() -> None:
    state = StateManager(loader=load)
    await state.get(ORDERS, 1)
    await state.update(ORDERS, 2, {"total": 2.5})
    await state.insert(ORDERS, {"id": 3, "total": 3.0})
    clean = state.tracked(ORDERS, 1)
    assert clean is not None and clean.kind is None
    assert clean.stored == clean.current
    assert_read_only(clean.stored)
    assert_read_only(clean.current)
    changed = state.tracked(ORDERS, 2)
    assert changed is not None
    assert_read_only(changed.stored)
    assert_read_only(changed.current)
    key: Key
    for (_, key), tracked in state.snapshot().items():
        assert tracked.key == key
        assert_read_only(tracked.current)
    for tracked in (*state.pending, *state.changes()):
        assert_read_only(tracked.current)
    rows = [t.current for t in state.changes()]
    assert [row["total"] for row in rows if row is not None] == [2.5, 3.0]
    # The flush marks them written; what was handed out stays as it was.
    state.mark_flushed(state.changes())
    assert not state.pending
    after = state.tracked(ORDERS, 2)
    assert after is not None and after.kind is None
    assert_read_only(after.stored)
    assert after.stored == rows[0]
