"""JetStream: the connection, the stream, batched publishing, pull consumers.

:class:`JetStream` connects (reconnecting by itself when the server goes away),
declares the stream, publishes a batch of envelopes asynchronously and returns
once the server has stored every one (publishing again what went
unacknowledged: the event id is the ``Nats-Msg-Id``, so the server drops the
copies), and binds the durable pull consumer of a subscriber.
"""

from __future__ import annotations

import asyncio
import re
from typing import TYPE_CHECKING, Protocol, TypeVar
from urllib.parse import urlsplit

import anyio
import msgspec
import nats
import nats.errors
import nats.js.errors
from nats.aio.client import Client
from nats.js import api

from ...errors import ConfigurationError, TransportError
from ...log import get_logger

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Sequence

    from nats.js.client import JetStreamContext

__all__ = ["JetStream", "NatsSettings", "Outgoing", "consumer_name", "subject"]

_log = get_logger(__name__)
_T = TypeVar("_T")

# What a JetStream API call meets while the server starts or reconnects.
_TRANSIENT = (
    TimeoutError,  # nats.errors.TimeoutError among them
    nats.errors.NoRespondersError,
    nats.errors.ConnectionClosedError,
    nats.js.errors.ServiceUnavailableError,
)

# What NATS allows in one subject token and in stream and consumer names.
_TOKEN = re.compile(r"[A-Za-z0-9_-]+")


class NatsSettings(msgspec.Struct, frozen=True, kw_only=True):
    """Where the NATS server is, and how glue uses its JetStream.

    Attributes:
        url: the server (``nats://host:port``; several joined by commas).
        stream: the JetStream stream that holds the events.
        prefix: the first token of every subject (``glue.{domain}.{event}``).
        duplicate_window: seconds within which JetStream drops a message whose
            id it has seen (a republished event).
        max_age: seconds the stream keeps an event (a consumer created later,
            or one that lagged, still finds it within that time).
        ack_timeout: seconds to wait for the server to acknowledge a published
            message before publishing it again.
        connect_timeout: seconds to keep trying to reach the server at start.
        max_pending: published messages awaiting their ack at once.
        ack_wait: seconds a consumer waits for a worker to acknowledge a
            message before it offers the message again (the worker died).
    """

    url: str = "nats://127.0.0.1:4222"
    stream: str = "GLUE"
    prefix: str = "glue"
    duplicate_window: float = 120.0
    max_age: float = 7 * 24 * 3600.0
    ack_timeout: float = 5.0
    connect_timeout: float = 30.0
    max_pending: int = 8192
    ack_wait: float = 30.0

    def __post_init__(self) -> None:
        _check_token(self.stream, "stream name")
        _check_token(self.prefix, "subject prefix")


class Outgoing(Protocol):
    """What :meth:`JetStream.publish` sends: an outbox envelope."""

    @property
    def id(self) -> object: ...
    @property
    def domain(self) -> str: ...
    @property
    def event(self) -> str: ...
    def encode(self) -> bytes: ...


def subject(settings: NatsSettings, domain: str, event: str) -> str:
    """The subject an event is published on: ``{prefix}.{domain}.{event}``.

    ``event`` may be a full name (``"orders:order-paid"``): its last part is
    taken, the domain being ``domain``; a ``domain`` of ``"*"`` gives the
    wildcard subject of that event from any domain.
    """
    event = _check_token(event.rpartition(":")[2], "event name")
    if domain != "*":
        _check_token(domain, "domain")
    return f"{settings.prefix}.{domain}.{event}"


def consumer_name(subscriber: str) -> str:
    """The durable consumer of a subscriber: ``glue-`` and its name, dots as ``-``."""
    return "glue-" + _check_token(subscriber.replace(".", "-"), "subscriber name")


def _check_token(text: str, what: str) -> str:
    if not _TOKEN.fullmatch(text):
        raise ConfigurationError(
            f"{what} {text!r} cannot be part of a NATS subject or name: "
            "use letters, digits, '-' and '_'"
        )
    return text


def _redacted(url: str) -> str:
    """``url`` without user and password, for messages and logs."""
    parts = urlsplit(url.split(",")[0].strip())
    return f"{parts.scheme}://{parts.hostname}:{parts.port or 4222}"


