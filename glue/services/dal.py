"""The data access layer: business logic in services, reached through the context.

Register services once, by (dotted) name, in a :class:`Services` registry; call
them through a :class:`Dal` bound to a context::

    class OrderService(Service):
        async def get_order(self, order_id: int) -> Order | None:
            return await OrderRepository().get(order_id)

    services = Services()
    services.register("orders", OrderService())
    services.register("billing.invoices", InvoiceService())  # nests "billing"

    async with Context(actor=alice) as ctx:
        dal = Dal(services, ctx)
        order = await dal.orders.get_order(7)
        same = await dal.resolve("orders.get_order")(7)

Services nest to any depth: a dotted name creates the levels it needs, and a
:class:`Service` may register sub-services of its own. Every call is awaited,
whether the method is sync or async, and runs inside the DAL's context, through
the method middleware (:meth:`Services.middleware`, first registered outermost).

A DAL built with no context (``app.dal``) does not run anything: a call makes a
:class:`DeferredCall`, a value to keep or queue and run later, inside a context,
with ``await call()``.

Conventions for services: getters return None when nothing is found; operations
that need a missing parent raise :class:`glue.NotFound`.
"""

from __future__ import annotations

import functools
import inspect
import keyword
from collections.abc import Awaitable, Callable, Mapping
from contextvars import ContextVar
from types import CoroutineType
from typing import TYPE_CHECKING, Any, TypeAlias, TypeVar

import msgspec

from ..context.context import Context, current_context, require_context
from ..errors import ContextError, RegistrationError, UnknownService

if TYPE_CHECKING:
    from ..context.context import Metadata

__all__ = [
    "CallNext",
    "Dal",
    "DeferredCall",
    "Service",
    "ServiceCall",
    "ServiceMiddleware",
    "Services",
]

S = TypeVar("S")
M = TypeVar("M", bound="ServiceMiddleware")
V = TypeVar("V")

_EMPTY: Mapping[str, Any] = {}


class ServiceCall(msgspec.Struct, frozen=True, kw_only=True):
    """One call of a service method, as method middleware sees it.

    Middleware passes it on with ``await call_next(request)``, or a changed copy
    with ``await call_next(request.replace(args=(...)))``: the method that runs
    is the one at ``path`` when the innermost middleware calls on.

    Attributes:
        path: the method's dotted path, ``"orders.get_order"``.
        args: the positional arguments.
        kwargs: the keyword arguments.
        context: the context the call runs in.
    """

    path: str
    args: tuple[Any, ...] = ()
    kwargs: Mapping[str, Any] = _EMPTY
    context: Context

    def replace(self, **changes: Any) -> ServiceCall:
        """A copy with some attributes changed: ``request.replace(args=(2,))``."""
        return msgspec.structs.replace(self, **changes)


CallNext: TypeAlias = Callable[[ServiceCall], Awaitable[Any]]
"""What method middleware calls to run the rest of the chain and the method."""

ServiceMiddleware: TypeAlias = Callable[[ServiceCall, CallNext], Awaitable[Any]]
"""``async def mw(request, call_next)``: wraps every service call made through a DAL.

It returns what the call returns: usually ``await call_next(request)``. It may
pass a changed request on, return something else, or refuse by raising
(for example `glue.Forbidden`).
"""

# The DAL running the current service call: what `Service.dal` gives back.
_ACTIVE: ContextVar[Dal | None] = ContextVar("glue.dal", default=None)


