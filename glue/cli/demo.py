"""``glue demo``: the example shop domain, run on real databases, narrated.

By default the shop gets two SQLite files in a temporary directory: ``shop.sqlite``
(customers, stock) and ``orders.sqlite`` (orders and their lines),
so no server is needed and the closing query joins tables of two databases. With
``--database URL`` every table lives in that one database instead.

The shop lives in the repository's ``domains/`` folder, beside ``glue/``; the demo
imports it from the current directory, so run it from the repository root
(``make demo`` does).
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio

from ..domain.policy import Actor
from ..errors import Forbidden, GlueError, ValidationError
from ..query import (
    Condition,
    Conditions,
    FieldReference,
    JoinQuery,
    OrderByQuery,
    QueryStatement,
    SchemaReference,
)
from .loading import import_from_cwd

if TYPE_CHECKING:
    from ..domain.app import App

__all__ = ["run_demo"]

_CONCURRENT_ORDERS = 8
"""Orders placed at once in step 8, competing for stock."""


def _load_shop() -> Any:
    """Import ``domains.shop`` from the current directory."""
    try:
        return import_from_cwd("domains.shop")
    except ImportError as exc:
        raise GlueError(
            "glue demo needs the example domains: run it from the root of the glue "
            f"repository, where the domains/ folder is ({exc})"
        ) from exc


async def run_demo(database: str | None = None) -> None:
    """Run the shop on ``database`` (a URL), or on SQLite files in a temporary
    directory, and print what happened."""
    shop_module = _load_shop()
    if database is not None:
        await _narrate(shop_module, {"default": database}, database)
        return
    with tempfile.TemporaryDirectory(prefix="glue-demo-") as folder:
        databases = {
            "default": f"sqlite:///{Path(folder) / 'shop.sqlite'}",
            "orders": f"sqlite:///{Path(folder) / 'orders.sqlite'}",
        }
        await _narrate(shop_module, databases, "two SQLite files in a temp dir")


async def _narrate(shop: Any, databases: dict[str, str], where: str) -> None:
    clerk = Actor(id="clerk", permissions=frozenset({"orders:write"}))
    admin = Actor(id="admin", permissions=frozenset({"orders:admin"}))
    async with shop.make_app(databases) as app:
        print(f"glue demo: the shop domain on {where}\n")
        routes = {
            name: app.connections.get_connection_pool(name).name
            for name in app.registry.tables
        }
        print("0. opened the databases, created the tables:")
        for table, pool in routes.items():
            print(f"   {table:<12} in {pool}")

        async def dispatch(name: str, payload: Any, actor: Actor = clerk) -> Any:
            outcome = await app.bus.execute(app.decode(name, payload), actor=actor)
            return outcome

        registered = await dispatch(
            "shop:register-customer", b'{"name": "Ada", "email": "ada@example.org"}'
        )
        print(
            f"1. registered a customer        -> {registered.response!r}, "
            f"{registered.written} rows written"
        )
        for sku, quantity in (("APL-001", 10), ("PER-002", 4)):
            await dispatch("shop:restock", {"sku": sku, "quantity": quantity})
        print(f"2. restocked two articles       -> stock {await _stock(app, shop)}")
        placed = await dispatch(
            "shop:place-order",
            b'{"customer_id": 1, "lines": [{"sku": "APL-001", "quantity": 3},'
            b' {"sku": "PER-002", "quantity": 1}]}',
        )
        print(f"3. placed an order              -> {placed.response!r}")
        print(
            f"   events {[type(e).__name__ for e in placed.events]}, "
            f"{placed.written} rows written in one unit of work"
        )
        print(f"   stock reserved by the event handler: {await _stock(app, shop)}")
        try:
            await dispatch("shop:place-order", _order_with(sku="PER-002", quantity=9))
        except ValidationError as exc:
            print(f"4. ordered more than in stock   -> {exc}")
            print(f"   nothing changed: stock {await _stock(app, shop)}")
        try:
            app.decode(
                "shop:place-order",
                b'{"customer_id": "one", "lines": [{"sku": "apple", "quantity": 0}]}',
            )
        except ValidationError as exc:
            print("5. sent a bad request           -> every bad field, by path:")
            for error in exc.errors:
                print(f"   {error.path}: {error.reason}")
        try:
            await dispatch("shop:cancel-order", b'{"order_id": 1}')
        except Forbidden as exc:
            print(f"6. clerk cancels the order      -> Forbidden: {exc}")
        await dispatch("shop:cancel-order", b'{"order_id": 1}', admin)
        stock = await _stock(app, shop)
        print(f"7. admin cancels the order      -> stock back to {stock}")

        attempts: list[int] = []

        async def order_one() -> None:
            outcome = await dispatch(
                "shop:place-order", _order_with(sku="APL-001", quantity=1)
            )
            attempts.append(outcome.attempts)

        async with anyio.create_task_group() as group:
            for _ in range(_CONCURRENT_ORDERS):
                group.start_soon(order_one)
        retried = sum(n - 1 for n in attempts)
        print(
            f"{f'8. {_CONCURRENT_ORDERS} orders placed at once':<32}-> "
            f"{retried} conflict(s) at commit retried, every order placed; "
            f"stock {await _stock(app, shop)}"
        )

        statement = _orders_by_customer()
        result = await app.query(statement)
        print("9. a query across the tables    -> customers joined with orders:")
        for row in result[:3]:
            print(f"   {row}")
        if len(result) > 3:
            print(f"   ... {len(result)} rows")
        print("   its plan:")
        for line in (await app.explain(statement)).splitlines():
            print(f"   {line}")


async def _stock(app: App, shop: Any) -> dict[str, int]:
    rows = await app.query(
        QueryStatement(
            table=SchemaReference(name=shop.STOCK.name),
            order_by=[OrderByQuery(field=FieldReference.of("stock", "sku"))],
        )
    )
    return {row["sku"]: row["quantity"] for row in rows}


def _orders_by_customer() -> QueryStatement:
    return QueryStatement(
        table=SchemaReference(name="orders", alias="o"),
        only=[
            FieldReference.of("o", "id"),
            FieldReference.of("c", "name"),
            FieldReference.of("o", "status"),
            FieldReference.of("o", "articles"),
        ],
        joins=[
            JoinQuery(
                table=SchemaReference(name="customers", alias="c"),
                on=Conditions(
                    Condition(
                        field=FieldReference.of("c", "id"),
                        value=FieldReference.of("o", "customer_id"),
                    )
                ),
            )
        ],
        order_by=[OrderByQuery(field=FieldReference.of("o", "id"))],
    )


def _order_with(*, sku: str, quantity: int) -> dict[str, Any]:
    """An order payload for customer 1 with one line."""
    return {"customer_id": 1, "lines": [{"sku": sku, "quantity": quantity}]}
