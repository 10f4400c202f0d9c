"""H07: a POST retried with the same ``Idempotency-Key`` returns the first
response and runs nothing; keys are recorded with the command's writes, scoped
to the actor, refused for another request, and expire (#11)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import anyio
import pytest
from starlette.responses import PlainTextResponse

import glue.http
from glue import (
    Actor,
    App,
    Column,
    ColumnType,
    Command,
    Context,
    Domain,
    QueryStatement,
    Response,
    Schema,
    SchemaReference,
    new_id,
)
from glue.http.idempotency import KEYS
from glue.outbox.status import drain

if TYPE_CHECKING:
    from collections.abc import Callable

    import httpx
    from starlette.requests import Request

    Connect = Callable[[object], httpx.AsyncClient]

NOTES = Schema(
    name="notes",
    primary_key=("id",),
    columns=(
        Column(name="id", type=ColumnType.TEXT),
        Column(name="text", type=ColumnType.TEXT),
    ),
)


class Note(Command):
    text: str


class Noted(Response):
    id: str
    text: str


def notes_domain(
    runs: list[str], together: int = 1, running: anyio.Event | None = None
) -> Domain:
    """The notes domain; its handler waits until ``together`` handlers run
    (``running`` is set then: share it between domains)."""
    notes = Domain("notes")
    notes.table(NOTES)
    running = running or anyio.Event()

    @notes.command(Note)
    async def note(cmd: Note, ctx: Context) -> Noted:
        runs.append(cmd.text)
        if len(runs) == together:
            running.set()
        await running.wait()
        new = str(new_id())
        await ctx.state.insert(NOTES, {"id": new, "text": cmd.text})
        return Noted(id=new, text=cmd.text)

    return notes


async def count(app: App, table: str) -> int:
    return len(await app.query(QueryStatement(table=SchemaReference(name=table))))


def key(value: str) -> dict[str, str]:
    return {"idempotency-key": value}


async def test_a_retry_returns_the_first_response_and_runs_nothing(
    database_url: str, connect: Connect
) -> None:
    runs: list[str] = []
    app = App(
        [notes_domain(runs)], databases={"default": database_url}, create_tables=True
    )
    api = glue.http.asgi(app)
    async with api.lifespan(), connect(api) as http:
        first = await http.post("/notes:note", json={"text": "a"}, headers=key("k1"))
        again = await http.post("/notes:note", json={"text": "a"}, headers=key("k1"))
        assert first.status_code == again.status_code == 200
        assert first.content == again.content
        assert first.json()["text"] == "a"
        assert "idempotent-replayed" not in first.headers
        assert again.headers["idempotent-replayed"] == "true"
        assert runs == ["a"] and await count(app, "notes") == 1
        other = await http.post("/notes:note", json={"text": "a"}, headers=key("k2"))
        assert other.json()["id"] != first.json()["id"]
        reused = await http.post("/notes:note", json={"text": "b"}, headers=key("k1"))
        assert reused.status_code == 422
        assert reused.json()["errors"][0]["path"] == "Idempotency-Key"
        assert runs == ["a", "a"] and await count(app, "notes") == 2


async def test_keys_are_scoped_to_the_actor(tmp_path: object, connect: Connect) -> None:
    runs: list[str] = []
    app = App(
        [notes_domain(runs)],
        databases={"default": f"sqlite:///{tmp_path}/n.sqlite"},
        create_tables=True,
    )

    async def by_header(request: Request) -> Actor | None:
        who = request.headers.get("x-who")
        return None if who is None else Actor(id=who)

    api = glue.http.asgi(app, auth=by_header)
    async with api.lifespan(), connect(api) as http:
        for who in ("ada", "bob", "ada"):
            await http.post(
                "/notes:note", json={"text": "x"}, headers={**key("k"), "x-who": who}
            )
    assert runs == ["x", "x"]


async def test_concurrent_requests_with_one_key_run_it_once(
    tmp_path: object, connect: Connect
) -> None:
    runs: list[str] = []
    app = App(
        [notes_domain(runs)],
        databases={"default": f"sqlite:///{tmp_path}/n.sqlite"},
        create_tables=True,
    )
    api = glue.http.asgi(app)
    answers: list[httpx.Response] = []
    async with api.lifespan(), connect(api) as http:

        async def post() -> None:
            answers.append(
                await http.post("/notes:note", json={"text": "c"}, headers=key("k"))
            )

        async with anyio.create_task_group() as group:
            for _ in range(5):
                group.start_soon(post)
        assert await count(app, "notes") == 1
    assert runs == ["c"]
    assert len({a.content for a in answers}) == 1
    assert sum("idempotent-replayed" in a.headers for a in answers) == 4


async def test_across_processes_the_database_lets_one_commit(
    database_url: str, connect: Connect
) -> None:
    """Two Apps on one database stand for two processes: no in-process lock
    between them, only the key's primary key."""
    runs: list[str] = []
    running = anyio.Event()
    first = App(
        [notes_domain(runs, 2, running)],
        databases={"default": database_url},
        create_tables=True,
    )
    second = App([notes_domain(runs, 2, running)], databases={"default": database_url})
    one, two = glue.http.asgi(first), glue.http.asgi(second)
    answers: list[httpx.Response] = []
    async with one.lifespan(), two.lifespan(), connect(one) as a, connect(two) as b:

        async def post(http: httpx.AsyncClient) -> None:
            answers.append(
                await http.post("/notes:note", json={"text": "p"}, headers=key("k"))
            )

        async with anyio.create_task_group() as group:
            group.start_soon(post, a)
            group.start_soon(post, b)
        assert await count(first, "notes") == 1
        assert await count(first, KEYS.name) == 1
    # Both handlers ran; one commit won, and both answer with its response.
    assert runs == ["p", "p"]
    assert [answer.status_code for answer in answers] == [200, 200]
    assert answers[0].content == answers[1].content
    assert sum("idempotent-replayed" in a.headers for a in answers) == 1


