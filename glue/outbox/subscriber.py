"""Subscriber: a handler of an event that runs after the writer committed.

Registered with :meth:`glue.Domain.subscriber`; the App builds one per handler
and event type. A subscriber runs in a unit of work of its own domain (its
tables, resources and middleware), once per event in effect (the inbox), in
order per aggregate, retried with backoff and parked as a dead letter after
``attempts`` failures.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import msgspec

if TYPE_CHECKING:
    from collections.abc import Callable

    from ..entities.base import Event

__all__ = ["Backoff", "Subscriber"]


class Backoff(msgspec.Struct, frozen=True, kw_only=True):
    """How a failing subscriber is retried.

    Attributes:
        attempts: the most times a delivery runs before it becomes a dead letter.
        base_delay: seconds before the first retry; each later one waits twice
            as long as the one before.
        max_delay: the longest wait between two attempts, in seconds.
    """

    attempts: int = 5
    base_delay: float = 0.5
    max_delay: float = 60.0

    def delay(self, failures: int) -> float:
        """Seconds to wait after the ``failures``-th failure (from 1)."""
        return min(self.max_delay, self.base_delay * 2.0 ** (failures - 1))


class Subscriber:
    """One subscriber of one event type, as registered.

    Attributes:
        name: ``"domain.function"`` (or the ``name=`` given): the key of its
            deliveries, inbox and dead letters, stable across processes.
        domain: the name of the domain it runs in.
        events: the event classes it handles (their events share its inbox,
            so their order per aggregate holds across them).
        handler: ``async def handler(event, ctx)``, returning None or yielding
            mutations and events of its domain.
        generator: whether the handler is an async generator.
        backoff: how failures are retried.
    """

    __slots__ = ("backoff", "domain", "events", "generator", "handler", "name")

    def __init__(
        self,
        name: str,
        domain: str,
        events: tuple[type[Event], ...],
        handler: Callable[..., Any],
        generator: bool,
        backoff: Backoff,
    ) -> None:
        self.name = name
        self.domain = domain
        self.events = events
        self.handler = handler
        self.generator = generator
        self.backoff = backoff

    def __repr__(self) -> str:
        names = ", ".join(event.__qualname__ for event in self.events)
        return f"<Subscriber {self.name} of {names}>"
