"""The bus retries a conflict that the database reported as an integrity error:
bump a sequence row, insert with the new id, from two commands at once."""

from __future__ import annotations

import anyio

from glue import App, Command, Context, Domain, Response
from glue.work import RetryPolicy

from .test_data import COUNTERS, ORDERS, checked_out, rows, seed_counter


class Place(Command):
    customer: str


class Placed(Response):
    id: int


async def test_two_orders_numbered_from_one_sequence_both_commit(
    database_url: str,
) -> None:
    shop = Domain("shop")
    shop.table(ORDERS)
    shop.table(COUNTERS)
    reads: list[str] = []
    both_read = anyio.Event()

    @shop.command(Place, retry=RetryPolicy(attempts=3, base_delay=0.001))
    async def place(cmd: Place, ctx: Context) -> Placed:
        row = await ctx.state.require(COUNTERS, "orders")
        reads.append(cmd.customer)
        if len(reads) == 2:
            both_read.set()
        await both_read.wait()  # both hold the same sequence value
        key = row["value"] + 1
        await ctx.state.update(COUNTERS, "orders", {"value": key})
        await ctx.state.insert(ORDERS, {"id": key, "customer": cmd.customer})
        return Placed(id=key)

    async with App([shop], databases={"default": database_url}) as app:
        await app.create_tables()
        await seed_counter(app, "orders", 0)
        placed: dict[str, tuple[int, int]] = {}

        async def run(customer: str) -> None:
            outcome = await app.bus.execute(Place(customer=customer))
            assert isinstance(outcome.response, Placed)
            placed[customer] = (outcome.response.id, outcome.attempts)

        async with anyio.create_task_group() as tg:
            tg.start_soon(run, "ada")
            tg.start_soon(run, "bob")
        assert sorted(id_ for id_, _ in placed.values()) == [1, 2]
        assert sorted(attempts for _, attempts in placed.values()) == [1, 2]
        assert [(r["id"], r["customer"]) for r in await rows(app, "orders")] == sorted(
            (id_, who) for who, (id_, _) in placed.items()
        )
        ((counter),) = await rows(app, "counters")
        assert counter["value"] == 2
        assert checked_out(app) == 0
