"""DefaultConnectionPool on SQLite and PostgreSQL: limits, timeouts, faults, closing."""

from __future__ import annotations

import gc
from typing import TYPE_CHECKING, Any

import anyio
import anyio.lowlevel
import asyncpg
import pytest

import glue.connections.sqlite as sqlite_backend
from glue.connections import (
    DefaultConnectionPool,
    PoolStatistics,
    SqliteConnection,
    pool_from_url,
)
from glue.errors import ConfigurationError, ConnectionError, PoolClosed, PoolTimeout

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable
    from pathlib import Path

    from glue.connections import Connection


async def _wait_until(condition: Callable[[], bool]) -> None:
    """Let other tasks run until ``condition`` holds, for at most ten seconds."""
    for _ in range(1000):
        if condition():
            return
        await anyio.sleep(0.01)
    raise AssertionError("condition never held")


async def test_a_connection_killed_by_the_server_is_replaced(
    pool: DefaultConnectionPool, kill: Callable[[Connection], Awaitable[None]]
) -> None:
    async with pool.acquire(write=True) as conn:
        await kill(conn)
        with pytest.raises(ConnectionError) as caught:
            await conn.fetch("SELECT 1")
        assert caught.value.database == "shop"
        assert conn.closed
    # The pool keeps working, on a new connection.
    for _ in range(3):
        async with pool.acquire(write=True) as conn:
            assert (await conn.fetch("SELECT 1")).rows == [(1,)]
    stats = pool.statistics()
    assert stats.checked_out == 0
    assert 1 <= stats.size <= stats.max_size


async def test_a_connection_killed_inside_a_transaction_fails_cleanly(
    pool: DefaultConnectionPool, kill: Callable[[Connection], Awaitable[None]]
) -> None:
    with pytest.raises(ConnectionError):
        async with pool.acquire(write=True) as conn, conn.transaction():
            await kill(conn)
            await conn.execute("SELECT 1")
    async with pool.acquire(write=True) as conn:
        async with conn.transaction():
            assert (await conn.fetch("SELECT 2")).rows == [(2,)]
    assert pool.statistics().checked_out == 0


async def test_two_hundred_tasks_share_a_pool_of_five(
    pool: DefaultConnectionPool, sql: Callable[[str], str]
) -> None:
    async with pool.acquire(write=True) as conn:
        await conn.execute("CREATE TABLE hits (task INTEGER NOT NULL)")
    peak = 0

    async def work(task: int) -> None:
        nonlocal peak
        write = task % 4 == 0
        async with pool.acquire(write=write) as conn:
            peak = max(peak, pool.statistics().checked_out)
            if write:
                await conn.execute(sql("INSERT INTO hits (task) VALUES (?)"), (task,))
            else:
                await conn.fetch("SELECT count(*) FROM hits")
            await anyio.lowlevel.checkpoint()

    with anyio.fail_after(60):
        async with anyio.create_task_group() as tg:
            for task in range(200):
                tg.start_soon(work, task)
    stats = pool.statistics()
    assert stats == PoolStatistics(
        name="shop", size=stats.size, max_size=5, checked_out=0, waiting=0
    )
    assert 1 < peak <= 5
    assert stats.size <= 5
    async with pool.acquire() as conn:
        assert (await conn.fetch("SELECT count(*) FROM hits")).rows == [(50,)]


async def test_an_exhausted_pool_raises_pool_timeout_naming_it(
    database_url: str,
) -> None:
    async with pool_from_url(database_url, name="orders", max_size=1) as pool:
        async with pool.acquire(write=True):
            expected = r"'orders'.*within 0\.05 s"
            with pytest.raises(PoolTimeout, match=expected) as caught:
                async with pool.acquire(write=True, timeout=0.05):
                    pass
            assert isinstance(caught.value, TimeoutError)
            assert pool.statistics().waiting == 0
        async with pool.acquire(write=True) as conn:
            assert (await conn.fetch("SELECT 1")).rows == [(1,)]


async def test_cancelled_while_waiting_leaves_no_trace(
    pool: DefaultConnectionPool,
) -> None:
    async with pool_from_url_like(pool, max_size=1) as small:
        async with small.acquire(write=True):
            async with anyio.create_task_group() as tg:
                tg.start_soon(_acquire_and_hold, small)
                await _wait_until(lambda: small.statistics().waiting == 1)
                tg.cancel_scope.cancel()
            assert small.statistics().waiting == 0
            assert small.statistics().checked_out == 1
        assert small.statistics().checked_out == 0
        async with small.acquire(write=True) as conn:
            assert (await conn.fetch("SELECT 1")).rows == [(1,)]


