"""The tables an App dispatches from, built once from its domains and then frozen.

Everything a dispatch needs is looked up here with one dict access: the command's
route (handler, its kind, policy, retry policy, the domain's resources and
middleware chain), and per domain, each event type's handlers, each response
type's renderer and the tables it declared.
"""

from __future__ import annotations

import functools
import inspect
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from ..context.middleware import MiddlewareChain
from ..entities.base import Command, Event, Ok
from ..entities.codec import Codec
from ..errors import ConfigurationError, ContextError, RegistrationError
from ..outbox.outbox import Outbox, Publisher
from ..services.dal import Dal
from ..state.facts import facts_of
from ..work.retry import RetryPolicy
from .policy import Policy
from .returns import ANY_RESPONSE
from .tables import DomainUnit

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping

    from ..context.context import Context
    from ..entities.base import Response
    from ..outbox.subscriber import Subscriber
    from ..typing import ResourceFactory
    from .domain import Domain
    from .tables import Exposure, Table, TableAccess

__all__ = ["CommandRoute", "DomainScope", "EventRoute", "Registry"]


class EventRoute:
    """One event handler, ready to call."""

    __slots__ = ("generator", "handler")

    def __init__(self, handler: Callable[..., Any], generator: bool) -> None:
        self.handler = handler
        self.generator = generator


class DomainScope:
    """What a context of one domain gets: its resources, middleware, events,
    renderers, tables and services.

    Attributes:
        name: the domain's name.
        resources: resource name → factory, the only resources it may use.
        chain: its middleware, folded once.
        events: event type → its handlers in registration order (empty for an
            event registered without handlers). Only these events may be emitted.
        renderers: response type → its renderer.
        tables: table name → declaration, the only tables it may touch.
        exposed: table name → how clients may read it (``Domain.expose``).
        access: its tables routed to their pools; set when the App opens with
            databases, None otherwise.
        services: its services, frozen.
        dal: builds a context's ``ctx.dal``.
    """

    __slots__ = (
        "access",
        "chain",
        "dal",
        "events",
        "exposed",
        "name",
        "renderers",
        "resources",
        "services",
        "tables",
    )

    def __init__(self, domain: Domain) -> None:
        self.name = domain.name
        self.resources: Mapping[str, ResourceFactory[Any]] = MappingProxyType(
            dict(domain.resources)
        )
        self.chain = MiddlewareChain(domain.middleware_functions)
        routes: dict[type[Event], list[EventRoute]] = {
            entity: []
            for entity in domain.entities.values()
            if issubclass(entity, Event)
        }
        for registration in domain.event_handlers:
            routes[registration.event].append(
                EventRoute(registration.handler, registration.generator)
            )
        self.events: Mapping[type[Event], tuple[EventRoute, ...]] = MappingProxyType(
            {event: tuple(handlers) for event, handlers in routes.items()}
        )
        self.renderers: Mapping[type[Response], Callable[..., Any]] = MappingProxyType(
            dict(domain.renderers)
        )
        self.tables: Mapping[str, Table] = MappingProxyType(dict(domain.tables))
        self.exposed: Mapping[str, Exposure] = MappingProxyType(dict(domain.exposed))
        self.access: TableAccess | None = None
        self.services = domain.services
        self.dal: Callable[[Context], Dal] = functools.partial(Dal, self.services)

    def replace_service(self, path: str, service: object) -> None:
        """Serve ``path`` (and what is below it) from ``service``, in this scope
        only: the domain's own registry is unchanged.

        Raises:
            glue.UnknownService: the domain has no service at ``path``.
            glue.RegistrationError: ``path`` names a method, or ``service`` is not
                a service object.
        """
        self.services = self.services.overridden({path: service})
        self.dal = functools.partial(Dal, self.services)

    def replace_resource(self, name: str, factory: ResourceFactory[Any]) -> None:
        """Set up the resource ``name`` with ``factory`` from now on, in this
        scope only.

        Raises:
            glue.ConfigurationError: the domain declared no resource ``name``.
            glue.RegistrationError: ``factory`` is not an async generator function.
        """
        if name not in self.resources:
            known = ", ".join(sorted(self.resources)) or "none"
            raise ConfigurationError(
                f"domain {self.name!r} has no resource {name!r} to replace "
                f"(its resources: {known}); declare it with @{self.name}.resource"
            )
        if not inspect.isasyncgenfunction(factory):
            raise RegistrationError(
                f"the replacement of resource {name!r} of domain {self.name!r} must "
                "be an async generator function (`async def factory(ctx): ... "
                f"yield value`), not {factory!r}"
            )
        self.resources = MappingProxyType({**self.resources, name: factory})

    def parts(self) -> tuple[Any, ...]:
        """What `replace_service` and `replace_resource` change, for `restore`."""
        return (self.services, self.dal, self.resources)

    def restore(self, parts: tuple[Any, ...]) -> None:
        """Undo the replacements made since `parts` was taken."""
        self.services, self.dal, self.resources = parts

    def open_unit(self, actor: Any, who: str, owner: object = None) -> DomainUnit:
        """A new unit of work over this domain's tables, stamping ``actor``.

        Args:
            actor: who is acting: its ``id`` (or itself, if a string) is stamped
                into audit columns.
            who: what asks, for the error (``"shop:place-order"``).
            owner: the dispatch that opens it, which nested dispatches join.

        Raises:
            glue.ContextError: the App is not open or has no databases.
        """
        if self.access is None:
            raise ContextError(
                f"{who} has no unit of work: its App has no databases, or is not "
                "open; give them with `App([...], databases={...})`"
            )
        if actor is not None and not isinstance(actor, str):
            actor = str(getattr(actor, "id", actor))
        return DomainUnit(self.access, actor=actor, owner=owner)


