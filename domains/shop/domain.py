"""The shop domain: customers, inventory and orders, kept in SQL databases.

Command handlers read and change rows through ``ctx.state``, and share reads
through services (``ctx.dal.customers``, ``ctx.dal.orders``, one of them over a
repository); event handlers yield mutations; a renderer completes the response from the
committed order. The bus commits each command's changes at once, and runs a
command again when another one changed the same rows first.

New customers and orders get their ids from :class:`glue.Ids` before anything
is written: the database reserves a block of ids at a time (a counter table on
SQLite, a sequence on PostgreSQL) outside the command's transaction, so commands
never wait for each other nor conflict over ids, and one round trip serves a
hundred of them.
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any

import msgspec

from glue import Context, Domain, Ids, ValidationError
from glue.errors import FieldError
from glue.state import Update, Upsert
from glue.work import RetryPolicy

from .entities import (
    CancelOrder,
    CustomerRegistered,
    OrderAccepted,
    OrderCancelled,
    OrderLine,
    OrderPlaced,
    PlaceOrder,
    RegisterCustomer,
    Registered,
    Restock,
    StockChanged,
)
from .services import CustomerService, OrderService
from .tables import CUSTOMERS, ORDERS, STOCK

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

__all__ = ["make_shop"]

ORDERING = RetryPolicy(attempts=20, base_delay=0.002, max_delay=0.05)
"""Orders compete for stock: retry them patiently."""


def make_shop(*, orders_database: str = "orders") -> Domain:
    """Build the shop domain.

    Args:
        orders_database: the database name orders and their lines live in.
    """
    shop = Domain("shop")
    shop.table(CUSTOMERS)
    shop.table(STOCK)
    shop.table(ORDERS, database=orders_database)
    # What clients may read over HTTP: stock is public; orders and customers
    # (without their emails) need a permission.
    shop.expose(STOCK)
    shop.expose(ORDERS, requires={"orders:read"})
    shop.expose(CUSTOMERS, fields=("id", "name"), requires={"customers:read"})
    ids = Ids()  # routed like the tables, through each command's unit of work
    shop.register(CustomerRegistered)  # emitted for other domains; no handler here
    shop.service("customers", CustomerService())
    shop.service("orders", OrderService())

    @shop.command(RegisterCustomer)
    async def register_customer(
        cmd: RegisterCustomer, ctx: Context
    ) -> AsyncIterator[CustomerRegistered | Registered]:
        customer_id = await ids.next(CUSTOMERS)
        await ctx.state.insert(
            CUSTOMERS, {"id": customer_id, "name": cmd.name, "email": cmd.email}
        )
        yield CustomerRegistered(customer_id=customer_id, name=cmd.name)
        yield Registered(customer_id=customer_id)

    @shop.command(Restock)
    async def restock(cmd: Restock, ctx: Context) -> None:
        ctx.emit(StockChanged(sku=cmd.sku, delta=cmd.quantity))

    @shop.event(StockChanged)
    async def apply_stock(evt: StockChanged, ctx: Context) -> AsyncIterator[Upsert]:
        row = await ctx.state.get(STOCK, evt.sku)
        quantity = (0 if row is None else row["quantity"]) + evt.delta
        yield Upsert(schema=STOCK, values={"sku": evt.sku, "quantity": quantity})

    @shop.command(PlaceOrder, retry=ORDERING)
    async def place_order(
        cmd: PlaceOrder, ctx: Context
    ) -> AsyncIterator[OrderPlaced | OrderAccepted]:
        await ctx.dal.customers.require(cmd.customer_id)
        wanted = Counter[str]()
        for line in cmd.lines:
            wanted[line.sku] += line.quantity
        skus = list(wanted)
        stock = dict(zip(skus, await ctx.state.get_many(STOCK, skus), strict=True))
        short = [
            FieldError(f"$.lines[{i}].quantity", f"only {left} left")
            for i, line in enumerate(cmd.lines)
            if (left := _quantity(stock[line.sku])) < wanted[line.sku]
        ]
        if short:
            raise ValidationError("shop:place-order", short)
        order_id = await ids.next(ORDERS)
        lines = [OrderLine(sku=sku, quantity=q) for sku, q in wanted.items()]
        await ctx.state.insert(
            ORDERS,
            {
                "id": order_id,
                "customer_id": cmd.customer_id,
                "articles": sum(wanted.values()),
                "lines": [msgspec.to_builtins(line) for line in lines],
            },
        )
        yield OrderPlaced(order_id=order_id, customer_id=cmd.customer_id, lines=lines)
        yield OrderAccepted(order_id=order_id, articles=sum(wanted.values()))

    @shop.event(OrderPlaced)
    async def reserve_stock(evt: OrderPlaced, ctx: Context) -> AsyncIterator[Update]:
        for line in evt.lines:
            row = await ctx.state.require(STOCK, line.sku)
            yield Update(
                schema=STOCK,
                key=line.sku,
                changes={"quantity": row["quantity"] - line.quantity},
            )

    @shop.renderer(OrderAccepted)
    async def confirm(accepted: OrderAccepted, ctx: Context) -> OrderAccepted:
        order = await ctx.state.require(ORDERS, accepted.order_id)
        return OrderAccepted(
            order_id=accepted.order_id,
            articles=accepted.articles,
            status=order["status"],
        )

    @shop.command(CancelOrder, requires={"orders:admin"}, retry=ORDERING, if_match=True)
    async def cancel_order(cmd: CancelOrder, ctx: Context) -> None:
        lines = await ctx.dal.orders.open_lines(cmd.order_id)
        # Over HTTP, the order's etag as the client read it (If-Match): a
        # stale one is glue.StaleEtag (412), and nothing is cancelled.
        await ctx.state.update(
            ORDERS, cmd.order_id, {"status": "cancelled"}, etag=ctx.meta.if_match
        )
        ctx.emit(OrderCancelled(order_id=cmd.order_id, lines=lines))

    @shop.event(OrderCancelled)
    async def release_stock(evt: OrderCancelled, ctx: Context) -> AsyncIterator[Update]:
        for line in evt.lines:
            row = await ctx.state.require(STOCK, line.sku)
            yield Update(
                schema=STOCK,
                key=line.sku,
                changes={"quantity": row["quantity"] + line.quantity},
            )

    return shop


def _quantity(row: Any) -> int:
    return 0 if row is None else int(row["quantity"])
