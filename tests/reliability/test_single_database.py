"""What already held on one database, kept: contention, deadlocks, killed
backends, a server restart, a small pool under thousands of dispatches.

Issue #13, "the suite". Each runs on SQLite and PostgreSQL where it applies.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import anyio
import asyncpg
import pytest

from glue import (
    App,
    Command,
    CommitInDoubt,
    ConnectionError,
    Context,
    Domain,
    LockConflict,
    Response,
    RetryPolicy,
)
from glue.connections import ConnectionManager, SqliteConnection
from glue.query import QueryStatement, SchemaReference
from glue.schema import Column, ColumnType, Schema
from glue.work import UnitOfWork

from .faults import LossyProxy, RestartablePostgres, admin, database_of

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable
    from pathlib import Path

COUNTERS = Schema(
    name="counters",
    columns=(
        Column(name="name", type=ColumnType.INTEGER),
        Column(name="value", type=ColumnType.INTEGER),
    ),
    primary_key=("name",),
)
PATIENT = RetryPolicy(attempts=200, base_delay=0.005, max_delay=0.2)


class Bump(Command):
    name: int = 0


class LockBoth(Command):
    """Lock counters ``first`` then ``second`` (rows of one database)."""

    first: int
    second: int


class Value(Response):
    value: int


def counters_app(url: str, **options: object) -> App:
    shop = Domain("shop")
    shop.table(COUNTERS)

    @shop.command(Bump, retry=PATIENT)
    async def bump(cmd: Bump, ctx: Context) -> Value:
        row = await ctx.state.get(COUNTERS, cmd.name)
        if row is None:
            row = await ctx.state.insert(COUNTERS, {"name": cmd.name, "value": 0})
        await ctx.state.update(COUNTERS, cmd.name, {"value": row["value"] + 1})
        return Value(value=row["value"] + 1)

    @shop.command(LockBoth, retry=PATIENT)
    async def lock_both(cmd: LockBoth, ctx: Context) -> None:
        await ctx.unit.lock(COUNTERS, [cmd.first])
        await anyio.sleep(0.01)  # let the other unit take its first lock
        await ctx.unit.lock(COUNTERS, [cmd.second])
        for key in (cmd.first, cmd.second):
            row = await ctx.state.require(COUNTERS, key)
            await ctx.state.update(COUNTERS, key, {"value": row["value"] + 1})

    manager = ConnectionManager.from_urls({"default": url}, **options)
    return App([shop], databases=manager, create_tables=True)


async def values(app: App) -> dict[int, int]:
    rows = await app.query(QueryStatement(table=SchemaReference(name="counters")))
    return {row["name"]: row["value"] for row in rows}


def checked_out(app: App) -> int:
    pool = app.connections.get_connection_pool()
    return pool.statistics().checked_out


@pytest.mark.slow
async def test_two_hundred_writers_on_one_row_count_exactly(database_url: str) -> None:
    async with counters_app(database_url) as app:
        await app.bus.dispatch(Bump())
        async with anyio.create_task_group() as tg:
            for _ in range(200):
                tg.start_soon(app.bus.dispatch, Bump())
        assert await values(app) == {0: 201}
        assert checked_out(app) == 0


async def test_a_deadlock_inside_one_database_is_retried(database_url: str) -> None:
    """Units locking two rows in opposite orders: PostgreSQL breaks the
    deadlock (a LockConflict, retried); SQLite's one writer never lets it
    form. Every unit completes."""
    async with counters_app(database_url) as app:
        async with app.context(domain="shop") as ctx:
            for key in (1, 2):
                await ctx.state.insert(COUNTERS, {"name": key, "value": 0})
        with anyio.fail_after(120):
            async with anyio.create_task_group() as tg:
                for i in range(10):
                    first, second = (1, 2) if i % 2 else (2, 1)
                    tg.start_soon(
                        app.bus.dispatch, LockBoth(first=first, second=second)
                    )
        assert await values(app) == {1: 10, 2: 10}
        assert checked_out(app) == 0


@pytest.mark.slow
async def test_a_pool_of_ten_under_two_thousand_dispatches(database_url: str) -> None:
    """2,000 dispatches at once through 10 connections: every one completes,
    the pool never grows past 10, and every connection comes back."""
    async with counters_app(database_url, max_size=10) as app:
        async with anyio.create_task_group() as tg:
            for i in range(2_000):
                tg.start_soon(app.bus.dispatch, Bump(name=i))
        assert await values(app) == dict.fromkeys(range(2_000), 1)
        pool = app.connections.get_connection_pool()
        stats = pool.statistics()
        assert stats.checked_out == 0
        assert stats.size <= 10


async def test_a_killed_backend_writes_nothing_and_is_replaced(
    postgres_dsn: str,
) -> None:
    """The backend of a unit's transaction is terminated after a first flush:
    the unit fails with ConnectionError, nothing of it is written, and the
    pool serves the next unit on a new connection."""
    async with counters_app(postgres_dsn) as app:
        await app.bus.dispatch(Bump())
        manager = app.connections
        with pytest.raises(ConnectionError):
            async with UnitOfWork(manager) as unit:
                row = await unit.state.require(COUNTERS, 0)
                await unit.state.update(COUNTERS, 0, {"value": row["value"] + 1})
                await unit.flush()
                conn = unit.transaction.joined(manager.get_connection_pool())
                assert conn is not None
                pid = (await conn.fetch("SELECT pg_backend_pid()")).rows[0][0]
                await admin(postgres_dsn, "SELECT pg_terminate_backend($1, 10000)", pid)
                await unit.state.update(COUNTERS, 0, {"value": row["value"] + 2})
        assert await values(app) == {0: 1}
        assert checked_out(app) == 0
        await app.bus.dispatch(Bump())
        assert await values(app) == {0: 2}


@pytest.fixture
def restarting(
    restartable_postgres: RestartablePostgres, fresh_database: Callable[[str], str]
) -> tuple[RestartablePostgres, str]:
    """A server of this test's own, and a fresh database on it."""
    assert restartable_postgres.dsn is not None
    return restartable_postgres, fresh_database(restartable_postgres.dsn)


