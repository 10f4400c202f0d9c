"""E06-E10, E13, E14 and the bus's lifecycle, logging and deadlines."""

from __future__ import annotations

import logging
from functools import partial
from typing import TYPE_CHECKING, Any

import anyio
import msgspec
import pytest

from glue import (
    Actor,
    App,
    Command,
    ConfigurationError,
    Context,
    ContextError,
    Domain,
    Event,
    Forbidden,
    Ok,
    Response,
    UnknownCommand,
    ValidationError,
    current_context,
)
from glue.domain import AppState

if TYPE_CHECKING:
    from collections.abc import AsyncIterator


class CreateOrder(Command):
    customer_id: int
    items: list[str] = msgspec.field(default_factory=list)


class DeleteOrder(Command):
    order_id: int


class Ping(Command):
    pass


class OrderCreated(Event):
    order_id: int


class ItemAdded(Event):
    item: str


class Unregistered(Event):
    pass


class OrderPlaced(Response):
    order_id: int


def make_app(log: list[Any]) -> App:
    shop = Domain("shop")

    @shop.command(CreateOrder)
    async def create_order(
        cmd: CreateOrder, ctx: Context
    ) -> AsyncIterator[Event | Response]:
        log.append(("handler", cmd))
        yield OrderCreated(order_id=1)
        for item in cmd.items:
            if item == "emitted":
                ctx.emit(ItemAdded(item=item))
            else:
                yield ItemAdded(item=item)
        yield OrderPlaced(order_id=1)

    @shop.command(DeleteOrder, requires={"orders:admin"})
    async def delete_order(cmd: DeleteOrder, ctx: Context) -> None:
        log.append(("delete", cmd.order_id))

    @shop.event(OrderCreated)
    async def first(evt: OrderCreated, ctx: Context) -> AsyncIterator[str]:
        log.append(("first", evt))
        yield "insert order"
        yield "insert audit"

    @shop.event(OrderCreated, ItemAdded)
    async def second(evt: Event, ctx: Context) -> None:
        log.append(("second", evt))

    return App([shop])


async def test_an_async_function_handler_returns_its_response() -> None:
    shop = Domain("shop")

    @shop.command(DeleteOrder)
    async def delete(cmd: DeleteOrder, ctx: Context) -> OrderPlaced:
        return OrderPlaced(order_id=cmd.order_id)

    @shop.command(Ping)
    async def ping(cmd: Ping, ctx: Context) -> None:
        return None

    async with App([shop]) as app:
        assert await app.bus.dispatch(DeleteOrder(order_id=3)) == OrderPlaced(
            order_id=3
        )
        assert await app.bus.dispatch(Ping()) == Ok()


async def test_a_generator_handler_yields_events_then_its_response() -> None:
    log: list[Any] = []
    async with make_app(log) as app:
        outcome = await app.bus.execute(CreateOrder(customer_id=1, items=["a"]))
    assert outcome.response == OrderPlaced(order_id=1)
    assert outcome.events == (OrderCreated(order_id=1), ItemAdded(item="a"))
    assert outcome.completed


async def test_without_a_response_the_caller_gets_ok() -> None:
    shop = Domain("shop")

    @shop.command(Ping)
    async def ping(cmd: Ping, ctx: Context) -> AsyncIterator[OrderCreated]:
        yield OrderCreated(order_id=1)

    shop.register(OrderCreated)
    async with App([shop]) as app:
        assert await app.bus.dispatch(Ping()) == Ok()


async def test_events_route_to_every_handler_in_emission_order() -> None:
    log: list[Any] = []
    async with make_app(log) as app:
        cmd = CreateOrder(customer_id=1, items=["a", "emitted", "b"])
        outcome = await app.bus.execute(cmd)
    assert log == [
        ("handler", cmd),
        ("first", OrderCreated(order_id=1)),
        ("second", OrderCreated(order_id=1)),
        ("second", ItemAdded(item="a")),
        ("second", ItemAdded(item="emitted")),
        ("second", ItemAdded(item="b")),
    ]
    assert [type(e).__name__ for e in outcome.events] == [
        "OrderCreated",
        "ItemAdded",
        "ItemAdded",
        "ItemAdded",
    ]


async def test_event_handlers_yield_mutations_collected_in_order() -> None:
    async with make_app([]) as app:
        outcome = await app.bus.execute(CreateOrder(customer_id=1))
    assert outcome.mutations == ("insert order", "insert audit")


