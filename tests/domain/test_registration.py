"""E04, E05, freezing: what a Domain and an App accept at registration."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from glue import App, Command, Domain, Entity, Event, RegistrationError, Response

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from glue import Context


class CreateOrder(Command):
    customer_id: int


class CancelOrder(Command):
    order_id: int


class OrderCreated(Event):
    order_id: int


class OrderPlaced(Response):
    order_id: int


async def handle(cmd: Command, ctx: Context) -> None:
    return None


def test_a_domain_name_must_be_valid() -> None:
    Domain("shop")
    Domain("order_history")
    for bad in ("", "Shop", "two words", "shop:x"):
        with pytest.raises(RegistrationError, match="not valid"):
            Domain(bad)


def test_entities_register_under_their_names() -> None:
    shop = Domain("shop")
    shop.command(CreateOrder)(handle)
    shop.register(OrderCreated, OrderPlaced)
    expected: dict[str, type[Entity]] = {
        "create-order": CreateOrder,
        "order-created": OrderCreated,
        "order-placed": OrderPlaced,
    }
    assert shop.entities == expected
    shop.register(OrderCreated)  # the same class again is fine


def test_a_duplicate_name_in_one_domain_names_both_classes() -> None:
    class Other(Command, name="create-order"):
        pass

    shop = Domain("shop")
    shop.command(CreateOrder)(handle)
    with pytest.raises(RegistrationError) as info:
        shop.command(Other)(handle)
    message = str(info.value)
    assert "CreateOrder" in message and "Other" in message
    assert "'create-order'" in message


def test_two_domains_may_reuse_a_name() -> None:
    class ShopThing(Command, name="thing"):
        pass

    class BillingThing(Command, name="thing"):
        pass

    shop, billing = Domain("shop"), Domain("billing")
    shop.command(ShopThing)(handle)
    billing.command(BillingThing)(handle)
    app = App([shop, billing])
    assert app.registry.commands["shop:thing"].command is ShopThing
    assert app.registry.commands["billing:thing"].command is BillingThing


def test_exactly_one_handler_per_command() -> None:
    shop = Domain("shop")
    shop.command(CreateOrder)(handle)

    async def other(cmd: CreateOrder, ctx: Context) -> None:
        return None

    with pytest.raises(RegistrationError, match="already has a handler"):
        shop.command(CreateOrder)(other)


def test_a_handler_may_serve_several_commands() -> None:
    shop = Domain("shop")
    shop.command(CreateOrder, CancelOrder)(handle)
    assert {r.handler for r in shop.commands.values()} == {handle}


def test_a_handler_for_no_type_is_an_error() -> None:
    shop = Domain("shop")
    with pytest.raises(RegistrationError, match="at least one command type"):
        shop.command()
    with pytest.raises(RegistrationError, match="at least one event type"):
        shop.event()
    with pytest.raises(RegistrationError, match="takes Command classes"):
        shop.command(handle)  # type: ignore[arg-type]  # the mistake tested


def test_types_must_fit_the_decorator() -> None:
    shop = Domain("shop")
    with pytest.raises(RegistrationError, match="takes Command classes"):
        shop.command(OrderCreated)(handle)  # type: ignore[arg-type]  # the mistake
    with pytest.raises(RegistrationError, match="takes Event classes"):
        shop.event(CreateOrder)(handle)  # type: ignore[arg-type]  # the mistake
    with pytest.raises(RegistrationError, match="base itself"):
        shop.command(Command)(handle)
    with pytest.raises(RegistrationError, match="takes Entity classes"):
        shop.register(int)  # type: ignore[arg-type]  # the mistake tested


def test_handlers_must_be_async() -> None:
    shop = Domain("shop")

    def sync(cmd: CreateOrder, ctx: Context) -> None:
        return None

    with pytest.raises(RegistrationError, match="async function or an async gen"):
        shop.command(CreateOrder)(sync)
    with pytest.raises(RegistrationError, match="async function or an async gen"):
        shop.event(OrderCreated)(sync)


def test_resources_and_middleware_must_be_async_generators() -> None:
    shop = Domain("shop")

    async def not_a_generator(ctx: Context) -> None:
        return None

    with pytest.raises(RegistrationError, match="must be an async generator"):
        shop.resource("clock")(not_a_generator)
    with pytest.raises(RegistrationError, match="must be an async generator"):
        shop.middleware(not_a_generator)

    @shop.resource
    async def clock(ctx: Context) -> AsyncIterator[float]:
        yield 1.0

    assert shop.resources == {"clock": clock}
    with pytest.raises(RegistrationError, match="already has a resource 'clock'"):
        shop.resource("clock")(clock)


def test_requires_takes_permission_names() -> None:
    shop = Domain("shop")
    with pytest.raises(RegistrationError, match="permission names"):
        shop.command(CreateOrder, requires={""})
    shop.command(CreateOrder, requires="orders:write")(handle)
    assert shop.commands[CreateOrder].requires == {"orders:write"}


def test_building_an_app_freezes_its_domains() -> None:
    shop = Domain("shop")
    shop.command(CreateOrder)(handle)
    App([shop])
    assert shop.frozen
    with pytest.raises(RegistrationError, match="an App was already built"):
        shop.command(CancelOrder)(handle)
    with pytest.raises(RegistrationError, match="an App was already built"):
        shop.register(OrderCreated)


def test_domains_of_an_app_must_not_clash() -> None:
    first, second = Domain("shop"), Domain("shop")
    with pytest.raises(RegistrationError, match="two domains are named 'shop'"):
        App([first, second])
    one, two = Domain("one"), Domain("two")
    one.command(CreateOrder)(handle)
    two.command(CreateOrder)(handle)
    with pytest.raises(RegistrationError, match="handled by two domains"):
        App([one, two])


class OrderShipped(Event):
    order_id: int


class CustomerMoved(Event):
    customer_id: int


def test_a_subscriber_takes_all_or_none_of_an_aggregates_events() -> None:
    """One sequence per aggregate: a subscriber sent only some of its numbers
    would wait forever for the others, so the App refuses it."""

    def orders() -> Domain:
        domain = Domain("orders")
        domain.register(OrderCreated, OrderShipped, aggregate="order_id")
        return domain

    async def note(event: Event, ctx: Context) -> None:
        return None

    whole = orders()
    whole.subscriber(OrderCreated, OrderShipped)(note)
    App([whole], databases={"default": "sqlite:///unopened.db"})

    split = orders()
    split.subscriber(OrderCreated)(note)
    split.subscriber(OrderShipped, name="orders.shipped")(note)
    with pytest.raises(RegistrationError, match="OrderShipped") as raised:
        App([split], databases={"default": "sqlite:///unopened.db"})
    assert "orders.note" in str(raised.value)


def test_each_aggregate_field_is_a_sequence_of_its_own() -> None:
    """Order 5 and customer 5 are two aggregates: a subscriber may take the
    events of one and not the other."""
    domain = Domain("orders")
    domain.register(OrderCreated, OrderShipped, aggregate="order_id")
    domain.register(CustomerMoved, aggregate="customer_id")

    async def note(event: Event, ctx: Context) -> None:
        return None

    domain.subscriber(OrderCreated, OrderShipped)(note)
    domain.subscriber(CustomerMoved, name="orders.moved")(note)
    App([domain], databases={"default": "sqlite:///unopened.db"})
