"""Public types: the shapes of handlers, resource factories, middleware and actors.

Use them to annotate your own code; mypy then checks that a handler fits what the
decorator expects::

    from glue.typing import ResourceFactory

    async def clock(ctx: Context) -> AsyncIterator[float]:
        yield time.time()

    factory: ResourceFactory[float] = clock
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, TypeAlias, TypeVar, runtime_checkable

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable, Hashable, Set
    from typing import Any

    from .context.context import Context
    from .entities.base import Command, Event, Response

__all__ = [
    "CommandHandler",
    "EventHandler",
    "Middleware",
    "Principal",
    "ResourceFactory",
]

T = TypeVar("T")
C = TypeVar("C", bound="Command")
E = TypeVar("E", bound="Event")


@runtime_checkable
class Principal(Protocol):
    """What a command policy needs of an actor: an id and a set of permissions.

    :class:`glue.Actor` satisfies it; so does any object of yours with these two
    attributes.
    """

    @property
    def id(self) -> Hashable:
        """Who the actor is (a user id, a service name)."""
        ...

    @property
    def permissions(self) -> Set[str]:
        """What the actor may do, such as ``{"orders:admin"}``."""
        ...


CommandHandler: TypeAlias = (
    "Callable[[C, Context], Awaitable[Response | None]]"
    " | Callable[[C, Context], AsyncIterator[Event | Response]]"
)
"""An async function returning a Response (or None for ``Ok``), or an async generator
yielding Events and at most one Response."""

EventHandler: TypeAlias = (
    "Callable[[E, Context], Awaitable[None]]"
    " | Callable[[E, Context], AsyncIterator[Any]]"
)
"""An async function, or an async generator yielding what the unit of work applies
(mutations)."""

ResourceFactory: TypeAlias = "Callable[[Context], AsyncIterator[T]]"
"""An async generator that yields one value: set up before the yield, torn down
after it (the body's exception is thrown in at the yield)."""

Middleware: TypeAlias = "Callable[[Context], AsyncIterator[None]]"
"""An async generator around a context's body: set up, ``yield`` once, tear down."""