class Service:
    """A base for services, with the active context at hand.

    Any object can be registered as a service; subclassing this one adds
    :attr:`ctx`, :attr:`dal`, :attr:`meta`, :meth:`resource` and sub-services
    (:meth:`register`). These names, and names starting with ``_``, are never
    reachable through a DAL. Subclasses need not call ``super().__init__()``.
    """

    _glue_services: dict[str, object] | None = None
    _glue_frozen = False

    @property
    def ctx(self) -> Context:
        """The active context.

        Raises:
            glue.ContextError: no context is active in this task.
        """
        return require_context()

    @property
    def meta(self) -> Metadata:
        """The active context's read-only metadata."""
        return require_context().meta

    @property
    def dal(self) -> Dal:
        """The DAL of the active context, to call other services with.

        Inside a call made through a DAL, that DAL (bound to the active
        context); otherwise the context's own ``ctx.dal``.

        Raises:
            glue.ContextError: no context is active, or the service was called
                neither through a DAL nor in a context that has one.
        """
        ctx = require_context()
        active = _ACTIVE.get()
        if active is not None:
            if active.context is ctx:
                return active
            return Dal(active.services, ctx)
        own = getattr(ctx, "dal", None)
        if isinstance(own, Dal):
            return own
        raise ContextError(
            f"{type(self).__name__}.dal needs a DAL: call this service through "
            "ctx.dal (or a Dal(services, ctx)) rather than directly"
        )

    async def resource(self, name: str) -> Any:
        """The active context's resource ``name``, set up on first access.

        Raises:
            glue.ContextError: no context is active, or it does not know ``name``.
            glue.Forbidden: the context's domain did not declare ``name``.
        """
        return await require_context().resource(name)

    def register(self, name: str, service: S) -> S:
        """Register a sub-service under ``name`` (dotted names nest further).

        Returns:
            ``service``, so that registration can be an assignment.

        Raises:
            glue.RegistrationError: a bad or taken name, a name that would hide
                a method, or a registry that is frozen.
        """
        _register(self, name, name, service)
        return service


class Services:
    """The registry of services and method middleware, frozen once the app starts.

    Resolved paths are cached here, so a DAL's attribute access costs a dict
    lookup after the first time. Freezing also gives each service its own view
    class, whose attributes are the service's names: on a frozen registry,
    ``dal.orders.get_order`` is two plain attribute reads.
    """

    __slots__ = (
        "_dal_type",
        "_entries",
        "_folded",
        "_frozen",
        "_middleware",
        "_overrides",
        "_root",
        "_view_types",
    )

    def __init__(self) -> None:
        self._root = Service()
        self._middleware: list[ServiceMiddleware] = []
        self._folded: CallNext | None = None
        self._entries: dict[str, _Entry] = {}
        self._frozen = False
        self._dal_type = Dal
        self._view_types: dict[str, type[_ServiceView]] = {}
        self._overrides: dict[str, object] = {}

    def __repr__(self) -> str:
        names = ", ".join(sorted(self._root._glue_services or ())) or "none"
        state = " frozen" if self._frozen else ""
        return f"<Services {names}{state}>"

    def __bool__(self) -> bool:
        """Whether any service is registered."""
        return bool(self._root._glue_services)

    def __contains__(self, path: object) -> bool:
        """Whether ``path`` names a service or a service method."""
        if not isinstance(path, str):
            return False
        try:
            self._entry(path)
        except UnknownService:
            return False
        return True

    @property
    def frozen(self) -> bool:
        """Whether registering is over."""
        return self._frozen

    def register(self, name: str, service: S) -> S:
        """Register ``service`` under ``name``: ``"orders"`` or ``"billing.invoices"``.

        Levels a dotted name needs are created as empty :class:`Service`
        namespaces; an existing level must be a :class:`Service`.

        Returns:
            ``service``, so that registration can be an assignment.

        Raises:
            glue.RegistrationError: a bad name; one taken (naming both
                services); one that would hide a method of its parent; or the
                registry is frozen.
        """
        _register(self._root, name, name, service, top=True)
        return service

    def middleware(self, middleware: M) -> M:
        """Add method middleware; the first added is the outermost.

        Usable as a decorator. See :data:`ServiceMiddleware`.

        Raises:
            glue.RegistrationError: the registry is frozen, or ``middleware`` is
                not an async callable taking ``(request, call_next)``.
        """
        if self._frozen:
            raise RegistrationError(
                f"cannot add middleware {_name(middleware)}: the services are frozen"
            )
        _check_middleware(middleware)
        self._middleware.append(middleware)
        self._folded = None
        return middleware

    def overridden(self, replacements: Mapping[str, object]) -> Services:
        """A frozen copy of this registry where other objects serve some paths.

        ``services.overridden({"billing.orders": FakeOrders()})`` answers
        ``billing.orders``, and every path below it, from the fake; this registry
        is unchanged, and the copy has the same middleware. Apps use it for
        :meth:`glue.App.replace_service`. The copy shares this registry's
        services, so this registry is frozen first.

        Raises:
            glue.UnknownService: a path names no service here.
            glue.RegistrationError: a path names a method (patch it instead, with
                ``mock.patch.object``), or a replacement is not a service object.
        """
        self.freeze()
        for path, service in replacements.items():
            if self._entry(path).is_method:
                raise RegistrationError(
                    f"{path!r} is a method, not a service: replace the service "
                    f"that has it, or patch the method (mock.patch.object)"
                )
            _check_service(service, path)
        copy = Services()
        copy._root = self._root
        copy._middleware = list(self._middleware)
        copy._overrides = {**self._overrides, **replacements}
        copy.freeze()
        return copy

    def freeze(self) -> None:
        """End registration: later registrations raise. Idempotent.

        Raises:
            glue.RegistrationError: a service contains itself (then nothing is
                frozen).
        """
        if self._frozen:
            return
        nodes: list[tuple[str, object]] = []
        pending: list[tuple[str, object, tuple[object, ...]]] = [
            (path, child, ()) for path, child in self._below("", self._root)
        ]
        while pending:
            path, node, above = pending.pop()
            if any(node is ancestor for ancestor in above):
                raise RegistrationError(
                    f"service {path!r} is {_name(node)}, which contains itself: "
                    "a service cannot be its own sub-service"
                )
            nodes.append((path, node))
            below = (*above, node)
            pending.extend((p, c, below) for p, c in self._below(path, node))
        self._dal_type = _view_type(Dal, "Dal", self._root, "", _TopName)
        self._root._glue_frozen = True
        for path, node in nodes:
            if isinstance(node, Service):
                node._glue_frozen = True
            self._view_types[path] = _view_type(
                _ServiceView, type(node).__name__, node, f"{path}.", _SubName
            )
        self._frozen = True

    def _entry(self, path: str) -> _Entry:
        """What ``path`` names: a service (``.method`` None) or a method.

        Raises:
            glue.UnknownService: nothing is registered at ``path``; the
                message names the full path and what the last level offers.
        """
        entry = self._entries.get(path)
        if entry is None:
            entry = self._entries[path] = _walk(self._root, path, self._overrides)
        return entry

    def _below(self, path: str, node: object) -> list[tuple[str, object]]:
        """The sub-services of ``node`` (at ``path``) by full path, overrides
        applied."""
        prefix = f"{path}." if path else ""
        overrides = self._overrides
        return [
            (prefix + name, overrides.get(prefix + name, child))
            for name, child in _named(node)
        ]

    def _chain(self) -> CallNext | None:
        """The middleware folded around the method call; None without middleware."""
        chain = self._folded
        if chain is None and self._middleware:
            chain = self._call
            for middleware in reversed(self._middleware):
                chain = _link(middleware, chain)
            self._folded = chain
        return chain

    async def _call(self, request: ServiceCall) -> Any:
        """The innermost step: run the method at ``request.path``."""
        entry = self._entry(request.path)
        return await entry.call(request.args, request.kwargs)


