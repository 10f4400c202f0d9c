"""Retrying a unit of work that lost a race: `RetryPolicy` and `run_with_retry`.

Optimistic concurrency means a unit of work can find, at commit, that a row it
read has changed since (`glue.ConcurrencyConflict`); nothing of it was written.
The cure is to run the whole dispatch again in a fresh unit of work, which reads
the new state. The bus does this for every command; anything else can too::

    async def increment() -> None:
        async with UnitOfWork(manager) as unit:
            row = await unit.state.require(counters, "visits")
            await unit.state.update(counters, "visits", {"value": row["value"] + 1})

    await run_with_retry(RetryPolicy(attempts=5), increment)

Only `glue.ConcurrencyConflict` is retried (`glue.LockConflict`, a lock not granted
in time or a deadlock broken, is one; `glue.StaleEtag`, a caller's etag that no
rerun makes current, is not); every other error propagates at once.
Between attempts the policy sleeps with "full jitter" exponential backoff: a
random time between 0 and ``min(max_delay, base_delay * 2 ** (attempt - 1))``,
which spreads competing writers out instead of letting them collide again.
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING, TypeVar

import anyio
import msgspec

from ..errors import ConcurrencyConflict, ConfigurationError, StaleEtag
from ..log import get_logger

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

__all__ = ["RetryPolicy", "run_with_retry"]

_T = TypeVar("_T")
_log = get_logger(__name__)


class RetryPolicy(msgspec.Struct, frozen=True, kw_only=True):
    """How often, and how patiently, to retry after a `glue.ConcurrencyConflict`.

    Attributes:
        attempts: the most times to run, the first included (1: never retry).
        base_delay: the backoff cap of the first retry, in seconds.
        max_delay: the most any backoff may be, in seconds.
        jitter: draw each delay at random between 0 and its cap ("full
            jitter"); when False, sleep the cap itself.
    """

    attempts: int = 3
    base_delay: float = 0.01
    max_delay: float = 0.5
    jitter: bool = True

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ConfigurationError(
                f"RetryPolicy.attempts must be at least 1 (got {self.attempts})"
            )
        if self.base_delay < 0 or self.max_delay < 0:
            raise ConfigurationError(
                "RetryPolicy delays cannot be negative "
                f"(base_delay={self.base_delay}, max_delay={self.max_delay})"
            )

    def delay(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based)."""
        cap = min(self.max_delay, self.base_delay * 2 ** (attempt - 1))
        return random.uniform(0, cap) if self.jitter else cap


async def run_with_retry(policy: RetryPolicy, fn: Callable[[], Awaitable[_T]]) -> _T:
    """Call ``fn`` until it does not raise `glue.ConcurrencyConflict`.

    ``fn`` must do all its work in a fresh unit of work each time it is called.

    Returns:
        what ``fn`` returned.

    Raises:
        glue.ConcurrencyConflict: the last attempt conflicted too.
    """
    attempt = 1
    while True:
        try:
            return await fn()
        except StaleEtag:
            raise  # the caller's etag stays stale however often we run
        except ConcurrencyConflict as exc:
            if attempt >= policy.attempts:
                raise
            delay = policy.delay(attempt)
            _log.debug(
                "retrying after a concurrency conflict",
                attempt=attempt,
                table=exc.table,
                delay=round(delay, 4),
            )
        attempt += 1
        await anyio.sleep(delay)
