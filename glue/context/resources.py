"""Lazy resources: set up on first access, torn down in reverse order of creation.

A resource factory is an async generator that takes the context and yields one
value::

    async def transaction(ctx):
        tx = await begin()
        try:
            yield tx
        except BaseException:
            await tx.rollback()     # the body's exception is thrown in here
            raise
        else:
            await tx.commit()       # a clean exit resumes the generator

A factory that never yields fails with :class:`glue.SetupError` where the resource
was asked for. One that yields a second time, or raises a new exception while
tearing down, is a *teardown error*: collected, logged, and the other teardowns
still run. A resource cannot swallow the body's exception: that is middleware's job.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import anyio

from ..errors import ContextError, SetupError
from ..log import get_logger

if TYPE_CHECKING:
    from collections.abc import AsyncGenerator, Mapping

    from ..typing import ResourceFactory
    from .context import Context

__all__ = ["ResourceSet"]

_log = get_logger(__name__)


class ResourceSet:
    """The resources one context set up, and the factories it may set up.

    Args:
        factories: resource name → factory; the names this context may use.
        domain: the domain the factories were declared in, for error messages.
    """

    __slots__ = ("_generators", "_locks", "_values", "domain", "factories")

    def __init__(
        self, factories: Mapping[str, ResourceFactory[Any]], domain: str | None
    ) -> None:
        self.factories = factories
        self.domain = domain
        self._values: dict[str, Any] = {}
        self._locks: dict[str, anyio.Lock] = {}
        self._generators: list[tuple[str, AsyncGenerator[Any, None]]] = []

    def __contains__(self, name: object) -> bool:
        return name in self._values

    def get(self, name: str) -> Any:
        """The value of a resource that is set up. Raises KeyError otherwise."""
        return self._values[name]

    async def setup(self, name: str, ctx: Context) -> Any:
        """Set up ``name`` unless a racing task already did; return its value.

        Raises:
            glue.Forbidden: ``name`` is not among the factories (see Context).
            glue.SetupError: the factory returned without yielding.
        """
        factory = self.factories[name]
        lock = self._locks.get(name)
        if lock is None:
            lock = self._locks[name] = anyio.Lock()
        async with lock:
            if name in self._values:
                return self._values[name]
            generator: AsyncGenerator[Any, None] = factory(ctx)  # type: ignore[assignment]  # a factory is an async generator function
            try:
                value = await generator.__anext__()
            except StopAsyncIteration:
                raise SetupError(
                    f"resource {name!r} did not set up: its factory "
                    f"{_qualname(factory)} returned without yielding a value"
                ) from None
            except BaseException:
                with anyio.CancelScope(shield=True):
                    await generator.aclose()
                raise
            self._generators.append((name, generator))
            self._values[name] = value
            return value

    async def teardown(
        self, exc: BaseException | None, errors: list[BaseException]
    ) -> None:
        """Tear every resource down, newest first, appending failures to ``errors``.

        Args:
            exc: the exception leaving the context (thrown into each factory), or
                None for a clean exit (each factory resumes after its yield).
            errors: where teardown errors are collected.
        """
        while self._generators:
            name, generator = self._generators.pop()
            try:
                if exc is None:
                    await generator.__anext__()
                else:
                    await generator.athrow(exc)
            except StopAsyncIteration:
                continue
            except BaseException as error:
                if error is not exc:
                    errors.append(_teardown_error(name, error))
                continue
            errors.append(
                _teardown_error(
                    name,
                    ContextError(
                        f"resource {name!r} yielded more than once: a resource "
                        "factory yields exactly one value"
                    ),
                )
            )
            try:
                await generator.aclose()
            except BaseException as error:
                errors.append(_teardown_error(name, error))


def _teardown_error(name: str, error: BaseException) -> BaseException:
    """Note where ``error`` came from and log it; return it for collection."""
    error.add_note(f"raised while tearing down resource {name!r}")
    _log.error("teardown failed", resource=name, error=repr(error))
    return error


def _qualname(function: object) -> str:
    """A function's qualified name, for messages."""
    return getattr(function, "__qualname__", repr(function))
