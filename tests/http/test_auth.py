"""H03: an actor resolver runs before dispatch: a bad or missing credential is a
401, a missing permission a 403 naming it; the shop's signed tokens (#11)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

import glue.http
from domains.shop.auth import DEV_SECRET, Tokens, main, tokens_from_env
from glue import Actor, App, Command, Context, Domain, Unauthenticated

if TYPE_CHECKING:
    from collections.abc import Callable

    import httpx

    Connect = Callable[[object], httpx.AsyncClient]

CANCEL = "/orders:cancel-order"


async def test_a_command_that_needs_a_permission_needs_credentials(
    shop: httpx.AsyncClient,
) -> None:
    refused = await shop.post(CANCEL, json={"order_id": 1}, headers={"if-match": "x"})
    assert refused.status_code == 401
    assert refused.headers["www-authenticate"] == "Bearer"
    assert refused.json()["error"] == "Unauthenticated"
    assert "orders:admin" in refused.json()["detail"]


async def test_a_bad_token_is_a_401_even_where_none_is_needed(
    shop: httpx.AsyncClient,
) -> None:
    forged = Tokens("another secret").issue("root", ["orders:admin"])
    for header in (f"Bearer {forged}", "Bearer not-a-token", "Basic cm9vdDpyb290"):
        refused = await shop.post(
            "/inventory:restock",
            json={"sku": "APL-001", "quantity": 1},
            headers={"authorization": header},
        )
        assert refused.status_code == 401, header
        assert refused.json()["error"] == "Unauthenticated"


async def test_a_missing_permission_is_a_403_naming_it(
    shop: httpx.AsyncClient, reader: dict[str, str]
) -> None:
    refused = await shop.post(
        CANCEL, json={"order_id": 1}, headers={**reader, "if-match": '"x"'}
    )
    assert refused.status_code == 403
    problem = refused.json()
    assert problem["missing"] == ["orders:admin"]
    assert "actor 'ada' may not run orders:cancel-order" in problem["detail"]


async def test_the_token_may_come_in_a_cookie(
    shop: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    token = admin["authorization"].removeprefix("Bearer ")
    shop.cookies.set("shop_token", token)
    try:
        listed = await shop.get("/orders/orders")
    finally:
        shop.cookies.clear()
    assert listed.status_code == 200


async def test_the_actor_reaches_the_handler(connect: Connect) -> None:
    class WhoAmI(Command):
        pass

    seen: list[object] = []
    who = Domain("who")

    @who.command(WhoAmI)
    async def whoami(cmd: WhoAmI, ctx: Context) -> None:
        seen.append(ctx.actor)

    async def resolve(request: object) -> Actor:
        return Actor(id="ada", permissions=frozenset({"x"}))

    api = glue.http.asgi(App([who]), auth=resolve)
    async with api.lifespan(), connect(api) as http:
        assert (await http.post("/who:who-am-i")).status_code == 200
    assert seen == [Actor(id="ada", permissions=frozenset({"x"}))]


def test_tokens_verify_their_signature_and_expiry() -> None:
    now = [1000.0]
    tokens = Tokens("s3cret", clock=lambda: now[0])
    token = tokens.issue("ada", ["orders:read"], ttl=60)
    assert tokens.verify(token) == Actor(
        id="ada", permissions=frozenset({"orders:read"})
    )
    signature = token.partition(".")[2]
    tampered = Tokens("s3cret").issue("ada", ["orders:admin"]).partition(".")[0]
    with pytest.raises(Unauthenticated, match="signature does not verify"):
        tokens.verify(f"{tampered}.{signature}")
    with pytest.raises(Unauthenticated, match="malformed"):
        tokens.verify("garbage")
    now[0] += 61
    with pytest.raises(Unauthenticated, match="expired"):
        tokens.verify(token)


def test_the_secret_comes_from_the_environment(
    capsys: pytest.CaptureFixture[str],
) -> None:
    token = tokens_from_env({"SHOP_TOKEN_SECRET": "abc"}).issue("ada")
    Tokens("abc").verify(token)
    with pytest.raises(Unauthenticated):
        Tokens(DEV_SECRET).verify(token)
    assert main(["ada", "orders:read"]) == 0
    printed = capsys.readouterr().out.strip()
    assert tokens_from_env({}).verify(printed).permissions == {"orders:read"}
