"""serve: an App's relays and consumers on NATS JetStream, until cancelled."""

from __future__ import annotations

import os
import socket
from typing import TYPE_CHECKING

import anyio

from .consumer import NatsConsumer
from .relay import NatsRelay
from .stream import JetStream

if TYPE_CHECKING:
    from ...domain.app import App
    from .stream import NatsSettings

__all__ = ["serve"]


async def serve(
    app: App,
    settings: NatsSettings,
    *,
    relay: bool = True,
    consume: bool = True,
    task_status: anyio.abc.TaskStatus[JetStream] = anyio.TASK_STATUS_IGNORED,
) -> None:
    """Relay the App's outbox to JetStream and deliver its subscribers' events
    from there, until cancelled (``glue worker APP --transport nats``).

    Args:
        app: an open App (with ``delivery="workers"``, so that it does not
            deliver in-process too).
        settings: the NATS server and stream.
        relay: publish the App's outbox databases (a worker that cannot reach
            them only consumes).
        consume: run a consumer for each of the App's subscribers.
        task_status: started with the connection once every relay and consumer
            runs (``await tg.start(serve, app, settings)``).

    Raises:
        glue.errors.TransportError: no server answered, or the stream or a
            consumer could not be declared.
    """
    name = f"glue-worker {socket.gethostname()}:{os.getpid()}"
    async with JetStream(settings, name=name) as stream:
        async with anyio.create_task_group() as tg:
            if relay:
                for pool in app.outbox.writer_pools():
                    tg.start_soon(NatsRelay(app, pool, stream).run)
            if consume:
                for subscriber in app.outbox.subscribers.values():
                    consumer = NatsConsumer(app, subscriber, stream)
                    await consumer.bind()
                    tg.start_soon(consumer.run)
            task_status.started(stream)
