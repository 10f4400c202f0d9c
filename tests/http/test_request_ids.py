"""H09: ``X-Request-ID`` is taken or generated, bound to the context and to
every log line written while the request runs, and returned (#11)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import glue.http
from glue import App, Command, Context, Domain
from glue.log import get_logger

if TYPE_CHECKING:
    from collections.abc import Callable

    import httpx
    import pytest

    Connect = Callable[[object], httpx.AsyncClient]


class Ping(Command):
    pass


def ping_domain(seen: list[str]) -> Domain:
    ping = Domain("ping")
    log = get_logger("glue.tests.ping")

    @ping.command(Ping)
    async def handle(cmd: Ping, ctx: Context) -> None:
        seen.append(ctx.request_id)
        log.warning("pinged")

    return ping


async def test_the_request_id_is_taken_bound_and_returned(
    connect: Connect, caplog: pytest.LogCaptureFixture
) -> None:
    seen: list[str] = []
    api = glue.http.asgi(App([ping_domain(seen)]))
    with caplog.at_level(logging.WARNING, logger="glue.tests"):
        async with api.lifespan(), connect(api) as http:
            given = await http.post("/ping:ping", headers={"x-request-id": "abc-123"})
    assert given.headers["x-request-id"] == "abc-123"
    assert seen == ["abc-123"]
    (record,) = [r for r in caplog.records if r.name == "glue.tests.ping"]
    assert record.request_id == "abc-123"  # type: ignore[attr-defined]
    assert "request_id=abc-123" in record.getMessage()


async def test_a_missing_or_odd_request_id_is_replaced(connect: Connect) -> None:
    seen: list[str] = []
    api = glue.http.asgi(App([ping_domain(seen)]))
    async with api.lifespan(), connect(api) as http:
        made = await http.post("/ping:ping")
        odd = await http.post("/ping:ping", headers={"x-request-id": "a b\nforged=1"})
        failed = await http.post("/ping:nope", headers={"x-request-id": "r-9"})
        read = await http.get("/openapi.json")
    assert len({made.headers["x-request-id"], odd.headers["x-request-id"]}) == 2
    assert seen == [made.headers["x-request-id"], odd.headers["x-request-id"]]
    assert " " not in odd.headers["x-request-id"]
    assert failed.headers["x-request-id"] == failed.json()["request_id"] == "r-9"
    assert read.headers["x-request-id"]
