"""Writes, timed: glue's units of work against the raw drivers doing the same work.

On PostgreSQL (a scratch database) and SQLite (a file), each contender on its own
table of orders (id, customer_id, total, status, etag), contenders interleaved
round by round (see ``harness.py``), the garbage collector on.

One-row units, microseconds each (reference: the raw driver on one open
connection sending the statements glue sends):

- **one-row insert unit**: ``UnitOfWork`` + ``state.insert`` of one new row
  (glue sends one ``INSERT``, a transaction of its own) against the same single
  ``INSERT`` raw, new etag included; beside it, raw ``BEGIN`` / ``INSERT`` /
  ``COMMIT``;
- **read + update unit**: ``UnitOfWork`` + ``state.get`` + ``state.update`` of
  one row by key (glue sends the ``SELECT``, then ``BEGIN`` with ``SET LOCAL
  lock_timeout``, the etag-guarded ``UPDATE``, ``COMMIT``) against raw ``BEGIN``
  / ``SELECT`` / guarded ``UPDATE`` / ``COMMIT``: four round trips each.

Bulk, rows per second (reference: the fastest raw way):

- **50k inserts**: from a list of dicts to committed rows, new etags included:
  ``insert_many`` in a unit, against asyncpg ``copy_records_to_table`` (and, for
  reference, one ``INSERT ... SELECT FROM unnest``) or aiosqlite ``executemany``;
  the table is emptied before each round, untimed;
- **50k etag-guarded updates**: every row changed, starting from rows in memory:
  glue's unit read them untimed, then ``update_many`` and the commit are timed;
  raw holds the etags and times building the values (new etags) and one
  ``UPDATE ... FROM unnest`` guarded by the etag, or one ``executemany``,
  checking that every row matched.

``--gc-paused`` prints the bulk tables again with the collector paused inside
the timed blocks, beside the others. ``--orm`` adds SQLAlchemy's async ORM
(``version_id_col``, one round trip per row) to the bulk tables.

Targets (#14): one-row units at most 1.3x raw; bulk inserts at least 0.8x and
bulk updates at least 0.7x the raw speed. Run::

    python benchmarks/write.py [--unit-rounds 21] [--seconds 0.1] [--rounds 7]
                               [--rows 50000] [--gc-paused] [--orm]
                               [--postgres DSN]

``--unit-rounds`` rounds of about ``--seconds`` each for the one-row units,
``--rounds`` rounds of one bulk operation each.
"""

from __future__ import annotations

import argparse
import importlib.util
import logging
import os
import tempfile
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aiosqlite
import anyio
import asyncpg
import msgspec
from harness import (
    LOCAL,
    Comparison,
    Sample,
    machine,
    per_call,
    postgres_database,
    timed,
)

import glue.log
from glue.connections import ConnectionManager
from glue.schema import Column, ColumnType, Schema
from glue.services.schema import SchemaCommandService
from glue.work import UnitOfWork

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

__all__ = ["main"]

ORDERS = Schema(
    name="orders",
    columns=(
        Column(name="id", type=ColumnType.INTEGER),
        Column(name="customer_id", type=ColumnType.INTEGER),
        Column(name="total", type=ColumnType.FLOAT),
        Column(name="status", type=ColumnType.TEXT),
    ),
    primary_key=("id",),
)
CREATE = {
    "sqlite": 'CREATE TABLE "{t}" ("id" INTEGER PRIMARY KEY, "customer_id" INTEGER '
    'NOT NULL, "total" REAL NOT NULL, "status" TEXT NOT NULL, "etag" TEXT NOT NULL)',
    "postgres": 'CREATE TABLE "{t}" ("id" BIGINT PRIMARY KEY, "customer_id" BIGINT '
    'NOT NULL, "total" DOUBLE PRECISION NOT NULL, "status" TEXT NOT NULL, '
    '"etag" TEXT NOT NULL)',
}
UNIT_ROWS = 1000
"""Rows the read + update units pick from."""


