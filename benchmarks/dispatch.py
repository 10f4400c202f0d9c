"""One full command dispatch, timed through glue, its peers, and a plain floor.

Each contender does the same work per dispatch: decode and validate a JSON body
into a CreateOrder command, run the command handler, emit one OrderCreated event,
run one handler for it, and return an OrderPlaced response.

- floor: plain async function calls around one ``msgspec`` decode (no framework);
- glue: ``app.decode(...)`` then ``await app.bus.dispatch(...)``, once with a
  command handler that yields its event and response (an async generator), once
  with one that calls ``ctx.emit(event)`` and returns the response;
- python-cqrs: a Pydantic request through its ``RequestMediator``;
- lato: a Pydantic command through ``Application.execute_async``.

Peers that are not installed are skipped with a message (install them with
``pip install -e '.[bench]'``). Run: ``python benchmarks/dispatch.py [--rounds N]``.
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Annotated, Any

import anyio
import msgspec

import glue
import glue.log

__all__ = ["main"]

PAYLOAD = b'{"customer_id": 7, "items": ["apple", "pear", "plum"], "total": 12.5}'
Dispatch = Callable[[], Awaitable[Any]]


# -- floor: plain functions and msgspec ------------------------------------------------


class PlainCreateOrder(msgspec.Struct, frozen=True, kw_only=True):
    customer_id: int
    items: list[str]
    total: Annotated[float, msgspec.Meta(gt=0)]


class PlainOrderCreated(msgspec.Struct, frozen=True, kw_only=True):
    order_id: int
    customer_id: int


class PlainOrderPlaced(msgspec.Struct, frozen=True, kw_only=True):
    order_id: int


def make_floor() -> Dispatch:
    decoder = msgspec.json.Decoder(PlainCreateOrder)
    created: list[int] = []

    async def on_created(event: PlainOrderCreated) -> None:
        created.append(event.order_id)

    async def create_order(command: PlainCreateOrder) -> PlainOrderPlaced:
        event = PlainOrderCreated(order_id=1, customer_id=command.customer_id)
        await on_created(event)
        return PlainOrderPlaced(order_id=event.order_id)

    async def dispatch() -> Any:
        return await create_order(decoder.decode(PAYLOAD))

    return dispatch


# -- glue ---------------------------------------------------------------------


class CreateOrder(glue.Command):
    customer_id: int
    items: list[str]
    total: Annotated[float, msgspec.Meta(gt=0)]


class OrderCreated(glue.Event):
    order_id: int
    customer_id: int


class OrderPlaced(glue.Response):
    order_id: int


def make_glue(app: glue.App, name: str) -> Dispatch:
    decode = app.decode
    send = app.bus.dispatch

    async def dispatch() -> Any:
        return await send(decode(name, PAYLOAD))

    return dispatch


class CreateOrderEmitting(CreateOrder, name="create-order-emitting"):
    pass


def glue_app() -> glue.App:
    bench = glue.Domain("bench")
    created: list[int] = []

    @bench.command(CreateOrder)
    async def create_order(
        cmd: CreateOrder, ctx: glue.Context
    ) -> AsyncIterator[OrderCreated | OrderPlaced]:
        yield OrderCreated(order_id=1, customer_id=cmd.customer_id)
        yield OrderPlaced(order_id=1)

    @bench.command(CreateOrderEmitting)
    async def create_order_emitting(
        cmd: CreateOrderEmitting, ctx: glue.Context
    ) -> OrderPlaced:
        ctx.emit(OrderCreated(order_id=1, customer_id=cmd.customer_id))
        return OrderPlaced(order_id=1)

    @bench.event(OrderCreated)
    async def on_created(evt: OrderCreated, ctx: glue.Context) -> None:
        created.append(evt.order_id)

    return glue.App([bench])


# -- python-cqrs --------------------------------------------------------------


def make_python_cqrs() -> Dispatch:
    import cqrs
    import di
    import pydantic
    from cqrs.bootstrap.requests import bootstrap

    class CqrsCreateOrder(cqrs.PydanticRequest):  # type: ignore[misc]
        customer_id: int
        items: list[str]
        total: Annotated[float, pydantic.Field(gt=0)]

    class CqrsOrderCreated(cqrs.PydanticDomainEvent):  # type: ignore[misc]
        order_id: int
        customer_id: int

    class CqrsOrderPlaced(cqrs.PydanticResponse):  # type: ignore[misc]
        order_id: int

    created: list[int] = []

    class CreateOrderHandler(cqrs.RequestHandler[CqrsCreateOrder, CqrsOrderPlaced]):  # type: ignore[misc]
        def __init__(self) -> None:
            self._events: list[Any] = []

        @property
        def events(self) -> list[Any]:
            return self._events

        async def handle(self, request: CqrsCreateOrder) -> CqrsOrderPlaced:
            self._events.append(
                CqrsOrderCreated(order_id=1, customer_id=request.customer_id)
            )
            return CqrsOrderPlaced(order_id=1)

    class OrderCreatedHandler(cqrs.EventHandler[CqrsOrderCreated]):  # type: ignore[misc]
        async def handle(self, event: CqrsOrderCreated) -> None:
            created.append(event.order_id)

    def commands(mapper: Any) -> None:
        mapper.bind(CqrsCreateOrder, CreateOrderHandler)

    def events(mapper: Any) -> None:
        mapper.bind(CqrsOrderCreated, OrderCreatedHandler)

    mediator = bootstrap(
        di_container=di.Container(),
        commands_mapper=commands,
        domain_events_mapper=events,
    )
    logging.getLogger("cqrs").setLevel(logging.WARNING)  # it sets DEBUG itself

    async def dispatch() -> Any:
        return await mediator.send(CqrsCreateOrder.model_validate_json(PAYLOAD))

    return dispatch


# -- lato ---------------------------------------------------------------------


def make_lato() -> Dispatch:
    import lato
    import pydantic

    class LatoCreateOrder(lato.Command):  # type: ignore[misc]
        customer_id: int
        items: list[str]
        total: Annotated[float, pydantic.Field(gt=0)]

    class LatoOrderCreated(lato.Event):  # type: ignore[misc]
        order_id: int
        customer_id: int

    class LatoOrderPlaced(pydantic.BaseModel):
        order_id: int

    app = lato.Application("bench")
    created: list[int] = []

    @app.handler(LatoCreateOrder)
    async def create_order(
        command: LatoCreateOrder, ctx: lato.TransactionContext
    ) -> LatoOrderPlaced:
        await ctx.publish_async(
            LatoOrderCreated(order_id=1, customer_id=command.customer_id)
        )
        return LatoOrderPlaced(order_id=1)

    @app.handler(LatoOrderCreated)
    async def on_created(event: LatoOrderCreated) -> None:
        created.append(event.order_id)

    async def dispatch() -> Any:
        return await app.execute_async(LatoCreateOrder.model_validate_json(PAYLOAD))

    return dispatch


# -- timing -------------------------------------------------------------------


async def time_per_call(dispatch: Dispatch, rounds: int, seconds: float) -> float:
    """Microseconds per dispatch: the best of ``rounds`` timed rounds.

    The best round is the one least disturbed by other work on the machine.
    """
    for _ in range(200):  # warm up caches and lazy setup
        await dispatch()
    calls = 200
    while True:  # find a call count that takes about `seconds` per round
        started = time.perf_counter()
        for _ in range(calls):
            await dispatch()
        elapsed = time.perf_counter() - started
        if elapsed >= seconds / 4:
            calls = max(calls, int(calls * seconds / elapsed))
            break
        calls *= 4
    results = []
    gc.collect()
    for _ in range(rounds):
        started = time.perf_counter()
        for _ in range(calls):
            await dispatch()
        results.append((time.perf_counter() - started) / calls * 1e6)
    return min(results)


FLOOR = "plain functions + msgspec (floor)"
GLUE = {
    "glue, handler yields": "bench:create-order",
    "glue, handler emits and returns": "bench:create-order-emitting",
}
PEERS: dict[str, tuple[str, Callable[[], Dispatch]]] = {
    "python-cqrs": ("cqrs", make_python_cqrs),
    "lato": ("lato", make_lato),
}


async def run(rounds: int, seconds: float) -> list[tuple[str, float]]:
    """Time every contender; return (name, microseconds per dispatch)."""
    results = [(FLOOR, await time_per_call(make_floor(), rounds, seconds))]
    async with glue_app() as app:
        for label, name in GLUE.items():
            dispatch = make_glue(app, name)
            results.append((label, await time_per_call(dispatch, rounds, seconds)))
    for name, (module, make) in PEERS.items():
        if importlib.util.find_spec(module) is None:
            print(f"skipping {name}: not installed (pip install -e '.[bench]')")
            continue
        results.append((name, await time_per_call(make(), rounds, seconds)))
    return results


def main() -> None:
    """Run the benchmark and print a Markdown table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=7, help="timed rounds each")
    parser.add_argument(
        "--seconds", type=float, default=0.5, help="about how long one round runs"
    )
    args = parser.parse_args()
    glue.log.configure(logging.WARNING)  # dispatch logs at debug: off, as in production
    logging.basicConfig(level=logging.WARNING)
    results = anyio.run(run, args.rounds, args.seconds)
    reference = dict(results)["glue, handler yields"]
    floor = dict(results)[FLOOR]
    print("| contender | µs per dispatch | x floor | x glue (yields) |")
    print("| --- | ---: | ---: | ---: |")
    for name, micros in results:
        print(
            f"| {name} | {micros:.2f} | {micros / floor:.1f} "
            f"| {micros / reference:.2f} |"
        )


if __name__ == "__main__":
    main()
