"""The example shop (domains/shop) on SQLite and PostgreSQL, through the real bus."""

from __future__ import annotations

import anyio
import pytest

from domains.shop import (
    CancelOrder,
    OrderAccepted,
    OrderLine,
    PlaceOrder,
    RegisterCustomer,
    Registered,
    Restock,
    make_shop,
)
from glue import Actor, App, NotFound, ValidationError
from glue.query import FieldReference, OrderByQuery, QueryStatement, SchemaReference

ADMIN = Actor(id="admin", permissions=frozenset({"orders:admin"}))


async def stock(app: App) -> dict[str, int]:
    rows = await app.query(
        QueryStatement(
            table=SchemaReference(name="stock"),
            order_by=[OrderByQuery(field=FieldReference.of("stock", "sku"))],
        )
    )
    return {row["sku"]: row["quantity"] for row in rows}


async def test_the_shop_sells_exactly_what_it_has(database_url: str) -> None:
    async with App(
        [make_shop()], databases={"default": database_url}, create_tables=True
    ) as app:
        registered = await app.bus.dispatch(
            RegisterCustomer(name="Ada", email="ada@example.org"), actor=ADMIN
        )
        assert registered == Registered(customer_id=1)
        await app.bus.dispatch(Restock(sku="APL-001", quantity=5))
        one = [OrderLine(sku="APL-001", quantity=1)]
        placed: list[object] = []
        refused: list[object] = []

        async def order() -> None:
            try:
                placed.append(
                    await app.bus.dispatch(PlaceOrder(customer_id=1, lines=one))
                )
            except ValidationError as exc:
                refused.append(exc)

        async with anyio.create_task_group() as group:
            for _ in range(8):
                group.start_soon(order)
        assert len(placed) == 5 and len(refused) == 3
        # Ids come in blocks: unique, but a retried or refused order used one too.
        order_ids = [p.order_id for p in placed if isinstance(p, OrderAccepted)]
        assert len(set(order_ids)) == 5 and min(order_ids) >= 1
        assert await stock(app) == {"APL-001": 0}
        await app.bus.dispatch(CancelOrder(order_id=order_ids[1]), actor=ADMIN)
        assert await stock(app) == {"APL-001": 1}
        with pytest.raises(NotFound, match=f"^orders {order_ids[1]} not found$"):
            await app.bus.dispatch(CancelOrder(order_id=order_ids[1]), actor=ADMIN)
        with pytest.raises(NotFound):
            await app.bus.dispatch(PlaceOrder(customer_id=9, lines=one))