def orders(n: int) -> list[dict[str, Any]]:
    return [
        {"id": i, "customer_id": i % 97, "total": float(i % 1000), "status": "new"}
        for i in range(n)
    ]


def etags(n: int) -> list[str]:
    """N random 32-hex-digit etags, from one ``os.urandom`` call."""
    blob = os.urandom(16 * n).hex()
    return [blob[i : i + 32] for i in range(0, 32 * n, 32)]


def schema(table: str) -> Schema:
    return msgspec.structs.replace(ORDERS, name=table)


# -- the raw drivers, behind one small interface ------------------------------------


class Raw:
    """One open raw connection, with the dialect's statements."""

    def __init__(self, kind: str, db: Any) -> None:
        self.kind = kind
        self.db = db
        self.mark = (lambda i: f"${i}") if kind == "postgres" else (lambda i: "?")

    async def execute(self, sql: str, *params: Any) -> Any:
        if self.kind == "postgres":
            return await self.db.execute(sql, *params)
        cursor = await self.db.execute(sql, params)
        await cursor.close()
        return cursor.rowcount

    async def fetchrow(self, sql: str, *params: Any) -> Any:
        if self.kind == "postgres":
            return await self.db.fetchrow(sql, *params)
        async with self.db.execute(sql, params) as cursor:
            return await cursor.fetchone()

    async def create(self, table: str) -> None:
        await self.execute(CREATE[self.kind].format(t=table))

    async def begin(self) -> None:
        await self.execute("BEGIN" if self.kind == "postgres" else "BEGIN IMMEDIATE")


# -- one-row units -------------------------------------------------------------------


async def units(
    label: str, url: str, raw: Raw, rounds: int, seconds: float
) -> list[Comparison]:
    m = raw.mark
    async with ConnectionManager.from_urls({"default": url}) as manager:
        for table in ("glue_single", "glue_rmw"):
            await SchemaCommandService(manager.get_connection_pool()).create_table(
                schema(table)
            )
        for table in ("raw_single", "raw_tx_single", "raw_rmw"):
            await raw.create(table)
        single, rmw = schema("glue_single"), schema("glue_rmw")
        async with UnitOfWork(manager) as unit:
            await unit.state.insert_many(rmw, orders(UNIT_ROWS))
        insert_raw = (
            f'INSERT INTO "raw_rmw" VALUES ({m(1)}, {m(2)}, {m(3)}, {m(4)}, {m(5)})'
        )
        for row in orders(UNIT_ROWS):
            await raw.execute(insert_raw, *row.values(), uuid.uuid4().hex)

        async def glue_insert(i: int) -> None:
            async with UnitOfWork(manager) as unit:
                await unit.state.insert(
                    single, {"id": i, "customer_id": 1, "total": 1.0, "status": "new"}
                )

        one = f"({m(1)}, {m(2)}, {m(3)}, {m(4)}, {m(5)})"

        async def raw_insert(i: int) -> None:
            await raw.execute(
                f'INSERT INTO "raw_single" VALUES {one}',
                i,
                1,
                1.0,
                "new",
                uuid.uuid4().hex,
            )

        async def raw_tx_insert(i: int) -> None:
            await raw.begin()
            await raw.execute(
                f'INSERT INTO "raw_tx_single" VALUES {one}',
                i,
                1,
                1.0,
                "new",
                uuid.uuid4().hex,
            )
            await raw.execute("COMMIT")

        async def glue_rmw(i: int) -> None:
            key = i % UNIT_ROWS
            async with UnitOfWork(manager) as unit:
                row = await unit.state.get(rmw, key)
                assert row is not None
                await unit.state.update(rmw, key, {"total": row["total"] + 1})

        select = f'SELECT "total", "etag" FROM "raw_rmw" WHERE "id" = {m(1)}'
        update = (
            f'UPDATE "raw_rmw" SET "total" = {m(1)}, "etag" = {m(2)} '
            f'WHERE "id" = {m(3)} AND "etag" = {m(4)}'
        )

        async def raw_rmw(i: int) -> None:
            key = i % UNIT_ROWS
            await raw.begin()
            total, etag = await raw.fetchrow(select, key)
            status = await raw.execute(update, total + 1, uuid.uuid4().hex, key, etag)
            assert status in (1, "UPDATE 1")
            await raw.execute("COMMIT")

        inserts = Comparison(
            f"{label}: one-row insert unit", reference="raw: the same single INSERT"
        )
        inserts.add("raw: the same single INSERT", per_call(raw_insert, seconds))
        inserts.add("glue: unit inserting one row", per_call(glue_insert, seconds))
        inserts.add("raw: BEGIN / INSERT / COMMIT", per_call(raw_tx_insert, seconds))
        reads = Comparison(
            f"{label}: read + update unit",
            reference="raw: BEGIN / SELECT / UPDATE / COMMIT",
        )
        reads.add("raw: BEGIN / SELECT / UPDATE / COMMIT", per_call(raw_rmw, seconds))
        reads.add("glue: unit get + update", per_call(glue_rmw, seconds))
        for comparison in (inserts, reads):
            (await comparison.run(rounds)).print()
        return [inserts, reads]


