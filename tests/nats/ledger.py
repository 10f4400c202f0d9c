"""A ledger whose payments reach two subscribers through the outbox.

``Pay(account, n)`` records payment ``n`` of an account and emits ``Paid``,
whose aggregate is the account. Two subscribers, ``ledger.tally`` and
``ledger.audit``, each keep, in tables of their own, one row per application
(``applied_*``: so a duplicate application shows as two rows) and each
account's last ``n`` (``last_*``): an event that does not follow the last one
applied is recorded ``in_order = false``. A caller that pays each account's
``n = 1, 2, ...`` one after another can therefore check exactly once and in
order per aggregate from the tables alone.

``python -m tests.nats.ledger URL COUNT FIRST LAST`` pays ``COUNT`` times each
of the accounts ``FIRST..LAST`` (an API process); a worker process is ``glue
worker tests.nats.ledger:worker_app --transport nats``, its database in
``LEDGER_DATABASE_URL``.
"""

from __future__ import annotations

import os
import sys
import uuid
from typing import Any

import anyio

from glue import App, Command, Context, Domain, Event, Ok
from glue.schema import Column, ColumnType, Schema

SUBSCRIBERS = ("ledger.tally", "ledger.audit")

PAYMENTS = Schema(
    name="payments",
    columns=(
        Column(name="id", type=ColumnType.TEXT),
        Column(name="account", type=ColumnType.TEXT),
        Column(name="n", type=ColumnType.INTEGER),
    ),
    primary_key=("id",),
)


def applied_table(subscriber: str) -> Schema:
    return Schema(
        name=f"applied_{subscriber.rpartition('.')[2]}",
        columns=(
            Column(name="id", type=ColumnType.TEXT),
            Column(name="account", type=ColumnType.TEXT),
            Column(name="n", type=ColumnType.INTEGER),
            Column(name="in_order", type=ColumnType.BOOLEAN),
        ),
        primary_key=("id",),
    )


def last_table(subscriber: str) -> Schema:
    return Schema(
        name=f"last_{subscriber.rpartition('.')[2]}",
        columns=(
            Column(name="account", type=ColumnType.TEXT),
            Column(name="n", type=ColumnType.INTEGER),
        ),
        primary_key=("account",),
    )


class Pay(Command):
    account: str
    n: int


class Paid(Event):
    account: str
    n: int


def ledger_domain() -> Domain:
    ledger = Domain("ledger")
    ledger.register(Paid, aggregate="account")
    ledger.table(PAYMENTS)
    for name in SUBSCRIBERS:
        ledger.table(applied_table(name))
        ledger.table(last_table(name))

    @ledger.command(Pay)
    async def pay(cmd: Pay, ctx: Context) -> Ok:
        await ctx.state.insert(
            PAYMENTS,
            {"id": f"{cmd.account}/{cmd.n}", "account": cmd.account, "n": cmd.n},
        )
        ctx.emit(Paid(account=cmd.account, n=cmd.n))
        return Ok()

    def record(subscriber: str) -> Any:
        applied, last = applied_table(subscriber), last_table(subscriber)

        async def apply(event: Paid, ctx: Context) -> None:
            before = await ctx.state.get(last, event.account)
            previous = before["n"] if before is not None else 0
            await ctx.state.insert(
                applied,
                {
                    "id": str(uuid.uuid4()),
                    "account": event.account,
                    "n": event.n,
                    "in_order": event.n == previous + 1,
                },
            )
            await ctx.state.upsert(last, {"account": event.account, "n": event.n})

        apply.__name__ = subscriber.rpartition(".")[2]
        return apply

    for name in SUBSCRIBERS:
        ledger.subscriber(Paid)(record(name))
    return ledger


def ledger_app(url: str, **options: Any) -> App:
    """The ledger on the database at ``url``; subscribers run by workers."""
    return App(
        [ledger_domain()],
        databases={"default": url},
        create_tables=True,
        delivery="workers",
        **options,
    )


def worker_app() -> App:
    """The App of a worker process: the database in ``LEDGER_DATABASE_URL``."""
    return ledger_app(os.environ["LEDGER_DATABASE_URL"])


async def pay_accounts(app: App, accounts: list[str], count: int) -> None:
    """Pay each account ``count`` times, its payments one after another."""

    async def pay_one(account: str) -> None:
        for n in range(1, count + 1):
            await app.bus.dispatch(Pay(account=account, n=n))

    async with anyio.create_task_group() as tg:
        for account in accounts:
            tg.start_soon(pay_one, account)


async def applications(app: App, subscriber: str) -> list[dict[str, Any]]:
    """Every row the subscriber's applications wrote."""
    from glue.query import QueryStatement, SchemaReference

    table = applied_table(subscriber).name
    return list(await app.query(QueryStatement(table=SchemaReference(name=table))))


def accounts(first: int, last: int) -> list[str]:
    return [f"acct-{i:03d}" for i in range(first, last + 1)]


async def _api(url: str, count: int, first: int, last: int) -> None:
    async with ledger_app(url) as app:
        await pay_accounts(app, accounts(first, last), count)


if __name__ == "__main__":
    _, url, count, first, last = sys.argv
    anyio.run(_api, url, int(count), int(first), int(last))
