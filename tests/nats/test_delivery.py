"""The outbox through NATS JetStream: relay, consumers, inbox, in one process."""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any

import anyio

from glue.outbox.nats import NatsSettings, NatsWorker
from glue.outbox.status import status

from .ledger import SUBSCRIBERS, accounts, applications, ledger_app, pay_accounts

if TYPE_CHECKING:
    from glue import App


def settings(url: str, prefix: str, **options: Any) -> NatsSettings:
    return NatsSettings(url=url, prefix=prefix, stream=prefix.upper(), **options)


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
