"""The example shop (domains/shop): three domains on their own databases, whose
order saga runs through subscribers, in this process (SQLite files, and one
PostgreSQL database).

Placing an order leaves it pending; the inventory's subscriber reserves its
stock (or finds it short) and answers by event; the orders domain's subscriber
accepts or rejects the order. A cancel releases the stock by event, and a
redelivered event changes nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import anyio
import pytest

from domains.shop import (
    CancelOrder,
    OrderLine,
    Placed,
    PlaceOrder,
    RegisterCustomer,
    Registered,
    Restock,
    make_app,
)
from glue import Actor, App, Forbidden, NotFound
from glue.outbox import Delivery, Envelope, deliver
from glue.outbox.rows import select
from glue.outbox.status import drain, status
from glue.outbox.tables import OUTBOX
from glue.query import FieldReference, OrderByQuery, QueryStatement, SchemaReference

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path

ADMIN = Actor(id="admin", permissions=frozenset({"orders:admin"}))
CLERK = Actor(id="clerk", permissions=frozenset({"orders:write"}))


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def databases(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, str]:
    """A SQLite file per domain, or the three domains in one PostgreSQL database."""
    if request.param == "postgres":
        return {"default": request.getfixturevalue("postgres_dsn")}
    return {
        name: f"sqlite:///{tmp_path / f'{name}.sqlite'}"
        for name in ("customers", "inventory", "orders")
    }


@pytest.fixture
async def shop(databases: dict[str, str]) -> AsyncIterator[App]:
    """The shop, subscribers in this process, with customer 1 (Ada), known to
    the orders domain, and 5 APL-001 in stock."""
    async with make_app(databases, delivery="in-process") as app:
        registered = await app.bus.dispatch(
            RegisterCustomer(name="Ada", email="ada@example.org")
        )
        assert registered == Registered(customer_id=1)
        await app.bus.dispatch(Restock(sku="APL-001", quantity=5))
        await drain(app)
        yield app


async def rows(app: App, table: str, key: str) -> list[dict[str, Any]]:
    return list(
        await app.query(
            QueryStatement(
                table=SchemaReference(name=table),
                order_by=[OrderByQuery(field=FieldReference.of(table, key))],
            )
        )
    )


async def stock(app: App) -> dict[str, int]:
    return {row["sku"]: row["quantity"] for row in await rows(app, "stock", "sku")}


async def order_status(app: App, order_id: int) -> str:
    found = [row["status"] for row in await rows(app, "orders", "id")]
    return str(found[order_id - 1])


def order(sku: str = "APL-001", quantity: int = 1) -> PlaceOrder:
    return PlaceOrder(customer_id=1, lines=[OrderLine(sku=sku, quantity=quantity)])


async def test_an_order_is_accepted_once_the_inventory_reserves_its_stock(
    shop: App,
) -> None:
    placed = await shop.bus.dispatch(order(quantity=3))
    assert placed == Placed(order_id=1, articles=3, status="pending")
    await drain(shop)
    assert await order_status(shop, 1) == "accepted"
    assert await stock(shop) == {"APL-001": 2}
    reservations = await rows(shop, "reservations", "order_id")
    assert [(r["order_id"], r["status"]) for r in reservations] == [(1, "reserved")]


async def test_an_order_short_of_stock_is_rejected_and_takes_nothing(
    shop: App,
) -> None:
    two_lines = PlaceOrder(
        customer_id=1,
        lines=[
            OrderLine(sku="APL-001", quantity=2),
            OrderLine(sku="PER-002", quantity=1),  # none in stock
        ],
    )
    await shop.bus.dispatch(two_lines)
    await shop.bus.dispatch(order(quantity=6))
    await drain(shop)
    assert [await order_status(shop, n) for n in (1, 2)] == ["rejected", "rejected"]
    assert await stock(shop) == {"APL-001": 5}
    reservations = await rows(shop, "reservations", "order_id")
    assert [r["status"] for r in reservations] == ["short", "short"]


async def test_cancelling_an_order_releases_its_stock(shop: App) -> None:
    await shop.bus.dispatch(order(quantity=4))
    await drain(shop)
    with pytest.raises(Forbidden):
        await shop.bus.dispatch(CancelOrder(order_id=1), actor=CLERK)
    await shop.bus.dispatch(CancelOrder(order_id=1), actor=ADMIN)
    await drain(shop)
    assert await order_status(shop, 1) == "cancelled"
    assert await stock(shop) == {"APL-001": 5}
    with pytest.raises(NotFound, match=r"^orders 1 not found$"):
        await shop.bus.dispatch(CancelOrder(order_id=1), actor=ADMIN)


async def test_an_order_cancelled_while_pending_stays_cancelled(shop: App) -> None:
    # The cancel may commit before the inventory answered: the inventory
    # still takes OrderPlaced before OrderCancelled, reserves, then releases.
    await shop.bus.dispatch(order(quantity=2))
    await shop.bus.dispatch(CancelOrder(order_id=1), actor=ADMIN)
    await drain(shop)
    assert await order_status(shop, 1) == "cancelled"
    assert await stock(shop) == {"APL-001": 5}
    reservations = await rows(shop, "reservations", "order_id")
    assert [r["status"] for r in reservations] == ["released"]


async def test_the_shop_sells_exactly_what_it_has(shop: App) -> None:
    async with anyio.create_task_group() as group:
        for _ in range(8):
            group.start_soon(shop.bus.dispatch, order())
    await drain(shop)
    statuses = [row["status"] for row in await rows(shop, "orders", "id")]
    assert sorted(statuses) == ["accepted"] * 5 + ["rejected"] * 3
    assert await stock(shop) == {"APL-001": 0}
    assert (await status(shop)).dead_letters == 0


async def test_only_a_customer_the_orders_domain_heard_of_may_order(
    shop: App,
) -> None:
    with pytest.raises(NotFound, match=r"^customers 9 not found$"):
        await shop.bus.dispatch(PlaceOrder(customer_id=9, lines=order().lines))
    known = await rows(shop, "known_customers", "id")
    assert [(c["id"], c["name"]) for c in known] == [(1, "Ada")]


async def test_a_redelivered_event_is_applied_once(shop: App) -> None:
    await shop.bus.dispatch(order(quantity=3))
    await drain(shop)
    orders_outbox = shop.outbox.home("orders")
    async with orders_outbox.acquire() as conn:
        written = await select(conn, OUTBOX, [("event", "eq", "orders:order-placed")])
    [placed] = [Envelope(**row) for row in written]
    for replay in (False, True):
        again = await deliver(shop, "inventory.hold_stock", placed, replay=replay)
        assert again.status is Delivery.DUPLICATE
    assert await stock(shop) == {"APL-001": 2}
    # The inventory answered once: one StockReserved in its outbox.
    async with shop.outbox.home("inventory").acquire() as conn:
        answers = await select(conn, OUTBOX, [("domain", "eq", "inventory")])
    assert [row["event"] for row in answers] == ["inventory:stock-reserved"]
