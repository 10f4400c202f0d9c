"""Bulk writes on SQLite and PostgreSQL: COPY, batched guarded updates, pinning.

From `glue.sql.dialects.postgres.COPY_ROWS` rows an insert goes out by
``copy_records`` (``COPY`` on PostgreSQL); an UPDATE batch is checked by its row
count, and a short count is pinned to the rows that missed.
"""

from __future__ import annotations

import datetime as dt
import decimal
import uuid
from typing import TYPE_CHECKING, Any

import pytest

from glue.errors import ConcurrencyConflict, IntegrityError
from glue.schema import Column, ColumnType, Schema
from glue.services.schema import SchemaCommandService
from glue.sql.dialects.postgres import COPY_ROWS
from glue.work import UnitOfWork

from .tables import ORDERS, PAIRS, PLAIN

if TYPE_CHECKING:
    from glue.connections import ConnectionManager

N = COPY_ROWS + 50

TYPES = Schema(
    name="every_type",
    columns=(
        Column(name="id", type=ColumnType.INTEGER),
        *(
            Column(name=t.value, type=t, nullable=True)
            for t in ColumnType
            if t is not ColumnType.INTEGER
        ),
        Column(name="number", type=ColumnType.INTEGER, nullable=True),
    ),
    primary_key=("id",),
)
VALUES: dict[str, Any] = {
    "number": 2**40,
    "float": 1.5,
    "decimal": decimal.Decimal("12.345"),
    "text": "na\u00efve 'q' \"x\" \\ \t;",
    "boolean": True,
    "datetime": dt.datetime(2024, 5, 6, 7, 8, 9, 123456),  # naive: read as UTC
    "date": dt.date(2024, 2, 29),
    "uuid": uuid.UUID("12345678-1234-5678-1234-567812345678"),
    "bytes": b"\x00\xff\\",
    "json": {"a": [1, "b", None, 2.5], "c": {"d": True}},
}


def order(key: int, total: float = 1.0) -> dict[str, Any]:
    return {"id": key, "customer": f"c{key % 7}", "total": total}


async def count(manager: ConnectionManager, table: str) -> int:
    async with manager.get_connection_pool().acquire() as conn:
        result = await conn.fetch(f'SELECT count(*) FROM "{table}"')  # noqa: S608
    return int(result.rows[0][0])


async def test_a_bulk_insert_round_trips_every_column(
    manager: ConnectionManager,
) -> None:
    at = dt.datetime(2024, 5, 6, 7, 8, 9, tzinfo=dt.UTC)
    async with UnitOfWork(manager, actor="ada", clock=lambda: at) as unit:
        created = await unit.state.insert_many(ORDERS, [order(i) for i in range(N)])
        assert unit.plan().explain().endswith(f"insert orders: {N} row(s)")
    async with UnitOfWork(manager) as unit:
        rows = await unit.state.get_many(ORDERS, range(N))
    assert rows == created
    last = rows[-1]
    assert last is not None
    assert (last["status"], last["note"], last["created_by"]) == ("new", None, "ada")
    assert last["created_at"] == last["updated_at"] == at
    assert len({r["etag"] for r in rows if r is not None}) == N


async def test_a_bulk_insert_with_a_duplicate_key_writes_nothing(
    manager: ConnectionManager,
) -> None:
    async with UnitOfWork(manager) as unit:
        await unit.state.insert(ORDERS, order(N - 1))
    with pytest.raises(IntegrityError) as caught:
        async with UnitOfWork(manager) as unit:
            await unit.state.insert_many(ORDERS, [order(i) for i in range(N)])
    assert caught.value.table == "orders"
    assert await count(manager, "orders") == 1
    assert manager.get_connection_pool().statistics().checked_out == 0
    # In a unit that writes more, its other writes roll back with it.
    with pytest.raises(IntegrityError):
        async with UnitOfWork(manager) as unit:
            await unit.state.insert(PLAIN, {"id": 1, "value": 1})
            await unit.state.insert_many(ORDERS, [order(i) for i in range(N)])
    assert (await count(manager, "orders"), await count(manager, "plain")) == (1, 0)


async def test_copy_and_insert_store_every_column_type_alike(
    manager: ConnectionManager, monkeypatch: pytest.MonkeyPatch
) -> None:
    pool = manager.get_connection_pool()
    await SchemaCommandService(pool).create_table(TYPES)
    async with pool.acquire() as conn:
        connection_type = type(conn)
    copied = 0
    copy_records = connection_type.copy_records

    async def counted(self: Any, *args: Any) -> int:
        nonlocal copied
        copied += 1
        return await copy_records(self, *args)

    monkeypatch.setattr(connection_type, "copy_records", counted)
    nulls = dict.fromkeys(VALUES)
    # One row by INSERT, COPY_ROWS - 1 (just below COPY) and COPY_ROWS (COPY
    # on PostgreSQL): in each, a row of values and a row of NULLs.
    sizes = (1, COPY_ROWS - 1, COPY_ROWS)
    for start, size in zip((0, 1000, 2000), sizes, strict=True):
        async with UnitOfWork(manager) as unit:
            await unit.state.insert_many(
                TYPES,
                [
                    {"id": start + i, **(nulls if i % 2 else VALUES)}
                    for i in range(size)
                ],
            )
    assert copied == (1 if pool.dialect.copy_from == COPY_ROWS else 0)
    async with UnitOfWork(manager) as unit:
        rows = await unit.state.get_many(TYPES, [0, 1000, 1001, 2000, 2001])
    stored = [{c: r[c] for c in VALUES} for r in rows if r is not None]
    aware = VALUES["datetime"].replace(tzinfo=dt.UTC)
    assert stored[0] == stored[1] == stored[3] == {**VALUES, "datetime": aware}
    assert stored[2] == stored[4] == nulls


