"""What every benchmark here shares: interleaved rounds, medians, spreads, load.

A comparison runs its contenders round by round, the order rotated each round,
so that a burst of other work on the machine hits them alike. Each contender is
a `Sample`-returning coroutine function: it does its setup untimed and times its
own work with `timed` (or is wrapped by `per_call`, which times a call in a
loop). The garbage collector stays on, as in a service; ``gc_paused=True`` is
for figures printed beside those, never instead of them.

Reported per contender: the median of the rounds and their spread (min-max), and
against the reference (the raw driver doing the same work), the median of the
per-round ratios with their interquartile range (the middle half of the rounds:
robust to a burst of load that min-max would show). Many short rounds pair the
contenders more closely in time than a few long ones. A ratio is a time ratio
(``x ref``: 2.0x takes twice as long) for latencies, a speed ratio (``x ref
speed``: 0.8x does 80% of the work per second) for throughputs.

Run alone, this module prints the machine's description.
"""

from __future__ import annotations

import gc
import importlib.metadata
import os
import platform
import sqlite3
import statistics
import sys
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

import asyncpg

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Iterator, Sequence

__all__ = [
    "LOCAL",
    "Comparison",
    "Sample",
    "machine",
    "per_call",
    "postgres_database",
    "timed",
]

DRIVERS = ("asyncpg", "aiosqlite", "msgspec", "anyio")
LOCAL = "postgresql://postgres@127.0.0.1:5432/postgres"
"""The PostgreSQL server used when ``GLUE_BENCH_POSTGRES_DSN`` is not set."""


@dataclass(frozen=True)
class Sample:
    """One round of one contender: ``count`` operations in ``seconds``."""

    seconds: float
    count: int = 1

    @property
    def per_op(self) -> float:
        """Seconds per operation."""
        return self.seconds / self.count


class Stopwatch:
    """Seconds of the block `timed` wraps, when it has ended."""

    seconds: float = 0.0


@contextmanager
def timed(*, gc_paused: bool = False) -> Iterator[Stopwatch]:
    """Time a block; with ``gc_paused``, collect first and pause the collector."""
    watch = Stopwatch()
    if gc_paused:
        gc.collect()
        gc.disable()
    start = time.perf_counter()
    try:
        yield watch
    finally:
        watch.seconds = time.perf_counter() - start
        if gc_paused:
            gc.enable()


def per_call(
    call: Callable[[int], Awaitable[object]], seconds: float
) -> Callable[[], Awaitable[Sample]]:
    """A contender that calls ``call(i)`` for about ``seconds`` a round.

    ``i`` counts up across rounds, so a call can use a new key every time. The
    first round also warms up: a fifth of it runs untimed.
    """
    counter = 0
    warm = False

    async def sample() -> Sample:
        nonlocal counter, warm
        if not warm:
            warm = True
            deadline = time.perf_counter() + seconds / 5
            while time.perf_counter() < deadline:
                await call(counter)
                counter += 1
        count = 0
        start = time.perf_counter()
        while (elapsed := time.perf_counter() - start) < seconds:
            for _ in range(20):
                await call(counter)
                counter += 1
            count += 20
        return Sample(elapsed, count)

    return sample


