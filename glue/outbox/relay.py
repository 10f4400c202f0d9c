"""Relay: takes the deliveries of one outbox database and runs them.

One relay per outbox database, in each process that delivers (a ``glue
worker``, or the App itself when it delivers in-process). A round:

1. **claim** up to ``batch`` deliveries that are due, whose lease ran out, and
   that are the earliest left of their (subscriber, aggregate): one ``UPDATE``
   that leases them for ``lease`` seconds, choosing them with the dialect's
   ``skip_locked`` clause (``FOR UPDATE SKIP LOCKED`` on PostgreSQL), so any
   number of workers claim at once and never the same row;
2. **deliver** each through the inbox (:func:`glue.outbox.deliver`), at most
   ``concurrency`` at a time;
3. **settle** them in one transaction: applied or duplicate ones are deleted;
   deferred ones wait a moment; failed ones wait their backoff, or after their
   last attempt move to ``glue_dead_letters`` (and the subscriber's later
   events of that aggregate go on without it).

A delivery whose worker died keeps its lease until it runs out, then is claimed
again; the inbox makes the second run a duplicate if the first committed. With
nothing to claim, the relay sleeps until woken (a commit in this process, a
PostgreSQL notification) or until the next delivery falls due, at most
``idle`` seconds: it never polls in a tight loop.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import anyio
import msgspec

from ..errors import GlueError
from ..log import get_logger
from .envelope import Envelope
from .inbox import Delivered, Delivery, deliver, skip
from .rows import select
from .tables import DEAD_LETTERS, DELIVERIES, OUTBOX

if TYPE_CHECKING:
    from ..connections.abc import Connection, ConnectionPool
    from ..domain.app import App
    from .subscriber import Subscriber

__all__ = ["Claim", "Relay"]

_log = get_logger(__name__)

_DEFER = 0.05  # seconds a deferred delivery waits before it is offered again
_RETRY_ERROR = 1.0  # seconds a relay waits after its database failed


class Claim(msgspec.Struct, frozen=True, kw_only=True):
    """One delivery a relay leased: an envelope for a subscriber.

    Attributes:
        subscriber: the subscriber's name.
        envelope: the event.
        attempts: how many runs failed before this one.
        replay: whether it is a dead letter being retried.
    """

    subscriber: str
    envelope: Envelope
    attempts: int
    replay: bool


class Relay:
    """Delivers the deliveries held in one outbox database.

    Args:
        app: the open App whose subscribers run.
        pool: the outbox database.
        batch: the most deliveries claimed at once.
        concurrency: the most deliveries running at once.
        lease: seconds a claim is held before another worker may take it.
        idle: the longest sleep with nothing to do, in seconds.
    """

    def __init__(
        self,
        app: App,
        pool: ConnectionPool,
        *,
        batch: int = 100,
        concurrency: int = 8,
        lease: float = 30.0,
        idle: float = 5.0,
    ) -> None:
        self.app = app
        self.pool = pool
        self.batch = batch
        self.lease = lease
        self.idle = idle
        self._limiter = anyio.CapacityLimiter(concurrency)
        self._woken = anyio.Event()
        self._stopping = False
        self.delivered = 0
        """Deliveries applied or found duplicate so far (for statistics)."""

    def wake(self) -> None:
        """Look for deliveries now (events were written)."""
        self._woken.set()

    def stop(self) -> None:
        """Finish the round in progress, then return from :meth:`run`."""
        self._stopping = True
        self._woken.set()

    async def run(self) -> None:
        """Claim and deliver until :meth:`stop` (or cancellation)."""
        while not self._stopping:
            try:
                if await self.round() == 0 and not self._stopping:
                    await self._sleep(await self._next_due())
            except GlueError as exc:
                # The database is down or refuses: the leases run out, and
                # the deliveries are taken again once it answers.
                _log.warning(
                    "outbox relay round failed", database=self.pool.name, error=str(exc)
                )
                await self._sleep(_RETRY_ERROR)

    async def round(self) -> int:
        """Claim, deliver and settle one batch; return how many were claimed."""
        claims = await self.claim()
        if not claims:
            return 0
        results: list[Delivered] = [_UNFINISHED] * len(claims)

        async def run(index: int, claim: Claim) -> None:
            async with self._limiter:
                try:
                    results[index] = await deliver(
                        self.app, claim.subscriber, claim.envelope, replay=claim.replay
                    )
                except GlueError as exc:  # the inbox's database, not the subscriber
                    _log.warning(
                        "outbox delivery could not run",
                        subscriber=claim.subscriber,
                        event_id=claim.envelope.id,
                        error=str(exc),
                    )

        try:
            async with anyio.create_task_group() as tg:
                for index, claim in enumerate(claims):
                    tg.start_soon(run, index, claim)
        finally:
            with anyio.CancelScope(shield=True):
                await self.settle(claims, results)
        return len(claims)

    async def claim(self) -> list[Claim]:
        """Lease the deliveries due now (see the module)."""
        now = time.time()
        async with self.pool.acquire(write=True) as conn:
            async with conn.transaction():
                sql = _claim_sql(conn)
                result = await conn.fetch(sql, (now + self.lease, now, now, self.batch))
            leased = [(row[0], row[1], row[2], bool(row[3])) for row in result.rows]
            if not leased:
                return []
            ids = list({event_id for event_id, *_ in leased})
            rows = await select(conn, OUTBOX, [("id", "in", ids)])
        envelopes = {row["id"]: Envelope(**row) for row in rows}
        return [
            Claim(
                subscriber=subscriber,
                envelope=envelopes[event_id],
                attempts=attempts,
                replay=replay,
            )
            for event_id, subscriber, attempts, replay in leased
            if event_id in envelopes
        ]

    async def settle(self, claims: list[Claim], results: list[Delivered]) -> None:
        """Record what each delivery came to (see the module)."""
        now = time.time()
        done: list[tuple[Any, ...]] = []
        later: list[tuple[Any, ...]] = []
        dead: list[tuple[Claim, str]] = []
        outbox = self.app.outbox
        for claim, result in zip(claims, results, strict=True):
            key = (claim.envelope.id, claim.subscriber)
            status = result.status
            if status in (Delivery.APPLIED, Delivery.DUPLICATE):
                done.append(key)
            elif status is Delivery.DEFERRED:
                later.append((claim.attempts, now + _DEFER, None, *key))
            else:
                failures = claim.attempts + 1
                error = result.error or "failed"
                backoff = outbox.subscriber(claim.subscriber).backoff
                if failures >= backoff.attempts:
                    dead.append((claim, error))
                else:
                    due = now + backoff.delay(failures)
                    later.append((failures, due, error, *key))
        async with self.pool.acquire(write=True) as conn, conn.transaction():
            dialect = conn.dialect
            quote = dialect.quote
            table = quote(DELIVERIES.name, "table")
            where = dialect.number_placeholders(
                [" WHERE event_id = ", " AND subscriber = ", ""]
            )
            if done:
                delete = f"DELETE FROM {table}{where}"  # noqa: S608
                await conn.execute_many(delete, done)
            if later:
                update = f"UPDATE {table} SET " + dialect.number_placeholders(  # noqa: S608
                    [
                        "attempts = ",
                        ", available_at = ",
                        ", leased_until = 0, error = ",
                        " WHERE event_id = ",
                        " AND subscriber = ",
                        "",
                    ]
                )
                await conn.execute_many(update, later)
            if dead:
                letters = [
                    {
                        "event_id": claim.envelope.id,
                        "subscriber": claim.subscriber,
                        "aggregate": claim.envelope.aggregate,
                        "seq": claim.envelope.seq,
                        "attempts": claim.attempts + 1,
                        "error": error,
                        "failed_at": now,
                    }
                    for claim, error in dead
                ]
                columns = tuple(letters[0])
                again = {c: f"excluded.{c}" for c in ("attempts", "error", "failed_at")}
                park = dialect.upsert(
                    DEAD_LETTERS.name, columns, DEAD_LETTERS.primary_key, update=again
                )
                await conn.execute_many(park, [tuple(r.values()) for r in letters])
                delete = f"DELETE FROM {table}{where}"  # noqa: S608
                await conn.execute_many(
                    delete, [(c.envelope.id, c.subscriber) for c, _ in dead]
                )
        self.delivered += len(done)
        for claim, error in dead:
            _log.warning(
                "delivery parked as a dead letter",
                subscriber=claim.subscriber,
                event_name=claim.envelope.event,
                event_id=claim.envelope.id,
                error=error,
            )
            if not claim.replay:
                found: Subscriber = outbox.subscriber(claim.subscriber)
                await skip(self.app, found, claim.envelope)

    async def _next_due(self) -> float:
        """Seconds until the earliest delivery that could be claimed falls due
        (at most ``idle``): the heads of their (subscriber, aggregate) only,
        since the rows behind a head wait for it, however old they are."""
        async with self.pool.acquire() as conn:
            table = conn.dialect.quote(DELIVERIES.name, "table")
            result = await conn.fetch(
                "SELECT MIN(CASE WHEN d.leased_until > d.available_at "  # noqa: S608
                f"THEN d.leased_until ELSE d.available_at END) FROM {table} d "
                f"WHERE {_HEAD.format(table=table)}"
            )
        due = result.rows[0][0] if result.rows else None
        if due is None:
            return self.idle
        return max(0.0, min(self.idle, float(due) - time.time()))

    async def _sleep(self, seconds: float) -> None:
        if seconds > 0 and not self._woken.is_set():
            with anyio.move_on_after(seconds):
                await self._woken.wait()
        self._woken = anyio.Event()


# The earliest delivery left of its subscriber and aggregate (`d`).
_HEAD = (
    "NOT EXISTS (SELECT 1 FROM {table} p WHERE p.subscriber = d.subscriber "
    "AND p.aggregate = d.aggregate AND p.seq < d.seq)"
)

# A delivery cut short (the relay was cancelled) is offered again, not counted.
_UNFINISHED = Delivered(Delivery.DEFERRED)


def _claim_sql(conn: Connection) -> str:
    """The claim (see the module): placeholders for the new lease, now (twice)
    and the batch size."""
    dialect = conn.dialect
    table = dialect.quote(DELIVERIES.name, "table")
    mark = dialect.placeholder
    return (
        f"UPDATE {table} SET leased_until = {mark(1)} "  # noqa: S608
        "WHERE (event_id, subscriber) IN ("
        f"SELECT d.event_id, d.subscriber FROM {table} d "
        f"WHERE d.available_at <= {mark(2)} AND d.leased_until <= {mark(3)} "
        f"AND {_HEAD.format(table=table)} "
        f"ORDER BY d.available_at LIMIT {mark(4)}{dialect.skip_locked}) "
        "RETURNING event_id, subscriber, attempts, replay"
    )
