"""The shop's three domains as separate processes on PostgreSQL: this test's
process dispatches (``delivery="workers"``), one ``glue worker --app
domains.shop.app:make_app`` process runs every subscriber, each domain on a
PostgreSQL database of its own (configured as ``GLUE_DATABASES__*``)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio
import pytest

from domains.shop import (
    CancelOrder,
    OrderLine,
    PlaceOrder,
    RegisterCustomer,
    Restock,
    make_app,
)
from glue import Actor
from glue.outbox.status import drain, status
from glue.query import FieldReference, OrderByQuery, QueryStatement, SchemaReference
from glue.testing.postgres import fresh_database

if TYPE_CHECKING:
    from collections.abc import Iterator

    from glue import App

pytestmark = pytest.mark.postgres

ROOT = Path(__file__).resolve().parents[2]
DOMAINS = ("customers", "inventory", "orders")


@pytest.fixture
def databases(postgres_server: str) -> Iterator[dict[str, str]]:
    """A fresh PostgreSQL database per domain."""
    with ExitStack() as stack:
        yield {
            name: stack.enter_context(fresh_database(postgres_server))
            for name in DOMAINS
        }


@pytest.fixture
def worker(
    databases: dict[str, str], tmp_path: Path
) -> Iterator[subprocess.Popen[bytes]]:
    """One ``glue worker`` of the shop, its databases from the environment;
    killed at the end if still running."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    for name, url in databases.items():
        env[f"GLUE_DATABASES__{name.upper()}"] = url
    command = [
        sys.executable,
        "-m",
        "glue",
        "worker",
        "--app",
        "domains.shop.app:make_app",
    ]
    with (tmp_path / "worker.log").open("wb") as log:
        process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
        )
    yield process
    if process.poll() is None:
        process.kill()
    process.wait()


async def rows(app: App, table: str, key: str) -> list[dict[str, Any]]:
    statement = QueryStatement(
        table=SchemaReference(name=table),
        order_by=[OrderByQuery(field=FieldReference.of(table, key))],
    )
    return list(await app.query(statement))


@pytest.mark.timeout(180)
async def test_a_glue_worker_runs_the_order_saga(
    databases: dict[str, str], worker: subprocess.Popen[bytes], tmp_path: Path
) -> None:
    async with make_app(databases, delivery="workers") as app:
        await app.bus.dispatch(RegisterCustomer(name="Ada", email="ada@example.org"))
        await app.bus.dispatch(Restock(sku="APL-001", quantity=5))
        await drain(app, timeout=60)  # the orders domain heard of Ada
        apples = [OrderLine(sku="APL-001", quantity=3)]
        await app.bus.dispatch(PlaceOrder(customer_id=1, lines=apples))
        await app.bus.dispatch(PlaceOrder(customer_id=1, lines=apples))
        await drain(app, timeout=60)
        orders = await rows(app, "orders", "id")
        assert [o["status"] for o in orders] == ["accepted", "rejected"]
        assert [s["quantity"] for s in await rows(app, "stock", "sku")] == [2]

        admin = Actor(id="admin", permissions=frozenset({"orders:admin"}))
        await app.bus.dispatch(CancelOrder(order_id=1), actor=admin)
        await drain(app, timeout=60)
        assert [s["quantity"] for s in await rows(app, "stock", "sku")] == [5]
        found = await status(app)
        assert (found.pending, found.in_flight, found.dead_letters) == (0, 0, 0)

    worker.send_signal(signal.SIGTERM)
    with anyio.fail_after(30):
        while worker.poll() is None:  # noqa: ASYNC110  # a process, not a flag
            await anyio.sleep(0.1)
    assert worker.returncode == 0, (tmp_path / "worker.log").read_text()
