"""A join across databases: "names and amounts of paid orders of customers in one
country", with customers in one SQLite file and orders in another SQLite file
or in PostgreSQL.

Contestants, on the same rows:

- glue: `DataQueryService` with the two databases registered;
- amsdal-glue (the ``bench`` extra) with the same two databases registered;
- one SQLite connection with both files attached: the single-engine reference;
- DuckDB over the same rows, loaded through Python (its sqlite extension cannot
  be downloaded here).

Run: ``.venv/bin/python benchmarks/join.py [--orders 200000 1000000]``. PostgreSQL
comes from ``GLUE_BENCH_POSTGRES_DSN`` (a server we may create a database on),
else the local server as user ``postgres``; without one, those rows are skipped.
Each contestant runs once to warm up, then ``--runs`` rounds interleaved with the
others (see ``harness.py``), the garbage collector on: median and spread in
milliseconds, and the ratio to the reference per round. Target (#14): glue at
most 1.0x the attached SQLite reference, stably.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import importlib.util
import os
import random
import sqlite3
import tempfile
import uuid
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import asyncpg
from harness import Comparison, Sample, machine, timed

from glue.connections import ConnectionManager, pool_from_url
from glue.query import (
    Condition,
    Conditions,
    FieldReference,
    JoinQuery,
    QueryStatement,
    SchemaReference,
    Value,
)
from glue.schema import Column, ColumnType, Schema
from glue.services.reads import DataQueryService

CUSTOMERS = 10_000
COUNTRIES = [f"c{n:02d}" for n in range(20)]
COUNTRY = "c07"
STATUSES = ["paid", "open", "void"]
LOCAL_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"

CUSTOMERS_SCHEMA = Schema(
    name="customers",
    columns=(
        Column(name="id", type=ColumnType.INTEGER),
        Column(name="name", type=ColumnType.TEXT),
        Column(name="country", type=ColumnType.TEXT),
    ),
    primary_key=("id",),
    versioned=False,
)
ORDERS_SCHEMA = Schema(
    name="orders",
    columns=(
        Column(name="id", type=ColumnType.INTEGER),
        Column(name="customer_id", type=ColumnType.INTEGER),
        Column(name="amount", type=ColumnType.INTEGER),
        Column(name="status", type=ColumnType.TEXT),
    ),
    primary_key=("id",),
    versioned=False,
)

REFERENCE_SQL = (
    "SELECT c.name, o.amount FROM customers AS c "
    "JOIN od.orders AS o ON o.customer_id = c.id "
    "WHERE c.country = ? AND o.status = ?"
)


def glue_statement() -> QueryStatement:
    """The benchmark query in glue's query model."""
    return QueryStatement(
        table=SchemaReference(name="customers", alias="c"),
        only=[FieldReference.of("c", "name"), FieldReference.of("o", "amount")],
        joins=[
            JoinQuery(
                table=SchemaReference(name="orders", alias="o"),
                on=Conditions(
                    Condition(
                        field=FieldReference.of("o", "customer_id"),
                        value=FieldReference.of("c", "id"),
                    )
                ),
            )
        ],
        where=Conditions(
            Condition(field=FieldReference.of("c", "country"), value=Value(COUNTRY)),
            Condition(field=FieldReference.of("o", "status"), value=Value("paid")),
        ),
    )


# -- data ---------------------------------------------------------------------------


def make_customers() -> list[tuple[int, str, str]]:
    rnd = random.Random(1)
    return [
        (n, f"customer {n}", rnd.choice(COUNTRIES)) for n in range(1, CUSTOMERS + 1)
    ]


def make_orders(count: int) -> list[tuple[int, int, int, str]]:
    rnd = random.Random(2)
    return [
        (n, rnd.randint(1, CUSTOMERS), rnd.randint(1, 500), rnd.choice(STATUSES))
        for n in range(1, count + 1)
    ]


def write_sqlite(path: Path, table: str, rows: list[tuple[Any, ...]]) -> None:
    db = sqlite3.connect(path)
    if table == "customers":
        db.execute(
            "CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT NOT NULL, "
            "country TEXT NOT NULL)"
        )
        db.executemany("INSERT INTO customers VALUES (?, ?, ?)", rows)
    else:
        db.execute(
            "CREATE TABLE orders (id INTEGER PRIMARY KEY, customer_id INTEGER NOT "
            "NULL, amount INTEGER NOT NULL, status TEXT NOT NULL)"
        )
        db.executemany("INSERT INTO orders VALUES (?, ?, ?, ?)", rows)
        db.execute("CREATE INDEX orders_customer ON orders (customer_id)")
    db.commit()
    db.execute("ANALYZE")
    db.close()