class JetStream:
    """A connection to NATS with JetStream: the stream, publishing, consumers.

    Use as ``async with JetStream(settings) as js:``. Entering connects (trying
    for ``settings.connect_timeout`` seconds) and declares the stream; the
    connection then reconnects by itself for as long as it is open.

    Args:
        settings: where the server is and how the stream is set up.
        name: the connection's name, as the server's monitoring shows it.
        declare: create the stream (or update its settings) on entering; False
            for a connection that only looks (``glue outbox status``).
    """

    def __init__(
        self, settings: NatsSettings, *, name: str = "glue", declare: bool = True
    ) -> None:
        self.settings = settings
        self.name = name
        self.declare = declare
        self.where = _redacted(settings.url)
        self._client: Client | None = None
        self._js: JetStreamContext | None = None

    async def __aenter__(self) -> JetStream:
        await self._connect()
        try:
            if self.declare:
                await self._declare_stream()
        except BaseException:
            await self.aclose()
            raise
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connection (idempotent); unacknowledged publishes are lost."""
        client, self._client, self._js = self._client, None, None
        if client is not None and not client.is_closed:
            with anyio.CancelScope(shield=True):
                await client.close()

    @property
    def client(self) -> Client:
        """The nats-py connection (open)."""
        if self._client is None:
            raise TransportError(self.where, "the connection is not open")
        return self._client

    @property
    def context(self) -> JetStreamContext:
        """The nats-py JetStream context of the connection."""
        if self._js is None:
            raise TransportError(self.where, "the connection is not open")
        return self._js

    async def _connect(self) -> None:
        client = Client()
        # nats-py retries a first connect forever when told to reconnect
        # forever: the deadline is ours.
        with anyio.move_on_after(self.settings.connect_timeout):
            await client.connect(
                [url.strip() for url in self.settings.url.split(",")],
                name=self.name,
                max_reconnect_attempts=-1,
                reconnect_time_wait=1,
                connect_timeout=2,
                error_cb=self._on_error,
                disconnected_cb=self._on_disconnected,
                reconnected_cb=self._on_reconnected,
            )
        if not client.is_connected:
            with anyio.CancelScope(shield=True):
                await client.close()
            raise TransportError(
                self.where,
                f"no server answered within {self.settings.connect_timeout:g} s",
            )
        self._client = client
        self._js = self._client.jetstream(
            timeout=self.settings.ack_timeout,
            publish_async_max_pending=self.settings.max_pending,
        )

    async def _declare_stream(self) -> None:
        """Create the stream, or bring an existing one's settings up to date."""
        config = api.StreamConfig(
            name=self.settings.stream,
            subjects=[f"{self.settings.prefix}.>"],
            retention=api.RetentionPolicy.LIMITS,
            storage=api.StorageType.FILE,
            max_age=self.settings.max_age,
            duplicate_window=self.settings.duplicate_window,
        )

        async def declare() -> None:
            try:
                await self.context.add_stream(config)
            except nats.js.errors.BadRequestError:
                # It exists with other settings: take ours.
                await self.context.update_stream(config)

        await self._api(f"declare stream {self.settings.stream!r}", declare)

    async def _api(self, what: str, call: Callable[[], Awaitable[_T]]) -> _T:
        """Run a JetStream API call, again while the server is only not ready.

        Right after a (re)start JetStream answers nothing for a moment; such
        calls are tried again for up to ``connect_timeout`` seconds.
        """
        deadline = anyio.current_time() + self.settings.connect_timeout
        while True:
            try:
                return await call()
            except _TRANSIENT as exc:
                if anyio.current_time() >= deadline:
                    raise TransportError(self.where, f"cannot {what}: {exc!r}") from exc
                await anyio.sleep(0.2)
            except nats.errors.Error as exc:
                raise TransportError(self.where, f"cannot {what}: {exc}") from exc

    async def publish(self, envelopes: Sequence[Outgoing]) -> int:
        """Publish ``envelopes`` and return once the server has stored each.

        Messages go out without waiting for each other's acks; those not
        acknowledged within ``ack_timeout`` (the server restarted, the
        connection dropped) are published again, with the same message id, until
        each one is. Returns how many the server dropped as duplicates.

        Raises:
            TransportError: the server refused a message (no stream takes its
                subject, or the stream is full).
        """
        settings, js = self.settings, self.context
        pending = [
            (subject(settings, e.domain, e.event), str(e.id), e.encode())
            for e in envelopes
        ]
        duplicates = 0
        while pending:
            sent: list[tuple[str, asyncio.Future[api.PubAck]]] = []
            try:
                for subj, msg_id, body in pending:
                    headers = {"Nats-Msg-Id": msg_id}
                    sent.append(
                        (subj, await js.publish_async(subj, body, headers=headers))
                    )
            except nats.errors.Error as exc:
                # Not even sent (the client's buffer is full while it
                # reconnects): what is left goes again below.
                _log.debug("nats publish stalled", broker=self.where, error=repr(exc))
            if sent:
                await asyncio.wait(
                    [future for _, future in sent], timeout=settings.ack_timeout
                )
            unacked = pending[len(sent) :]
            for message, (subj, future) in zip(pending, sent, strict=False):
                if not future.done():
                    future.cancel()
                    unacked.append(message)
                elif future.cancelled() or future.exception() is not None:
                    self._check_refusal(subj, future)
                    unacked.append(message)
                elif future.result().duplicate:
                    duplicates += 1
            if unacked:
                _log.debug(
                    "nats publishing again", broker=self.where, messages=len(unacked)
                )
                await anyio.sleep(0.1)
            pending = unacked
        return duplicates

    def _check_refusal(self, subj: str, future: asyncio.Future[api.PubAck]) -> None:
        """Raise when the server refused a message for good; else it is retried."""
        exc = None if future.cancelled() else future.exception()
        if isinstance(exc, nats.js.errors.APIError) and not isinstance(
            exc, nats.js.errors.ServiceUnavailableError
        ):
            raise TransportError(
                self.where, f"the server refused a message on {subj!r}: {exc}"
            ) from exc

    async def pull(
        self, subscriber: str, subjects: Sequence[str]
    ) -> JetStreamContext.PullSubscription:
        """Bind (creating if need be) the durable pull consumer of ``subscriber``.

        The consumer takes the ``subjects`` it is given, acknowledged one by
        one; a message not acknowledged within ``ack_wait`` seconds (its worker
        died) goes to another worker. A server older than 2.10 filters on one subject
        only: for several it delivers the whole stream, and the caller skips
        what it did not ask for.
        """
        settings, durable = self.settings, consumer_name(subscriber)
        config = api.ConsumerConfig(
            durable_name=durable,
            ack_policy=api.AckPolicy.EXPLICIT,
            deliver_policy=api.DeliverPolicy.ALL,
            ack_wait=settings.ack_wait,
            max_deliver=-1,
            max_ack_pending=20_000,
        )
        version = self.client.connected_server_version
        if len(subjects) == 1:
            config.filter_subject = subjects[0]
        elif (version.major, version.minor) >= (2, 10):
            config.filter_subjects = list(subjects)
        else:
            config.filter_subject = f"{settings.prefix}.>"

        async def declare() -> None:
            try:
                await self.context.add_consumer(settings.stream, config)
            except nats.js.errors.BadRequestError as exc:
                # It exists with settings a server before 2.10 cannot change.
                _log.warning(
                    "nats consumer kept with its settings",
                    consumer=durable,
                    reason=str(exc),
                )

        await self._api(f"declare consumer {durable!r}", declare)
        return await self.context.pull_subscribe_bind(
            durable=durable, stream=settings.stream
        )

    async def consumer_info(self, subscriber: str) -> api.ConsumerInfo | None:
        """The server's account of ``subscriber``'s durable consumer (its
        pending and unacknowledged messages); None when it has none yet."""
        durable = consumer_name(subscriber)

        async def info() -> api.ConsumerInfo | None:
            try:
                found: api.ConsumerInfo = await self.context.consumer_info(
                    self.settings.stream, durable
                )
            except nats.js.errors.NotFoundError:
                return None
            return found

        return await self._api(f"read consumer {durable!r}", info)

    async def _on_error(self, exc: Exception) -> None:
        _log.debug("nats error", broker=self.where, error=repr(exc))

    async def _on_disconnected(self) -> None:
        if self._client is None:  # closed by us
            return
        _log.warning("nats server disconnected", broker=self.where)

    async def _on_reconnected(self) -> None:
        _log.warning("nats server reconnected", broker=self.where)
