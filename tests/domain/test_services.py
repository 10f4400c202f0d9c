"""Services wired into domains (D01-D05 through the real bus): ``shop.service``,
``shop.service_middleware``, ``ctx.dal`` in every context of the domain, and
``app.dal`` for deferred calls."""

from __future__ import annotations

from typing import Any

import pytest

from glue import (
    App,
    Command,
    ConfigurationError,
    Context,
    Domain,
    RegistrationError,
    Response,
    Service,
    UnknownService,
)
from glue.schema import Column, ColumnType, Schema
from glue.services.dal import CallNext, DeferredCall, ServiceCall
from glue.work import Repository

ORDERS = Schema(
    name="orders",
    columns=(
        Column(name="id", type=ColumnType.INTEGER),
        Column(name="customer", type=ColumnType.TEXT),
    ),
    primary_key=("id",),
)


class Orders(Repository[Any]):
    schema = ORDERS


class OrderService(Service):
    async def create(self, order_id: int, customer: str) -> None:
        await self.ctx.state.insert(ORDERS, {"id": order_id, "customer": customer})

    async def customer_of(self, order_id: int) -> str | None:
        row = await Orders(self.ctx.unit).get(order_id)
        return None if row is None else str(row["customer"])

    async def describe(self, order_id: int) -> str:
        customer = await self.dal.orders.customer_of(order_id)
        return f"order {order_id} of {customer} ({self.meta.source})"


class Place(Command):
    id: int
    customer: str


class Described(Response):
    text: str


class RunLater(Command):
    call: Any


def shop_with_services(calls: list[str]) -> Domain:
    shop = Domain("shop")
    shop.table(ORDERS)
    shop.service("orders", OrderService())

    @shop.service_middleware
    async def record(request: ServiceCall, call_next: CallNext) -> Any:
        calls.append(request.path)
        return await call_next(request)

    @shop.command(Place)
    async def place(cmd: Place, ctx: Context) -> Described:
        await ctx.dal.orders.create(cmd.id, cmd.customer)
        describe = ctx.dal.resolve("orders.describe")
        return Described(text=await describe(cmd.id))

    @shop.command(RunLater)
    async def run_later(cmd: RunLater, ctx: Context) -> Described:
        return Described(text=await cmd.call())

    return shop


async def test_handlers_call_services_through_ctx_dal(database_url: str) -> None:
    calls: list[str] = []
    async with App(
        [shop_with_services(calls)],
        databases={"default": database_url},
        create_tables=True,
    ) as app:
        placed = await app.bus.dispatch(
            Place(id=1, customer="ada"), meta={"source": "web"}
        )
        assert placed == Described(text="order 1 of ada (web)")
        # The service read the row its own dispatch created: one unit of work.
        assert calls == ["orders.create", "orders.describe", "orders.customer_of"]


async def test_app_dal_makes_deferred_calls_run_in_a_dispatch(
    database_url: str,
) -> None:
    calls: list[str] = []
    async with App(
        [shop_with_services(calls)],
        databases={"default": database_url},
        create_tables=True,
    ) as app:
        await app.bus.dispatch(Place(id=7, customer="bea"), meta={"source": "cli"})
        later = app.dal.orders.describe(7)
        assert isinstance(later, DeferredCall)
        assert later.path == "orders.describe"
        done = await app.bus.dispatch(RunLater(call=later), meta={"source": "queue"})
        assert done == Described(text="order 7 of bea (queue)")
        assert app.dal_of("shop").orders.customer_of(7).args == (7,)
        async with app.context(domain="shop") as ctx:
            assert ctx.dal is ctx.dal  # built once, on first access
            with pytest.raises(UnknownService, match=r"orders\.nothing"):
                ctx.dal.resolve("orders.nothing")


async def test_contexts_without_a_domain_have_no_dal() -> None:
    async with App([Domain("empty")]) as app, app.context() as ctx:
        with pytest.raises(UnknownService, match="no services"):
            _ = ctx.dal
        assert getattr(ctx, "dal", None) is None  # an AttributeError too


def test_services_are_frozen_with_the_domain() -> None:
    shop = Domain("shop")
    shop.service("orders", OrderService())
    with pytest.raises(RegistrationError, match="registered twice"):
        shop.service("orders", OrderService())
    App([shop])
    assert shop.services.frozen
    with pytest.raises(RegistrationError, match="register a service"):
        shop.service("billing", OrderService())


def test_app_dal_asks_whose_when_several_domains_have_services() -> None:
    one, two = Domain("one"), Domain("two")
    one.service("a", OrderService())
    two.service("b", OrderService())
    app = App([one, two])
    with pytest.raises(ConfigurationError, match="dal_of"):
        _ = app.dal
    assert app.dal_of("two").services is two.services


# Swapping parts in tests: replace_service, replace_resource, override, patching ---


class Ask(Command):
    path: str


class Answer(Response):
    text: str


class Greeter(Service):
    async def hello(self) -> str:
        return "hello"


class Billing(Service):
    async def total(self) -> str:
        return "real total"


class FakeBilling(Service):
    async def total(self) -> str:
        return f"fake total, {await self.resource('clock')}"