class Dal:
    """The services, seen from one context: ``dal.orders.get_order(7)``.

    Attribute access walks the registry; a method's call returns an awaitable
    that runs it inside ``context`` through the method middleware. With
    ``context`` None (the app-level DAL), a call returns a :class:`DeferredCall`.

    Args:
        services: the registry.
        context: the context calls run in; None for deferred calls.
    """

    # What attribute access resolves is kept in the instance __dict__: the next
    # access of the same name is a plain attribute read.
    __slots__ = ("__dict__", "_context", "_services")

    def __new__(cls, services: Services, context: Context | None = None) -> Dal:
        # A frozen registry's own subclass, with its service names as attributes.
        return object.__new__(services._dal_type if cls is Dal else cls)

    def __init__(self, services: Services, context: Context | None = None) -> None:
        self._services = services
        self._context = context

    def __repr__(self) -> str:
        return f"<Dal {self._services!r} context={self._context!r}>"

    @property
    def services(self) -> Services:
        """The registry this DAL reads."""
        return self._services

    @property
    def context(self) -> Context | None:
        """The context calls run in; None for an app-level DAL."""
        return self._context

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        found = self.__dict__[name] = self.resolve(name)
        return found

    def resolve(self, path: str) -> Any:
        """What the dotted ``path`` names: ``dal.resolve("orders.get_order")``.

        Returns the same as the attribute walk: a service's view (to go on
        walking) or a method's callable.

        Raises:
            glue.UnknownService: nothing is registered at ``path``; the
                message names the full path.
        """
        services = self._services
        entry = services._entry(path)
        if not entry.is_method:
            return services._view_types.get(path, _ServiceView)(self, path)
        return _MethodView(self, entry)

    async def _run(
        self, entry: _Entry, args: tuple[Any, ...], kwargs: Mapping[str, Any]
    ) -> Any:
        """Run the method of ``entry`` in this DAL's context, through middleware.

        Raises:
            glue.ContextError: the DAL has no context, or its context is not the
                active one (the DAL is used outside its context).
        """
        ctx = self._context
        if ctx is None or current_context() is not ctx:
            raise _outside(entry.path, ctx)
        token = _ACTIVE.set(self)
        try:
            chain = self._services._chain()
            if chain is None:
                # entry.call, inlined: one coroutine less per call.
                result = getattr(entry.service, entry.name)(*args, **kwargs)
                if type(result) is CoroutineType or inspect.isawaitable(result):
                    return await result
                return result
            return await chain(
                ServiceCall(path=entry.path, args=args, kwargs=kwargs, context=ctx)
            )
        finally:
            _ACTIVE.reset(token)


