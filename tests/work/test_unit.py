"""Units of work on SQLite and PostgreSQL: flush, etags, rollback, concurrency."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import anyio
import pytest

from glue.errors import (
    ConcurrencyConflict,
    ContextError,
    IntegrityError,
    NotFound,
    StaleEtag,
)
from glue.state import RowKind
from glue.work import RetryPolicy, UnitOfWork, UnitState, current_unit, run_with_retry

from .tables import COUNTERS, ITEMS, LINES, ORDERS, PAIRS, PLAIN

if TYPE_CHECKING:
    from glue.connections import ConnectionManager


def order(key: int, total: float = 1.0, **values: Any) -> dict[str, Any]:
    return {"id": key, "customer": "ada", "total": total, **values}


async def read(manager: ConnectionManager, schema: Any, key: Any) -> Any:
    async with UnitOfWork(manager) as unit:
        return await unit.state.get(schema, key)


async def count(manager: ConnectionManager, table: str) -> int:
    pool = manager.get_connection_pool(table)
    async with pool.acquire() as conn:
        result = await conn.fetch(f'SELECT count(*) FROM "{table}"')  # noqa: S608
    return int(result.rows[0][0])


def checked_out(manager: ConnectionManager) -> int:
    return manager.get_connection_pool().statistics().checked_out


async def test_s01_s02_audit_and_etag_round_trip(manager: ConnectionManager) -> None:
    async with UnitOfWork(manager, actor="alice") as unit:
        created = await unit.state.insert(ORDERS, order(1))
    stored = await read(manager, ORDERS, 1)
    assert dict(stored) == dict(created)
    assert stored["created_at"] == stored["updated_at"]
    assert stored["created_by"] == stored["updated_by"] == "alice"
    async with UnitOfWork(manager, actor="bob") as unit:
        await unit.state.update(ORDERS, 1, {"total": 2.0})
    updated = await read(manager, ORDERS, 1)
    assert updated["total"] == 2.0 and updated["updated_by"] == "bob"
    assert (
        updated["created_by"] == "alice"
        and updated["updated_at"] > stored["updated_at"]
    )
    assert updated["etag"] != stored["etag"]


async def test_s03_s06_soft_and_hard_delete(manager: ConnectionManager) -> None:
    async with UnitOfWork(manager, actor="alice") as unit:
        await unit.state.insert(ITEMS, {"id": 1, "name": "pen"})
        await unit.state.insert(PLAIN, {"id": 1, "value": 1})
    async with UnitOfWork(manager, actor="bob") as unit:
        assert await unit.state.delete(ITEMS, 1)
        assert await unit.state.delete(PLAIN, 1)
    assert await count(manager, "items") == 1 and await count(manager, "plain") == 0
    async with UnitOfWork(manager) as unit:
        assert await unit.state.get(ITEMS, 1) is None
        with pytest.raises(NotFound, match="items 1 not found"):
            await unit.state.require(ITEMS, 1)
        tracked = unit.state.tracked(ITEMS, 1)
        assert tracked is not None and tracked.stored is not None
        row = tracked.stored
        assert row["deleted_at"] is not None
        assert row["updated_by"] == "bob"


async def test_s07_s11_stale_etag_rolls_back_the_whole_unit(
    manager: ConnectionManager,
) -> None:
    async with UnitOfWork(manager) as unit:
        await unit.state.insert(ORDERS, order(1))
        await unit.state.insert(ORDERS, order(2))
    stale = UnitOfWork(manager)
    async with stale:
        await stale.state.require(ORDERS, 1)
        await stale.state.require(ORDERS, 2)
        async with UnitOfWork(manager) as other:
            await other.state.update(ORDERS, 1, {"total": 5.0})
            await other.state.delete(ORDERS, 2)
        await stale.state.insert(ORDERS, order(3))
        await stale.state.update(ORDERS, 1, {"total": 9.0})
        with pytest.raises(ConcurrencyConflict) as caught:
            await stale.commit()
    assert caught.value.table == "orders" and caught.value.key == 1
    assert stale.status is UnitState.FAILED
    assert (await read(manager, ORDERS, 1))["total"] == 5.0
    assert await read(manager, ORDERS, 3) is None
    # A hard delete guarded by a stale etag conflicts the same way.
    async with UnitOfWork(manager) as unit:
        await unit.state.insert(PAIRS, {"a": 1, "b": "x", "value": 1})
    stale = UnitOfWork(manager)
    async with stale:
        await stale.state.require(PAIRS, (1, "x"))
        async with UnitOfWork(manager) as other:
            await other.state.update(PAIRS, (1, "x"), {"value": 2})
        await stale.state.delete(PAIRS, (1, "x"))
        with pytest.raises(ConcurrencyConflict) as caught:
            await stale.commit()
    assert caught.value.key == (1, "x")
    assert checked_out(manager) == 0


async def test_s08_unchanged_save_writes_nothing(manager: ConnectionManager) -> None:
    async with UnitOfWork(manager) as unit:
        created = await unit.state.insert(ORDERS, order(1))
    async with UnitOfWork(manager) as unit:
        await unit.state.update(ORDERS, 1, {"total": 1.0, "customer": "ada"})
        assert not unit.plan()
    assert (await read(manager, ORDERS, 1))["etag"] == created["etag"]


async def test_s09_batches_one_statement_per_table_and_kind(
    manager: ConnectionManager,
) -> None:
    async with UnitOfWork(manager) as unit:
        await unit.state.insert_many(ORDERS, [order(i) for i in range(100)])
        await unit.state.update(ORDERS, 5, {"total": 3.0})  # still one INSERT
        plan = unit.plan()
        (writes,) = plan.connections
        assert [(b.kind, len(b.rows)) for b in writes.batches] == [
            (RowKind.INSERT, 100)
        ]
    async with UnitOfWork(manager) as unit:
        await unit.state.get_many(ORDERS, range(100))
        for i in range(50):
            await unit.state.update(ORDERS, i, {"total": 2.0})
        for i in range(50, 60):
            await unit.state.delete(ORDERS, i)
        (writes,) = unit.plan().connections
        assert [(b.kind, len(b.rows)) for b in writes.batches] == [
            (RowKind.UPDATE, 50), (RowKind.DELETE, 10),
        ]  # fmt: skip
        assert "update orders (total, etag, updated_at, updated_by): 50 row(s)" in (
            unit.plan().explain()
        )
    assert await count(manager, "orders") == 90
    assert (await read(manager, ORDERS, 5))["total"] == 2.0


async def test_s10_deleting_a_row_never_written_writes_nothing(
    manager: ConnectionManager,
) -> None:
    async with UnitOfWork(manager) as unit:
        await unit.state.insert(PLAIN, {"id": 1, "value": 1})
        assert await unit.state.delete(PLAIN, 1)
        assert not await unit.state.delete(PLAIN, 2)
        assert not unit.plan()
    assert await count(manager, "plain") == 0


async def test_s12_r04_an_error_rolls_back_and_is_reraised(
    manager: ConnectionManager,
) -> None:
    with pytest.raises(RuntimeError, match="handler failed"):
        async with UnitOfWork(manager) as unit:
            await unit.state.insert(ORDERS, order(1))
            raise RuntimeError("handler failed")
    assert unit.status is UnitState.ROLLED_BACK
    with pytest.raises(IntegrityError):
        async with UnitOfWork(manager) as unit:
            await unit.state.insert(ORDERS, order(2))
            await unit.state.insert(LINES, {"id": 1, "order_id": 404, "qty": 1})
    assert await count(manager, "orders") == 0
    assert checked_out(manager) == 0
    with pytest.raises(ContextError, match="failed"):
        async with unit:
            pass


async def test_s13_creates_go_out_before_rows_that_need_them(
    manager: ConnectionManager,
) -> None:
    async with UnitOfWork(manager) as unit:
        await unit.state.insert(ORDERS, order(1))
        await unit.state.insert(LINES, {"id": 1, "order_id": 1, "qty": 2})
        await unit.state.insert(LINES, {"id": 2, "order_id": 1, "qty": 3})
    async with UnitOfWork(manager) as unit:
        await unit.state.delete(LINES, 1)
        await unit.state.delete(LINES, 2)
        await unit.state.delete(ORDERS, 1)
    assert await count(manager, "orders") == 0 and await count(manager, "lines") == 0


async def test_s14_r01_concurrent_units_are_isolated(
    manager: ConnectionManager,
) -> None:
    async with UnitOfWork(manager) as unit:
        await unit.state.insert_many(ORDERS, [order(i) for i in range(5)])
    seen: dict[int, float] = {}

    async def task(i: int) -> None:
        async with UnitOfWork(manager, actor=f"t{i}") as unit:
            assert current_unit() is unit
            await unit.state.update(ORDERS, i, {"total": 100.0 + i})
            await anyio.sleep(0.01)
            assert [t.key for t in unit.state.pending] == [(i,)]
            seen[i] = (await unit.state.require(ORDERS, (i + 1) % 5))["total"]

    async with anyio.create_task_group() as group:
        for i in range(5):
            group.start_soon(task, i)
    assert current_unit() is None
    assert set(seen.values()) <= {1.0, 100.0, 101.0, 102.0, 103.0, 104.0}
    for i in range(5):
        assert (await read(manager, ORDERS, i))["updated_by"] == f"t{i}"
    assert checked_out(manager) == 0


async def test_s15_of_two_concurrent_writers_exactly_one_wins(
    manager: ConnectionManager,
) -> None:
    async with UnitOfWork(manager) as unit:
        await unit.state.insert(COUNTERS, {"name": "c", "value": 0})
    both_read = anyio.Event()
    readers = 0
    outcomes: list[str] = []

    async def writer(value: int) -> None:
        nonlocal readers
        try:
            async with UnitOfWork(manager) as unit:
                await unit.state.require(COUNTERS, "c")
                readers += 1
                if readers == 2:
                    both_read.set()
                await both_read.wait()
                await unit.state.update(COUNTERS, "c", {"value": value})
            outcomes.append("won")
        except ConcurrencyConflict:
            outcomes.append("lost")

    async with anyio.create_task_group() as group:
        group.start_soon(writer, 1)
        group.start_soon(writer, 2)
    assert sorted(outcomes) == ["lost", "won"]
    assert (await read(manager, COUNTERS, "c"))["value"] in (1, 2)


async def test_100_concurrent_increments_with_retry(manager: ConnectionManager) -> None:
    async with UnitOfWork(manager) as unit:
        await unit.state.insert(COUNTERS, {"name": "hits", "value": 0})
    policy = RetryPolicy(attempts=1000, base_delay=0.002, max_delay=0.05)

    async def increment() -> None:
        async with UnitOfWork(manager) as unit:
            row = await unit.state.require(COUNTERS, "hits")
            await unit.state.update(COUNTERS, "hits", {"value": row["value"] + 1})

    async with anyio.create_task_group() as group:
        for _ in range(100):
            group.start_soon(run_with_retry, policy, increment)
    assert (await read(manager, COUNTERS, "hits"))["value"] == 100
    assert checked_out(manager) == 0


async def test_locked_increments_never_conflict(manager: ConnectionManager) -> None:
    async with UnitOfWork(manager) as unit:
        await unit.state.insert(COUNTERS, {"name": "hits", "value": 0})

    async def increment() -> None:
        async with UnitOfWork(manager) as unit:
            (row,) = await unit.lock(COUNTERS, ["hits"])
            await unit.state.update(COUNTERS, "hits", {"value": row["value"] + 1})

    async with anyio.create_task_group() as group:
        for _ in range(20):
            group.start_soon(increment)
    assert (await read(manager, COUNTERS, "hits"))["value"] == 20


async def test_upsert_races_become_conflicts_then_updates(
    manager: ConnectionManager,
) -> None:
    started = anyio.Event()
    waiting = 0

    async def bump() -> None:
        nonlocal waiting
        async with UnitOfWork(manager) as unit:
            row = await unit.state.get(COUNTERS, "u")
            waiting += 1
            if waiting == 2:
                started.set()
            await started.wait()
            value = 1 if row is None else row["value"] + 1
            await unit.state.upsert(COUNTERS, {"name": "u", "value": value})

    policy = RetryPolicy(attempts=10, base_delay=0.001)
    async with anyio.create_task_group() as group:
        group.start_soon(run_with_retry, policy, bump)
        group.start_soon(run_with_retry, policy, bump)
    assert (await read(manager, COUNTERS, "u"))["value"] == 2


async def test_cancellation_leaves_nothing_written(manager: ConnectionManager) -> None:
    with anyio.move_on_after(0.05):
        async with UnitOfWork(manager) as unit:
            await unit.state.insert(ORDERS, order(1))
            await unit.flush()  # written into the open transaction
            await anyio.sleep(10)
    assert unit.status is UnitState.ROLLED_BACK
    assert await read(manager, ORDERS, 1) is None
    assert checked_out(manager) == 0


async def test_a_read_goes_through_the_units_open_transaction(
    manager: ConnectionManager,
) -> None:
    """Once the unit's transaction holds the table's connection, rows are read
    through it: a row written there, not committed yet, is found."""
    async with UnitOfWork(manager) as unit:
        conn = await unit.transaction.connection(unit.pool_for("plain"))
        marks = ", ".join(conn.dialect.placeholder(i) for i in (1, 2))
        await conn.execute(f"INSERT INTO plain VALUES ({marks})", (5, 50))  # noqa: S608
        row = await unit.state.get(PLAIN, 5)
        assert row is not None and row["value"] == 50
        assert await read(manager, PLAIN, 5) is None  # not committed yet
    assert (await read(manager, PLAIN, 5))["value"] == 50
    assert checked_out(manager) == 0


async def test_a_unit_is_used_once(manager: ConnectionManager) -> None:
    unit = UnitOfWork(manager)
    async with unit:
        pass
    assert unit.status is UnitState.COMMITTED
    with pytest.raises(ContextError, match="committed"):
        await unit.state.get(ORDERS, 1)


async def test_run_with_retry_does_not_rerun_a_stale_etag(
    manager: ConnectionManager,
) -> None:
    async with UnitOfWork(manager) as unit:
        await unit.state.insert(COUNTERS, {"name": "e", "value": 0})
    runs: list[int] = []

    async def if_match() -> None:
        runs.append(1)
        async with UnitOfWork(manager) as unit:
            await unit.state.update(COUNTERS, "e", {"value": 1}, etag="made-up")

    with pytest.raises(StaleEtag, match="counters e: etag made-up is not"):
        await run_with_retry(RetryPolicy(attempts=5, base_delay=0), if_match)
    assert runs == [1]


async def test_rows_a_unit_hands_out_are_read_only(manager: ConnectionManager) -> None:
    """Plans, flushed and committed changesets and locked rows: read-only rows,
    while the unit writes the rows it holds."""
    async with UnitOfWork(manager) as unit:
        await unit.state.insert_many(ORDERS, [order(1), order(2)])
    async with UnitOfWork(manager) as unit:
        await unit.state.update(ORDERS, 1, {"total": 3.0})
        await unit.state.insert(ORDERS, order(3))
        rows = [
            row
            for writes in unit.plan().connections
            for batch in writes.batches
            for row in batch.currents()
        ]
        flushed = await unit.flush()
        (locked,) = await unit.lock(ORDERS, [2])
        await unit.state.update(ORDERS, 2, {"total": 4.0})
        committed = await unit.commit()
    handed = [
        *rows,
        *(t.current for t in flushed),
        *(t.stored for t in flushed),  # row 1's as read (row 3's is None)
        *(t.current for t in committed),
        locked,
    ]
    assert sum(row is None for row in handed) == 1 and len(handed) == 8
    for row in handed:
        if row is None:
            continue
        assert not isinstance(row, dict)
        with pytest.raises(TypeError):
            row["total"] = 0.0  # type: ignore[index]  # read-only: the point
    assert [(await read(manager, ORDERS, k))["total"] for k in (1, 2, 3)] == [
        3.0,
        4.0,
        1.0,
    ]
