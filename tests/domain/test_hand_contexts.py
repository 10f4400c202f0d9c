"""Contexts of a domain opened by hand (``async with app.context(domain=...)``)
have a unit of work: opened on first use, committed on a clean exit, rolled back
on error or cancellation, never retried."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import anyio
import pytest

from glue import App, ConcurrencyConflict, ContextError, Domain, Forbidden, Service
from glue.work import Repository, current_unit

from .test_data import (
    COUNTERS,
    INVOICES,
    ORDERS,
    OrderRepository,
    billing_and_shop,
    checked_out,
    rows,
    seed_counter,
    shop_domain,
)

if TYPE_CHECKING:
    from pathlib import Path


class Counters(Repository[Any]):
    schema = COUNTERS


async def test_a_clean_exit_commits(database_url: str) -> None:
    async with App(
        [shop_domain()], databases={"default": database_url}, create_tables=True
    ) as app:
        async with app.context(domain="shop", actor="alice") as ctx:
            assert current_unit() is None  # opened on first use
            await ctx.state.insert(ORDERS, {"id": 1, "customer": "ada"})
            assert current_unit() is ctx.unit
            assert await rows(app, "orders") == []  # not before the exit
        ((order),) = await rows(app, "orders")
        assert order["customer"] == "ada" and order["created_by"] == "alice"
        assert current_unit() is None
        assert checked_out(app) == 0


async def test_an_error_rolls_back(database_url: str) -> None:
    async with App(
        [shop_domain()], databases={"default": database_url}, create_tables=True
    ) as app:
        with pytest.raises(RuntimeError, match="out of stock"):
            async with app.context(domain="shop") as ctx:
                await ctx.state.insert(ORDERS, {"id": 1, "customer": "ada"})
                await ctx.unit.flush()  # written in its transaction, not committed
                raise RuntimeError("out of stock")
        assert await rows(app, "orders") == []
        assert checked_out(app) == 0


async def test_a_cancellation_rolls_back(database_url: str) -> None:
    async with App(
        [shop_domain()], databases={"default": database_url}, create_tables=True
    ) as app:
        with anyio.CancelScope() as scope:
            async with app.context(domain="shop") as ctx:
                await ctx.state.insert(ORDERS, {"id": 1, "customer": "ada"})
                await ctx.unit.flush()
                scope.cancel()
                await anyio.sleep(1)
        assert scope.cancelled_caught
        assert await rows(app, "orders") == []
        assert checked_out(app) == 0


async def test_a_context_that_touches_no_data_opens_no_unit(
    database_url: str,
) -> None:
    async with App(
        [shop_domain()], databases={"default": database_url}, create_tables=True
    ) as app:
        async with app.context(domain="shop") as ctx:
            assert ctx.domain == "shop"
        assert current_unit() is None
        assert checked_out(app) == 0


async def test_an_undeclared_table_is_forbidden(
    database_url: str, tmp_path: Path
) -> None:
    shop, billing, _ = billing_and_shop()
    databases = {
        "default": database_url,
        "billing": f"sqlite:///{tmp_path / 'billing.sqlite'}",
    }
    async with App([shop, billing], databases=databases, create_tables=True) as app:
        with pytest.raises(Forbidden, match="table 'invoices'"):
            async with app.context(domain="shop") as ctx:
                await ctx.state.insert(ORDERS, {"id": 1, "customer": "ada"})
                await ctx.state.insert(INVOICES, {"id": 1, "order_id": 1})
        assert await rows(app, "orders") == []
        async with app.context(domain="billing") as ctx:
            await ctx.state.insert(INVOICES, {"id": 1, "order_id": 1})
        assert len(await rows(app, "invoices")) == 1


async def test_a_repository_built_first_writes_through_the_unit(
    database_url: str,
) -> None:
    async with App(
        [shop_domain()], databases={"default": database_url}, create_tables=True
    ) as app:
        async with app.context(domain="shop") as ctx:
            repo = OrderRepository()  # before anything opened the unit
            await repo.create({"id": 4, "customer": "ada"})
            assert repo.unit is ctx.unit
            assert (await ctx.state.require(ORDERS, 4))["customer"] == "ada"
        assert [order["id"] for order in await rows(app, "orders")] == [4]


async def test_a_deferred_call_writes_through_the_context_unit(
    database_url: str,
) -> None:
    shop = shop_domain()

    class OrderService(Service):
        async def place(self, order_id: int, customer: str) -> None:
            await OrderRepository().create({"id": order_id, "customer": customer})
            counter = await Counters().get("orders")
            if counter is None:
                await self.ctx.state.insert(COUNTERS, {"name": "orders", "value": 1})
            else:
                await self.ctx.state.update(
                    COUNTERS, "orders", {"value": counter["value"] + 1}
                )

    shop.service("orders", OrderService())
    async with App(
        [shop], databases={"default": database_url}, create_tables=True
    ) as app:
        call = app.dal.orders.place(1, "ada")  # built outside any context
        with pytest.raises(ContextError, match="needs an active context"):
            await call()
        async with app.context(domain="shop", actor="clerk"):
            await call()
        ((order),) = await rows(app, "orders")
        assert order["customer"] == "ada" and order["created_by"] == "clerk"
        ((counter),) = await rows(app, "counters")
        assert counter["value"] == 1


async def test_a_conflict_on_exit_reaches_the_caller(database_url: str) -> None:
    async with App(
        [shop_domain()], databases={"default": database_url}, create_tables=True
    ) as app:
        await seed_counter(app, "hits", 0)
        with pytest.raises(ConcurrencyConflict, match="counters"):
            async with app.context(domain="shop") as ctx:
                row = await ctx.state.require(COUNTERS, "hits")
                async with app.context(domain="shop") as other:
                    await other.state.update(COUNTERS, "hits", {"value": 10})
                await ctx.state.update(COUNTERS, "hits", {"value": row["value"] + 1})
        ((counter),) = await rows(app, "counters")
        assert counter["value"] == 10
        assert checked_out(app) == 0


async def test_without_databases_there_is_no_unit() -> None:
    async with App([Domain("plain")]) as app, app.context(domain="plain") as ctx:
        with pytest.raises(ContextError, match="databases"):
            _ = ctx.state
        assert current_unit() is None
