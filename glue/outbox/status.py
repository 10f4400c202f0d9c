"""What the outbox holds: pending deliveries, leases, dead letters; replaying them.

``glue outbox status`` and ``glue dead-letters list/retry`` print what these
functions return. They read the outbox databases of an open App.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import anyio
import msgspec

from ..errors import ConfigurationError, GlueError
from .rows import select
from .tables import DEAD_LETTERS, DELIVERIES, INBOX, OUTBOX, run

if TYPE_CHECKING:
    from ..domain.app import App

__all__ = [
    "DeadLetter",
    "OutboxStatus",
    "SubscriberLag",
    "dead_letters",
    "drain",
    "prune",
    "retry_dead_letters",
    "status",
]


class SubscriberLag(msgspec.Struct, frozen=True, kw_only=True):
    """How far behind one subscriber is.

    Attributes:
        subscriber: its name.
        pending: deliveries not done yet (in flight included).
        oldest_age: seconds since its oldest pending event was written, or None.
    """

    subscriber: str
    pending: int
    oldest_age: float | None


class OutboxStatus(msgspec.Struct, frozen=True, kw_only=True):
    """The outbox of an App, over all its outbox databases.

    Attributes:
        pending: deliveries not done yet, in flight included.
        in_flight: those a worker holds a lease on now.
        dead_letters: deliveries parked after their last attempt.
        oldest_age: seconds since the oldest pending event was written, or None.
        subscribers: the lag of each subscriber, by name.
    """

    pending: int
    in_flight: int
    dead_letters: int
    oldest_age: float | None
    subscribers: tuple[SubscriberLag, ...]


class DeadLetter(msgspec.Struct, frozen=True, kw_only=True):
    """A delivery parked after its last attempt.

    Attributes:
        event_id: the event's id.
        subscriber: the subscriber's name.
        aggregate: the event's aggregate.
        seq: its number in the aggregate.
        attempts: how many times it ran.
        error: the last error.
        failed_at: when it was parked, in seconds since the epoch.
        database: the outbox database holding it.
    """

    event_id: str
    subscriber: str
    aggregate: str
    seq: int
    attempts: int
    error: str
    failed_at: float
    database: str


async def status(app: App) -> OutboxStatus:
    """Count what the App's outbox databases hold now."""
    now = time.time()
    pending = in_flight = parked = 0
    oldest: float | None = None
    lag: dict[str, list[float | int]] = {
        name: [0, now] for name in app.outbox.subscribers
    }
    for pool in app.outbox.writer_pools():
        async with pool.acquire() as conn:
            quote = conn.dialect.quote
            table = quote(DELIVERIES.name, "table")
            mark = conn.dialect.placeholder
            result = await conn.fetch(
                f"SELECT subscriber, COUNT(*), MIN(o.created_at), "  # noqa: S608
                f"SUM(CASE WHEN d.leased_until > {mark(1)} THEN 1 ELSE 0 END) "
                f"FROM {table} d JOIN {quote('glue_outbox', 'table')} o "
                "ON o.id = d.event_id GROUP BY subscriber",
                (now,),
            )
            for subscriber, count, first, leased in result.rows:
                pending += int(count)
                in_flight += int(leased or 0)
                entry = lag.setdefault(subscriber, [0, now])
                entry[0] = int(entry[0]) + int(count)
                entry[1] = min(float(entry[1]), float(first))
            letters = quote(DEAD_LETTERS.name, "table")
            counted = await conn.fetch(f"SELECT COUNT(*) FROM {letters}")  # noqa: S608
            parked += int(counted.rows[0][0])
    lags = []
    for name, (count, first) in sorted(lag.items()):
        age = None if not count else max(0.0, now - float(first))
        if age is not None:
            oldest = age if oldest is None else max(oldest, age)
        lags.append(SubscriberLag(subscriber=name, pending=int(count), oldest_age=age))
    return OutboxStatus(
        pending=pending,
        in_flight=in_flight,
        dead_letters=parked,
        oldest_age=oldest,
        subscribers=tuple(lags),
    )


async def dead_letters(app: App, *, subscriber: str | None = None) -> list[DeadLetter]:
    """The dead letters of the App's outbox databases, oldest first."""
    found: list[DeadLetter] = []
    filters = [] if subscriber is None else [("subscriber", "eq", subscriber)]
    for pool in app.outbox.writer_pools():
        async with pool.acquire() as conn:
            rows = await select(
                conn, DEAD_LETTERS, filters, order_by=[("failed_at", False)]
            )
        found += [DeadLetter(**row, database=pool.name) for row in rows]
    return sorted(found, key=lambda letter: letter.failed_at)


