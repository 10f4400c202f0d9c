"""What is particular to SQLite: pragmas, one writer, many readers, one thread hop."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import anyio
import pytest

from glue.connections import DefaultConnectionPool, SqliteConnection, Statement
from glue.errors import IntegrityError, OperationalError, PoolTimeout

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable
    from pathlib import Path


@pytest.fixture
async def pool(sqlite_path: Path) -> AsyncIterator[DefaultConnectionPool]:
    async with DefaultConnectionPool(
        SqliteConnection, name="shop", db_path=sqlite_path, max_size=3
    ) as opened:
        yield opened


async def test_connections_use_wal_foreign_keys_and_a_busy_timeout(
    sqlite_path: Path,
) -> None:
    conn = await SqliteConnection.connect(sqlite_path, timeout=2.5)
    try:
        pragmas = [
            (await conn.fetch(f"PRAGMA {name}")).rows[0][0]
            for name in ("journal_mode", "foreign_keys", "busy_timeout")
        ]
    finally:
        await conn.aclose()
    assert pragmas == ["wal", 1, 2500]


async def test_foreign_keys_are_enforced(pool: DefaultConnectionPool) -> None:
    async with pool.acquire(write=True) as conn:
        await conn.execute("CREATE TABLE parent (id INTEGER PRIMARY KEY)")
        await conn.execute(
            "CREATE TABLE child (id INTEGER PRIMARY KEY, "
            "parent_id INTEGER NOT NULL REFERENCES parent (id))"
        )
        with pytest.raises(IntegrityError, match="FOREIGN KEY"):
            await conn.execute("INSERT INTO child (id, parent_id) VALUES (1, 42)")


async def test_one_writer_at_a_time_while_readers_carry_on(
    pool: DefaultConnectionPool,
) -> None:
    async with pool.acquire(write=True) as writer:
        await writer.execute("CREATE TABLE t (x INTEGER)")
        async with writer.transaction():
            await writer.execute("INSERT INTO t (x) VALUES (1)")
            with pytest.raises(PoolTimeout):
                async with pool.acquire(write=True, timeout=0.05):
                    pass
            # Readers run beside the writer and see the last committed state.
            async with pool.acquire() as reader:
                assert (await reader.fetch("SELECT count(*) FROM t")).rows == [(0,)]
    async with pool.acquire() as reader:
        assert (await reader.fetch("SELECT count(*) FROM t")).rows == [(1,)]
    assert pool.statistics().max_size == 3


async def test_a_lock_held_past_the_busy_timeout_is_an_operational_error(
    sqlite_path: Path,
) -> None:
    first = await SqliteConnection.connect(sqlite_path, timeout=0.05)
    second = await SqliteConnection.connect(sqlite_path, timeout=0.05)
    try:
        async with first.transaction():
            with pytest.raises(OperationalError, match="acquire\\(write=True\\)"):
                async with second.transaction():
                    pass
    finally:
        await first.aclose()
        await second.aclose()


async def test_a_batch_is_one_thread_hop(pool: DefaultConnectionPool) -> None:
    async with pool.acquire(write=True) as conn:
        assert isinstance(conn, SqliteConnection)
        await conn.execute("CREATE TABLE t (x INTEGER)")
        raw = conn._raw
        hops = 0
        original: Callable[..., Awaitable[Any]] = raw._execute

        async def counting(fn: Any, *args: Any, **kwargs: Any) -> Any:
            nonlocal hops
            hops += 1
            return await original(fn, *args, **kwargs)

        raw._execute = counting  # type: ignore[method-assign]  # a spy, not a stand-in
        try:
            counts = await conn.batch(
                [
                    Statement(
                        "INSERT INTO t (x) VALUES (?)", many=[(i,) for i in range(50)]
                    ),
                    Statement("UPDATE t SET x = x + 1 WHERE x < ?", (10,)),
                    Statement("DELETE FROM t WHERE x > ?", (45,)),
                ]
            )
        finally:
            del raw._execute
    assert counts == [50, 10, 4]
    assert hops == 1


async def test_memory_database_lives_in_its_single_connection() -> None:
    async with DefaultConnectionPool(SqliteConnection, db_path=":memory:") as pool:
        async with pool.acquire(write=True) as conn:
            await conn.execute("CREATE TABLE t (x INTEGER)")
            await conn.execute("INSERT INTO t (x) VALUES (1)")

        async def read() -> None:
            async with pool.acquire() as conn:
                assert (await conn.fetch("SELECT x FROM t")).rows == [(1,)]

        async with anyio.create_task_group() as tg:
            for _ in range(5):
                tg.start_soon(read)
        assert pool.statistics().size == 1


async def test_a_left_open_transaction_is_rolled_back_on_return(
    pool: DefaultConnectionPool,
) -> None:
    async with pool.acquire(write=True) as conn:
        await conn.execute("CREATE TABLE t (x INTEGER)")
        await conn.execute("BEGIN")
        await conn.execute("INSERT INTO t (x) VALUES (1)")
    async with pool.acquire(write=True) as conn:
        assert (await conn.fetch("SELECT count(*) FROM t")).rows == [(0,)]
        async with conn.transaction():
            await conn.execute("INSERT INTO t (x) VALUES (2)")
    async with pool.acquire() as conn:
        assert (await conn.fetch("SELECT x FROM t")).rows == [(2,)]


async def test_a_connection_closed_while_idle_is_replaced_on_checkout(
    pool: DefaultConnectionPool,
) -> None:
    async with pool.acquire(write=True) as conn:
        assert isinstance(conn, SqliteConnection)
        raw = conn._raw
    await raw.close()  # behind the pool's back, while it sits idle
    async with pool.acquire(write=True) as conn:
        assert isinstance(conn, SqliteConnection)
        assert conn._raw is not raw
        assert (await conn.fetch("SELECT 1")).rows == [(1,)]
    assert pool.statistics().size == 1
