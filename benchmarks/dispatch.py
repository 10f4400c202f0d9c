"""Command dispatch, timed through glue, its peers, a plain floor and raw asyncpg.

In memory, each contender does the same work per dispatch: validate a payload
(a dict, or a JSON body) into a CreateOrder command, run the command handler,
emit one OrderCreated event, run one handler for it, return an OrderPlaced
response.

- floor: plain async function calls around one ``msgspec.convert`` (dict) or
  ``msgspec`` JSON decode (no framework);
- glue: ``app.decode(...)`` then ``await app.bus.dispatch(...)``, once with a
  command handler that yields its event and response (an async generator), once
  with one that calls ``ctx.emit(event)`` and returns the response;
- python-cqrs: a Pydantic request through its ``RequestMediator`` (JSON only);
- lato: a Pydantic command through ``Application.execute_async`` (JSON only).

On PostgreSQL, 1,000 dispatches at once (a task group), each inserting one row
through ``ctx.state`` (one ``INSERT``), glue's pool of 10 against asyncpg's pool
of 10 running ``BEGIN`` / ``INSERT`` / ``COMMIT`` (the reference) and the same
single ``INSERT``; throughput, dispatches per second.

Contenders are interleaved round by round (see ``harness.py``), the garbage
collector on. Targets (#14): the generator handler with a dict payload at most
4x the floor; on PostgreSQL at least 0.85x raw's throughput. Peers that are not
installed are skipped with a message (``pip install -e '.[bench]'``). Run::

    python benchmarks/dispatch.py [--rounds 21] [--seconds 0.1]
                                  [--concurrency 1000] [--postgres DSN]
"""

from __future__ import annotations

import argparse
import importlib.util
import itertools
import logging
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Annotated, Any

import anyio
import asyncpg
import msgspec
from harness import (
    LOCAL,
    Comparison,
    Sample,
    machine,
    per_call,
    postgres_database,
    timed,
)

import glue
import glue.log

__all__ = ["main"]

PAYLOAD = b'{"customer_id": 7, "items": ["apple", "pear", "plum"], "total": 12.5}'
DICT = msgspec.json.decode(PAYLOAD)
YIELDS = "bench:create-order"
EMITS = "bench:create-order-emitting"
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


def make_floor(*, from_dict: bool = False) -> Dispatch:
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

    async def convert() -> Any:
        return await create_order(msgspec.convert(DICT, PlainCreateOrder))

    return convert if from_dict else dispatch


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


def make_glue(
    app: glue.App, name: str, payload: Any = PAYLOAD
) -> Callable[[int], Awaitable[Any]]:
    decode = app.decode
    send = app.bus.dispatch

    async def dispatch(_: int) -> Any:
        return await send(decode(name, payload))

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


# -- dispatches on PostgreSQL, 1,000 at a time -------------------------------


class AddNote(glue.Command):
    customer: int
    text: str


class NoteAdded(glue.Response):
    id: int


NOTES = glue.Schema(
    name="notes",
    primary_key=("id",),
    versioned=False,
    columns=(
        glue.Column(name="id", type=glue.ColumnType.INTEGER),
        glue.Column(name="customer", type=glue.ColumnType.INTEGER),
        glue.Column(name="text", type=glue.ColumnType.TEXT),
    ),
)
NOTE = {"customer": 7, "text": "two apples and a pear"}


def notes_app(dsn: str, ids: itertools.count[int]) -> glue.App:
    """An app whose one command inserts one row through ``ctx.state``."""
    bench = glue.Domain("notes")
    bench.table(NOTES)

    @bench.command(AddNote)
    async def add(cmd: AddNote, ctx: glue.Context) -> NoteAdded:
        note = next(ids)
        await ctx.state.insert(
            NOTES, {"id": note, "customer": cmd.customer, "text": cmd.text}
        )
        return NoteAdded(id=note)

    return glue.App([bench], databases={"default": dsn}, create_tables=True)


def burst(
    concurrency: int, one: Callable[[], Awaitable[object]]
) -> Callable[[], Awaitable[Sample]]:
    """A contender: ``concurrency`` calls of ``one`` at once, in a task group."""

    async def sample() -> Sample:
        with timed() as watch:
            async with anyio.create_task_group() as tg:
                for _ in range(concurrency):
                    tg.start_soon(one)
        return Sample(watch.seconds, concurrency)

    return sample


