"""The bus on real databases: units of work per dispatch (S12, E09), retries on
conflicts at commit, renderers after the commit (E11), table isolation (E12),
cancellation (C11), queries through the app and the App's database lifetime."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import anyio
import msgspec
import pytest

from glue import (
    Actor,
    App,
    Command,
    ConcurrencyConflict,
    ConfigurationError,
    ConnectionError,
    Context,
    ContextError,
    Domain,
    Event,
    Forbidden,
    RegistrationError,
    RenderError,
    Response,
    StaleEtag,
    current_context,
)
from glue.connections import ConnectionManager
from glue.query import (
    Condition,
    Conditions,
    FieldReference,
    JoinQuery,
    OrderByQuery,
    QueryStatement,
    SchemaReference,
)
from glue.schema import Column, ColumnType, Schema
from glue.state import Delete, Insert, Update
from glue.work import (
    Repository,
    RetryPolicy,
    UnitOfWork,
    current_unit,
    require_unit,
)

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path

ORDERS = Schema(
    name="orders",
    columns=(
        Column(name="id", type=ColumnType.INTEGER),
        Column(name="customer", type=ColumnType.TEXT),
        Column(name="status", type=ColumnType.TEXT, default="new"),
    ),
    primary_key=("id",),
    audit=True,
)
COUNTERS = Schema(
    name="counters",
    columns=(
        Column(name="name", type=ColumnType.TEXT),
        Column(name="value", type=ColumnType.INTEGER),
    ),
    primary_key=("name",),
)
INVOICES = Schema(
    name="invoices",
    columns=(
        Column(name="id", type=ColumnType.INTEGER),
        Column(name="order_id", type=ColumnType.INTEGER),
    ),
    primary_key=("id",),
)
FAST = RetryPolicy(attempts=500, base_delay=0.001, max_delay=0.02)


class PlaceOrder(Command):
    id: int
    customer: str
    fail_in_event: bool = False


class OrderPlaced(Event):
    id: int
    fail: bool = False


class Placed(Response):
    id: int
    status: str = ""


class Increment(Command):
    name: str = "hits"
    by: int = 1
    wait: bool = False


class Count(Response):
    value: int


class Bill(Command):
    order_id: int
    how: str


class OrderRepository(Repository[Any]):
    schema = ORDERS


def shop_domain(*, database: str = "default", retry: RetryPolicy = FAST) -> Domain:
    """A shop whose orders and counters live in ``database``."""
    shop = Domain("shop")
    shop.table(ORDERS, database=database)
    shop.table(COUNTERS, database=database)

    @shop.command(PlaceOrder)
    async def place(cmd: PlaceOrder, ctx: Context) -> AsyncIterator[Any]:
        await ctx.state.insert(ORDERS, {"id": cmd.id, "customer": cmd.customer})
        yield OrderPlaced(id=cmd.id, fail=cmd.fail_in_event)
        yield Placed(id=cmd.id)

    @shop.event(OrderPlaced)
    async def accept(evt: OrderPlaced, ctx: Context) -> AsyncIterator[Any]:
        yield Update(schema=ORDERS, key=evt.id, changes={"status": "accepted"})
        if evt.fail:
            raise RuntimeError("the warehouse is on fire")

    @shop.command(Increment, retry=retry)
    async def increment(cmd: Increment, ctx: Context) -> Count:
        row = await ctx.state.get(COUNTERS, cmd.name)
        if row is None:
            row = await ctx.state.insert(COUNTERS, {"name": cmd.name, "value": 0})
        value = row["value"] + cmd.by
        await ctx.state.update(COUNTERS, cmd.name, {"value": value})
        return Count(value=value)

    return shop


async def rows(app: App, table: str) -> list[dict[str, Any]]:
    """Every row of ``table``, read through the app after the fact."""
    first = "id" if table != "counters" else "name"
    return await app.query(
        QueryStatement(
            table=SchemaReference(name=table),
            order_by=[OrderByQuery(field=FieldReference.of(table, first))],
        )
    )


def checked_out(app: App) -> int:
    pools = {id(p): p for p in app.connections.pools.values()}
    return sum(p.statistics().checked_out for p in pools.values())


# -- the unit of work of a dispatch ------------------------------------------------


async def test_command_and_event_handler_commit_together(database_url: str) -> None:
    async with App(
        [shop_domain()], databases={"default": database_url}, create_tables=True
    ) as app:
        outcome = await app.bus.execute(
            PlaceOrder(id=1, customer="ada"), actor=Actor(id="clerk")
        )
        assert outcome.response == Placed(id=1)
        assert outcome.written == 1  # the insert and the update: one row
        (order,) = await rows(app, "orders")
        assert order["status"] == "accepted"
        assert order["created_by"] == order["updated_by"] == "clerk"
        assert checked_out(app) == 0


async def test_a_handler_error_rolls_everything_back(database_url: str) -> None:
    async with App(
        [shop_domain()], databases={"default": database_url}, create_tables=True
    ) as app:
        with pytest.raises(RuntimeError, match="on fire"):
            await app.bus.dispatch(PlaceOrder(id=1, customer="ada", fail_in_event=True))
        assert await rows(app, "orders") == []
        assert checked_out(app) == 0
        assert current_unit() is None


async def test_yielded_mutations_apply_in_order(database_url: str) -> None:
    shop = Domain("shop")
    shop.table(ORDERS)

    class Go(Command):
        pass

    class Went(Event):
        pass

    @shop.command(Go)
    async def go(cmd: Go, ctx: Context) -> AsyncIterator[Went]:
        yield Went()

    @shop.event(Went)
    async def first(evt: Went, ctx: Context) -> AsyncIterator[Any]:
        yield Insert(schema=ORDERS, values={"id": 1, "customer": "ada"})
        yield Update(schema=ORDERS, key=1, changes={"status": "one"})
        yield Insert(schema=ORDERS, values={"id": 2, "customer": "bob"})
        yield Delete(schema=ORDERS, key=2)

    @shop.event(Went)
    async def second(evt: Went, ctx: Context) -> AsyncIterator[Any]:
        # The first handler's mutations are applied already.
        row = await ctx.state.require(ORDERS, 1)
        yield Update(schema=ORDERS, key=1, changes={"status": row["status"] + "+two"})
        yield Insert(schema=ORDERS, values={"id": 3, "customer": "cy"})

    async with App([shop], databases={"default": database_url}) as app:
        assert await app.create_tables() == ["orders"]
        outcome = await app.bus.execute(Go())
        assert [type(m).__name__ for m in outcome.mutations] == [
            "Insert",
            "Update",
            "Insert",
            "Delete",
            "Update",
            "Insert",
        ]
        assert [(r["id"], r["status"]) for r in await rows(app, "orders")] == [
            (1, "one+two"),
            (3, "new"),
        ]


async def test_repositories_in_handlers_share_the_dispatch_unit(
    database_url: str,
) -> None:
    shop = shop_domain()

    class Rename(Command):
        id: int
        customer: str

    @shop.command(Rename)
    async def rename(cmd: Rename, ctx: Context) -> Placed:
        before = await ctx.state.require(ORDERS, cmd.id)
        repo = OrderRepository()
        assert repo.unit is ctx.unit is current_unit()
        await repo.update(cmd.id, {"customer": cmd.customer})
        after = await ctx.state.require(ORDERS, cmd.id)
        assert after["customer"] == cmd.customer != before["customer"]
        return Placed(id=cmd.id, status=after["status"])

    async with App(
        [shop], databases={"default": database_url}, create_tables=True
    ) as app:
        await app.bus.dispatch(PlaceOrder(id=1, customer="ada"))
        assert await app.bus.dispatch(Rename(id=1, customer="bea")) == Placed(
            id=1, status="accepted"
        )
        assert current_unit() is None
        ((order),) = await rows(app, "orders")
        assert order["customer"] == "bea"


async def test_a_repository_built_first_finds_the_dispatch_unit(
    database_url: str,
) -> None:
    shop = shop_domain()

    class Open(Command):
        id: int

    seen: list[object] = []

    @shop.command(Open)
    async def open_(cmd: Open, ctx: Context) -> None:
        repo = OrderRepository()  # before anything touched ctx.state
        seen.append(current_unit())  # not open yet
        await repo.create({"id": cmd.id, "customer": "ada"})
        seen.append(current_unit())
        assert repo.unit is ctx.unit is current_unit()
        row = await ctx.state.require(ORDERS, cmd.id)
        assert row["customer"] == "ada"

    async with App(
        [shop], databases={"default": database_url}, create_tables=True
    ) as app:
        outcome = await app.bus.execute(Open(id=3))
        assert seen[0] is None and seen[1] is not None
        assert outcome.written == 1
        assert current_unit() is None
        assert [order["id"] for order in await rows(app, "orders")] == [3]


async def test_a_dispatch_without_data_work_opens_no_unit(database_url: str) -> None:
    shop = shop_domain()

    class Ping(Command):
        pass

    seen: list[object] = []

    @shop.command(Ping)
    async def ping(cmd: Ping, ctx: Context) -> None:
        seen.append(current_unit())

    async with App(
        [shop], databases={"default": database_url}, create_tables=True
    ) as app:
        outcome = await app.bus.execute(Ping())
        assert seen == [None]
        assert outcome.written == 0
        # Left without awaiting: its unit source is no longer bound, and no
        # context is current.
        assert current_unit() is None and current_context() is None
        with pytest.raises(ContextError, match="no unit of work is active"):
            require_unit()


# -- conflicts and retries -----------------------------------------------------


async def test_two_writers_of_one_row_one_retries_both_count(database_url: str) -> None:
    shop = Domain("shop")
    shop.table(COUNTERS)
    read = {"a": 0, "b": 0}
    both_read = anyio.Event()

    class Add(Command):
        who: str
        by: int

    @shop.command(Add, retry=RetryPolicy(attempts=3, base_delay=0.001))
    async def add(cmd: Add, ctx: Context) -> None:
        row = await ctx.state.require(COUNTERS, "hits")
        read[cmd.who] += 1
        if sum(read.values()) == 2:
            both_read.set()
        await both_read.wait()  # both read the same state before either writes
        await ctx.state.update(COUNTERS, "hits", {"value": row["value"] + cmd.by})

    async with App([shop], databases={"default": database_url}) as app:
        await app.create_tables()
        await seed_counter(app, "hits", 0)
        outcomes: dict[str, int] = {}

        async def run(who: str, by: int) -> None:
            outcome = await app.bus.execute(Add(who=who, by=by))
            outcomes[who] = outcome.attempts

        async with anyio.create_task_group() as tg:
            tg.start_soon(run, "a", 1)
            tg.start_soon(run, "b", 10)
        assert sorted(outcomes.values()) == [1, 2]  # exactly one conflicted
        assert sorted(read.values()) == [1, 2]  # and its handler ran again
        ((counter),) = await rows(app, "counters")
        assert counter["value"] == 11
        assert checked_out(app) == 0


async def seed_counter(app: App, name: str, value: int) -> None:
    """Write a counter row outside any command."""
    pool = app.connections.get_connection_pool("counters")
    placeholder = pool.dialect.placeholder(1)
    second = pool.dialect.placeholder(2)
    async with pool.acquire(write=True) as conn:
        await conn.execute(
            f"INSERT INTO counters (name, value, etag) VALUES "  # noqa: S608
            f"({placeholder}, {second}, 'seed')",
            (name, value),
        )


async def test_a_hundred_concurrent_increments_count_exactly(
    database_url: str,
) -> None:
    async with App(
        [shop_domain()], databases={"default": database_url}, create_tables=True
    ) as app:
        await seed_counter(app, "hits", 0)
        async with anyio.create_task_group() as tg:
            for _ in range(100):
                tg.start_soon(app.bus.dispatch, Increment())
        ((counter),) = await rows(app, "counters")
        assert counter["value"] == 100
        assert checked_out(app) == 0


async def test_retry_exhausted_raises_the_last_conflict(database_url: str) -> None:
    shop = shop_domain(retry=RetryPolicy(attempts=2, base_delay=0))
    runs: list[int] = []

    class Stale(Command):
        pass

    @shop.command(Stale, retry=RetryPolicy(attempts=2, base_delay=0))
    async def stale(cmd: Stale, ctx: Context) -> None:
        row = await ctx.state.require(COUNTERS, "hits")
        runs.append(row["value"])
        # Another unit of work commits a change to the row in between, every
        # time (a dispatch here would join this one's unit).
        async with UnitOfWork(app_ref[0].connections) as other:
            seen = await other.state.require(COUNTERS, "hits")
            await other.state.update(COUNTERS, "hits", {"value": seen["value"] + 1})
        await ctx.state.update(COUNTERS, "hits", {"value": row["value"] + 100})

    app_ref: list[App] = []
    async with App(
        [shop], databases={"default": database_url}, create_tables=True
    ) as app:
        app_ref.append(app)
        await seed_counter(app, "hits", 0)
        with pytest.raises(ConcurrencyConflict) as caught:
            await app.bus.dispatch(Stale())
        assert caught.value.table == "counters"
        assert not isinstance(caught.value, StaleEtag)
        assert runs == [0, 1]  # ran twice, each time beaten by an increment
        ((counter),) = await rows(app, "counters")
        assert counter["value"] == 2
        assert checked_out(app) == 0


async def test_a_conflict_raised_by_a_handler_is_not_retried(
    database_url: str,
) -> None:
    shop = shop_domain()
    runs: list[int] = []

    class IfMatch(Command):
        etag: str

    @shop.command(IfMatch)
    async def if_match(cmd: IfMatch, ctx: Context) -> None:
        runs.append(1)
        await ctx.state.update(COUNTERS, "hits", {"value": 5}, etag=cmd.etag)

    async with App(
        [shop], databases={"default": database_url}, create_tables=True
    ) as app:
        await seed_counter(app, "hits", 0)
        with pytest.raises(StaleEtag) as caught:
            await app.bus.dispatch(IfMatch(etag="not-the-etag"))
        assert runs == [1]
        assert isinstance(caught.value, ConcurrencyConflict)
        assert str(caught.value).startswith(
            "counters hits: etag not-the-etag is not the row's current etag"
        )


# -- renderers (E11) ---------------------------------------------------------------


async def test_a_renderer_runs_after_the_commit_and_reads_it(
    database_url: str,
) -> None:
    shop = shop_domain()
    seen: list[Any] = []

    @shop.renderer(Placed)
    async def render(placed: Placed, ctx: Context) -> Placed:
        app = app_ref[0]
        # Committed: another connection sees the row.
        committed = await rows(app, "orders")
        seen.append([r["status"] for r in committed])
        row = await ctx.state.require(ORDERS, placed.id)
        return Placed(id=placed.id, status=row["status"])

    app_ref: list[App] = []
    async with App(
        [shop], databases={"default": database_url}, create_tables=True
    ) as app:
        app_ref.append(app)
        assert await app.bus.dispatch(PlaceOrder(id=1, customer="ada")) == Placed(
            id=1, status="accepted"
        )
        assert seen == [["accepted"]]
        assert checked_out(app) == 0


async def test_a_renderer_cannot_write(database_url: str) -> None:
    shop = shop_domain()

    @shop.renderer(Placed)
    async def render(placed: Placed, ctx: Context) -> None:
        await ctx.state.update(ORDERS, placed.id, {"status": "rendered"})

    async with App(
        [shop], databases={"default": database_url}, create_tables=True
    ) as app:
        with pytest.raises(RenderError, match="in a renderer") as caught:
            await app.bus.dispatch(PlaceOrder(id=1, customer="ada"))
        assert isinstance(caught.value.__cause__, ConfigurationError)
        assert caught.value.response == Placed(id=1)
        ((order),) = await rows(app, "orders")
        assert order["status"] == "accepted"  # committed, and not re-written


def test_renderer_registration_errors() -> None:
    shop = Domain("shop")
    with pytest.raises(RegistrationError, match="at least one"):
        shop.renderer()

    @shop.renderer(Placed)
    async def render(placed: Placed, ctx: Context) -> None:
        pass

    with pytest.raises(RegistrationError, match="already has a renderer"):
        shop.renderer(Placed)(render)
    with pytest.raises(RegistrationError, match="async function"):
        shop.renderer(Count)(lambda r, c: None)


# -- isolation (E12) ---------------------------------------------------------------


def billing_and_shop() -> tuple[Domain, Domain, list[str]]:
    shop = shop_domain()
    billing = Domain("billing")
    billing.table(INVOICES, database="billing")
    log: list[str] = []

    class Charged(Event):
        order_id: int

    @shop.command(Bill)
    async def bill(cmd: Bill, ctx: Context) -> AsyncIterator[Charged]:
        await ctx.state.insert(ORDERS, {"id": cmd.order_id, "customer": "ada"})
        match cmd.how:
            case "state":
                await ctx.state.insert(INVOICES, {"id": 1, "order_id": cmd.order_id})
            case "get":
                await ctx.state.get(INVOICES, 1)
            case "update_many":
                # Refused before the keys are looked at (this one is malformed).
                await ctx.state.update_many(INVOICES, [((1, 2), {"order_id": 2})])
            case "repository":

                class Invoices(Repository[Any]):
                    schema = INVOICES

                await Invoices().list()
            case "mutation":
                yield Charged(order_id=cmd.order_id)
        log.append("finished")

    @shop.event(Charged)
    async def charged(evt: Charged, ctx: Context) -> AsyncIterator[Any]:
        yield Insert(schema=INVOICES, values={"id": 1, "order_id": evt.order_id})

    return shop, billing, log


@pytest.mark.parametrize(
    "how", ["state", "get", "update_many", "repository", "mutation"]
)
async def test_an_undeclared_table_is_forbidden_before_any_sql(
    how: str, database_url: str, tmp_path: Path
) -> None:
    shop, billing, log = billing_and_shop()
    databases = {
        "default": database_url,
        "billing": f"sqlite:///{tmp_path / 'billing.sqlite'}",
    }
    async with App([shop, billing], databases=databases, create_tables=True) as app:
        with pytest.raises(Forbidden) as caught:
            await app.bus.dispatch(Bill(order_id=1, how=how))
        message = str(caught.value)
        assert "domain 'shop'" in message
        assert "table 'invoices'" in message
        assert "database 'billing'" in message
        assert caught.value.missing == {"invoices"}
        # Refused where touched: in the command handler, or in the event handler.
        assert log == (["finished"] if how == "mutation" else [])
        assert await rows(app, "orders") == []
        assert await rows(app, "invoices") == []
        assert checked_out(app) == 0


async def test_tables_route_to_their_databases(
    database_url: str, tmp_path: Path
) -> None:
    shop, billing, _ = billing_and_shop()

    class Invoice(Command):
        id: int
        order_id: int

    @billing.command(Invoice)
    async def invoice(cmd: Invoice, ctx: Context) -> None:
        await ctx.state.insert(INVOICES, {"id": cmd.id, "order_id": cmd.order_id})

    billing_url = f"sqlite:///{tmp_path / 'billing.sqlite'}"
    databases = {"default": database_url, "billing": billing_url}
    async with App([shop, billing], databases=databases, create_tables=True) as app:
        manager = app.connections
        assert manager.get_connection_pool("invoices") is manager.pools["billing"]
        assert manager.get_connection_pool("orders") is manager.pools["default"]
        await app.bus.dispatch(PlaceOrder(id=7, customer="ada"))
        await app.bus.dispatch(Invoice(id=1, order_id=7))
        joined = QueryStatement(
            table=SchemaReference(name="orders", alias="o"),
            only=[FieldReference.of("o", "customer"), FieldReference.of("i", "id")],
            joins=[
                JoinQuery(
                    table=SchemaReference(name="invoices", alias="i"),
                    on=Conditions(
                        Condition(
                            field=FieldReference.of("i", "order_id"),
                            value=FieldReference.of("o", "id"),
                        )
                    ),
                )
            ],
        )
        assert await app.query(joined) == [{"customer": "ada", "id": 1}]
        plan = await app.explain(joined)
        assert "orders" in plan and "invoices" in plan


def test_a_table_declared_differently_by_two_domains_is_refused() -> None:
    one, two = Domain("one"), Domain("two")
    one.table(ORDERS)
    two.table(ORDERS, database="other")
    with pytest.raises(RegistrationError, match="'orders' is declared by domains"):
        App([one, two], databases={"default": "sqlite:///:memory:"})


def test_tables_need_databases() -> None:
    with pytest.raises(ConfigurationError, match="no databases"):
        App([shop_domain()])


def test_a_table_is_declared_once() -> None:
    shop = Domain("shop")
    assert shop.table(ORDERS) is ORDERS
    shop.table(ORDERS)  # the same declaration again: fine
    with pytest.raises(RegistrationError, match="already declared table"):
        shop.table(ORDERS, database="elsewhere")
    with pytest.raises(RegistrationError, match="takes a Schema"):
        shop.table("orders")  # type: ignore[arg-type]  # a user's mistake

    class Note(msgspec.Struct):
        id: int
        text: str

    assert shop.table(Note).name == "note"


# -- cancellation, deadlines, lifetime ---------------------------------------------


@pytest.mark.parametrize("how", ["cancel", "deadline"])
async def test_cancelled_dispatch_writes_nothing_and_returns_connections(
    how: str, database_url: str
) -> None:
    shop = shop_domain()
    flushed = anyio.Event()

    class Slow(Command):
        pass

    @shop.command(Slow)
    async def slow(cmd: Slow, ctx: Context) -> None:
        await ctx.state.insert(ORDERS, {"id": 1, "customer": "ada"})
        await ctx.unit.flush()  # written into the open transaction
        flushed.set()
        await anyio.sleep_forever()

    async with App(
        [shop], databases={"default": database_url}, create_tables=True
    ) as app:
        if how == "cancel":
            async with anyio.create_task_group() as tg:
                tg.start_soon(app.bus.dispatch, Slow())
                await flushed.wait()
                assert checked_out(app) == 1
                tg.cancel_scope.cancel()
        else:
            with pytest.raises(TimeoutError):
                await app.bus.dispatch(Slow(), deadline=anyio.current_time() + 0.5)
        assert flushed.is_set()
        assert checked_out(app) == 0
        assert await rows(app, "orders") == []


async def test_startup_fails_clearly_on_a_bad_url() -> None:
    app = App([shop_domain()], databases={"default": "nosuch://somewhere/db"})
    with pytest.raises(ConnectionError, match="unknown database URL scheme"):
        async with app:
            pass
    with pytest.raises(ContextError, match="closed"):
        await app.__aenter__()


async def test_startup_fails_clearly_on_an_unreachable_database(
    tmp_path: Path,
) -> None:
    good = f"sqlite:///{tmp_path / 'good.sqlite'}"
    manager = ConnectionManager.from_urls(
        {
            "default": good,
            "orders": "postgresql://postgres@127.0.0.1:1/nothing?connect_timeout=2",
        }
    )
    with pytest.raises(ConnectionError):
        async with App([shop_domain(database="orders")], databases=manager):
            pass
    assert all(p.statistics().size == 0 for p in manager.pools.values())


async def test_the_app_closes_every_pool_even_on_error(database_url: str) -> None:
    app = App([shop_domain()], databases={"default": database_url})
    with pytest.raises(RuntimeError, match="boom"):
        async with app:
            pool = app.connections.get_connection_pool("orders")
            assert pool.statistics().size >= 1
            raise RuntimeError("boom")
    assert pool.statistics().size == 0


async def test_state_needs_databases() -> None:
    shop = Domain("shop")

    class Look(Command):
        pass

    @shop.command(Look)
    async def look(cmd: Look, ctx: Context) -> None:
        ctx.state  # noqa: B018

    async with App([shop]) as app:
        with pytest.raises(ContextError, match="has no databases"):
            await app.bus.dispatch(Look())
        with pytest.raises(ContextError, match="no databases"):
            app.connections  # noqa: B018


async def test_the_app_wide_retry_policy_applies_to_commands_without_one(
    database_url: str,
) -> None:
    shop = Domain("shop")
    shop.table(COUNTERS)
    runs: list[int] = []

    class Stale(Command):
        pass

    @shop.command(Stale)
    async def stale(cmd: Stale, ctx: Context) -> None:
        row = await ctx.state.require(COUNTERS, "hits")
        runs.append(row["value"])
        await seed_counter_bump(app_ref[0])  # beaten to it, every time
        await ctx.state.update(COUNTERS, "hits", {"value": row["value"] + 100})

    app_ref: list[App] = []
    async with App(
        [shop],
        databases={"default": database_url},
        create_tables=True,
        retry=RetryPolicy(attempts=4, base_delay=0),
    ) as app:
        app_ref.append(app)
        await seed_counter(app, "hits", 0)
        with pytest.raises(ConcurrencyConflict):
            await app.bus.dispatch(Stale())
        assert runs == [0, 1, 2, 3]


async def seed_counter_bump(app: App) -> None:
    """Change the counter row behind a unit of work's back."""
    pool = app.connections.get_connection_pool("counters")
    sql = (
        "UPDATE counters SET value = value + 1, etag = 'bumped' || value "
        "WHERE name = 'hits'"
    )
    async with pool.acquire(write=True) as conn:
        await conn.execute(sql, ())


async def test_middleware_shares_the_unit_and_cannot_open_one_when_exiting(
    database_url: str,
) -> None:
    shop = shop_domain()
    seen: list[object] = []

    @shop.middleware
    async def around(ctx: Context) -> AsyncIterator[None]:
        seen.append(await ctx.state.get(ORDERS, 1))  # opens the dispatch's unit
        yield
        with pytest.raises(ContextError):
            _ = ctx.state  # exiting: committed, and no new unit
        seen.append("exited")

    async with App(
        [shop], databases={"default": database_url}, create_tables=True
    ) as app:
        outcome = await app.bus.execute(PlaceOrder(id=1, customer="ada"))
        assert outcome.written == 1
        assert seen == [None, "exited"]
        ((order),) = await rows(app, "orders")
        assert order["status"] == "accepted"
        assert checked_out(app) == 0