@pytest.mark.parametrize(
    ("yielded", "message"),
    [
        ([OrderPlaced(order_id=1), OrderPlaced(order_id=2)], "second response"),
        ([42], "yielded 42"),
        ([Unregistered()], "did not register"),
        ([Ping()], "yielded Ping()"),
    ],
)
async def test_what_a_command_handler_may_not_yield(
    yielded: list[Any], message: str
) -> None:
    shop = Domain("shop")
    closed: list[bool] = []

    @shop.command(Ping)
    async def ping(cmd: Ping, ctx: Context) -> AsyncIterator[Any]:
        try:
            for item in yielded:
                yield item
        finally:
            closed.append(True)

    async with App([shop]) as app:
        with pytest.raises(ConfigurationError, match=message):
            await app.bus.dispatch(Ping())
    assert closed == [True]


async def test_emitting_an_unregistered_event_fails_at_the_call() -> None:
    shop = Domain("shop")

    @shop.command(Ping)
    async def ping(cmd: Ping, ctx: Context) -> None:
        ctx.emit(Unregistered())

    async with App([shop]) as app:
        with pytest.raises(ConfigurationError, match="Unregistered, which domain"):
            await app.bus.dispatch(Ping())


async def test_a_handler_returning_something_else_is_an_error() -> None:
    shop = Domain("shop")

    @shop.command(Ping)
    async def ping(cmd: Ping, ctx: Context) -> Any:
        return {"not": "a response"}

    @shop.command(DeleteOrder)
    async def delete(cmd: DeleteOrder, ctx: Context) -> None:
        ctx.emit(OrderCreated(order_id=cmd.order_id))

    @shop.event(OrderCreated)
    async def returns(evt: OrderCreated, ctx: Context) -> Any:
        return 1

    async with App([shop]) as app:
        with pytest.raises(ConfigurationError, match="returned"):
            await app.bus.dispatch(Ping())
        with pytest.raises(ConfigurationError, match="event handlers return None"):
            await app.bus.dispatch(DeleteOrder(order_id=1))


async def test_only_command_handlers_emit_events() -> None:
    shop = Domain("shop")

    @shop.command(Ping)
    async def ping(cmd: Ping, ctx: Context) -> None:
        ctx.emit(OrderCreated(order_id=1))

    @shop.event(OrderCreated)
    async def reacts(evt: OrderCreated, ctx: Context) -> AsyncIterator[Any]:
        yield ItemAdded(item="x")

    @shop.event(ItemAdded)
    async def unused(evt: ItemAdded, ctx: Context) -> None:
        return None

    async with App([shop]) as app:
        with pytest.raises(ConfigurationError, match="only command handlers emit"):
            await app.bus.dispatch(Ping())
        with pytest.raises(UnknownCommand, match="order-created") as info:
            await app.bus.dispatch(OrderCreated(order_id=1))  # type: ignore[arg-type]  # the mistake
        assert "is an Event" in info.value.__notes__[0]


async def test_event_handlers_cannot_emit_through_the_context() -> None:
    shop = Domain("shop")

    @shop.command(Ping)
    async def ping(cmd: Ping, ctx: Context) -> AsyncIterator[OrderCreated]:
        yield OrderCreated(order_id=1)

    @shop.event(OrderCreated)
    async def reacts(evt: OrderCreated, ctx: Context) -> None:
        ctx.emit(OrderCreated(order_id=2))

    async with App([shop]) as app:
        with pytest.raises(ContextError, match="only command handlers emit"):
            await app.bus.dispatch(Ping())


async def test_a_failing_event_handler_fails_the_whole_dispatch() -> None:
    shop = Domain("shop")
    tx: list[str] = []

    @shop.resource("tx")
    async def transaction(ctx: Context) -> AsyncIterator[None]:
        try:
            yield
        except Exception:
            tx.append("rollback")
            raise
        tx.append("commit")

    @shop.command(Ping)
    async def ping(cmd: Ping, ctx: Context) -> AsyncIterator[Any]:
        await ctx.resource("tx")
        yield OrderCreated(order_id=1)
        yield OrderPlaced(order_id=1)

    @shop.event(OrderCreated)
    async def fails(evt: OrderCreated, ctx: Context) -> None:
        raise RuntimeError("handler failed")

    async with App([shop]) as app:
        with pytest.raises(RuntimeError, match="handler failed"):
            await app.bus.dispatch(Ping())
    assert tx == ["rollback"]


async def test_unknown_commands_are_a_clear_error() -> None:
    class Stranger(Command):
        pass

    async with make_app([]) as app:
        with pytest.raises(UnknownCommand, match="'shop:nope'") as info:
            app.decode("shop:nope", b"{}")
        assert info.value.known == ["shop:create-order", "shop:delete-order"]
        with pytest.raises(UnknownCommand, match="'stranger'"):
            await app.bus.dispatch(Stranger())
        with pytest.raises(UnknownCommand):
            await app.bus.dispatch("shop:create-order")  # type: ignore[arg-type]  # the mistake
        with pytest.raises(UnknownCommand, match="shop:order-created"):
            app.decode("shop:order-created", b"{}")


