"""``glue demo``: the example shop, three domains on three databases, narrated.

The shop (the repository's ``domains/shop``) is three domains, customers,
inventory and orders, each with its own database, that talk only through events
delivered by subscribers. By default each gets a SQLite file in a temporary
directory (``customers.sqlite``, ``inventory.sqlite``, ``orders.sqlite``), so no
server is needed, the subscribers run in this process after each commit, and
the closing query joins tables of two databases. With ``--database URL`` the
three domains share that one database instead.

The demo imports the shop from the current directory, so run it from the
repository root (``make demo`` does).
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio

from ..domain.policy import Actor
from ..errors import Forbidden, GlueError, ValidationError
from ..outbox.status import drain
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

_CONCURRENT_ORDERS = 12
"""Orders placed at once in step 8, competing for 10 apples."""

_DOMAINS = ("customers", "inventory", "orders")


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
        await _narrate(shop_module, {"default": database}, "one database")
        return
    with tempfile.TemporaryDirectory(prefix="glue-demo-") as folder:
        databases = {
            name: f"sqlite:///{Path(folder) / f'{name}.sqlite'}" for name in _DOMAINS
        }
        await _narrate(shop_module, databases, "three SQLite files in a temp dir")


async def _narrate(shop: Any, databases: dict[str, str], where: str) -> None:
    clerk = Actor(id="clerk", permissions=frozenset({"orders:write"}))
    admin = Actor(id="admin", permissions=frozenset({"orders:admin"}))
    async with shop.make_app(databases, delivery="in-process") as app:
        print(f"glue demo: the shop as three domains on {where}\n")
        print("0. opened the databases, created the tables:")
        for name, scope in app.registry.domains.items():
            for table in scope.tables:
                pool = app.connections.get_connection_pool(table).name
                print(f"   {name:<10} {table:<16} in {pool}")
        print(
            "   the domains share no table: they talk through events, which each\n"
            "   commit writes to its database's outbox and subscribers take after\n"
            "   it (here in this process; on PostgreSQL in `glue worker`s)"
        )

        async def dispatch(name: str, payload: Any, actor: Actor = clerk) -> Any:
            return await app.bus.execute(app.decode(name, payload), actor=actor)

        registered = await dispatch(
            "customers:register-customer",
            b'{"name": "Ada", "email": "ada@example.org"}',
        )
        print(
            f"1. registered a customer        -> {registered.response!r}, "
            f"{registered.written} row written"
        )
        await drain(app)
        known = [row["name"] for row in await _rows(app, "known_customers", "id")]
        print(f"   the orders domain heard of it (CustomerRegistered): knows {known}")
        for sku, quantity in (("APL-001", 10), ("PER-002", 4)):
            await dispatch("inventory:restock", {"sku": sku, "quantity": quantity})
        print(f"2. restocked two articles       -> stock {await _stock(app)}")

        placed = await dispatch(
            "orders:place-order",
            b'{"customer_id": 1, "lines": [{"sku": "APL-001", "quantity": 3},'
            b' {"sku": "PER-002", "quantity": 1}]}',
        )
        order = placed.response.order_id
        print(f"3. placed an order              -> {placed.response!r}")
        events = ", ".join(type(e).__name__ for e in placed.events)
        print(f"   the order and its {events} event committed together, in orders")
        await drain(app)
        print(
            "   the inventory's subscriber took OrderPlaced and set the articles\n"
            f"   aside: stock {await _stock(app)}; it answered StockReserved, and\n"
            f"   the orders domain's subscriber marked order {order} "
            f"{await _status(app, order)}"
        )

        short = await dispatch(
            "orders:place-order", _order_with(sku="PER-002", quantity=9)
        )
        await drain(app)
        print(f"4. ordered 9 of 3 in stock      -> {short.response!r}")
        print(
            "   the inventory set nothing aside (stock "
            f"{await _stock(app)}) and\n   answered StockShort: order "
            f"{short.response.order_id} is "
            f"{await _status(app, short.response.order_id)}"
        )
        try:
            app.decode(
                "orders:place-order",
                b'{"customer_id": "one", "lines": [{"sku": "apple", "quantity": 0}]}',
            )
        except ValidationError as exc:
            print("5. sent a bad request           -> every bad field, by path:")
            for error in exc.errors:
                print(f"   {error.path}: {error.reason}")
        cancel = f'{{"order_id": {order}}}'.encode()
        try:
            await dispatch("orders:cancel-order", cancel)
        except Forbidden as exc:
            print(f"6. clerk cancels the order      -> Forbidden: {exc}")
        await dispatch("orders:cancel-order", cancel, admin)
        await drain(app)
        print(
            f"7. admin cancels the order      -> order {order} is "
            f"{await _status(app, order)}"
        )
        print(
            "   OrderCancelled reached the inventory, which put the articles "
            f"back:\n   stock {await _stock(app)}"
        )

        ids: list[int] = []

        async def order_one() -> None:
            outcome = await dispatch(
                "orders:place-order", _order_with(sku="APL-001", quantity=1)
            )
            ids.append(outcome.response.order_id)

        async with anyio.create_task_group() as group:
            for _ in range(_CONCURRENT_ORDERS):
                group.start_soon(order_one)
        await drain(app)
        statuses = [
            row["status"]
            for row in await _rows(app, "orders", "id")
            if row["id"] in ids
        ]
        print(
            f"{f'8. {_CONCURRENT_ORDERS} orders of 1 apple at once':<32}-> "
            f"{statuses.count('accepted')} accepted, "
            f"{statuses.count('rejected')} rejected: the inventory sells\n"
            f"   what it has, no more; stock {await _stock(app)}"
        )

        statement = _orders_by_customer()
        result = await app.query(statement)
        print("9. one query over two domains   -> orders joined with customers:")
        for row in result[:3]:
            print(f"   {row}")
        if len(result) > 3:
            print(f"   ... {len(result)} rows")
        print("   its plan:")
        for line in (await app.explain(statement)).splitlines():
            print(f"   {line}")


async def _rows(app: App, table: str, key: str) -> list[dict[str, Any]]:
    return list(
        await app.query(
            QueryStatement(
                table=SchemaReference(name=table),
                order_by=[OrderByQuery(field=FieldReference.of(table, key))],
            )
        )
    )


async def _stock(app: App) -> dict[str, int]:
    return {row["sku"]: row["quantity"] for row in await _rows(app, "stock", "sku")}


async def _status(app: App, order_id: int) -> str:
    rows = await _rows(app, "orders", "id")
    return next(str(row["status"]) for row in rows if row["id"] == order_id)


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