# -- bulk ------------------------------------------------------------------------------


def glue_bulk(
    manager: ConnectionManager, table: str, n: int, gc_paused: bool
) -> tuple[Callable[[], Awaitable[Sample]], Callable[[], Awaitable[Sample]]]:
    """glue's insert and update contenders on ``table``."""
    orders_schema = schema(table)
    pool = manager.get_connection_pool()

    async def insert() -> Sample:
        async with pool.acquire(write=True) as conn:
            await conn.execute(f'DELETE FROM "{table}"')
        rows = orders(n)
        with timed(gc_paused=gc_paused) as watch:
            async with UnitOfWork(manager) as unit:
                await unit.state.insert_many(orders_schema, rows)
        return Sample(watch.seconds, n)

    total = 0.0

    async def update() -> Sample:
        nonlocal total
        total += 1
        async with UnitOfWork(manager) as unit:
            await unit.state.get_many(orders_schema, range(n))
            with timed(gc_paused=gc_paused) as watch:
                paid = [(i, {"status": "paid", "total": i + total}) for i in range(n)]
                await unit.state.update_many(orders_schema, paid)
                await unit.commit()
        return Sample(watch.seconds, n)

    return insert, update


PG_UPDATE = (
    'UPDATE "{t}" AS t SET "status" = v.s, "total" = v.tot, "etag" = v.ne '
    "FROM unnest($1::bigint[], $2::text[], $3::float8[], $4::text[], $5::text[]) "
    'AS v(id, s, tot, oe, ne) WHERE t."id" = v.id AND t."etag" = v.oe '
    'RETURNING t."id"'
)