def swappable(greeter: Greeter | None = None) -> Domain:
    """A domain with a nested service, a resource and a service middleware."""
    shop = Domain("swap")
    shop.service("greeter", greeter or Greeter())
    shop.service("money.billing", Billing())
    seen: list[str] = []

    @shop.resource("clock")
    async def clock(ctx: Context) -> Any:
        yield "real clock"

    @shop.service_middleware
    async def record(request: ServiceCall, call_next: CallNext) -> Any:
        seen.append(request.path)
        return await call_next(request)

    @shop.command(Ask)
    async def ask(cmd: Ask, ctx: Context) -> Answer:
        text = await ctx.dal.resolve(cmd.path)()
        return Answer(text=f"{text} at {await ctx.resource('clock')}")

    return shop


async def frozen_clock(ctx: Context) -> Any:
    yield "frozen clock"


async def test_replace_service_and_resource_swap_parts_of_one_app_only() -> None:
    shop = swappable()
    async with App([shop]) as app, App([shop]) as other:
        ask = Ask(path="money.billing.total")
        assert await app.bus.dispatch(ask) == Answer(text="real total at real clock")
        app.replace_service("money.billing", FakeBilling())
        app.replace_resource("clock", frozen_clock)
        assert await app.bus.dispatch(ask) == Answer(
            text="fake total, frozen clock at frozen clock"
        )
        async with app.context(domain="swap") as ctx:
            assert await ctx.dal.money.billing.total() == "fake total, frozen clock"
            assert await ctx.dal.greeter.hello() == "hello"
        # Another App of the same domain, and the domain itself, are unchanged.
        assert await other.bus.dispatch(ask) == Answer(text="real total at real clock")
        assert isinstance(shop.resources["clock"], type(frozen_clock))
        assert shop.resources["clock"] is not frozen_clock


async def test_override_puts_the_originals_back() -> None:
    async with App([swappable()]) as app:
        ask = Ask(path="money.billing.total")
        with app.override(
            services={"money.billing": FakeBilling()},
            resources={"clock": frozen_clock},
        ) as same:
            assert same is app
            assert await app.bus.dispatch(ask) == Answer(
                text="fake total, frozen clock at frozen clock"
            )
        assert await app.bus.dispatch(ask) == Answer(text="real total at real clock")
        # A failed replacement inside the block leaves nothing replaced.
        with (
            pytest.raises(UnknownService, match=r"money\.nothing"),
            app.override(
                services={"money.billing": FakeBilling(), "money.nothing": Greeter()}
            ),
        ):
            pass
        assert await app.bus.dispatch(ask) == Answer(text="real total at real clock")


async def test_a_service_method_patched_after_its_first_call_takes_effect() -> None:
    from unittest import mock

    greeter = Greeter()
    async with App([swappable(greeter)]) as app:
        ask = Ask(path="greeter.hello")
        assert await app.bus.dispatch(ask) == Answer(text="hello at real clock")
        async with app.context(domain="swap") as ctx:
            assert await ctx.dal.greeter.hello() == "hello"
        with mock.patch.object(Greeter, "hello", mock.AsyncMock(return_value="hi")):
            assert await app.bus.dispatch(ask) == Answer(text="hi at real clock")
            async with app.context(domain="swap") as ctx:
                assert await ctx.dal.greeter.hello() == "hi"
                assert await app.dal.greeter.hello()() == "hi"
        with mock.patch.object(greeter, "hello", mock.AsyncMock(return_value="hey")):
            assert await app.bus.dispatch(ask) == Answer(text="hey at real clock")
        assert await app.bus.dispatch(ask) == Answer(text="hello at real clock")


def test_replacements_are_checked() -> None:
    app = App([swappable(), Domain("bare")])
    cases: list[tuple[Any, type[Exception], str]] = [
        (
            lambda: app.replace_service("money.nothing", Greeter()),
            UnknownService,
            "no domain of this App has a service at 'money.nothing'",
        ),
        (
            lambda: app.replace_service("money.nothing", Greeter(), domain="swap"),
            UnknownService,
            "service 'money' has no 'nothing'; it has billing",
        ),
        (
            lambda: app.replace_service("greeter.hello", Greeter()),
            RegistrationError,
            "'greeter.hello' is a method, not a service",
        ),
        (
            lambda: app.replace_service("greeter", None),
            RegistrationError,
            "cannot register None as service 'greeter'",
        ),
        (
            lambda: app.replace_resource("calendar", frozen_clock),
            ConfigurationError,
            "no domain of this App declared a resource 'calendar' to replace "
            "(resources: clock)",
        ),
        (
            lambda: app.replace_resource("clock", frozen_clock, domain="bare"),
            ConfigurationError,
            "domain 'bare' has no resource 'clock' to replace (its resources: none)",
        ),
        (
            lambda: app.replace_resource("clock", print),  # type: ignore[arg-type]
            RegistrationError,
            "must be an async generator function",
        ),
    ]
    for replace, error, message in cases:
        with pytest.raises(error) as caught:
            replace()
        assert message in str(caught.value)
