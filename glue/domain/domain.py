"""Domain: where a part of an application registers its handlers and resources.

::

    shop = Domain("shop")

    @shop.command(CreateOrder)
    async def create_order(cmd: CreateOrder, ctx: Context) -> OrderPlaced: ...

    @shop.event(OrderCreated)
    async def on_created(evt: OrderCreated, ctx: Context) -> None: ...

    @shop.resource("clock")
    async def clock(ctx: Context) -> AsyncIterator[float]:
        yield time.time()

    @shop.middleware
    async def audit(ctx: Context) -> AsyncIterator[None]:
        yield

    orders = shop.table(Schema(name="orders", ...), database="orders")

    @shop.renderer(OrderPlaced)
    async def render(placed: OrderPlaced, ctx: Context) -> OrderPlaced | None: ...

Decorators only register, and check what they can right away: the entity types,
the handler's kind (async function or async generator), duplicates. Once an
:class:`glue.App` is built from the domain it is frozen: registering more raises
:class:`glue.RegistrationError`.
"""

from __future__ import annotations

import inspect
import re
from typing import TYPE_CHECKING, Any, TypeVar, overload

import msgspec

from ..entities.base import Command, Entity, Event, Ok, Response
from ..errors import RegistrationError, SchemaError
from ..outbox.subscriber import Backoff, Subscriber
from ..schema.model import DELETED_AT, Schema
from ..services.dal import Services
from .policy import Policy
from .returns import ANY_RESPONSE, declared_responses
from .tables import DEFAULT_DATABASE, Exposure, Table

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping, Sequence

    from ..services.dal import ServiceMiddleware
    from ..typing import Middleware, ResourceFactory
    from ..work.retry import RetryPolicy

S = TypeVar("S")
M = TypeVar("M", bound="ServiceMiddleware")

__all__ = ["CommandRegistration", "Domain", "EventRegistration"]

F = TypeVar("F", bound="Callable[..., Any]")
_NAME = re.compile(r"[a-z][a-z0-9]*(?:[-_][a-z0-9]+)*")


class CommandRegistration:
    """One command type's handler, as registered (see :meth:`Domain.command`)."""

    __slots__ = (
        "command",
        "generator",
        "handler",
        "if_match",
        "requires",
        "retry",
        "returns",
    )

    def __init__(
        self,
        command: type[Command],
        handler: Callable[..., Any],
        generator: bool,
        requires: frozenset[str],
        retry: RetryPolicy | None = None,
        returns: tuple[type[Response], ...] = ANY_RESPONSE,
        if_match: bool = False,
    ) -> None:
        self.command = command
        self.handler = handler
        self.generator = generator
        self.requires = requires
        self.retry = retry
        self.returns = returns
        self.if_match = if_match


class EventRegistration:
    """One handler of an event type, as registered (see :meth:`Domain.event`)."""

    __slots__ = ("event", "generator", "handler")

    def __init__(
        self, event: type[Event], handler: Callable[..., Any], generator: bool
    ) -> None:
        self.event = event
        self.handler = handler
        self.generator = generator


