"""Envelope: one committed event as it travels from the outbox to a subscriber.

Every transport carries the same value: the PostgreSQL workers read it from the
outbox tables, a broker carries its :meth:`Envelope.encode` bytes. Its ``seq``
orders the events of one aggregate; the inbox applies them in that order
(:func:`glue.outbox.deliver`).
"""

from __future__ import annotations

import msgspec

__all__ = ["Envelope"]


class Envelope(msgspec.Struct, frozen=True, kw_only=True):
    """One event written to the outbox by a committed unit of work.

    Attributes:
        id: the event's id, a UUIDv7 in text form: unique, and the key a
            transport deduplicates on.
        domain: the domain whose command emitted it.
        event: the event's full name, ``"orders:order-paid"``.
        aggregate: what orders it: ``"orders/7"`` for an event whose domain
            named its aggregate field (see :meth:`glue.Domain.register`), else
            the event's own id.
        seq: its number among its aggregate's events, from 1, with no gaps, in
            commit order.
        payload: the event as JSON.
        created_at: when it was written, in seconds since the epoch.
    """

    id: str
    domain: str
    event: str
    aggregate: str
    seq: int
    payload: bytes
    created_at: float

    def encode(self) -> bytes:
        """The envelope as bytes for the wire (MessagePack)."""
        return _ENCODER.encode(self)

    @classmethod
    def decode(cls, data: bytes) -> Envelope:
        """The envelope :meth:`encode` gave ``data`` for.

        Raises:
            msgspec.DecodeError: ``data`` is not such bytes.
        """
        return _DECODER.decode(data)


_ENCODER = msgspec.msgpack.Encoder()
_DECODER = msgspec.msgpack.Decoder(Envelope)
