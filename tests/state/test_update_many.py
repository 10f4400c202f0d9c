"""StateManager.update_many: the bulk form of `update`, row for row the same."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

import anyio
import pytest

from glue.errors import NotFound, SchemaError
from glue.schema import Column, ColumnType, Schema
from glue.state import RowKind, StateManager, Update

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from glue.state import Key, Row

ORDERS = Schema(
    name="orders",
    columns=(
        Column(name="id", type=ColumnType.INTEGER),
        Column(name="total", type=ColumnType.FLOAT),
        Column(name="status", type=ColumnType.TEXT, default="new"),
    ),
    primary_key=("id",),
    audit=True,
)
ITEMS = Schema(
    name="items",
    columns=(
        Column(name="id", type=ColumnType.INTEGER),
        Column(name="name", type=ColumnType.TEXT),
    ),
    primary_key=("id",),
    soft_delete=True,
)
PAIRS = Schema(
    name="pairs",
    columns=(
        Column(name="a", type=ColumnType.INTEGER),
        Column(name="b", type=ColumnType.TEXT),
        Column(name="value", type=ColumnType.INTEGER),
    ),
    primary_key=("a", "b"),
    versioned=False,
)
T0 = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
T1 = dt.datetime(2030, 1, 2, tzinfo=dt.UTC)


def stored(key: int) -> dict[str, Any]:
    return {
        "id": key, "total": 1.0, "status": "new", "etag": f"e{key}",
        "created_at": T0, "updated_at": T0, "created_by": "x", "updated_by": "x",
    }  # fmt: skip


class Store:
    """Rows by (table, key); counts the reads."""

    def __init__(self) -> None:
        self.rows: dict[tuple[str, Key], dict[str, Any]] = {
            ("orders", (k,)): stored(k) for k in range(1, 6)
        }
        self.rows[("items", (1,))] = {"id": 1, "name": "a", "etag": "i1"}
        self.rows[("items", (1,))]["deleted_at"] = T0
        self.rows[("pairs", (1, "x"))] = {"a": 1, "b": "x", "value": 0}
        self.reads: list[tuple[str, tuple[Key, ...]]] = []

    async def load(self, schema: Schema, keys: Sequence[Key]) -> list[dict[str, Any]]:
        self.reads.append((schema.name, tuple(keys)))
        found = (self.rows.get((schema.name, k)) for k in keys)
        return [dict(row) for row in found if row is not None]


def manager(store: Store) -> StateManager:
    return StateManager(loader=store.load, actor="alice", clock=lambda: T1)


def without_etags(rows: Iterable[Row | None]) -> list[dict[str, Any]]:
    return [{k: v for k, v in (r or {}).items() if k != "etag"} for r in rows]


async def test_update_many_is_update_in_a_loop() -> None:
    changes: list[tuple[int, dict[str, Any]]] = [
        (1, {"total": 2.0}),
        (2, {"status": "paid", "total": 3.0}),
        (3, {"total": 1.0}),  # unchanged: no write, etag kept
        (4, {"status": "new", "total": 4.0}),  # only total written
    ]
    bulk, looped = manager(Store()), manager(Store())
    rows = await bulk.update_many(ORDERS, changes)
    expected = [await looped.update(ORDERS, k, c) for k, c in changes]
    assert without_etags(rows) == without_etags(expected)
    assert rows[2]["etag"] == "e3"
    assert len({r["etag"] for r in rows} | {"e1", "e2", "e4"}) == 7
    assert rows[0]["updated_at"] == T1 and rows[0]["updated_by"] == "alice"
    assert [(t.key, t.kind, t.changed, t.order) for t in bulk.pending] == [
        (t.key, t.kind, t.changed, t.order) for t in looped.pending
    ]
    assert bulk.pending[2].changed == {"total", "etag", "updated_at", "updated_by"}
    assert bulk.log == tuple(
        Update(schema=ORDERS, key=k, changes=c) for k, c in changes
    )
    for key in (1, 2, 4):
        assert await bulk.get(ORDERS, key) is rows[key - 1]


async def test_update_many_of_one_shape_is_update_in_a_loop() -> None:
    # Every change sets the same columns (checked once for the batch), in any
    # order: rows with all, some or none of them changed, and a NaN, which
    # never equals itself (so it is written, as `update` writes it).
    nan = float("nan")
    changes: list[tuple[int, dict[str, Any]]] = [
        (1, {"status": "paid", "total": 2.0}),
        (2, {"total": 1.0, "status": "new"}),  # unchanged
        (3, {"status": "new", "total": 4.0}),  # only total
        (4, {"status": "paid", "total": nan}),
        (5, {"status": "paid", "total": 1.0}),  # only status
    ]
    bulk, looped = manager(Store()), manager(Store())
    rows = await bulk.update_many(ORDERS, changes)
    expected = [await looped.update(ORDERS, k, c) for k, c in changes]
    assert repr(without_etags(rows)) == repr(without_etags(expected))
    assert [(t.key, t.kind, t.changed, t.order) for t in bulk.pending] == [
        (t.key, t.kind, t.changed, t.order) for t in looped.pending
    ]
    assert rows[1]["etag"] == "e2"
    again = await bulk.update_many(ORDERS, [(4, {"status": "paid", "total": nan})])
    assert again[0]["etag"] == rows[3]["etag"]  # a row already changed: same etag
    assert bulk.pending[1].changed == {"total", "etag", "updated_at", "updated_by"}


async def test_update_many_of_one_shape_stops_at_the_first_bad_row() -> None:
    state = manager(Store())
    with pytest.raises(NotFound):
        await state.update_many(
            ORDERS, [(1, {"total": 2.0}), (9, {"total": 2.0}), (2, {"total": 2.0})]
        )
    assert [t.key for t in state.pending] == [(1,)]


async def test_update_many_reads_unseen_rows_once_and_keeps_first_touch_order() -> None:
    store = Store()
    state = manager(store)
    await state.update(ORDERS, 3, {"total": 7.0})
    rows = await state.update_many(ORDERS, [(1, {"total": 5.0}), (3, {"total": 8.0})])
    assert store.reads == [("orders", ((3,),)), ("orders", ((1,),))]
    assert [t.key for t in state.pending] == [(3,), (1,)]
    again = await state.update_many(ORDERS, [(3, {"total": 9.0})])
    assert again[0]["etag"] == rows[1]["etag"]  # one new etag per unit
    assert len(store.reads) == 2


async def test_update_many_applies_a_repeated_key_in_order() -> None:
    state = manager(Store())
    rows = await state.update_many(
        ORDERS, [(1, {"total": 2.0}), (1, {"status": "paid"})]
    )
    assert (rows[1]["total"], rows[1]["status"]) == (2.0, "paid")
    assert rows[0]["etag"] == rows[1]["etag"]
    assert len(state.pending) == 1


async def test_update_many_of_composite_keys_and_unversioned_rows() -> None:
    state = manager(Store())
    (row,) = await state.update_many(PAIRS, [((1, "x"), {"value": 3})])
    assert row == {"a": 1, "b": "x", "value": 3}
    (pending,) = state.pending
    assert (pending.kind, pending.changed) == (RowKind.UPDATE, frozenset({"value"}))


async def test_update_many_stops_at_the_first_bad_row() -> None:
    state = manager(Store())
    with pytest.raises(NotFound) as caught:
        await state.update_many(ORDERS, [(1, {"total": 2.0}), (9, {"total": 2.0})])
    assert (caught.value.table, caught.value.key) == ("orders", 9)
    assert [t.key for t in state.pending] == [(1,)]  # as update() in a loop
    assert len(state.log) == 2
    with pytest.raises(NotFound):
        await state.update_many(ITEMS, [(1, {"name": "b"})])  # soft-deleted
    with pytest.raises(SchemaError, match="etag"):
        await state.update_many(ORDERS, [(2, {"etag": "mine"})])
    with pytest.raises(SchemaError, match="'colour'"):
        await state.update_many(ORDERS, [(2, {"colour": "red"})])
    with pytest.raises(SchemaError, match="primary key"):
        await state.update_many(ORDERS, [(2, {"id": 20})])
    assert [t.key for t in state.pending] == [(1,)]
    assert (await state.update_many(ORDERS, [(2, {"id": 2})]))[0]["etag"] == "e2"


async def test_update_many_reads_through_get_many() -> None:
    """What guards a state manager's reads (a domain's table fence) guards it too."""
    seen: list[str] = []

    class Guarded(StateManager):
        async def get_many(
            self, schema: Schema, keys: Iterable[Any]
        ) -> list[Row | None]:
            seen.append(schema.name)
            return await super().get_many(schema, keys)

    store = Store()
    state = Guarded(loader=store.load)
    await state.update_many(ORDERS, [(1, {"total": 2.0})])
    await state.update_many(ORDERS, [(1, {"total": 3.0})])  # nothing to read
    assert seen == ["orders", "orders"]


async def test_update_many_merges_into_changes_made_while_it_read() -> None:
    store = Store()
    reading, go = anyio.Event(), anyio.Event()

    async def slow(schema: Schema, keys: Sequence[Key]) -> list[dict[str, Any]]:
        if keys == [(2,)]:
            reading.set()
            await go.wait()
        return await store.load(schema, keys)

    state = StateManager(loader=slow)
    await state.get(ORDERS, 1)
    async with anyio.create_task_group() as group:
        group.start_soon(
            state.update_many, ORDERS, [(1, {"total": 2.0}), (2, {"total": 2.0})]
        )
        await reading.wait()
        await state.update(ORDERS, 1, {"status": "paid"})
        go.set()
    row = await state.get(ORDERS, 1)
    assert row is not None and (row["status"], row["total"]) == ("paid", 2.0)
