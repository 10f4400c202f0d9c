"""``glue demo``: the example shop domain, run in memory, narrated.

The shop lives in the repository's ``domains/`` folder, beside ``glue/``; the demo
imports it from the current directory, so run it from the repository root
(``make demo`` does).
"""

from __future__ import annotations

import importlib
import os
import sys
from typing import Any

from ..domain.app import App
from ..domain.policy import Actor
from ..errors import Forbidden, GlueError, ValidationError

__all__ = ["run_demo"]


def _load_shop() -> Any:
    """Import ``domains.shop`` from the current directory."""
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        return importlib.import_module("domains.shop")
    except ImportError as exc:
        raise GlueError(
            "glue demo needs the example domains: run it from the root of the glue "
            f"repository, where the domains/ folder is ({exc})"
        ) from exc


async def run_demo() -> None:
    """Dispatch a few commands through the shop and print what happened."""
    shop_module = _load_shop()
    store = shop_module.Store()
    clerk = Actor(id="clerk", permissions=frozenset({"orders:write"}))
    admin = Actor(id="admin", permissions=frozenset({"orders:admin"}))
    async with App([shop_module.make_shop(store)]) as app:
        print("glue demo: the shop domain, in memory\n")
        registered = await app.bus.dispatch(
            app.decode(
                "shop:register-customer", b'{"name": "Ada", "email": "ada@example.org"}'
            ),
            actor=clerk,
        )
        print(f"1. registered a customer        -> {registered!r}")
        for sku, quantity in (("APL-001", 10), ("PER-002", 4)):
            await app.bus.dispatch(
                app.decode("shop:restock", {"sku": sku, "quantity": quantity}),
                actor=clerk,
            )
        print(f"2. restocked two articles       -> stock {store.stock}")
        order = app.decode(
            "shop:place-order",
            b'{"customer_id": 1, "lines": [{"sku": "APL-001", "quantity": 3},'
            b' {"sku": "PER-002", "quantity": 1}]}',
        )
        outcome = await app.bus.execute(order, actor=clerk)
        print(f"3. placed an order              -> {outcome.response!r}")
        print(f"   events {[type(e).__name__ for e in outcome.events]}")
        print(f"   stock reserved by the event handler: {store.stock}")
        try:
            await app.bus.dispatch(
                app.decode("shop:place-order", _order_with(sku="PER-002", quantity=9)),
                actor=clerk,
            )
        except ValidationError as exc:
            print(f"4. ordered more than in stock   -> {exc}")
            print(f"   nothing changed: stock {store.stock}")
        try:
            app.decode(
                "shop:place-order",
                b'{"customer_id": "one", "lines": [{"sku": "apple", "quantity": 0}]}',
            )
        except ValidationError as exc:
            print("5. sent a bad request           -> every bad field, by path:")
            for error in exc.errors:
                print(f"   {error.path}: {error.reason}")
        cancel = app.decode("shop:cancel-order", b'{"order_id": 1}')
        try:
            await app.bus.dispatch(cancel, actor=clerk)
        except Forbidden as exc:
            print(f"6. clerk cancels the order      -> Forbidden: {exc}")
        await app.bus.dispatch(cancel, actor=admin)
        print(f"7. admin cancels the order      -> stock back to {store.stock}")
        async with app.context(domain="shop", actor=admin) as ctx:
            tx = await ctx.resource("store")
            print(
                f"8. a context by hand            -> {len(tx.customers)} "
                f"customer(s), {len(tx.orders)} order(s); "
                f"'store' in ctx: {'store' in ctx}"
            )
        print("\naudit trail (written by the shop's middleware):")
        for line in store.audit:
            print(f"   {line}")


def _order_with(*, sku: str, quantity: int) -> dict[str, Any]:
    """An order payload for customer 1 with one line."""
    return {"customer_id": 1, "lines": [{"sku": sku, "quantity": quantity}]}
