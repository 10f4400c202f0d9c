"""The connection contract, run on SQLite and on PostgreSQL alike."""

from __future__ import annotations

from typing import TYPE_CHECKING

import anyio
import pytest

from glue.connections import Connection, Statement
from glue.errors import ConnectionError, IntegrityError, ProgrammingError

if TYPE_CHECKING:
    from collections.abc import Callable

    from glue.connections import DefaultConnectionPool

SCHEMA = "CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE)"


async def _setup(pool: DefaultConnectionPool) -> None:
    async with pool.acquire(write=True) as conn:
        await conn.execute(SCHEMA)


async def _names(pool: DefaultConnectionPool) -> list[str]:
    async with pool.acquire() as conn:
        result = await conn.fetch("SELECT name FROM items ORDER BY id")
    return [row[0] for row in result.rows]


async def test_connections_satisfy_the_protocol(pool: DefaultConnectionPool) -> None:
    async with pool.acquire() as conn:
        assert isinstance(conn, Connection)
        assert conn.dialect == pool.dialect
        assert conn.database == "shop"


async def test_execute_returns_rows_changed_and_fetch_returns_columns(
    pool: DefaultConnectionPool, sql: Callable[[str], str]
) -> None:
    await _setup(pool)
    async with pool.acquire(write=True) as conn:
        insert = sql("INSERT INTO items (id, name) VALUES (?, ?)")
        assert await conn.execute(insert, (1, "apple")) == 1
        await conn.execute_many(insert, [(2, "pear"), (3, "plum")])
        assert await conn.execute("UPDATE items SET name = name || '!'") == 3
        result = await conn.fetch(
            sql("SELECT id, name AS label FROM items WHERE id > ?"), (1,)
        )
        empty = await conn.fetch(sql("SELECT id, name FROM items WHERE id > ?"), (99,))
    assert result.columns == ("id", "label")
    assert result.rows == [(2, "pear!"), (3, "plum!")]
    assert result.dicts() == [{"id": 2, "label": "pear!"}, {"id": 3, "label": "plum!"}]
    assert empty.columns == ("id", "name")
    assert empty.rows == []


async def test_iterate_streams_rows_in_batches(
    pool: DefaultConnectionPool, sql: Callable[[str], str]
) -> None:
    await _setup(pool)
    async with pool.acquire(write=True) as conn:
        rows = [(i, f"item-{i}") for i in range(1, 26)]
        await conn.execute_many(sql("INSERT INTO items (id, name) VALUES (?, ?)"), rows)
        streamed = [
            row
            async for row in conn.iterate(
                sql("SELECT id, name FROM items WHERE id > ? ORDER BY id"),
                (0,),
                batch_size=4,
            )
        ]
        assert streamed == rows
        async for row in conn.iterate("SELECT id FROM items ORDER BY id", batch_size=2):
            assert row == (1,)
            break
        # The connection is still usable after leaving a stream early.
        assert (await conn.fetch("SELECT count(*) FROM items")).rows == [(25,)]


async def test_batch_counts_each_statement_and_is_all_or_none(
    pool: DefaultConnectionPool, sql: Callable[[str], str]
) -> None:
    await _setup(pool)
    insert = sql("INSERT INTO items (id, name) VALUES (?, ?)")
    async with pool.acquire(write=True) as conn:
        counts = await conn.batch(
            [
                Statement(insert, (1, "a")),
                Statement(insert, many=[(2, "b"), (3, "c")]),
                Statement(
                    sql("UPDATE items SET name = name || ? WHERE id >= ?"), ("!", 2)
                ),
                Statement(sql("DELETE FROM items WHERE id = ?"), (99,)),
            ]
        )
        assert counts == [1, 2, 2, 0]
        with pytest.raises(IntegrityError) as caught:
            await conn.batch([Statement(insert, (4, "d")), Statement(insert, (5, "a"))])
    assert caught.value.database == "shop"
    assert await _names(pool) == ["a", "b!", "c!"]


