"""The bus: dispatches a command through its context, policy, handler and events.

One dispatch, in order:

1. look the command's route up by type (one dict access);
2. open a new :class:`glue.Context` (inheriting actor, request id, meta and deadline
   from an enclosing context when not given) and run the domain's middleware;
3. check the command's policy against ``ctx.actor`` (:class:`glue.Forbidden`);
4. run the command handler, collecting its events (yielded or ``ctx.emit``-ed,
   each checked against the domain's events) and at most one response;
5. route each event, in emission order, to every handler of its type; collect what
   they yield (mutations, applied by the unit of work);
6. **the commit seam** (in ``Bus._dispatch``): every handler has finished and
   nothing failed; here the unit of work will apply the mutations and write the
   events;
7. close the context (middleware, then resources) and return the response, or
   :class:`glue.Ok` when the handler gave none.

If anything raises, the dispatch fails as a whole and the caller sees the error. A
middleware that swallows the error makes the context exit cleanly: nothing reached
the commit seam, and dispatch returns ``Ok()`` (:attr:`Outcome.completed` is False).
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

import anyio
import msgspec

from ..context.context import Context, _current
from ..entities.base import Command, Entity, Event, Ok, Response
from ..errors import ConfigurationError, ContextError, UnknownCommand
from ..log import get_logger, is_enabled

if TYPE_CHECKING:
    from collections.abc import Coroutine, Mapping

    from .registry import CommandRoute, EventRoute, Registry

__all__ = ["Bus", "Outcome"]

_OK = Ok()


class Outcome(msgspec.Struct, frozen=True, kw_only=True):
    """Everything one dispatch produced (see :meth:`Bus.execute`).

    Attributes:
        command: the command dispatched.
        response: the handler's response, or ``Ok()``.
        events: the events emitted, in order.
        mutations: what the event handlers yielded, in order.
        completed: False when a middleware swallowed an error (nothing committed).
    """

    command: Command
    response: Response
    events: tuple[Event, ...] = ()
    mutations: tuple[object, ...] = ()
    completed: bool = True


class _Unit:
    """The per-dispatch record: events, mutations, response."""

    # Class-level defaults: a dispatch sets only what it changes.
    response: Response | None = None
    emitting = True
    completed = False

    def __init__(self, route: CommandRoute) -> None:
        self.route = route
        self.events: list[Event] = []
        self.mutations: list[Any] = []

    def result(self) -> Response:
        """The response dispatch returns: the handler's, or ``Ok()``."""
        response = self.response
        return _OK if response is None or not self.completed else response

    def rejection(self, item: object) -> ConfigurationError:
        """The error for what a command handler yielded that is neither one of its
        domain's events nor its first response."""
        route = self.route
        if isinstance(item, Response):
            return ConfigurationError(
                f"the handler of {route.full_name} yielded a second response, "
                f"{item!r}, after {self.response!r}: a command handler gives at "
                "most one response"
            )
        if isinstance(item, Event):
            return _not_an_event(route, item, "yielded")
        return _bad_output(route, item, "yielded")

    def __call__(self, event: Event) -> None:
        """Accept an event from the command handler (``ctx.emit``), if the
        domain knows it."""
        if not self.emitting:
            raise ContextError(
                f"{type(event).__qualname__} emitted after the command handler of "
                f"{self.route.full_name} finished: only command handlers emit events"
            )
        if type(event) not in self.route.events:
            raise _not_an_event(self.route, event, "emitted")
        self.events.append(event)