def raw_bulk(
    raw: Raw, table: str, n: int, how: str, gc_paused: bool
) -> tuple[Callable[[], Awaitable[Sample]], Callable[[], Awaitable[Sample]]]:
    """The raw insert and update contenders on ``table``: ``how`` is ``copy``,
    ``unnest`` (PostgreSQL) or ``executemany`` (SQLite)."""
    held: list[tuple[int, str]] = []
    total = 0.0

    async def insert() -> Sample:
        await raw.execute(f'DELETE FROM "{table}"')
        rows = orders(n)
        with timed(gc_paused=gc_paused) as watch:
            tags = etags(n)
            records = [
                (r["id"], r["customer_id"], r["total"], r["status"], e)
                for r, e in zip(rows, tags, strict=True)
            ]
            if how == "copy":
                async with raw.db.transaction():
                    await raw.db.copy_records_to_table(table, records=records)
            elif how == "unnest":
                await raw.db.execute(
                    f'INSERT INTO "{table}" SELECT * FROM unnest($1::bigint[], '
                    "$2::bigint[], $3::float8[], $4::text[], $5::text[])",
                    *map(list, zip(*records, strict=True)),
                )
            else:
                await raw.db.execute("BEGIN IMMEDIATE")
                await raw.db.executemany(
                    f'INSERT INTO "{table}" VALUES (?, ?, ?, ?, ?)',
                    records,
                )
                await raw.db.execute("COMMIT")
        held[:] = [(r[0], r[4]) for r in records]
        return Sample(watch.seconds, n)

    async def update() -> Sample:
        nonlocal total
        total += 1
        if len(held) != n:
            await insert()
        with timed(gc_paused=gc_paused) as watch:
            new = etags(n)
            if how == "executemany":
                params = [
                    ("paid", i + total, e, i, old)
                    for (i, old), e in zip(held, new, strict=True)
                ]
                await raw.db.execute("BEGIN IMMEDIATE")
                cursor = await raw.db.executemany(
                    f'UPDATE "{table}" SET "status" = ?, "total" = ?, "etag" = ? '
                    'WHERE "id" = ? AND "etag" = ?',
                    params,
                )
                assert cursor.rowcount == n
                await raw.db.execute("COMMIT")
            else:
                ids = [i for i, _ in held]
                matched = await raw.db.fetch(
                    PG_UPDATE.format(t=table),
                    ids,
                    ["paid"] * n,
                    [i + total for i in ids],
                    [e for _, e in held],
                    new,
                )
                assert len(matched) == n
            held[:] = list(zip((i for i, _ in held), new, strict=True))
        return Sample(watch.seconds, n)

    return insert, update


async def sqlalchemy_bulk(
    url: str, table: str, n: int, gc_paused: bool
) -> tuple[Callable[[], Awaitable[Sample]], Callable[[], Awaitable[Sample]], Any]:
    """SQLAlchemy's async ORM contenders, and its engine to dispose of."""
    import sqlalchemy as sa
    from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine
    from sqlalchemy.orm import DeclarativeBase

    class Base(DeclarativeBase):
        pass

    class Order(Base):
        __tablename__ = table
        id = sa.Column(sa.Integer, primary_key=True, autoincrement=False)
        customer_id = sa.Column(sa.Integer, nullable=False)
        total = sa.Column(sa.Float, nullable=False)
        status = sa.Column(sa.String, nullable=False)
        version = sa.Column(sa.String, nullable=False)
        __mapper_args__ = {  # noqa: RUF012
            "version_id_col": version,
            "version_id_generator": lambda _: uuid.uuid4().hex,
        }

    engine = create_async_engine(url)
    async with engine.begin() as conn:
        await conn.run_sync(Base.metadata.create_all)
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    count = 0.0

    async def insert() -> Sample:
        async with engine.begin() as conn:
            await conn.execute(sa.delete(Order))
        rows = orders(n)
        with timed(gc_paused=gc_paused) as watch:
            async with sessions() as session:
                session.add_all(Order(**row) for row in rows)
                await session.commit()
        return Sample(watch.seconds, n)

    async def update() -> Sample:
        nonlocal count
        count += 1
        async with sessions() as session:
            loaded = (await session.scalars(sa.select(Order))).all()
            assert len(loaded) == n  # the insert rounds ran first
            with timed(gc_paused=gc_paused) as watch:
                for order in loaded:
                    order.status = "paid"
                    order.total = order.id + count
                await session.commit()
        return Sample(watch.seconds, n)

    return insert, update, engine


