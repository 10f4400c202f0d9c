"""Two API processes and three ``glue worker`` processes on one PostgreSQL.

5,000 payments are dispatched over both API processes while three workers
deliver them to two subscribers; one worker is killed (SIGKILL) midway. Then
every event has reached every subscriber exactly once in effect, in order per
customer, and nothing is left pending (O04, O05, O06). A worker stopped with
SIGTERM finishes the delivery it holds and exits cleanly.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio
import pytest

from glue.outbox.status import drain, status

from . import shop
from .api import CUSTOMERS
from .shop import Pay, make_app

if TYPE_CHECKING:
    from collections.abc import Iterator

    from glue import App

pytestmark = pytest.mark.postgres

ROOT = Path(__file__).resolve().parents[2]
COMMANDS = 5000


def _env(dsn: str) -> dict[str, str]:
    env = dict(os.environ)
    env["OUTBOX_TEST_DATABASE"] = dsn
    env["OUTBOX_TEST_POOL"] = "5"  # five processes on a server others share
    env["PYTHONPATH"] = str(ROOT)
    return env


def _start(command: list[str], dsn: str, log: Path) -> subprocess.Popen[bytes]:
    """Start ``command`` from the repository, its output into ``log``."""
    with log.open("wb") as out:
        return subprocess.Popen(
            command, cwd=ROOT, env=_env(dsn), stdout=out, stderr=subprocess.STDOUT
        )


def _worker(dsn: str, log: Path) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "glue", "worker", "tests.outbox.shop:make_app"]
    options = ["--lease", "3", "--grace", "10", "--concurrency", "4"]
    return _start(command + options, dsn, log)


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen[bytes]]]:
    """The processes a test starts: killed, if still running, at its end."""
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.kill()
        process.wait()


async def one(app: App, sql: str) -> Any:
    async with app.connections.get_connection_pool().acquire() as conn:
        return (await conn.fetch(sql)).rows[0][0]


async def _wait(process: subprocess.Popen[bytes], timeout: float) -> int:
    with anyio.fail_after(timeout):
        while process.poll() is None:  # noqa: ASYNC110  # a process, not a flag
            await anyio.sleep(0.1)
    return process.returncode


@pytest.mark.slow
@pytest.mark.timeout(900)
async def test_two_apis_three_workers_one_killed(
    postgres_dsn: str, processes: list[subprocess.Popen[bytes]], tmp_path: Path
) -> None:
    async with make_app(postgres_dsn, delivery="workers") as app:
        # The tables and the customers exist before the processes start.
        async with app.context(domain="payments") as ctx:
            for i in range(CUSTOMERS):
                await ctx.state.insert(shop.CUSTOMERS, {"id": f"c{i}", "payments": 0})
        workers = [_worker(postgres_dsn, tmp_path / f"worker{i}.log") for i in range(3)]
        processes += workers
        command = [sys.executable, "-m", "tests.outbox.api", str(COMMANDS // 2)]
        apis = [
            _start([*command, str(i)], postgres_dsn, tmp_path / f"api{i}.log")
            for i in range(2)
        ]
        processes += apis
        # Midway through the deliveries, one worker dies without a word.
        with anyio.fail_after(600):
            applied = "SELECT COUNT(*) FROM glue_inbox"
            while await one(app, applied) < COMMANDS // 2:  # noqa: ASYNC110  # rows
                await anyio.sleep(0.1)
        workers[0].kill()
        for i, process in enumerate(apis):
            log = (tmp_path / f"api{i}.log").read_text
            assert await _wait(process, 600) == 0, log()
        await drain(app, timeout=600)
        left = await status(app)
        # The two workers left stop on SIGTERM, cleanly.
        for worker in workers[1:]:
            worker.send_signal(signal.SIGTERM)
        for worker in workers[1:]:
            assert await _wait(worker, 30) == 0

        assert (left.pending, left.in_flight, left.dead_letters) == (0, 0, 0)
        assert await one(app, "SELECT COUNT(*) FROM payments") == COMMANDS
        assert await one(app, "SELECT COUNT(*) FROM glue_outbox") == COMMANDS
        # Exactly once in effect: one audit row per payment (its key refuses
        # a second), one inbox row per event and subscriber.
        assert await one(app, "SELECT COUNT(*) FROM audit") == COMMANDS
        assert await one(app, "SELECT COUNT(*) FROM glue_inbox") == 2 * COMMANDS
        # The projection is exact per customer, and saw each customer's
        # payments in order (numbers follow commit order).
        async with app.connections.get_connection_pool().acquire() as conn:
            wrong = await conn.fetch(
                "SELECT t.customer FROM customer_totals t JOIN ("
                "SELECT customer, COUNT(*) AS n, SUM(amount) AS total "
                "FROM payments GROUP BY customer) p ON p.customer = t.customer "
                "WHERE t.count <> p.n OR t.total <> p.total OR t.last <> p.n "
                "OR t.out_of_order <> 0"
            )
        assert wrong.rows == []
        assert await one(app, "SELECT SUM(count) FROM customer_totals") == COMMANDS


async def test_sigterm_finishes_the_delivery_in_flight(
    postgres_dsn: str, processes: list[subprocess.Popen[bytes]], tmp_path: Path
) -> None:
    async with make_app(postgres_dsn, delivery="workers") as app:
        worker = _worker(postgres_dsn, tmp_path / "worker.log")
        processes.append(worker)
        await app.bus.dispatch(Pay(customer="slow-1", amount=5))
        with anyio.fail_after(60):
            while (await status(app)).in_flight == 0:  # noqa: ASYNC110  # rows
                await anyio.sleep(0.02)
        worker.send_signal(signal.SIGTERM)
        assert await _wait(worker, 30) == 0, (tmp_path / "worker.log").read_text()
        found = await status(app)
        assert (found.pending, found.in_flight) == (0, 0)
        assert await one(app, "SELECT count FROM customer_totals") == 1
        await drain(app, timeout=1)