async def test_a_failed_request_records_nothing(
    shop: httpx.AsyncClient, shop_app: App
) -> None:
    order = {"customer_id": 2, "lines": [{"sku": "APL-001", "quantity": 3}]}
    unknown = await shop.post("/orders:place-order", json=order, headers=key("order-1"))
    assert unknown.status_code == 404
    bob = {"name": "Bob", "email": "bob@example.org"}
    assert (await shop.post("/customers:register-customer", json=bob)).json() == {
        "customer_id": 2
    }
    await drain(shop_app)  # the orders domain hears of Bob
    placed = await shop.post("/orders:place-order", json=order, headers=key("order-1"))
    assert placed.status_code == 200
    replayed = await shop.post(
        "/orders:place-order", json=order, headers=key("order-1")
    )
    # The renderer's response (with the committed status) is what is recorded.
    assert (
        replayed.json()
        == placed.json()
        == {
            "order_id": placed.json()["order_id"],
            "articles": 3,
            "status": "pending",
        }
    )
    assert replayed.headers["idempotent-replayed"] == "true"
    await drain(shop_app)
    assert (await shop.get("/inventory/stock/APL-001")).json()["quantity"] == 7


async def test_keys_expire_and_are_swept(tmp_path: object, connect: Connect) -> None:
    runs: list[str] = []
    app = App(
        [notes_domain(runs)],
        databases={"default": f"sqlite:///{tmp_path}/n.sqlite"},
        create_tables=True,
    )
    api = glue.http.asgi(app, idempotency_ttl=0.2)
    async with api.lifespan(), connect(api) as http:
        await http.post("/notes:note", json={"text": "e"}, headers=key("old"))
        await http.post("/notes:note", json={"text": "e"}, headers=key("older"))
        await anyio.sleep(0.3)  # both keys expire
        again = await http.post("/notes:note", json={"text": "e"}, headers=key("old"))
        assert "idempotent-replayed" not in again.headers
        assert runs == ["e", "e", "e"]
        # "older" was swept; "old" holds again.
        assert await count(app, KEYS.name) == 1


async def test_an_http_renderer_renders_the_replay_too(
    tmp_path: object, connect: Connect
) -> None:
    runs: list[str] = []
    app = App(
        [notes_domain(runs)],
        databases={"default": f"sqlite:///{tmp_path}/n.sqlite"},
        create_tables=True,
    )

    async def as_text(noted: Noted, request: Request) -> PlainTextResponse:
        return PlainTextResponse(f"note {noted.id}: {noted.text}")

    api = glue.http.asgi(app, renderers={Noted: as_text})
    async with api.lifespan(), connect(api) as http:
        first = await http.post("/notes:note", json={"text": "r"}, headers=key("k"))
        again = await http.post("/notes:note", json={"text": "r"}, headers=key("k"))
    assert first.text == again.text
    assert first.text.startswith("note ") and first.text.endswith(": r")
    assert again.headers["content-type"].startswith("text/plain")
    assert runs == ["r"]


@pytest.mark.parametrize("value", ["", "x" * 256, "tab\there"])
async def test_a_bad_key_is_refused(
    value: str, tmp_path: object, connect: Connect
) -> None:
    app = App(
        [notes_domain([])],
        databases={"default": f"sqlite:///{tmp_path}/n.sqlite"},
        create_tables=True,
    )
    api = glue.http.asgi(app)
    async with api.lifespan(), connect(api) as http:
        refused = await http.post("/notes:note", json={"text": "b"}, headers=key(value))
    assert refused.status_code == 422


async def test_an_app_without_databases_cannot_keep_keys(connect: Connect) -> None:
    class Ping(Command):
        pass

    ping = Domain("ping")

    @ping.command(Ping)
    async def handle(cmd: Ping, ctx: Context) -> None:
        return None

    api = glue.http.asgi(App([ping]))
    async with api.lifespan(), connect(api) as http:
        refused = await http.post("/ping:ping", headers=key("k"))
        assert refused.status_code == 422
        assert "no database" in refused.json()["errors"][0]["reason"]
        assert (await http.post("/ping:ping")).status_code == 200