class DeferredCall(msgspec.Struct, frozen=True, kw_only=True):
    """A service call made without a context, to run later inside one.

    ``app.dal.orders.get_order(7)`` returns one; store or queue it, then
    ``await call()`` inside a context runs it there, through the middleware,
    and returns its result. It can run any number of times.

    Attributes:
        services: the registry the call was made on.
        path: the method's dotted path.
        args: the positional arguments.
        kwargs: the keyword arguments.
    """

    services: Services
    path: str
    args: tuple[Any, ...] = ()
    kwargs: Mapping[str, Any] = _EMPTY

    def __repr__(self) -> str:
        return f"DeferredCall({_signature(self.path, self.args, self.kwargs)})"

    async def __call__(self) -> Any:
        """Run the call in the active context and return its result.

        Raises:
            glue.ContextError: no context is active.
        """
        ctx = current_context()
        if ctx is None:
            raise ContextError(
                f"deferred call {_signature(self.path, self.args, self.kwargs)} "
                "needs an active context: await it inside `async with "
                "app.context(...)` or a handler"
            )
        active = _ACTIVE.get()
        if (
            active is None
            or active.context is not ctx
            or (active.services is not self.services)
        ):
            active = Dal(self.services, ctx)
        entry = self.services._entry(self.path)
        return await active._run(entry, self.args, self.kwargs)


class _Entry:
    """A resolved path: a service, or one of its methods (cached per registry).

    Attributes:
        path: the dotted path.
        service: the service, or the service the method belongs to.
        is_method: whether the path names a method.
        name: the method's name; empty for a service.

    A method is looked up on its service at each call, not kept: a method
    patched after the first call (``mock.patch.object``) is the one that runs.
    """

    __slots__ = ("is_method", "name", "path", "service")

    def __init__(self, path: str, service: object, name: str | None) -> None:
        self.path = path
        self.service = service
        self.is_method = name is not None
        self.name = name or ""

    async def call(self, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> Any:
        """Call the method; await its result when it is awaitable."""
        if not self.is_method:
            raise TypeError(f"{self.path!r} is a service, not a method")
        result = getattr(self.service, self.name)(*args, **kwargs)
        if type(result) is CoroutineType or inspect.isawaitable(result):
            return await result
        return result


class _ServiceView:
    """A service (or namespace) seen through a DAL: walk on to its methods."""

    __slots__ = ("__dict__", "_dal", "_path")

    def __init__(self, dal: Dal, path: str) -> None:
        self._dal = dal
        self._path = path

    def __repr__(self) -> str:
        return f"<service {self._path!r}>"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, _ServiceView):
            return NotImplemented
        return self._dal is other._dal and self._path == other._path

    def __hash__(self) -> int:
        return hash((id(self._dal), self._path))

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        found = self.__dict__[name] = self._dal.resolve(f"{self._path}.{name}")
        return found


class _MethodView:
    """A service method seen through a DAL: call it to run (or defer) it."""

    __slots__ = ("_dal", "_entry")

    def __init__(self, dal: Dal, entry: _Entry) -> None:
        self._dal = dal
        self._entry = entry

    def __repr__(self) -> str:
        return f"<service method {self._entry.path!r}>"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, _MethodView):
            return NotImplemented
        return self._dal is other._dal and self._entry is other._entry

    def __hash__(self) -> int:
        return hash((id(self._dal), self._entry.path))

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        dal = self._dal
        if dal._context is None:
            return DeferredCall(
                services=dal.services, path=self._entry.path, args=args, kwargs=kwargs
            )
        return dal._run(self._entry, args, kwargs)


