"""NatsConsumer: a subscriber's worker on JetStream, on any machine.

Each subscriber has one durable pull consumer (``glue-{subscriber}``) on the
subjects of its events; any number of workers fetch from it, each message
going to one of them at a time. A worker takes a batch, runs the batch's
aggregates side by side (each aggregate's events one after another, in their
order) through the inbox (:func:`glue.outbox.deliver`), and answers each
message:

- applied, or a duplicate: **ack**;
- deferred (an earlier event of its aggregate is not applied yet): **nak**
  with a short delay, so it comes back after that event;
- failed: **nak** with the subscriber's backoff; after its last attempt it is
  parked in ``glue_dead_letters`` (``glue dead-letters list/retry``), the
  subscriber's later events of that aggregate go on without it, and it is
  acked.

A worker that dies leaves its messages unacknowledged: after ``ack_wait`` the
server offers them to another worker, and the inbox turns a second run of what
had committed into a duplicate.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import anyio
import msgspec
import nats.errors

from ...errors import GlueError
from ...log import get_logger
from ..envelope import Envelope
from ..inbox import Delivered, Delivery, deliver_many, skip
from ..tables import DEAD_LETTERS
from .stream import subject

if TYPE_CHECKING:
    from nats.aio.msg import Msg
    from nats.js.client import JetStreamContext

    from ...domain.app import App
    from ..subscriber import Subscriber
    from .stream import JetStream

__all__ = ["NatsConsumer", "subjects"]

_log = get_logger(__name__)

_DEFER = 0.05  # seconds before a deferred message is offered again
_RETRY_ERROR = 1.0  # seconds a consumer waits after its broker failed
_GATHER = 0.02  # seconds a consumer waits for more when a fetch brought few


def subjects(app: App, subscriber: Subscriber, stream: JetStream) -> list[str]:
    """The subjects of ``subscriber``'s events: each event of each domain of
    the App that registered it (any domain, where none of them did)."""
    found: list[str] = []
    for kind in subscriber.events:
        name = kind.__entity_name__
        domains = [
            publisher.domain
            for publisher in app.outbox.publishers.values()
            if kind in publisher.events
        ]
        found.extend(subject(stream.settings, d, name) for d in domains or ["*"])
    return sorted(set(found))


class NatsConsumer:
    """Delivers one subscriber's events from its durable consumer.

    Args:
        app: the open App that has the subscriber.
        subscriber: the subscriber.
        stream: the open JetStream connection.
        batch: the most messages fetched at once.
        concurrency: batches fetched and delivered at once.
        wait: seconds a fetch waits on the server when nothing is there.
    """

    def __init__(
        self,
        app: App,
        subscriber: Subscriber,
        stream: JetStream,
        *,
        batch: int = 500,
        concurrency: int = 2,
        wait: float = 1.0,
    ) -> None:
        self.app = app
        self.subscriber = subscriber
        self.stream = stream
        self.batch = batch
        self.wait = wait
        self.concurrency = concurrency
        self._subjects = subjects(app, subscriber, stream)
        # What a server before 2.10 may send beyond them: the events taken from
        # any domain, by name, and those of the named domains, by subject.
        self._exact = {s for s in self._subjects if ".*." not in s}
        self._anywhere = {s.rpartition(".")[2] for s in self._subjects if ".*." in s}
        self._failures: dict[str, int] = {}
        self._subscriptions: list[JetStreamContext.PullSubscription] = []
        self._stopping = False
        self.delivered = 0
        """Messages applied or found duplicate so far."""

    async def bind(self) -> None:
        """Declare the subscriber's durable consumer and bind ``concurrency``
        subscriptions to it (:meth:`run` does it too, if need be)."""
        while len(self._subscriptions) < self.concurrency:
            self._subscriptions.append(
                await self.stream.pull(self.subscriber.name, self._subjects)
            )

    async def run(self) -> None:
        """Fetch and deliver until :meth:`stop`, ``concurrency`` batches at once
        (each on its own subscription: a fetch waits on its own inbox)."""
        await self.bind()
        subscriptions, self._subscriptions = self._subscriptions, []
        try:
            async with anyio.create_task_group() as tg:
                for subscription in subscriptions:
                    tg.start_soon(self._fetch, subscription)
        finally:
            with anyio.CancelScope(shield=True):
                for subscription in subscriptions:
                    await subscription.unsubscribe()

    def stop(self) -> None:
        """Fetch no more; :meth:`run` returns once the batches in hand are
        answered."""
        self._stopping = True

    async def _fetch(self, subscription: JetStreamContext.PullSubscription) -> None:
        while not self._stopping:
            messages: list[Msg] = []
            try:
                messages = await subscription.fetch(self.batch, timeout=self.wait)
                if len(messages) < self.batch // 4:
                    # A trickle: wait a moment for more, so that one transaction
                    # applies many (a commit costs far more than an event).
                    await anyio.sleep(_GATHER)
                    messages += await subscription.fetch(
                        self.batch - len(messages), timeout=_GATHER
                    )
            except TimeoutError:  # nothing there (nats.errors.TimeoutError too)
                if not messages:
                    continue
            except nats.errors.Error as exc:
                _log.debug("nats fetch failed", error=repr(exc))
                if not messages:
                    await anyio.sleep(_RETRY_ERROR)
                    continue
            await self.handle(messages)

    async def handle(self, messages: list[Msg]) -> None:
        """Deliver a fetched batch in one go (:func:`glue.outbox.deliver_many`)
        and answer each message."""
        batch: list[tuple[Envelope, Msg]] = []
        for message in messages:
            if not self._takes(message.subject):
                await message.ack()  # a server before 2.10 sent the whole stream
                continue
            try:
                batch.append((Envelope.decode(message.data), message))
            except msgspec.DecodeError:
                _log.warning("not an envelope: dropped", subject=message.subject)
                await message.term()
        if not batch:
            return
        try:
            results = await deliver_many(
                self.app, self.subscriber, [envelope for envelope, _ in batch]
            )
        except GlueError as exc:
            # The inbox's database failed: the messages come back later.
            _log.warning("nats delivery failed", error=str(exc))
            for _, message in batch:
                await message.nak(delay=_RETRY_ERROR)
            return
        for (envelope, message), result in zip(batch, results, strict=True):
            try:
                await self._answer(envelope, message, result)
            except (GlueError, nats.errors.Error) as exc:
                # Unanswered, the message comes back after the ack wait.
                _log.warning(
                    "nats delivery not answered", event_id=envelope.id, error=str(exc)
                )

    def _takes(self, name: str) -> bool:
        return name in self._exact or name.rpartition(".")[2] in self._anywhere

    async def _answer(
        self, envelope: Envelope, message: Msg, result: Delivered
    ) -> None:
        """Ack, nak or park ``message`` by what its delivery came to."""
        status = result.status
        if status in (Delivery.APPLIED, Delivery.DUPLICATE):
            self._failures.pop(envelope.id, None)
            self.delivered += 1
            await message.ack()
            return
        if status is Delivery.DEFERRED:
            await message.nak(delay=_DEFER)
            return
        backoff = self.subscriber.backoff
        failures = self._failures.get(envelope.id, 0) + 1
        if failures < backoff.attempts:
            self._failures[envelope.id] = failures
            await message.nak(delay=backoff.delay(failures))
            return
        self._failures.pop(envelope.id, None)
        await self._park(envelope, failures, result.error or "failed")
        await message.ack()

    async def _park(self, envelope: Envelope, attempts: int, error: str) -> None:
        """Keep a delivery that failed its last attempt as a dead letter, and
        let the subscriber's later events of its aggregate through."""
        outbox = self.app.outbox
        domain = envelope.domain if envelope.domain in outbox.publishers else None
        pool = outbox.home(domain or self.subscriber.domain)
        row = {
            "event_id": envelope.id,
            "subscriber": self.subscriber.name,
            "aggregate": envelope.aggregate,
            "seq": envelope.seq,
            "attempts": attempts,
            "error": error,
            "failed_at": time.time(),
        }
        async with pool.acquire(write=True) as conn, conn.transaction():
            dialect = conn.dialect
            again = {c: f"excluded.{c}" for c in ("attempts", "error", "failed_at")}
            park = dialect.upsert(
                DEAD_LETTERS.name, tuple(row), DEAD_LETTERS.primary_key, update=again
            )
            await conn.execute(park, tuple(row.values()))
        _log.warning(
            "delivery parked as a dead letter",
            subscriber=self.subscriber.name,
            event_name=envelope.event,
            event_id=envelope.id,
            error=error,
        )
        await skip(self.app, self.subscriber, envelope)
