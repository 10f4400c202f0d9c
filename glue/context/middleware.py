"""Context middleware: async generators around a context's body, folded into a chain.

::

    @shop.middleware
    async def timing(ctx):
        started = time.perf_counter()
        try:
            yield                      # the body (and inner middleware) runs here
        finally:
            log.info("took", seconds=time.perf_counter() - started)

Middleware is set up in registration order and torn down in reverse. The body's
exception is thrown in at the ``yield`` of the innermost middleware first, then
outwards: a middleware that raises a new exception replaces it for the outer
middleware, the resources and the caller; one that swallows it (returns without
re-raising) makes the context exit cleanly. Cancellation and other
``BaseException`` that is not an ``Exception`` cannot be swallowed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import ContextError, SetupError
from ..log import get_logger

if TYPE_CHECKING:
    from collections.abc import AsyncGenerator, Iterable

    from ..typing import Middleware
    from .context import Context

__all__ = ["MiddlewareChain"]

_log = get_logger(__name__)


class MiddlewareChain:
    """Middleware folded once into a chain that contexts run around their body.

    Args:
        middleware: async-generator functions, outermost first.
    """

    __slots__ = ("middleware",)

    def __init__(self, middleware: Iterable[Middleware]) -> None:
        self.middleware: tuple[Middleware, ...] = tuple(middleware)

    def __bool__(self) -> bool:
        return bool(self.middleware)

    def __len__(self) -> int:
        return len(self.middleware)

    async def enter(
        self, ctx: Context, entered: list[AsyncGenerator[None, None]]
    ) -> None:
        """Set the chain up, outermost first, appending each started generator.

        Raises:
            glue.SetupError: a middleware returned without yielding; the body must
                not run. What ``entered`` holds must still be torn down.
        """
        for middleware in self.middleware:
            generator: AsyncGenerator[None, None] = middleware(ctx)  # type: ignore[assignment]  # middleware is an async generator function
            try:
                await generator.__anext__()
            except StopAsyncIteration:
                raise SetupError(
                    f"middleware {_qualname(middleware)} returned without yielding: "
                    "the body did not run"
                ) from None
            entered.append(generator)

    @staticmethod
    async def exit(
        entered: list[AsyncGenerator[None, None]],
        exc: BaseException | None,
        errors: list[BaseException],
    ) -> BaseException | None:
        """Tear the entered middleware down, innermost first.

        Args:
            entered: the generators :meth:`enter` started, outermost first.
            exc: the exception leaving the body, or None.
            errors: where a middleware that yielded twice is recorded.

        Returns:
            The exception leaving the outermost middleware, or None if the context
            exits cleanly (no error, or a middleware swallowed it).
        """
        while entered:
            generator = entered.pop()
            try:
                if exc is None:
                    await generator.__anext__()
                else:
                    await generator.athrow(exc)
            except StopAsyncIteration:
                if exc is not None and isinstance(exc, Exception):
                    exc = None  # swallowed: the context exits cleanly
                continue
            except BaseException as error:
                exc = error  # re-raised, or replaced by a new exception
                continue
            _log.error("teardown failed", middleware=_qualname(generator))
            errors.append(
                ContextError(
                    f"middleware {_qualname(generator)} yielded more than once: "
                    "middleware yields exactly once"
                )
            )
            try:
                await generator.aclose()
            except BaseException as closing:
                errors.append(closing)
        return exc


def _qualname(function: object) -> str:
    """A function's (or generator's) qualified name, for messages."""
    return getattr(function, "__qualname__", repr(function))
