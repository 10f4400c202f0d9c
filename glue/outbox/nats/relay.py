"""NatsRelay: publishes the committed outbox to JetStream.

One relay per outbox database, in any number of processes. A round:

1. **claim** up to ``batch`` pending deliveries, leasing them for ``lease``
   seconds (:class:`~glue.outbox.claiming.ClaimingRelay`, chosen with the
   dialect's ``skip_locked``: relays never claim the same row), and read their
   events: every due row, not only the earliest of each aggregate, since the
   inbox puts them in order again at the other end;
2. **publish** each event once, on ``glue.{domain}.{event}`` with its id as
   the message id, all at once, and wait for the server to store every one;
3. **settle**: delete the events' deliveries (the stream holds them now, and
   each subscriber's durable consumer takes them from there).

A relay that dies between 2 and 3 leaves its rows leased; once the lease runs
out another relay publishes them again, and JetStream drops the copies (within
its duplicate window; later, the inbox does). A dead letter being retried
(``glue dead-letters retry``) is for one subscriber, and is delivered right here
through the inbox instead of being published.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...log import get_logger
from ..claiming import ClaimingRelay
from ..inbox import Delivery, deliver
from ..tables import DELIVERIES

if TYPE_CHECKING:
    from ...connections.abc import ConnectionPool
    from ...domain.app import App
    from ..envelope import Envelope
    from .stream import JetStream

__all__ = ["NatsRelay"]

_log = get_logger(__name__)


class NatsRelay(ClaimingRelay):
    """Publishes the deliveries held in one outbox database to JetStream.

    Args:
        app: the open App whose outbox it is.
        pool: the outbox database.
        stream: the open JetStream connection to publish on.
        batch: the most deliveries claimed in one round.
        lease: seconds a claim is held before another relay may take it.
        idle: the longest sleep with nothing to publish, in seconds (a commit
            notified by the database, or made in this process, wakes it:
            :meth:`listen`).
    """

    per_aggregate = False  # the inbox puts them in order again at the other end

    def __init__(
        self,
        app: App,
        pool: ConnectionPool,
        stream: JetStream,
        *,
        batch: int = 2000,
        lease: float = 30.0,
        idle: float = 5.0,
    ) -> None:
        super().__init__(app, pool, batch=batch, lease=lease, idle=idle)
        self.stream = stream
        self.published = 0
        """Events published (and stored by the server) so far."""

    async def round(self) -> int:
        """Claim, publish and settle one batch; return how many were claimed."""
        claimed, replays = await self.claim()
        if claimed:
            await self.stream.publish(claimed)
            await self.settle(claimed)
            self.published += len(claimed)
        for subscriber, envelope in replays:
            await self.replay(subscriber, envelope)
        return len(claimed) + len(replays)

    async def claim(self) -> tuple[list[Envelope], list[tuple[str, Envelope]]]:
        """Lease pending deliveries; return their events (each once, in commit
        order per aggregate) and the replays among them."""
        leased, envelopes = await self.lease_rows()
        published = {row[0] for row in leased if not row[3]} & envelopes.keys()
        ordered = sorted(
            (envelopes[event_id] for event_id in published),
            key=lambda e: (e.created_at, e.seq),
        )
        replays = [
            (subscriber, envelopes[event_id])
            for event_id, subscriber, _, replay in leased
            if replay and event_id in envelopes
        ]
        return ordered, replays

    async def settle(self, published: list[Envelope]) -> None:
        """Delete the deliveries of events the stream now holds."""
        async with self.pool.acquire(write=True) as conn, conn.transaction():
            dialect = conn.dialect
            table = dialect.quote(DELIVERIES.name, "table")
            where = dialect.number_placeholders([" WHERE event_id = ", ""])
            await conn.execute_many(
                f"DELETE FROM {table}{where} AND replay = false",  # noqa: S608
                [(envelope.id,) for envelope in published],
            )

    async def replay(self, subscriber: str, envelope: Envelope) -> None:
        """Deliver a retried dead letter to its subscriber; done, delete it (else
        its lease runs out and it is tried again)."""
        result = await deliver(self.app, subscriber, envelope, replay=True)
        if result.status not in (Delivery.APPLIED, Delivery.DUPLICATE):
            _log.warning(
                "dead letter replay failed",
                subscriber=subscriber,
                event_id=envelope.id,
                error=result.error,
            )
            return
        async with self.pool.acquire(write=True) as conn, conn.transaction():
            dialect = conn.dialect
            table = dialect.quote(DELIVERIES.name, "table")
            where = dialect.number_placeholders(
                [" WHERE event_id = ", " AND subscriber = ", ""]
            )
            await conn.execute(
                f"DELETE FROM {table}{where}",  # noqa: S608
                (envelope.id, subscriber),
            )
