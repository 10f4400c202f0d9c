"""glue in one file: a domain, a command, an event, a resource, a middleware.

Run it from the repository root::

    .venv/bin/python examples/quickstart.py
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Annotated

import anyio
from msgspec import Meta

import glue.log
from glue import (
    Actor,
    App,
    Command,
    Context,
    Domain,
    Event,
    Forbidden,
    Response,
    ValidationError,
)

if TYPE_CHECKING:
    from collections.abc import AsyncIterator


class CreateOrder(Command):
    customer_id: int
    items: list[str]
    total: Annotated[float, Meta(gt=0)]


class DeleteOrder(Command, forbid_unknown_fields=True):
    order_id: int


class OrderCreated(Event):
    order_id: int
    items: list[str]


class OrderPlaced(Response):
    order_id: int
    placed_at: float


shop = Domain("shop")
orders: dict[int, CreateOrder] = {}


@shop.resource("clock")
async def clock(ctx: Context) -> AsyncIterator[float]:
    yield time.time()  # set up on first use, once per dispatch


@shop.middleware
async def report(ctx: Context) -> AsyncIterator[None]:
    try:
        yield
    except Exception as exc:
        print(f"   [middleware] request {ctx.meta.source} failed: {exc}")
        raise


@shop.command(CreateOrder)
async def create_order(
    cmd: CreateOrder, ctx: Context
) -> AsyncIterator[OrderCreated | OrderPlaced]:
    order_id = len(orders) + 1
    orders[order_id] = cmd
    yield OrderCreated(order_id=order_id, items=cmd.items)
    yield OrderPlaced(order_id=order_id, placed_at=await ctx.resource("clock"))


@shop.event(OrderCreated)
async def on_created(evt: OrderCreated, ctx: Context) -> None:
    print(f"   [event] order {evt.order_id} created with {len(evt.items)} items")


@shop.command(DeleteOrder, requires={"orders:admin"})
async def delete_order(cmd: DeleteOrder, ctx: Context) -> None:
    del orders[cmd.order_id]


async def main() -> None:
    user = Actor(id="ada", permissions=frozenset({"orders:write"}))
    async with App([shop]) as app:
        body = b'{"customer_id": 1, "items": ["apple", "pear"], "total": 9.5}'
        cmd = app.decode("shop:create-order", body)
        placed = await app.bus.dispatch(cmd, actor=user, meta={"source": "web"})
        print(f"placed: {placed}")

        try:
            app.decode("shop:create-order", b'{"items": ["apple", 2], "total": -1}')
        except ValidationError as exc:
            print(f"rejected before any handler ran: {exc}")

        try:
            await app.bus.dispatch(
                DeleteOrder(order_id=1), actor=user, meta={"source": "cli"}
            )
        except Forbidden as exc:
            print(f"refused by the policy: {exc}")
        print(f"orders still stored: {sorted(orders)}")


if __name__ == "__main__":
    glue.log.configure("INFO")  # "DEBUG" logs every dispatch
    anyio.run(main)
