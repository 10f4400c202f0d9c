"""The issue's run through NATS: 2 API processes, 3 workers, faults midway.

Two API processes pay 50 accounts 100 times each (5,000 commands) on one
PostgreSQL database; three worker processes relay the outbox to a NATS server
of the test's own and deliver from it to two subscribers. Midway one worker is
SIGKILLed and the NATS server is killed and started again. Then every payment
must have reached each subscriber exactly once in effect, each account's in
order, with nothing left in the outbox or in the consumers.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING

import anyio
import pytest

from glue.outbox.nats import JetStream, NatsSettings, consumer_name
from glue.outbox.status import status

from .ledger import SUBSCRIBERS, applications, ledger_app

if TYPE_CHECKING:
    from .server import NatsServer

ROOT = Path(__file__).resolve().parents[2]
ACCOUNTS, PAYMENTS = 50, 100
TOTAL = ACCOUNTS * PAYMENTS

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


def start(log: Path, *args: str, **env: str) -> subprocess.Popen[bytes]:
    """``python -m ARGS`` in the repository, its output in ``log``."""
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", *args],
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT), **env},
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


async def applied_so_far(url: str) -> int:
    async with ledger_app(url) as app:
        return min([len(await applications(app, s)) for s in SUBSCRIBERS])


async def wait_until(url: str, count: int, timeout: float) -> None:
    with anyio.fail_after(timeout):
        while await applied_so_far(url) < count:  # noqa: ASYNC110  # rows, not a flag
            await anyio.sleep(0.2)


async def wait_consumers_idle(settings: NatsSettings, timeout: float) -> None:
    """Until no consumer has a message undelivered or unacknowledged (what the
    killed worker held comes back after ``ack_wait``, and is acked as a
    duplicate)."""
    async with JetStream(settings) as js:
        with anyio.fail_after(timeout):
            for subscriber in SUBSCRIBERS:
                name = consumer_name(subscriber)
                while True:
                    info = await js.context.consumer_info(settings.stream, name)
                    if not (info.num_pending or info.num_ack_pending):
                        break
                    await anyio.sleep(0.2)


def test_two_apis_three_workers_a_killed_worker_and_a_nats_restart(
    postgres_dsn: str, private_nats: NatsServer, nats_prefix: str, tmp_path: Path
) -> None:
    settings = NatsSettings(
        url=private_nats.url, prefix=nats_prefix, stream=nats_prefix.upper()
    )
    anyio.run(applied_so_far, postgres_dsn)  # creates the tables once
    workers = [
        start(
            tmp_path / f"worker{i}.log",
            "glue",
            "worker",
            "tests.nats.ledger:worker_app",
            "--transport",
            "nats",
            "--nats-url",
            private_nats.url,
            "--nats-prefix",
            nats_prefix,
            "--nats-stream",
            nats_prefix.upper(),
            "--nats-ack-wait",
            "5",
            LEDGER_DATABASE_URL=postgres_dsn,
        )
        for i in range(3)
    ]
    apis: list[subprocess.Popen[bytes]] = []
    try:
        half = ACCOUNTS // 2
        apis = [
            start(
                tmp_path / f"api{i}.log",
                "tests.nats.ledger",
                postgres_dsn,
                str(PAYMENTS),
                str(first),
                str(last),
            )
            for i, (first, last) in enumerate([(1, half), (half + 1, ACCOUNTS)])
        ]
        anyio.run(wait_until, postgres_dsn, TOTAL // 4, 120)
        workers[0].send_signal(signal.SIGKILL)
        workers[0].wait()
        private_nats.restart(kill=True)
        for api in apis:
            api.wait(timeout=180)
            assert api.returncode == 0, logs(tmp_path)
        anyio.run(wait_until, postgres_dsn, TOTAL, 180)

        async def check() -> None:
            async with ledger_app(postgres_dsn) as app:
                for subscriber in SUBSCRIBERS:
                    rows = await applications(app, subscriber)
                    counts = Counter((row["account"], row["n"]) for row in rows)
                    assert len(counts) == TOTAL, subscriber
                    assert set(counts.values()) == {1}, subscriber
                    assert all(row["in_order"] for row in rows), subscriber
                # What the killed worker's relay had claimed and published but
                # not yet settled waits for its lease (30 s), then another relay
                # publishes it again (a copy, dropped) and settles it.
                with anyio.fail_after(90):
                    while (await status(app)).pending:  # noqa: ASYNC110  # rows
                        await anyio.sleep(0.5)
            await wait_consumers_idle(settings, 60)

        anyio.run(check)
    finally:
        for process in workers + apis:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in workers + apis:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
    for worker in workers[1:]:
        assert worker.returncode == 0, logs(tmp_path)


def logs(folder: Path) -> str:
    """The processes' stderr, for a failure's message."""
    return "\n".join(
        f"--- {p.name}\n{p.read_text()[-3000:]}" for p in sorted(folder.glob("*.log"))
    )
