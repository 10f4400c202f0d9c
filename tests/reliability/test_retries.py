"""Retries never repeat what already committed; renderers fail after the commit.

Issue #13, point 4 and "a renderer that raises after the commit". A command
dispatched inside another joins its unit of work: it commits with it, once, or
not at all. A retry runs the handlers again in a fresh unit; what glue runs
once (the commit, nested dispatches, renderers) is counted here against what it
runs per attempt (handlers, event handlers, resources).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import anyio
import pytest

from glue import (
    App,
    Command,
    Context,
    ContextError,
    Domain,
    Event,
    Forbidden,
    RenderError,
    Response,
    RetryPolicy,
)
from glue.query import QueryStatement, SchemaReference
from glue.schema import Column, ColumnType, Schema
from glue.state import Update

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

COUNTERS = Schema(
    name="counters",
    columns=(
        Column(name="name", type=ColumnType.TEXT),
        Column(name="value", type=ColumnType.INTEGER),
    ),
    primary_key=("name",),
)
AUDIT = Schema(
    name="audit",
    columns=(
        Column(name="id", type=ColumnType.INTEGER),
        Column(name="note", type=ColumnType.TEXT),
    ),
    primary_key=("id",),
)
INVOICES = Schema(
    name="invoices",
    columns=(
        Column(name="id", type=ColumnType.INTEGER),
        Column(name="amount", type=ColumnType.INTEGER),
    ),
    primary_key=("id",),
)
PATIENT = RetryPolicy(attempts=200, base_delay=0.005, max_delay=0.2)


class Bump(Command):
    by: int = 1


class BumpTwice(Command):
    """Read the counter, dispatch a Bump, read it again and add 10."""

    reread: bool = True


class Counted(Response):
    value: int


class Hit(Command):
    id: int


class Hits(Event):
    id: int


class Audit(Command):
    id: int


class Charge(Command):
    id: int
    amount: int
    touch_counters: bool = False


async def value_of(app: App, name: str = "hits") -> int:
    rows = await app.query(QueryStatement(table=SchemaReference(name="counters")))
    value: int = {row["name"]: row["value"] for row in rows}[name]
    return value


async def count(app: App, table: str) -> int:
    return len(await app.query(QueryStatement(table=SchemaReference(name=table))))


async def seed(app: App) -> None:
    async with app.context(domain="shop") as ctx:
        await ctx.state.insert(COUNTERS, {"name": "hits", "value": 0})


def shop_domain(runs: dict[str, int], app_of: list[App]) -> Domain:
    """Bump, and BumpTwice, which dispatches a Bump on ``app_of[0]``."""
    shop = Domain("shop")
    shop.table(COUNTERS)
    shop.table(AUDIT)

    @shop.command(Bump, retry=PATIENT)
    async def bump(cmd: Bump, ctx: Context) -> Counted:
        runs["bump"] = runs.get("bump", 0) + 1
        row = await ctx.state.require(COUNTERS, "hits")
        await ctx.state.update(COUNTERS, "hits", {"value": row["value"] + cmd.by})
        return Counted(value=row["value"] + cmd.by)

    @shop.command(BumpTwice, retry=RetryPolicy(attempts=5, base_delay=0))
    async def bump_twice(cmd: BumpTwice, ctx: Context) -> Counted:
        runs["outer"] = runs.get("outer", 0) + 1
        row = await ctx.state.require(COUNTERS, "hits")
        await app_of[0].bus.dispatch(Bump())
        if cmd.reread:
            row = await ctx.state.require(COUNTERS, "hits")
        await ctx.state.update(COUNTERS, "hits", {"value": row["value"] + 10})
        return Counted(value=row["value"] + 10)

    return shop


async def test_a_nested_dispatch_joins_the_unit_and_commits_once(
    database_url: str,
) -> None:
    """The issue's case: read, dispatch an increment, update. Before, the outer
    unit conflicted on every attempt while each nested increment committed (5
    increments, and "nothing was written"). Now one attempt, one commit."""
    runs: dict[str, int] = {}
    app_of: list[App] = []
    app = App(
        [shop_domain(runs, app_of)],
        databases={"default": database_url},
        create_tables=True,
    )
    app_of.append(app)
    async with app:
        await seed(app)
        outcome = await app.bus.execute(BumpTwice())
        assert outcome.attempts == 1
        assert outcome.response == Counted(value=11)
        assert await value_of(app) == 11
        assert runs == {"outer": 1, "bump": 1}
        # Without reading again, the handler's own update wins inside the
        # unit, as any later write in one transaction does; still one commit.
        await app.bus.execute(BumpTwice(reread=False))
        assert await value_of(app) == 21
        assert runs == {"outer": 2, "bump": 2}


async def test_retries_repeat_nothing_outside_the_unit(database_url: str) -> None:
    """50 hits on one counter at once, each retried until it commits. Handlers,
    event handlers and resources run once per attempt; the nested dispatch's
    write, the counter's increments and the renderer happen once per hit."""
    tally = {"handler": 0, "event": 0, "renderer": 0, "clean": 0, "failed": 0}
    shop = Domain("shop")
    shop.table(COUNTERS)
    shop.table(AUDIT)

    @shop.resource("outside")
    async def outside(ctx: Context) -> AsyncIterator[None]:
        try:
            yield
        except BaseException:
            tally["failed"] += 1
            raise
        tally["clean"] += 1

    @shop.command(Hit, retry=PATIENT)
    async def hit(cmd: Hit, ctx: Context) -> AsyncIterator[Any]:
        tally["handler"] += 1
        await ctx.resource("outside")
        await app.bus.dispatch(Audit(id=cmd.id))
        yield Hits(id=cmd.id)
        yield Counted(value=cmd.id)

    @shop.command(Audit)
    async def audit(cmd: Audit, ctx: Context) -> None:
        await ctx.state.insert(AUDIT, {"id": cmd.id, "note": "hit"})

    @shop.event(Hits)
    async def counted(evt: Hits, ctx: Context) -> AsyncIterator[Any]:
        tally["event"] += 1
        row = await ctx.state.require(COUNTERS, "hits")
        yield Update(schema=COUNTERS, key="hits", changes={"value": row["value"] + 1})

    @shop.renderer(Counted)
    async def render(counted: Counted, ctx: Context) -> None:
        tally["renderer"] += 1

    app = App([shop], databases={"default": database_url}, create_tables=True)
    attempts: list[int] = []
    async with app:
        await seed(app)

        async def run(i: int) -> None:
            attempts.append((await app.bus.execute(Hit(id=i))).attempts)

        async with anyio.create_task_group() as tg:
            for i in range(50):
                tg.start_soon(run, i)
        assert await value_of(app) == 50
        assert await count(app, "audit") == 50
    runs = sum(attempts)
    assert tally == {
        "handler": runs,
        "event": runs,
        "renderer": 50,
        "clean": 50,
        "failed": runs - 50,
    }