class CommandRoute:
    """Everything a dispatch of one command type needs, resolved at registration.

    Attributes:
        command: the command class.
        full_name: ``"domain:name"``.
        scope: the domain's scope (resources, middleware, events).
        events: the domain's event routes (``scope.events`` as a plain dict:
            one lookup less, and a dict is subscripted faster than its proxy);
            never changed after registration.
        handler: the handler function.
        generator: whether the handler is an async generator.
        policy: the permissions check, or None when nothing is required.
        retry: how a conflict at commit is retried.
        renderers: the domain's renderers by response type, or None when it
            has none.
        responses: the response types its handler gave so far, cached by the
            bus (a set lookup is cheaper than ``isinstance`` on an entity).
        returns: the response types it declared (``(Response,)`` for any).
        gives_ok: whether its handler may give no response (``Ok``).
        if_match: whether it needs the etag of the row it changes.
    """

    __slots__ = (
        "command",
        "events",
        "full_name",
        "generator",
        "gives_ok",
        "handler",
        "if_match",
        "outbox",
        "policy",
        "renderers",
        "responses",
        "retry",
        "returns",
        "scope",
    )

    def __init__(
        self,
        command: type[Command],
        scope: DomainScope,
        handler: Callable[..., Any],
        generator: bool,
        requires: frozenset[str],
        retry: RetryPolicy,
        returns: tuple[type[Response], ...] = (),
        if_match: bool = False,
    ) -> None:
        self.command = command
        self.full_name = f"{scope.name}:{command.__entity_name__}"
        self.scope = scope
        # A dict of its own: subscripting a read-only proxy is slower.
        self.events: dict[type[Event], tuple[EventRoute, ...]] = dict(scope.events)
        self.handler = handler
        self.generator = generator
        self.policy = Policy(self.full_name, requires) if requires else None
        self.retry = retry
        self.renderers = dict(scope.renderers) or None
        self.responses: set[type[Response]] = set()
        self.returns = returns or ANY_RESPONSE
        self.gives_ok = any(issubclass(Ok, kind) for kind in self.returns)
        self.if_match = if_match
        # Set by the registry when some subscriber takes one of its events.
        self.outbox: Outbox | None = None