async def write_postgres(dsn: str, rows: list[tuple[Any, ...]]) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(
            "CREATE TABLE orders (id BIGINT PRIMARY KEY, customer_id BIGINT NOT "
            "NULL, amount BIGINT NOT NULL, status TEXT NOT NULL)"
        )
        await conn.copy_records_to_table("orders", records=rows)
        await conn.execute("CREATE INDEX orders_customer ON orders (customer_id)")
        await conn.execute("ANALYZE orders")
    finally:
        await conn.close()


async def postgres_server() -> str | None:
    dsn = os.environ.get("GLUE_BENCH_POSTGRES_DSN", LOCAL_DSN)
    try:
        conn = await asyncpg.connect(dsn, timeout=5)
    except (OSError, asyncpg.PostgresError):
        return None
    await conn.close()
    return dsn


async def admin(dsn: str, sql: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


# -- contestants --------------------------------------------------------------------


Call = Callable[[], Awaitable[int]]
"""One run of a contestant's query; returns the number of rows."""


def sampled(call: Call, counts: set[int]) -> Callable[[], Awaitable[Sample]]:
    """A contender timing one run a round; the row counts go to ``counts``."""

    async def sample() -> Sample:
        with timed() as watch:
            counts.add(await call())
        return Sample(watch.seconds)

    return sample


async def run_glue(urls: dict[str, str], stack: AsyncExitStack) -> Call:
    manager = ConnectionManager()
    manager.register_connection_pool(pool_from_url(urls["customers"]))
    manager.register_connection_pool(pool_from_url(urls["orders"]), "orders")
    service = DataQueryService(manager, [CUSTOMERS_SCHEMA, ORDERS_SCHEMA])
    statement = glue_statement()
    await stack.enter_async_context(manager)

    async def call() -> int:
        return len(await service.execute(statement))

    return call


async def run_amsdal(urls: dict[str, str], stack: AsyncExitStack) -> Call:
    import amsdal_glue as ag  # the bench extra

    ag.init_default_containers()
    manager = ag.Container.managers.get(ag.AsyncConnectionManager)

    def pool(url: str) -> Any:
        if url.startswith("sqlite"):
            return ag.DefaultAsyncConnectionPool(
                ag.AsyncSqliteConnection, db_path=Path(url.removeprefix("sqlite:///"))
            )
        return ag.DefaultAsyncConnectionPool(ag.AsyncPostgresConnection, dsn=url)

    manager.register_connection_pool(pool(urls["customers"]))
    manager.register_connection_pool(pool(urls["orders"]), schema_name="orders")

    def ref(table: str, name: str) -> Any:
        return ag.FieldReference(field=ag.Field(name=name), table_name=table)

    def expr(table: str, name: str) -> Any:
        return ag.FieldReferenceExpression(field_reference=ref(table, name))

    query = ag.QueryStatement(
        only=[ref("c", "name"), ref("o", "amount")],
        table=ag.SchemaReference(
            name="customers", alias="c", version=ag.Version.LATEST
        ),
        joins=[
            ag.JoinQuery(
                table=ag.SchemaReference(
                    name="orders", alias="o", version=ag.Version.LATEST
                ),
                on=ag.Conditions(
                    ag.Condition(
                        left=expr("o", "customer_id"),
                        lookup=ag.FieldLookup.EQ,
                        right=expr("c", "id"),
                    )
                ),
                join_type=ag.JoinType.INNER,
            )
        ],
        where=ag.Conditions(
            ag.Condition(
                left=expr("c", "country"),
                lookup=ag.FieldLookup.EQ,
                right=ag.Value(COUNTRY),
            ),
            ag.Condition(
                left=expr("o", "status"),
                lookup=ag.FieldLookup.EQ,
                right=ag.Value("paid"),
            ),
        ),
    )
    service = ag.Container.services.get(ag.AsyncDataQueryService)

    async def call() -> int:
        result = await service.execute(ag.DataQueryOperation(query=query))
        if not result.success:
            raise RuntimeError(f"amsdal-glue: {result.message}")
        return len(result.data or [])

    stack.push_async_callback(manager.disconnect_all)
    return call


async def run_reference(paths: dict[str, Path], stack: AsyncExitStack) -> Call:
    db = sqlite3.connect(paths["customers"])
    stack.callback(db.close)
    db.execute("ATTACH DATABASE ? AS od", (str(paths["orders"]),))

    async def call() -> int:
        return len(db.execute(REFERENCE_SQL, (COUNTRY, "paid")).fetchall())

    return call


async def run_duckdb(
    root: Path,
    customers: list[tuple[Any, ...]],
    orders: list[tuple[Any, ...]],
    stack: AsyncExitStack,
) -> Call | None:
    try:
        import duckdb
    except ImportError:
        return None
    db = duckdb.connect()
    stack.callback(db.close)
    for name, rows, columns in (
        ("customers", customers, "id BIGINT, name TEXT, country TEXT"),
        ("orders", orders, "id BIGINT, customer_id BIGINT, amount BIGINT, status TEXT"),
    ):
        path = root / f"{name}-{len(rows)}.csv"
        with path.open("w", newline="") as handle:
            csv.writer(handle).writerows(rows)
        db.execute(f"CREATE TABLE {name} ({columns})")
        db.execute(f"COPY {name} FROM '{path}' (HEADER false)")
    sql = REFERENCE_SQL.replace("od.orders", "orders")

    async def call() -> int:
        return len(db.execute(sql, [COUNTRY, "paid"]).fetchall())

    return call


# -- measuring ------------------------------------------------------------------------

REFERENCE = "SQLite, both files attached (reference)"


async def measure(
    root: Path,
    customers: list[tuple[Any, ...]],
    orders: list[tuple[Any, ...]],
    pg_orders: str | None,
    options: argparse.Namespace,
) -> None:
    """Every contestant over one size of orders, round by round; print the table."""
    orders_path = root / f"orders-{len(orders)}.sqlite"
    write_sqlite(orders_path, "orders", orders)
    paths = {"customers": root / "customers.sqlite", "orders": orders_path}
    sqlite_urls = {k: f"sqlite:///{v}" for k, v in paths.items()}
    layouts = {"SQLite + SQLite": sqlite_urls}
    if pg_orders is not None:
        await write_postgres(pg_orders, orders)
        layouts["SQLite + PostgreSQL"] = {**sqlite_urls, "orders": pg_orders}
    counts: set[int] = set()
    comparison = Comparison(
        f"{len(orders):,} orders, {CUSTOMERS:,} customers: one join",
        reference=REFERENCE,
        unit="ms",
    )
    async with AsyncExitStack() as stack:
        calls = {REFERENCE: await run_reference(paths, stack)}
        duck = await run_duckdb(root, customers, orders, stack)
        if duck is not None:
            calls["DuckDB, rows loaded through Python"] = duck
        for kind, urls in layouts.items():
            calls[f"glue: {kind}"] = await run_glue(urls, stack)
        if not options.skip_amsdal and importlib.util.find_spec("amsdal_glue"):
            for kind, urls in layouts.items():
                calls[f"amsdal-glue: {kind}"] = await run_amsdal(urls, stack)
        for name, call in calls.items():
            counts.add(await call())  # warm up
            comparison.add(name, sampled(call, counts))
        await comparison.run(options.runs)
    comparison.print()
    if len(counts) != 1:
        print(f"WARNING: contestants returned different row counts: {counts}")


async def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--orders", type=int, nargs="+", default=[200_000, 1_000_000])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--skip-amsdal", action="store_true")
    options = parser.parse_args()
    print(machine())
    server = await postgres_server()
    customers = make_customers()
    with tempfile.TemporaryDirectory(prefix="glue-bench-") as tmp:
        root = Path(tmp)
        write_sqlite(root / "customers.sqlite", "customers", customers)
        for count in options.orders:
            orders = make_orders(count)
            database = f"glue_bench_{uuid.uuid4().hex[:8]}"
            pg_orders = None
            if server is not None:
                await admin(server, f'CREATE DATABASE "{database}"')
                pg_orders = f"{server.rpartition('/')[0]}/{database}"
            try:
                await measure(root, customers, orders, pg_orders, options)
            finally:
                if server is not None:
                    await admin(
                        server, f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'
                    )


if __name__ == "__main__":
    asyncio.run(main())
