"""ClaimingRelay: what every relay of an outbox database shares.

A relay takes the deliveries of one outbox database in rounds: it **claims**
some (one ``UPDATE`` leasing them for ``lease`` seconds: :func:`claim_sql`,
so any number of relays claim at once and never the same row), does what its
kind does with them (:class:`~glue.outbox.Relay` runs the subscribers,
:class:`~glue.outbox.nats.NatsRelay` publishes them), and settles them. With
nothing to claim it sleeps until woken (:meth:`ClaimingRelay.wake`: a commit of
this process, a notification of the database, heard by
:meth:`ClaimingRelay.listen`) or until the next delivery falls due, at most
``idle`` seconds: it never polls in a tight loop. A relay whose process dies
leaves its leases to run out; then another claims those rows again.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, ClassVar

import anyio

from ..errors import GlueError
from ..log import get_logger
from .envelope import Envelope
from .outbox import CHANNEL
from .rows import select_keys
from .tables import OUTBOX, claim_sql, next_due_sql

if TYPE_CHECKING:
    from anyio.abc import TaskStatus

    from ..connections.abc import ConnectionPool
    from ..domain.app import App

__all__ = ["ClaimingRelay", "Leased"]

_log = get_logger(__name__)

_RETRY_ERROR = 1.0  # seconds a relay waits after its database (or broker) failed

Leased = tuple[str, str, int, bool]
"""One claimed delivery: event id, subscriber, attempts so far, replay."""


class ClaimingRelay:
    """The claim, the wake-up and the loop of a relay of one outbox database.

    Subclasses set :attr:`per_aggregate` and write :meth:`round`.

    Args:
        app: the open App whose outbox it is.
        pool: the outbox database.
        batch: the most deliveries claimed in one round.
        lease: seconds a claim is held before another relay may take it.
        idle: the longest sleep with nothing to do, in seconds.
    """

    per_aggregate: ClassVar[bool]
    """Whether a claim takes only the earliest delivery left of each
    (subscriber, aggregate) (see :func:`claim_sql`)."""

    def __init__(
        self,
        app: App,
        pool: ConnectionPool,
        *,
        batch: int,
        lease: float = 30.0,
        idle: float = 5.0,
    ) -> None:
        self.app = app
        self.pool = pool
        self.batch = batch
        self.lease = lease
        self.idle = idle
        self._woken = anyio.Event()
        self._stopping = False

    def wake(self) -> None:
        """Look for deliveries now (events were written)."""
        self._woken.set()

    def stop(self) -> None:
        """Finish the round in progress, then return from :meth:`run`."""
        self._stopping = True
        self._woken.set()

    async def run(self) -> None:
        """Run rounds until :meth:`stop` (or cancellation); with nothing
        claimed, sleep until woken or the next delivery falls due."""
        while not self._stopping:
            try:
                if await self.round() == 0 and not self._stopping:
                    await self._sleep(await self._next_due())
            except GlueError as exc:
                # The database (or broker) is down or refuses: the leases run
                # out, and the deliveries are taken again once it answers.
                _log.warning(
                    "outbox relay round failed", database=self.pool.name, error=str(exc)
                )
                await self._sleep(_RETRY_ERROR)

    async def round(self) -> int:
        """Claim, handle and settle one batch; return how many were claimed."""
        raise NotImplementedError

    async def listen(
        self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        """Wake the relay on each commit of this process that wrote events, and
        on each notification of its database (``LISTEN``, on a connection of its
        own, taken again when lost; where the database has none, the ``idle``
        timer does). Reports readiness to ``tg.start`` once it listens (or
        could not); runs until cancelled."""
        outbox = self.app.outbox
        outbox.listen(self.wake)
        started = False
        try:
            while True:
                try:
                    async with (
                        self.pool.acquire() as conn,
                        conn.listen(CHANNEL, self.wake) as listening,
                    ):
                        if not started:
                            started = True
                            task_status.started()
                        self.wake()  # what was written before we listened
                        if not listening:
                            await anyio.sleep_forever()
                        while True:
                            await anyio.sleep(self.idle)
                            # A lost connection raises here: listen again.
                            await conn.fetch("SELECT 1")
                except GlueError as exc:
                    _log.warning(
                        "outbox relay cannot listen",
                        database=self.pool.name,
                        error=str(exc),
                    )
                    if not started:
                        started = True
                        task_status.started()
                    await anyio.sleep(_RETRY_ERROR)
        finally:
            outbox.unlisten(self.wake)

    async def lease_rows(self) -> tuple[list[Leased], dict[str, Envelope]]:
        """Lease the deliveries due now; return them (in the order claimed)
        and their events by id (a delivery whose event is gone has none).
        Shielded: a claim cut short by a stop would stay leased, unsettled,
        until its lease ran out."""
        now = time.time()
        with anyio.CancelScope(shield=True):
            async with self.pool.acquire(write=True) as conn:
                async with conn.transaction():
                    sql = claim_sql(conn.dialect, per_aggregate=self.per_aggregate)
                    params = (now + self.lease, now, now, self.batch)
                    result = await conn.fetch(sql, params)
                if not result.rows:
                    return [], {}
                leased = [(r[0], r[1], r[2], bool(r[3])) for r in result.rows]
                ids = [(event_id,) for event_id in {row[0] for row in leased}]
                rows = await select_keys(conn, OUTBOX, ids)
        return leased, {row["id"]: Envelope(**row) for row in rows}

    async def _next_due(self) -> float:
        """Seconds until the earliest delivery a claim could take falls due (at
        most ``idle``)."""
        async with self.pool.acquire() as conn:
            sql = next_due_sql(conn.dialect, per_aggregate=self.per_aggregate)
            result = await conn.fetch(sql)
        due = result.rows[0][0] if result.rows else None
        if due is None:
            return self.idle
        return max(0.0, min(self.idle, float(due) - time.time()))

    async def _sleep(self, seconds: float) -> None:
        if seconds > 0 and not self._woken.is_set():
            with anyio.move_on_after(seconds):
                await self._woken.wait()
        self._woken = anyio.Event()