async def test_a_server_restart_loses_nothing_committed(
    restarting: tuple[RestartablePostgres, str],
) -> None:
    """Dispatches run while the server restarts (on a server of this test's
    own). Each one that returned is written once; each that raised
    ConnectionError wrote nothing; one in doubt may have; afterwards the pool
    serves again, and every connection came back."""
    server, url = restarting
    done, failed, doubtful = 0, 0, 0
    async with counters_app(url) as app:
        await app.bus.dispatch(Bump())

        async def bump() -> None:
            nonlocal done, failed, doubtful
            try:
                await app.bus.dispatch(Bump())
            except CommitInDoubt:
                doubtful += 1
            except ConnectionError:
                failed += 1
            else:
                done += 1

        async with anyio.create_task_group() as tg:
            for _ in range(20):
                tg.start_soon(bump)
            await anyio.to_thread.run_sync(server.restart)
            for _ in range(20):
                tg.start_soon(bump)
        # A connection that died idle may fail once, then is replaced: at most
        # one failure per connection of the pool (10).
        for _ in range(11):
            try:
                await app.bus.dispatch(Bump())
                break
            except ConnectionError:
                continue
        else:
            pytest.fail("the pool never served again after the restart")
        total = (await values(app))[0]
        assert done + 2 <= total <= done + 2 + doubtful
        assert done + failed + doubtful == 40
        assert checked_out(app) == 0


async def test_a_lock_held_elsewhere_is_waited_for_within_lock_timeout(
    postgres_dsn: str,
) -> None:
    """Another session holds the row's lock and never lets go: the unit gives
    up after its lock timeout with LockConflict (PostgreSQL's own wait would
    last forever), and wrote nothing."""
    async with counters_app(postgres_dsn) as app:
        await app.bus.dispatch(Bump())
        holder = await asyncpg.connect(postgres_dsn, timeout=10)
        try:
            await holder.execute("BEGIN")
            await holder.execute("SELECT * FROM counters WHERE name = 0 FOR UPDATE")
            with pytest.raises(LockConflict, match="lock timeout"):
                async with UnitOfWork(app.connections, lock_timeout=0.2) as unit:
                    row = await unit.state.require(COUNTERS, 0)
                    await unit.state.update(COUNTERS, 0, {"value": row["value"] + 1})
        finally:
            await holder.close()
        assert await values(app) == {0: 1}
        assert checked_out(app) == 0


async def test_a_lost_reply_to_commit_is_in_doubt(
    postgres_dsn: str, start_proxy: Callable[[str], Awaitable[LossyProxy]]
) -> None:
    """COMMIT ran but its reply was lost: nobody can tell the caller whether
    the unit committed, so it hears CommitInDoubt (here it did commit), not a
    ConnectionError that would invite running it again."""
    proxy = await start_proxy(postgres_dsn)
    async with counters_app(proxy.url(database_of(postgres_dsn))) as app:
        await app.bus.dispatch(Bump())
        proxy.lose_reply("COMMIT")
        with pytest.raises(CommitInDoubt) as caught:
            await app.bus.dispatch(Bump())
        assert (caught.value.decision, caught.value.prepared) == (None, ())
        assert proxy.fired
        assert await values(app) == {0: 2}
        assert checked_out(app) == 0


async def test_sqlite_busy_past_its_timeout_is_a_retried_lock_conflict(
    sqlite_path: Path,
) -> None:
    """Another process holds the SQLite file's write lock longer than the busy
    timeout: the unit's BEGIN IMMEDIATE fails with LockConflict (nothing
    written), and the bus runs the command again until the lock is free."""
    url = f"sqlite:///{sqlite_path}"
    async with counters_app(url, timeout=0.1) as app:
        await app.bus.dispatch(Bump())
        other = await SqliteConnection.connect(sqlite_path)  # another process
        holding = anyio.Event()

        async def hold() -> None:
            async with other.transaction():
                holding.set()
                await anyio.sleep(0.5)

        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(hold)
                await holding.wait()
                outcome = await app.bus.execute(Bump())
        finally:
            await other.aclose()
        assert outcome.attempts > 1
        assert await values(app) == {0: 2}
