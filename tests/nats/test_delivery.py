"""The outbox through NATS JetStream: relay, consumers, inbox, in one process."""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING

import anyio
import msgspec

from glue import App, Context
from glue.cli.outbox import run_outbox_status
from glue.ids import new_id
from glue.outbox import Delivery, Envelope, deliver_many
from glue.outbox.nats import JetStream, NatsSettings, NatsWorker, consumer_lags
from glue.outbox.rows import select
from glue.outbox.status import dead_letters, drain, retry_dead_letters, status
from glue.outbox.tables import INBOX

from .ledger import (
    SUBSCRIBERS,
    Paid,
    accounts,
    applications,
    ledger_app,
    ledger_domain,
    pay_accounts,
)

if TYPE_CHECKING:
    import pytest


def settings(url: str, prefix: str) -> NatsSettings:
    return NatsSettings(url=url, prefix=prefix, stream=prefix.upper())


async def wait_applied(app: App, total: int, *, timeout: float = 60) -> None:
    """Until each subscriber applied ``total`` events (or more: a failure)."""
    with anyio.fail_after(timeout):
        for subscriber in SUBSCRIBERS:
            while len(await applications(app, subscriber)) < total:  # noqa: ASYNC110
                await anyio.sleep(0.05)


async def check_exactly_once_in_order(app: App, paid: dict[str, int]) -> None:
    """Each subscriber applied each payment once, each account's in order."""
    for subscriber in SUBSCRIBERS:
        rows = await applications(app, subscriber)
        counts = Counter((row["account"], row["n"]) for row in rows)
        expected = {(a, n): 1 for a, count in paid.items() for n in range(1, count + 1)}
        assert counts == expected, subscriber
        assert all(row["in_order"] for row in rows), subscriber


async def test_events_reach_every_subscriber_once_in_order(
    database_url: str, nats_url: str, nats_prefix: str
) -> None:
    names = accounts(1, 6)
    async with ledger_app(database_url) as app:
        async with anyio.create_task_group() as tg:
            worker = NatsWorker(app, settings(nats_url, nats_prefix))
            stream = await tg.start(worker.run)
            try:
                await pay_accounts(app, names, 25)
                await wait_applied(app, 6 * 25)
                await check_exactly_once_in_order(app, dict.fromkeys(names, 25))
                assert (await status(app)).pending == 0
            finally:
                await stream.context.delete_stream(stream.settings.stream)
                worker.stop()


async def inbox_count(app: App, subscriber: str) -> int:
    """How many events the subscriber's inbox recorded as applied."""
    async with app.outbox.home("ledger").acquire() as conn:
        return len(await select(conn, INBOX, [("subscriber", "eq", subscriber)]))


def envelope(account: str, n: int) -> Envelope:
    """Payment ``n`` of ``account`` as the outbox would have written it."""
    return Envelope(
        id=str(new_id()),
        domain="ledger",
        event="ledger:paid",
        aggregate=f"ledger/account/{account}",
        seq=n,
        payload=msgspec.json.encode(Paid(account=account, n=n)),
        created_at=0.0,
    )


async def test_deliver_many_keeps_the_inbox_rules_in_one_transaction(
    database_url: str,
) -> None:
    a = [envelope("a", n) for n in range(1, 6)]
    b = [envelope("b", n) for n in range(1, 3)]
    async with ledger_app(database_url) as app:
        first = await deliver_many(app, "ledger.tally", [a[2], b[1], a[0], a[4], a[1]])
        assert [r.status for r in first] == [
            Delivery.APPLIED,  # a3: after a1 and a2 of the same batch
            Delivery.DEFERRED,  # b2: b1 is not applied yet
            Delivery.APPLIED,
            Delivery.DEFERRED,  # a5: a4 is missing
            Delivery.APPLIED,
        ]
        second = await deliver_many(app, "ledger.tally", [a[0], a[3], a[4], b[0], b[1]])
        assert [r.status for r in second] == [
            Delivery.DUPLICATE,
            *[Delivery.APPLIED] * 4,
        ]
        rows = await applications(app, "ledger.tally")
        assert sorted((r["account"], r["n"]) for r in rows) == [
            ("a", 1), ("a", 2), ("a", 3), ("a", 4), ("a", 5), ("b", 1), ("b", 2),
        ]  # fmt: skip
        assert all(row["in_order"] for row in rows)
        assert await applications(app, "ledger.audit") == []


