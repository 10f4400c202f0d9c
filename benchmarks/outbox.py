"""The outbox, timed on PostgreSQL: what it adds to a dispatch, and how many
events per second workers deliver.

**Overhead.** Two domains do the same work per dispatch: a command handler
inserts one row (or updates one row) and emits one event. One of them has a
subscriber for the event, so its dispatch also writes the event to
``glue_outbox`` with its ``glue_deliveries`` row and notifies the workers, in
the same transaction (no worker runs while timing: the subscriber never runs).
The event's aggregate is its own id (no counter), and, in a third contender,
a named aggregate (the counter row in ``glue_outbox_aggregates`` raised too).
Dispatches run one at a time, timed by the harness (``benchmarks/harness.py``:
interleaved rounds of ``--seconds`` each, order rotated, GC on). Reported:
microseconds per dispatch (median of the rounds, spread min-max) and the median
per-round ratio to the same dispatch without subscriber, with the load seen.
Target: at most 1.15x.

**Throughput.** ``--events`` events are written first (no worker running);
then 1, or 3, ``glue worker``-like processes (this file with ``--worker``)
deliver them to a subscriber that inserts one row each, through the inbox.
Events per second: the events over the time between the first and the last
delivery's commit (``applied_at`` in ``glue_inbox``), so process start-up is
not counted. Then the same through NATS JetStream: each worker process relays
the outbox to a stream of its own run and consumes from it
(``run_nats_worker``); the stream is deleted afterwards. Run::

    python benchmarks/outbox.py [--rounds 7] [--seconds 1] [--events 3000]
                                [--postgres DSN] [--nats URL | --nats none]
                                [--transport all|postgres|nats]

``--rounds 0`` skips the overhead part.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import uuid
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import anyio
import asyncpg
from harness import Comparison, machine, per_call

from glue import App, Column, ColumnType, Command, Context, Domain, Event, Schema
from glue.ids import new_id
from glue.outbox.worker import run_worker

LOCAL = "postgresql://postgres@127.0.0.1:5432/postgres"
NATS = "nats://127.0.0.1:4222"


# -- the domains ---------------------------------------------------------------------


def _table(name: str) -> Schema:
    return Schema(
        name=name,
        columns=(
            Column(name="id", type=ColumnType.UUID),
            Column(name="customer", type=ColumnType.INTEGER),
            Column(name="total", type=ColumnType.INTEGER),
        ),
        primary_key=("id",),
    )


class Bench:
    """One contender: its App domain and its two commands."""

    def __init__(self, name: str, *, subscribed: bool, aggregate: bool) -> None:
        class Place(Command, name="place"):
            customer: int

        class Bump(Command, name="bump"):
            id: uuid.UUID

        class Placed(Event, name="placed"):
            customer: int

        class Bumped(Event, name="bumped"):
            customer: int

        self.name = name
        self.place, self.bump = Place, Bump
        self.domain = domain = Domain(name)
        rows = domain.table(_table(f"bench_{name}"))
        sink = domain.table(_table(f"bench_{name}_sink"))
        domain.register(Placed, Bumped, aggregate="customer" if aggregate else None)

        @domain.command(Place)
        async def place(cmd: Place, ctx: Context) -> Any:
            values = {"id": new_id(), "customer": cmd.customer, "total": 0}
            await ctx.state.insert(rows, values)
            yield Placed(customer=cmd.customer)

        @domain.command(Bump)
        async def bump(cmd: Bump, ctx: Context) -> Any:
            row = await ctx.state.require(rows, cmd.id)
            await ctx.state.update(rows, cmd.id, {"total": row["total"] + 1})
            yield Bumped(customer=row["customer"])

        if subscribed:

            @domain.subscriber(Placed, Bumped)
            async def record(event: Placed | Bumped, ctx: Context) -> None:
                values = {"id": new_id(), "customer": event.customer, "total": 1}
                await ctx.state.insert(sink, values)


BENCHES = {
    "plain": Bench("plain", subscribed=False, aggregate=False),
    "boxed": Bench("boxed", subscribed=True, aggregate=False),
    "ordered": Bench("ordered", subscribed=True, aggregate=True),
}
LABELS = {
    "plain": "no subscriber",
    "boxed": "subscriber",
    "ordered": "subscriber, named aggregate",
}


def make_app(dsn: str) -> App:
    """The three contenders' domains on ``dsn``."""
    return App(
        [bench.domain for bench in BENCHES.values()],
        databases={"default": dsn},
        create_tables=True,
        delivery="workers",
    )


# -- overhead ------------------------------------------------------------------------


async def overhead(dsn: str, rounds: int, seconds: float) -> None:
    """Time each contender's dispatch with the harness, per kind of dispatch."""
    async with make_app(dsn) as app:
        for kind in ("insert", "update"):
            comparison = Comparison(
                f"Outbox overhead on PostgreSQL: {kind} one row, one dispatch at "
                "a time",
                reference=LABELS["plain"],
            )
            for name, bench in BENCHES.items():
                command = await _command(app, bench, kind)
                comparison.add(
                    LABELS[name],
                    per_call(lambda _, c=command: app.bus.dispatch(c), seconds),
                )
            (await comparison.run(rounds)).print()


