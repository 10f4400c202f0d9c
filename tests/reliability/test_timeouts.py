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

import asyncio
import gc
import time
from typing import TYPE_CHECKING

import anyio
import anyio.lowlevel
import asyncpg
import pytest

from glue import App, Domain, GlueError, PoolTimeout, QueryTimeout
from glue.connections import DefaultConnectionPool, PostgresConnection, pool_from_url
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


# -- what a timeout, a cancellation or a lost connection tells ---------------------


async def test_a_pool_timeout_names_the_sqlite_writer_and_who_waits(
    pool: DefaultConnectionPool,
) -> None:
    async with pool, anyio.create_task_group() as group:
        held, done = anyio.Event(), anyio.Event()

        async def flush() -> None:
            async with pool.acquire(write=True):
                held.set()
                await done.wait()

        group.start_soon(flush, name="flush orders")
        await held.wait()
        async with pool.acquire() as reader:  # readers are free meanwhile
            assert (await reader.fetch("SELECT 1")).rows == [(1,)]
        expected = (
            r"SQLite's single writer \(held by task 'flush orders' for [\d.]+ s; "
            r"0 other tasks waiting\) was not free within 0\.1 s"
        )
        with pytest.raises(PoolTimeout, match=expected):
            async with pool.acquire(write=True, timeout=0.1):
                pass
        done.set()


async def test_a_cancelled_connect_prints_nothing(postgres_dsn: str) -> None:
    # Cancel a first acquire (which connects) after 0, 1, 2, ... event-loop
    # steps, so that every await of the connect is hit once.
    printed: list[str] = []
    loop = asyncio.get_running_loop()
    loop.set_exception_handler(lambda _, context: printed.append(context["message"]))
    try:
        for steps in range(40):
            pool = DefaultConnectionPool(
                PostgresConnection, dsn=postgres_dsn, min_size=0
            )
            async with pool, anyio.create_task_group() as group:
                group.start_soon(_acquire, pool)
                for _ in range(steps):
                    await anyio.lowlevel.checkpoint()
                group.cancel_scope.cancel()
        gc.collect()
        await anyio.sleep(0.1)
    finally:
        loop.set_exception_handler(None)
    assert printed == []


async def _acquire(pool: DefaultConnectionPool) -> None:
    async with pool.acquire():
        pass


async def test_killed_backends_under_cancellation_report_a_lost_connection(
    postgres_dsn: str,
) -> None:
    """asyncpg reads a server's goodbye to an idle connection as a protocol
    error and says "cannot switch to state 12; another operation is in
    progress" on the next call; glue says the connection was lost.

    asyncpg's own cancel request, cut short when the server kills the backend
    it was cancelling for, can still leave a "Future exception was never
    retrieved" behind (asyncpg's, not glue's to fix): recorded, not asserted.
    """
    messages: list[str] = []
    loop = asyncio.get_running_loop()
    loop.set_exception_handler(lambda *_: None)
    try:
        await _work_while_backends_die(postgres_dsn, messages)
    finally:
        loop.set_exception_handler(None)
    assert messages, "the killer found no backend to kill"
    assert not [m for m in messages if "switch to state" in m or "in progress" in m]


async def _work_while_backends_die(postgres_dsn: str, messages: list[str]) -> None:
    pool = pool_from_url(postgres_dsn, max_size=5)
    async with pool:
        async with pool.acquire() as conn:
            await conn.execute("CREATE TABLE t (id integer PRIMARY KEY, v integer)")
            await conn.execute("INSERT INTO t VALUES (1, 0)")

        async def work(seed: int) -> None:
            for step in range(25):
                try:
                    with anyio.move_on_after(0.001 + (seed * 7 + step) % 40 / 1000):
                        async with pool.acquire() as conn, conn.transaction():
                            await conn.execute(
                                "UPDATE t SET v = v + 1 WHERE id = $1", [1]
                            )
                            await conn.fetch("SELECT pg_sleep($1)", [step % 3 / 100])
                except GlueError as exc:
                    messages.append(str(exc))

        async def kill() -> None:
            admin = await asyncpg.connect(postgres_dsn)
            try:
                for _ in range(12):
                    await anyio.sleep(0.05)
                    await admin.execute(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE datname = current_database() "
                        "AND pid <> pg_backend_pid()"
                    )
            finally:
                await admin.close()

        async with anyio.create_task_group() as group:
            for seed in range(8):
                group.start_soon(work, seed)
            group.start_soon(kill)
        await assert_whole(pool)
