"""NatsWorker: an App's relays and consumers on NATS JetStream (``glue worker
APP --transport nats``).

A worker relays each outbox database of its App to JetStream (any number of
workers may: they claim with ``SKIP LOCKED``) and runs a consumer for each of
its subscribers. Stopping (:meth:`NatsWorker.stop`, SIGTERM or SIGINT under
``glue worker``): no new claims or fetches; the batches in hand are delivered
and answered; after ``grace`` seconds what still runs is cancelled (its units
roll back; its messages, unanswered, come back after the consumer's
``ack_wait``). A worker killed outright leaves the same: leased rows that
another relay publishes again once the lease runs out, and unacknowledged
messages that the server offers again.
"""

from __future__ import annotations

import os
import signal
import socket
from typing import TYPE_CHECKING

import anyio

from ...log import get_logger
from .consumer import NatsConsumer
from .relay import NatsRelay
from .stream import JetStream

if TYPE_CHECKING:
    from anyio.abc import TaskStatus

    from ...domain.app import App
    from .stream import NatsSettings

__all__ = ["NatsWorker", "run_nats_worker"]

_log = get_logger(__name__)


class NatsWorker:
    """Relays an open App's outbox to JetStream and delivers from there.

    Args:
        app: the App, open (``delivery="workers"``, so that it does not deliver
            in-process too).
        settings: the NATS server and stream.
        relay: publish the App's outbox databases (a worker that cannot reach
            them only consumes).
        consume: run a consumer for each of the App's subscribers.
        grace: seconds a stop waits for the batches in hand.
    """

    def __init__(
        self,
        app: App,
        settings: NatsSettings,
        *,
        relay: bool = True,
        consume: bool = True,
        grace: float = 10.0,
    ) -> None:
        self.app = app
        self.settings = settings
        self.relay = relay
        self.consume = consume
        self.grace = grace
        self.relays: list[NatsRelay] = []
        self.consumers: list[NatsConsumer] = []
        self._stopped = anyio.Event()

    @property
    def delivered(self) -> int:
        """Messages applied or found duplicate by this worker so far."""
        return sum(consumer.delivered for consumer in self.consumers)

    def stop(self) -> None:
        """Stop gracefully (see the module); :meth:`run` then returns."""
        for relay in self.relays:
            relay.stop()
        for consumer in self.consumers:
            consumer.stop()
        self._stopped.set()

    async def run(
        self, *, task_status: TaskStatus[JetStream] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        """Relay and deliver until :meth:`stop`; report readiness (with the
        connection) to ``tg.start`` once the stream and consumers exist.

        Raises:
            glue.errors.TransportError: no server answered, or the stream or a
                consumer could not be declared.
        """
        name = f"glue-worker {socket.gethostname()}:{os.getpid()}"
        app = self.app
        async with JetStream(self.settings, name=name) as stream:
            if self.relay:
                self.relays = [
                    NatsRelay(app, pool, stream) for pool in app.outbox.writer_pools()
                ]
            if self.consume:
                self.consumers = [
                    NatsConsumer(app, subscriber, stream)
                    for subscriber in app.outbox.subscribers.values()
                ]
            for consumer in self.consumers:
                await consumer.bind()
            async with anyio.create_task_group() as listeners:
                for relay in self.relays:
                    await listeners.start(relay.listen)
                async with anyio.create_task_group() as tg:
                    for relay in self.relays:
                        tg.start_soon(relay.run)
                    for consumer in self.consumers:
                        tg.start_soon(consumer.run)
                    task_status.started(stream)
                    await self._stopped.wait()
                    tg.cancel_scope.deadline = anyio.current_time() + self.grace
                listeners.cancel_scope.cancel()


async def run_nats_worker(
    app: App,
    settings: NatsSettings,
    *,
    relay: bool = True,
    consume: bool = True,
    grace: float = 10.0,
) -> int:
    """Open ``app``, relay and deliver through NATS until SIGTERM or SIGINT,
    then stop gracefully (``glue worker --transport nats``).

    Args:
        app: the App, not open yet; it opens here with ``delivery="workers"``.
        settings: the NATS server and stream.
        relay: as for :class:`NatsWorker`, like the options below.
        consume: run a consumer for each subscriber.
        grace: seconds a stop waits for the batches in hand.

    Returns:
        the messages delivered.
    """
    app.delivery = "workers"
    async with app:
        worker = NatsWorker(app, settings, relay=relay, consume=consume, grace=grace)
        async with anyio.create_task_group() as tg:
            await tg.start(worker.run)
            with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
                async for signum in signals:
                    _log.info("nats worker stopping", signal=signum)
                    worker.stop()
                    break
        return worker.delivered
