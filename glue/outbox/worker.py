"""Worker: delivers an App's outbox from a process of its own (``glue worker``).

A worker runs one :class:`~glue.outbox.Relay` per outbox database of its App.
Any number of workers, on any number of machines, share one PostgreSQL
outbox: each claims with ``FOR UPDATE SKIP LOCKED``, so none takes a delivery
another holds. A worker sleeps until PostgreSQL notifies it (``LISTEN
glue_outbox``, on a connection it keeps; the writers' transactions notify at
commit), or until the next retry falls due, at most ``idle`` seconds.

Stopping (:meth:`Worker.stop`, SIGTERM or SIGINT under ``glue worker``): no
new claims; the deliveries in flight finish and are settled; after ``grace``
seconds those still running are cancelled (their units roll back) and handed
back at once. A worker killed outright (SIGKILL, a lost machine) leaves its
leases to run out (``lease`` seconds), then other workers deliver them again:
the inbox makes that a duplicate wherever the first delivery had committed.
"""

from __future__ import annotations

import signal
from typing import TYPE_CHECKING

import anyio

from ..log import get_logger
from .relay import Relay

if TYPE_CHECKING:
    from anyio.abc import TaskStatus

    from ..domain.app import App

__all__ = ["Worker", "run_worker"]

_log = get_logger(__name__)


class Worker:
    """Delivers the outbox of an open App until stopped.

    Args:
        app: the App, open; its subscribers run here.
        batch: the most deliveries one relay claims at once.
        concurrency: the most transactions one relay delivers in at once.
        lease: seconds a claim is held before another worker may take it;
            longer than any subscriber takes.
        idle: the longest sleep with nothing to do, in seconds.
        grace: seconds a stop waits for deliveries in flight.
    """

    def __init__(
        self,
        app: App,
        *,
        batch: int = 100,
        concurrency: int = 8,
        lease: float = 30.0,
        idle: float = 5.0,
        grace: float = 10.0,
    ) -> None:
        self.app = app
        self.grace = grace
        self.idle = idle
        self.relays = [
            Relay(
                app,
                pool,
                batch=batch,
                concurrency=concurrency,
                lease=lease,
                idle=idle,
            )
            for pool in app.outbox.writer_pools()
        ]
        self._stopped = anyio.Event()

    @property
    def delivered(self) -> int:
        """Deliveries done (applied or found duplicate) so far."""
        return sum(relay.delivered for relay in self.relays)

    def stop(self) -> None:
        """Stop gracefully (see the module); :meth:`run` then returns."""
        for relay in self.relays:
            relay.stop()
        self._stopped.set()

    async def run(
        self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        """Deliver until :meth:`stop`; report readiness to ``tg.start``."""
        async with anyio.create_task_group() as listeners:
            for relay in self.relays:
                await listeners.start(relay.listen)
            task_status.started()
            async with anyio.create_task_group() as runners:
                for relay in self.relays:
                    runners.start_soon(relay.run)
                await self._stopped.wait()
                # Past the grace period, cut the deliveries short: settled as
                # deferred, so others may take them at once.
                runners.cancel_scope.deadline = anyio.current_time() + self.grace
            listeners.cancel_scope.cancel()


async def run_worker(
    app: App,
    *,
    batch: int = 100,
    concurrency: int = 8,
    lease: float = 30.0,
    idle: float = 5.0,
    grace: float = 10.0,
) -> int:
    """Open ``app``, deliver its outbox until SIGTERM or SIGINT, then stop
    gracefully (``glue worker``).

    Args:
        app: the App, not open yet; it opens here with ``delivery="workers"``.
        batch: as for :class:`Worker`, like the options below.
        concurrency: the most deliveries one relay runs at once.
        lease: seconds a claim is held.
        idle: the longest sleep with nothing to do.
        grace: seconds a stop waits for deliveries in flight.

    Returns:
        the deliveries done.
    """
    app.delivery = "workers"
    async with app:
        worker = Worker(
            app,
            batch=batch,
            concurrency=concurrency,
            lease=lease,
            idle=idle,
            grace=grace,
        )
        async with anyio.create_task_group() as tg:
            await tg.start(worker.run)
            with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
                async for signum in signals:
                    _log.info("outbox worker stopping", signal=signum)
                    worker.stop()
                    break
        return worker.delivered
