"""A small App for the outbox tests: payments, and two subscribers that keep
what they saw in a way that shows a duplicate or an event out of order.

- ``payments:pay`` numbers each payment of a customer 1, 2, 3, ... (the
  customer's counter row, guarded by its etag: concurrent payments of one
  customer conflict and retry, so numbers follow commit order) and emits
  ``Paid`` (aggregate: the customer);
- ``ledger.project`` keeps per customer the count, the total and the last
  number seen, and counts every number that is not the last plus one
  (``out_of_order``);
- ``ledger.audit`` inserts one row per payment (a second application of one
  event would break its primary key).

``make_app`` reads the database from ``OUTBOX_TEST_DATABASE`` (and its pool
size from ``OUTBOX_TEST_POOL``), so that
``glue worker --app tests.outbox.shop:make_app`` and the API processes of the
multi-process test build the same App.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import anyio

from glue import App, Command, ConnectionError, Context, Domain, Event
from glue.ids import new_id
from glue.schema.model import Column, ColumnType, Schema
from glue.state.mutations import Insert

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from glue.state.mutations import Mutation

_T = ColumnType.TEXT
_I = ColumnType.INTEGER

CUSTOMERS = Schema(
    name="customers",
    columns=(Column(name="id", type=_T), Column(name="payments", type=_I)),
    primary_key=("id",),
)
PAYMENTS = Schema(
    name="payments",
    columns=(
        Column(name="customer", type=_T),
        Column(name="n", type=_I),
        Column(name="amount", type=_I),
    ),
    primary_key=("customer", "n"),
    versioned=False,
)
TOTALS = Schema(
    name="customer_totals",
    columns=(
        Column(name="customer", type=_T),
        Column(name="count", type=_I),
        Column(name="total", type=_I),
        Column(name="last", type=_I),
        Column(name="out_of_order", type=_I),
    ),
    primary_key=("customer",),
)
AUDIT = Schema(
    name="audit",
    columns=(Column(name="customer", type=_T), Column(name="n", type=_I)),
    primary_key=("customer", "n"),
    versioned=False,
)


CHARGES = Schema(
    name="charges",
    columns=(
        Column(name="id", type=ColumnType.UUID),
        Column(name="customer", type=_T),
        Column(name="amount", type=_I),
    ),
    primary_key=("id",),
    versioned=False,
)
CHARGE_TOTALS = Schema(
    name="charge_totals",
    columns=(
        Column(name="customer", type=_T),
        Column(name="count", type=_I),
        Column(name="total", type=_I),
    ),
    primary_key=("customer",),
)


class Charge(Command):
    customer: str
    amount: int


class Charged(Event):
    customer: str
    amount: int


class Pay(Command):
    customer: str
    amount: int


class Paid(Event):
    customer: str
    n: int
    amount: int


payments = Domain("payments")
payments.table(CUSTOMERS)
payments.table(PAYMENTS)
payments.table(CHARGES)
payments.register(Paid, aggregate="customer")
payments.register(Charged)

ledger = Domain("ledger")
ledger.table(TOTALS)
ledger.table(AUDIT)
ledger.table(CHARGE_TOTALS)

FAILING: set[str] = set()
"""Customers whose audit fails (for the dead-letter tests)."""

UNREACHABLE: set[str] = set()
"""Customers whose audit finds its database down, as a query of its would."""


@payments.command(Pay)
async def pay(cmd: Pay, ctx: Context) -> AsyncIterator[Paid]:
    row = await ctx.state.get(CUSTOMERS, cmd.customer)
    if row is None:
        n = 1
        await ctx.state.insert(CUSTOMERS, {"id": cmd.customer, "payments": 1})
    else:
        n = row["payments"] + 1
        await ctx.state.update(CUSTOMERS, cmd.customer, {"payments": n})
    await ctx.state.insert(
        PAYMENTS, {"customer": cmd.customer, "n": n, "amount": cmd.amount}
    )
    yield Paid(customer=cmd.customer, n=n, amount=cmd.amount)


@payments.command(Charge)
async def charge(cmd: Charge, ctx: Context) -> AsyncIterator[Charged]:
    """Only inserts: concurrent charges never conflict with each other."""
    values = {"id": new_id(), "customer": cmd.customer, "amount": cmd.amount}
    await ctx.state.insert(CHARGES, values)
    yield Charged(customer=cmd.customer, amount=cmd.amount)


@ledger.subscriber(Charged)
async def tally(event: Charged, ctx: Context) -> None:
    """The projection that, run in the writers' units, made them conflict."""
    row = await ctx.state.get(CHARGE_TOTALS, event.customer)
    if row is None:
        values = {"customer": event.customer, "count": 1, "total": event.amount}
        await ctx.state.insert(CHARGE_TOTALS, values)
    else:
        changes = {"count": row["count"] + 1, "total": row["total"] + event.amount}
        await ctx.state.update(CHARGE_TOTALS, event.customer, changes)


@payments.event(Paid)
async def check(event: Paid, ctx: Context) -> None:
    """An event handler: it runs in the writer's unit, as before."""
    if event.amount < 0:
        raise ValueError(f"a payment of {event.amount}")


@ledger.subscriber(Paid)
async def project(event: Paid, ctx: Context) -> None:
    if event.customer.startswith("slow"):
        await anyio.sleep(1.0)  # long enough to be caught in flight
    row = await ctx.state.get(TOTALS, event.customer)
    if row is None:
        await ctx.state.insert(
            TOTALS,
            {
                "customer": event.customer,
                "count": 1,
                "total": event.amount,
                "last": event.n,
                "out_of_order": int(event.n != 1),
            },
        )
        return
    await ctx.state.update(
        TOTALS,
        event.customer,
        {
            "count": row["count"] + 1,
            "total": row["total"] + event.amount,
            "last": event.n,
            "out_of_order": row["out_of_order"] + int(event.n != row["last"] + 1),
        },
    )


@ledger.subscriber(Paid, attempts=3, base_delay=0.01, max_delay=0.05)
async def audit(event: Paid, ctx: Context) -> AsyncIterator[Mutation]:
    if event.customer in FAILING:
        raise RuntimeError(f"audit refuses {event.customer}")
    if event.customer in UNREACHABLE:
        raise ConnectionError("ledger", "connection refused")
    yield Insert(schema=AUDIT, values={"customer": event.customer, "n": event.n})


def make_app(url: str | None = None, **options: object) -> App:
    """The App on ``url`` (default: ``OUTBOX_TEST_DATABASE``)."""
    database = url or os.environ["OUTBOX_TEST_DATABASE"]
    size = int(os.environ.get("OUTBOX_TEST_POOL", "10"))
    return App(
        [payments, ledger],
        databases={"default": {"url": database, "max_size": size}},
        create_tables=True,
        **options,  # type: ignore[arg-type]
    )
