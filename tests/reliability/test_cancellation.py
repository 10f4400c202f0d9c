"""Cancellation at every await point of a unit of work: all or nothing.

Issue #13, "the suite". A unit of work moves one unit from ``a`` to ``b``
(two databases, of every kind of pair). Run k cancels it at its k-th await on
a database (each checkout, BEGIN, statement and COMMIT, before and after it),
for k = 0, 1, 2, ... until a run passes them all. After each run: both rows
moved or neither, every connection back in its pool, no transaction left open
and no prepared transaction left on a server.
"""

from __future__ import annotations

import anyio
import anyio.lowlevel

from glue.connections import ConnectionManager
from glue.services.schema import SchemaCommandService
from glue.work import UnitOfWork

from .bank import ACCOUNTS
from .faults import HookedPool, admin, prepared_transactions


async def open_transactions(urls: dict[str, str]) -> int:
    """Sessions idle inside a transaction, in the PostgreSQL databases."""
    found = 0
    for url in urls.values():
        if url.startswith("postgres"):
            rows = await admin(
                url,
                "SELECT count(*) FROM pg_stat_activity WHERE datname = "
                "current_database() AND state LIKE 'idle in transaction%'",
            )
            found += rows[0][0]
    return found


async def test_cancelled_at_every_await_point_moves_all_or_nothing(
    pair: dict[str, str],
) -> None:
    manager = ConnectionManager.from_urls(pair)
    async with manager:
        pools = {name: HookedPool(manager.get_connection_pool(name)) for name in pair}
        for name, schema in ACCOUNTS.items():
            await SchemaCommandService(pools[name].pool).create_table(schema)

        def route(table: str) -> HookedPool:
            return pools[table[-1]]  # accounts_a, accounts_b

        async with UnitOfWork(route) as unit:
            for schema in ACCOUNTS.values():
                await unit.state.insert(schema, {"id": 1, "balance": 0})

        async def balances() -> tuple[int, int]:
            async with UnitOfWork(route) as unit:
                a = await unit.state.require(ACCOUNTS["a"], 1)
                b = await unit.state.require(ACCOUNTS["b"], 1)
            return -a["balance"], b["balance"]

        target, committed, seen = 0, 0, 0
        scope = anyio.CancelScope()

        async def hook(moment: str, what: str) -> None:
            nonlocal seen
            seen += 1
            if seen == target + 1:
                scope.cancel()
                await anyio.lowlevel.checkpoint()

        while True:
            seen, scope = 0, anyio.CancelScope()
            with scope:
                for pool in pools.values():
                    pool.hook = hook
                async with UnitOfWork(route) as unit:
                    a = await unit.state.require(ACCOUNTS["a"], 1)
                    b = await unit.state.require(ACCOUNTS["b"], 1)
                    await unit.state.update(
                        ACCOUNTS["a"], 1, {"balance": a["balance"] - 1}
                    )
                    await unit.state.update(
                        ACCOUNTS["b"], 1, {"balance": b["balance"] + 1}
                    )
            for pool in pools.values():
                pool.hook = None
            moved = await balances()
            assert moved[0] == moved[1], f"cancelled at await {target}: {moved}"
            assert moved[0] in (committed, committed + 1)
            committed = moved[0]
            for pool in pools.values():
                assert pool.statistics().checked_out == 0
            assert await open_transactions(pair) == 0
            assert await prepared_transactions(pair) == []
            if seen <= target:  # this run passed every await point
                break
            target += 1
    assert target >= 10  # checkouts, BEGINs, reads, writes, commits
    assert committed >= 1