async def test_validation_fails_before_any_handler_runs() -> None:
    log: list[Any] = []
    async with make_app(log) as app:
        with pytest.raises(ValidationError) as info:
            app.decode("shop:create-order", b'{"items": [1]}')
        assert [e.path for e in info.value.errors] == ["$.customer_id", "$.items[0]"]
        cmd = app.decode("shop:create-order", '{"customer_id": 1}')
        assert cmd == app.decode("shop:create-order", {"customer_id": 1})
    assert log == []


async def test_a_policy_refuses_an_actor_without_the_permission() -> None:
    log: list[Any] = []
    clerk = Actor(id="clerk", permissions=frozenset({"orders:write"}))
    admin = Actor(id="admin", permissions=frozenset({"orders:admin"}))

    class Service:
        def __init__(self) -> None:
            self.id = "svc"
            self.permissions = {"orders:admin", "other"}

    async with make_app(log) as app:
        for actor in (clerk, None):
            with pytest.raises(Forbidden, match="permission orders:admin") as info:
                await app.bus.dispatch(DeleteOrder(order_id=1), actor=actor)
            assert info.value.missing == {"orders:admin"}
        assert log == []
        await app.bus.dispatch(DeleteOrder(order_id=1), actor=admin)
        await app.bus.dispatch(DeleteOrder(order_id=2), actor=Service())
    assert log == [("delete", 1), ("delete", 2)]


async def test_each_dispatch_gets_its_own_context() -> None:
    shop = Domain("shop")
    seen: list[Context] = []

    @shop.command(Ping)
    async def ping(cmd: Ping, ctx: Context) -> None:
        assert current_context() is ctx
        await anyio.sleep(0.01)
        assert current_context() is ctx
        seen.append(ctx)

    async with App([shop]) as app, anyio.create_task_group() as tg:
        for i in range(3):
            tg.start_soon(partial(app.bus.dispatch, Ping(), request_id=f"r{i}"))
    assert sorted(ctx.request_id for ctx in seen) == ["r0", "r1", "r2"]
    assert len({id(ctx) for ctx in seen}) == 3


async def test_a_nested_dispatch_inherits_actor_request_id_and_meta() -> None:
    shop = Domain("shop")
    inner: list[tuple[Any, ...]] = []

    @shop.command(Ping)
    async def ping(cmd: Ping, ctx: Context) -> None:
        await app.bus.dispatch(DeleteOrder(order_id=1))

    @shop.command(DeleteOrder)
    async def delete(cmd: DeleteOrder, ctx: Context) -> None:
        outer = ctx
        inner.append((outer.actor, outer.request_id, outer.meta.tenant, outer.deadline))

    app = App([shop])
    async with app:
        deadline = anyio.current_time() + 30
        await app.bus.dispatch(
            Ping(),
            actor="ada",
            request_id="r1",
            meta={"tenant": "t"},
            deadline=deadline,
        )
    assert inner == [("ada", "r1", "t", deadline)]


async def test_a_deadline_times_the_dispatch_out_and_tears_down() -> None:
    shop = Domain("shop")
    torn: list[str] = []

    @shop.resource("tx")
    async def tx(ctx: Context) -> AsyncIterator[None]:
        try:
            yield
        except BaseException as exc:
            torn.append(type(exc).__name__)
            raise

    @shop.command(Ping)
    async def slow(cmd: Ping, ctx: Context) -> None:
        await ctx.resource("tx")
        await anyio.sleep(5)

    async with App([shop]) as app:
        with pytest.raises(TimeoutError):
            await app.bus.dispatch(Ping(), deadline=anyio.current_time() + 0.05)
    assert torn == [anyio.get_cancelled_exc_class().__name__]


async def test_a_swallowing_middleware_makes_dispatch_return_ok() -> None:
    shop = Domain("shop")

    @shop.middleware
    async def swallow(ctx: Context) -> AsyncIterator[None]:
        try:
            yield
        except RuntimeError:
            pass

    @shop.command(Ping)
    async def ping(cmd: Ping, ctx: Context) -> AsyncIterator[Any]:
        yield OrderPlaced(order_id=1)
        raise RuntimeError("after the response")

    async with App([shop]) as app:
        assert await app.bus.dispatch(Ping()) == Ok()
        outcome = await app.bus.execute(Ping())
    assert outcome.response == Ok() and not outcome.completed