async def test_cancelled_while_holding_returns_the_connection(
    pool: DefaultConnectionPool,
) -> None:
    async with anyio.create_task_group() as tg:
        for _ in range(3):
            tg.start_soon(_acquire_and_hold, pool, False)
        await _wait_until(lambda: pool.statistics().checked_out == 3)
        tg.cancel_scope.cancel()
    assert pool.statistics().checked_out == 0
    async with pool.acquire(write=True) as conn:
        assert (await conn.fetch("SELECT 1")).rows == [(1,)]


async def test_aclose_waits_for_checked_out_connections(database_url: str) -> None:
    pool = pool_from_url(database_url, name="shop")
    await pool.open()
    order: list[str] = []
    holding = anyio.Event()
    release = anyio.Event()

    async def holder() -> None:
        async with pool.acquire() as conn:
            holding.set()
            await release.wait()
            await conn.fetch("SELECT 1")
            order.append("released")

    async def closer() -> None:
        await pool.aclose()
        order.append("closed")

    async with anyio.create_task_group() as tg:
        tg.start_soon(holder)
        await holding.wait()
        tg.start_soon(closer)
        await anyio.wait_all_tasks_blocked()
        with pytest.raises(PoolClosed):
            async with pool.acquire():
                pass
        release.set()
    assert order == ["released", "closed"]
    await pool.aclose()  # closing twice does nothing


async def test_aclose_times_out_and_closes_what_is_still_out(database_url: str) -> None:
    pool = pool_from_url(database_url, name="shop")
    await pool.open()
    async with pool.acquire() as conn:
        with pytest.raises(PoolTimeout, match="1 connection"):
            await pool.aclose(timeout=0.05)
        with pytest.raises(ConnectionError):
            await conn.fetch("SELECT 1")
    assert pool.statistics().checked_out == 0


async def test_waiters_get_pool_closed_when_the_pool_closes(database_url: str) -> None:
    pool = pool_from_url(database_url, name="shop", max_size=1)
    await pool.open()
    errors: list[BaseException] = []

    async def waiter() -> None:
        try:
            async with pool.acquire(write=True):
                pass
        except PoolClosed as exc:
            errors.append(exc)

    async with pool.acquire(write=True):
        async with anyio.create_task_group() as tg:
            tg.start_soon(waiter)
            await _wait_until(lambda: pool.statistics().waiting == 1)
            with pytest.raises(PoolTimeout):
                await pool.aclose(timeout=0.01)
    assert len(errors) == 1
    assert "'shop'" in str(errors[0])


async def test_a_closed_pool_refuses_to_reopen(database_url: str) -> None:
    async with pool_from_url(database_url, name="shop") as pool:
        pass
    with pytest.raises(PoolClosed, match="closed"):
        await pool.open()
    with pytest.raises(PoolClosed):
        async with pool.acquire():
            pass


async def test_a_pool_opens_lazily_on_first_acquire(database_url: str) -> None:
    pool = pool_from_url(database_url, name="shop")
    try:
        assert pool.statistics().size == 0
        async with pool.acquire() as conn:
            assert (await conn.fetch("SELECT 1")).rows == [(1,)]
    finally:
        await pool.aclose()


def test_sizes_are_checked(sqlite_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="min_size"):
        DefaultConnectionPool(
            SqliteConnection, db_path=sqlite_path, min_size=3, max_size=2
        )
    with pytest.raises(ConfigurationError, match="acquire_timeout"):
        DefaultConnectionPool(SqliteConnection, db_path=sqlite_path, acquire_timeout=0)


def pool_from_url_like(
    pool: DefaultConnectionPool, **options: int
) -> DefaultConnectionPool:
    """A second pool on the same database as ``pool``."""
    url = (
        f"sqlite:///{pool.location}" if pool.dialect.name == "sqlite" else _dsn_of(pool)
    )
    return pool_from_url(url, name=pool.name, **options)


def _dsn_of(pool: DefaultConnectionPool) -> str:
    return f"postgresql://{pool.location.partition('://')[2]}"


async def _acquire_and_hold(pool: DefaultConnectionPool, write: bool = True) -> None:
    async with pool.acquire(write=write):
        await anyio.sleep_forever()


