"""How far each subscriber's durable consumer is behind the stream.

``glue outbox status --transport nats`` prints these beside what the outbox
databases hold: on NATS the outbox rows leave the database once published, and
what a subscriber has still to apply waits in its consumer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import msgspec

from .stream import JetStream, consumer_name

if TYPE_CHECKING:
    from ...domain.app import App
    from .stream import NatsSettings

__all__ = ["ConsumerLag", "consumer_lags"]


class ConsumerLag(msgspec.Struct, frozen=True, kw_only=True):
    """One subscriber's durable consumer, as the server counts it.

    Attributes:
        subscriber: the subscriber's name.
        consumer: its durable consumer's name.
        pending: messages of the stream not yet handed to any worker (None
            where the server does not say).
        ack_pending: messages handed to a worker and not acknowledged yet (in
            flight, or waiting to be offered again after a nak).
        redelivered: of those, the ones offered more than once.
    """

    subscriber: str
    consumer: str
    pending: int | None
    ack_pending: int | None
    redelivered: int | None


async def consumer_lags(app: App, settings: NatsSettings) -> list[ConsumerLag]:
    """The lag of the durable consumer of each of the App's subscribers that
    has one, by subscriber name (the stream is looked at, never declared).

    Raises:
        glue.errors.TransportError: no server answered.
    """
    names = sorted(app.outbox.subscribers)
    found: list[ConsumerLag] = []
    async with JetStream(settings, name="glue outbox status", declare=False) as js:
        for name in names:
            info = await js.consumer_info(name)
            if info is None:
                continue
            found.append(
                ConsumerLag(
                    subscriber=name,
                    consumer=consumer_name(name),
                    pending=info.num_pending,
                    ack_pending=info.num_ack_pending,
                    redelivered=info.num_redelivered,
                )
            )
    return found
