"""Reads, timed: ``app.query`` against the raw driver running the same SQL.

A 10,000-row ``accounts`` table, on SQLite (a file) and on PostgreSQL (a scratch
database), read the way a request reads:

- **point query**: one account by key, a new key every call;
- **range query**: 100 accounts by a key range (``id >= a AND id < a + 100``),
  a new range every call.

Contenders, interleaved round by round (see ``harness.py``), the garbage
collector on:

- **glue**: ``await app.query(statement)``, the ``QueryStatement`` built for
  each call as a request would; rows come back as dicts;
- **raw driver (reference)**: the SQL glue sends, on one open connection:
  asyncpg ``fetch``, aiosqlite ``execute`` + ``fetchall``; rows as the driver
  returns them;
- **glue, plan only**: ``service.plan(statement)`` for the same statements (no
  database): what glue adds before any SQL runs, to see where time goes.

On PostgreSQL, one more table: a pool checkout running the point query's SQL,
through glue's pool (no reset query for a checkout that left the connection
clean), against raw asyncpg's pool (its reset query on every release) and the
held connection.

Targets (#14): point query at most 1.3x raw, range query at most 1.5x raw, on both
databases. Run::

    python benchmarks/query.py [--rounds 21] [--seconds 0.1] [--postgres DSN]
"""

from __future__ import annotations

import argparse
import logging
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aiosqlite
import anyio
import asyncpg
from harness import LOCAL, Comparison, machine, per_call, postgres_database

import glue.log
from glue import (
    App,
    Column,
    ColumnType,
    Condition,
    Conditions,
    Domain,
    FieldLookup,
    FieldReference,
    QueryStatement,
    Schema,
    SchemaReference,
)
from glue.connections import DefaultConnectionPool, PostgresConnection
from glue.query import Value
from glue.services import DataQueryService

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

__all__ = ["main"]

ROWS = 10_000
RANGE = 100

ACCOUNTS = Schema(
    name="accounts",
    columns=(
        Column(name="id", type=ColumnType.INTEGER),
        Column(name="owner", type=ColumnType.TEXT),
        Column(name="balance", type=ColumnType.INTEGER),
    ),
    primary_key=("id",),
    versioned=False,
)
ID = FieldReference.of("accounts", "id")
FIELDS = [
    FieldReference.of("accounts", "owner"),
    FieldReference.of("accounts", "balance"),
]


def point(key: int) -> QueryStatement:
    """One account by key."""
    return QueryStatement(
        table=SchemaReference(name="accounts"),
        only=FIELDS,
        where=Conditions(Condition(field=ID, value=Value(key))),
    )


def span(start: int) -> QueryStatement:
    """``RANGE`` accounts from ``start`` on."""
    return QueryStatement(
        table=SchemaReference(name="accounts"),
        only=[ID, *FIELDS],
        where=Conditions(
            Condition(field=ID, lookup=FieldLookup.GTE, value=Value(start)),
            Condition(field=ID, lookup=FieldLookup.LT, value=Value(start + RANGE)),
        ),
    )


def key(i: int) -> int:
    """The i-th call's key: spread over the table, a new one each call."""
    return i * 7919 % ROWS + 1


def start(i: int) -> int:
    """The i-th call's range start."""
    return i * 7919 % (ROWS - RANGE) + 1


SQL = {
    "sqlite": (
        'SELECT "owner", "balance" FROM "accounts" WHERE "id" = ?',
        'SELECT "id", "owner", "balance" FROM "accounts" WHERE "id" >= ? AND "id" < ?',
    ),
    "postgres": (
        'SELECT "owner", "balance" FROM "accounts" WHERE "id" = $1',
        'SELECT "id", "owner", "balance" FROM "accounts" WHERE "id" >= $1 '
        'AND "id" < $2',
    ),
}


