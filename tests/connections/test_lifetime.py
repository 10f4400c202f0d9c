"""A program ends when its work ends, with what it committed, even if it never
closed its pools, its ConnectionManager or its App (#9).

Each test runs a real script in a child process and checks that it exits on its
own (a hang fails the test at the timeout), that it wrote nothing to stderr (with
ResourceWarning shown: a connection left unclosed would say so), and that the
rows it committed are in the database afterwards.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import textwrap
from contextlib import closing
from pathlib import Path
from typing import Any

import anyio
import pytest

from glue.connections import pool_from_url

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT = 60
"""Seconds a script may take; one that has not exited by then hangs."""


def run(
    tmp_path: Path, script: str, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``script`` with ``args`` in ``tmp_path``; fail the test if it hangs."""
    path = tmp_path / "script.py"
    path.write_text(textwrap.dedent(script))
    command = [sys.executable, "-W", "default::ResourceWarning", str(path), *args]
    try:
        return subprocess.run(
            command,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            check=False,
            env={**os.environ, **(env or {})},
        )
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"the script did not exit on its own: {exc}")


def ran_cleanly(done: subprocess.CompletedProcess[str]) -> None:
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""


def count(url: str, table: str) -> int:
    """The rows of ``table`` in the database at ``url``, read by a new pool."""

    async def read() -> int:
        async with pool_from_url(url) as pool, pool.acquire() as conn:
            result = await conn.fetch(f"SELECT count(*) FROM {table}")  # noqa: S608
        return int(result.rows[0][0])

    return anyio.run(read)


def left_no_wal(url: str) -> bool:
    """Whether a SQLite database was closed cleanly (its last connection
    checkpoints the write-ahead log and removes it); True for PostgreSQL."""
    if not url.startswith("sqlite"):
        return True
    return not Path(url.removeprefix("sqlite:///") + "-wal").exists()


SEED_STYLE = """
    import sys
    import anyio
    from glue.compat import (AsyncConnectionManager, AsyncPostgresConnection,
                             AsyncSqliteConnection, Container,
                             DefaultAsyncConnectionPool, init_default_containers)

    url = sys.argv[1]

    async def main():
        init_default_containers()
        if url.startswith("sqlite"):
            pool = DefaultAsyncConnectionPool(
                AsyncSqliteConnection, db_path=url.removeprefix("sqlite:///")
            )
        else:
            pool = DefaultAsyncConnectionPool(AsyncPostgresConnection, dsn=url)
        manager = Container.managers.get(AsyncConnectionManager)
        manager.register_connection_pool(pool)
        async with manager.get_connection_pool().acquire(write=True) as conn:
            await conn.execute("CREATE TABLE customers (id INTEGER PRIMARY KEY)")
            async with conn.transaction():
                await conn.execute("INSERT INTO customers VALUES (1), (2)")

    anyio.run(main)
"""


def test_the_seeds_style_ends_with_its_rows(tmp_path: Path, database_url: str) -> None:
    ran_cleanly(run(tmp_path, SEED_STYLE, database_url))
    assert count(database_url, "customers") == 2
    assert left_no_wal(database_url)


APP_LEFT_OPEN = """
    import sys
    import anyio
    from glue import App, Column, ColumnType, Command, Domain, Schema

    items = Schema(name="items", primary_key=("id",), columns=(
        Column(name="id", type=ColumnType.INTEGER),
    ))

    class Add(Command):
        id: int

    shop = Domain("shop")
    shop.table(items)

    @shop.command(Add)
    async def add(cmd, ctx):
        await ctx.state.insert(items, {"id": cmd.id})

    async def main():
        app = App([shop], databases={"default": sys.argv[1]}, create_tables=True)
        await app.__aenter__()  # and never leaves
        await app.bus.dispatch(Add(id=1))
        await app.bus.dispatch(Add(id=2))

    anyio.run(main)
"""


def test_an_app_left_open_ends_with_its_rows(tmp_path: Path, database_url: str) -> None:
    ran_cleanly(run(tmp_path, APP_LEFT_OPEN, database_url))
    assert count(database_url, "items") == 2
    assert left_no_wal(database_url)


MANAGER_LEFT_OPEN = """
    import asyncio, sys
    from glue.connections import ConnectionManager

    async def main():
        manager = ConnectionManager.from_urls({"default": sys.argv[1]})
        await manager.open()
        async with manager.get_connection_pool().acquire(write=True) as conn:
            await conn.execute("CREATE TABLE items (id INTEGER PRIMARY KEY)")
            async with conn.transaction():
                await conn.execute("INSERT INTO items VALUES (1), (2), (3)")
        # a reader checked out and never given back, as in an abandoned task
        global stuck
        stuck = manager.get_connection_pool().acquire()
        await stuck.__aenter__()

    asyncio.run(main())
"""


def test_a_manager_left_open_ends_with_its_rows(
    tmp_path: Path, database_url: str
) -> None:
    ran_cleanly(run(tmp_path, MANAGER_LEFT_OPEN, database_url))
    assert count(database_url, "items") == 3
    assert left_no_wal(database_url)


