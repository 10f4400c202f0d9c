"""The context of a domain: a dispatch's, or one opened by hand with ``App.context``.

A :class:`DomainContext` is a :class:`glue.Context` that is its own hooks
(:class:`glue.context.Hooks`): it opens a unit of work over its domain's tables
on first use (``ctx.state``, ``ctx.unit``, or a repository built without one),
builds ``ctx.dal`` from the domain's services, and ends the unit when the
context exits. One class serves both uses:

- **a dispatch's context** (``route`` given) also takes the command handler's
  ``ctx.emit``-ed events and is the bus's record of the dispatch: events,
  mutations, rows written. The bus commits its unit as a step of its own (see
  :mod:`glue.domain.bus`); a nested dispatch joins the unit of its outermost one
  (its *owner*) instead of opening its own;
- **a context opened by hand** (no route) emits nothing; its unit commits when
  the context exits cleanly, and rolls back otherwise.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

import anyio

from ..context.context import Context, D, Metadata
from ..entities.base import Event, Response
from ..errors import ContextError, HandlerError
from ..state.mutations import Mutation
from ..work.unit import UnitState

if TYPE_CHECKING:
    from collections.abc import Mapping

    from ..services.dal import Dal
    from ..work.unit import UnitOfWork
    from .registry import CommandRoute, DomainScope
    from .tables import DomainUnit

__all__ = ["DomainContext"]

# A new context's state, Context's class-level default (its constants are its
# package's own).
_NEW = Context._state


class DomainContext(Context[D]):
    """The context of one domain, its own hooks; a dispatch's record too.

    Args:
        scope: the domain's scope (resources, middleware, tables, services).
        actor: who is asking.
        request_id: an id for logs; made up when not given.
        meta: read-only request metadata.
        deadline: when the body is cancelled, on anyio's clock.
        route: the command dispatched; None for a context opened by hand.
    """

    # Rarely written: class-level defaults keep a new context cheap.
    _committing = False
    _written = 0
    _mutations: list[Any] | None = None
    _services: Dal | None = None
    # A nested dispatch joins the unit of work of `_owner`, the outermost one.
    _owner: DomainContext[Any] | None = None
    _mark = 0  # the length of the unit's log when a nested dispatch joined it
    _sealed = False  # the handlers finished: later dispatches run on their own
    _doomed: tuple[str, BaseException] | None = None

    def __init__(
        self,
        scope: DomainScope,
        actor: Any = None,
        request_id: str | None = None,
        meta: Mapping[str, Any] | None = None,
        deadline: float | None = None,
        route: CommandRoute | None = None,
    ) -> None:
        # What Context.__init__ does, written out for a domain's scope: this
        # runs on every dispatch, and the call and its checks cost a tenth of
        # one in memory.
        self._actor = actor
        self._request_id = request_id
        self._meta = (
            meta if meta is None or isinstance(meta, Metadata) else Metadata(meta)
        )
        self._deadline = deadline
        self._resources = scope.resources
        self._chain = scope.chain
        self._domain = scope.name
        # A dispatch in an App without databases has no unit of work: no hooks
        # to bind (binding one costs more than the rest of a plain dispatch).
        self._hooks = self if route is None or scope.access is not None else None
        # Read on every dispatch, so set here (an instance attribute reads
        # faster than a class-level default).
        self._scope = scope
        self._route = route
        self._events: list[Event] = []
        self._work: DomainUnit | None = None
        # Read on every dispatch (entering, leaving, `emit`): set here, since
        # Python 3.11 does not specialise reading a class-level default through
        # an instance (a generic lookup, several times the cost of this store).
        self._state = _NEW
        self._teardown = False
        self._binding = None
        self._emitting = True  # False once the command handler finished (or failed)

    # -- events ----------------------------------------------------------------------

    def emit(self, event: Event) -> None:
        """Emit an event, as if the command handler had yielded it.

        Raises:
            glue.ContextError: no command handler of this context is running.
            glue.HandlerError: the event is not one of the domain's.
        """
        route = self._route
        if route is None:  # opened by hand: refused as by any context
            return Context.emit(self, event)
        if not self._emitting:
            raise ContextError(
                f"{type(event).__qualname__} emitted after the command handler of "
                f"{route.full_name} finished: only command handlers emit events"
            )
        if type(event) not in route.events:
            raise _not_an_event(route, event, "emitted")
        self._events.append(event)

    # -- services --------------------------------------------------------------------

    @property
    def dal(self) -> D:
        """The domain's services, called inside this context:
        ``await ctx.dal.orders.get_order(7)`` (a :class:`glue.services.dal.Dal`,
        built on first access). Annotate ``ctx: Context[ShopDal]``, ``ShopDal``
        a Protocol of your services, and mypy checks calls through it."""
        dal = self._services
        if dal is None:
            dal = self._services = self._scope.dal(self)
        return cast("D", dal)

    # -- the hooks: the unit of work -------------------------------------------------

    @property
    def unit(self) -> UnitOfWork:
        """The context's unit of work, opened on first use (see
        :attr:`glue.Context.unit`).

        Raises:
            glue.ContextError: the context is not open, or its App has no
                databases.
        """
        route = self._route
        if route is not None and self._scope.access is None:
            # A dispatch without databases has no hooks: this raises, saying so.
            self._scope.open_unit(self.actor, route.full_name)
        return super().unit

    def open_unit(self) -> DomainUnit:
        """The context's unit of work, opened now if needed (a nested
        dispatch's is its owner's, which it joins)."""
        work = self._work
        if work is not None:
            return work
        scope = self._scope
        owner = self._owner
        if owner is not None:
            work = owner.open_unit()
            access = scope.access
            assert access is not None
            work.admit(access)
            self._mark = len(work.state.log)
        elif self._route is None:
            work = scope.open_unit(self.actor, f"a context of domain {scope.name!r}")
        else:
            work = scope.open_unit(self.actor, self._route.full_name, self)
        self._work = work
        return work

    def opened_unit(self) -> DomainUnit | None:
        """The context's unit of work if it is open, else None (a nested
        dispatch's is its owner's)."""
        owner = self._owner
        if self._work is None and owner is not None and owner._work is not None:
            return self.open_unit()
        return self._work

    def holds_unit(self) -> bool:
        """Whether this context has a unit of work open."""
        return self._work is not None

    async def finish(self, exc: BaseException | None) -> None:
        """End the unit of work as the context exits, if one is open.

        A context opened by hand commits it when ``exc`` is None. A dispatch
        commits as a step of its own, before it exits: here it only rolls back.
        """
        work = self._work
        if work is None:
            return
        if self._route is not None:
            await self._abort(exc)
            return
        self._work = None
        if exc is None and work.status in (UnitState.NEW, UnitState.ACTIVE):
            await work.commit()
        else:
            with anyio.CancelScope(shield=True):
                await work.rollback()

    # -- a dispatch's unit of work ---------------------------------------------------

    async def _apply(self, item: object) -> None:
        """Apply what an event handler yielded to the unit of work."""
        if not isinstance(item, Mutation):
            raise HandlerError(
                f"an event handler of {self._full_name()} yielded {item!r}: "
                "event handlers yield mutations (Insert, Update, Delete, Upsert)"
            )
        await self.unit.state.apply(item)

    async def _commit(self) -> None:
        """Commit the dispatch's unit of work; a conflict here may be retried.

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
                f"{who} failed inside the unit of work of {self._full_name()} "
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
                owner._doomed = (self._full_name(), exc)
            return
        with anyio.CancelScope(shield=True):
            await work.rollback()

    def _full_name(self) -> str:
        route = self._route
        return self._scope.name if route is None else route.full_name

    # -- a dispatch's response -------------------------------------------------------

    def _rejection(self, item: object, response: Response | None) -> HandlerError:
        """The error for what a command handler yielded that is neither one of its
        domain's events nor its first response (``response``)."""
        route = self._route
        assert route is not None
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


def _bad_output(route: CommandRoute, item: object, how: str) -> HandlerError:
    """The error for a command handler's output that is no declared response."""
    if isinstance(item, Response):
        return _undeclared(route, item, how)
    return HandlerError(
        f"the handler of {route.full_name} {how} {item!r}: command handlers "
        "yield Events and at most one Response, or return a Response or None"
    )


def _undeclared(route: CommandRoute, item: object, how: str) -> HandlerError:
    """The error for a response (or none) the command did not declare."""
    declared = " | ".join(kind.__qualname__ for kind in route.returns)
    given = "no response" if item is None else repr(item)
    return HandlerError(
        f"the handler of {route.full_name} {how} {given}; it declared {declared} "
        "(returns= or its return annotation)"
    )


def _not_an_event(route: CommandRoute, event: object, how: str) -> HandlerError:
    """The error for an event its command's domain did not register."""
    known = ", ".join(sorted(e.__qualname__ for e in route.scope.events)) or "none"
    return HandlerError(
        f"the handler of {route.full_name} {how} {type(event).__qualname__}, which "
        f"domain {route.scope.name!r} did not register (its events: {known}); "
        f"register it with @{route.scope.name}.event(...) or "
        f"{route.scope.name}.register(...)"
    )