async def postgres_dispatch(server: str, rounds: int, concurrency: int) -> None:
    """``concurrency`` one-row dispatches at once against raw asyncpg."""
    dsn, drop = await postgres_database(server)
    ids = itertools.count(1)
    try:
        pool = await asyncpg.create_pool(dsn, min_size=10, max_size=10)
        try:
            async with notes_app(dsn, ids) as app:
                insert = 'INSERT INTO "notes" VALUES ($1, $2, $3)'

                async def raw_transaction() -> None:
                    async with pool.acquire() as conn, conn.transaction():
                        await conn.execute(insert, next(ids), 7, NOTE["text"])

                async def raw_single() -> None:
                    async with pool.acquire() as conn:
                        await conn.execute(insert, next(ids), 7, NOTE["text"])

                decode, send = app.decode, app.bus.dispatch

                async def dispatch() -> None:
                    await send(decode("notes:add-note", NOTE))

                comparison = Comparison(
                    f"PostgreSQL: {concurrency:,} concurrent one-row dispatches, "
                    "pools of 10",
                    reference="raw asyncpg pool: BEGIN / INSERT / COMMIT",
                    unit="ops",
                )
                comparison.add(
                    "raw asyncpg pool: BEGIN / INSERT / COMMIT",
                    burst(concurrency, raw_transaction),
                )
                comparison.add("glue: app.bus.dispatch", burst(concurrency, dispatch))
                comparison.add(
                    "raw asyncpg pool: the same single INSERT",
                    burst(concurrency, raw_single),
                )
                await burst(concurrency, dispatch)()  # warm up
                await burst(concurrency, raw_transaction)()
                (await comparison.run(rounds)).print()
        finally:
            await pool.close()
    finally:
        await drop()


# -- running --------------------------------------------------------------------


FLOOR = "plain functions + msgspec.json decode (floor)"
PEERS: dict[str, tuple[str, Callable[[], Dispatch]]] = {
    "python-cqrs": ("cqrs", make_python_cqrs),
    "lato": ("lato", make_lato),
}


async def in_memory(rounds: int, seconds: float) -> None:
    """Every in-memory contender, round by round."""
    async with glue_app() as app:
        json = Comparison("In memory: one dispatch from a JSON body", reference=FLOOR)
        floor_json = make_floor()
        json.add(FLOOR, per_call(lambda _: floor_json(), seconds))
        json.add("glue, handler yields", per_call(make_glue(app, YIELDS), seconds))
        json.add(
            "glue, handler emits and returns",
            per_call(make_glue(app, EMITS), seconds),
        )
        for name, (module, make) in PEERS.items():
            if importlib.util.find_spec(module) is None:
                print(f"skipping {name}: not installed (pip install -e '.[bench]')")
                continue
            peer = make()
            json.add(name, per_call(lambda _, peer=peer: peer(), seconds))
        floor = make_floor(from_dict=True)
        mapping = Comparison(
            "In memory: one dispatch from a dict payload",
            reference="plain functions + msgspec.convert (floor)",
        )
        mapping.add(
            "plain functions + msgspec.convert (floor)",
            per_call(lambda _: floor(), seconds),
        )
        mapping.add(
            "glue, handler yields", per_call(make_glue(app, YIELDS, DICT), seconds)
        )
        mapping.add(
            "glue, handler emits and returns",
            per_call(make_glue(app, EMITS, DICT), seconds),
        )
        for comparison in (mapping, json):
            (await comparison.run(rounds)).print()


async def run(options: argparse.Namespace) -> None:
    print(machine())
    await in_memory(options.rounds, options.seconds)
    if options.postgres:
        await postgres_dispatch(options.postgres, options.rounds, options.concurrency)


def main() -> None:
    """Run the benchmark and print Markdown tables."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=21, help="interleaved rounds")
    parser.add_argument(
        "--seconds", type=float, default=0.1, help="about how long one round runs"
    )
    parser.add_argument("--concurrency", type=int, default=1000)
    parser.add_argument(
        "--postgres",
        default=os.environ.get("GLUE_BENCH_POSTGRES_DSN", LOCAL),
        help="the server for the concurrent dispatches; '' skips them",
    )
    options = parser.parse_args()
    glue.log.configure(logging.WARNING)  # dispatch logs at debug: off, as in production
    logging.basicConfig(level=logging.WARNING)
    anyio.run(run, options)


if __name__ == "__main__":
    main()
