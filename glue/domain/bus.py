"""The bus: dispatches a command through its context, policy, handler and events.

One dispatch, in order:

1. look the command's route up by type (one dict access);
2. open a new context of the command's domain (a
   :class:`~glue.domain.context.DomainContext`, inheriting actor, request id,
   meta and deadline from an enclosing context when not given) and run the
   domain's middleware;
3. check the command's policy against ``ctx.actor`` (:class:`glue.Forbidden`);
4. run the command handler, collecting its events (yielded or ``ctx.emit``-ed,
   each checked against the domain's events) and at most one response;
5. route each event, in emission order, to every handler of its type; apply what
   they yield (mutations), in order, to the dispatch's unit of work;
6. commit: every handler has finished and nothing failed, so the unit of work
   writes everything at once (S12), still inside the context;
7. run the response's renderer, if its domain registered one (E11): the data is
   committed, and the renderer may read it;
8. close the context (middleware, then resources) and return the response, or
   :class:`glue.Ok` when the handler gave none.

The unit of work is opened lazily, when a handler first touches ``ctx.state`` (or
``ctx.unit``) or an event handler yields a mutation: a dispatch that reads and
writes nothing pays nothing for it. It is the domain's
(:class:`~glue.domain.tables.DomainUnit`): tables the domain did not declare raise
:class:`glue.Forbidden`. In an App without databases there is no unit of work:
yielded mutations are only collected (:attr:`Outcome.mutations`).

If anything raises, the unit of work rolls back (shielded from cancellation, so a
cancelled or timed-out dispatch writes nothing) and the caller sees the error. A
:class:`glue.ConcurrencyConflict` at commit, or a :class:`glue.LockConflict`
anywhere (a lock not granted in time), runs the whole command again in a fresh
context and unit of work, as the command's :class:`glue.work.RetryPolicy` allows;
the last conflict reaches the caller. A conflict a handler raises itself (a
client's stale etag) is not retried. A middleware that swallows an error makes the
context exit cleanly: nothing was committed, and dispatch returns ``Ok()``
(:attr:`Outcome.completed` is False).

**A command dispatched inside another** (from a handler, an event handler, a
service or middleware, before the outer command commits) **joins the outer
command's unit of work**: it reads the rows the outer one changed, its changes
and its event handlers' mutations go into that unit, and they commit with it, or
not at all. It is never retried alone, and never commits alone: a conflict
retries the outermost command, nested dispatches included, and nothing of an
attempt that failed was written. Its own domain's fence applies while it runs. If
it fails after changing the unit and the outer handler catches the error, the
outer commit raises :class:`glue.ContextError` (a unit commits whole): nothing is
written. A command dispatched from a renderer, after the commit, runs on its own.

**Retries run everything again**: the command handler, every event handler,
nested dispatches, middleware and resources (set up afresh; each failed attempt's
teardown sees the conflict). Only the last attempt's writes, events and response
reach the caller, and renderers run once, after the commit. What a handler does
outside the unit of work (a request to another service, an e-mail) happens once
per attempt: do it in a renderer, or after ``dispatch`` returns.

A renderer that fails raises :class:`glue.RenderError`, carrying the committed
response: the command's writes stay.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any, TypeGuard

import anyio
import msgspec

from ..context.context import current_context
from ..entities.base import Command, Entity, Event, Ok, Response
from ..errors import (
    ConcurrencyConflict,
    ContextError,
    Forbidden,
    HandlerError,
    LockConflict,
    NotFound,
    RenderError,
    UnknownCommand,
    ValidationError,
)
from ..log import get_logger, is_enabled
from .context import DomainContext, _bad_output, _undeclared
from .tables import fence, unfence

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Coroutine, Mapping
    from typing import TypeAlias

    from ..context.context import Context
    from .registry import CommandRoute, EventRoute, Registry

    BeforeCommit: TypeAlias = Callable[[Context[Any], Response | None], Awaitable[None]]

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
        written: how many rows the commit wrote.
        attempts: how many times the command ran (more than 1 after a
            conflict at commit was retried).
    """

    command: Command
    response: Response
    events: tuple[Event, ...] = ()
    mutations: tuple[object, ...] = ()
    completed: bool = True
    written: int = 0
    attempts: int = 1