async def bulk(
    label: str,
    url: str,
    raw: Raw,
    options: argparse.Namespace,
    gc_paused: bool,
    orm_url: str | None,
) -> list[Comparison]:
    n = options.rows
    paused = ", GC paused in timed blocks" if gc_paused else ""
    suffix = "_paused" if gc_paused else ""
    # (how, its insert's name, its update's name or None: both PostgreSQL ways
    # update alike, with one UPDATE ... FROM unnest)
    if raw.kind == "postgres":
        ways = [
            ("copy", "raw asyncpg COPY", "raw asyncpg UPDATE FROM unnest"),
            ("unnest", "raw asyncpg INSERT ... SELECT FROM unnest", None),
        ]
    else:
        ways = [
            ("executemany", "raw aiosqlite executemany", "raw aiosqlite executemany")
        ]
    inserts = Comparison(
        f"{label}: {n:,} inserts{paused}", reference=ways[0][1], unit="ops"
    )
    updates = Comparison(
        f"{label}: {n:,} etag-guarded updates{paused}",
        reference=str(ways[0][2]),
        unit="ops",
    )
    for how, insert_name, update_name in ways:
        table = f"raw_{how}{suffix}"
        await raw.create(table)
        insert, update = raw_bulk(raw, table, n, how, gc_paused)
        inserts.add(insert_name, insert)
        if update_name is not None:
            updates.add(update_name, update)
    engine = None
    async with ConnectionManager.from_urls({"default": url}) as manager:
        table = f"glue_bulk{suffix}"
        await SchemaCommandService(manager.get_connection_pool()).create_table(
            schema(table)
        )
        insert, update = glue_bulk(manager, table, n, gc_paused)
        inserts.add("glue: insert_many in a unit", insert)
        updates.add("glue: update_many in a unit", update)
        if orm_url is not None:
            insert, update, engine = await sqlalchemy_bulk(
                orm_url, f"orm_bulk{suffix}", n, gc_paused
            )
            inserts.add("SQLAlchemy ORM, version_id_col", insert)
            updates.add("SQLAlchemy ORM, version_id_col", update)
        try:
            for comparison in (inserts, updates):
                (await comparison.run(options.rounds)).print()
        finally:
            if engine is not None:
                await engine.dispose()
    return [inserts, updates]


async def database(
    label: str, url: str, raw: Raw, options: argparse.Namespace, orm_url: str | None
) -> None:
    await units(label, url, raw, options.unit_rounds, options.seconds)
    await bulk(label, url, raw, options, False, orm_url)
    if options.gc_paused:
        await bulk(label, url, raw, options, True, None)


async def run(options: argparse.Namespace) -> None:
    print(machine())
    orm = options.orm and importlib.util.find_spec("sqlalchemy") is not None
    if options.orm and not orm:
        print("SQLAlchemy not installed: pip install 'sqlalchemy[asyncio]'")
    dsn, drop = await postgres_database(options.postgres)
    try:
        conn = await asyncpg.connect(dsn)
        try:
            orm_url = dsn.replace("postgresql://", "postgresql+asyncpg://", 1)
            await database(
                "PostgreSQL",
                dsn,
                Raw("postgres", conn),
                options,
                orm_url if orm else None,
            )
        finally:
            await conn.close()
    finally:
        await drop()
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        async with aiosqlite.connect(folder / "raw.sqlite", isolation_level=None) as db:
            await db.execute("PRAGMA journal_mode = WAL")
            await db.execute("PRAGMA synchronous = NORMAL")
            await database(
                "SQLite",
                f"sqlite:///{folder / 'glue.sqlite'}",
                Raw("sqlite", db),
                options,
                f"sqlite+aiosqlite:///{folder / 'orm.sqlite'}" if orm else None,
            )


def main() -> None:
    """Parse arguments and run every comparison."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--unit-rounds", type=int, default=21)
    parser.add_argument("--seconds", type=float, default=0.1)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--gc-paused", action="store_true")
    parser.add_argument("--orm", action="store_true")
    parser.add_argument(
        "--postgres", default=os.environ.get("GLUE_BENCH_POSTGRES_DSN", LOCAL)
    )
    options = parser.parse_args()
    glue.log.configure(logging.WARNING)
    anyio.run(run, options)


if __name__ == "__main__":
    main()