async def test_a_nested_dispatch_that_fails_after_changing_the_unit(
    database_url: str,
) -> None:
    """The outer handler catches the nested failure and goes on: the unit holds
    half of the nested command, so it cannot commit; nothing is written."""
    shop = Domain("shop")
    shop.table(COUNTERS)

    class Half(Command):
        pass

    class Outer(Command):
        pass

    @shop.command(Half)
    async def half(cmd: Half, ctx: Context) -> None:
        await ctx.state.update(COUNTERS, "hits", {"value": 99})
        raise ValueError("the second half failed")

    @shop.command(Outer)
    async def outer(cmd: Outer, ctx: Context) -> None:
        await ctx.state.insert(COUNTERS, {"name": "other", "value": 1})
        try:
            await app.bus.dispatch(Half())
        except ValueError:
            pass

    app = App([shop], databases={"default": database_url}, create_tables=True)
    async with app:
        async with app.context(domain="shop") as ctx:
            await ctx.state.insert(COUNTERS, {"name": "hits", "value": 0})
        with pytest.raises(ContextError, match="commits whole") as caught:
            await app.bus.dispatch(Outer())
        assert isinstance(caught.value.__cause__, ValueError)
        assert await value_of(app) == 0
        assert await count(app, "counters") == 1


async def test_a_nested_dispatch_of_another_domain_keeps_its_fence(
    database_url: str,
) -> None:
    """billing's command, dispatched from shop's handler, writes billing's
    table in shop's unit; each domain still touches only its own tables."""
    shop, billing = Domain("shop"), Domain("billing")
    shop.table(COUNTERS)
    billing.table(INVOICES)
    seen: list[str] = []

    class Sell(Command):
        peek: bool = False
        fail: bool = False

    @shop.command(Sell)
    async def sell(cmd: Sell, ctx: Context) -> None:
        row = await ctx.state.require(COUNTERS, "hits")
        await ctx.state.update(COUNTERS, "hits", {"value": row["value"] + 1})
        await app.bus.dispatch(
            Charge(id=row["value"], amount=5, touch_counters=cmd.peek)
        )
        try:
            await ctx.state.get(INVOICES, row["value"])
        except Forbidden:
            seen.append("shop kept out of invoices")
        if cmd.fail:
            raise RuntimeError("the sale fell through")

    @billing.command(Charge)
    async def charge(cmd: Charge, ctx: Context) -> None:
        if cmd.touch_counters:
            await ctx.state.get(COUNTERS, "hits")
        await ctx.state.insert(INVOICES, {"id": cmd.id, "amount": cmd.amount})

    app = App([shop, billing], databases={"default": database_url}, create_tables=True)
    async with app:
        await seed(app)
        await app.bus.dispatch(Sell())
        assert seen == ["shop kept out of invoices"]
        assert await value_of(app) == 1
        assert await count(app, "invoices") == 1
        with pytest.raises(Forbidden, match="billing"):
            await app.bus.dispatch(Sell(peek=True))
        assert await value_of(app) == 1  # all or nothing: the unit rolled back
        assert await count(app, "invoices") == 1
        with pytest.raises(RuntimeError):
            await app.bus.dispatch(Sell(fail=True))
        # billing's invoice was part of the sale's unit: not written either.
        assert await value_of(app) == 1
        assert await count(app, "invoices") == 1


