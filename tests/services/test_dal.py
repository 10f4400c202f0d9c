"""The data access layer: services reached through a context (D01-D06, R01-R02)."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import anyio
import msgspec
import pytest

from glue import Context, current_context
from glue.connections import ConnectionManager
from glue.errors import (
    ContextError,
    Forbidden,
    NotFound,
    RegistrationError,
    UnknownService,
)
from glue.schema import Column, ColumnType, Schema
from glue.services.dal import (
    CallNext,
    Dal,
    DeferredCall,
    Service,
    ServiceCall,
    Services,
)
from glue.services.schema import SchemaCommandService
from glue.work import Repository, UnitOfWork, current_unit

if TYPE_CHECKING:
    from collections.abc import AsyncIterator


# A small service over an in-memory dict -----------------------------------------------


class Order(msgspec.Struct):
    id: int
    customer: str
    lines: list[str] = msgspec.field(default_factory=list)


class OrderService(Service):
    """Orders in a dict: the D06 conventions without a database."""

    def __init__(self) -> None:
        self.rows: dict[int, Order] = {}

    async def get_order(self, order_id: int) -> Order | None:
        return self.rows.get(order_id)

    async def create_order(self, order_id: int, customer: str) -> Order:
        order = self.rows[order_id] = Order(id=order_id, customer=customer)
        return order

    async def add_line(self, order_id: int, line: str) -> Order:
        order = self.rows.get(order_id)
        if order is None:
            raise NotFound("orders", order_id)
        order.lines.append(line)
        return order

    def count(self) -> int:
        return len(self.rows)


def make_services() -> tuple[Services, OrderService]:
    services = Services()
    orders = services.register("orders", OrderService())
    return services, orders


# D01: calls inside the active context, nesting to any depth ---------------------------


class Probe(Service):
    """Reports what it sees of the context it runs in."""

    async def where(self) -> tuple[Context | None, Context]:
        return current_context(), self.ctx

    def sync_where(self) -> Context | None:
        return current_context()


async def test_d01_call_runs_inside_the_active_context() -> None:
    services = Services()
    services.register("probe", Probe())
    async with Context() as ctx:
        dal = Dal(services, ctx)
        assert await dal.probe.where() == (ctx, ctx)
        assert await dal.probe.sync_where() is ctx


@pytest.mark.parametrize("frozen", [False, True], ids=["open", "frozen"])
async def test_d01_services_nest_three_deep_by_path_and_by_sub_service(
    frozen: bool,
) -> None:
    services = Services()
    services.register("shop.billing.invoices", Probe())
    shipping = Service()
    shipping.register("parcels", Service()).register("labels", Probe())
    services.register("shipping", shipping)
    async with Context() as ctx:
        dal = Dal(services, ctx)
        assert await dal.shop.billing.invoices.where() == (ctx, ctx)
        assert await dal.shipping.parcels.labels.where() == (ctx, ctx)
        if frozen:
            services.freeze()
        dal = Dal(services, ctx)
        assert isinstance(dal, Dal)
        assert await dal.shop.billing.invoices.where() == (ctx, ctx)
        assert await dal.shipping.parcels.labels.where() == (ctx, ctx)
        assert await dal.resolve("shipping.parcels.labels.sync_where")() is ctx
        assert dal.shop.billing == dal.resolve("shop.billing")
        assert repr(dal.shop.billing.invoices.where) == (
            "<service method 'shop.billing.invoices.where'>"
        )
        with pytest.raises(UnknownService, match=r"'shop\.billing\.taxes'"):
            dal.shop.billing.taxes  # noqa: B018


# D02: the context, its meta, its resources and the other services ---------------------


class Clock(Service):
    def now(self) -> float:
        return 1.5


class Report(Service):
    async def describe(self) -> dict[str, Any]:
        return {
            "actor": self.ctx.actor,
            "tenant": self.meta.tenant,
            "missing": self.meta.missing,
            "ledger": await self.resource("ledger"),
            "orders": await self.dal.orders.count(),
            "time": await self.dal.util.clock.now(),
        }


async def test_d02_service_reaches_context_meta_resources_and_services() -> None:
    services, orders = make_services()
    services.register("report", Report())
    services.register("util.clock", Clock())
    orders.rows[1] = Order(id=1, customer="ada")
    torn_down: list[str] = []

    async def ledger(ctx: Context) -> AsyncIterator[list[str]]:
        entries = [f"opened for {ctx.actor}"]
        yield entries
        torn_down.append("ledger")

    async with Context(
        actor="alice", meta={"tenant": "acme"}, resources={"ledger": ledger}
    ) as ctx:
        described = await Dal(services, ctx).report.describe()
        assert "ledger" in ctx
    assert described == {
        "actor": "alice",
        "tenant": "acme",
        "missing": None,
        "ledger": ["opened for alice"],
        "orders": 1,
        "time": 1.5,
    }
    assert torn_down == ["ledger"]


async def test_d02_service_properties_need_a_context_and_a_dal() -> None:
    report = Report()
    with pytest.raises(ContextError, match="no active context"):
        _ = report.ctx
    with pytest.raises(ContextError, match="no active context"):
        _ = report.dal
    async with Context():
        with pytest.raises(ContextError, match=r"Report\.dal needs a DAL"):
            _ = report.dal


async def test_d02_self_dal_is_the_calling_dal() -> None:
    class Self(Service):
        async def dal_of(self) -> Dal:
            return self.dal

    services = Services()
    services.register("me", Self())
    async with Context() as ctx:
        dal = Dal(services, ctx)
        assert await dal.me.dal_of() is dal


# D03: dotted paths resolve to the same callable; unknown paths are named --------------


async def test_d03_dotted_path_resolves_to_the_same_callable() -> None:
    services, _ = make_services()
    services.register("a.b.c", Probe())
    async with Context() as ctx:
        dal = Dal(services, ctx)
        assert dal.resolve("orders.create_order") == dal.orders.create_order
        assert dal.resolve("a.b") == dal.a.b
        await dal.resolve("orders.create_order")(7, "ada")
        order = await dal.orders.get_order(7)
        assert order is not None and order.customer == "ada"
        assert await dal.resolve("a.b.c.sync_where")() is ctx
    assert "orders.get_order" in services and "a.b" in services
    assert "orders.nope" not in services and 3 not in services


def test_d03_unknown_path_names_the_full_path() -> None:
    services, _ = make_services()
    services.register("a.b", Probe())
    dal = Dal(services)
    with pytest.raises(UnknownService) as caught:
        dal.resolve("orders.get_ordr")
    assert str(caught.value) == (
        "no service or method 'orders.get_ordr': service 'orders' has no "
        "'get_ordr'; it has add_line(), count(), create_order(), get_order()"
    )
    with pytest.raises(UnknownService, match=r"'a\.x\.y': service 'a' has no 'x'"):
        dal.resolve("a.x.y")
    with pytest.raises(UnknownService, match="'nothing': the DAL has no"):
        dal.nothing  # noqa: B018
    with pytest.raises(UnknownService, match=r"'orders\.get_order\.more'"):
        dal.resolve("orders.get_order.more")
    # An unknown path is an AttributeError too, so the usual probes work.
    assert not hasattr(dal, "nothing")
    assert getattr(dal.orders, "get_ordr", None) is None


def test_d03_private_and_base_names_are_not_reachable() -> None:
    services = Services()
    services.register("report", Report())
    dal = Dal(services)
    for path in ("report._offers", "report.ctx", "report.dal", "report.register"):
        with pytest.raises(UnknownService, match=repr(path).replace(".", r"\.")):
            dal.resolve(path)
    with pytest.raises(AttributeError):
        dal.report.__wrapped__  # noqa: B018


# D04: deferred calls ------------------------------------------------------------------


async def test_d04_deferred_call_is_queued_and_run_later_inside_a_context() -> None:
    services, _ = make_services()
    seen: list[Context] = []

    @services.middleware
    async def record(request: ServiceCall, call_next: CallNext) -> Any:
        seen.append(request.context)
        return await call_next(request)

    app_dal = Dal(services)
    create = app_dal.orders.create_order(3, customer="bob")
    assert isinstance(create, DeferredCall)
    assert repr(create) == "DeferredCall(orders.create_order(3, customer='bob'))"
    assert (create.path, create.args, dict(create.kwargs)) == (
        "orders.create_order",
        (3,),
        {"customer": "bob"},
    )
    send, receive = anyio.create_memory_object_stream[DeferredCall](4)
    results: list[Any] = []

    async def worker() -> None:
        async with receive:
            async for call in receive:
                async with Context() as ctx:
                    results.append((await call(), ctx))

    async with anyio.create_task_group() as tg:
        tg.start_soon(worker)
        async with send:
            await send.send(create)
            await send.send(app_dal.orders.get_order(3))
            await send.send(app_dal.orders.count())
    assert [r for r, _ in results] == [
        Order(id=3, customer="bob"),
        Order(id=3, customer="bob"),
        1,
    ]
    assert seen == [ctx for _, ctx in results]


async def test_d04_deferred_call_outside_a_context_raises() -> None:
    services, orders = make_services()
    call = Dal(services).orders.create_order(1, "ada")
    with pytest.raises(ContextError, match=r"orders\.create_order\(1, 'ada'\) needs"):
        await call()
    assert orders.rows == {}
    with pytest.raises(UnknownService, match=r"'orders\.drop'"):
        Dal(services).orders.drop(1)


async def test_a_dal_is_used_only_inside_its_context() -> None:
    services, _ = make_services()
    async with Context() as ctx:
        dal = Dal(services, ctx)
        async with Context():
            with pytest.raises(ContextError, match="outside its DAL's context"):
                await dal.orders.count()
    with pytest.raises(ContextError, match="outside its DAL's context"):
        await dal.orders.count()


# D05: method middleware ---------------------------------------------------------------


async def test_d05_middleware_order_first_registered_outermost() -> None:
    services, _ = make_services()
    trail: list[str] = []

    def tracer(name: str) -> Any:
        async def middleware(request: ServiceCall, call_next: CallNext) -> Any:
            trail.append(f"{name}>{request.path}")
            try:
                return await call_next(request)
            finally:
                trail.append(f"<{name}")

        return middleware

    services.middleware(tracer("outer"))
    services.middleware(tracer("inner"))
    async with Context() as ctx:
        assert await Dal(services, ctx).orders.count() == 0
    assert trail == ["outer>orders.count", "inner>orders.count", "<inner", "<outer"]


async def test_d05_middleware_rewrites_arguments_and_sees_the_request() -> None:
    services, _ = make_services()
    requests: list[ServiceCall] = []

    @services.middleware
    async def normalise(request: ServiceCall, call_next: CallNext) -> Any:
        requests.append(request)
        if request.path == "orders.create_order":
            customer = request.kwargs["customer"].strip().lower()
            request = request.replace(kwargs={"customer": customer})
        return await call_next(request)

    async with Context() as ctx:
        created = await Dal(services, ctx).orders.create_order(5, customer=" Ada ")
    assert created == Order(id=5, customer="ada")
    (request,) = requests
    assert (request.path, request.args, dict(request.kwargs), request.context) == (
        "orders.create_order",
        (5,),
        {"customer": " Ada "},
        ctx,
    )


async def test_d05_middleware_refuses_a_call() -> None:
    services, orders = make_services()

    @services.middleware
    async def only_admins(request: ServiceCall, call_next: CallNext) -> Any:
        if request.path.startswith("orders.create") and request.context.actor != "root":
            raise Forbidden(f"{request.path} needs an admin", missing=["admin"])
        return await call_next(request)

    async with Context(actor="mallory") as ctx:
        with pytest.raises(Forbidden, match=r"orders\.create_order needs an admin"):
            await Dal(services, ctx).orders.create_order(1, "x")
        assert await Dal(services, ctx).orders.count() == 0
    async with Context(actor="root") as ctx:
        await Dal(services, ctx).orders.create_order(1, "x")
    assert list(orders.rows) == [1]


async def test_d05_middleware_runs_around_nested_service_calls() -> None:
    services, _ = make_services()
    services.register("report", Report())
    services.register("util.clock", Clock())
    paths: list[str] = []

    @services.middleware
    async def record(request: ServiceCall, call_next: CallNext) -> Any:
        paths.append(request.path)
        return await call_next(request)

    async def ledger(ctx: Context) -> AsyncIterator[list[str]]:
        yield []

    async with Context(resources={"ledger": ledger}) as ctx:
        await Dal(services, ctx).report.describe()
    assert paths == ["report.describe", "orders.count", "util.clock.now"]


# D06: getters return None; operations needing a missing parent raise NotFound ---------


async def test_d06_getter_none_and_missing_parent_not_found() -> None:
    services, _ = make_services()
    async with Context() as ctx:
        dal = Dal(services, ctx)
        assert await dal.orders.get_order(404) is None
        with pytest.raises(NotFound, match="orders 404 not found") as caught:
            await dal.orders.add_line(404, "tea")
        assert (caught.value.table, caught.value.key) == ("orders", 404)
        await dal.orders.create_order(1, "ada")
        assert (await dal.orders.add_line(1, "tea")).lines == ["tea"]


# Sync and async methods ---------------------------------------------------------------


async def test_sync_async_and_awaitable_returning_methods() -> None:
    class Mixed:
        """A plain object: any object can be a service."""

        def plain(self, x: int) -> int:
            return x + 1

        async def coroutine(self, x: int) -> int:
            return x + 2

        def deferred(self, x: int) -> Any:
            return self.coroutine(x + 10)

        @staticmethod
        def static(x: int) -> int:
            return x * 2

    services = Services()
    services.register("mixed", Mixed())
    async with Context() as ctx:
        dal = Dal(services, ctx)
        assert await dal.mixed.plain(1) == 2
        assert await dal.mixed.coroutine(1) == 3
        assert await dal.mixed.deferred(1) == 13
        assert await dal.mixed.static(4) == 8


# Registration -------------------------------------------------------------------------


def test_duplicate_name_names_both_services() -> None:
    services, _ = make_services()
    with pytest.raises(RegistrationError) as caught:
        services.register("orders", Probe())
    assert str(caught.value) == (
        "service 'orders' is registered twice: OrderService and Probe; give one "
        "of them another name"
    )
    services.register("a.b.c", Probe())
    with pytest.raises(RegistrationError, match=r"'a\.b\.c' is registered twice"):
        services.register("a.b.c", Clock())


def test_bad_registrations_are_refused() -> None:
    services, _ = make_services()
    services.register("plain", object())
    cases = {
        "plain.child": "'plain' is object (not a glue.Service)",
        "orders.get_order": "'get_order' is already a method",
        "orders.ctx": "'ctx' is already a method or attribute",
        "resolve": "'resolve' is an attribute of the DAL itself",
        "context.x": "'context' is an attribute of the DAL itself",
        "a..b": "invalid service name 'a..b'",
        "_hidden": "invalid service name '_hidden'",
        "class": "invalid service name 'class'",
    }
    for name, message in cases.items():
        with pytest.raises(RegistrationError, match=re.escape(message)):
            services.register(name, Probe())
    with pytest.raises(RegistrationError, match="register a service object"):
        services.register("none", None)
    with pytest.raises(RegistrationError, match="register a service object"):
        services.register("nested", Services())


def test_freeze_ends_registration_everywhere() -> None:
    services = Services()
    billing = services.register("billing", Service())
    services.register("billing.invoices", Probe())
    services.freeze()
    services.freeze()
    assert services.frozen
    with pytest.raises(RegistrationError, match="'late': the services are frozen"):
        services.register("late", Probe())
    with pytest.raises(RegistrationError, match="'taxes': the services are frozen"):
        billing.register("taxes", Probe())

    async def middleware(request: ServiceCall, call_next: CallNext) -> Any:
        return await call_next(request)

    with pytest.raises(RegistrationError, match="cannot add middleware"):
        services.middleware(middleware)


def test_a_service_cannot_contain_itself() -> None:
    services = Services()
    loop = services.register("loop", Service())
    loop.register("inner.again", loop)
    with pytest.raises(RegistrationError, match=r"'loop\.inner\.again' is Service"):
        services.freeze()
    assert not services.frozen
    services.register("late", Probe())


# Repositories shared in one unit of work, separate per task (R01, R02) ----------------

ACCOUNTS = Schema(
    name="dal_accounts",
    columns=(
        Column(name="id", type=ColumnType.INTEGER),
        Column(name="owner", type=ColumnType.TEXT),
    ),
    primary_key=("id",),
)
ENTRIES = Schema(
    name="dal_entries",
    columns=(
        Column(name="id", type=ColumnType.INTEGER),
        Column(name="account_id", type=ColumnType.INTEGER),
        Column(name="amount", type=ColumnType.INTEGER),
    ),
    primary_key=("id",),
)


class Account(msgspec.Struct):
    id: int
    owner: str


class Entry(msgspec.Struct):
    id: int
    account_id: int
    amount: int


class AccountRepository(Repository[Account]):
    schema = ACCOUNTS


class EntryRepository(Repository[Entry]):
    schema = ENTRIES


class AccountService(Service):
    async def get(self, account_id: int) -> Account | None:
        return await AccountRepository().get(account_id)

    async def open(self, account_id: int, owner: str) -> Account:
        return await AccountRepository().create({"id": account_id, "owner": owner})

    def unit(self) -> UnitOfWork | None:
        return current_unit()


class LedgerService(Service):
    async def post(self, entry_id: int, account_id: int, amount: int) -> Entry:
        if await self.dal.accounts.get(account_id) is None:
            raise NotFound(ACCOUNTS.name, account_id)
        return await EntryRepository().create(
            {"id": entry_id, "account_id": account_id, "amount": amount}
        )

    async def balance(self, account_id: int) -> int | None:
        if await self.dal.accounts.get(account_id) is None:
            return None
        entries = await EntryRepository().list({"account_id": account_id})
        return sum(e.amount for e in entries)


@pytest.fixture
async def manager(database_url: str) -> AsyncIterator[ConnectionManager]:
    async with ConnectionManager.from_urls(
        {"default": database_url}, max_size=4
    ) as opened:
        schemas = SchemaCommandService(opened.get_connection_pool())
        await schemas.create_table(ACCOUNTS)
        await schemas.create_table(ENTRIES)
        yield opened


def bank() -> Services:
    services = Services()
    services.register("accounts", AccountService())
    services.register("ledger", LedgerService())
    services.freeze()
    return services


async def test_r02_services_share_one_unit_of_work(manager: ConnectionManager) -> None:
    services = bank()
    async with Context(actor="alice") as ctx, UnitOfWork(manager, actor="alice"):
        dal = Dal(services, ctx)
        assert await dal.ledger.balance(1) is None
        await dal.accounts.open(1, "alice")
        await dal.ledger.post(10, 1, 30)
        await dal.ledger.post(11, 1, 12)
        assert await dal.ledger.balance(1) == 42
        with pytest.raises(NotFound, match="dal_accounts 2 not found"):
            await dal.ledger.post(12, 2, 5)
    async with Context() as ctx, UnitOfWork(manager):
        dal = Dal(services, ctx)
        assert await dal.accounts.get(1) == Account(id=1, owner="alice")
        assert await dal.ledger.balance(1) == 42


async def test_r02_a_failed_unit_writes_nothing(manager: ConnectionManager) -> None:
    services = bank()
    with pytest.raises(NotFound):
        async with Context() as ctx, UnitOfWork(manager):
            dal = Dal(services, ctx)
            await dal.accounts.open(1, "alice")
            await dal.ledger.post(10, 2, 30)
    async with Context() as ctx, UnitOfWork(manager):
        assert await Dal(services, ctx).accounts.get(1) is None


async def test_r01_each_task_has_its_own_unit_of_work(
    manager: ConnectionManager,
) -> None:
    services = bank()
    opened = [anyio.Event(), anyio.Event()]
    checked = [anyio.Event(), anyio.Event()]
    units: list[UnitOfWork | None] = [None, None]
    others_seen: list[Account | None] = [None, None]

    async def task(i: int, dal: Dal) -> None:
        async with UnitOfWork(manager, actor=f"task{i}") as unit:
            await dal.accounts.open(i + 1, f"owner{i}")
            units[i] = await dal.accounts.unit()
            assert units[i] is unit
            opened[i].set()
            await opened[1 - i].wait()
            others_seen[i] = await dal.accounts.get(2 - i)
            checked[i].set()
            await checked[1 - i].wait()

    async with Context() as ctx:
        dal = Dal(services, ctx)
        async with anyio.create_task_group() as tg:
            tg.start_soon(task, 0, dal)
            tg.start_soon(task, 1, dal)
        assert await dal.accounts.unit() is None
    assert units[0] is not units[1]
    assert others_seen == [None, None]
    async with Context() as ctx, UnitOfWork(manager):
        dal = Dal(services, ctx)
        assert await dal.accounts.get(1) == Account(id=1, owner="owner0")
        assert await dal.accounts.get(2) == Account(id=2, owner="owner1")


def test_middleware_that_cannot_be_awaited_is_refused_at_registration() -> None:
    services, _ = make_services()

    def sync_middleware(request: ServiceCall, call_next: CallNext) -> Any:
        return call_next(request)

    async def one_argument(request: ServiceCall) -> Any:
        return request

    cases: dict[Any, str] = {
        sync_middleware: "sync_middleware is not an async function",
        "audit": "'audit' is not an async function",
        one_argument: "one_argument must take two arguments, (request, call_next)",
    }
    for middleware, message in cases.items():
        with pytest.raises(RegistrationError, match=re.escape(message)):
            services.middleware(middleware)

    class Callable:
        async def __call__(self, request: ServiceCall, call_next: CallNext) -> Any:
            return await call_next(request)

    services.middleware(Callable())
    assert len(services._middleware) == 1


def test_domain_refuses_a_middleware_that_is_not_async() -> None:
    from glue import Domain

    shop = Domain("shop")
    message = r"<locals>\.<lambda> is not an async function"
    with pytest.raises(RegistrationError, match=message):
        shop.service_middleware(lambda request, call_next: call_next(request))


async def test_an_overridden_registry_serves_replacements_only() -> None:
    services = Services()
    services.register("orders", OrderService())
    services.register("billing.invoices", Probe())
    services.freeze()

    class FakeOrders(Service):
        async def get_order(self, order_id: int) -> str:
            return f"fake {order_id}"

        async def only_here(self) -> str:
            return "only here"

    fake_billing = Service()
    fake_billing.register("invoices", FakeOrders())
    copy = services.overridden({"orders": FakeOrders()})
    deeper = copy.overridden({"billing": fake_billing})
    assert copy.frozen and "orders.only_here" in copy
    assert "orders.only_here" not in services
    async with Context() as ctx:
        assert await Dal(copy, ctx).orders.get_order(1) == "fake 1"
        assert await Dal(copy, ctx).orders.only_here() == "only here"
        assert await Dal(copy, ctx).resolve("orders.only_here")() == "only here"
        assert await Dal(services, ctx).orders.get_order(1) is None
        assert await Dal(deeper, ctx).billing.invoices.get_order(2) == "fake 2"
        assert await Dal(deeper, ctx).orders.only_here() == "only here"
        with pytest.raises(UnknownService, match=r"'billing\.invoices\.where'"):
            Dal(deeper, ctx).resolve("billing.invoices.where")