async def retry_dead_letters(
    app: App, *, event_id: str | None = None, subscriber: str | None = None
) -> int:
    """Deliver dead letters again: each goes back to the deliveries as a
    replay (applied unless that event was applied), with its attempts reset.

    Args:
        app: an open App.
        event_id: only this event's dead letters.
        subscriber: only this subscriber's.

    Returns:
        how many were put back.

    Raises:
        glue.ConfigurationError: ``subscriber`` is not one of the App's.
    """
    if subscriber is not None and subscriber not in app.outbox.subscribers:
        raise ConfigurationError(f"this App has no subscriber {subscriber!r}")
    filters = []
    if event_id is not None:
        filters.append(("event_id", "eq", event_id))
    if subscriber is not None:
        filters.append(("subscriber", "eq", subscriber))
    now = time.time()
    moved = 0
    for pool in app.outbox.writer_pools():
        async with pool.acquire(write=True) as conn, conn.transaction():
            dialect = conn.dialect
            rows = await select(conn, DEAD_LETTERS, filters)
            if not rows:
                continue
            back = [
                {
                    "event_id": row["event_id"],
                    "subscriber": row["subscriber"],
                    "aggregate": row["aggregate"],
                    "seq": row["seq"],
                    "attempts": 0,
                    "available_at": now,
                    "leased_until": 0.0,
                    "replay": True,
                    "error": None,
                }
                for row in rows
            ]
            await run(conn, dialect.insert(DELIVERIES, back))
            table = dialect.quote(DEAD_LETTERS.name, "table")
            where = dialect.number_placeholders(
                [" WHERE event_id = ", " AND subscriber = ", ""]
            )
            await conn.execute_many(
                f"DELETE FROM {table}{where}",  # noqa: S608
                [(row["event_id"], row["subscriber"]) for row in rows],
            )
            moved += len(rows)
    if moved:
        app.outbox.wake()
    return moved


async def prune(app: App, *, older_than: float) -> int:
    """Delete what no delivery needs any more: outbox rows older than
    ``older_than`` seconds with no delivery or dead letter left, and inbox rows
    as old (a dead letter of an event that old, retried, could then apply
    twice: keep ``older_than`` longer than any dead letter waits).

    Returns:
        how many rows were deleted.
    """
    before = time.time() - older_than
    deleted = 0
    for pool in app.outbox.writer_pools():
        async with pool.acquire(write=True) as conn, conn.transaction():
            quote = conn.dialect.quote
            outbox, deliveries, letters = (
                quote(t.name, "table") for t in (OUTBOX, DELIVERIES, DEAD_LETTERS)
            )
            mark = conn.dialect.placeholder(1)
            deleted += await conn.execute(
                f"DELETE FROM {outbox} WHERE created_at < {mark} "  # noqa: S608
                f"AND NOT EXISTS (SELECT 1 FROM {deliveries} d "
                f"WHERE d.event_id = {outbox}.id) "
                f"AND NOT EXISTS (SELECT 1 FROM {letters} x "
                f"WHERE x.event_id = {outbox}.id)",
                (before,),
            )
    homes = {id(p): p for p in map(app.outbox.home, _subscribing(app))}
    for pool in homes.values():
        async with pool.acquire(write=True) as conn, conn.transaction():
            table = conn.dialect.quote(INBOX.name, "table")
            mark = conn.dialect.placeholder(1)
            deleted += await conn.execute(
                f"DELETE FROM {table} WHERE applied_at < {mark}",  # noqa: S608
                (before,),
            )
    return deleted


def _subscribing(app: App) -> list[str]:
    """The domains that have subscribers."""
    return sorted({s.domain for s in app.outbox.subscribers.values()})


async def drain(app: App, *, timeout: float = 30.0, interval: float = 0.05) -> None:
    """Wait until no delivery is pending (dead letters aside): for tests,
    demos and scripts that must see every subscriber's work done.

    Raises:
        glue.GlueError: some were still pending after ``timeout`` seconds.
    """
    with anyio.move_on_after(timeout):
        while (await status(app)).pending:  # noqa: ASYNC110  # rows, not a flag
            await anyio.sleep(interval)
        return
    found = await status(app)
    raise GlueError(
        f"{found.pending} outbox deliveries still pending after {timeout} s "
        f"({found.in_flight} in flight): `glue outbox status` shows them"
    )