async def test_a_renderer_that_fails_says_the_command_committed(
    database_url: str,
) -> None:
    """RenderError carries the committed response; the writes stay."""
    runs: dict[str, int] = {}
    shop = shop_domain(runs, [])

    @shop.renderer(Counted)
    async def render(counted: Counted, ctx: Context) -> None:
        raise LookupError("the template is missing")

    app = App([shop], databases={"default": database_url}, create_tables=True)
    async with app:
        await seed(app)
        with pytest.raises(RenderError, match="committed") as caught:
            await app.bus.dispatch(Bump(by=3))
        assert caught.value.response == Counted(value=3)
        assert caught.value.command == "shop:bump"
        assert isinstance(caught.value.__cause__, LookupError)
        assert await value_of(app) == 3
        assert runs == {"bump": 1}  # not retried: it committed


async def test_a_command_dispatched_from_a_renderer_runs_on_its_own(
    database_url: str,
) -> None:
    """After the commit there is no unit to join: the renderer's dispatch
    commits by itself."""
    shop = Domain("shop")
    shop.table(COUNTERS)
    shop.table(AUDIT)

    @shop.command(Hit)
    async def hit(cmd: Hit, ctx: Context) -> Counted:
        row = await ctx.state.require(COUNTERS, "hits")
        await ctx.state.update(COUNTERS, "hits", {"value": row["value"] + 1})
        return Counted(value=row["value"] + 1)

    @shop.command(Audit)
    async def audit(cmd: Audit, ctx: Context) -> None:
        await ctx.state.insert(AUDIT, {"id": cmd.id, "note": "rendered"})

    @shop.renderer(Counted)
    async def render(counted: Counted, ctx: Context) -> None:
        await app.bus.dispatch(Audit(id=counted.value))

    app = App([shop], databases={"default": database_url}, create_tables=True)
    async with app:
        await seed(app)
        assert await app.bus.dispatch(Hit(id=1)) == Counted(value=1)
        assert await value_of(app) == 1
        assert await count(app, "audit") == 1
