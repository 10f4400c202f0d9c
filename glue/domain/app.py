"""App: composes domains into one application with a bus and its databases.

::

    databases = {"default": "sqlite:///shop.db", "orders": "postgresql://..."}
    async with App([shop, billing], databases=databases, create_tables=True) as app:
        cmd = app.decode("shop:create-order", request_body)
        placed = await app.bus.dispatch(cmd, actor=user)
        rows = await app.query(statement)

Building an App checks and freezes its domains and builds every table the bus
needs, so mistakes surface there. Opening it (``async with``) opens every database
(a bad URL or an unreachable database fails here, with :class:`glue.ConnectionError`),
finishes the prepared transactions a crash left in them (two-phase commit: see
:mod:`glue.work.recovery`), routes each declared table to its database's pool,
creates missing tables when asked, and makes the bus accept dispatches; closing it
releases what it opened, in reverse order, every pool included, even on error.
"""

from __future__ import annotations

import contextlib
import enum
from typing import TYPE_CHECKING, Any, Literal

import anyio
import msgspec

from ..connections.manager import DEFAULT, ConnectionManager
from ..connections.options import database
from ..context.context import Context
from ..errors import (
    ConfigurationError,
    ContextError,
    GlueError,
    SchemaError,
    UnknownCommand,
    UnknownService,
)
from ..log import get_logger
from ..outbox.relay import Relay
from ..services.dal import Dal
from ..services.diff import diff_tables
from ..services.reads import DataQueryService
from ..services.schema import SchemaCommandService
from ..work.recovery import recover_prepared
from .bus import Bus
from .context import DomainContext
from .registry import DomainScope, Registry
from .tables import TableAccess

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator, Mapping
    from types import TracebackType
    from typing import Self

    from ..connections.abc import ConnectionPool
    from ..connections.options import Database
    from ..entities.base import Command
    from ..entities.codec import Payload
    from ..query.model import QueryStatement
    from ..typing import ResourceFactory
    from ..work.retry import RetryPolicy
    from .domain import Domain

__all__ = ["App", "AppState"]

_log = get_logger(__name__)

_CLOSE_GRACE = 5.0
"""Seconds an App that delivers in-process gives, when it closes, first to the
rounds in progress and then to delivering the events that are due; what is
left then waits for the next App to open."""


class AppState(enum.Enum):
    """Where an App is in its life: built, open, or closed (for good)."""

    NEW = "new"
    OPEN = "open"
    CLOSED = "closed"