async def compare(
    label: str,
    url: str,
    raw: Callable[[str, tuple[Any, ...]], Awaitable[Any]],
    dialect: str,
    rounds: int,
    seconds: float,
) -> None:
    bench = Domain("bench")
    bench.table(ACCOUNTS)
    async with App([bench], databases={"default": url}, create_tables=True) as app:
        pool = app.connections.get_connection_pool()
        async with pool.acquire(write=True) as conn:
            marks = ", ".join([conn.dialect.placeholder(i) for i in range(1, 4)])
            await conn.execute_many(
                f"INSERT INTO accounts VALUES ({marks})",
                [(n, f"owner {n}", n * 10) for n in range(1, ROWS + 1)],
            )
        service = DataQueryService(app.connections, [ACCOUNTS])
        point_sql, range_sql = SQL[dialect]

        async def glue_point(i: int) -> Any:
            return await app.query(point(key(i)))

        async def raw_point(i: int) -> Any:
            return await raw(point_sql, (key(i),))

        async def plan_point(i: int) -> Any:
            return await service.plan(point(key(i)))

        async def glue_range(i: int) -> Any:
            rows = await app.query(span(start(i)))
            assert len(rows) == RANGE
            return rows

        async def raw_range(i: int) -> Any:
            return await raw(range_sql, (start(i), start(i) + RANGE))

        async def plan_range(i: int) -> Any:
            return await service.plan(span(start(i)))

        for what, ours, theirs, plan in (
            ("point query, a new key each call", glue_point, raw_point, plan_point),
            (
                "100-row range query, a new range each call",
                glue_range,
                raw_range,
                plan_range,
            ),
        ):
            comparison = Comparison(f"{label}: {what}", reference="raw driver")
            comparison.add("raw driver", per_call(theirs, seconds))
            comparison.add("glue app.query", per_call(ours, seconds))
            comparison.add("glue, plan only (no SQL)", per_call(plan, seconds))
            (await comparison.run(rounds)).print()


async def checkouts(
    dsn: str,
    held: Callable[[str, tuple[Any, ...]], Awaitable[Any]],
    rounds: int,
    seconds: float,
) -> None:
    """A pool checkout and one point query: glue's pool against asyncpg's."""
    sql = SQL["postgres"][0]
    pool = DefaultConnectionPool(PostgresConnection, dsn=dsn)
    raw_pool = await asyncpg.create_pool(dsn, min_size=1, max_size=10)
    try:
        async with pool:

            def through(pool: DefaultConnectionPool) -> Callable[[int], Awaitable[Any]]:
                async def call(i: int) -> Any:
                    async with pool.acquire() as conn:
                        return await conn.fetch(sql, (key(i),))

                return call

            async def raw_checkout(i: int) -> Any:
                async with raw_pool.acquire() as conn:
                    return await conn.fetch(sql, key(i))

            async def raw_held(i: int) -> Any:
                return await held(sql, (key(i),))

            comparison = Comparison(
                "PostgreSQL: pool checkout + point query", reference="raw driver"
            )
            comparison.add("raw driver", per_call(raw_held, seconds))
            comparison.add("glue pool", per_call(through(pool), seconds))
            comparison.add(
                "raw asyncpg pool (resets on release)", per_call(raw_checkout, seconds)
            )
            (await comparison.run(rounds)).print()
    finally:
        await raw_pool.close()


async def run(options: argparse.Namespace) -> None:
    print(machine())
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "bench.sqlite"
        async with aiosqlite.connect(path) as db:

            async def sqlite_raw(sql: str, params: tuple[Any, ...]) -> Any:
                async with db.execute(sql, params) as cursor:
                    return await cursor.fetchall()

            await compare(
                "SQLite",
                f"sqlite:///{path}",
                sqlite_raw,
                "sqlite",
                options.rounds,
                options.seconds,
            )
    dsn, drop = await postgres_database(options.postgres)
    try:
        conn = await asyncpg.connect(dsn)
        try:

            async def postgres_raw(sql: str, params: tuple[Any, ...]) -> Any:
                return await conn.fetch(sql, *params)

            await compare(
                "PostgreSQL",
                dsn,
                postgres_raw,
                "postgres",
                options.rounds,
                options.seconds,
            )
            await checkouts(dsn, postgres_raw, options.rounds, options.seconds)
        finally:
            await conn.close()
    finally:
        await drop()


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rounds", type=int, default=21)
    parser.add_argument("--seconds", type=float, default=0.1)
    parser.add_argument(
        "--postgres", default=os.environ.get("GLUE_BENCH_POSTGRES_DSN", LOCAL)
    )
    options = parser.parse_args()
    glue.log.configure(logging.WARNING)
    anyio.run(run, options)


if __name__ == "__main__":
    main()
