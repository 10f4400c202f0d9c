"""`new_id()`: time-ordered UUIDs (version 7, RFC 9562), made without a round trip.

A handler that needs a new row's key before the flush takes one here::

    order_id = new_id()            # UUID('0192f3a4-5b6c-7d8e-...')
    await ctx.state.insert(orders, {"id": order_id, ...})

Layout (RFC 9562, section 5.7, with the counter of section 6.2, method 1)::

    48 bits  Unix time in milliseconds
     4 bits  version 7
    12 bits  counter, high part
     2 bits  variant 0b10
    30 bits  counter, low part
    32 bits  random

The 42-bit counter starts at a random value below 2**41 each new millisecond
and goes up by one for each id within it, so ids made by one process are
strictly increasing, also when the clock steps back (the last millisecond is
kept until the clock passes it) or the counter fills up (the next millisecond is
borrowed). The 32 random bits, drawn afresh for every id, keep ids of several
processes apart. Python 3.14 has ``uuid.uuid7()``; 3.11 does not.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["UUID7Generator", "new_id"]

_COUNTER_BITS: Final = 42
_COUNTER_LIMIT: Final = 1 << _COUNTER_BITS
_SEED_BITS: Final = _COUNTER_BITS - 1  # the top counter bit stays 0 at each seed
_LOW_BITS: Final = 30
_VERSION: Final = 0x7 << 76
_VARIANT: Final = 0b10 << 62
_RANDOM_BLOCK: Final = 4096  # bytes of os.urandom drawn per system call


class UUID7Generator:
    """Makes version 7 UUIDs, strictly increasing in the order they are made.

    Safe to share between threads. `new_id` uses one per process; build your
    own to give it another clock (tests).

    Args:
        clock: nanoseconds since the Unix epoch; ``time.time_ns`` by default.
    """

    def __init__(self, clock: Callable[[], int] = time.time_ns) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._millisecond = -1
        self._counter = 0
        self._random: list[int] = []

    def __call__(self) -> uuid.UUID:
        """A new UUID, greater than every one this generator made before."""
        with self._lock:
            now = self._clock() // 1_000_000
            if now > self._millisecond:
                self._millisecond = now
                self._counter = self._seed()
            else:  # the same millisecond, or the clock stepped back
                self._counter += 1
                if self._counter == _COUNTER_LIMIT:
                    self._millisecond += 1
                    self._counter = self._seed()
            millisecond, counter = self._millisecond, self._counter
            tail = self._word()
        value = (
            (millisecond & 0xFFFF_FFFF_FFFF) << 80
            | _VERSION
            | (counter >> _LOW_BITS) << 64
            | _VARIANT
            | (counter & ((1 << _LOW_BITS) - 1)) << 32
            | tail
        )
        return uuid.UUID(int=value)

    def _forked(self) -> None:
        """In a forked child: share no random bits and no counter with the
        parent, and no lock another thread of the parent may have held."""
        self._lock = threading.Lock()
        self._millisecond = -1
        self._random = []

    def _word(self) -> int:
        """32 random bits."""
        try:
            return self._random.pop()
        except IndexError:
            # One system call per block, cut into words in C (an unsigned int is
            # 32 bits wherever CPython runs): per id, a pop.
            self._random = memoryview(os.urandom(_RANDOM_BLOCK)).cast("I").tolist()
            return self._random.pop()

    def _seed(self) -> int:
        """A counter's first value: random, below 2**41."""
        return (self._word() << 32 | self._word()) >> (64 - _SEED_BITS)


_GENERATOR: Final = UUID7Generator()
os.register_at_fork(after_in_child=_GENERATOR._forked)


def new_id() -> uuid.UUID:
    """A new time-ordered UUID (version 7): unique, sortable by creation time,
    and strictly increasing within this process.

    Store it in a `glue.ColumnType.UUID` column; its text form sorts the same
    way.
    """
    return _GENERATOR()
