"""The shop domain: its handlers, its ``store`` resource and its audit middleware."""

from __future__ import annotations

from typing import TYPE_CHECKING

from glue import Context, Domain, NotFound, ValidationError
from glue.errors import FieldError

from .entities import (
    CancelOrder,
    CustomerRegistered,
    OrderAccepted,
    OrderCancelled,
    OrderPlaced,
    PlaceOrder,
    RegisterCustomer,
    Registered,
    Restock,
    StockChanged,
)
from .store import Store, Transaction

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

__all__ = ["make_shop"]


def make_shop(store: Store | None = None) -> Domain:
    """Build the shop domain over ``store`` (a new, empty one by default)."""
    data = Store() if store is None else store
    shop = Domain("shop")

    @shop.resource("store")
    async def transaction(ctx: Context) -> AsyncIterator[Transaction]:
        tx = data.begin()
        yield tx  # an error in the dispatch is raised here: nothing is committed
        tx.commit()

    @shop.middleware
    async def audit(ctx: Context) -> AsyncIterator[None]:
        try:
            yield
        except Exception as exc:
            data.audit.append(f"{ctx.request_id} failed: {type(exc).__name__}")
            raise
        data.audit.append(f"{ctx.request_id} ok")

    @shop.command(RegisterCustomer)
    async def register_customer(
        cmd: RegisterCustomer, ctx: Context
    ) -> AsyncIterator[CustomerRegistered | Registered]:
        tx: Transaction = await ctx.resource("store")
        customer_id = len(tx.customers) + 1
        tx.customers[customer_id] = {"name": cmd.name, "email": cmd.email}
        yield CustomerRegistered(customer_id=customer_id, name=cmd.name)
        yield Registered(customer_id=customer_id)

    @shop.event(CustomerRegistered)
    async def welcome(evt: CustomerRegistered, ctx: Context) -> None:
        data.audit.append(f"welcome mail queued for customer {evt.customer_id}")

    @shop.command(Restock)
    async def restock(cmd: Restock, ctx: Context) -> None:
        ctx.emit(StockChanged(sku=cmd.sku, delta=cmd.quantity))

    @shop.command(PlaceOrder)
    async def place_order(
        cmd: PlaceOrder, ctx: Context
    ) -> AsyncIterator[OrderPlaced | OrderAccepted]:
        tx: Transaction = await ctx.resource("store")
        if cmd.customer_id not in tx.customers:
            raise NotFound("customers", cmd.customer_id)
        short = [
            FieldError(
                f"$.lines[{i}].quantity", f"only {tx.stock.get(line.sku, 0)} left"
            )
            for i, line in enumerate(cmd.lines)
            if tx.stock.get(line.sku, 0) < line.quantity
        ]
        if short:
            raise ValidationError("shop:place-order", short)
        order_id = len(tx.orders) + 1
        tx.orders[order_id] = {"customer_id": cmd.customer_id, "lines": cmd.lines}
        yield OrderPlaced(
            order_id=order_id, customer_id=cmd.customer_id, lines=cmd.lines
        )
        yield OrderAccepted(
            order_id=order_id, articles=sum(line.quantity for line in cmd.lines)
        )

    @shop.event(OrderPlaced)
    async def reserve_stock(evt: OrderPlaced, ctx: Context) -> None:
        tx: Transaction = await ctx.resource("store")
        for line in evt.lines:
            tx.stock[line.sku] -= line.quantity

    @shop.command(CancelOrder, requires={"orders:admin"})
    async def cancel_order(cmd: CancelOrder, ctx: Context) -> None:
        tx: Transaction = await ctx.resource("store")
        order = tx.orders.pop(cmd.order_id, None)
        if order is None:
            raise NotFound("orders", cmd.order_id)
        ctx.emit(OrderCancelled(order_id=cmd.order_id, lines=order["lines"]))

    @shop.event(OrderCancelled)
    async def release_stock(evt: OrderCancelled, ctx: Context) -> None:
        tx: Transaction = await ctx.resource("store")
        for line in evt.lines:
            tx.stock[line.sku] += line.quantity

    @shop.event(StockChanged)
    async def apply_stock(evt: StockChanged, ctx: Context) -> None:
        tx: Transaction = await ctx.resource("store")
        tx.stock[evt.sku] = tx.stock.get(evt.sku, 0) + evt.delta

    return shop