class App:
    """An application: domains composed, with one bus and their databases.

    Args:
        domains: the domains to compose. Two may reuse entity names (full names
            differ by domain); two may not share a name or a command type.
        databases: database name → URL (``{"default": "sqlite:///shop.db",
            "orders": "postgresql://..."}``), or → a mapping with ``url`` and
            pool options (``{"url": ..., "max_size": 20}``), or a
            :class:`glue.connections.Database` (see
            :mod:`glue.connections.options`); or a ready ConnectionManager whose
            pools are named so. The App opens it when it opens and closes it
            when it closes. None for an app without databases (handlers keep
            data their own way; ``ctx.state`` is unavailable).
        create_tables: when the app opens, check the declared tables that exist
            against their schemas and create those that do not (see
            :meth:`create_tables`); kept as :attr:`create_tables_at_open`.
        retry: how commands that do not set ``retry=`` retry a conflict at
            commit; ``RetryPolicy()`` (3 attempts) by default.
        delivery: who runs the subscribers (see :mod:`glue.outbox`):
            ``"in-process"``, this App, after each commit (and, as it closes,
            what is due, for up to 5 seconds);
            ``"workers"``, ``glue worker`` processes; ``"auto"`` (the default),
            in-process when every outbox database is embedded (SQLite), else
            workers.

    Attributes:
        outbox: where events for subscribers are written, and who gets them.
        delivery: who runs the subscribers, as given.
        create_tables_at_open: whether opening the app runs
            :meth:`create_tables`; ``glue schema --diff`` turns it off to look at
            tables that do not match their schemas.

    Raises:
        glue.RegistrationError: domains that clash.
        glue.ConfigurationError: domains declare tables but there are no
            databases; a database with unknown or bad pool options.
    """

    def __init__(
        self,
        domains: Iterable[Domain],
        databases: Mapping[str, str | Database | Mapping[str, Any]]
        | ConnectionManager
        | None = None,
        *,
        create_tables: bool = False,
        retry: RetryPolicy | None = None,
        delivery: Literal["auto", "in-process", "workers"] = "auto",
    ) -> None:
        self.registry = Registry(domains, retry)
        self.bus = Bus(self.registry)
        self.outbox = self.registry.outbox
        self.delivery = delivery
        self._codecs = {
            name: self.registry.codecs[name] for name in self.registry.commands
        }
        if delivery not in ("auto", "in-process", "workers"):
            raise ConfigurationError(
                f"delivery={delivery!r}: use 'auto', 'in-process' or 'workers'"
            )
        if databases is None and self.outbox.active:
            raise ConfigurationError(
                "this App has subscribers, whose events go through an outbox in "
                "a database: pass `databases={'default': 'sqlite:///app.db'}`"
            )
        if databases is None and self.registry.tables:
            owners = sorted(
                scope.name for scope in self.registry.domains.values() if scope.tables
            )
            raise ConfigurationError(
                f"domain(s) {', '.join(owners)} declare tables, but this App has no "
                "databases: pass `databases={'default': 'sqlite:///app.db'}`"
            )
        self._databases: dict[str, Database] | ConnectionManager | None = (
            databases
            if databases is None or isinstance(databases, ConnectionManager)
            else {name: database(value, name=name) for name, value in databases.items()}
        )
        self._manager = databases if isinstance(databases, ConnectionManager) else None
        self.create_tables_at_open = create_tables
        self._queries: DataQueryService | None = None
        self._state = AppState.NEW
        self._stack = contextlib.AsyncExitStack()

    def __repr__(self) -> str:
        return f"<App domains={list(self.registry.domains)} {self._state.value}>"

    @property
    def state(self) -> AppState:
        """Whether the app is new, open or closed."""
        return self._state

    @property
    def databases(self) -> Mapping[str, Database] | ConnectionManager | None:
        """The databases as given: name → `glue.connections.Database` (its URL and
        pool options), a ConnectionManager, or None."""
        return self._databases

    @property
    def connections(self) -> ConnectionManager:
        """The ConnectionManager of the app's databases (a table's name routes
        to its database's pool).

        Raises:
            glue.ContextError: the app has no databases, or was given URLs and
                has not opened yet.
        """
        if self._manager is None:
            raise ContextError(
                "this App has no databases: give them with `App([...], "
                "databases={...})`"
                if self._databases is None
                else "the App opens its databases when it opens: use "
                "`async with App(...) as app:` first"
            )
        return self._manager

    @property
    def dal(self) -> Dal:
        """The services of the app's domain, for deferred calls:
        ``call = app.dal.orders.get_order(7)`` builds a
        :class:`~glue.services.dal.DeferredCall` to store or queue, and ``await
        call()`` runs it later inside a context.

        Raises:
            glue.ConfigurationError: several domains registered services; use
                :meth:`dal_of` to say whose.
        """
        with_services = [
            scope.name for scope in self.registry.domains.values() if scope.services
        ]
        if len(with_services) > 1:
            raise ConfigurationError(
                f"domains {', '.join(with_services)} each have services: say "
                "whose with app.dal_of(domain)"
            )
        names = with_services or list(self.registry.domains)
        if not names:
            raise ConfigurationError("this App has no domains, so no services")
        return self.dal_of(names[0])

    def dal_of(self, domain: str) -> Dal:
        """The services of ``domain``, for deferred calls (see :attr:`dal`).

        Raises:
            glue.ContextError: the app has no domain of that name.
        """
        scope = self._scope(domain)
        return Dal(scope.services)

    # -- swapping parts (tests) ---------------------------------------------------

    def replace_service(
        self, path: str, service: object, *, domain: str | None = None
    ) -> None:
        """Serve the service at ``path`` (and every path below it) from
        ``service`` in this App, from the next context on::

            app.replace_service("billing.orders", FakeOrders())

        The domain keeps its own registry: other Apps built from it are not
        affected. To undo, use :meth:`override` instead.

        Args:
            path: the service's dotted path.
            service: what serves it now.
            domain: the domain whose service it is; None for every domain that
                has a service at ``path``.

        Raises:
            glue.UnknownService: no domain (or not ``domain``) has a service at
                ``path``.
            glue.RegistrationError: ``path`` names a method (patch it instead:
                a patched method takes effect at its next call), or ``service``
                is not a service object.
        """
        if domain is not None:
            self._scope(domain).replace_service(path, service)
            return
        scopes = [s for s in self.registry.domains.values() if path in s.services]
        if not scopes:
            raise UnknownService(
                path, f"no domain of this App has a service at {path!r}"
            )
        for scope in scopes:
            scope.replace_service(path, service)

    def replace_resource(
        self,
        name: str,
        factory: ResourceFactory[Any],
        *,
        domain: str | None = None,
    ) -> None:
        """Set up the resource ``name`` with ``factory`` in this App, from the
        next context on::

            async def frozen_clock(ctx):
                yield FrozenClock(2030)

            app.replace_resource("clock", frozen_clock)

        The domain keeps its own factory: other Apps built from it are not
        affected. To undo, use :meth:`override` instead.

        Args:
            name: the resource's name.
            factory: an async generator function, like the one it replaces.
            domain: the domain whose resource it is; None for every domain that
                declared ``name``.

        Raises:
            glue.ConfigurationError: no domain (or not ``domain``) declared a
                resource ``name``.
            glue.RegistrationError: ``factory`` is not an async generator
                function.
        """
        if domain is not None:
            self._scope(domain).replace_resource(name, factory)
            return
        scopes = [s for s in self.registry.domains.values() if name in s.resources]
        if not scopes:
            declared = {n for s in self.registry.domains.values() for n in s.resources}
            raise ConfigurationError(
                f"no domain of this App declared a resource {name!r} to replace "
                f"(resources: {', '.join(sorted(declared)) or 'none'})"
            )
        for scope in scopes:
            scope.replace_resource(name, factory)

    @contextlib.contextmanager
    def override(
        self,
        *,
        services: Mapping[str, object] | None = None,
        resources: Mapping[str, ResourceFactory[Any]] | None = None,
        domain: str | None = None,
    ) -> Iterator[Self]:
        """Replace services and resources for the ``with`` block, then put the
        originals back::

            with app.override(services={"billing.orders": FakeOrders()},
                              resources={"clock": frozen_clock}):
                await app.bus.dispatch(PlaceOrder(...))

        Each entry is replaced as by :meth:`replace_service` and
        :meth:`replace_resource` (``domain`` as there). Contexts opened inside
        the block keep what they were given until they end.

        Raises:
            glue.UnknownService, glue.ConfigurationError, glue.RegistrationError:
                as the two methods do; then nothing stays replaced.
        """
        saved = [(scope, scope.parts()) for scope in self.registry.domains.values()]
        try:
            for path, service in (services or {}).items():
                self.replace_service(path, service, domain=domain)
            for name, factory in (resources or {}).items():
                self.replace_resource(name, factory, domain=domain)
            yield self
        finally:
            for scope, parts in saved:
                scope.restore(parts)

    @property
    def domains(self) -> list[str]:
        """The names of the app's domains, in the order given."""
        return list(self.registry.domains)

    def decode(self, name: str, payload: Payload) -> Command:
        """Validate ``payload`` as the command ``name`` and build it.

        Args:
            name: the command's full name, ``"shop:create-order"``.
            payload: JSON (bytes or str) or a mapping of field values.

        Raises:
            glue.UnknownCommand: no domain registered a command by that name.
            glue.ValidationError: the payload does not fit; ``.errors`` lists every
                bad field by JSON path.
        """
        try:
            codec = self._codecs[name]
        except (KeyError, TypeError):  # TypeError: an unhashable name
            raise UnknownCommand(name, self.registry.command_names()) from None
        # The usual cases, JSON bytes and a dict, take one msgspec call; what
        # fails to decode, the codec decodes again, naming every bad field.
        try:
            if type(payload) is bytes:
                command: Command = codec.json.decode(payload)
                return command
            if type(payload) is dict:
                command = msgspec.convert(payload, codec.entity)
                return command
        except (msgspec.MsgspecError, RecursionError):
            pass
        decoded: Command = codec.decode(payload)
        return decoded

    def _scope(self, domain: str) -> DomainScope:
        scope = self.registry.domains.get(domain)
        if scope is None:
            raise ContextError(
                f"no domain named {domain!r} in this app "
                f"(domains: {', '.join(self.registry.domains) or 'none'})"
            )
        return scope

    def context(
        self,
        *,
        domain: str | None = None,
        actor: Any = None,
        request_id: str | None = None,
        meta: Mapping[str, Any] | None = None,
        deadline: float | None = None,
    ) -> Context:
        """A new context, to enter with ``async with``.

        A context of a domain has the domain's resources, middleware and
        services (``ctx.dal``), and, in an App with databases, a unit of work
        of the domain's tables (``ctx.state``, ``ctx.unit``), opened on first
        use as in a dispatch. It commits when the context exits cleanly and
        rolls back on error or cancellation; it is not retried, so a
        :class:`glue.ConcurrencyConflict` reaches the caller::

            async with app.context(domain="shop", actor=user) as ctx:
                await ctx.state.insert(orders, {"id": 7, "customer": "ada"})
            # committed here

        Args:
            domain: the domain whose resources and middleware the context gets;
                None for a bare context with neither.
            actor: who is asking.
            request_id: an id for logs; made up when not given.
            meta: read-only request metadata.
            deadline: when the body is cancelled, on anyio's clock.

        Raises:
            glue.ContextError: the app has no domain of that name.
        """
        if domain is None:
            return Context(
                actor=actor, request_id=request_id, meta=meta, deadline=deadline
            )
        return DomainContext(self._scope(domain), actor, request_id, meta, deadline)

    async def __aenter__(self) -> Self:
        if self._state is not AppState.NEW:
            raise ContextError(
                f"this App is {self._state.value}: an App opens once; build a new "
                "one to open again"
            )
        self._state = AppState.OPEN
        await self._stack.__aenter__()
        try:
            if self._databases is not None:
                await self._open_databases(self._databases)
            self.bus.start()
            self._stack.callback(self.bus.stop)
        except BaseException:
            self._state = AppState.CLOSED
            await self._stack.aclose()
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the app: stop the bus, release what it opened. Idempotent."""
        if self._state is AppState.OPEN:
            self._state = AppState.CLOSED
            await self._stack.aclose()
        elif self._state is AppState.NEW:
            self._state = AppState.CLOSED

    # -- data ----------------------------------------------------------------------

    async def create_tables(self) -> list[str]:
        """Check every declared table that exists against its schema, then
        create those that do not, each on its database.

        ``App(..., create_tables=True)`` does this when the app opens, so a table
        that does not match its schema (a missing column, a column of another
        type, another primary key, a NOT NULL column the schema lets be None, a
        NOT NULL column the schema does not know) stops the app at startup, not
        at its first write. Existing tables are never altered: ``glue schema
        --diff`` lists every difference, ``--apply`` adds missing columns and
        indexes (see :mod:`glue.services.diff`).

        Returns:
            the names of the tables declared, in declaration order.

        Raises:
            glue.SchemaError: tables that do not match their schemas, every
                difference listed; nothing was created.
            glue.ContextError: the app is not open, or has no databases.
            glue.DatabaseError: a database refused a table.
        """
        manager = self._require_open()
        tables = self.registry.tables
        diffs = await diff_tables(
            manager, [(table.schema, table.database) for table in tables.values()]
        )
        broken = [d for diff in diffs for d in diff.differences if d.breaks]
        if broken:
            lines = "\n".join(f"  {difference}" for difference in broken)
            raise SchemaError(
                f"{len(broken)} difference(s) between the declared tables and the "
                f"databases:\n{lines}\n`glue schema --diff` lists every "
                "difference; `glue schema --apply` adds missing columns and "
                "indexes"
            )
        for diff in diffs:
            if diff.found is None:
                pool = manager.get_connection_pool(diff.schema.name)
                await SchemaCommandService(pool).create_table(
                    diff.schema, if_not_exists=True
                )
        return list(tables)

    async def query(
        self, statement: QueryStatement, *, timeout: float | None = None
    ) -> list[dict[str, Any]]:
        """Run a query over the app's databases; tables in several are joined.

        Args:
            statement: the query (:class:`glue.query.QueryStatement`).
            timeout: seconds it may take.

        Returns:
            the rows, each a dict keyed by output name.

        Raises:
            glue.ContextError: the app is not open, or has no databases.
            glue.QueryError: an unknown table, field, alias or lookup, before any
                SQL runs.
        """
        queries = self._queries
        if queries is None or self._state is not AppState.OPEN:
            queries = self._service()  # refuses, as every query would
        return await queries.execute(statement, timeout=timeout)

    async def explain(self, statement: QueryStatement) -> str:
        """The plan of a query as an indented tree: which part runs on which
        database (with its SQL), and what runs in memory."""
        return await self._service().explain(statement)

    def _require_open(self) -> ConnectionManager:
        manager = self.connections
        if self._state is not AppState.OPEN:
            raise ContextError(
                f"this App is {self._state.value}: use it inside "
                "`async with App(...) as app:`"
            )
        return manager

    def _service(self) -> DataQueryService:
        self._require_open()
        assert self._queries is not None
        return self._queries

    async def _open_databases(
        self, databases: Mapping[str, Database] | ConnectionManager
    ) -> None:
        """Open the databases, route tables to pools, give domains their access."""
        if isinstance(databases, ConnectionManager):
            manager = databases
        else:
            manager = self._manager = ConnectionManager.from_urls(databases)
        routed = self._route_tables(manager)
        for name in routed:
            self._stack.callback(manager.unregister_connection_pool, name)
        await manager.open()
        self._stack.push_async_callback(manager.aclose)
        try:
            await recover_prepared(manager.pools.values())
        except GlueError as exc:  # the databases work; say so and go on
            _log.warning(
                "could not look for prepared transactions to recover", error=str(exc)
            )
        tables = self.registry.tables
        where = {name: table.database for name, table in tables.items()}
        for name, table in tables.items():
            # Each table's codec in its database's dialect, once, now.
            manager.get_connection_pool(name).dialect.codec(table.schema)
        for scope in self.registry.domains.values():
            scope.access = TableAccess(
                scope.name,
                {name: manager.get_connection_pool(name) for name in scope.tables},
                where,
            )
            self._stack.callback(setattr, scope, "access", None)
        self._queries = DataQueryService(
            manager, [table.schema for table in tables.values()]
        )
        if self.create_tables_at_open:
            await self.create_tables()
        if self.outbox.active:
            await self._open_outbox(manager)

    async def _open_outbox(self, manager: ConnectionManager) -> None:
        """Open the outbox; deliver in this process when it is the one to."""
        outbox = self.outbox
        await outbox.open(manager)
        self._stack.callback(outbox.close)
        pools = outbox.writer_pools()
        if not pools or self.delivery == "workers":
            return
        if self.delivery == "auto" and not all(p.dialect.embedded for p in pools):
            return
        relays = [Relay(self, pool) for pool in pools]
        # Runs last, once the relays stopped: deliver what is due.
        self._stack.push_async_callback(_deliver_due, relays)
        tg = await self._stack.enter_async_context(anyio.create_task_group())
        for relay in relays:
            outbox.listen(relay.wake)
            self._stack.callback(outbox.unlisten, relay.wake)
            tg.start_soon(relay.run)
        # Runs first when the App closes: stop the relays, then the task group
        # waits for them.
        self._stack.callback(_stop, relays, tg.cancel_scope)

    def _route_tables(self, manager: ConnectionManager) -> list[str]:
        """Register each declared table's name for its database's pool.

        Returns:
            the names registered (unregistered again when the app closes).

        Raises:
            glue.ConfigurationError: a table's database has no pool and there is
                no default, or the manager routes the table's name elsewhere.
        """
        pools = manager.pools
        routed: list[str] = []
        for name, table in self.registry.tables.items():
            pool: ConnectionPool | None = pools.get(table.database)
            if pool is None:
                pool = pools.get(DEFAULT)
            if pool is None:
                raise ConfigurationError(
                    f"table {name!r} lives in database {table.database!r}, but the "
                    f"App has no database of that name and no {DEFAULT!r} one "
                    f"(databases: {', '.join(sorted(pools)) or 'none'})"
                )
            registered = pools.get(name)
            if registered is None:
                if pool is not pools.get(DEFAULT):
                    manager.register_connection_pool(pool, name)
                    routed.append(name)
            elif registered is not pool:
                raise ConfigurationError(
                    f"table {name!r} is declared in database {table.database!r}, "
                    f"but the App's connections route {name!r} to pool "
                    f"{registered.name!r}"
                )
        return routed


def _stop(relays: list[Relay], scope: anyio.CancelScope) -> None:
    """Let each relay finish the round in progress, for up to
    ``_CLOSE_GRACE`` seconds: a round cut short leaves its claims leased until
    the lease runs out, and what follows them waits as long."""
    for relay in relays:
        relay.stop()
    scope.deadline = anyio.current_time() + _CLOSE_GRACE


async def _deliver_due(relays: list[Relay]) -> None:
    """Deliver what is due, round after round (a subscriber's events may make
    more due, on another relay), until a round of every relay finds nothing,
    for up to ``_CLOSE_GRACE`` seconds."""
    with anyio.move_on_after(_CLOSE_GRACE):
        try:
            while sum([await relay.round() for relay in relays]):
                pass
        except GlueError as exc:
            _log.warning("events left undelivered at close", error=str(exc))
