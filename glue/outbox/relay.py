"""Relay: takes the deliveries of one outbox database and runs them.

One relay per outbox database, in each process that delivers (a ``glue
worker``, or the App itself when it delivers in-process). A round:

1. **claim** up to ``batch`` deliveries that are due, whose lease ran out, and
   that are the earliest left of their (subscriber, aggregate)
   (:class:`~glue.outbox.claiming.ClaimingRelay`: one ``UPDATE`` with the
   dialect's ``skip_locked`` clause, ``FOR UPDATE SKIP LOCKED`` on
   PostgreSQL, so any number of workers claim at once and never the same row);
2. **deliver** them through the inbox, each subscriber's in a few batches of
   one transaction each (:func:`glue.outbox.deliver_many`: a claim holds one
   event per aggregate, so a batch never breaks an aggregate's order), at most
   ``concurrency`` batches at a time; a replayed dead letter goes alone
   (:func:`glue.outbox.deliver`);
3. **settle** them in one transaction: applied or duplicate ones are deleted;
   deferred ones wait a moment (a second, with the error kept, when a database
   the delivery needs failed: that is not an attempt); failed ones wait their
   backoff, or after their last attempt move to ``glue_dead_letters`` (and the
   subscriber's later events of that aggregate go on without it).

A delivery whose worker died keeps its lease until it runs out, then is claimed
again; the inbox makes the second run a duplicate if the first committed.
"""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING, Any

import anyio
import msgspec

from ..errors import GlueError
from ..log import get_logger
from .claiming import _RETRY_ERROR, ClaimingRelay
from .envelope import Envelope
from .inbox import Delivered, Delivery, deliver, deliver_many, skip
from .tables import DEAD_LETTERS, DELIVERIES

if TYPE_CHECKING:
    from collections.abc import Iterator

    from ..connections.abc import ConnectionPool
    from ..domain.app import App
    from .subscriber import Subscriber

__all__ = ["Claim", "Relay"]

_log = get_logger(__name__)

_DEFER = 0.05  # seconds a deferred delivery waits before it is offered again


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


class Relay(ClaimingRelay):
    """Delivers the deliveries held in one outbox database.

    Args:
        app: the open App whose subscribers run.
        pool: the outbox database.
        batch: the most deliveries claimed at once.
        concurrency: the most transactions delivering at once.
        lease: seconds a claim is held before another worker may take it.
        idle: the longest sleep with nothing to do, in seconds.
    """

    per_aggregate = True

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
        super().__init__(app, pool, batch=batch, lease=lease, idle=idle)
        self.concurrency = concurrency
        self._limiter = anyio.CapacityLimiter(concurrency)
        self.delivered = 0
        """Deliveries applied or found duplicate so far (for statistics)."""

    async def round(self) -> int:
        """Claim, deliver and settle one batch; return how many were claimed."""
        claims = await self.claim()
        if not claims:
            return 0
        results: list[Delivered] = [_UNFINISHED] * len(claims)

        async def run(indexes: list[int]) -> None:
            async with self._limiter:
                first = claims[indexes[0]]
                app, subscriber = self.app, first.subscriber
                try:
                    if len(indexes) > 1:
                        envelopes = [claims[i].envelope for i in indexes]
                        found = await deliver_many(app, subscriber, envelopes)
                        for index, result in zip(indexes, found, strict=True):
                            results[index] = result
                        return
                    results[indexes[0]] = await deliver(
                        app, subscriber, first.envelope, replay=first.replay
                    )
                except GlueError as exc:  # a database, not the subscriber
                    _log.warning(
                        "outbox delivery could not run",
                        subscriber=first.subscriber,
                        event_id=first.envelope.id,
                        error=str(exc),
                    )
                    unreachable = Delivered(Delivery.DEFERRED, str(exc))
                    for index in indexes:
                        results[index] = unreachable

        try:
            async with anyio.create_task_group() as tg:
                for indexes in self._batches(claims):
                    tg.start_soon(run, indexes)
        finally:
            with anyio.CancelScope(shield=True):
                await self.settle(claims, results)
        return len(claims)

    def _batches(self, claims: list[Claim]) -> Iterator[list[int]]:
        """The claims' indexes in batches of one transaction: each subscriber's
        in at most ``concurrency`` batches; each replay alone."""
        groups: dict[str, list[int]] = {}
        for index, claim in enumerate(claims):
            if claim.replay:
                yield [index]
            else:
                groups.setdefault(claim.subscriber, []).append(index)
        for indexes in groups.values():
            size = math.ceil(len(indexes) / self.concurrency)
            for start in range(0, len(indexes), size):
                yield indexes[start : start + size]

    async def claim(self) -> list[Claim]:
        """Lease the deliveries due now (see the module)."""
        leased, envelopes = await self.lease_rows()
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
                # A deferral with an error: a database failed, not the subscriber.
                delay = _DEFER if result.error is None else _RETRY_ERROR
                later.append((claim.attempts, now + delay, result.error, *key))
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


# A delivery cut short (the relay was cancelled) is offered again, not counted.
_UNFINISHED = Delivered(Delivery.DEFERRED)
