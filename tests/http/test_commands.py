"""H01, H02: ``POST /{domain}:{command}`` dispatches; JSON bodies are validated
(415 for other content types, 422 naming every bad field) (#11)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import anyio

import glue.http
from glue import App, Command, Context, Domain, Response
from glue.outbox.status import drain

if TYPE_CHECKING:
    from collections.abc import Callable

    import httpx

    Connect = Callable[[object], httpx.AsyncClient]

PROBLEM = "application/problem+json"


async def test_a_command_is_dispatched_and_its_response_encoded(
    shop: httpx.AsyncClient, shop_app: App
) -> None:
    placed = await shop.post(
        "/orders:place-order",
        json={"customer_id": 1, "lines": [{"sku": "APL-001", "quantity": 3}]},
    )
    assert placed.status_code == 200
    assert placed.headers["content-type"] == "application/json"
    # The shop's renderer filled the status in from the committed order.
    assert placed.json() == {"order_id": 1, "articles": 3, "status": "pending"}
    await drain(shop_app)  # the inventory reserves the order's stock
    stock = await shop.get("/inventory/stock/APL-001")
    assert stock.json()["quantity"] == 7


async def test_a_command_without_a_response_answers_ok(shop: httpx.AsyncClient) -> None:
    restocked = await shop.post(
        "/inventory:restock", json={"sku": "PER-002", "quantity": 2}
    )
    assert (restocked.status_code, restocked.json()) == (200, {})


async def test_every_bad_field_is_named_by_path(shop: httpx.AsyncClient) -> None:
    refused = await shop.post(
        "/orders:place-order",
        json={"customer_id": "one", "lines": [{"sku": "apple", "quantity": 0}]},
    )
    assert refused.status_code == 422
    assert refused.headers["content-type"] == PROBLEM
    problem = refused.json()
    assert problem["error"] == "ValidationError"
    assert [e["path"] for e in problem["errors"]] == [
        "$.customer_id",
        "$.lines[0].sku",
        "$.lines[0].quantity",
    ]
    assert problem["status"] == 422 and problem["title"]


async def test_malformed_json_is_a_422(shop: httpx.AsyncClient) -> None:
    refused = await shop.post(
        "/inventory:restock",
        content=b"{nope",
        headers={"content-type": "application/json"},
    )
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["path"] == "$"


async def test_a_body_that_is_not_json_is_a_415(shop: httpx.AsyncClient) -> None:
    for content_type in ("text/plain", "application/x-www-form-urlencoded", None):
        headers = {} if content_type is None else {"content-type": content_type}
        refused = await shop.post(
            "/inventory:restock", content=b"sku=A", headers=headers
        )
        assert refused.status_code == 415, content_type
        assert refused.json()["error"] == "UnsupportedMediaType"
    charset = {"content-type": "application/json; charset=utf-8"}
    accepted = await shop.post(
        "/inventory:restock",
        content=b'{"sku": "APL-001", "quantity": 1}',
        headers=charset,
    )
    assert accepted.status_code == 200


async def test_an_unknown_command_or_method_is_a_problem(
    shop: httpx.AsyncClient,
) -> None:
    unknown = await shop.post("/shop:fly", json={})
    assert unknown.status_code == 404
    assert "orders:place-order" in unknown.json()["detail"]
    wrong = await shop.get("/orders:place-order")
    assert wrong.status_code == 405
    assert wrong.headers["content-type"] == PROBLEM
    nowhere = await shop.get("/nowhere/at/all/here")
    assert (nowhere.status_code, nowhere.headers["content-type"]) == (404, PROBLEM)


class Echo(Command):
    text: str = ""


class Echoed(Response):
    text: str
    length: int


def echo_domain() -> Domain:
    echo = Domain("echo")

    @echo.command(Echo)
    async def handle(cmd: Echo, ctx: Context) -> Echoed:
        return Echoed(text=cmd.text, length=len(cmd.text))

    return echo


async def test_an_empty_body_is_an_empty_object_and_a_large_one_a_413(
    connect: Connect,
) -> None:
    api = glue.http.asgi(App([echo_domain()]), max_body=64)
    async with api.lifespan(), connect(api) as http:
        empty = await http.post("/echo:echo")
        assert empty.json() == {"text": "", "length": 0}
        large = await http.post("/echo:echo", json={"text": "x" * 100})
        assert large.status_code == 413
        assert large.headers["content-type"] == "application/problem+json"


async def test_an_app_that_is_not_open_answers_503(connect: Connect) -> None:
    api = glue.http.asgi(App([echo_domain()]))
    async with connect(api) as http:
        refused = await http.post("/echo:echo", json={})
        assert refused.status_code == 503
        assert "lifespan" in refused.json()["detail"]


async def test_a_mounted_app_shares_the_hosts_lifespan(connect: Connect) -> None:
    from starlette.applications import Starlette
    from starlette.routing import Mount

    app = App([echo_domain()])
    api = glue.http.asgi(app)
    host = Starlette(routes=[Mount("/api", app=api)], lifespan=api.lifespan)
    async with host.router.lifespan_context(host):
        assert app.state.value == "open"
        async with connect(host) as http:
            echoed = await http.post("/api/echo:echo", json={"text": "hi"})
            assert echoed.json() == {"text": "hi", "length": 2}
            docs = await http.get("/api/docs")
            assert "/api/openapi.json" in docs.text
    assert app.state.value == "closed"


async def test_concurrent_requests_each_get_their_own_dispatch(
    shop: httpx.AsyncClient, shop_app: App, admin: dict[str, str]
) -> None:
    answers: list[int] = []

    async def order() -> None:
        placed = await shop.post(
            "/orders:place-order",
            json={"customer_id": 1, "lines": [{"sku": "APL-001", "quantity": 2}]},
        )
        answers.append(placed.status_code)

    async with anyio.create_task_group() as group:
        for _ in range(6):
            group.start_soon(order)
    assert answers == [200] * 6
    await drain(shop_app)
    listed = await shop.get("/orders/orders", headers=admin)
    statuses = sorted(order["status"] for order in listed.json()["items"])
    assert statuses == ["accepted"] * 5 + ["rejected"]
    assert (await shop.get("/inventory/stock/APL-001")).json()["quantity"] == 0