class _Name:
    """A name of a frozen registry, as a class attribute of a generated view type.

    It resolves its path on first use and keeps what it found, so reading it
    afterwards only builds the view.
    """

    __slots__ = ("entry", "path", "view_type")

    def __init__(self, path: str) -> None:
        self.path = path
        self.entry: _Entry | None = None
        self.view_type: type[_ServiceView] = _ServiceView

    def view(self, dal: Dal) -> Any:
        """What the name gives on ``dal``: a service's view or a method's callable."""
        entry = self.entry
        if entry is None:
            services = dal._services
            entry = self.entry = services._entry(self.path)
            self.view_type = services._view_types.get(self.path, _ServiceView)
        if not entry.is_method:
            return self.view_type(dal, self.path)
        return _MethodView(dal, entry)


class _TopName(_Name):
    """A top-level name, on the registry's Dal subclass."""

    __slots__ = ()

    def __get__(self, dal: Dal | None, owner: type | None = None) -> Any:
        return self if dal is None else self.view(dal)


class _SubName(_Name):
    """A name below a service, on that service's view type."""

    __slots__ = ()

    def __get__(self, view: _ServiceView | None, owner: type | None = None) -> Any:
        return self if view is None else self.view(view._dal)


# Registration and resolution -------------------------------------------------

_RESERVED = frozenset(name for name in dir(Service) if not name.startswith("_"))
# Attributes of Dal itself: a top-level service by one of these names would hide.
_DAL_NAMES = frozenset(name for name in dir(Dal) if not name.startswith("_"))


def _register(
    parent: Service, name: str, full: str, service: object, *, top: bool = False
) -> None:
    """Register ``service`` at the dotted ``name`` below ``parent``."""
    if parent._glue_frozen:
        raise RegistrationError(
            f"cannot register service {full!r}: the services are frozen "
            "(register before the app starts)"
        )
    _check_service(service, full)
    *levels, last = name.split(".")
    for part in (*levels, last):
        _check_name(part, full)
    first = levels[0] if levels else last
    if top and first in _DAL_NAMES:
        raise RegistrationError(
            f"cannot register service {full!r}: {first!r} is an attribute of the "
            f"DAL itself ({', '.join(sorted(_DAL_NAMES))}); choose another name"
        )
    node = parent
    for part in levels:
        children = _children(node)
        child = children.get(part)
        if child is None:
            _check_free(node, part, full)
            child = children[part] = Service()
        elif not isinstance(child, Service):
            raise RegistrationError(
                f"cannot register service {full!r}: {part!r} is "
                f"{_name(child)} (not a glue.Service), so it cannot hold "
                "sub-services"
            )
        node = child
    children = _children(node)
    taken = children.get(last)
    if taken is not None:
        raise RegistrationError(
            f"service {full!r} is registered twice: {_name(taken)} and "
            f"{_name(service)}; give one of them another name"
        )
    _check_free(node, last, full)
    children[last] = service


def _check_service(service: object, full: str) -> None:
    if service is None or isinstance(service, Services | Dal):
        raise RegistrationError(
            f"cannot register {service!r} as service {full!r}: register a service "
            "object (register each of a registry's services by name)"
        )


def _children(service: Service) -> dict[str, object]:
    children = service._glue_services
    if children is None:
        children = service._glue_services = {}
    return children


def _check_name(part: str, full: str) -> None:
    if not part.isidentifier() or keyword.iskeyword(part) or part.startswith("_"):
        raise RegistrationError(
            f"invalid service name {full!r}: each dotted part must be a Python "
            f"identifier not starting with '_' (got {part!r})"
        )


def _check_free(node: Service, part: str, full: str) -> None:
    if part in _RESERVED or _method_of(node, part) is not None:
        raise RegistrationError(
            f"cannot register service {full!r}: {part!r} is already a method or "
            f"attribute of {type(node).__name__}"
        )


