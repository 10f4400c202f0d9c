"""``glue worker``, ``glue outbox status/prune``, ``glue dead-letters list/retry``.

::

    glue worker --app domains.shop.app:make_app     # until SIGTERM
    glue worker --app ... --transport nats --nats-url nats://host:4222
    glue outbox status --app ...
    glue outbox status --app ... --transport nats --nats-url nats://host:4222
    glue outbox prune --app ... --older-than 604800
    glue dead-letters list --app ...
    glue dead-letters retry --app ... [--event ID] [--subscriber NAME]
"""

from __future__ import annotations

import datetime as dt
import time
from typing import TYPE_CHECKING, Any

from ..errors import ConfigurationError
from ..outbox.status import dead_letters, prune, retry_dead_letters, status
from ..outbox.worker import run_worker
from .commands import format_table

if TYPE_CHECKING:
    from collections.abc import Mapping

    from ..domain.app import App
    from ..outbox.nats import ConsumerLag

__all__ = [
    "run_dead_letters",
    "run_outbox_prune",
    "run_outbox_status",
    "run_worker_command",
]


async def run_worker_command(
    app: App,
    *,
    concurrency: int,
    lease: float,
    grace: float,
    nats: Mapping[str, Any] | None = None,
) -> None:
    """Deliver the App's outbox until SIGTERM or SIGINT: from the database, or
    through NATS JetStream with ``nats`` (the ``NatsSettings`` to use)."""
    if nats is None:
        await run_worker(app, concurrency=concurrency, lease=lease, grace=grace)
        return
    try:
        from ..outbox.nats import NatsSettings, run_nats_worker
    except ImportError as exc:
        raise _without_nats(exc) from exc
    await run_nats_worker(app, NatsSettings(**nats), grace=grace)


async def run_outbox_status(app: App, *, nats: Mapping[str, Any] | None = None) -> None:
    """Print what the App's outbox holds: totals, then each subscriber's lag;
    with ``nats`` (the ``NatsSettings`` of its transport) also what waits in
    each subscriber's durable consumer."""
    app.delivery = "workers"
    async with app:
        found = await status(app)
        lags: dict[str, ConsumerLag] = {}
        if nats is not None:
            try:
                from ..outbox.nats import NatsSettings, consumer_lags
            except ImportError as exc:
                raise _without_nats(exc) from exc
            settings = NatsSettings(**{"connect_timeout": 5.0, **nats})
            lags = {lag.subscriber: lag for lag in await consumer_lags(app, settings)}
    print(
        f"pending {found.pending}, in flight {found.in_flight}, dead letters "
        f"{found.dead_letters}, oldest {_age(found.oldest_age)}"
    )
    rows: list[dict[str, Any]] = []
    for lag in found.subscribers:
        row: dict[str, Any] = {
            "subscriber": lag.subscriber,
            "pending": lag.pending,
            "oldest": _age(lag.oldest_age),
        }
        if nats is not None:
            consumer = lags.get(lag.subscriber)
            row["nats pending"] = "-" if consumer is None else consumer.pending
            row["nats ack pending"] = "-" if consumer is None else consumer.ack_pending
        rows.append(row)
    if rows:
        print(format_table(rows))


async def run_outbox_prune(app: App, *, older_than: float) -> None:
    """Delete outbox and inbox rows no delivery needs, older than given."""
    app.delivery = "workers"
    async with app:
        deleted = await prune(app, older_than=older_than)
    print(f"{deleted} row(s) deleted")


async def run_dead_letters(
    app: App, *, retry: bool, event_id: str | None, subscriber: str | None
) -> None:
    """List the dead letters, or put them back to be delivered again."""
    app.delivery = "workers"
    async with app:
        if retry:
            moved = await retry_dead_letters(
                app, event_id=event_id, subscriber=subscriber
            )
            print(f"{moved} dead letter(s) put back for delivery")
            return
        letters = await dead_letters(app, subscriber=subscriber)
    letters = [x for x in letters if event_id is None or x.event_id == event_id]
    if not letters:
        print("no dead letters")
        return
    print(
        format_table(
            [
                {
                    "event": letter.event_id,
                    "subscriber": letter.subscriber,
                    "aggregate": letter.aggregate,
                    "seq": letter.seq,
                    "attempts": letter.attempts,
                    "failed at": dt.datetime.fromtimestamp(
                        letter.failed_at, dt.UTC
                    ).isoformat(timespec="seconds"),
                    "error": letter.error,
                }
                for letter in letters
            ]
        )
    )


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    return (
        f"{seconds:.1f}s"
        if seconds < 120
        else time.strftime("%Hh%Mm", time.gmtime(seconds))
    )


def _without_nats(exc: ImportError) -> ConfigurationError:
    return ConfigurationError(
        f"--transport nats needs the nats extra: pip install 'glue-cqrs[nats]' ({exc})"
    )
