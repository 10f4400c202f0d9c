"""Worlds for the read-path tests: the same tables and rows in one SQLite file,
in one PostgreSQL database, and split across SQLite files and PostgreSQL.

The data is loaded once per module (the PostgreSQL databases are created for the
module and dropped after it); each test opens its own pools.
"""

from __future__ import annotations

import datetime as dt
import random
import uuid
from typing import TYPE_CHECKING, Any

import pytest

from glue.connections import ConnectionManager, pool_from_url
from glue.schema import Column, ColumnType, Index, Schema
from glue.services.reads import DataQueryService
from glue.sql import ddl
from glue.testing import with_database
from glue.testing.postgres import admin, run_sync

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterator, Mapping
    from pathlib import Path

    from glue.connections import Connection

CUSTOMERS = Schema(
    name="customers",
    columns=(
        Column(name="id", type=ColumnType.INTEGER),
        Column(name="name", type=ColumnType.TEXT),
        Column(name="country", type=ColumnType.TEXT, nullable=True),
        Column(name="age", type=ColumnType.INTEGER, nullable=True),
        Column(name="joined", type=ColumnType.DATETIME, nullable=True),
    ),
    primary_key=("id",),
    versioned=False,
)
ORDERS = Schema(
    name="orders",
    columns=(
        Column(name="id", type=ColumnType.INTEGER),
        Column(name="customer_id", type=ColumnType.INTEGER, nullable=True),
        Column(name="product_id", type=ColumnType.INTEGER, nullable=True),
        Column(name="amount", type=ColumnType.INTEGER, nullable=True),
        Column(name="status", type=ColumnType.TEXT, nullable=True),
    ),
    primary_key=("id",),
    indexes=(Index(name="orders_customer", columns=("customer_id",)),),
    versioned=False,
)
PRODUCTS = Schema(
    name="products",
    columns=(
        Column(name="id", type=ColumnType.INTEGER),
        Column(name="title", type=ColumnType.TEXT),
        Column(name="price", type=ColumnType.FLOAT, nullable=True),
    ),
    primary_key=("id",),
    versioned=False,
)
SCHEMAS = (CUSTOMERS, ORDERS, PRODUCTS)

NAMES = ["ann", "Bob", "cid", "dora", "Eve", "fay", "gus", "hal", "ida", "joe"]
COUNTRIES = ["nl", "de", "fr", None]
STATUSES = ["paid", "open", "void", None]


def make_rows(seed: int = 7) -> dict[str, list[dict[str, Any]]]:
    """Deterministic rows with NULLs, duplicates and dangling keys."""
    rnd = random.Random(seed)
    base = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    customers = [
        {
            "id": n,
            "name": f"{rnd.choice(NAMES)}{n % 3}",
            "country": rnd.choice(COUNTRIES),
            "age": rnd.choice([None, *range(15, 70, 7)]),
            "joined": rnd.choice([None, base + dt.timedelta(days=n)]),
        }
        for n in range(1, 31)
    ]
    products = [
        {"id": n, "title": f"p{n}", "price": rnd.choice([None, 1.5, 2.25, 10.0])}
        for n in range(1, 9)
    ]
    orders = [
        {
            "id": n,
            "customer_id": rnd.choice([None, *range(1, 36)]),
            "product_id": rnd.choice([None, *range(1, 11)]),
            "amount": rnd.choice([None, *range(0, 100, 9)]),
            "status": rnd.choice(STATUSES),
        }
        for n in range(1, 121)
    ]
    return {"customers": customers, "orders": orders, "products": products}


async def load(
    conn: Connection,
    schemas: Mapping[str, Schema],
    rows: Mapping[str, list[dict[str, Any]]],
    *,
    create: bool = True,
) -> None:
    """Create (or empty) the tables and insert the rows, values encoded."""
    dialect = conn.dialect
    for name, table_rows in rows.items():
        schema = schemas[name]
        if not create:
            for sql in ddl.drop_table(dialect, name):
                await conn.execute(sql)
        for sql in ddl.create_table(dialect, schema):
            await conn.execute(sql)
        if table_rows:
            full = [{c: row.get(c) for c in schema.column_names} for row in table_rows]
            await conn.batch(dialect.insert(schema, full))


async def _fill(
    url: str, tables: list[str], rows: dict[str, list[dict[str, Any]]]
) -> None:
    schemas = {s.name: s for s in SCHEMAS}
    async with pool_from_url(url) as pool, pool.acquire(write=True) as conn:
        await load(conn, schemas, {t: rows[t] for t in tables})


LAYOUTS: dict[str, dict[str, str]] = {
    # layout → table → location key
    "sqlite": {"customers": "s_all", "orders": "s_all", "products": "s_all"},
    "postgres": {"customers": "p_all", "orders": "p_all", "products": "p_all"},
    "mixed": {"customers": "s_c", "orders": "p_o", "products": "s_p"},
    "sqlite-split": {"customers": "s_c", "orders": "s_o", "products": "s_p"},
}


@pytest.fixture(scope="module")
def locations(
    postgres_server: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, str]]:
    """Database URLs by location key, loaded with `make_rows()`."""
    root: Path = tmp_path_factory.mktemp("worlds")
    rows = make_rows()
    names = {key: f"glue_plan_{uuid.uuid4().hex[:10]}" for key in ("p_all", "p_o")}
    for name in names.values():
        run_sync(admin(postgres_server, f'CREATE DATABASE "{name}"'))
    urls = {
        "s_all": f"sqlite:///{root / 'all.sqlite'}",
        "s_c": f"sqlite:///{root / 'customers.sqlite'}",
        "s_o": f"sqlite:///{root / 'orders.sqlite'}",
        "s_p": f"sqlite:///{root / 'products.sqlite'}",
        **{key: with_database(postgres_server, name) for key, name in names.items()},
    }
    try:
        for key, url in urls.items():
            tables = sorted(
                {t for lay in LAYOUTS.values() for t, k in lay.items() if k == key}
            )
            run_sync(_fill(url, tables, rows))
        yield urls
    finally:
        for name in names.values():
            run_sync(
                admin(postgres_server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            )


def manager_for(
    layout: Mapping[str, str], urls: Mapping[str, str]
) -> ConnectionManager:
    """A manager whose default pool holds customers, others by table name."""
    manager = ConnectionManager()
    pools: dict[str, Any] = {}
    for table, key in layout.items():
        if key not in pools:
            pools[key] = pool_from_url(urls[key], name=key)
        if table == "customers":
            manager.register_connection_pool(pools[key])
        elif layout[table] != layout["customers"]:
            manager.register_connection_pool(pools[key], table)
    return manager


@pytest.fixture
async def worlds(
    locations: dict[str, str],
) -> AsyncIterator[dict[str, DataQueryService]]:
    """A DataQueryService per layout, pools open; closed after the test."""
    managers = {
        name: manager_for(layout, locations) for name, layout in LAYOUTS.items()
    }
    services = {
        name: DataQueryService(manager, SCHEMAS, max_keys=8)
        for name, manager in managers.items()
    }
    try:
        for manager in managers.values():
            await manager.open()
        yield services
    finally:
        for manager in managers.values():
            await manager.aclose()
