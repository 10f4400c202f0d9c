"""The Context: who is asking, for which request, until when, and with what.

Every dispatch runs in a new context, and ``async with app.context(...)`` opens one
by hand. Inside it, :func:`current_context` finds it from anywhere: child tasks
inherit it, sibling tasks each see their own, nested contexts stack and unwind.

A context runs its middleware around its body, sets resources up lazily on first
access, and on exit tears down the middleware (innermost first), then the resources
(newest first), even on error or cancellation. A deadline (on anyio's clock) cancels
the body when it passes; the caller sees :class:`TimeoutError`.

Inside a dispatch, ``ctx.state`` is the dispatch's unit of work's state manager
(``ctx.unit`` the unit itself), opened the first time a handler asks for it. A
context of a domain opened by hand (``async with app.context(domain=...)``) has
one too, opened the same way: it commits when the context exits cleanly, before
the middleware and resources are torn down, and rolls back on error or
cancellation. It is not retried: a :class:`glue.ConcurrencyConflict` at that
commit reaches the caller (dispatch a command to have conflicts retried). In
either, the unit is current (:func:`glue.work.require_unit`), so repositories
built without a unit find it, and open it. A context of a domain has
``ctx.dal``, the domain's services seen from this context, built the first time
it is asked for.

What leaves the context:

- the body's exception, as changed by middleware (replaced, or swallowed: then the
  context exits cleanly);
- otherwise, if a teardown failed, the first teardown error, raised after every
  teardown ran. All of them are in :attr:`Context.teardown_errors` and were logged.
"""

from __future__ import annotations

import secrets
import typing
from collections.abc import Callable, Iterator, Mapping
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, Generic, NoReturn, Protocol

import anyio

from ..errors import ContextError, Forbidden, GlueError, UnknownService
from ..work.unit import UnitSource, bind_unit
from .middleware import MiddlewareChain
from .resources import ResourceSet

if TYPE_CHECKING:
    from collections.abc import AsyncGenerator, Sequence
    from contextlib import AbstractContextManager
    from types import TracebackType
    from typing import Self

    from ..entities.base import Event
    from ..state.manager import StateManager
    from ..typing import Middleware, ResourceFactory
    from ..work.unit import UnitBinding, UnitOfWork


__all__ = [
    "Context",
    "Hooks",
    "Metadata",
    "current_context",
    "require_context",
]

_NEW, _OPEN, _CLOSING, _CLOSED = range(4)
_EMPTY: Mapping[str, Any] = {}
_NO_MIDDLEWARE = MiddlewareChain(())

if TYPE_CHECKING:  # TypeVar defaults are typing's from Python 3.13
    from typing_extensions import TypeVar

    D = TypeVar("D", default=Any)
else:
    D = typing.TypeVar("D")
"""The type of ``ctx.dal``: ``Context[ShopDal]``, ``ShopDal`` a Protocol of the
domain's services, lets mypy check calls through ``ctx.dal``; Any by default."""

_current: ContextVar[Context[Any] | None] = ContextVar("glue.context", default=None)


# The ContextVar's own getter: the bus asks it on every dispatch, and a C call
# is cheaper than a function around it.
current_context: Callable[[], Context[Any] | None] = _current.get
"""The innermost context active in this task, or None outside any context."""


def require_context() -> Context:
    """The innermost active context.

    Raises:
        glue.ContextError: no context is active in this task.
    """
    ctx = _current.get()
    if ctx is None:
        raise ContextError(
            "no active context: call this inside `async with app.context(...)` "
            "or a handler"
        )
    return ctx


class Hooks(UnitSource, Protocol):
    """What the layer above gives a context: its unit of work, opened on first
    use and ended when the context exits. A context of a domain
    (:class:`glue.domain.DomainContext`, a dispatch's or one opened by hand) is
    its own hooks.

    A context with hooks makes them its current unit source
    (:func:`glue.work.unit.bind_unit`) while it is open: ``open_unit`` opens
    the unit on first call and gives the same one after; ``opened_unit`` gives
    it only once open.
    """

    def holds_unit(self) -> bool:
        """Whether a unit of work is open that :meth:`finish` would end."""
        ...

    async def finish(self, exc: BaseException | None) -> None:
        """End the unit of work when the context exits, if one was opened:
        commit it when ``exc`` is None, else roll it back (even when cancelled).

        Raises:
            glue.GlueError: the commit failed (all was rolled back).
        """
        ...