class Registry:
    """The frozen tables of an App.

    Args:
        domains: the domains to compose; each is frozen.
        retry: the retry policy of commands that do not set their own.

    Attributes:
        tables: every declared table by name (two domains may share a table
            declared alike).
        outbox: where events with subscribers are written, and who gets them.

    Raises:
        glue.RegistrationError: two domains share a name, claim one command type,
            or declare one table differently.
    """

    def __init__(
        self, domains: Iterable[Domain], retry: RetryPolicy | None = None
    ) -> None:
        self.retry = RetryPolicy() if retry is None else retry
        self.tables: dict[str, Table] = {}
        self._claims: dict[str, str] = {}
        self.domains: dict[str, DomainScope] = {}
        self.codecs: dict[str, Codec[Any]] = {}
        self.commands: dict[str, CommandRoute] = {}
        self.routes: dict[type[Command], CommandRoute] = {}
        publishers: dict[str, Publisher] = {}
        subscribers: list[Subscriber] = []
        for domain in domains:
            self._add(domain)
            events = [e for e in domain.entities.values() if issubclass(e, Event)]
            publishers[domain.name] = Publisher(
                domain.name, domain.outbox_database, events, domain.aggregates
            )
            subscribers.extend(domain.subscribers)
        self.outbox = Outbox(publishers, subscribers)
        emitted = {e for p in publishers.values() for e in p.events}
        for subscriber in subscribers:
            for event in subscriber.events:
                if event not in emitted:
                    raise RegistrationError(
                        f"subscriber {subscriber.name} takes {event.__qualname__}, "
                        "which no domain of this App registers: register it in "
                        "the domain whose commands emit it"
                    )
        _check_sequences(publishers.values(), subscribers)
        for route in self.routes.values():
            if self.outbox.publishes(route.scope.events):
                route.outbox = self.outbox

    def _add(self, domain: Domain) -> None:
        if domain.name in self.domains:
            raise RegistrationError(
                f"two domains are named {domain.name!r}: an App composes domains "
                "with distinct names"
            )
        domain.freeze()
        scope = self.domains[domain.name] = DomainScope(domain)
        for name, table in scope.tables.items():
            known = self.tables.get(name)
            if known is not None and known != table:
                raise RegistrationError(
                    f"table {name!r} is declared by domains {self._claims[name]!r} "
                    f"(database {known.database!r}) and {domain.name!r} (database "
                    f"{table.database!r}) differently: domains share a table only "
                    "when they declare the same schema in the same database"
                )
            self.tables[name] = table
            self._claims.setdefault(name, domain.name)
            facts_of(table.schema)  # worked out now, once, not at first dispatch
        for name, entity in domain.entities.items():
            full_name = f"{domain.name}:{name}"
            self.codecs[full_name] = Codec(entity, full_name)
        for command, registration in domain.commands.items():
            route = CommandRoute(
                command,
                scope,
                registration.handler,
                registration.generator,
                registration.requires,
                registration.retry or self.retry,
                registration.returns,
                registration.if_match,
            )
            claimed = self.routes.get(command)
            if claimed is not None:
                raise RegistrationError(
                    f"{command.__qualname__} is handled by two domains, "
                    f"{claimed.full_name} and {route.full_name}: a command type "
                    "belongs to one domain"
                )
            self.routes[command] = route
            self.commands[route.full_name] = route

    def command_names(self) -> list[str]:
        """The full names of every command, sorted."""
        return sorted(self.commands)


def _check_sequences(
    publishers: Iterable[Publisher], subscribers: list[Subscriber]
) -> None:
    """Refuse a subscriber that takes some, not all, of a domain's events that
    this App writes with one aggregate field: they share one sequence per
    aggregate, so such a subscriber would wait forever for the numbers it is
    never sent."""
    taken = {event for subscriber in subscribers for event in subscriber.events}
    for publisher in publishers:
        sequences: dict[str, set[type[Event]]] = {}
        for event, field in publisher.aggregates.items():
            if event in taken:
                sequences.setdefault(field, set()).add(event)
        for field, sequenced in sequences.items():
            for subscriber in subscribers:
                mine = sequenced.intersection(subscriber.events)
                if mine and mine != sequenced:
                    missing = ", ".join(
                        sorted(e.__qualname__ for e in sequenced - mine)
                    )
                    raise RegistrationError(
                        f"subscriber {subscriber.name} takes some of domain "
                        f"{publisher.domain!r}'s events numbered per {field!r}, "
                        f"not {missing}: they share one sequence per aggregate, "
                        "and a subscriber applies it in order, so it must take "
                        "them all (and may ignore those it does not need)"
                    )
