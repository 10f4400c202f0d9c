"""The write side, timed: glue's flush against the raw drivers and SQLAlchemy's ORM.

Per database (a SQLite file, a PostgreSQL database), each contender on its own
table, N order rows (id, customer_id, total, status, etag):

- **insert**: from a list of N dicts to committed rows, new etags included.
  glue: one unit of work, ``insert_many`` then commit. Raw PostgreSQL:
  ``copy_records_to_table``, and for reference one ``INSERT ... SELECT FROM
  unnest``; raw SQLite: ``executemany``; both build their records (and etags)
  from the dicts inside the timing. SQLAlchemy: ``add_all`` then commit.
- **update (loaded)**: every row changed with an etag check, starting from rows
  already in memory. glue: the unit read them (``get_many``) before the timing
  starts; the timing covers one ``update_many`` of the N changes (the bulk
  form of N ``update`` calls, which glue's users should use for many rows of
  one table) and the commit (one guarded ``UPDATE ... FROM unnest`` on
  PostgreSQL, one ``executemany`` on SQLite). Raw:
  the etags held from the insert; the timing covers building the parameters
  (new etags included) and the one guarded statement, checking that all N rows
  matched. SQLAlchemy: the objects loaded by a SELECT before the timing, then an
  attribute change each and commit (``version_id_col``: one UPDATE per row).
- **read + update**: the same with the read inside the timing. glue: a fresh unit
  ``get_many`` then ``update_many`` and commit; raw: one SELECT of the rows,
  then as above; SQLAlchemy: a fresh session's SELECT, changes and commit.
- **one-row unit**: one unit of work inserting one row and committing, against
  the raw driver's BEGIN / INSERT / COMMIT on an open connection (microseconds).

Each bulk column is rows per second, the median of ``--repeat`` runs (the ORM's
of ``--orm-repeat``); ``x`` columns are glue's speed over the contender's.
Targets: glue at least 0.7x the fastest raw way and at least 5x the ORM on the
bulk columns, within 1.5x of raw on the one-row unit. Run::

    python benchmarks/write.py [--rows 50000] [--repeat 5] [--orm-repeat 1]
                               [--single 2000] [--postgres DSN]

The PostgreSQL server is ``GLUE_BENCH_POSTGRES_DSN`` or a local one (user
``postgres`` on 127.0.0.1:5432); a scratch database is created and dropped.
SQLAlchemy is skipped with a message when it is not installed
(``pip install 'sqlalchemy[asyncio]'``).
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import logging
import os
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

import aiosqlite
import anyio
import asyncpg
import msgspec

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
SINGLE = msgspec.structs.replace(ORDERS, name="single_orders")
LOCAL = "postgresql://postgres@127.0.0.1:5432/postgres"


def orders(n: int) -> list[dict[str, Any]]:
    return [
        {"id": i, "customer_id": i % 97, "total": float(i % 1000), "status": "new"}
        for i in range(n)
    ]


def etags(n: int) -> list[str]:
    """N random 32-hex-digit etags, from one ``os.urandom`` call."""
    blob = os.urandom(16 * n).hex()
    return [blob[i : i + 32] for i in range(0, 32 * n, 32)]


class Timer:
    """Wall-clock seconds of a block, with the garbage collector paused."""

    def __enter__(self) -> Timer:
        gc.collect()
        gc.disable()
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self.start
        gc.enable()


Times = dict[str, float]
"""Seconds per column: insert, update (loaded), read + update."""

INSERT, LOADED, READ = "insert", "update (loaded)", "read + update"


# -- glue ----------------------------------------------------------------------------


async def glue_bulk(url: str, n: int, table: str) -> Times:
    schema = msgspec.structs.replace(ORDERS, name=table)
    async with ConnectionManager.from_urls({"default": url}) as manager:
        pool = manager.get_connection_pool()
        await SchemaCommandService(pool).create_table(schema)
        rows = orders(n)
        with Timer() as insert:
            async with UnitOfWork(manager) as unit:
                await unit.state.insert_many(schema, rows)
        async with UnitOfWork(manager) as unit:
            state = unit.state
            await state.get_many(schema, range(n))
            with Timer() as loaded:
                paid = [(i, {"status": "paid", "total": i + 0.5}) for i in range(n)]
                await state.update_many(schema, paid)
                await unit.commit()
        with Timer() as read:
            async with UnitOfWork(manager) as unit:
                state = unit.state
                await state.get_many(schema, range(n))
                sent = [(i, {"status": "sent", "total": i + 0.25}) for i in range(n)]
                await state.update_many(schema, sent)
    return {INSERT: insert.seconds, LOADED: loaded.seconds, READ: read.seconds}


async def glue_single(url: str, rounds: int) -> float:
    async with ConnectionManager.from_urls({"default": url}) as manager:
        await SchemaCommandService(manager.get_connection_pool()).create_table(SINGLE)
        row = {"customer_id": 1, "total": 1.0, "status": "new"}
        for i in range(50):  # warm up statement caches
            async with UnitOfWork(manager) as unit:
                await unit.state.insert(SINGLE, {"id": -1 - i, **row})
        with Timer() as timer:
            for i in range(rounds):
                async with UnitOfWork(manager) as unit:
                    await unit.state.insert(SINGLE, {"id": i, **row})
    return timer.seconds / rounds


# -- raw drivers ---------------------------------------------------------------------

PG_UPDATE = (
    'UPDATE "{t}" AS t SET "status" = v.s, "total" = v.tot, "etag" = v.ne '
    "FROM unnest($1::bigint[], $2::text[], $3::float8[], $4::text[], $5::text[]) "
    'AS v(id, s, tot, oe, ne) WHERE t."id" = v.id AND t."etag" = v.oe '
    'RETURNING t."id"'
)


async def asyncpg_update(
    conn: asyncpg.Connection[Any], table: str, held: list[dict[str, Any]], total: float
) -> list[dict[str, Any]]:
    """One guarded UPDATE of every held row; returns the rows with new etags."""
    n = len(held)
    new = etags(n)
    ids = [r["id"] for r in held]
    async with conn.transaction():
        matched = await conn.fetch(
            PG_UPDATE.format(t=table),
            ids,
            ["paid"] * n,
            [i + total for i in ids],
            [r["etag"] for r in held],
            new,
        )
        assert len(matched) == n
    return [{"id": i, "etag": e} for i, e in zip(ids, new, strict=True)]


async def asyncpg_bulk(dsn: str, n: int) -> dict[str, Times]:
    conn = await asyncpg.connect(dsn)
    try:
        times: dict[str, Times] = {}
        for how in ("copy", "unnest"):
            table = f"raw_{how}"
            await conn.execute(CREATE["postgres"].format(t=table))
            rows = orders(n)
            with Timer() as insert:
                tags = etags(n)
                records = [
                    (r["id"], r["customer_id"], r["total"], r["status"], e)
                    for r, e in zip(rows, tags, strict=True)
                ]
                async with conn.transaction():
                    if how == "copy":
                        await conn.copy_records_to_table(table, records=records)
                    else:
                        await conn.execute(
                            f'INSERT INTO "{table}" SELECT * FROM unnest($1::bigint[], '
                            "$2::bigint[], $3::float8[], $4::text[], $5::text[])",
                            *map(list, zip(*records, strict=True)),
                        )
            held = [{"id": r[0], "etag": r[4]} for r in records]
            with Timer() as loaded:
                await asyncpg_update(conn, table, held, 0.5)
            with Timer() as read:
                found = await conn.fetch(
                    f'SELECT * FROM "{table}" WHERE "id" = ANY($1::bigint[])',
                    list(range(n)),
                )
                await asyncpg_update(conn, table, [dict(r) for r in found], 0.25)
            times[how] = {
                INSERT: insert.seconds,
                LOADED: loaded.seconds,
                READ: read.seconds,
            }
        return times
    finally:
        await conn.close()


async def asyncpg_single(dsn: str, rounds: int) -> float:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(CREATE["postgres"].format(t="raw_single"))
        sql = 'INSERT INTO "raw_single" VALUES ($1, $2, $3, $4, $5)'
        for i in range(50):
            async with conn.transaction():
                await conn.execute(sql, -1 - i, 1, 1.0, "new", uuid.uuid4().hex)
        with Timer() as timer:
            for i in range(rounds):
                async with conn.transaction():
                    await conn.execute(sql, i, 1, 1.0, "new", uuid.uuid4().hex)
        return timer.seconds / rounds
    finally:
        await conn.close()


async def aiosqlite_update(
    db: aiosqlite.Connection, held: list[tuple[Any, ...]], total: float
) -> None:
    """One guarded executemany over every held (id, etag)."""
    new = etags(len(held))
    params = [
        ("paid", i + total, e, i, old) for (i, old), e in zip(held, new, strict=True)
    ]
    await db.execute("BEGIN IMMEDIATE")
    cursor = await db.executemany(
        'UPDATE "raw" SET "status" = ?, "total" = ?, "etag" = ? '
        'WHERE "id" = ? AND "etag" = ?',
        params,
    )
    assert cursor.rowcount == len(held)
    await db.execute("COMMIT")


async def aiosqlite_bulk(path: Path, n: int) -> Times:
    async with aiosqlite.connect(path, isolation_level=None) as db:
        await db.execute("PRAGMA journal_mode = WAL")
        await db.execute("PRAGMA synchronous = NORMAL")
        await db.execute(CREATE["sqlite"].format(t="raw"))
        rows = orders(n)
        with Timer() as insert:
            tags = etags(n)
            records = [
                (r["id"], r["customer_id"], r["total"], r["status"], e)
                for r, e in zip(rows, tags, strict=True)
            ]
            await db.execute("BEGIN IMMEDIATE")
            await db.executemany('INSERT INTO "raw" VALUES (?, ?, ?, ?, ?)', records)
            await db.execute("COMMIT")
        with Timer() as loaded:
            await aiosqlite_update(db, [(r[0], r[4]) for r in records], 0.5)
        with Timer() as read:
            cursor = await db.execute('SELECT * FROM "raw"')
            found = await cursor.fetchall()
            await aiosqlite_update(db, [(r[0], r[4]) for r in found], 0.25)
    return {INSERT: insert.seconds, LOADED: loaded.seconds, READ: read.seconds}


async def aiosqlite_single(path: Path, rounds: int) -> float:
    async with aiosqlite.connect(path, isolation_level=None) as db:
        await db.execute("PRAGMA journal_mode = WAL")
        await db.execute("PRAGMA synchronous = NORMAL")
        await db.execute(CREATE["sqlite"].format(t="raw_single"))
        sql = 'INSERT INTO "raw_single" VALUES (?, ?, ?, ?, ?)'
        with Timer() as timer:
            for i in range(rounds):
                await db.execute("BEGIN IMMEDIATE")
                await db.execute(sql, (i, 1, 1.0, "new", uuid.uuid4().hex))
                await db.execute("COMMIT")
        return timer.seconds / rounds


# -- SQLAlchemy async ORM -------------------------------------------------------------


async def sqlalchemy_bulk(url: str, n: int, table: str) -> Times:
    import sqlalchemy as sa
    from sqlalchemy.ext.asyncio import (
        async_sessionmaker,
        create_async_engine,
    )
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
    try:
        async with engine.begin() as conn:
            await conn.run_sync(Base.metadata.create_all)
        sessions = async_sessionmaker(engine, expire_on_commit=False)
        rows = orders(n)
        with Timer() as insert:
            async with sessions() as session:
                session.add_all(Order(**row) for row in rows)
                await session.commit()
        async with sessions() as session:
            loaded = (await session.scalars(sa.select(Order))).all()
            with Timer() as update:
                for order in loaded:
                    order.status = "paid"
                    order.total = order.id + 0.5
                await session.commit()
        with Timer() as read:
            async with sessions() as session:
                for order in (await session.scalars(sa.select(Order))).all():
                    order.status = "sent"
                    order.total = order.id + 0.25
                await session.commit()
        return {INSERT: insert.seconds, LOADED: update.seconds, READ: read.seconds}
    finally:
        await engine.dispose()


# -- running and reporting -------------------------------------------------------------

COLUMNS = (INSERT, LOADED, READ)


def median_times(runs: list[Times]) -> Times:
    return {c: statistics.median(run[c] for run in runs) for c in COLUMNS}


def report(title: str, n: int, rows: dict[str, list[Times]]) -> None:
    """Print one table: contender → rows per second per column, and glue's ratio."""
    repeats = {len(runs) for runs in rows.values()}
    print(
        f"\n{title}: {n:,} rows; rows per second, median of "
        f"{'/'.join(map(str, sorted(repeats)))} run(s); x = glue's speed / theirs"
    )
    head = "".join(f"{c:>17}{'x':>7}" for c in COLUMNS)
    print(f"  {'contender':<36}{head}")
    medians = {name: median_times(runs) for name, runs in rows.items()}
    ours = medians["glue"]
    for name, times in medians.items():
        cells = []
        for c in COLUMNS:
            ratio = "" if name == "glue" else f"{times[c] / ours[c]:.2f}x"
            cells.append(f"{n / times[c]:>17,.0f}{ratio:>7}")
        print(f"  {name:<36}{''.join(cells)}")
    spread = {
        c: (min(r[c] for r in rows["glue"]), max(r[c] for r in rows["glue"]))
        for c in COLUMNS
    }
    print(
        "  glue's spread (rows/s, slowest-fastest run): "
        + "; ".join(
            f"{c} {n / hi:,.0f}-{n / lo:,.0f}" for c, (lo, hi) in spread.items()
        )
    )


