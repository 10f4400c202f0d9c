"""The executor: groups fail as one error and cancel their siblings; timeouts
cancel everything and return every connection."""

from __future__ import annotations

from typing import TYPE_CHECKING

import anyio
import asyncpg
import pytest

from glue.errors import ProgrammingError, QueryTimeout
from glue.planning.executor import PlanExecutor
from glue.planning.tasks import ChainTask, GroupTask, Plan, SqlTask
from glue.query import (
    Condition,
    Conditions,
    FieldLookup,
    FieldReference,
    JoinQuery,
    QueryStatement,
    SchemaReference,
)
from glue.schema import Column, ColumnType, Schema
from glue.services.reads import DataQueryService
from glue.sql.dialects import POSTGRES, SQLITE

from .conftest import LAYOUTS, SCHEMAS, manager_for

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from glue.connections import ConnectionManager
    from glue.sql.dialects import Dialect

pytestmark = pytest.mark.postgres

GHOSTS = Schema(
    name="ghosts",
    columns=(Column(name="id", type=ColumnType.INTEGER),),
    primary_key=("id",),
    versioned=False,
)
JOINED = QueryStatement(
    table=SchemaReference(name="customers", alias="c"),
    only=[FieldReference.of("c", "name"), FieldReference.of("o", "amount")],
    joins=[
        JoinQuery(
            table=SchemaReference(name="orders", alias="o"),
            on=Conditions(
                Condition(
                    field=FieldReference.of("o", "customer_id"),
                    lookup=FieldLookup.EQ,
                    value=FieldReference.of("c", "id"),
                )
            ),
        )
    ],
)


@pytest.fixture
async def mixed(locations: dict[str, str]) -> AsyncIterator[ConnectionManager]:
    """Customers in SQLite, orders in PostgreSQL; ghosts routed to PostgreSQL
    but never created there."""
    manager = manager_for(LAYOUTS["mixed"], locations)
    manager.register_connection_pool(manager.get_connection_pool("orders"), "ghosts")
    async with manager:
        yield manager


def checked_out(manager: ConnectionManager) -> int:
    return sum(pool.statistics().checked_out for pool in manager.pools.values())


async def lock_orders(dsn: str, locked: anyio.Event, release: anyio.Event) -> None:
    """Hold an exclusive lock on orders until ``release`` is set."""
    conn = await asyncpg.connect(dsn)
    try:
        async with conn.transaction():
            await conn.execute("LOCK TABLE orders IN ACCESS EXCLUSIVE MODE")
            locked.set()
            await release.wait()
    finally:
        await conn.close()


def sql_task(slot: str, table: str, dialect: Dialect = POSTGRES) -> SqlTask:
    return SqlTask(
        slot=slot,
        route=table,
        database=table,
        dialect=dialect,
        statement=QueryStatement(
            table=SchemaReference(name=table),
            only=[FieldReference.of(table, "id")],
        ),
    )


async def test_a_failing_child_cancels_its_siblings(
    mixed: ConnectionManager, locations: dict[str, str]
) -> None:
    schemas = {s.name: s for s in (*SCHEMAS, GHOSTS)}
    executor = PlanExecutor(mixed, schemas)
    plan = Plan(
        root=ChainTask(
            children=(
                GroupTask(
                    children=(
                        sql_task("blocked", "orders"),
                        sql_task("quick", "customers", SQLITE),
                        sql_task("broken", "ghosts"),
                    )
                ),
                sql_task("never", "customers", SQLITE),
            )
        ),
        slot="never",
        columns=("id",),
    )
    locked, release = anyio.Event(), anyio.Event()
    async with anyio.create_task_group() as group:
        group.start_soon(lock_orders, locations["p_o"], locked, release)
        await locked.wait()
        try:
            # The blocked read would wait forever: only cancelling it ends the
            # group, so reaching the assertion proves the sibling was cancelled.
            with anyio.fail_after(60), pytest.raises(ProgrammingError) as caught:
                await executor.run(plan)
        finally:
            release.set()
    assert not isinstance(caught.value, BaseExceptionGroup)
    assert "ghosts" in str(caught.value)
    assert checked_out(mixed) == 0


async def test_a_timeout_cancels_everything_and_returns_connections(
    mixed: ConnectionManager, locations: dict[str, str]
) -> None:
    service = DataQueryService(mixed, SCHEMAS)
    locked, release = anyio.Event(), anyio.Event()
    async with anyio.create_task_group() as group:
        group.start_soon(lock_orders, locations["p_o"], locked, release)
        await locked.wait()
        try:
            with pytest.raises(QueryTimeout, match=r"0\.3 s"):
                await service.execute(JOINED, timeout=0.3)
            assert checked_out(mixed) == 0
        finally:
            release.set()
    assert len(await service.execute(JOINED)) > 0
    assert checked_out(mixed) == 0


async def test_a_deadline_works_like_a_timeout(
    mixed: ConnectionManager, locations: dict[str, str]
) -> None:
    service = DataQueryService(mixed, SCHEMAS, timeout=60)
    locked, release = anyio.Event(), anyio.Event()
    async with anyio.create_task_group() as group:
        group.start_soon(lock_orders, locations["p_o"], locked, release)
        await locked.wait()
        try:
            with pytest.raises(QueryTimeout, match="deadline"):
                await service.execute(JOINED, deadline=anyio.current_time() + 0.3)
        finally:
            release.set()
    assert checked_out(mixed) == 0


async def test_chains_run_in_order_and_feed_keys(mixed: ConnectionManager) -> None:
    service = DataQueryService(mixed, SCHEMAS)
    statement = QueryStatement(
        table=JOINED.table,
        only=JOINED.only,
        joins=JOINED.joins,
        where=Conditions(
            Condition(
                field=FieldReference.of("c", "id"),
                lookup=FieldLookup.LT,
                value=FieldReference.of("c", "age"),
            )
        ),
    )
    plan = await service.plan(statement)
    assert isinstance(plan.root, ChainTask)
    first, second, _ = plan.root.children
    assert isinstance(first, SqlTask) and first.database == "s_c"
    assert isinstance(second, SqlTask) and second.database == "p_o"
    assert second.key_filters[0].source == first.slot
    rows = await service.execute(statement)
    assert rows
    assert checked_out(mixed) == 0