async def test_dispatch_logs_once_at_debug(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="glue")
    async with make_app([]) as app:
        await app.bus.dispatch(CreateOrder(customer_id=1), request_id="r1")
        with pytest.raises(Forbidden):
            await app.bus.dispatch(DeleteOrder(order_id=1), request_id="r2")
    [entry] = [r for r in caplog.records if r.getMessage().startswith("dispatched ")]
    assert (entry.name, entry.levelno) == ("glue.domain.bus", logging.DEBUG)
    fields = vars(entry)
    assert (fields["request_id"], fields["domain"], fields["command"]) == (
        "r1",
        "shop",
        "shop:create-order",
    )
    assert fields["duration_ms"] >= 0
    # A refused request is the client's business: info, not warning.
    [failed] = [
        r for r in caplog.records if r.getMessage().startswith("dispatch failed ")
    ]
    assert failed.levelno == logging.INFO and vars(failed)["request_id"] == "r2"
    assert "Forbidden" in vars(failed)["error"]


async def test_no_debug_log_when_the_level_is_off(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="glue")
    async with make_app([]) as app:
        await app.bus.dispatch(CreateOrder(customer_id=1))
        # The level is read when the app opens.
        logging.getLogger("glue").setLevel(logging.DEBUG)
        await app.bus.dispatch(CreateOrder(customer_id=1))
    assert [r for r in caplog.records if r.name.startswith("glue")] == []


async def test_several_domains_share_no_state() -> None:
    def counter_domain(name: str) -> tuple[Domain, list[int]]:
        domain, counts = Domain(name), []

        @domain.command(Ping)
        async def ping(cmd: Ping, ctx: Context) -> None:
            counts.append(1)

        return domain, counts

    (one, one_counts), (two, two_counts) = counter_domain("one"), counter_domain("two")
    async with App([one]) as first, App([two]) as second:
        await first.bus.dispatch(Ping())
        await first.bus.dispatch(Ping())
        await second.bus.dispatch(Ping())
    assert (len(one_counts), len(two_counts)) == (2, 1)


async def test_an_app_must_be_open_to_dispatch_and_opens_once() -> None:
    app = make_app([])
    with pytest.raises(UnknownCommand):
        await app.bus.dispatch(Ping())  # an unknown type is named first
    with pytest.raises(ContextError, match="not open"):
        await app.bus.dispatch(CreateOrder(customer_id=1))
    states = [app.state]
    async with app:
        states.append(app.state)
    states.append(app.state)
    assert states == [AppState.NEW, AppState.OPEN, AppState.CLOSED]
    assert app.domains == ["shop"]
    await app.aclose()
    with pytest.raises(ContextError, match="opens once"):
        async with app:
            pass
    with pytest.raises(ContextError, match="not open"):
        await app.bus.dispatch(CreateOrder(customer_id=1))


async def test_without_middleware_resources_set_up_are_torn_down() -> None:
    shop = Domain("shop")
    events: list[Any] = []

    @shop.resource("tx")
    async def tx(ctx: Context) -> AsyncIterator[str]:
        events.append("set up")
        yield "tx"
        events.append("torn down")

    @shop.command(Ping)
    async def ping(cmd: Ping, ctx: Context) -> None:
        events.append(await ctx.resource("tx"))

    @shop.command(DeleteOrder)
    async def delete(cmd: DeleteOrder, ctx: Context) -> OrderPlaced:
        events.append(ctx)
        return OrderPlaced(order_id=cmd.order_id)

    async with App([shop]) as app:
        await app.bus.dispatch(Ping())
        assert events == ["set up", "tx", "torn down"]
        async with app.context(domain="shop") as outer:
            await app.bus.dispatch(DeleteOrder(order_id=1))
            assert current_context() is outer
        assert current_context() is None
    dispatched = events[-1]
    assert isinstance(dispatched, Context) and "closed" in repr(dispatched)
    with pytest.raises(ContextError, match="finished"):
        dispatched.emit(OrderCreated(order_id=1))


async def test_a_response_type_seen_before_is_still_checked() -> None:
    shop = Domain("shop")
    answers: list[Any] = [OrderPlaced(order_id=1), OrderPlaced(order_id=2), "no"]

    @shop.command(Ping)
    async def ping(cmd: Ping, ctx: Context) -> Any:
        return answers.pop(0)

    @shop.command(DeleteOrder)
    async def delete(cmd: DeleteOrder, ctx: Context) -> AsyncIterator[Any]:
        yield OrderPlaced(order_id=cmd.order_id)
        if cmd.order_id > 1:
            yield OrderPlaced(order_id=0)

    async with App([shop]) as app:
        assert await app.bus.dispatch(Ping()) == OrderPlaced(order_id=1)
        assert await app.bus.dispatch(Ping()) == OrderPlaced(order_id=2)
        with pytest.raises(ConfigurationError, match="returned 'no'"):
            await app.bus.dispatch(Ping())
        assert await app.bus.dispatch(DeleteOrder(order_id=1)) == OrderPlaced(
            order_id=1
        )
        with pytest.raises(ConfigurationError, match="second response"):
            await app.bus.dispatch(DeleteOrder(order_id=2))
