"""App: composes domains into one application with a bus.

::

    async with App([shop, billing]) as app:
        cmd = app.decode("shop:create-order", request_body)
        placed = await app.bus.dispatch(cmd, actor=user)

Building an App checks and freezes its domains and builds every table the bus
needs, so mistakes surface there. Opening it (``async with``) makes the bus accept
dispatches; closing it releases what it opened, in reverse order.
"""

from __future__ import annotations

import contextlib
import enum
from typing import TYPE_CHECKING, Any

from ..context.context import Context
from ..errors import ContextError, UnknownCommand
from .bus import Bus
from .registry import Registry

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping
    from types import TracebackType
    from typing import Self

    from ..entities.base import Command
    from ..entities.codec import Payload
    from .domain import Domain

__all__ = ["App", "AppState"]


class AppState(enum.Enum):
    """Where an App is in its life: built, open, or closed (for good)."""

    NEW = "new"
    OPEN = "open"
    CLOSED = "closed"


class App:
    """An application: domains composed, with one bus.

    Args:
        domains: the domains to compose. Two may reuse entity names (full names
            differ by domain); two may not share a name or a command type.

    Raises:
        glue.RegistrationError: domains that clash.
    """

    def __init__(self, domains: Iterable[Domain]) -> None:
        self.registry = Registry(domains)
        self.bus = Bus(self.registry)
        self._decoders = {
            name: self.registry.codecs[name].decode for name in self.registry.commands
        }
        self._state = AppState.NEW
        self._stack = contextlib.AsyncExitStack()

    def __repr__(self) -> str:
        return f"<App domains={list(self.registry.domains)} {self._state.value}>"

    @property
    def state(self) -> AppState:
        """Whether the app is new, open or closed."""
        return self._state

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
            decode = self._decoders[name]
        except KeyError:
            raise UnknownCommand(name, self.registry.command_names()) from None
        decoded: Command = decode(payload)
        return decoded

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
        scope = self.registry.domains.get(domain)
        if scope is None:
            raise ContextError(
                f"no domain named {domain!r} in this app "
                f"(domains: {', '.join(self.registry.domains) or 'none'})"
            )
        return Context(
            actor=actor,
            request_id=request_id,
            meta=meta,
            deadline=deadline,
            resources=scope.resources,
            middleware=scope.chain,
            domain=scope.name,
        )

    async def __aenter__(self) -> Self:
        if self._state is not AppState.NEW:
            raise ContextError(
                f"this App is {self._state.value}: an App opens once; build a new "
                "one to open again"
            )
        await self._stack.__aenter__()
        self.bus.start()
        self._stack.callback(self.bus.stop)
        self._state = AppState.OPEN
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