@dataclass
class Comparison:
    """Contenders measured round by round against one reference.

    Args:
        title: what is measured, printed above the table.
        reference: the contender ratios are taken against (the raw driver).
        unit: ``"us"`` or ``"ms"`` (micro- or milliseconds per operation, a
            latency), or ``"ops"`` (operations per second, a throughput).
    """

    title: str
    reference: str
    unit: str = "us"
    contenders: dict[str, Callable[[], Awaitable[Sample]]] = field(default_factory=dict)
    samples: dict[str, list[Sample]] = field(default_factory=dict)

    def add(self, name: str, sample: Callable[[], Awaitable[Sample]]) -> None:
        """Add a contender (the reference too)."""
        self.contenders[name] = sample

    async def run(self, rounds: int) -> Comparison:
        """Run ``rounds`` rounds, every contender once a round, order rotated."""
        names = list(self.contenders)
        for r in range(rounds):
            shift = r % len(names)
            for name in names[shift:] + names[:shift]:
                sample = await self.contenders[name]()
                self.samples.setdefault(name, []).append(sample)
        return self

    def ratios(self, name: str) -> list[float]:
        """Per-round ratios of ``name`` to the reference (time or speed ratio)."""
        ours = self.samples[name]
        theirs = self.samples[self.reference]
        if self.unit != "ops":
            return [a.per_op / b.per_op for a, b in zip(ours, theirs, strict=True)]
        return [b.per_op / a.per_op for a, b in zip(ours, theirs, strict=True)]

    def rows(self) -> list[tuple[str, float, float, float, float, float, float]]:
        """Per contender: name, median, min, max, and the ratio's median and
        interquartile range (the middle half of the rounds)."""
        out = []
        for name, samples in self.samples.items():
            if self.unit == "ops":
                values = [1 / s.per_op for s in samples]
            else:
                scale = 1e6 if self.unit == "us" else 1e3
                values = [s.per_op * scale for s in samples]
            ratios = self.ratios(name)
            low, mid, high = (
                statistics.quantiles(ratios, n=4, method="inclusive")
                if len(ratios) > 1
                else ratios * 3
            )
            out.append(
                (
                    name,
                    statistics.median(values),
                    min(values),
                    max(values),
                    mid,
                    low,
                    high,
                )
            )
        return out

    def table(self) -> str:
        """The results as a Markdown table."""
        rounds = len(next(iter(self.samples.values())))
        what = {"us": "µs per op", "ms": "ms per op"}.get(self.unit, "ops per second")
        ratio = "x ref speed" if self.unit == "ops" else "x ref"
        lines = [
            f"\n{self.title} ({rounds} interleaved rounds, GC on unless said; "
            f"reference: {self.reference})\n",
            f"| contender | {what}, median | spread (min-max) | {ratio}, median "
            "| ratio IQR |",
            "| --- | ---: | ---: | ---: | ---: |",
        ]
        for name, median, low, high, r_median, r_low, r_high in self.rows():
            if self.unit == "ops":
                figures = f"{median:,.0f} | {low:,.0f}-{high:,.0f}"
            else:
                figures = f"{median:,.1f} | {low:,.1f}-{high:,.1f}"
            lines.append(
                f"| {name} | {figures} | {r_median:.2f}x | {r_low:.2f}-{r_high:.2f}x |"
            )
        return "\n".join(lines)

    def print(self) -> None:
        """Print the table, with the machine's load now."""
        print(self.table(), flush=True)
        print(f"load now: {_load()}", flush=True)


def _load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f} (1, 5, 15 min) on {os.cpu_count()} CPUs"


def machine(extra: Sequence[str] = ()) -> str:
    """The machine, Python, the drivers' versions and the load, for a report."""
    versions = []
    for name in DRIVERS:
        try:
            versions.append(f"{name} {importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            continue
    versions.append(f"SQLite {sqlite3.sqlite_version}")
    return "\n".join(
        [
            f"machine: {platform.machine()}, {os.cpu_count()} CPUs, "
            f"{platform.system()} {platform.release()}",
            f"Python {sys.version.split()[0]} ({platform.python_implementation()}); "
            + ", ".join([*versions, *extra]),
            f"load average: {_load()}",
            f"GC thresholds: {gc.get_threshold()}",
        ]
    )


async def postgres_database(
    server: str,
) -> tuple[str, Callable[[], Awaitable[None]]]:
    """Create a scratch database on ``server``; return its URL and its drop."""
    name = f"glue_bench_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(server)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        version = admin.get_server_version()
    finally:
        await admin.close()
    print(f"PostgreSQL {version.major}.{version.minor}", flush=True)

    async def drop() -> None:
        admin = await asyncpg.connect(server)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()

    return urlunsplit(urlsplit(server)._replace(path=f"/{name}")), drop


if __name__ == "__main__":
    print(machine())
