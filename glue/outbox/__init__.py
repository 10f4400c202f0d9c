"""The outbox: events leave a committed unit of work, reliably, in order.

- :class:`Outbox` writes the events a dispatch emits (those some subscriber
  takes) in the unit's own transaction;
- :func:`deliver` applies one :class:`Envelope` to one subscriber through the
  inbox: once in effect, in order per aggregate, whatever the transport
  (:func:`deliver_many`: a batch of them in one transaction);
- :class:`Relay` claims deliveries from an outbox database and runs them
  (in-process, or in ``glue worker`` processes on PostgreSQL);
- :mod:`glue.outbox.status` reports on them and replays dead letters.

Nothing here imports :mod:`glue.domain` at run time: the domain layer sits
above and hands its App in.
"""

from __future__ import annotations

from .envelope import Envelope
from .inbox import Delivered, Delivery, deliver, deliver_many
from .outbox import CHANNEL, Outbox, Publisher
from .relay import Claim, Relay
from .subscriber import Backoff, Subscriber

__all__ = [
    "CHANNEL",
    "Backoff",
    "Claim",
    "Delivered",
    "Delivery",
    "Envelope",
    "Outbox",
    "Publisher",
    "Relay",
    "Subscriber",
    "deliver",
    "deliver_many",
]