async def test_a_failing_event_is_parked_and_the_rest_of_its_batch_applied(
    database_url: str, nats_url: str, nats_prefix: str
) -> None:
    broken = {("acct-002", 3)}
    domain = ledger_domain()

    @domain.subscriber(Paid, name="ledger.picky", attempts=2, base_delay=0.01)
    async def picky(event: Paid, ctx: Context) -> None:
        if (event.account, event.n) in broken:
            raise RuntimeError(f"cannot take {event.account} {event.n}")

    app = App(
        [domain], databases={"default": database_url}, create_tables=True,
        delivery="workers",
    )  # fmt: skip
    names = accounts(1, 3)
    async with app, anyio.create_task_group() as tg:
        worker = NatsWorker(app, settings(nats_url, nats_prefix))
        stream = await tg.start(worker.run)
        try:
            await pay_accounts(app, names, 5)
            await wait_applied(app, 3 * 5)
            with anyio.fail_after(30):
                while not (letters := await dead_letters(app)):  # noqa: ASYNC110
                    await anyio.sleep(0.05)
            assert [(d.subscriber, d.seq, d.attempts) for d in letters] == [
                ("ledger.picky", 3, 2)
            ]
            assert "RuntimeError: cannot take acct-002 3" in letters[0].error
            # Its aggregate went on without it: payment 5 of acct-002 applied.
            with anyio.fail_after(30):
                while await inbox_count(app, "ledger.picky") < 14:  # noqa: ASYNC110
                    await anyio.sleep(0.05)
            broken.clear()
            assert await retry_dead_letters(app) == 1
            with anyio.fail_after(30):
                while await inbox_count(app, "ledger.picky") < 15:  # noqa: ASYNC110
                    await anyio.sleep(0.05)
            assert await dead_letters(app) == []
        finally:
            await stream.context.delete_stream(stream.settings.stream)
            worker.stop()


async def test_status_shows_what_waits_in_each_consumer(
    database_url: str,
    nats_url: str,
    nats_prefix: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Published but not yet fetched, an event waits in each subscriber's
    consumer: ``consumer_lags`` (``glue outbox status --transport nats``)
    counts it there, since the outbox database holds it no more."""
    config = settings(nats_url, nats_prefix)
    async with ledger_app(database_url) as app:
        assert await consumer_lags(app, config) == []  # no consumer yet
        try:
            async with anyio.create_task_group() as tg:
                worker = NatsWorker(app, config)
                await tg.start(worker.run)
                await pay_accounts(app, accounts(1, 2), 3)
                await wait_applied(app, 2 * 3)
                worker.stop()
            lags = await consumer_lags(app, config)
            assert [(lag.pending, lag.ack_pending) for lag in lags] == [(0, 0)] * 2
            async with anyio.create_task_group() as tg:
                relay = NatsWorker(app, config, consume=False)
                await tg.start(relay.run)
                await pay_accounts(app, accounts(3, 4), 2)
                await drain(app)  # published: gone from the outbox database
                relay.stop()
            lags = await consumer_lags(app, config)
            assert [(lag.subscriber, lag.pending, lag.ack_pending) for lag in lags] == [
                (name, 2 * 2, 0) for name in sorted(SUBSCRIBERS)
            ]
            nats = {"url": nats_url, "prefix": nats_prefix, "stream": config.stream}
            await run_outbox_status(ledger_app(database_url), nats=nats)
            out = capsys.readouterr().out
            assert out.startswith("pending 0, in flight 0, dead letters 0")
            assert "nats pending" in out
            assert "nats ack pending" in out
        finally:
            async with JetStream(config) as js:
                await js.context.delete_stream(config.stream)