# What a client's request can be refused with; a ConcurrencyConflict is one too
# when a handler raised it (a stale etag the client sent), not the commit.
_REFUSALS = (ValidationError, Forbidden, NotFound, UnknownCommand)


class Bus:
    """Dispatches commands to their handlers. Get it as ``app.bus``.

    Args:
        registry: the app's frozen tables.
    """

    def __init__(self, registry: Registry) -> None:
        self._registry = registry
        self._routes = registry.routes
        self._open = False
        self._log = get_logger(__name__)
        self._debug = False
        self._info = False
        self._warn = True

    def start(self) -> None:
        """Accept dispatches. The App calls this when it opens; it reads the log
        level once, so a level that is off costs nothing per dispatch."""
        self._debug = is_enabled(self._log, logging.DEBUG)
        self._info = is_enabled(self._log, logging.INFO)
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
        before_commit: BeforeCommit | None = None,
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
            before_commit: ``async def hook(ctx, response)``, awaited once
                every handler has finished, inside the dispatch's context,
                right before its unit of work commits (again on each retry):
                what it writes through ``ctx.unit`` (opening it if needed)
                commits with the command's own writes, or not at all. The
                HTTP front records idempotency keys so.

        Returns:
            The handler's response, or ``Ok()`` if it gave none.

        Raises:
            glue.UnknownCommand: not a command this app registered (events
                cannot be dispatched).
            glue.Forbidden: the actor lacks a required permission.
            Exception: whatever a handler, middleware or resource raised.
        """
        return self._dispatch(
            command, actor, request_id, meta, deadline, False, before_commit
        )

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
        before_commit: BeforeCommit | None = None,
        attempt: int = 1,
    ) -> Any:
        """One dispatch, in the steps the module docstring lists: route, open
        the context, policy, handler, events, commit, render, outcome.

        Returns the response, or the whole :class:`Outcome` when ``outcome``.
        The steps are written out rather than called: this is the hot path.
        """
        # 1. Route.
        try:
            route = self._routes[type(command)]
        except (KeyError, TypeError):
            raise self._unroutable(command) from None
        if not self._open:
            raise ContextError(
                f"cannot dispatch {route.full_name}: the App is not open; "
                "use `async with App([...]) as app:`"
            )
        # 2. Open a new context, inheriting from an enclosing one; a nested
        # dispatch joins its owner's unit of work, fenced to its own tables.
        outer = current_context()
        owner: DomainContext[Any] | None = None
        if outer is not None:
            actor = outer.actor if actor is None else actor
            request_id = outer.request_id if request_id is None else request_id
            meta = outer.meta if meta is None else meta
            if outer.deadline is not None and (
                deadline is None or outer.deadline < deadline
            ):
                deadline = outer.deadline
            owner = _owner(outer, route)
        ctx: DomainContext[Any] = DomainContext(
            route.scope, actor, request_id, meta, deadline, route
        )
        fenced = None
        if owner is not None:
            ctx._owner = owner
            assert route.scope.access is not None
            fenced = fence(owner, route.scope.access)
        debug = self._debug
        started = time.perf_counter() if debug else 0.0
        response: Response | None = None
        completed = False
        conflict: ConcurrencyConflict | None = None
        try:
            if not ctx.enter_now():
                await ctx.__aenter__()
            try:
                # 3. Policy.
                if route.policy is not None:
                    route.policy.check(actor)
                # 4. The command handler: its events and at most one response.
                events = ctx._events
                handler = route.handler  # a slot: LOAD_METHOD on it is slow
                if route.generator:
                    generator = handler(command, ctx)
                    known = route.events
                    responses = route.responses
                    try:
                        async for item in generator:
                            if type(item) in known:
                                events.append(item)
                            elif response is None and (
                                type(item) in responses or _is_response(item, route)
                            ):
                                response = item
                            else:
                                raise ctx._rejection(item, response)
                    except BaseException:
                        with anyio.CancelScope(shield=True):
                            await generator.aclose()
                        raise
                else:
                    response = await handler(command, ctx)
                    if (
                        response is not None
                        and type(response) not in route.responses
                        and not _is_response(response, route)
                    ):
                        raise _bad_output(route, response, "returned")
                ctx._emitting = False
                if response is None and not route.gives_ok:
                    raise _undeclared(route, None, "gave")
                # 5. Events, in order, to every handler of their type.
                if events:
                    routes = route.events
                    for event in events:
                        for subscriber in routes[type(event)]:
                            if subscriber.generator:
                                await _iterate(subscriber, event, ctx)
                                continue
                            on_event = subscriber.handler  # a local, as above
                            if await on_event(event, ctx) is not None:
                                raise _returned(subscriber)
                # 6. Commit: every handler has finished and none failed. The
                # events some subscriber takes go to the outbox with the unit.
                if events and route.outbox is not None:
                    route.outbox.publish(ctx.open_unit(), route.scope.name, events)
                if before_commit is not None:
                    await before_commit(ctx, response)
                ctx._sealed = True
                if ctx._work is not None:
                    await ctx._commit()
                completed = True
                # 7. Render the committed response.
                if route.renderers is not None and response is not None:
                    renderer = route.renderers.get(type(response))
                    if renderer is not None:
                        response = await _render(renderer, response, ctx)
            except BaseException as exc:
                # Leaving, the context rolls its unit of work back.
                ctx._emitting = False
                if not await ctx.__aexit__(type(exc), exc, exc.__traceback__):
                    raise
                # A middleware swallowed the error: before the commit, nothing
                # was written and `completed` stays False.
            else:
                # 8. Close the context.
                if not ctx.exit_now():
                    await ctx.__aexit__(None, None, None)
        except BaseException as exc:
            if not _retried(exc, ctx, attempt):
                self._failed(ctx, exc)
                raise
            conflict = exc
        finally:
            if fenced is not None:
                unfence(fenced)
        if conflict is not None:
            return await self._retry(
                command, ctx, meta, deadline, outcome, before_commit, attempt, conflict
            )
        if debug:
            self._dispatched(ctx, started)
        # 8. (continued) Return the response, Ok(), or the whole Outcome.
        if response is None or not completed:
            response = _OK
        if outcome:
            return Outcome(
                command=command,
                response=response,
                events=tuple(ctx._events),
                mutations=tuple(ctx._mutations or ()),
                completed=completed,
                written=ctx._written,
                attempts=attempt,
            )
        return response

    async def _retry(
        self,
        command: Command,
        ctx: Context,
        meta: Mapping[str, Any] | None,
        deadline: float | None,
        outcome: bool,
        before_commit: BeforeCommit | None,
        attempt: int,
        conflict: ConcurrencyConflict,
    ) -> Any:
        """Run a command again after a conflict at commit, once its backoff passed."""
        route = self._routes[type(command)]
        delay = route.retry.delay(attempt)
        if self._debug:
            self._log.debug(
                "retrying after a concurrency conflict",
                request_id=ctx.request_id,
                domain=route.scope.name,
                command=route.full_name,
                attempt=attempt,
                table=conflict.table,
                delay=round(delay, 4),
            )
        await anyio.sleep(delay)
        return await self._dispatch(
            command,
            ctx.actor,
            ctx.request_id,
            meta,
            deadline,
            outcome,
            before_commit,
            attempt + 1,
        )

    def _failed(self, ctx: DomainContext[Any], exc: BaseException) -> None:
        """Log a failed dispatch: at info when the client's request was refused
        (an answer, not a fault), else at warning. Cancellation is no failure."""
        if not isinstance(exc, Exception):
            return
        refused = isinstance(exc, _REFUSALS) or (
            isinstance(exc, ConcurrencyConflict) and not ctx._committing
        )
        if self._info if refused else self._warn:
            log = self._log.info if refused else self._log.warning
            log(
                "dispatch failed",
                request_id=ctx.request_id,
                domain=ctx.domain,
                command=ctx._full_name(),
                error=repr(exc),
            )

    def _dispatched(self, ctx: DomainContext[Any], started: float) -> None:
        """Log a dispatch at debug."""
        self._log.debug(
            "dispatched",
            request_id=ctx.request_id,
            domain=ctx.domain,
            command=ctx._full_name(),
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


def _owner(outer: Context[Any], route: CommandRoute) -> DomainContext[Any] | None:
    """The dispatch whose unit of work a dispatch of ``route`` inside ``outer``
    joins: the outermost one, while its handlers run; else None (it runs on its
    own: no databases, a context opened by hand, or after the commit)."""
    if (
        type(outer) is not DomainContext
        or outer._route is None
        or route.scope.access is None
        or outer._scope.access is None
    ):
        return None
    owner = outer._owner or outer
    return None if owner._sealed else owner


def _retried(
    exc: BaseException, ctx: DomainContext[Any], attempt: int
) -> TypeGuard[ConcurrencyConflict]:
    """Whether a dispatch that raised ``exc`` runs again: a conflict at commit,
    or a lock not granted, of an outermost dispatch with attempts left."""
    route = ctx._route
    assert route is not None
    return (
        isinstance(exc, ConcurrencyConflict)
        and (ctx._committing or isinstance(exc, LockConflict))
        and ctx._owner is None
        and attempt < route.retry.attempts
    )


async def _iterate(handler: EventRoute, event: Event, ctx: DomainContext[Any]) -> None:
    """Run an async-generator event handler, applying what it yields in order
    (only collecting it in an App without databases)."""
    generator = handler.handler(event, ctx)
    mutations = ctx._mutations
    if mutations is None:
        mutations = ctx._mutations = []
    apply = None if ctx._scope.access is None else ctx._apply
    try:
        async for item in generator:
            if isinstance(item, Entity):
                raise HandlerError(
                    f"event handler {handler.handler.__qualname__} yielded "
                    f"{item!r}: only command handlers emit events or responses; "
                    "event handlers yield mutations"
                )
            mutations.append(item)
            if apply is not None:
                await apply(item)
    except BaseException:
        with anyio.CancelScope(shield=True):
            await generator.aclose()
        raise


def _is_response(item: object, route: CommandRoute) -> bool:
    """Whether a command handler gave a response of a type it declared;
    remember its type on the route, so that the next dispatch asks a set
    rather than ``isinstance`` (slow for classes with a metaclass, as entities
    are)."""
    if isinstance(item, route.returns):
        route.responses.add(type(item))
        return True
    return False


def _returned(handler: EventRoute) -> HandlerError:
    return HandlerError(
        f"event handler {handler.handler.__qualname__} returned a value: event "
        "handlers return None and yield the mutations to apply"
    )


async def _render(
    renderer: Callable[..., Any], response: Response, ctx: DomainContext[Any]
) -> Response:
    """Run a renderer after the commit (it reads in a fresh unit of work);
    return the response dispatch returns.

    Raises:
        glue.RenderError: the renderer failed (its error is the cause): the
            command committed. A nested dispatch's renderer runs before its
            owner commits, and its error passes as it is.
    """
    if ctx._owner is not None:
        return await _rendered(renderer, response, ctx)
    try:
        return await _rendered(renderer, response, ctx)
    except Exception as exc:
        raise RenderError(ctx._full_name(), response, repr(exc)) from exc


async def _rendered(
    renderer: Callable[..., Any], response: Response, ctx: DomainContext[Any]
) -> Response:
    result = await renderer(response, ctx)
    if ctx._work is not None:
        if ctx._owner is None:
            await _late(ctx)
        else:
            ctx._work = None
    if result is None:
        return response
    route = ctx._route
    assert route is not None
    if not isinstance(result, route.returns):
        raise HandlerError(
            f"renderer {renderer.__qualname__} of {ctx._full_name()} "
            f"returned {result!r}: a renderer returns a Response of a type the "
            "command declared, or None to keep the handler's"
        )
    return result


async def _late(ctx: DomainContext[Any]) -> None:
    """Let go of a unit of work a renderer opened after the commit: it may
    read, but what it changed is not written."""
    work = ctx._work
    assert work is not None
    pending = work.state.pending
    await ctx._abort()
    if pending:
        tables = ", ".join(dict.fromkeys(t.schema.name for t in pending))
        raise HandlerError(
            f"{ctx._full_name()} changed {tables} in a renderer, after its "
            "unit of work committed: nothing of it was written; change data in "
            "handlers"
        )
