"""The inventory domain: stock, and what is set aside for orders, in ``inventory``.

``inventory:restock`` adds stock through an event handler (``StockChanged``, run
in the command's own unit of work). Orders reach the inventory only through
their events: one subscriber takes ``OrderPlaced`` and ``OrderCancelled`` (one
subscriber for both, so that it sees an order's events in the order they were
committed) and, in its own unit of work:

- for a placed order, sets every article aside and answers ``StockReserved``,
  or, when an article is short, sets nothing aside and answers ``StockShort``;
- for a cancelled one, puts back what it had set aside.

The subscriber yields its answer: glue writes it to the outbox with the
subscriber's changes and its inbox row, so a redelivered order is answered once
in effect. Each
order's answer is recorded in ``reservations``.
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING

import msgspec

from glue import Context, Domain
from glue.state import Upsert
from glue.work import RetryPolicy

from .entities import (
    OrderCancelled,
    OrderPlaced,
    Restock,
    StockChanged,
    StockReserved,
    StockShort,
)
from .tables import INVENTORY_DATABASE, RESERVATIONS, STOCK

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

__all__ = ["PATIENT", "make_inventory"]

PATIENT = RetryPolicy(attempts=20, base_delay=0.002, max_delay=0.05)
"""Restocks compete with reservations for stock rows: retry them patiently."""


def make_inventory() -> Domain:
    """Build the inventory domain."""
    inventory = Domain("inventory")
    inventory.table(STOCK, database=INVENTORY_DATABASE)
    inventory.table(RESERVATIONS, database=INVENTORY_DATABASE)
    inventory.expose(STOCK)  # public: anyone may see what is in stock
    # An order's answers reach the orders domain in the order they were written.
    inventory.register(StockReserved, StockShort, aggregate="order_id")

    @inventory.command(Restock, retry=PATIENT)
    async def restock(cmd: Restock, ctx: Context) -> None:
        ctx.emit(StockChanged(sku=cmd.sku, delta=cmd.quantity))

    @inventory.event(StockChanged)
    async def apply_stock(evt: StockChanged, ctx: Context) -> AsyncIterator[Upsert]:
        row = await ctx.state.get(STOCK, evt.sku)
        quantity = (0 if row is None else row["quantity"]) + evt.delta
        yield Upsert(schema=STOCK, values={"sku": evt.sku, "quantity": quantity})

    # One subscriber for both: they share the order's sequence, which a
    # subscriber applies in order (the App refuses one taking only some).
    @inventory.subscriber(OrderPlaced, OrderCancelled)
    async def hold_stock(
        event: OrderPlaced | OrderCancelled, ctx: Context
    ) -> AsyncIterator[StockReserved | StockShort]:
        match event:
            case OrderPlaced():
                yield await _reserve(event, ctx)
            case OrderCancelled():
                await _release(event, ctx)

    return inventory


async def _reserve(event: OrderPlaced, ctx: Context) -> StockReserved | StockShort:
    """Set the order's articles aside, all of them or none."""
    wanted = Counter[str]()
    for line in event.lines:
        wanted[line.sku] += line.quantity
    skus = sorted(wanted)
    rows = await ctx.state.get_many(STOCK, skus)
    have = {
        sku: 0 if row is None else row["quantity"]
        for sku, row in zip(skus, rows, strict=True)
    }
    short = [sku for sku in skus if have[sku] < wanted[sku]]
    if not short:
        for sku in skus:
            await ctx.state.update(STOCK, sku, {"quantity": have[sku] - wanted[sku]})
    reservation = {
        "order_id": event.order_id,
        "status": "short" if short else "reserved",
        "lines": msgspec.to_builtins(event.lines),
    }
    await ctx.state.insert(RESERVATIONS, reservation)
    if short:
        return StockShort(order_id=event.order_id, skus=short)
    return StockReserved(order_id=event.order_id)


async def _release(event: OrderCancelled, ctx: Context) -> None:
    """Put back what was set aside for the order (nothing, when it was short)."""
    reservation = await ctx.state.require(RESERVATIONS, event.order_id)
    if reservation["status"] != "reserved":
        return
    for line in reservation["lines"]:
        row = await ctx.state.require(STOCK, line["sku"])
        quantity = row["quantity"] + line["quantity"]
        await ctx.state.update(STOCK, line["sku"], {"quantity": quantity})
    await ctx.state.update(RESERVATIONS, event.order_id, {"status": "released"})