async def test_a_bulk_update_conflict_names_the_row_that_changed(
    manager: ConnectionManager,
) -> None:
    async with UnitOfWork(manager) as unit:
        await unit.state.insert_many(ORDERS, [order(i) for i in range(N)])
    stale = UnitOfWork(manager)
    async with stale:
        await stale.state.get_many(ORDERS, range(N))
        async with UnitOfWork(manager) as other:
            await other.state.update(ORDERS, 77, {"total": 5.0})
        for i in range(N):
            await stale.state.update(ORDERS, i, {"total": 9.0})
        with pytest.raises(ConcurrencyConflict) as caught:
            await stale.commit()
    assert (caught.value.table, caught.value.key) == ("orders", 77)
    async with UnitOfWork(manager) as unit:
        totals = [r and r["total"] for r in await unit.state.get_many(ORDERS, [1, 77])]
    assert totals == [1.0, 5.0]


async def test_update_many_writes_every_row_and_names_a_conflicting_one(
    manager: ConnectionManager,
) -> None:
    async with UnitOfWork(manager) as unit:
        await unit.state.insert_many(ORDERS, [order(i) for i in range(N)])
    async with UnitOfWork(manager, actor="bo") as unit:
        await unit.state.update_many(
            ORDERS, [(i, {"total": i + 0.5}) for i in range(N)]
        )
        assert unit.plan().explain().endswith(f": {N} row(s)")
    stale = UnitOfWork(manager)
    async with stale:
        await stale.state.get_many(ORDERS, range(N))
        async with UnitOfWork(manager) as other:
            await other.state.update(ORDERS, 12, {"total": 5.0})
        await stale.state.update_many(ORDERS, [(i, {"total": 9.0}) for i in range(N)])
        with pytest.raises(ConcurrencyConflict) as caught:
            await stale.commit()
    assert (caught.value.table, caught.value.key) == ("orders", 12)
    async with UnitOfWork(manager) as unit:
        rows = await unit.state.get_many(ORDERS, range(N))
    assert [r and r["total"] for r in rows] == [
        5.0 if i == 12 else i + 0.5 for i in range(N)
    ]
    assert {r and r["updated_by"] for r in rows} == {"bo", None}


async def test_a_bulk_update_of_unversioned_rows_conflicts_on_a_deleted_one(
    manager: ConnectionManager,
) -> None:
    rows = [{"id": i, "value": i} for i in range(N)]
    async with UnitOfWork(manager) as unit:
        await unit.state.insert_many(PLAIN, rows)
    stale = UnitOfWork(manager)
    async with stale:
        await stale.state.get_many(PLAIN, range(N))
        async with UnitOfWork(manager) as other:
            await other.state.delete(PLAIN, 3)
        for i in range(N):
            await stale.state.update(PLAIN, i, {"value": -i - 1})
        with pytest.raises(ConcurrencyConflict) as caught:
            await stale.commit()
    assert caught.value.key == 3


async def test_a_bulk_update_of_composite_keys(manager: ConnectionManager) -> None:
    rows = [{"a": i, "b": str(i % 3), "value": 0} for i in range(N)]
    async with UnitOfWork(manager) as unit:
        await unit.state.insert_many(PAIRS, rows)
    async with UnitOfWork(manager) as unit:
        keys = [(r["a"], r["b"]) for r in rows]
        await unit.state.get_many(PAIRS, keys)
        for key in keys:
            await unit.state.update(PAIRS, key, {"value": key[0]})
    async with UnitOfWork(manager) as unit:
        found = await unit.state.get_many(PAIRS, keys)
    assert [r and r["value"] for r in found] == [k[0] for k in keys]


async def test_copy_records_inserts_all_or_none(manager: ConnectionManager) -> None:
    pool = manager.get_connection_pool()
    records = [(i, i * 10) for i in range(N)]
    async with pool.acquire(write=True) as conn:
        assert await conn.copy_records("plain", ("id", "value"), records) == N
        with pytest.raises(IntegrityError):
            await conn.copy_records("plain", ("id", "value"), [(N, 0), (0, 0)])
        async with conn.transaction():
            await conn.copy_records("plain", ("value", "id"), [(7, N + 1)])
        with pytest.raises(RuntimeError):
            async with conn.transaction():
                await conn.copy_records("plain", ("id", "value"), [(N + 2, 0)])
                raise RuntimeError("roll back")
        mark = conn.dialect.placeholder(1)
        result = await conn.fetch(
            f'SELECT "id", "value" FROM "plain" WHERE "id" >= {mark}',  # noqa: S608
            (N,),
        )
    assert result.rows == [(N + 1, 7)]
    assert await count(manager, "plain") == N + 1