class Metadata(Mapping[str, Any]):
    """Read-only request metadata: ``ctx.meta.tenant`` or ``ctx.meta.get("tenant")``.

    A missing key reads as None; :meth:`require` raises for it instead. Setting or
    deleting anything raises :class:`glue.ContextError`.
    """

    __slots__ = ("_data",)

    def __init__(self, data: Mapping[str, Any] = _EMPTY) -> None:
        object.__setattr__(self, "_data", dict(data))

    def __getitem__(self, key: str) -> Any:
        return self._data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __getattr__(self, key: str) -> Any:
        if key.startswith("__"):
            raise AttributeError(key)
        return self._data.get(key)

    def __setattr__(self, key: str, value: object) -> None:
        raise ContextError(f"context meta is read-only: cannot set {key!r}")

    def __delattr__(self, key: str) -> None:
        raise ContextError(f"context meta is read-only: cannot delete {key!r}")

    def __repr__(self) -> str:
        return f"Metadata({self._data!r})"

    def require(self, key: str) -> Any:
        """The value of ``key``.

        Raises:
            glue.ContextError: ``key`` is missing, None or empty.
        """
        value = self._data.get(key)
        if value is None or value == "":
            raise ContextError(f"context meta {key!r} is required but missing")
        return value


class Context(Generic[D]):
    """One unit of work's context: actor, request id, meta, deadline, resources.

    Args:
        actor: who is asking; any object (policies read ``actor.permissions``).
        request_id: an id for logs and tracing; a random one when not given.
        meta: request metadata, read-only once in the context.
        deadline: when the body is cancelled, on anyio's clock
            (``anyio.current_time() + seconds``); None for no deadline.
        resources: resource name → factory: the resources this context may use.
        middleware: middleware functions (outermost first) or a chain built once.
        domain: the domain the context belongs to, named in errors.
        hooks: where :attr:`unit` and :attr:`state` come from, and what ends
            the unit of work on exit (a context knows no units of work itself).

    A context is entered once, with ``async with``, or, when it has nothing to
    await, with :meth:`enter_now` and :meth:`exit_now`. Attributes are
    read-only. A context of a domain (:class:`glue.domain.DomainContext`) adds
    events (:meth:`emit`) and services (:attr:`dal`).
    """

    # Set only when used: class-level defaults keep a new context cheap.
    _entered: list[AsyncGenerator[None, None]] | None = None
    _cancel_scope: AbstractContextManager[anyio.CancelScope] | None = None
    _token: Any = None
    _binding: UnitBinding | None = None
    # Set when there is something to tear down: middleware entered, a resource
    # set up or a deadline scope entered (exit_now asks one flag).
    _teardown = False
    _state = _NEW
    teardown_errors: Sequence[BaseException] = ()
    """Every teardown error of this context, in the order they happened."""

    def __init__(
        self,
        actor: Any = None,
        request_id: str | None = None,
        meta: Mapping[str, Any] | Metadata | None = None,
        deadline: float | None = None,
        resources: Mapping[str, ResourceFactory[Any]] = _EMPTY,
        middleware: MiddlewareChain | Sequence[Middleware] = _NO_MIDDLEWARE,
        domain: str | None = None,
        hooks: Hooks | None = None,
    ) -> None:
        self._actor = actor
        self._request_id = request_id
        self._meta = (
            meta if meta is None or isinstance(meta, Metadata) else Metadata(meta)
        )
        self._deadline = deadline
        self._resources: ResourceSet | Mapping[str, ResourceFactory[Any]] = resources
        self._chain = (
            middleware
            if isinstance(middleware, MiddlewareChain)
            else MiddlewareChain(middleware)
        )
        self._domain = domain
        self._hooks = hooks

    # -- attributes ------------------------------------------------------------

    @property
    def actor(self) -> Any:
        """Who is asking: any object, or None."""
        return self._actor

    @actor.setter
    def actor(self, value: object) -> NoReturn:
        raise _read_only("actor")

    @property
    def request_id(self) -> str:
        """The request id: the one given, or a random one made on first read."""
        if self._request_id is None:
            self._request_id = secrets.token_hex(8)
        return self._request_id

    @request_id.setter
    def request_id(self, value: object) -> NoReturn:
        raise _read_only("request_id")

    @property
    def meta(self) -> Metadata:
        """Read-only request metadata."""
        meta = self._meta
        if not isinstance(meta, Metadata):
            meta = self._meta = Metadata(meta or _EMPTY)
        return meta

    @meta.setter
    def meta(self, value: object) -> NoReturn:
        raise _read_only("meta")

    @property
    def deadline(self) -> float | None:
        """When the body is cancelled, on anyio's clock, or None."""
        return self._deadline

    @deadline.setter
    def deadline(self, value: object) -> NoReturn:
        raise _read_only("deadline")

    @property
    def domain(self) -> str | None:
        """The domain this context belongs to, or None."""
        return self._domain

    @domain.setter
    def domain(self, value: object) -> NoReturn:
        raise _read_only("domain")

    def __repr__(self) -> str:
        state = ("new", "open", "closing", "closed")[self._state]
        return f"<Context {self.request_id} domain={self._domain!r} {state}>"

    # -- events ------------------------------------------------------------------

    def emit(self, event: Event) -> None:
        """Emit an event, as if the command handler had yielded it.

        Raises:
            glue.ContextError: the context is not running a command handler.
        """
        raise ContextError(
            "emit() works only while a command handler runs: events come from "
            "command handlers, not from callers or event handlers"
        )

    # -- data ------------------------------------------------------------------------

    @property
    def unit(self) -> UnitOfWork:
        """The context's unit of work, opened on first use.

        In a dispatch it commits after every handler has finished; in a context
        opened by hand, when the context exits cleanly. Either rolls back on
        any error. Repositories built in the context find it too
        (:func:`glue.work.require_unit`, which opens it).

        Raises:
            glue.ContextError: the context is not open, or is not a dispatch or
                a context of a domain in an App with databases.
        """
        if self._state != _OPEN or self._hooks is None:
            raise ContextError(
                "ctx.unit and ctx.state work inside a dispatch, or `async with "
                "app.context(domain=...)`, of a domain whose App has databases "
                "(`App([...], databases={...})`), while it runs"
            )
        return self._hooks.open_unit()

    @property
    def state(self) -> StateManager:
        """The state manager of the context's unit of work (see :attr:`unit`).

        Raises:
            glue.ContextError: as for :attr:`unit`.
        """
        return self.unit.state

    # -- services --------------------------------------------------------------------

    @property
    def dal(self) -> D:
        """The domain's services, called inside this context:
        ``await ctx.dal.orders.get_order(7)`` (a :class:`glue.services.dal.Dal`,
        built on first access). Annotate the context ``Context[ShopDal]``,
        ``ShopDal`` a Protocol of the domain's services, and mypy checks calls
        through it.

        Raises:
            glue.UnknownService: the context belongs to no domain, so it has no
                services (an AttributeError too).
        """
        raise UnknownService(
            "dal",
            "this context has no services: contexts of a domain have "
            "ctx.dal (`app.context(domain=...)` or a dispatch); register "
            "services with domain.service(name, service)",
        )

    # -- resources -----------------------------------------------------------------

    def __contains__(self, name: object) -> bool:
        """Whether the resource ``name`` is set up in this context."""
        resources = self._resources
        return isinstance(resources, ResourceSet) and name in resources

    async def resource(self, name: str) -> Any:
        """The value of resource ``name``, set up on first access.

        Raises:
            glue.Forbidden: the context's domain did not declare ``name``.
            glue.ContextError: the context is not open, or is exiting and ``name``
                was not set up before.
            glue.SetupError: the factory returned without yielding.
        """
        resources = self._resources
        if not isinstance(resources, ResourceSet):
            resources = self._resources = ResourceSet(resources, self._domain)
            self._teardown = True
        if name in resources:
            if self._state in (_OPEN, _CLOSING):
                return resources.get(name)
        elif self._state == _OPEN:
            if name not in resources.factories:
                raise self._undeclared(name, resources)
            return await resources.setup(name, self)
        if self._state == _CLOSING:
            raise ContextError(
                f"resource {name!r} cannot be set up while the context is exiting"
            )
        when = "before the context is entered" if self._state == _NEW else "after exit"
        raise ContextError(f"resource {name!r} used {when}")

    def _undeclared(self, name: str, resources: ResourceSet) -> GlueError:
        declared = ", ".join(sorted(resources.factories)) or "none"
        if self._domain is None:
            return ContextError(f"no resource named {name!r} (known: {declared})")
        return Forbidden(
            f"domain {self._domain!r} did not declare resource {name!r} "
            f"(declared: {declared}); declare it with @{self._domain}.resource",
            missing=[name],
        )

    # -- lifecycle -------------------------------------------------------------------

    def enter_now(self) -> bool:
        """Enter the context without awaiting, if entering it awaits nothing (it
        has no middleware and no deadline): True. Otherwise do nothing and
        return False: enter it with ``await ctx.__aenter__()``.

        The bus's fast path; pair it with :meth:`exit_now`.

        Raises:
            glue.ContextError: the context was entered before.
        """
        if self._chain.middleware or self._deadline is not None:
            return False
        # What _open does, written out: this runs on every plain dispatch.
        if self._state != _NEW:
            raise _entered_twice()
        self._state = _OPEN
        self._token = _current.set(self)
        if self._hooks is not None:
            self._binding = bind_unit(self._hooks)
        return True

    def exit_now(self) -> bool:
        """Leave the context cleanly without awaiting, if leaving it awaits
        nothing (no middleware entered, no resource set up, no deadline, no unit
        of work open): True. Otherwise do nothing and return False: leave it
        with ``await ctx.__aexit__(None, None, None)``.
        """
        if self._teardown or (self._hooks is not None and self._hooks.holds_unit()):
            return False
        self._state = _CLOSED
        _current.reset(self._token)
        if self._binding is not None:
            self._binding.reset()
        return True

    def _open(self) -> None:
        """Make the context current (and its hooks the current unit source)."""
        if self._state != _NEW:
            raise _entered_twice()
        self._state = _OPEN
        self._token = _current.set(self)
        if self._hooks is not None:
            self._binding = bind_unit(self._hooks)

    async def __aenter__(self) -> Self:
        self._open()
        if self._deadline is not None:
            self._teardown = True
            self._cancel_scope = anyio.fail_at(self._deadline)
            self._cancel_scope.__enter__()
        if self._chain:
            try:
                self._teardown = True
                self._entered = []
                await self._chain.enter(self, self._entered)
            except BaseException as exc:
                error = await self._close(exc)
                if error is None:
                    raise
                raise error from None
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> bool:
        error = await self._close(exc)
        if error is None:
            return exc is not None  # swallowed by a middleware
        if error is exc:
            return False
        raise error

    async def _close(self, exc: BaseException | None) -> BaseException | None:
        """End the unit of work, tear everything down; return what the context
        raises (None: nothing)."""
        self._state = _CLOSING
        resources = self._resources
        try:
            hooks = self._hooks
            if hooks is not None:
                exc = await _finish(hooks, exc)
            entered = self._entered
            if entered or isinstance(resources, ResourceSet):
                errors: list[BaseException] = []
                self.teardown_errors = errors
                with anyio.CancelScope(shield=True):
                    if entered:
                        exc = await MiddlewareChain.exit(entered, exc, errors)
                    if isinstance(resources, ResourceSet):
                        await resources.teardown(exc, errors)
                    if exc is None and errors:
                        exc = errors[0]
            if self._cancel_scope is not None:
                exc = _exit_scope(self._cancel_scope, exc)
        finally:
            self._state = _CLOSED
            _current.reset(self._token)
            if self._binding is not None:
                self._binding.reset()
        return exc


async def _finish(hooks: Hooks, exc: BaseException | None) -> BaseException | None:
    """Commit or roll back the hooks' unit of work; return what leaves."""
    try:
        await hooks.finish(exc)
    except BaseException as error:
        return error if exc is None else exc
    return exc


def _entered_twice() -> ContextError:
    return ContextError(
        "a context can be entered once: make a new one for each unit of work"
    )


def _read_only(name: str) -> ContextError:
    return ContextError(f"context attributes are read-only: cannot set {name!r}")


def _exit_scope(
    scope: AbstractContextManager[anyio.CancelScope], exc: BaseException | None
) -> BaseException | None:
    """Leave the deadline scope; return the exception that leaves it."""
    try:
        traceback = exc.__traceback__ if exc else None
        if scope.__exit__(type(exc) if exc else None, exc, traceback):
            return None
    except BaseException as error:
        return error
    return exc
