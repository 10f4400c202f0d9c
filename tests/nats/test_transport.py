"""JetStream as glue uses it: publish with acks, dedupe by event id, restarts."""

from __future__ import annotations

import uuid

import anyio
import msgspec
import pytest

from glue.errors import ConfigurationError, TransportError
from glue.outbox.nats import JetStream, NatsSettings, consumer_name, subject

from .server import NatsServer, free_port


class Note(msgspec.Struct, frozen=True, kw_only=True):
    """Stands for an outbox envelope: what the transport needs of one."""

    id: uuid.UUID
    domain: str
    event: str
    n: int

    def encode(self) -> bytes:
        return msgspec.json.encode(self)


def notes(count: int, event: str = "paid") -> list[Note]:
    return [
        Note(id=uuid.uuid4(), domain="shop", event=event, n=n) for n in range(count)
    ]


def settings(url: str, prefix: str) -> NatsSettings:
    return NatsSettings(url=url, prefix=prefix, stream=prefix.upper())


async def stored(js: JetStream) -> int:
    info = await js.context.stream_info(js.settings.stream)
    return info.state.messages


async def drain(js: JetStream, subscriber: str, subjects: list[str]) -> list[Note]:
    """Every message the subscriber's consumer has for it, acknowledged."""
    sub = await js.pull(subscriber, subjects)
    got: list[Note] = []
    while True:
        try:
            batch = await sub.fetch(500, timeout=1)
        except TimeoutError:  # nats.errors.TimeoutError is one too
            return got
        for msg in batch:
            got.append(msgspec.json.decode(msg.data, type=Note))
            await msg.ack()


async def cleanup(js: JetStream) -> None:
    await js.context.delete_stream(js.settings.stream)


async def test_published_notes_reach_a_durable_consumer_in_order(
    nats_url: str, nats_prefix: str
) -> None:
    sent = notes(1000)
    async with JetStream(settings(nats_url, nats_prefix)) as js:
        try:
            assert await js.publish(sent) == 0
            assert await stored(js) == 1000
            got = await drain(js, "shop.totals", [subject(js.settings, "shop", "paid")])
            assert got == sent
            # Acknowledged: the durable consumer has nothing more for anyone.
            assert (
                await drain(js, "shop.totals", [subject(js.settings, "shop", "paid")])
                == []
            )
        finally:
            await cleanup(js)


async def test_a_republished_note_is_dropped_by_its_id(
    nats_url: str, nats_prefix: str
) -> None:
    sent = notes(300)
    async with JetStream(settings(nats_url, nats_prefix)) as js:
        try:
            assert await js.publish(sent[:200]) == 0
            assert await js.publish(sent) == 200
            assert await stored(js) == 300
            got = await drain(js, "shop.totals", [f"{nats_prefix}.shop.*"])
            assert [note.n for note in got] == list(range(300))
        finally:
            await cleanup(js)


async def test_a_consumer_takes_only_its_subscribers_subjects(
    nats_url: str, nats_prefix: str
) -> None:
    async with JetStream(settings(nats_url, nats_prefix)) as js:
        try:
            await js.publish(
                notes(3, "paid") + notes(2, "placed") + notes(4, "shipped")
            )
            wanted = [subject(js.settings, "shop", e) for e in ("paid", "shipped")]
            got = await drain(js, "shop.mailer", wanted)
            # A server before 2.10 filters on one subject: the rest is skipped by
            # the caller, so only count what was asked for.
            assert sorted(n.event for n in got if n.event != "placed") == (
                ["paid"] * 3 + ["shipped"] * 4
            )
        finally:
            await cleanup(js)


async def test_publishing_rides_out_a_server_restart(
    private_nats: NatsServer, nats_prefix: str
) -> None:
    first, second = notes(2000), notes(2000)
    async with JetStream(settings(private_nats.url, nats_prefix)) as js:
        await js.publish(first)
        private_nats.stop(kill=True)
        async with anyio.create_task_group() as tg:
            tg.start_soon(js.publish, first[-500:] + second)
            await anyio.sleep(0.5)
            private_nats.start()
        assert await stored(js) == 4000
        got = await drain(js, "shop.totals", [f"{nats_prefix}.>"])
        assert [n.id for n in got] == [n.id for n in first + second]


async def test_a_consumer_resumes_after_a_server_restart(
    private_nats: NatsServer, nats_prefix: str
) -> None:
    sent = notes(100)
    async with JetStream(settings(private_nats.url, nats_prefix)) as js:
        await js.publish(sent)
        sub = await js.pull("shop.totals", [f"{nats_prefix}.>"])
        batch = await sub.fetch(40, timeout=2)
        for msg in batch:
            await msg.ack()
        await js.client.flush()
        private_nats.restart()
        got = await drain(js, "shop.totals", [f"{nats_prefix}.>"])
        assert [n.n for n in got] == list(range(40, 100))


def test_names_that_cannot_be_subject_tokens_are_refused() -> None:
    with pytest.raises(ConfigurationError, match=r"'a\.b' cannot be part of a NATS"):
        NatsSettings(prefix="a.b")
    with pytest.raises(ConfigurationError, match="event name 'paid now'"):
        subject(NatsSettings(), "shop", "paid now")
    assert consumer_name("shop.totals") == "glue-shop-totals"


async def test_no_server_is_a_transport_error_naming_the_broker() -> None:
    url = f"nats://127.0.0.1:{free_port()}"
    with pytest.raises(
        TransportError, match=f"broker '{url}': no server answered within 0.5 s"
    ):
        async with JetStream(NatsSettings(url=url, connect_timeout=0.5)):
            pass


def test_a_private_server_keeps_its_store_across_restarts(
    private_nats: NatsServer,
) -> None:
    async def put() -> None:
        async with JetStream(settings(private_nats.url, "glue_keep")) as js:
            await js.publish(notes(5))

    async def count() -> int:
        async with JetStream(settings(private_nats.url, "glue_keep")) as js:
            return await stored(js)

    anyio.run(put)
    private_nats.restart(kill=True)
    assert anyio.run(count) == 5
