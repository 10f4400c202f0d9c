"""Units of work across two databases: all or nothing, and what CommitError means."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from glue.connections import ConnectionManager, pool_from_url
from glue.errors import CommitError, ConcurrencyConflict, IntegrityError
from glue.schema import Column, ColumnType, Schema
from glue.work import Transaction, UnitOfWork, supports_two_phase

from .tables import COUNTERS, ORDERS, create_tables

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

CHILDREN = Schema(
    name="children",
    columns=(
        Column(name="id", type=ColumnType.INTEGER),
        Column(name="parent_id", type=ColumnType.INTEGER),
    ),
    primary_key=("id",),
)


@pytest.fixture
async def both(two_urls: tuple[str, str]) -> AsyncIterator[ConnectionManager]:
    """Orders in the first database; counters and children in the second.

    The children's pool is named to come last in the order databases commit in
    (by pool name, PostgreSQL before SQLite): a failure there comes after the
    others committed.
    """
    first, second = two_urls
    manager = ConnectionManager.from_urls({"default": first, "counters": second})
    manager.register_connection_pool(
        pool_from_url(second, name="~children", max_size=4), "children"
    )
    async with manager:
        await create_tables(manager.get_connection_pool(), ORDERS)
        pool = manager.get_connection_pool("counters")
        await create_tables(pool, COUNTERS)
        # A foreign key checked only at COMMIT: a way to make a commit fail.
        deferred = "DEFERRABLE INITIALLY DEFERRED"
        async with pool.acquire(write=True) as conn:
            await conn.execute('CREATE TABLE "parents" ("id" INTEGER PRIMARY KEY)')
            await conn.execute(
                'CREATE TABLE "children" ("id" INTEGER PRIMARY KEY, "parent_id" '
                f'INTEGER NOT NULL REFERENCES "parents" ("id") {deferred}, '
                '"etag" TEXT NOT NULL)'
            )
        yield manager


async def state_of(manager: ConnectionManager) -> tuple[Any, Any]:
    async with UnitOfWork(manager) as unit:
        order = await unit.state.get(ORDERS, 1)
        counter = await unit.state.get(COUNTERS, "c")
    return (order and order["total"], counter and counter["value"])


def order(total: float) -> dict[str, Any]:
    return {"id": 1, "customer": "ada", "total": total}


async def test_a_unit_commits_on_both_databases(both: ConnectionManager) -> None:
    async with UnitOfWork(both) as unit:
        await unit.state.insert(ORDERS, order(1.0))
        await unit.state.insert(COUNTERS, {"name": "c", "value": 1})
        assert len(unit.plan()) == 2
    assert await state_of(both) == (1.0, 1)
    async with UnitOfWork(both) as unit:
        await unit.state.update(ORDERS, 1, {"total": 2.0})
        await unit.state.update(COUNTERS, "c", {"value": 2})
    assert await state_of(both) == (2.0, 2)
    for pool in both.pools.values():
        assert pool.statistics().checked_out == 0


async def test_a_conflict_on_one_database_writes_nothing_on_either(
    both: ConnectionManager,
) -> None:
    async with UnitOfWork(both) as unit:
        await unit.state.insert(ORDERS, order(1.0))
        await unit.state.insert(COUNTERS, {"name": "c", "value": 1})
    stale = UnitOfWork(both)
    async with stale:
        await stale.state.require(COUNTERS, "c")
        async with UnitOfWork(both) as other:
            await other.state.update(COUNTERS, "c", {"value": 5})
        await stale.state.update(ORDERS, 1, {"total": 9.0})
        await stale.state.update(COUNTERS, "c", {"value": 9})
        with pytest.raises(ConcurrencyConflict, match="counters c changed since"):
            await stale.commit()
    assert await state_of(both) == (1.0, 5)


async def test_a_failed_flush_writes_nothing_on_either(both: ConnectionManager) -> None:
    async with UnitOfWork(both) as unit:
        await unit.state.insert(ORDERS, order(1.0))
    with pytest.raises(IntegrityError):
        async with UnitOfWork(both) as unit:
            await unit.state.insert(COUNTERS, {"name": "c", "value": 1})
            await unit.state.insert(ORDERS, order(2.0))  # duplicate key
    assert await state_of(both) == (1.0, None)


async def test_a_commit_that_fails_late_says_what_committed(
    both: ConnectionManager,
) -> None:
    """The second database refuses at COMMIT (a deferred foreign key).

    PostgreSQL databases that can prepare are prepared first, so a later
    failure rolls them back: nothing is written. Those that cannot prepare
    commit one by one, and the CommitError names the ones that did.
    """
    first = both.get_connection_pool()
    second = both.get_connection_pool("children")
    async with first.acquire() as conn:
        prepared = conn.dialect.name == "postgres" and await supports_two_phase(
            first, conn
        )
    with pytest.raises((CommitError, IntegrityError)) as caught:
        async with UnitOfWork(both) as unit:
            await unit.state.insert(ORDERS, order(1.0))
            await unit.state.insert(CHILDREN, {"id": 1, "parent_id": 404})
    if prepared:
        assert isinstance(caught.value, IntegrityError)
        assert await state_of(both) == (None, None)
    else:
        assert isinstance(caught.value, CommitError)
        assert caught.value.failed == second.name
        assert caught.value.committed == [first.name]
        assert await state_of(both) == (1.0, None)
    for pool in (first, second):
        assert pool.statistics().checked_out == 0


async def test_a_transaction_spans_databases(both: ConnectionManager) -> None:
    async with Transaction() as tx:
        async with UnitOfWork(both, transaction=tx) as unit:
            await unit.state.insert(ORDERS, order(1.0))
        async with UnitOfWork(both, transaction=tx) as unit:
            await unit.state.insert(COUNTERS, {"name": "c", "value": 1})
        assert len(tx.databases) == 2
    assert await state_of(both) == (1.0, 1)
    with pytest.raises(RuntimeError):
        async with Transaction() as tx:
            async with UnitOfWork(both, transaction=tx) as unit:
                await unit.state.update(ORDERS, 1, {"total": 3.0})
            raise RuntimeError("changed my mind")
    assert await state_of(both) == (1.0, 1)