@pytest.fixture
def slow_connect(database_url: str, monkeypatch: pytest.MonkeyPatch) -> float:
    """Make each new connection take 0.5 s past any cancellation, as PostgreSQL's
    shielded connect does with a slow server; return that delay."""
    delay = 0.5
    if database_url.startswith("sqlite"):
        real_open = sqlite_backend._open_raw

        async def slow_open(*args: Any, **options: Any) -> Any:
            raw = await real_open(*args, **options)
            with anyio.CancelScope(shield=True):
                await anyio.sleep(delay)
            return raw

        monkeypatch.setattr(sqlite_backend, "_open_raw", slow_open)
    else:
        real_connect = asyncpg.connect

        async def slow_connect(*args: Any, **options: Any) -> Any:
            await anyio.sleep(delay)
            return await real_connect(*args, **options)

        monkeypatch.setattr(asyncpg, "connect", slow_connect)
    return delay


async def test_acquire_times_out_while_a_connection_opens(
    database_url: str, slow_connect: float
) -> None:
    async with pool_from_url(database_url, name="shop", min_size=0) as pool:
        with pytest.raises(PoolTimeout, match=r"within 0\.1 s"):
            async with pool.acquire(timeout=0.1):
                raise AssertionError("handed out past the timeout")
        assert pool.statistics().checked_out == 0
        async with pool.acquire() as conn:
            assert (await conn.fetch("SELECT 1")).rows == [(1,)]


async def test_a_pool_closed_while_a_connection_opens_hands_out_nothing(
    database_url: str, slow_connect: float
) -> None:
    pool = pool_from_url(database_url, name="shop", min_size=0, max_size=2)
    await pool.open()
    caught: list[BaseException] = []

    async def user() -> None:
        try:
            async with pool.acquire():
                raise AssertionError("handed out by a closed pool")
        except PoolClosed as exc:
            caught.append(exc)

    async with anyio.create_task_group() as tg:
        tg.start_soon(user)
        await _wait_until(lambda: pool.statistics().waiting == 1)
        await pool.aclose()
    assert len(caught) == 1
    assert pool.statistics().size == 0


async def test_a_checkout_dropped_unexited_is_given_back(database_url: str) -> None:
    with anyio.fail_after(10):  # a connection never given back would hang
        await _drop_checkouts(database_url)


async def _drop_checkouts(database_url: str) -> None:
    async with pool_from_url(database_url, name="shop") as pool:
        checkout = pool.acquire()
        conn = await checkout.__aenter__()
        assert pool.statistics().checked_out == 1
        del checkout  # entered, never exited, garbage
        gc.collect()
        # Given back by a task of the pool's own, with no other checkout
        # (three turns of the loop: the callback, the task, its give-back).
        await anyio.sleep(0.05)
        assert pool.statistics().checked_out == 0
        assert conn.closed
        # One dropped as the pool closes: the close waits for nothing.
        dropped = pool.acquire()
        await dropped.__aenter__()
        del dropped
        gc.collect()
        await pool.aclose(timeout=0.05)
        assert pool.statistics().checked_out == 0


async def test_a_checkout_dropped_unexited_wakes_a_waiting_one(
    database_url: str,
) -> None:
    """A pool's one connection (SQLite: its writer), dropped while another
    task waits for it, goes to that task, as when a checkout was a generator."""
    async with pool_from_url(database_url, max_size=1, acquire_timeout=5) as pool:
        holder = pool.acquire(write=True)
        await holder.__aenter__()
        got: list[int] = []

        async def wait_for_the_writer() -> None:
            async with pool.acquire(write=True) as conn:
                got.extend(row[0] for row in (await conn.fetch("SELECT 1")).rows)

        with anyio.fail_after(10):
            async with anyio.create_task_group() as group:
                group.start_soon(wait_for_the_writer)
                await anyio.sleep(0.05)  # it waits for the writer
                assert not got
                del holder
                gc.collect()
        assert got == [1]
        assert pool.statistics().checked_out == 0


async def test_a_checkout_is_entered_once(pool: DefaultConnectionPool) -> None:
    checkout = pool.acquire()
    async with checkout as conn:
        with pytest.raises(RuntimeError, match="entered only once"):
            await checkout.__aenter__()
        assert (await conn.fetch("SELECT 1")).rows == [(1,)]
    assert pool.statistics().checked_out == 0
