"""The orders domain: orders and the customers it knows of, in ``orders``.

An order is a saga over two domains that share no table:

1. ``orders:place-order`` checks the customer against the orders domain's own
   copy of the customers (``known_customers``, kept by a subscriber of
   ``CustomerRegistered``), inserts the order as ``pending`` and emits
   ``OrderPlaced``;
2. the inventory's subscriber sets its articles aside and answers
   ``StockReserved``, or ``StockShort`` (see :mod:`domains.shop.inventory`);
3. this domain's subscriber of those answers marks a pending order
   ``accepted`` or ``rejected``;
4. ``orders:cancel-order`` (``orders:admin``; over HTTP, ``If-Match`` guards it
   with the order's etag) marks an open order ``cancelled`` and emits
   ``OrderCancelled``: the inventory puts its articles back.

Each step commits on its own database with the events it sends (the outbox),
and each subscriber applies each event once in effect (the inbox). New orders
get their ids from :class:`glue.Ids`, as customers do.
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING

import msgspec

from glue import Context, Domain, Ids
from glue.state import Upsert
from glue.work import RetryPolicy

from .entities import (
    CancelOrder,
    CustomerRegistered,
    OrderCancelled,
    OrderLine,
    OrderPlaced,
    Placed,
    PlaceOrder,
    StockReserved,
    StockShort,
)
from .services import CustomerService, OrderService
from .tables import KNOWN_CUSTOMERS, ORDERS, ORDERS_DATABASE

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

__all__ = ["make_orders"]

CANCELLING = RetryPolicy(attempts=20, base_delay=0.002, max_delay=0.05)
"""A cancel competes with the inventory's answer for the order's row: retry it
patiently."""


def make_orders() -> Domain:
    """Build the orders domain."""
    orders = Domain("orders")
    orders.table(ORDERS, database=ORDERS_DATABASE)
    orders.table(KNOWN_CUSTOMERS, database=ORDERS_DATABASE)
    orders.expose(ORDERS, requires={"orders:read"})
    # The inventory sees an order's events in the order they were committed.
    orders.register(OrderPlaced, OrderCancelled, aggregate="order_id")
    orders.service("customers", CustomerService())
    orders.service("orders", OrderService())
    ids = Ids()

    @orders.subscriber(CustomerRegistered)
    async def know_customer(
        evt: CustomerRegistered, ctx: Context
    ) -> AsyncIterator[Upsert]:
        values = {"id": evt.customer_id, "name": evt.name}
        yield Upsert(schema=KNOWN_CUSTOMERS, values=values)

    @orders.command(PlaceOrder)
    async def place_order(
        cmd: PlaceOrder, ctx: Context
    ) -> AsyncIterator[OrderPlaced | Placed]:
        await ctx.dal.customers.require(cmd.customer_id)
        wanted = Counter[str]()
        for line in cmd.lines:
            wanted[line.sku] += line.quantity
        lines = [OrderLine(sku=sku, quantity=q) for sku, q in wanted.items()]
        order_id = await ids.next(ORDERS)
        await ctx.state.insert(
            ORDERS,
            {
                "id": order_id,
                "customer_id": cmd.customer_id,
                "articles": sum(wanted.values()),
                "lines": msgspec.to_builtins(lines),
            },
        )
        yield OrderPlaced(order_id=order_id, customer_id=cmd.customer_id, lines=lines)
        yield Placed(order_id=order_id, articles=sum(wanted.values()))

    @orders.renderer(Placed)
    async def confirm(placed: Placed, ctx: Context) -> Placed:
        order = await ctx.state.require(ORDERS, placed.order_id)
        return Placed(
            order_id=placed.order_id, articles=placed.articles, status=order["status"]
        )

    @orders.subscriber(StockReserved, StockShort)
    async def settle(evt: StockReserved | StockShort, ctx: Context) -> None:
        order = await ctx.state.require(ORDERS, evt.order_id)
        if order["status"] != "pending":
            return  # cancelled before the inventory answered
        status = "accepted" if isinstance(evt, StockReserved) else "rejected"
        await ctx.state.update(ORDERS, evt.order_id, {"status": status})

    @orders.command(
        CancelOrder, requires={"orders:admin"}, retry=CANCELLING, if_match=True
    )
    async def cancel_order(cmd: CancelOrder, ctx: Context) -> None:
        await ctx.dal.orders.require_open(cmd.order_id)
        # Over HTTP, the order's etag as the client read it (If-Match): a
        # stale one is glue.StaleEtag (412), and nothing is cancelled.
        await ctx.state.update(
            ORDERS, cmd.order_id, {"status": "cancelled"}, etag=ctx.meta.if_match
        )
        ctx.emit(OrderCancelled(order_id=cmd.order_id))

    return orders
