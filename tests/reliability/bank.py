"""A bank whose accounts live in two databases, ``a`` and ``b``: transfers
between them are units of work across databases."""

from __future__ import annotations

import random
from typing import TYPE_CHECKING, Any

from glue import App, Command, Context, Domain, Response, RetryPolicy
from glue.connections import ConnectionManager
from glue.query import QueryStatement, SchemaReference
from glue.schema import Column, ColumnType, Schema
from glue.work import UnitOfWork

from .faults import Crash, HookedPool

if TYPE_CHECKING:
    from collections.abc import Mapping

ACCOUNTS = {
    name: Schema(
        name=f"accounts_{name}",
        columns=(
            Column(name="id", type=ColumnType.INTEGER),
            Column(name="balance", type=ColumnType.INTEGER),
        ),
        primary_key=("id",),
    )
    for name in ("a", "b")
}
OPENING = 1_000
"""Every account's opening balance."""

# Contention on a handful of rows: a transfer may lose many races in a row.
PATIENT = RetryPolicy(attempts=200, base_delay=0.005, max_delay=0.2)


class Transfer(Command):
    """Move ``amount`` from one account to another; ``lock`` locks both rows
    first, in the order given (``ctx.unit.lock``)."""

    source: str
    source_id: int
    target: str
    target_id: int
    amount: int
    lock: bool = False


class Moved(Response):
    source_balance: int
    target_balance: int


def bank_domain(retry: RetryPolicy = PATIENT) -> Domain:
    bank = Domain("bank")
    for name, schema in ACCOUNTS.items():
        bank.table(schema, database=name)

    @bank.command(Transfer, retry=retry)
    async def transfer(cmd: Transfer, ctx: Context) -> Moved:
        source, target = ACCOUNTS[cmd.source], ACCOUNTS[cmd.target]
        if cmd.lock:
            await ctx.unit.lock(source, [cmd.source_id])
            await ctx.unit.lock(target, [cmd.target_id])
        src = await ctx.state.require(source, cmd.source_id)
        dst = await ctx.state.require(target, cmd.target_id)
        left = src["balance"] - cmd.amount
        right = dst["balance"] + cmd.amount
        await ctx.state.update(source, cmd.source_id, {"balance": left})
        await ctx.state.update(target, cmd.target_id, {"balance": right})
        return Moved(source_balance=left, target_balance=right)

    return bank


def bank_app(urls: Mapping[str, str], **options: Any) -> App:
    """The bank on databases ``a`` and ``b`` (pools with their default sizes
    unless ``options`` say otherwise)."""
    manager = ConnectionManager.from_urls(urls, **options)
    return App([bank_domain()], databases=manager, create_tables=True)


async def open_accounts(app: App, per_database: int) -> None:
    """Accounts 1..per_database in each database, at the opening balance."""
    async with app.context(domain="bank") as ctx:
        for schema in ACCOUNTS.values():
            for key in range(1, per_database + 1):
                await ctx.state.insert(schema, {"id": key, "balance": OPENING})


async def balances(app: App) -> dict[tuple[str, int], int]:
    """Every account's balance, read after the fact."""
    found = {}
    for name, schema in ACCOUNTS.items():
        rows = await app.query(QueryStatement(table=SchemaReference(name=schema.name)))
        found.update({(name, row["id"]): row["balance"] for row in rows})
    return found


def transfers(
    count: int, per_database: int, *, seed: int = 13, lock: bool = False
) -> list[Transfer]:
    """``count`` transfers between an account in ``a`` and one in ``b``, half
    each way (a unit touching a then b, or b then a); with ``lock``, each locks
    its two rows first, in that order."""
    rng = random.Random(seed)
    made = []
    for i in range(count):
        ends = [
            ("a", rng.randint(1, per_database)),
            ("b", rng.randint(1, per_database)),
        ]
        if i % 2:
            ends.reverse()
        (source, source_id), (target, target_id) = ends
        made.append(
            Transfer(
                source=source,
                source_id=source_id,
                target=target,
                target_id=target_id,
                amount=rng.randint(1, 50),
                lock=lock,
            )
        )
    return made


def expected(moves: list[Transfer], per_database: int) -> dict[tuple[str, int], int]:
    """The balances once every transfer of ``moves`` is applied, once."""
    result = {
        (name, key): OPENING for name in ACCOUNTS for key in range(1, per_database + 1)
    }
    for move in moves:
        result[(move.source, move.source_id)] -= move.amount
        result[(move.target, move.target_id)] += move.amount
    return result


def checked_out(app: App) -> int:
    """Connections still checked out of the app's pools."""
    pools = {id(p): p for p in app.connections.pools.values()}
    return sum(p.statistics().checked_out for p in pools.values())


async def move_and_crash(urls: Mapping[str, str], moment: str, what: str) -> None:
    """Move 10 from account a/1 to b/1 in a unit of work on databases ``urls``
    that dies (`Crash`) at the hook's (``moment``, statement starting with
    ``what``), as a process would, leaving whatever it left."""
    manager = ConnectionManager.from_urls(urls)
    async with manager:
        pools = {name: HookedPool(manager.get_connection_pool(name)) for name in urls}

        async def hook(when: str, sql: str) -> None:
            if when == moment and sql.startswith(what):
                raise Crash

        for pool in pools.values():
            pool.hook = hook
        try:
            async with UnitOfWork(lambda table: pools[table[-1]]) as unit:
                a, b = ACCOUNTS["a"], ACCOUNTS["b"]
                src = await unit.state.require(a, 1)
                dst = await unit.state.require(b, 1)
                await unit.state.update(a, 1, {"balance": src["balance"] - 10})
                await unit.state.update(b, 1, {"balance": dst["balance"] + 10})
        except Crash:
            return
        raise AssertionError(f"the unit never reached {moment} {what!r}")