class Bus:
    """Dispatches commands to their handlers. Get it as ``app.bus``.

    Args:
        registry: the app's frozen tables.
    """

    def __init__(self, registry: Registry) -> None:
        self._registry = registry
        self._routes = registry.routes
        self._open = False
        self._log = get_logger("glue.bus")
        self._debug = False
        self._warn = True

    def start(self) -> None:
        """Accept dispatches. The App calls this when it opens; it reads the log
        level once, so a level that is off costs nothing per dispatch."""
        self._debug = is_enabled(self._log, logging.DEBUG)
        self._warn = is_enabled(self._log, logging.WARNING)
        self._open = True

    def stop(self) -> None:
        """Refuse dispatches. The App calls this when it closes."""
        self._open = False

    def dispatch(
        self,
        command: Command,
        *,
        actor: Any = None,
        request_id: str | None = None,
        meta: Mapping[str, Any] | None = None,
        deadline: float | None = None,
    ) -> Coroutine[Any, Any, Response]:
        """Dispatch ``command``; await the result for its response.

        A plain method returning the dispatch's coroutine (one coroutine less per
        dispatch than an ``async def`` wrapper); use it as ``await bus.dispatch()``.

        Args:
            command: a command instance (build it, or decode it with
                :meth:`glue.App.decode`).
            actor: who is asking; the command's policy checks its permissions.
            request_id: an id for logs; inherited from an enclosing context, or
                made up.
            meta: read-only request metadata.
            deadline: cancel the dispatch at this time on anyio's clock; the
                caller then gets :class:`TimeoutError`.

        Returns:
            The handler's response, or ``Ok()`` if it gave none.

        Raises:
            glue.UnknownCommand: not a command this app registered (events
                cannot be dispatched).
            glue.Forbidden: the actor lacks a required permission.
            Exception: whatever a handler, middleware or resource raised.
        """
        return self._dispatch(command, actor, request_id, meta, deadline, False)

    async def execute(
        self,
        command: Command,
        *,
        actor: Any = None,
        request_id: str | None = None,
        meta: Mapping[str, Any] | None = None,
        deadline: float | None = None,
    ) -> Outcome:
        """Dispatch like :meth:`dispatch`, and return everything it produced.

        Useful in tests and tools: the events and mutations are in the outcome.
        """
        outcome: Outcome = await self._dispatch(
            command, actor, request_id, meta, deadline, True
        )
        return outcome

    async def _dispatch(
        self,
        command: Command,
        actor: Any,
        request_id: str | None,
        meta: Mapping[str, Any] | None,
        deadline: float | None,
        outcome: bool,
    ) -> Any:
        """One dispatch: route, context, policy, handlers, seam, logs.

        Returns the response, or the whole :class:`Outcome` when ``outcome``.

        The context is entered and exited without awaiting when it has nothing
        to set up or tear down; otherwise as ``async with ctx`` would.
        """
        try:
            route = self._routes[type(command)]
        except (KeyError, TypeError):
            raise self._unroutable(command) from None
        if not self._open:
            raise ContextError(
                f"cannot dispatch {route.full_name}: the App is not open; "
                "use `async with App([...]) as app:`"
            )
        outer = _current.get()
        if outer is not None:
            if actor is None:
                actor = outer.actor
            if request_id is None:
                request_id = outer.request_id
            if meta is None:
                meta = outer.meta
            if outer.deadline is not None and (
                deadline is None or outer.deadline < deadline
            ):
                deadline = outer.deadline
        unit = _Unit(route)
        scope = route.scope
        ctx = Context(
            actor,
            request_id,
            meta,
            deadline,
            scope.resources,
            scope.chain,
            scope.name,
            unit,
        )
        started = time.perf_counter() if self._debug else 0.0
        try:
            if not ctx.enter_now():
                await ctx.__aenter__()
            try:
                if route.policy is not None:
                    route.policy.check(ctx.actor)
                if route.generator:
                    generator = route.handler(command, ctx)
                    events = unit.events
                    known = route.events
                    try:
                        async for item in generator:
                            if type(item) in known:
                                events.append(item)
                            elif unit.response is None and isinstance(item, Response):
                                unit.response = item
                            else:
                                raise unit.rejection(item)
                    except BaseException:
                        with anyio.CancelScope(shield=True):
                            await generator.aclose()
                        raise
                else:
                    result = await route.handler(command, ctx)
                    if result is not None:
                        if not isinstance(result, Response):
                            raise _bad_output(route, result, "returned")
                        unit.response = result
                unit.emitting = False
                if unit.events:
                    routes = route.events
                    for event in unit.events:
                        for handler in routes[type(event)]:
                            if handler.generator:
                                await _iterate(handler, event, ctx, unit)
                            elif await handler.handler(event, ctx) is not None:
                                raise _returned(handler)
                # ---- the commit seam -------------------------------------------
                # Every handler has finished and none failed. `unit.mutations`
                # holds what the event handlers yielded, in order; `unit.events`
                # what was emitted. The unit of work applies the mutations and
                # writes the events here, still inside the context, so a failure
                # rolls back through the resources and middleware like any
                # handler error. Renderers run after this point.
                unit.completed = True
            except BaseException as exc:
                if not await ctx.__aexit__(type(exc), exc, exc.__traceback__):
                    raise
                # A middleware swallowed the error: unit.completed stays False.
            else:
                if not ctx.exit_now():
                    await ctx.__aexit__(None, None, None)
        except BaseException as exc:
            self._failed(ctx, unit, exc)
            raise
        if self._debug:
            self._dispatched(ctx, unit, started)
        if outcome:
            return Outcome(
                command=command,
                response=unit.result(),
                events=tuple(unit.events),
                mutations=tuple(unit.mutations),
                completed=unit.completed,
            )
        return unit.result()

    def _failed(self, ctx: Context, unit: _Unit, exc: BaseException) -> None:
        """Log a failed dispatch at warning (cancellation is not a failure)."""
        if self._warn and isinstance(exc, Exception):
            self._log.warning(
                "dispatch failed",
                request_id=ctx.request_id,
                domain=unit.route.scope.name,
                command=unit.route.full_name,
                error=repr(exc),
            )

    def _dispatched(self, ctx: Context, unit: _Unit, started: float) -> None:
        """Log a dispatch at debug."""
        self._log.debug(
            "dispatched",
            request_id=ctx.request_id,
            domain=unit.route.scope.name,
            command=unit.route.full_name,
            duration_ms=round((time.perf_counter() - started) * 1000, 3),
        )

    def _unroutable(self, command: object) -> UnknownCommand:
        registry = self._registry
        kind = type(command)
        name = getattr(kind, "__entity_name__", None) or repr(command)
        error = UnknownCommand(name, registry.command_names())
        if isinstance(command, Event):
            error.add_note(
                f"{kind.__qualname__} is an Event: events come from command "
                "handlers; callers dispatch commands"
            )
        elif isinstance(command, Entity):
            error.add_note(
                f"{kind.__qualname__} has no handler in this app: register one "
                "with @domain.command(...)"
            )
        return error


