"""H04: errors are RFC 9457 problem details: 404, 409 for a conflict at commit,
412 for a stale If-Match, 428 where If-Match is required, 500 with a request id
and no internals, logged with its traceback (#11)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import anyio

import glue.http
from glue import (
    App,
    Column,
    ColumnType,
    Command,
    ConcurrencyConflict,
    Context,
    Domain,
    GlueError,
    NotFound,
    RetryPolicy,
    Schema,
    StaleEtag,
    ValidationError,
)
from glue.http import STATUS
from glue.http.problems import status_of
from glue.outbox.status import drain

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    import httpx
    import pytest

    Connect = Callable[[object], httpx.AsyncClient]

CANCEL = "/orders:cancel-order"


def test_the_status_is_looked_up_along_the_mro() -> None:
    assert status_of(StaleEtag("orders", 1, "x")) == 412
    assert status_of(ConcurrencyConflict("orders", 1)) == 409
    assert status_of(ValidationError("x", [])) == 422
    assert status_of(NotFound("orders", 1)) == 404
    assert status_of(GlueError("a bug")) == 500
    assert status_of(RuntimeError("a bug")) == 500
    assert all(issubclass(kind, GlueError) for kind in STATUS)


async def test_a_missing_row_is_a_404(
    shop: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    refused = await shop.post(
        "/orders:place-order",
        json={"customer_id": 9, "lines": [{"sku": "APL-001", "quantity": 1}]},
    )
    assert refused.status_code == 404
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["detail"] == "customers 9 not found"


async def test_if_match_is_required_then_checked_against_the_rows_etag(
    shop: httpx.AsyncClient, shop_app: App, admin: dict[str, str]
) -> None:
    await shop.post(
        "/orders:place-order",
        json={"customer_id": 1, "lines": [{"sku": "APL-001", "quantity": 4}]},
    )
    await drain(shop_app)  # accepted: the inventory reserved its stock
    required = await shop.post(CANCEL, json={"order_id": 1}, headers=admin)
    assert (required.status_code, required.json()["error"]) == (
        428,
        "PreconditionRequired",
    )
    order = await shop.get("/orders/orders/1", headers=admin)
    etag = order.headers["etag"]
    stale = await shop.post(
        CANCEL, json={"order_id": 1}, headers={**admin, "if-match": '"0123"'}
    )
    assert (stale.status_code, stale.json()["error"]) == (412, "StaleEtag")
    weak = await shop.post(
        CANCEL, json={"order_id": 1}, headers={**admin, "if-match": f"W/{etag}"}
    )
    assert weak.status_code == 412
    many = await shop.post(
        CANCEL, json={"order_id": 1}, headers={**admin, "if-match": f"{etag}, *"}
    )
    assert many.status_code == 400
    assert (await shop.get("/inventory/stock/APL-001")).json()["quantity"] == 6
    cancelled = await shop.post(
        CANCEL, json={"order_id": 1}, headers={**admin, "if-match": etag}
    )
    assert cancelled.status_code == 200
    await drain(shop_app)  # the inventory releases its stock
    assert (await shop.get("/inventory/stock/APL-001")).json()["quantity"] == 10
    again = await shop.post(
        CANCEL, json={"order_id": 1}, headers={**admin, "if-match": etag}
    )
    assert again.status_code in (404, 412)  # cancelled: gone for cancelling


ITEMS = Schema(
    name="items",
    primary_key=("id",),
    columns=(
        Column(name="id", type=ColumnType.INTEGER),
        Column(name="n", type=ColumnType.INTEGER),
    ),
)


class Bump(Command):
    id: int


async def test_a_conflict_at_commit_is_a_409(tmp_path: Path, connect: Connect) -> None:
    """Two requests read the same row; the later commit finds it changed and,
    with no retry left, answers 409."""
    counter = Domain("counter")
    counter.table(ITEMS)
    both_read = anyio.Event()
    readers = [0]

    @counter.command(Bump, retry=RetryPolicy(attempts=1))
    async def bump(cmd: Bump, ctx: Context) -> None:
        row = await ctx.state.require(ITEMS, cmd.id)
        readers[0] += 1
        if readers[0] == 2:
            both_read.set()
        await both_read.wait()
        await ctx.state.update(ITEMS, cmd.id, {"n": row["n"] + 1})

    app = App(
        [counter],
        databases={"default": f"sqlite:///{tmp_path / 'c.sqlite'}"},
        create_tables=True,
    )
    api = glue.http.asgi(app)
    async with api.lifespan(), connect(api) as http:
        async with app.context(domain="counter") as ctx:
            await ctx.state.insert(ITEMS, {"id": 1, "n": 0})
        statuses: list[int] = []

        async def post() -> None:
            statuses.append(
                (await http.post("/counter:bump", json={"id": 1})).status_code
            )

        async with anyio.create_task_group() as group:
            group.start_soon(post)
            group.start_soon(post)
    assert sorted(statuses) == [200, 409]


class Crash(Command):
    pass


async def test_a_failure_is_a_500_with_a_request_id_and_no_internals(
    connect: Connect, caplog: pytest.LogCaptureFixture
) -> None:
    broken = Domain("broken")

    @broken.command(Crash)
    async def crash(cmd: Crash, ctx: Context) -> None:
        raise KeyError("the secret of the database is hunter2")

    api = glue.http.asgi(App([broken]))
    with caplog.at_level(logging.ERROR, logger="glue.http"):
        async with api.lifespan(), connect(api) as http:
            failed = await http.post("/broken:crash", headers={"x-request-id": "r-1"})
    assert failed.status_code == 500
    problem = failed.json()
    assert problem["request_id"] == "r-1" == failed.headers["x-request-id"]
    assert "hunter2" not in failed.text and "KeyError" not in failed.text
    assert "error" not in problem
    (record,) = [r for r in caplog.records if r.name == "glue.http.app"]
    assert record.levelno == logging.ERROR
    assert record.exc_info is not None and "hunter2" in str(record.exc_info[1])
    assert record.request_id == "r-1"  # type: ignore[attr-defined]