async def _command(app: App, bench: Bench, kind: str) -> Command:
    """The contender's command of ``kind``: a new row, or a bump of one row."""
    if kind == "insert":
        return bench.place(customer=7)
    ident = new_id()
    async with app.context(domain=bench.name) as ctx:
        await ctx.state.insert(
            bench.domain.tables[f"bench_{bench.name}"].schema,
            {"id": ident, "customer": 7, "total": 0},
        )
    return bench.bump(id=ident)


# -- throughput ----------------------------------------------------------------------


async def fill(dsn: str, events: int) -> None:
    """Write ``events`` events of domain "boxed" (no worker running)."""
    async with make_app(dsn) as app:
        limiter = anyio.CapacityLimiter(8)

        async def one() -> None:
            async with limiter:
                await app.bus.dispatch(BENCHES["boxed"].place(customer=7))

        async with anyio.create_task_group() as tg:
            for _ in range(events):
                tg.start_soon(one)


async def throughput(
    dsn: str, events: int, workers: int, nats: str | None = None
) -> float:
    """Events per second ``workers`` processes deliver (through the NATS server
    at ``nats``, given one: each worker relays and consumes)."""
    await fill(dsn, events)
    command = [sys.executable, __file__, "--worker", dsn]
    prefix = f"glue_bench_{uuid.uuid4().hex[:8]}"
    if nats is not None:
        command += ["--nats", nats, "--prefix", prefix]
    started = [await anyio.open_process(command, stdout=None) for _ in range(workers)]
    try:
        async with make_app(dsn) as app:
            pool = app.connections.get_connection_pool()
            with anyio.fail_after(600):
                while True:
                    async with pool.acquire() as conn:
                        done = await conn.fetch("SELECT COUNT(*) FROM glue_inbox")
                    if done.rows[0][0] >= events:
                        break
                    await anyio.sleep(0.1)
            async with pool.acquire() as conn:
                row = await conn.fetch(
                    "SELECT COUNT(*), MIN(applied_at), MAX(applied_at) FROM glue_inbox"
                )
    finally:
        for process in started:
            process.send_signal(signal.SIGTERM)
        for process in started:
            await process.wait()
        if nats is not None:
            await drop_stream(nats, prefix)
    count, first, last = row.rows[0]
    return float(count) / max(1e-9, float(last) - float(first))


async def drop_stream(url: str, prefix: str) -> None:
    from glue.outbox.nats import JetStream, NatsSettings

    settings = NatsSettings(url=url, prefix=prefix, stream=prefix.upper())
    async with JetStream(settings) as js:
        await js.context.delete_stream(settings.stream)


async def nats_worker(dsn: str, url: str, prefix: str) -> None:
    """A worker on NATS: relays the outbox and consumes, until SIGTERM."""
    from glue.outbox.nats import NatsSettings, run_nats_worker

    settings = NatsSettings(url=url, prefix=prefix, stream=prefix.upper())
    await run_nats_worker(make_app(dsn), settings)


async def scratch(server: str, action: str, name: str) -> str:
    conn = await asyncpg.connect(server)
    try:
        if action == "create":
            await conn.execute(f'CREATE DATABASE "{name}"')
        else:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()
    parts = urlsplit(server)
    return urlunsplit(parts._replace(path=f"/{name}"))


async def main(args: argparse.Namespace) -> None:
    print(machine())
    if args.rounds:
        name = f"glue_bench_outbox_{uuid.uuid4().hex[:8]}"
        dsn = await scratch(args.postgres, "create", name)
        try:
            await overhead(dsn, args.rounds, args.seconds)
        finally:
            await scratch(args.postgres, "drop", name)
    print("\nEnd to end: events per second to a subscriber writing one row")
    transports = {"postgres": None, "nats": args.nats}
    if args.nats == "none":
        del transports["nats"]
    for transport, nats in transports.items():
        if args.transport not in ("all", transport):
            continue
        for workers in (1, 3):
            name = f"glue_bench_outbox_{uuid.uuid4().hex[:8]}"
            dsn = await scratch(args.postgres, "create", name)
            try:
                rate = await throughput(dsn, args.events, workers, nats)
            finally:
                await scratch(args.postgres, "drop", name)
            print(
                f"{transport:<9} {workers} worker(s): {rate:,.0f} events/s "
                f"({args.events} events)"
            )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--seconds", type=float, default=1.0)
    parser.add_argument("--events", type=int, default=3000)
    parser.add_argument(
        "--postgres", default=os.environ.get("GLUE_BENCH_POSTGRES", LOCAL)
    )
    parser.add_argument(
        "--nats",
        default=os.environ.get("GLUE_BENCH_NATS", NATS),
        help="the NATS server (with JetStream) for the NATS runs; 'none' skips them",
    )
    parser.add_argument(
        "--transport", choices=("all", "postgres", "nats"), default="all"
    )
    parser.add_argument("--worker", metavar="DSN", help=argparse.SUPPRESS)
    parser.add_argument("--prefix", help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.worker and arguments.prefix:
        anyio.run(nats_worker, arguments.worker, arguments.nats, arguments.prefix)
    elif arguments.worker:
        anyio.run(lambda: run_worker(make_app(arguments.worker), concurrency=8))
    else:
        anyio.run(main, arguments)
