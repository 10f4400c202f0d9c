"""The bus: dispatches a command through its context, policy, handler and events.

One dispatch, in order:

1. look the command's route up by type (one dict access);
2. open a new :class:`glue.Context` (inheriting actor, request id, meta and deadline
   from an enclosing context when not given) and run the domain's middleware;
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
from typing import TYPE_CHECKING, Any

import anyio
import msgspec

from ..context.context import _CLOSED, _NEW, _OPEN, Context, Metadata, _current
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
from ..state.mutations import Mutation
from ..work.unit import bind_unit
from .tables import fence, unfence

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Coroutine, Mapping
    from typing import TypeAlias

    from ..work.unit import UnitBinding, UnitOfWork
    from .registry import CommandRoute, EventRoute, Registry
    from .tables import DomainUnit

    BeforeCommit: TypeAlias = Callable[[Context, Response | None], Awaitable[None]]

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


class _Dispatch(Context):
    """The context of one dispatch, and its record: events, mutations, response,
    unit of work.

    It does what :class:`glue.context.Hooks` do for other contexts: it takes
    ``ctx.emit``-ed events, opens the unit of work on first use (``ctx.state``)
    and builds ``ctx.dal``; the bus commits the unit itself, inside the context.
    One object per dispatch instead of a context and a record. It is the
    :class:`glue.work.unit.UnitSource` the bus binds for the dispatch, so that
    a repository finds (and opens) the dispatch's unit.
    """

    # Rarely written: class-level defaults keep a new dispatch cheap.
    _hooks = None  # the dispatch is its own hooks: emit, unit and dal below
    _emitting = True
    _committing = False
    _written = 0
    _mutations: list[Any] | None = None
    # A nested dispatch joins the unit of work of `_owner`, the outermost one.
    _owner: _Dispatch | None = None
    _mark = 0  # the length of the unit's log when a nested dispatch joined it
    _sealed = False  # the handlers finished: later dispatches run on their own
    _doomed: tuple[str, BaseException] | None = None

    def __init__(
        self,
        route: CommandRoute,
        actor: Any,
        request_id: str | None,
        meta: Mapping[str, Any] | None,
        deadline: float | None,
    ) -> None:
        # Context.__init__'s fields, set directly: one call less per dispatch.
        scope = route.scope
        self._actor = actor
        self._request_id = request_id
        self._meta = (
            meta if meta is None or isinstance(meta, Metadata) else Metadata(meta)
        )
        self._deadline = deadline
        self._resources = scope.resources
        self._chain = scope.chain
        self._domain = scope.name
        self._state = _NEW
        # The record; read on every dispatch, so set here (an instance
        # attribute reads faster than a class-level default).
        self._route = route
        self._events: list[Event] = []
        self._work: DomainUnit | None = None

    # -- the hooks -------------------------------------------------------------------

    def emit(self, event: Event) -> None:
        """Emit an event, as if the command handler had yielded it.

        Raises:
            glue.ContextError: the command handler has finished, or the context
                is not open.
            glue.HandlerError: the event is not one of the domain's.
        """
        if not self._emitting or self._state != _OPEN:
            raise ContextError(
                f"{type(event).__qualname__} emitted after the command handler of "
                f"{self._route.full_name} finished: only command handlers emit "
                "events"
            )
        if type(event) not in self._route.events:
            raise _not_an_event(self._route, event, "emitted")
        self._events.append(event)

    @property
    def unit(self) -> UnitOfWork:
        """The dispatch's unit of work, opened on first use.

        Raises:
            glue.ContextError: the context is not open, or its App has no
                databases.
        """
        if self._state != _OPEN:
            raise ContextError(
                "ctx.unit and ctx.state work inside a dispatch of a domain whose App "
                "has databases (`App([...], databases={...})`), while it runs"
            )
        return self._unit()

    def _unit(self) -> DomainUnit:
        work = self._work
        if work is not None:
            return work
        route = self._route
        owner = self._owner
        if owner is None:
            work = route.scope.open_unit(self._actor, route.full_name, self)
        else:
            work = owner._unit()
            access = route.scope.access
            assert access is not None
            work.admit(access)
            self._mark = len(work.state.log)
        self._work = work
        return work

    def open_unit(self) -> UnitOfWork:
        """The dispatch's unit of work, opened now if needed (see :attr:`unit`)."""
        return self.unit

    def opened_unit(self) -> UnitOfWork | None:
        """The dispatch's unit of work if it is open, else None (a nested
        dispatch's is its owner's)."""
        owner = self._owner
        if self._work is None and owner is not None and owner._work is not None:
            return self._unit()
        return self._work

    @property
    def dal(self) -> Any:
        """The domain's services, called inside this dispatch (built on first
        access)."""
        dal = self._dal
        if dal is None:
            dal = self._dal = self._route.scope.dal(self)
        return dal

    # -- the unit of work ------------------------------------------------------------

    async def _apply(self, item: object) -> None:
        """Apply what an event handler yielded to the unit of work."""
        if not isinstance(item, Mutation):
            raise HandlerError(
                f"an event handler of {self._route.full_name} yielded {item!r}: "
                "event handlers yield mutations (Insert, Update, Delete, Upsert)"
            )
        await self.unit.state.apply(item)

    async def _commit(self) -> None:
        """Commit the unit of work; a conflict here may be retried.

        A nested dispatch commits nothing: its owner commits the unit.
        """
        work = self._work
        assert work is not None
        if self._owner is not None:
            self._work = None
            return
        if self._doomed is not None:
            who, error = self._doomed
            raise ContextError(
                f"{who} failed inside the unit of work of {self._route.full_name} "
                f"after changing it ({error!r}), and the error was caught: a unit "
                "of work commits whole or not at all, so nothing was written"
            ) from error
        self._committing = True
        changeset = await work.commit()
        self._committing = False
        self._written = len(changeset)
        self._work = None

    async def _abort(self, exc: BaseException | None = None) -> None:
        """Roll the unit of work back, even when cancelled, and let it go.

        A nested dispatch leaves its owner's unit alone; if it changed it, the
        owner can no longer commit (its handler may catch ``exc``).
        """
        work = self._work
        assert work is not None
        self._work = None
        owner = self._owner
        if owner is not None:
            changed = len(work.state.log) != self._mark
            if exc is not None and changed and owner._doomed is None:
                owner._doomed = (self._route.full_name, exc)
            return
        with anyio.CancelScope(shield=True):
            await work.rollback()

    # -- the response ------------------------------------------------------------------

    def _rejection(self, item: object, response: Response | None) -> HandlerError:
        """The error for what a command handler yielded that is neither one of its
        domain's events nor its first response (``response``)."""
        route = self._route
        if isinstance(item, Response) and response is None:
            return _undeclared(route, item, "yielded")
        if isinstance(item, Response):
            return HandlerError(
                f"the handler of {route.full_name} yielded a second response, "
                f"{item!r}, after {response!r}: a command handler gives at "
                "most one response"
            )
        if isinstance(item, Event):
            return _not_an_event(route, item, "yielded")
        return _bad_output(route, item, "yielded")


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
        """One dispatch: route, context, policy, handlers, commit, renderer, logs.

        Returns the response, or the whole :class:`Outcome` when ``outcome``.

        A route without middleware (:attr:`CommandRoute.plain`) and a dispatch
        without a deadline have nothing to set up: the context is entered by
        making it current, and left so when the body did not raise and no
        resource was set up. Otherwise it is entered and exited as ``async with
        ctx`` would.
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
        owner: _Dispatch | None = None
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
            if (
                type(outer) is _Dispatch
                and route.scope.access is not None
                and outer._route.scope.access is not None
            ):
                owner = outer._owner or outer
                if owner._sealed:  # committed, or committing: this one is alone
                    owner = None
        ctx = _Dispatch(route, actor, request_id, meta, deadline)
        # With databases, the dispatch's unit is current from here (it opens
        # when first needed): repositories built without one find it.
        binding: UnitBinding | None = (
            None if route.scope.access is None else bind_unit(ctx)
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
        plain = route.plain and deadline is None
        try:
            if plain:
                ctx._state = _OPEN
                token = ctx._token = _current.set(ctx)
            else:
                await ctx.__aenter__()
            try:
                if route.policy is not None:
                    route.policy.check(actor)
                events = ctx._events
                if route.generator:
                    generator = route.handler(command, ctx)
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
                    response = await route.handler(command, ctx)
                    if (
                        response is not None
                        and type(response) not in route.responses
                        and not _is_response(response, route)
                    ):
                        raise _bad_output(route, response, "returned")
                ctx._emitting = False
                if response is None and not route.gives_ok:
                    raise _undeclared(route, None, "gave")
                if events:
                    routes = route.events
                    for event in events:
                        for handler in routes[type(event)]:
                            if handler.generator:
                                await _iterate(handler, event, ctx)
                            elif await handler.handler(event, ctx) is not None:
                                raise _returned(handler)
                # Every handler has finished and none failed: write it all.
                if events and route.outbox is not None:
                    route.outbox.publish(ctx._unit(), route.scope.name, events)
                if before_commit is not None:
                    await before_commit(ctx, response)
                ctx._sealed = True
                if ctx._work is not None:
                    await ctx._commit()
                completed = True
                if route.renderers is not None and response is not None:
                    renderer = route.renderers.get(type(response))
                    if renderer is not None:
                        response = await _render(renderer, response, ctx)
            except BaseException as exc:
                if ctx._work is not None:
                    await ctx._abort(exc)
                if not await ctx.__aexit__(type(exc), exc, exc.__traceback__):
                    raise
                # A middleware swallowed the error: before the commit, nothing
                # was written and `completed` stays False.
            else:
                if plain and ctx._resources is route.scope.resources:
                    ctx._state = _CLOSED  # no resource was set up: nothing to tear down
                    _current.reset(token)
                else:
                    await ctx.__aexit__(None, None, None)
        except BaseException as exc:
            if ctx._work is not None:
                await ctx._abort(exc)
            if not (
                isinstance(exc, ConcurrencyConflict)
                and (ctx._committing or isinstance(exc, LockConflict))
                and ctx._owner is None
                and attempt < route.retry.attempts
            ):
                self._failed(ctx, exc)
                raise
            conflict = exc
        finally:
            if fenced is not None:
                unfence(fenced)
            if binding is not None:
                binding.reset()
        if conflict is not None:
            return await self._retry(
                command, ctx, meta, deadline, outcome, before_commit, attempt, conflict
            )
        if debug:
            self._dispatched(ctx, started)
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

    def _failed(self, ctx: _Dispatch, exc: BaseException) -> None:
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
                command=ctx._route.full_name,
                error=repr(exc),
            )

    def _dispatched(self, ctx: _Dispatch, started: float) -> None:
        """Log a dispatch at debug."""
        self._log.debug(
            "dispatched",
            request_id=ctx.request_id,
            domain=ctx.domain,
            command=ctx._route.full_name,
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


def _bad_output(route: CommandRoute, item: object, how: str) -> HandlerError:
    if isinstance(item, Response):
        return _undeclared(route, item, how)
    return HandlerError(
        f"the handler of {route.full_name} {how} {item!r}: command handlers "
        "yield Events and at most one Response, or return a Response or None"
    )


def _undeclared(route: CommandRoute, item: object, how: str) -> HandlerError:
    declared = " | ".join(kind.__qualname__ for kind in route.returns)
    given = "no response" if item is None else repr(item)
    return HandlerError(
        f"the handler of {route.full_name} {how} {given}; it declared {declared} "
        "(returns= or its return annotation)"
    )


def _not_an_event(route: CommandRoute, event: object, how: str) -> HandlerError:
    known = ", ".join(sorted(e.__qualname__ for e in route.scope.events)) or "none"
    return HandlerError(
        f"the handler of {route.full_name} {how} {type(event).__qualname__}, which "
        f"domain {route.scope.name!r} did not register (its events: {known}); "
        f"register it with @{route.scope.name}.event(...) or "
        f"{route.scope.name}.register(...)"
    )


async def _iterate(handler: EventRoute, event: Event, ctx: _Dispatch) -> None:
    """Run an async-generator event handler, applying what it yields in order
    (only collecting it in an App without databases)."""
    generator = handler.handler(event, ctx)
    mutations = ctx._mutations
    if mutations is None:
        mutations = ctx._mutations = []
    apply = None if ctx._route.scope.access is None else ctx._apply
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
    renderer: Callable[..., Any], response: Response, ctx: _Dispatch
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
        raise RenderError(ctx._route.full_name, response, repr(exc)) from exc


async def _rendered(
    renderer: Callable[..., Any], response: Response, ctx: _Dispatch
) -> Response:
    result = await renderer(response, ctx)
    if ctx._work is not None:
        if ctx._owner is None:
            await _late(ctx)
        else:
            ctx._work = None
    if result is None:
        return response
    if not isinstance(result, ctx._route.returns):
        raise HandlerError(
            f"renderer {renderer.__qualname__} of {ctx._route.full_name} "
            f"returned {result!r}: a renderer returns a Response of a type the "
            "command declared, or None to keep the handler's"
        )
    return result


async def _late(ctx: _Dispatch) -> None:
    """Let go of a unit of work a renderer opened after the commit: it may
    read, but what it changed is not written."""
    work = ctx._work
    assert work is not None
    pending = work.state.pending
    await ctx._abort()
    if pending:
        tables = ", ".join(dict.fromkeys(t.schema.name for t in pending))
        raise HandlerError(
            f"{ctx._route.full_name} changed {tables} in a renderer, after its "
            "unit of work committed: nothing of it was written; change data in "
            "handlers"
        )
