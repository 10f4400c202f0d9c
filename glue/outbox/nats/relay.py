"""NatsRelay: publishes the committed outbox to JetStream.

One relay per outbox database, in any number of processes. A round:

1. **claim** up to ``batch`` pending deliveries, leasing them for ``lease``
   seconds (chosen with the dialect's ``skip_locked``: relays never claim the
   same row), and read their events;
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

import time
from typing import TYPE_CHECKING

import anyio

from ...errors import GlueError
from ...log import get_logger
from ..envelope import Envelope
from ..inbox import Delivery, deliver
from ..outbox import CHANNEL
from ..rows import select
from ..tables import DELIVERIES, OUTBOX

if TYPE_CHECKING:
    from ...connections.abc import Connection, ConnectionPool
    from ...domain.app import App
    from .stream import JetStream

__all__ = ["NatsRelay"]

_log = get_logger(__name__)

_RETRY_ERROR = 1.0  # seconds a relay waits after its database or broker failed


class NatsRelay:
    """Publishes the deliveries held in one outbox database to JetStream.

    Args:
        app: the open App whose outbox it is.
        pool: the outbox database.
        stream: the open JetStream connection to publish on.
        batch: the most deliveries claimed in one round.
        lease: seconds a claim is held before another relay may take it.
        idle: the longest sleep with nothing to publish, in seconds (a commit
            notified by the database, or made in this process, wakes it).
    """

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
        self.app = app
        self.pool = pool
        self.stream = stream
        self.batch = batch
        self.lease = lease
        self.idle = idle
        self._woken = anyio.Event()
        self._stopping = False
        self.published = 0
        """Events published (and stored by the server) so far."""

    def wake(self) -> None:
        """Look for deliveries now (events were written)."""
        self._woken.set()

    def stop(self) -> None:
        """Finish the round in progress, then return from :meth:`run`."""
        self._stopping = True
        self._woken.set()

    async def run(self) -> None:
        """Claim and publish until :meth:`stop` (or cancellation), woken by
        commits of this process and by the database's notifications."""
        outbox = self.app.outbox
        outbox.listen(self.wake)
        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(self._listen)
                while not self._stopping:
                    try:
                        done = await self.round()
                    except GlueError as exc:
                        _log.warning(
                            "nats relay round failed",
                            database=self.pool.name,
                            error=str(exc),
                        )
                        await anyio.sleep(_RETRY_ERROR)
                        continue
                    if done == 0:
                        await self._sleep(self.idle)
                tg.cancel_scope.cancel()
        finally:
            outbox.unlisten(self.wake)

    async def _listen(self) -> None:
        """Wake on each notification of the outbox database (``LISTEN``, on a
        connection of its own, taken again when lost; where the database has
        none, the ``idle`` timer does)."""
        while True:
            try:
                async with (
                    self.pool.acquire() as conn,
                    conn.listen(CHANNEL, self.wake) as listening,
                ):
                    if not listening:
                        return
                    while True:
                        await anyio.sleep(5.0)
                        await conn.fetch("SELECT 1")  # a lost connection raises
            except GlueError as exc:
                _log.debug("nats relay cannot listen", error=str(exc))
                await anyio.sleep(_RETRY_ERROR)

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
        now = time.time()
        async with self.pool.acquire(write=True) as conn:
            async with conn.transaction():
                result = await conn.fetch(
                    _claim_sql(conn), (now + self.lease, now, now, self.batch)
                )
            if not result.rows:
                return [], []
            ids = list({row[0] for row in result.rows})
            rows = await select(conn, OUTBOX, [("id", "in", ids)])
        envelopes = {row["id"]: Envelope(**row) for row in rows}
        published = {row[0] for row in result.rows if not row[2]} & envelopes.keys()
        ordered = sorted(
            (envelopes[event_id] for event_id in published),
            key=lambda e: (e.created_at, e.seq),
        )
        replays = [
            (row[1], envelopes[row[0]])
            for row in result.rows
            if row[2] and row[0] in envelopes
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

    async def _sleep(self, seconds: float) -> None:
        if not self._woken.is_set():
            with anyio.move_on_after(seconds):
                await self._woken.wait()
        self._woken = anyio.Event()


def _claim_sql(conn: Connection) -> str:
    """The claim: placeholders for the new lease, now (twice) and the batch
    size. Unlike the in-database relay it takes every due row, not only the
    earliest of each aggregate: the inbox puts them in order again."""
    dialect = conn.dialect
    table = dialect.quote(DELIVERIES.name, "table")
    mark = dialect.placeholder
    return (
        f"UPDATE {table} SET leased_until = {mark(1)} "  # noqa: S608
        "WHERE (event_id, subscriber) IN ("
        f"SELECT event_id, subscriber FROM {table} "
        f"WHERE available_at <= {mark(2)} AND leased_until <= {mark(3)} "
        f"ORDER BY available_at LIMIT {mark(4)}{dialect.skip_locked}) "
        "RETURNING event_id, subscriber, replay"
    )
