"""NATS JetStream: the transport that carries the outbox between machines.

::

    API process          NATS JetStream                worker (any machine)
    commit: glue_outbox  stream GLUE, subjects         durable pull consumer
    + glue_deliveries    glue.{domain}.{event}         glue-{subscriber}
         │                     ▲                              │
         └─▶ NatsRelay ────────┘                fetch ─▶ deliver() ─▶ ack / nak
             publish, Nats-Msg-Id = event id             (the inbox)
             await acks, delete the deliveries

- :class:`NatsRelay` publishes the committed outbox (see :mod:`.relay`);
- :class:`NatsConsumer` delivers a subscriber's events (see :mod:`.consumer`);
- :class:`JetStream` is the connection both use (see :mod:`.stream`);
- :class:`NatsWorker` runs both for an App (:func:`run_nats_worker`: ``glue
  worker APP --transport nats``);
- :func:`consumer_lags` tells how far each subscriber's consumer is behind
  (``glue outbox status --transport nats``).

The transport only has to deliver at least once: the inbox applies a
redelivered event once in effect, and holds back an event whose aggregate has an
earlier one not yet applied, so order per aggregate holds however the messages
are spread over workers and however often they come.

Needs the ``nats`` extra (``pip install 'glue-cqrs[nats]'``).
"""

from __future__ import annotations

from .consumer import NatsConsumer
from .lag import ConsumerLag, consumer_lags
from .relay import NatsRelay
from .stream import JetStream, NatsSettings, consumer_name, subject
from .worker import NatsWorker, run_nats_worker

__all__ = [
    "ConsumerLag",
    "JetStream",
    "NatsConsumer",
    "NatsRelay",
    "NatsSettings",
    "NatsWorker",
    "consumer_lags",
    "consumer_name",
    "run_nats_worker",
    "subject",
]