async def postgres_database(server: str) -> tuple[str, Callable[[], Awaitable[None]]]:
    name = f"glue_bench_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(server)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()

    async def drop() -> None:
        admin = await asyncpg.connect(server)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()

    return urlunsplit(urlsplit(server)._replace(path=f"/{name}")), drop


async def run(options: argparse.Namespace) -> None:
    n, repeat = options.rows, options.repeat
    have_sqlalchemy = importlib.util.find_spec("sqlalchemy") is not None
    if not have_sqlalchemy:
        print("SQLAlchemy not installed: pip install 'sqlalchemy[asyncio]'")
    single: dict[str, tuple[list[float], list[float]]] = {}

    rows: dict[str, list[Times]] = {}
    for i in range(repeat):
        dsn, drop = await postgres_database(options.postgres)
        try:
            rows.setdefault("glue", []).append(await glue_bulk(dsn, n, "orders"))
            raw = await asyncpg_bulk(dsn, n)
            rows.setdefault("asyncpg COPY + UPDATE FROM unnest", []).append(raw["copy"])
            rows.setdefault("asyncpg INSERT/UPDATE FROM unnest", []).append(
                raw["unnest"]
            )
            if have_sqlalchemy and i < options.orm_repeat:
                url = dsn.replace("postgresql://", "postgresql+asyncpg://", 1)
                rows.setdefault("SQLAlchemy ORM, version_id_col", []).append(
                    await sqlalchemy_bulk(url, n, "orm_orders")
                )
            ours, theirs = single.setdefault("PostgreSQL", ([], []))
            ours.append(await glue_single(dsn, options.single))
            theirs.append(await asyncpg_single(dsn, options.single))
        finally:
            await drop()
    report("PostgreSQL", n, rows)

    rows = {}
    for i in range(repeat):
        with tempfile.TemporaryDirectory() as scratch:
            folder = Path(scratch)
            url = f"sqlite:///{folder / 'glue.sqlite'}"
            rows.setdefault("glue", []).append(await glue_bulk(url, n, "orders"))
            rows.setdefault("aiosqlite executemany", []).append(
                await aiosqlite_bulk(folder / "raw.sqlite", n)
            )
            if have_sqlalchemy and i < options.orm_repeat:
                url = f"sqlite+aiosqlite:///{folder / 'orm.sqlite'}"
                rows.setdefault("SQLAlchemy ORM, version_id_col", []).append(
                    await sqlalchemy_bulk(url, n, "orm_orders")
                )
            ours, theirs = single.setdefault("SQLite", ([], []))
            ours.append(
                await glue_single(f"sqlite:///{folder / 's.sqlite'}", options.single)
            )
            theirs.append(
                await aiosqlite_single(folder / "raw_single.sqlite", options.single)
            )
    report("SQLite", n, rows)

    print(
        f"\nOne unit of work inserting one row ({options.single:,} rounds, median of "
        f"{repeat} run(s); microseconds each)"
    )
    print(f"  {'database':<12}{'glue':>10}{'raw BEGIN/INSERT/COMMIT':>26}{'ratio':>8}")
    for name, (ours, theirs) in single.items():
        mine, floor = statistics.median(ours), statistics.median(theirs)
        print(
            f"  {name:<12}{mine * 1e6:>10.0f}{floor * 1e6:>26.0f}{mine / floor:>7.2f}x"
        )


def main() -> None:
    """Parse arguments and run every benchmark."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--orm-repeat", type=int, default=1)
    parser.add_argument("--single", type=int, default=2_000)
    parser.add_argument(
        "--postgres", default=os.environ.get("GLUE_BENCH_POSTGRES_DSN", LOCAL)
    )
    options = parser.parse_args()
    glue.log.configure(logging.WARNING)
    anyio.run(run, options)


if __name__ == "__main__":
    main()
