"""StateManager alone: stamping, merging, identity map, pending changes (S rows)."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

import msgspec
import pytest

from glue.errors import (
    IntegrityError,
    NotFound,
    SchemaError,
    StaleEtag,
)
from glue.schema import Column, ColumnType, Schema
from glue.state import Delete, Insert, RowKind, StateManager, Update, Upsert

if TYPE_CHECKING:
    from collections.abc import Sequence

    from glue.state import Key

ORDERS = Schema(
    name="orders",
    columns=(
        Column(name="id", type=ColumnType.INTEGER),
        Column(name="total", type=ColumnType.FLOAT),
        Column(name="status", type=ColumnType.TEXT, default="new"),
        Column(name="note", type=ColumnType.TEXT, nullable=True),
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
PLAIN = Schema(
    name="plain",
    columns=(Column(name="id", type=ColumnType.INTEGER),),
    primary_key=("id",),
    versioned=False,
)
T0 = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)


class Clock:
    """A clock that moves one second per reading."""

    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> dt.datetime:
        self.now += dt.timedelta(seconds=1)
        return self.now


class Store:
    """An in-memory table store that counts reads."""

    def __init__(
        self, rows: dict[tuple[str, Key], dict[str, Any]] | None = None
    ) -> None:
        self.rows = rows or {}
        self.reads: list[tuple[str, tuple[Key, ...]]] = []

    async def load(self, schema: Schema, keys: Sequence[Key]) -> list[dict[str, Any]]:
        self.reads.append((schema.name, tuple(keys)))
        return [
            dict(self.rows[(schema.name, k)])
            for k in keys
            if (schema.name, k) in self.rows
        ]


def stored_order(key: int, **values: Any) -> dict[str, Any]:
    row = {
        "id": key, "total": 1.0, "status": "new", "note": None, "etag": f"e{key}",
        "created_at": T0, "updated_at": T0, "created_by": "x", "updated_by": "x",
    }  # fmt: skip
    row.update(values)
    return row


@pytest.fixture
def store() -> Store:
    return Store(
        {
            ("orders", (1,)): stored_order(1),
            ("items", (5,)): {"id": 5, "etag": "i5", "deleted_at": None},
            ("items", (6,)): {"id": 6, "etag": "i6", "deleted_at": T0},
        }
    )


@pytest.fixture
def state(store: Store) -> StateManager:
    return StateManager(loader=store.load, actor="alice", clock=Clock())


async def test_s01_create_stamps_times_actor_and_a_new_etag(
    state: StateManager,
) -> None:
    row = await state.insert(ORDERS, {"id": 2, "total": 9.5})
    assert row["created_at"] == row["updated_at"] == T0 + dt.timedelta(seconds=1)
    assert row["created_by"] == row["updated_by"] == "alice"
    assert isinstance(row["etag"], str) and len(row["etag"]) == 32
    assert row["status"] == "new" and row["note"] is None
    other = await state.insert(ORDERS, {"id": 3, "total": 1.0})
    assert other["etag"] != row["etag"]


async def test_s02_update_merges_into_newest_state_and_stamps(
    state: StateManager,
) -> None:
    first = await state.update(ORDERS, 1, {"total": 2.0})
    second = await state.update(ORDERS, 1, {"status": "paid"})
    assert second["total"] == 2.0 and second["status"] == "paid"
    assert second["updated_by"] == "alice" and second["created_by"] == "x"
    assert second["updated_at"] > T0
    assert first["etag"] == second["etag"] != "e1"  # one new etag per persisted change


async def test_s03_delete_is_soft_for_tracked_tables_and_hard_otherwise(
    state: StateManager,
) -> None:
    assert await state.delete(ITEMS, 5)
    assert await state.get(ITEMS, 5) is None
    (pending,) = state.pending
    assert pending.kind is RowKind.UPDATE and pending.current is not None
    assert pending.current["deleted_at"] is not None
    assert await state.delete(ORDERS, 1)
    assert state.pending[-1].kind is RowKind.DELETE


async def test_s04_mutations_are_plain_frozen_values(state: StateManager) -> None:
    insert = Insert(schema=ORDERS, values={"id": 2, "total": 1.0})
    with pytest.raises(AttributeError):
        insert.schema = ITEMS  # type: ignore[misc]  # frozen: that is the point
    assert insert == Insert(schema=ORDERS, values={"id": 2, "total": 1.0})
    await state.apply(insert)
    await state.apply(Update(schema=ORDERS, key=2, changes={"total": 3.0}))
    await state.apply(Upsert(schema=ORDERS, values={"id": 1, "status": "paid"}))
    await state.apply(Delete(schema=ORDERS, key=2))
    assert [type(m).__name__ for m in state.log] == [
        "Insert",
        "Update",
        "Upsert",
        "Delete",
    ]
    assert [(t.kind, t.key) for t in state.pending] == [(RowKind.UPDATE, (1,))]


async def test_s05_each_row_is_read_at_most_once(
    state: StateManager, store: Store
) -> None:
    await state.get(ORDERS, 1)
    await state.update(ORDERS, 1, {"total": 5.0})
    assert (await state.require(ORDERS, 1))["total"] == 5.0
    assert await state.get(ORDERS, 99) is None
    assert await state.get(ORDERS, 99) is None
    await state.get_many(ORDERS, [1, 99, 100])
    assert store.reads == [
        ("orders", ((1,),)),
        ("orders", ((99,),)),
        ("orders", ((100,),)),
    ]


async def test_s06_missing_or_soft_deleted_is_none_and_not_found(
    state: StateManager,
) -> None:
    assert await state.get(ITEMS, 6) is None
    assert await state.get(ITEMS, 7) is None
    with pytest.raises(NotFound) as caught:
        await state.require(ITEMS, 6)
    assert caught.value.table == "items" and caught.value.key == 6
    assert "items 6 not found" in str(caught.value)
    with pytest.raises(NotFound):
        await state.update(ITEMS, 6, {})


async def test_s07_a_stale_etag_conflicts_at_once(state: StateManager) -> None:
    with pytest.raises(StaleEtag) as caught:
        await state.update(ORDERS, 1, {"total": 2.0}, etag="old")
    # The key reads as at a flush: a single value for a one-column key.
    assert (caught.value.table, caught.value.key, caught.value.expected) == (
        "orders", 1, "old",
    )  # fmt: skip
    assert (await state.update(ORDERS, 1, {"total": 2.0}, etag="e1"))["total"] == 2.0


async def test_s08_an_unchanged_save_writes_nothing_and_keeps_the_etag(
    state: StateManager,
) -> None:
    row = await state.update(ORDERS, 1, {"total": 1.0, "status": "new"})
    assert row["etag"] == "e1" and not state.pending and not state.is_dirty(ORDERS, 1)


async def test_s09_s10_one_write_per_row(state: StateManager) -> None:
    await state.insert(ORDERS, {"id": 2, "total": 1.0})
    await state.update(ORDERS, 2, {"total": 2.0})
    await state.update(ORDERS, 2, {"note": "x"})
    await state.insert(PLAIN, {"id": 1})
    await state.delete(PLAIN, 1)  # never written: nothing to do
    (only,) = state.changes()
    assert only.kind is RowKind.INSERT and only.current is not None
    assert only.current["total"] == 2.0 and only.current["note"] == "x"
    assert only.current["created_at"] == only.current["updated_at"]


async def test_s13_pending_rows_keep_first_change_order(state: StateManager) -> None:
    await state.insert(ORDERS, {"id": 3, "total": 1.0})
    await state.get(ITEMS, 5)  # reads do not order writes
    await state.update(ORDERS, 1, {"total": 4.0})
    await state.delete(ITEMS, 5)
    await state.update(ORDERS, 3, {"total": 2.0})
    assert [(t.schema.name, t.key) for t in state.changes()] == [
        ("orders", (3,)), ("orders", (1,)), ("items", (5,)),
    ]  # fmt: skip
    assert state.changes().tables() == ("orders", "items")


async def test_s14_state_managers_share_nothing(store: Store) -> None:
    one = StateManager(loader=store.load)
    two = StateManager(loader=store.load)
    await one.update(ORDERS, 1, {"total": 7.0})
    assert (await two.require(ORDERS, 1))["total"] == 1.0
    assert len(one.pending) == 1 and not two.pending


async def test_s16_handlers_cannot_set_system_columns(state: StateManager) -> None:
    for values in (
        {"id": 2, "total": 1.0, "etag": "mine"},
        {"id": 2, "total": 1.0, "created_by": "me"},
    ):
        with pytest.raises(SchemaError, match="stamped by the state manager"):
            await state.insert(ORDERS, values)
    with pytest.raises(SchemaError, match="updated_at"):
        await state.update(ORDERS, 1, {"updated_at": T0})
    with pytest.raises(SchemaError, match="deleted_at"):
        await state.update(ITEMS, 5, {"deleted_at": T0})
    assert not state.pending


async def test_rows_are_read_only(state: StateManager) -> None:
    row = await state.require(ORDERS, 1)
    with pytest.raises(TypeError):
        row["total"] = 3.0  # type: ignore[index]  # read-only: that is the point
    assert (await state.require(ORDERS, 1))["total"] == 1.0


async def test_bad_input_names_the_column(state: StateManager) -> None:
    with pytest.raises(SchemaError, match="'colour'"):
        await state.insert(ORDERS, {"id": 2, "total": 1.0, "colour": "red"})
    with pytest.raises(SchemaError, match="'total'"):
        await state.insert(ORDERS, {"id": 2})
    with pytest.raises(SchemaError, match="primary key"):
        await state.update(ORDERS, 1, {"id": 2})
    with pytest.raises(SchemaError, match="primary key"):
        await state.get(ORDERS, (1, 2))
    with pytest.raises(IntegrityError, match="already exists"):
        await state.insert(ORDERS, {"id": 1, "total": 1.0})


async def test_upsert_creates_when_absent_and_merges_when_present(
    state: StateManager,
) -> None:
    created = await state.upsert(ORDERS, {"id": 8, "total": 2.0})
    merged = await state.upsert(ORDERS, {"id": 1, "total": 3.0})
    assert created["status"] == "new" and merged["created_by"] == "x"
    kinds = [(t.key, t.kind) for t in state.pending]
    assert kinds == [((8,), RowKind.CREATE), ((1,), RowKind.UPDATE)]


async def test_insert_many_and_track(state: StateManager) -> None:
    rows = await state.insert_many(
        ORDERS, [{"id": i, "total": 1.0} for i in range(10, 20)]
    )
    assert len({r["etag"] for r in rows}) == 10
    assert len(state.pending) == 10
    tracked = state.track(ORDERS, [stored_order(50), stored_order(10)])
    assert tracked[0]["etag"] == "e50" and tracked[1] is rows[0]
    with pytest.raises(IntegrityError):
        await state.insert_many(
            ORDERS, [{"id": 30, "total": 1.0}, {"id": 30, "total": 2.0}]
        )


async def test_insert_many_logs_each_row_and_names_bad_columns(
    state: StateManager,
) -> None:
    values = [{"id": i, "total": 1.0} for i in (40, 41)]
    rows = await state.insert_many(ORDERS, values)
    assert [(r["status"], r["note"], r["created_by"]) for r in rows] == [
        ("new", None, "alice"),
        ("new", None, "alice"),
    ]
    assert state.log == (
        Insert(schema=ORDERS, values=values[0]),
        Insert(schema=ORDERS, values=values[1]),
    )
    bad: list[tuple[dict[str, Any], str]] = [
        ({"id": 42, "total": 1.0, "etag": "x"}, "stamped by the state manager"),
        ({"id": 42, "total": 1.0, "colour": "red"}, "'colour'"),
        ({"id": 42}, "lacks required column"),
    ]
    for row, message in bad:
        with pytest.raises(SchemaError, match=message):
            await state.insert_many(ORDERS, [{"id": 43, "total": 1.0}, row])
    # Columns are checked once per batch, yet the first wrong row is named.
    with pytest.raises(SchemaError, match="lacks required column"):
        await state.insert_many(ORDERS, [{"id": 44}, {"id": 45, "colour": "red"}])
    assert len(state.pending) == 2


async def test_soft_deleted_key_can_be_created_again(state: StateManager) -> None:
    await state.get(ITEMS, 6)
    row = await state.insert(ITEMS, {"id": 6})
    (pending,) = state.pending
    assert pending.kind is RowKind.UPDATE and row["deleted_at"] is None


async def test_mark_flushed_makes_rows_clean(state: StateManager) -> None:
    await state.update(ORDERS, 1, {"total": 2.0})
    changes = state.changes()
    state.mark_flushed(changes)
    assert not state.pending
    row = await state.update(ORDERS, 1, {"total": 3.0})
    (pending,) = state.pending
    assert pending.held_etag == changes.rows[0].current["etag"] != row["etag"]  # type: ignore[index]
    assert msgspec.structs.asdict(pending)["order"] == 0
