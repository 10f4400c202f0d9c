"""A point query: build the statement, plan it, run it, on one SQLite file.

What a request that reads one row by key pays for in glue, step by step:

- **build**: construct the ``QueryStatement`` (``where id = ?``, one field list);
- **build + plan, cached**: the same key every time, then ``DataQueryService.plan``
  (the statement is encoded, its routes checked, the plan found in the cache);
- **build + plan**: a new key each time: plans are cached by statement, values
  included, so each is planned and compiled anew;
- **build + execute**: the same, then the query runs on SQLite;
- **raw driver**: one aiosqlite ``execute`` and ``fetchall`` of the same SQL, the
  floor for the last line.

Run: ``.venv/bin/python benchmarks/query.py [--rounds 7] [--seconds 0.5]``.
Each figure is the best round, in microseconds per query.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aiosqlite
import anyio

from glue import (
    Column,
    ColumnType,
    Condition,
    Conditions,
    FieldReference,
    QueryStatement,
    Schema,
    SchemaReference,
)
from glue.compat import DataQueryService
from glue.connections import ConnectionManager, pool_from_url
from glue.query import Value
from glue.services.schema import SchemaCommandService

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

__all__ = ["main"]

ROWS = 1000

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


def point(key: int) -> QueryStatement:
    """The statement a request builds: one account by key."""
    return QueryStatement(
        table=SchemaReference(name="accounts"),
        only=[
            FieldReference.of("accounts", "owner"),
            FieldReference.of("accounts", "balance"),
        ],
        where=Conditions(
            Condition(field=FieldReference.of("accounts", "id"), value=Value(key))
        ),
    )


async def best(
    rounds: int, seconds: float, call: Callable[[int], Awaitable[Any]]
) -> float:
    """The best round's microseconds per call."""
    results = []
    for _ in range(rounds):
        count = 0
        start = time.perf_counter()
        while (elapsed := time.perf_counter() - start) < seconds:
            for _ in range(100):
                await call(count % ROWS + 1)
                count += 1
        results.append(elapsed / count * 1e6)
    return min(results)


async def run(rounds: int, seconds: float) -> None:
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "bench.sqlite"
        manager = ConnectionManager()
        manager.register_connection_pool(pool_from_url(f"sqlite:///{path}"))
        async with manager:
            pool = manager.get_connection_pool()
            await SchemaCommandService(pool).create_table(ACCOUNTS)
            async with pool.acquire(write=True) as conn:
                await conn.execute_many(
                    "INSERT INTO accounts VALUES (?, ?, ?)",
                    [(n, f"owner {n}", n * 10) for n in range(1, ROWS + 1)],
                )
            service = DataQueryService(manager, [ACCOUNTS])

            async def build(key: int) -> Any:
                return point(key)

            async def cached(key: int) -> Any:
                return await service.plan(point(1))

            async def plan(key: int) -> Any:
                return await service.plan(point(key))

            async def execute(key: int) -> Any:
                return await service.execute(point(key))

            figures = [
                ("build", await best(rounds, seconds, build)),
                ("build + plan, cached", await best(rounds, seconds, cached)),
                ("build + plan", await best(rounds, seconds, plan)),
                ("build + execute", await best(rounds, seconds, execute)),
            ]
        async with aiosqlite.connect(path) as raw:
            sql = "SELECT owner, balance FROM accounts WHERE id = ?"

            async def driver(key: int) -> Any:
                async with raw.execute(sql, (key,)) as cursor:
                    return await cursor.fetchall()

            figures.append(("raw driver", await best(rounds, seconds, driver)))
    print("| step | µs per query |")
    print("| --- | ---: |")
    for name, micros in figures:
        print(f"| {name} | {micros:.2f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--seconds", type=float, default=0.5)
    args = parser.parse_args()
    anyio.run(run, args.rounds, args.seconds)


if __name__ == "__main__":
    main()