def _method_of(service: object, name: str) -> Callable[..., Any] | None:
    """The public method ``name`` of ``service``, or None; never runs a property."""
    if name.startswith("_") or (isinstance(service, Service) and name in _RESERVED):
        return None
    try:
        static = inspect.getattr_static(service, name)
    except AttributeError:
        return None
    if isinstance(static, property | functools.cached_property):
        return None
    value = getattr(service, name)
    return value if callable(value) and not isinstance(value, type) else None


def _named(node: object) -> list[tuple[str, object]]:
    """The sub-services of ``node``, by name."""
    if isinstance(node, Service) and node._glue_services:
        return list(node._glue_services.items())
    return []


def _view_type(
    base: type[V], name: str, node: object, prefix: str, member: type[_Name]
) -> type[V]:
    """A subclass of ``base`` with ``node``'s names as attributes."""
    names = [child for child, _ in _named(node)]
    names += [n for n in dir(node) if n not in names and _method_of(node, n)]
    attributes: dict[str, Any] = {n: member(prefix + n) for n in names}
    attributes["__slots__"] = ()
    return type(name, (base,), attributes)


def _walk(root: Service, path: str, overrides: Mapping[str, object]) -> _Entry:
    parts = path.split(".")
    node: object = root
    for depth, part in enumerate(parts):
        children = node._glue_services if isinstance(node, Service) else None
        child = children.get(part) if children and not part.startswith("_") else None
        if overrides and child is not None:
            child = overrides.get(".".join(parts[: depth + 1]), child)
        if child is not None:
            node = child
            continue
        if depth == len(parts) - 1:
            if _method_of(node, part) is not None:
                return _Entry(path, node, part)
        raise _unknown(path, ".".join(parts[:depth]), part, node)
    return _Entry(path, node, None)


def _unknown(path: str, where: str, part: str, node: object) -> UnknownService:
    names = [*_offers(node)]
    offers = f"; it has {', '.join(names)}" if names else ""
    place = f"service {where!r}" if where else "the DAL"
    return UnknownService(
        path, f"no service or method {path!r}: {place} has no {part!r}{offers}"
    )


def _offers(node: object) -> list[str]:
    names = sorted((node._glue_services or _EMPTY) if isinstance(node, Service) else ())
    methods = sorted(
        f"{name}()"
        for name in dir(node)
        if name not in names and _method_of(node, name) is not None
    )
    return names + methods


def _outside(path: str, ctx: Context | None) -> ContextError:
    if ctx is None:
        return ContextError(f"{path!r} was called on a DAL without a context")
    return ContextError(
        f"{path!r} was called outside its DAL's context {ctx!r}: use the DAL of "
        "the active context (ctx.dal), inside `async with` of that context"
    )


def _check_middleware(middleware: object) -> None:
    """Refuse what cannot be awaited as ``middleware(request, call_next)``: found
    here, not at the first service call, which would fail with a TypeError."""
    call = getattr(middleware, "__call__", None)  # noqa: B004 (is it async?)
    if not callable(middleware) or not (
        inspect.iscoroutinefunction(middleware) or inspect.iscoroutinefunction(call)
    ):
        raise RegistrationError(
            f"service middleware {_describe(middleware)} is not an async function: "
            "write `async def mw(request, call_next): return await "
            "call_next(request)`"
        )
    try:
        inspect.signature(middleware).bind(None, None)
    except TypeError:
        raise RegistrationError(
            f"service middleware {_describe(middleware)} must take two arguments, "
            "(request, call_next)"
        ) from None
    except ValueError:
        pass  # no signature to read (a builtin): the call will tell


def _link(middleware: ServiceMiddleware, call_next: CallNext) -> CallNext:
    async def step(request: ServiceCall) -> Any:
        return await middleware(request, call_next)

    return step


def _describe(thing: object) -> str:
    """``module.qualname`` of a function or class, else the object's repr."""
    name = getattr(thing, "__qualname__", None)
    module = getattr(thing, "__module__", None)
    if isinstance(name, str):
        return f"{module}.{name}" if module else name
    return repr(thing)


def _name(thing: object) -> str:
    kind = thing if isinstance(thing, type) else type(thing)
    return getattr(thing, "__qualname__", None) or kind.__qualname__


def _signature(path: str, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> str:
    arguments = [repr(a) for a in args] + [f"{k}={v!r}" for k, v in kwargs.items()]
    return f"{path}({', '.join(arguments)})"