SEED_JOIN = """
    import sys
    import anyio
    from glue import (Condition, Conditions, FieldLookup, FieldReference,
                      QueryStatement, SchemaReference)
    from glue.compat import (AsyncConnectionManager, AsyncDataQueryService,
                             AsyncSqliteConnection, Container, DataQueryOperation,
                             DefaultAsyncConnectionPool, init_default_containers)
    from glue.query import Field, JoinQuery, Version
    from glue.connections import pool_from_url

    def ref(table, name):
        return FieldReference(field=Field(name=name), table_name=table)

    async def main():
        init_default_containers()
        manager = Container.managers.get(AsyncConnectionManager)
        customers = DefaultAsyncConnectionPool(
            AsyncSqliteConnection, db_path="customers.sqlite", check_same_thread=False
        )
        manager.register_connection_pool(customers)
        manager.register_connection_pool(pool_from_url(sys.argv[1]), "orders")
        async with customers.acquire(write=True) as conn:
            await conn.execute("CREATE TABLE customers (id INTEGER, name TEXT)")
            await conn.execute("INSERT INTO customers VALUES (1, 'Ada'), (2, 'Bob')")
        orders = manager.get_connection_pool("orders")
        async with orders.acquire(write=True) as conn:
            await conn.execute(
                "CREATE TABLE orders (id INTEGER, customer_id INTEGER, amount INTEGER)"
            )
            await conn.execute("INSERT INTO orders VALUES (1, 1, 10), (2, 2, 7)")
        query = QueryStatement(
            only=[ref("c", "name"), ref("o", "amount")],
            table=SchemaReference(name="customers", version=Version.LATEST, alias="c"),
            joins=[
                JoinQuery(
                    table=SchemaReference(
                        name="orders", version=Version.LATEST, alias="o"
                    ),
                    on=Conditions(
                        Condition(
                            field=ref("o", "customer_id"),
                            lookup=FieldLookup.EQ,
                            value=ref("c", "id"),
                        )
                    ),
                )
            ],
        )
        service = Container.services.get(AsyncDataQueryService)
        result = await service.execute(query_op=DataQueryOperation(query=query))
        print(sorted((row.data["name"], row.data["amount"]) for row in result.data))

    anyio.run(main)
"""


def test_the_seeds_join_example_ends(tmp_path: Path, database_url: str) -> None:
    done = run(tmp_path, SEED_JOIN, database_url)
    ran_cleanly(done)
    assert done.stdout == "[('Ada', 10), ('Bob', 7)]\n"
    assert left_no_wal(f"sqlite:///{tmp_path / 'customers.sqlite'}")


def test_the_cross_database_join_example_ends(
    tmp_path: Path, database_url: str
) -> None:
    postgres = not database_url.startswith("sqlite")
    env = {"GLUE_EXAMPLE_POSTGRES": database_url} if postgres else {}
    example = (ROOT / "examples" / "cross_db_join.py").read_text()
    done = run(tmp_path, example, env=env)
    ran_cleanly(done)
    assert "paid orders in NL; the largest three:" in done.stdout


NO_LOOP_SHUTDOWN = """
    import asyncio
    from glue.connections import DefaultConnectionPool, SqliteConnection

    async def main():
        global conn, pool
        conn = await SqliteConnection.connect("alone.sqlite")
        await conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY)")
        await conn.execute("INSERT INTO t VALUES (1)")
        pool = DefaultConnectionPool(SqliteConnection, db_path="pooled.sqlite")
        async with pool.acquire(write=True) as pooled:
            await pooled.execute("CREATE TABLE t (id INTEGER PRIMARY KEY)")
            await pooled.execute("INSERT INTO t VALUES (1), (2)")

    # A loop run by hand and never shut down: nothing closes the connections.
    asyncio.new_event_loop().run_until_complete(main())
"""


def test_sqlite_connections_never_closed_let_the_process_exit(
    tmp_path: Path,
) -> None:
    done = run(tmp_path, NO_LOOP_SHUTDOWN)
    assert done.returncode == 0, done.stderr
    for name, rows in [("alone.sqlite", 1), ("pooled.sqlite", 2)]:
        with closing(sqlite3.connect(tmp_path / name)) as db:
            assert db.execute("SELECT count(*) FROM t").fetchone() == (rows,)


def test_a_pool_left_open_is_closed_as_its_event_loop_ends(database_url: str) -> None:
    pool = pool_from_url(database_url)

    async def use() -> None:
        async with pool.acquire(write=True) as conn:
            await conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY)")
        assert pool.statistics().size >= 1

    anyio.run(use)
    assert repr(pool).startswith(f"<DefaultConnectionPool {pool.name!r} closed ")
    assert pool.statistics().size == 0
    assert left_no_wal(database_url)


def test_a_checkout_never_exited_is_given_back_as_its_event_loop_ends(
    database_url: str,
) -> None:
    pool = pool_from_url(database_url)
    held: list[Any] = []

    async def use() -> None:
        checkout = pool.acquire()
        held.append(checkout)  # kept alive, never exited
        await checkout.__aenter__()

    anyio.run(use)
    # Given back, not closed by force once the grace ran out.
    assert pool.statistics().checked_out == 0
    assert repr(pool).startswith(f"<DefaultConnectionPool {pool.name!r} closed ")
    assert left_no_wal(database_url)
    # Exited later, it gives back nothing more.
    anyio.run(held[0].__aexit__, None, None, None)
    assert pool.statistics().checked_out == 0
