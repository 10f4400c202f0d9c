"""The write side, timed: glue's flush against the raw drivers and SQLAlchemy's ORM.

Per database (SQLite file, PostgreSQL database), in one run:

- bulk: N order rows inserted, then all of them updated with an etag check;
  - glue: one unit of work inserts them (``insert_many``), a second reads them
    all (``get_many``, one SELECT), updates each, and commits: one etag-guarded
    ``UPDATE ... FROM unnest(...)`` on PostgreSQL, one ``executemany`` on SQLite;
  - raw: the fastest way the driver offers, etags already in memory:
    PostgreSQL ``copy_records_to_table`` (and, for reference, one INSERT over
    ``unnest``) then one etag-guarded ``UPDATE ... FROM unnest ... RETURNING``;
    SQLite ``executemany`` for both, checking the total row count;
  - SQLAlchemy: the async ORM with a ``version_id_col`` (``add_all`` then a
    SELECT of every row, an attribute change each, ``commit``).
- single: one unit of work inserting one row and committing, against the raw
  driver's BEGIN / INSERT / COMMIT on an open connection.

Targets: glue at least 0.7x the fastest raw way and at least 5x the ORM on the
bulk rows, within 1.5x of raw on the single-row commit. Run::

    python benchmarks/write.py [--rows 50000] [--single 2000] [--postgres DSN]

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
    return [uuid.uuid4().hex for _ in range(n)]


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


# -- glue ----------------------------------------------------------------------------


async def glue_bulk(url: str, n: int) -> tuple[float, float]:
    async with ConnectionManager.from_urls({"default": url}) as manager:
        pool = manager.get_connection_pool()
        await SchemaCommandService(pool).create_table(ORDERS)
        rows = orders(n)
        with Timer() as insert:
            async with UnitOfWork(manager) as unit:
                await unit.state.insert_many(ORDERS, rows)
        with Timer() as update:
            async with UnitOfWork(manager) as unit:
                state = unit.state
                await state.get_many(ORDERS, range(n))
                for i in range(n):
                    await state.update(ORDERS, i, {"status": "paid", "total": i + 0.5})
    return insert.seconds, update.seconds


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


async def asyncpg_bulk(dsn: str, n: int) -> dict[str, float]:
    conn = await asyncpg.connect(dsn)
    try:
        times = {}
        for how in ("copy", "unnest"):
            table = f"raw_{how}"
            await conn.execute(CREATE["postgres"].format(t=table))
            tags = etags(n)
            records = [
                (r["id"], r["customer_id"], r["total"], r["status"], e)
                for r, e in zip(orders(n), tags, strict=True)
            ]
            with Timer() as insert:
                async with conn.transaction():
                    if how == "copy":
                        await conn.copy_records_to_table(table, records=records)
                    else:
                        await conn.execute(
                            f'INSERT INTO "{table}" SELECT * FROM unnest($1::bigint[], '
                            "$2::bigint[], $3::float8[], $4::text[], $5::text[])",
                            *map(list, zip(*records, strict=True)),
                        )
            times[f"insert ({how})"] = insert.seconds
            new = etags(n)
            with Timer() as update:
                async with conn.transaction():
                    matched = await conn.fetch(
                        f'UPDATE "{table}" AS t SET "status" = v.s, "total" = v.tot, '
                        '"etag" = v.ne FROM unnest($1::bigint[], $2::text[], '
                        "$3::float8[], $4::text[], $5::text[]) "
                        "AS v(id, s, tot, oe, ne) "
                        'WHERE t."id" = v.id AND t."etag" = v.oe RETURNING t."id"',
                        list(range(n)),
                        ["paid"] * n,
                        [i + 0.5 for i in range(n)],
                        tags,
                        new,
                    )
                    assert len(matched) == n
            times["update (unnest)"] = update.seconds
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


async def aiosqlite_bulk(path: Path, n: int) -> dict[str, float]:
    async with aiosqlite.connect(path, isolation_level=None) as db:
        await db.execute("PRAGMA journal_mode = WAL")
        await db.execute("PRAGMA synchronous = NORMAL")
        await db.execute(CREATE["sqlite"].format(t="raw"))
        tags = etags(n)
        records = [
            (r["id"], r["customer_id"], r["total"], r["status"], e)
            for r, e in zip(orders(n), tags, strict=True)
        ]
        with Timer() as insert:
            await db.execute("BEGIN IMMEDIATE")
            await db.executemany('INSERT INTO "raw" VALUES (?, ?, ?, ?, ?)', records)
            await db.execute("COMMIT")
        new = etags(n)
        params = [
            ("paid", i + 0.5, e, i, old)
            for i, (old, e) in enumerate(zip(tags, new, strict=True))
        ]
        with Timer() as update:
            await db.execute("BEGIN IMMEDIATE")
            cursor = await db.executemany(
                'UPDATE "raw" SET "status" = ?, "total" = ?, "etag" = ? '
                'WHERE "id" = ? AND "etag" = ?',
                params,
            )
            assert cursor.rowcount == n
            await db.execute("COMMIT")
    return {
        "insert (executemany)": insert.seconds,
        "update (executemany)": update.seconds,
    }


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


async def sqlalchemy_bulk(url: str, n: int) -> tuple[float, float]:
    import sqlalchemy as sa
    from sqlalchemy.ext.asyncio import (
        async_sessionmaker,
        create_async_engine,
    )
    from sqlalchemy.orm import DeclarativeBase

    class Base(DeclarativeBase):
        pass

    class Order(Base):
        __tablename__ = "orm_orders"
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
        with Timer() as insert:
            async with sessions() as session:
                session.add_all(Order(**row) for row in orders(n))
                await session.commit()
        with Timer() as update:
            async with sessions() as session:
                for order in (await session.scalars(sa.select(Order))).all():
                    order.status = "paid"
                    order.total = order.id + 0.5
                await session.commit()
        return insert.seconds, update.seconds
    finally:
        await engine.dispose()


# -- running and reporting -------------------------------------------------------------


def rate(n: int, seconds: float) -> str:
    return f"{n / seconds:>10,.0f}"


def report(title: str, n: int, rows: dict[str, tuple[float, float]]) -> None:
    """Print one table: contender → insert / update rows per second and ratios."""
    print(f"\n{title}: {n:,} rows (rows per second; ratio = glue / other)")
    print(f"  {'contender':<34}{'insert':>11}{'update':>11}{'both':>11}{'ratio':>8}")
    glue_total = sum(rows["glue"])
    for name, (insert, update) in rows.items():
        both = insert + update
        ratio = "" if name == "glue" else f"{both / glue_total:>7.2f}x"
        line = f"{rate(n, insert)} {rate(n, update)} {rate(2 * n, both)}"
        print(f"  {name:<34}{line} {ratio}")


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


async def run(n: int, rounds: int, server: str) -> None:
    have_sqlalchemy = importlib.util.find_spec("sqlalchemy") is not None
    if not have_sqlalchemy:
        print("SQLAlchemy not installed: pip install 'sqlalchemy[asyncio]'")
    single: dict[str, tuple[float, float]] = {}

    dsn, drop = await postgres_database(server)
    try:
        raw = await asyncpg_bulk(dsn, n)
        rows = {"glue": await glue_bulk(dsn, n)}
        fastest_insert = min(raw["insert (copy)"], raw["insert (unnest)"])
        rows["asyncpg copy + UPDATE FROM unnest"] = (
            fastest_insert,
            raw["update (unnest)"],
        )
        rows["asyncpg unnest + UPDATE FROM unnest"] = (
            raw["insert (unnest)"], raw["update (unnest)"],
        )  # fmt: skip
        if have_sqlalchemy:
            url = dsn.replace("postgresql://", "postgresql+asyncpg://", 1)
            rows["SQLAlchemy ORM, version_id_col"] = await sqlalchemy_bulk(url, n)
        report("PostgreSQL", n, rows)
        single["PostgreSQL"] = (
            await glue_single(dsn, rounds),
            await asyncpg_single(dsn, rounds),
        )
    finally:
        await drop()

    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        raw = await aiosqlite_bulk(folder / "raw.sqlite", n)
        rows = {"glue": await glue_bulk(f"sqlite:///{folder / 'glue.sqlite'}", n)}
        rows["aiosqlite executemany"] = (
            raw["insert (executemany)"], raw["update (executemany)"],
        )  # fmt: skip
        if have_sqlalchemy:
            url = f"sqlite+aiosqlite:///{folder / 'orm.sqlite'}"
            rows["SQLAlchemy ORM, version_id_col"] = await sqlalchemy_bulk(url, n)
        report("SQLite", n, rows)
        single["SQLite"] = (
            await glue_single(f"sqlite:///{folder / 'single.sqlite'}", rounds),
            await aiosqlite_single(folder / "raw_single.sqlite", rounds),
        )

    print(
        f"\nOne unit of work inserting one row ({rounds:,} rounds; microseconds each)"
    )
    print(f"  {'database':<12}{'glue':>10}{'raw BEGIN/INSERT/COMMIT':>26}{'ratio':>8}")
    for name, (ours, theirs) in single.items():
        ratio = ours / theirs
        print(f"  {name:<12}{ours * 1e6:>10.0f}{theirs * 1e6:>26.0f}{ratio:>7.2f}x")


def main() -> None:
    """Parse arguments and run every benchmark."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--single", type=int, default=2_000)
    parser.add_argument(
        "--postgres", default=os.environ.get("GLUE_BENCH_POSTGRES_DSN", LOCAL)
    )
    args = parser.parse_args()
    glue.log.configure(logging.WARNING)
    anyio.run(run, args.rows, args.single, args.postgres)


if __name__ == "__main__":
    main()