async def test_transaction_commits_and_rolls_back(
    pool: DefaultConnectionPool, sql: Callable[[str], str]
) -> None:
    await _setup(pool)
    insert = sql("INSERT INTO items (id, name) VALUES (?, ?)")
    async with pool.acquire(write=True) as conn:
        async with conn.transaction():
            await conn.execute(insert, (1, "kept"))
        with pytest.raises(RuntimeError):
            async with conn.transaction():
                await conn.execute(insert, (2, "dropped"))
                raise RuntimeError("boom")
    assert await _names(pool) == ["kept"]


async def test_nested_transactions_are_savepoints(
    pool: DefaultConnectionPool, sql: Callable[[str], str]
) -> None:
    await _setup(pool)
    insert = sql("INSERT INTO items (id, name) VALUES (?, ?)")
    async with pool.acquire(write=True) as conn:
        async with conn.transaction():
            await conn.execute(insert, (1, "outer"))
            with pytest.raises(IntegrityError):
                async with conn.transaction():
                    await conn.execute(insert, (2, "inner"))
                    await conn.execute(insert, (3, "outer"))
            async with conn.transaction():
                await conn.execute(insert, (4, "second"))
            # A batch inside a transaction nests too.
            assert await conn.batch([Statement(insert, (5, "batched"))]) == [1]
    assert await _names(pool) == ["outer", "second", "batched"]


async def test_cancelled_transaction_rolls_back(
    pool: DefaultConnectionPool, sql: Callable[[str], str]
) -> None:
    await _setup(pool)
    inserted = anyio.Event()

    async def writer() -> None:
        async with pool.acquire(write=True) as conn, conn.transaction():
            await conn.execute(
                sql("INSERT INTO items (id, name) VALUES (?, ?)"), (1, "x")
            )
            inserted.set()
            await anyio.sleep_forever()

    async with anyio.create_task_group() as tg:
        tg.start_soon(writer)
        await inserted.wait()
        tg.cancel_scope.cancel()
    assert await _names(pool) == []
    assert pool.statistics().checked_out == 0


async def test_driver_errors_become_glue_errors_naming_the_database(
    pool: DefaultConnectionPool, sql: Callable[[str], str]
) -> None:
    await _setup(pool)
    insert = sql("INSERT INTO items (id, name) VALUES (?, ?)")
    async with pool.acquire(write=True) as conn:
        await conn.execute(insert, (1, "a"))
        with pytest.raises(IntegrityError) as integrity:
            await conn.execute(insert, (2, "a"))
        with pytest.raises(ProgrammingError) as unknown:
            await conn.fetch("SELECT * FROM no_such_table")
        with pytest.raises(ProgrammingError):
            await conn.execute("SELEC nonsense")
        with pytest.raises(ProgrammingError):
            await conn.execute(insert, (3,))
        # The connection survives statement errors.
        assert (await conn.fetch("SELECT count(*) FROM items")).rows == [(1,)]
    assert integrity.value.table == "items"
    assert "'shop'" in str(integrity.value)
    assert unknown.value.table == "no_such_table"
    assert isinstance(integrity.value.__cause__, Exception)


async def test_a_returned_connection_cannot_be_used(
    pool: DefaultConnectionPool,
) -> None:
    async with pool.acquire() as conn:
        pass
    assert conn.closed
    with pytest.raises(ConnectionError, match="returned to its pool"):
        await conn.fetch("SELECT 1")


async def test_aclose_is_idempotent_and_later_calls_raise(
    pool: DefaultConnectionPool,
) -> None:
    async with pool.acquire() as conn:
        await conn.aclose()
        await conn.aclose()
        assert conn.closed
        with pytest.raises(ConnectionError, match="closed"):
            await conn.execute("SELECT 1")
    # The pool replaced the closed connection.
    async with pool.acquire() as conn:
        assert (await conn.fetch("SELECT 1")).rows == [(1,)]