def _bad_output(route: CommandRoute, item: object, how: str) -> ConfigurationError:
    return ConfigurationError(
        f"the handler of {route.full_name} {how} {item!r}: command handlers "
        "yield Events and at most one Response, or return a Response or None"
    )


def _not_an_event(route: CommandRoute, event: object, how: str) -> ConfigurationError:
    known = ", ".join(sorted(e.__qualname__ for e in route.scope.events)) or "none"
    return ConfigurationError(
        f"the handler of {route.full_name} {how} {type(event).__qualname__}, which "
        f"domain {route.scope.name!r} did not register (its events: {known}); "
        f"register it with @{route.scope.name}.event(...) or "
        f"{route.scope.name}.register(...)"
    )


async def _iterate(
    handler: EventRoute, event: Event, ctx: Context, unit: _Unit
) -> None:
    """Run an async-generator event handler, collecting what it yields."""
    generator = handler.handler(event, ctx)
    mutations = unit.mutations
    try:
        async for item in generator:
            if isinstance(item, Entity):
                raise ConfigurationError(
                    f"event handler {handler.handler.__qualname__} yielded "
                    f"{item!r}: only command handlers emit events or responses; "
                    "event handlers yield mutations"
                )
            mutations.append(item)
    except BaseException:
        with anyio.CancelScope(shield=True):
            await generator.aclose()
        raise


def _returned(handler: EventRoute) -> ConfigurationError:
    return ConfigurationError(
        f"event handler {handler.handler.__qualname__} returned a value: event "
        "handlers return None and yield the mutations to apply"
    )