class Domain:
    """A named set of entities, handlers, resources and middleware.

    Args:
        name: the domain's name, the prefix of its entities' full names
            (``"shop"`` → ``"shop:create-order"``). Lowercase words joined by
            ``-`` or ``_``.

    Raises:
        glue.RegistrationError: the name is not valid.
    """

    def __init__(self, name: str, *, outbox: str | None = None) -> None:
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            raise RegistrationError(
                f"domain name {name!r} is not valid: use lowercase letters and "
                "digits, words joined by '-' or '_'"
            )
        self.name = name
        self._entities: dict[str, type[Entity]] = {}
        self._commands: dict[type[Command], CommandRegistration] = {}
        self._events: list[EventRegistration] = []
        self._resources: dict[str, ResourceFactory[Any]] = {}
        self._middleware: list[Middleware] = []
        self._tables: dict[str, Table] = {}
        self._exposed: dict[str, Exposure] = {}
        self._renderers: dict[type[Response], Callable[..., Any]] = {}
        self._services = Services()
        self._subscribers: list[Subscriber] = []
        self._aggregates: dict[type[Event], str] = {}
        self._outbox = outbox
        self._frozen = False

    def __repr__(self) -> str:
        return f"Domain({self.name!r})"

    # -- what was registered ------------------------------------------------------

    @property
    def entities(self) -> Mapping[str, type[Entity]]:
        """Entity name → class, for every entity registered here."""
        return dict(self._entities)

    @property
    def commands(self) -> Mapping[type[Command], CommandRegistration]:
        """Command type → its handler registration."""
        return dict(self._commands)

    @property
    def event_handlers(self) -> Sequence[EventRegistration]:
        """Every event handler registration, in registration order."""
        return tuple(self._events)

    @property
    def resources(self) -> Mapping[str, ResourceFactory[Any]]:
        """Resource name → factory."""
        return dict(self._resources)

    @property
    def middleware_functions(self) -> Sequence[Middleware]:
        """Middleware in registration order (outermost first)."""
        return tuple(self._middleware)

    @property
    def tables(self) -> Mapping[str, Table]:
        """Table name → its declaration (schema and database), in order."""
        return dict(self._tables)

    @property
    def exposed(self) -> Mapping[str, Exposure]:
        """Table name → how clients may read it, for the tables exposed."""
        return dict(self._exposed)

    @property
    def renderers(self) -> Mapping[type[Response], Callable[..., Any]]:
        """Response type → its renderer."""
        return dict(self._renderers)

    @property
    def services(self) -> Services:
        """The domain's services: its contexts reach them as ``ctx.dal``."""
        return self._services

    @property
    def subscribers(self) -> Sequence[Subscriber]:
        """Every subscriber registration, in registration order."""
        return tuple(self._subscribers)

    @property
    def aggregates(self) -> Mapping[type[Event], str]:
        """Event type → the field that names its aggregate."""
        return dict(self._aggregates)

    @property
    def outbox_database(self) -> str:
        """The database holding the domain's outbox and inbox: the one given as
        ``Domain(outbox=...)``, else that of its first table, else
        ``"default"``."""
        if self._outbox is not None:
            return self._outbox
        for table in self._tables.values():
            return table.database
        return DEFAULT_DATABASE

    @property
    def frozen(self) -> bool:
        """Whether an App was built from this domain (no more registrations)."""
        return self._frozen

    def freeze(self) -> None:
        """Refuse registrations from now on. Apps call this when they are built.

        Raises:
            glue.RegistrationError: a service contains itself.
        """
        self._services.freeze()
        self._frozen = True

    # -- registering -----------------------------------------------------------------

    def register(self, *entities: type[Entity], aggregate: str | None = None) -> None:
        """Register entities that no handler names: events without handlers yet,
        responses, commands served elsewhere.

        Args:
            entities: the entity classes.
            aggregate: for events, the field naming the aggregate each event
                belongs to (``aggregate="order_id"``): subscribers get one
                aggregate's events in commit order (see :mod:`glue.outbox`).

        Raises:
            glue.RegistrationError: not an entity class, a name taken here by
                another class, or an ``aggregate`` that is not a field of an
                event.
        """
        self._check_open("register entities")
        for entity in entities:
            self._add_entity(entity, Entity, "register")
        if aggregate is not None:
            for entity in entities:
                fields = getattr(entity, "__struct_fields__", ())
                if not issubclass(entity, Event) or aggregate not in fields:
                    raise RegistrationError(
                        f"{self.name}.register({entity.__qualname__}, aggregate="
                        f"{aggregate!r}): the aggregate is a field of an Event "
                        f"(its fields: {', '.join(fields) or 'none'})"
                    )
                self._aggregates[entity] = aggregate

    def subscriber(
        self,
        *events: type[Event],
        name: str | None = None,
        attempts: int = 5,
        base_delay: float = 0.5,
        max_delay: float = 60.0,
    ) -> Callable[[F], F]:
        """Register the decorated function as a subscriber of ``events``.

        A subscriber runs after the unit that emitted the event committed,
        outside it, in a unit of work of this domain (``ctx.state``, its
        resources and middleware), once in effect per event and in order per
        aggregate; its failures never reach the writer. It is retried with
        backoff (``base_delay``, doubling up to ``max_delay`` seconds) and
        parked as a dead letter after ``attempts`` failures (see
        :mod:`glue.outbox`). It may yield mutations, and events of this domain:
        those go to the outbox with its unit, and leave only if it commits.
        Event handlers (:meth:`event`) keep running inside the writer's unit.

        Args:
            events: the Event classes it handles (of any domain of the App).
            name: its name, the key of its inbox and dead letters;
                ``"domain.function"`` by default. Renaming it starts afresh.
            attempts: the most runs of one delivery.
            base_delay: seconds before the first retry.
            max_delay: the longest wait between two runs.

        Raises:
            glue.RegistrationError: no event type, a type that is not an
                Event, or a handler that is not ``async def``.
        """
        self._check_open("register a subscriber")
        if not events or not all(
            isinstance(e, type) and issubclass(e, Event) and e is not Event
            for e in events
        ):
            raise RegistrationError(
                f"{self.name}.subscriber() takes Event classes, got {events!r}; "
                f"write @{self.name}.subscriber(OrderPaid)"
            )
        if attempts < 1 or base_delay < 0 or max_delay < 0:
            raise RegistrationError(
                f"{self.name}.subscriber(): attempts must be at least 1 and the "
                "delays at least 0"
            )
        backoff = Backoff(attempts=attempts, base_delay=base_delay, max_delay=max_delay)

        def decorate(handler: F) -> F:
            self._check_open("register a subscriber")
            generator = _handler_kind(handler, f"{self.name}.subscriber")
            label = name or f"{self.name}.{handler.__name__}"
            if any(s.name == label for s in self._subscribers):
                raise RegistrationError(
                    f"domain {self.name!r} already has a subscriber named "
                    f"{label!r}: give this one another with name="
                )
            self._subscribers.append(
                Subscriber(label, self.name, events, handler, generator, backoff)
            )
            return handler

        return decorate

    def command(
        self,
        *commands: type[Command],
        requires: Iterable[str] = (),
        retry: RetryPolicy | None = None,
        returns: Any = ...,
        if_match: bool = False,
    ) -> Callable[[F], F]:
        """Register the decorated function as the handler of ``commands``.

        A command has exactly one handler; one handler may serve several commands.
        The handler is an async function returning a Response (None means ``Ok``),
        or an async generator yielding Events and at most one Response.

        Args:
            *commands: the command types, at least one.
            requires: permissions the actor must hold (see :class:`glue.Actor`).
            retry: how often to run the command again when its unit of work
                meets a :class:`glue.ConcurrencyConflict` at commit; the App's
                ``retry=`` when None.
            returns: the Response class the handler gives (a union or tuple of
                them; None in it for ``Ok``); read from the handler's return
                annotation when not given (see :mod:`glue.domain.returns`).
                The bus refuses any other response with
                :class:`glue.HandlerError`.
            if_match: the command changes a row the caller read, and needs its
                etag: the HTTP front requires an ``If-Match`` header (428
                without) and passes it as ``ctx.meta.if_match``, for the
                handler to give as ``etag=``.

        Raises:
            glue.RegistrationError: no command type, a type that is not a Command,
                a command that already has a handler, a handler that is neither
                an async function nor an async generator, or ``returns=`` that
                is not Response classes.
        """
        self._check_open("register a command handler")
        if not commands:
            raise RegistrationError(
                f"{self.name}.command() needs at least one command type: "
                f"@{self.name}.command(CreateOrder)"
            )
        for command in commands:
            if not (isinstance(command, type) and issubclass(command, Entity)):
                raise RegistrationError(
                    f"{self.name}.command() takes Command classes, got {command!r}; "
                    f"write @{self.name}.command(CreateOrder)"
                )
        required = Policy(self.name, requires).requires

        def decorate(handler: F) -> F:
            self._check_open("register a command handler")
            generator = _handler_kind(handler, f"{self.name}.command")
            declared = declared_responses(
                handler,
                generator,
                returns,
                f"{self.name}.command({_describe(handler)})",
            )
            for command in commands:
                self._add_entity(command, Command, "command")
                existing = self._commands.get(command)
                if existing is not None:
                    raise RegistrationError(
                        f"{self.name}:{command.__entity_name__} already has a "
                        f"handler, {_describe(existing.handler)}; "
                        f"{_describe(handler)} cannot handle it too"
                    )
            for response in declared:
                if response not in (Ok, Response):
                    self._add_entity(response, Response, "command")
            for command in commands:
                self._commands[command] = CommandRegistration(
                    command, handler, generator, required, retry, declared, if_match
                )
            return handler

        return decorate

    def event(self, *events: type[Event]) -> Callable[[F], F]:
        """Register the decorated function as a handler of ``events``.

        An event may have any number of handlers; they run in registration order.
        The handler is an async function returning None, or an async generator
        yielding what the unit of work should apply (mutations).

        Raises:
            glue.RegistrationError: no event type, a type that is not an Event, or
                a handler that is neither an async function nor an async generator.
        """
        self._check_open("register an event handler")
        if not events:
            raise RegistrationError(
                f"{self.name}.event() needs at least one event type: "
                f"@{self.name}.event(OrderCreated)"
            )
        for event in events:
            if not (isinstance(event, type) and issubclass(event, Entity)):
                raise RegistrationError(
                    f"{self.name}.event() takes Event classes, got {event!r}; "
                    f"write @{self.name}.event(OrderCreated)"
                )

        def decorate(handler: F) -> F:
            self._check_open("register an event handler")
            generator = _handler_kind(handler, f"{self.name}.event")
            for event in events:
                self._add_entity(event, Event, "event")
            self._events.extend(
                EventRegistration(event, handler, generator) for event in events
            )
            return handler

        return decorate

    def table(
        self,
        table: Schema | type[msgspec.Struct],
        *,
        database: str = DEFAULT_DATABASE,
    ) -> Schema:
        """Declare a table this domain reads and writes, and the database it is in.

        Handlers of this domain may touch only the tables it declared (through
        ``ctx.state``, yielded mutations or repositories); anything else raises
        :class:`glue.Forbidden` before any SQL runs.

        Args:
            table: the table's :class:`glue.schema.Schema`, or a msgspec Struct
                to derive one from (:meth:`~glue.schema.Schema.from_struct`).
            database: the name of the database it lives in, a key of the App's
                ``databases=`` (an unknown name falls back to ``"default"``).

        Returns:
            the table's schema, to use in mutations and repositories.

        Raises:
            glue.RegistrationError: not a schema, a bad database name, or a table
                name this domain already declared in another database.
        """
        self._check_open("declare a table")
        if isinstance(table, type) and issubclass(table, msgspec.Struct):
            table = Schema.from_struct(table)
        if not isinstance(table, Schema):
            raise RegistrationError(
                f"{self.name}.table() takes a Schema or a msgspec Struct class, "
                f"got {table!r}"
            )
        if not isinstance(database, str) or not database:
            raise RegistrationError(
                f"{self.name}.table({table.name!r}): database must be a database "
                f"name such as 'default', got {database!r}"
            )
        existing = self._tables.get(table.name)
        if existing is not None and existing != Table(table, database):
            raise RegistrationError(
                f"domain {self.name!r} already declared table {table.name!r} in "
                f"database {existing.database!r}; a table is declared once"
            )
        self._tables[table.name] = Table(table, database)
        return table

    def expose(
        self,
        table: Schema | str,
        *,
        fields: Iterable[str] | None = None,
        requires: Iterable[str] = (),
    ) -> Schema:
        """Let clients read a table this domain declared: the HTTP front
        serves it as ``GET /{domain}/{table}`` (rows, filtered and paged) and
        ``GET /{domain}/{table}/{key}`` (one row, with its etag). No table is
        readable unless exposed.

        Args:
            table: the table, or its name.
            fields: the columns clients may read, filter and order by; every
                column but ``deleted_at`` when None.
            requires: permissions a reader must hold.

        Returns:
            the table's schema.

        Raises:
            glue.RegistrationError: not a table this domain declared, or a
                field that is not one of its columns.
        """
        self._check_open("expose a table")
        name = table.name if isinstance(table, Schema) else table
        declared = self._tables.get(name)
        if declared is None:
            raise RegistrationError(
                f"{self.name}.expose({name!r}): declare the table first, with "
                f"{self.name}.table(...)"
            )
        schema = declared.schema
        if fields is None:
            chosen = tuple(c for c in schema.column_names if c != DELETED_AT)
        else:
            chosen = tuple(fields)
            try:
                schema.check_columns(chosen, f"{self.name}.expose fields")
            except SchemaError as exc:
                raise RegistrationError(str(exc)) from None
        required = Policy(f"{self.name}.expose({name!r})", requires).requires
        self._exposed[name] = Exposure(schema=schema, fields=chosen, requires=required)
        return schema

    def renderer(self, *responses: type[Response]) -> Callable[[F], F]:
        """Register the decorated function as the renderer of ``responses``.

        A renderer runs after the dispatch's unit of work has committed, inside
        the dispatch's context: ``async def render(response, ctx)``. It may read
        the committed data (``ctx.state`` is then a fresh, read-only unit of
        work) and return a new Response to give the caller instead, or None to
        keep the handler's. Changing data in a renderer raises
        :class:`glue.HandlerError`, and nothing of it is written; an error
        in a renderer reaches the caller, and the data stays committed.

        Raises:
            glue.RegistrationError: no response type, a type that is not a
                Response, a response that already has a renderer, or a renderer
                that is not an async function.
        """
        self._check_open("register a renderer")
        if not responses:
            raise RegistrationError(
                f"{self.name}.renderer() needs at least one response type: "
                f"@{self.name}.renderer(OrderPlaced)"
            )

        def decorate(renderer: F) -> F:
            self._check_open("register a renderer")
            if not inspect.iscoroutinefunction(renderer):
                raise RegistrationError(
                    f"{self.name}.renderer: {_describe(renderer)} must be an async "
                    "function (`async def render(response, ctx)`)"
                )
            for response in responses:
                self._add_entity(response, Response, "renderer")
                existing = self._renderers.get(response)
                if existing is not None:
                    raise RegistrationError(
                        f"{self.name}:{response.__entity_name__} already has a "
                        f"renderer, {_describe(existing)}; {_describe(renderer)} "
                        "cannot render it too"
                    )
            for response in responses:
                self._renderers[response] = renderer
            return renderer

        return decorate

    def service(self, name: str, service: S) -> S:
        """Register a service; the domain's contexts call it through ``ctx.dal``.

        ``shop.service("orders", OrderService())`` makes
        ``await ctx.dal.orders.get_order(7)`` work in every context of the
        domain; dotted names nest (``"billing.invoices"``).

        Returns:
            ``service``, so that registration can be an assignment.

        Raises:
            glue.RegistrationError: a bad or taken name, or the domain is frozen.
        """
        self._check_open("register a service")
        self._services.register(name, service)
        return service

    def service_middleware(self, middleware: M) -> M:
        """Add method middleware around every service call of this domain,
        ``async def mw(request, call_next)``; the first added is the outermost.

        Raises:
            glue.RegistrationError: the domain is frozen, or ``middleware`` is
                not an async callable taking ``(request, call_next)``.
        """
        self._check_open("add service middleware")
        return self._services.middleware(middleware)

    @overload
    def resource(self, name: str, /) -> Callable[[F], F]: ...

    @overload
    def resource(self, factory: F, /) -> F: ...

    def resource(self, name_or_factory: str | F, /) -> Callable[[F], F] | F:
        """Register a lazy resource factory under a name.

        ``@shop.resource("clock")`` names it; bare ``@shop.resource`` uses the
        function's name. The factory is an async generator taking the context and
        yielding the value once.

        Raises:
            glue.RegistrationError: the name is taken in this domain, or the
                factory is not an async generator function.
        """
        self._check_open("register a resource")

        def decorate(factory: F, name: str) -> F:
            if not inspect.isasyncgenfunction(factory):
                raise RegistrationError(
                    f"resource {name!r} of domain {self.name!r}: the factory "
                    f"{_describe(factory)} must be an async generator "
                    "(`async def factory(ctx): ... yield value`)"
                )
            if name in self._resources:
                raise RegistrationError(
                    f"domain {self.name!r} already has a resource {name!r}, "
                    f"{_describe(self._resources[name])}"
                )
            self._resources[name] = factory
            return factory

        if isinstance(name_or_factory, str):
            name = name_or_factory
            return lambda factory: decorate(factory, name)
        return decorate(name_or_factory, name_or_factory.__name__)

    def middleware(self, function: F) -> F:
        """Register context middleware: an async generator that yields once.

        Middleware runs around every context of this domain's dispatches, set up in
        registration order and torn down in reverse.

        Raises:
            glue.RegistrationError: not an async generator function.
        """
        self._check_open("register middleware")
        if not inspect.isasyncgenfunction(function):
            raise RegistrationError(
                f"middleware {_describe(function)} of domain {self.name!r} must be "
                "an async generator (`async def mw(ctx): ... yield ...`)"
            )
        self._middleware.append(function)
        return function

    # -- checks --------------------------------------------------------------------

    def _check_open(self, what: str) -> None:
        if self._frozen:
            raise RegistrationError(
                f"cannot {what} on domain {self.name!r}: an App was already built "
                "from it; register everything before building the App"
            )

    def _add_entity(self, entity: type[Entity], kind: type[Entity], how: str) -> None:
        if not (isinstance(entity, type) and issubclass(entity, kind)):
            raise RegistrationError(
                f"{self.name}.{how}() takes {kind.__name__} classes, got {entity!r}"
            )
        if entity in (Command, Event, Response):
            raise RegistrationError(
                f"{self.name}.{how}(): subclass {entity.__name__} and register the "
                "subclass; the base itself cannot be registered"
            )
        name = entity.__entity_name__
        existing = self._entities.get(name)
        if existing is not None and existing is not entity:
            raise RegistrationError(
                f"domain {self.name!r} already has an entity named {name!r}, "
                f"{_describe(existing)}; {_describe(entity)} cannot take the same "
                "name: give one of them another with `name=...`"
            )
        self._entities[name] = entity


def _handler_kind(handler: Callable[..., Any], where: str) -> bool:
    """True for an async generator function, False for an async function."""
    if inspect.isasyncgenfunction(handler):
        return True
    if inspect.iscoroutinefunction(handler):
        return False
    raise RegistrationError(
        f"{where}: {_describe(handler)} must be an async function or an async "
        "generator (`async def`)"
    )


def _describe(thing: object) -> str:
    """``module.QualName`` of a class or function, for messages."""
    module = getattr(thing, "__module__", None)
    name = getattr(thing, "__qualname__", None) or repr(thing)
    return f"{module}.{name}" if module else name
