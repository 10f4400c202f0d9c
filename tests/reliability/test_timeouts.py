"""Timeouts and cancellation stop the statement they give up on (#13, point 8).

On SQLite a statement runs on aiosqlite's worker thread; a caller that gave up
used to wait for it anyway (the rollback and the pool queue behind it), so
``app.query(..., timeout=0.5)`` with a catastrophic regex raised QueryTimeout
after 11 s. Now a cancelled call interrupts SQLite, and REGEXP stops a match at
the statement's deadline. Each test runs a statement that would take half a
minute or more, and checks it stopped within a generous bound, that the
connection still works and that the pool is whole.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import anyio
import pytest

from glue import App, Domain, QueryTimeout
from glue.connections import DefaultConnectionPool, pool_from_url
from glue.query import (
    Condition,
    Conditions,
    FieldLookup,
    FieldReference,
    QueryStatement,
    SchemaReference,
    Value,
)
from glue.schema import Column, ColumnType, Schema

if TYPE_CHECKING:
    from pathlib import Path

# Far longer than any test may take: a statement that stops, was stopped.
STOPPED_WITHIN = 5.0
# Counts to 10**8: half a minute or more on SQLite unless interrupted.
LONG = (
    "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c "
    "WHERE x < 100000000) SELECT count(*) FROM c"
)
# Exponential even on the regex engine (which defuses ^(a+)+$): 2**28 steps
# on "a" * 28, half a minute or more.
CATASTROPHIC = "(a|a)+b"
TEXTS = Schema(
    name="texts",
    columns=(
        Column(name="id", type=ColumnType.INTEGER),
        Column(name="body", type=ColumnType.TEXT),
    ),
    primary_key=("id",),
)


@pytest.fixture
async def pool(tmp_path: Path) -> DefaultConnectionPool:
    return pool_from_url(f"sqlite:///{tmp_path / 'slow.sqlite'}", max_size=3)


async def assert_whole(pool: DefaultConnectionPool) -> None:
    """The pool has every connection back, and they all work."""
    stats = pool.statistics()
    assert stats.checked_out == 0 and stats.size <= stats.max_size
    async with pool.acquire(write=True) as writer, pool.acquire() as reader:
        assert (await writer.fetch("SELECT 1")).rows == [(1,)]
        assert (await reader.fetch("SELECT 2")).rows == [(2,)]


async def test_a_timeout_stops_a_long_sqlite_statement(
    pool: DefaultConnectionPool,
) -> None:
    async with pool:
        started = time.monotonic()
        with anyio.move_on_after(0.3) as scope:
            async with pool.acquire() as conn:
                await conn.fetch(LONG)
        assert scope.cancelled_caught
        assert time.monotonic() - started < STOPPED_WITHIN
        await assert_whole(pool)


async def test_cancelling_a_task_stops_its_sqlite_statement_and_rolls_back(
    pool: DefaultConnectionPool,
) -> None:
    async with pool:
        async with pool.acquire(write=True) as conn:
            await conn.execute("CREATE TABLE t (x INTEGER)")
        started = time.monotonic()
        async with anyio.create_task_group() as group:

            async def write_then_run_long() -> None:
                async with pool.acquire(write=True) as writer, writer.transaction():
                    await writer.execute("INSERT INTO t VALUES (1)")
                    await writer.fetch(LONG)

            group.start_soon(write_then_run_long)
            await anyio.sleep(0.3)
            group.cancel_scope.cancel()
        assert time.monotonic() - started < STOPPED_WITHIN
        async with pool.acquire() as conn:
            assert (await conn.fetch("SELECT count(*) FROM t")).rows == [(0,)]
        await assert_whole(pool)


async def test_app_query_timeout_stops_a_catastrophic_regex(tmp_path: Path) -> None:
    shop = Domain("shop")
    shop.table(TEXTS)
    url = f"sqlite:///{tmp_path / 'regex.sqlite'}"
    async with App([shop], databases={"default": url}, create_tables=True) as app:
        pool = app.connections.get_connection_pool("texts")
        async with pool.acquire(write=True) as conn:
            await conn.execute(
                "INSERT INTO texts (id, body, etag) VALUES (1, ?, 'e')", ["a" * 28]
            )
        statement = QueryStatement(
            table=SchemaReference(name="texts"),
            where=Conditions(
                Condition(
                    field=FieldReference.of("texts", "body"),
                    lookup=FieldLookup.REGEX,
                    value=Value(CATASTROPHIC),
                )
            ),
        )
        started = time.monotonic()
        with pytest.raises(QueryTimeout):
            await app.query(statement, timeout=0.5)
        assert time.monotonic() - started < STOPPED_WITHIN
        rows = await app.query(QueryStatement(table=SchemaReference(name="texts")))
        assert [row["id"] for row in rows] == [1]
        assert isinstance(pool, DefaultConnectionPool)
        await assert_whole(pool)


async def test_a_timeout_stops_a_postgres_statement(postgres_dsn: str) -> None:
    pool = pool_from_url(postgres_dsn, max_size=2)
    async with pool:
        started = time.monotonic()
        with anyio.move_on_after(0.3) as scope:
            async with pool.acquire() as conn:
                await conn.fetch("SELECT pg_sleep(60)")
        assert scope.cancelled_caught
        assert time.monotonic() - started < STOPPED_WITHIN
        await assert_whole(pool)
