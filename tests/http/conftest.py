"""Fixtures for the HTTP front: the shop's HttpApp over httpx's ASGI transport,
on SQLite files and on SQLite + PostgreSQL (orders there), and tokens to call it with.

This folder has no ``__init__.py``: as a package named ``http`` it would hide
the standard library's ``http`` from every test. Its test modules have names
no other folder uses.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import httpx
import pytest

from domains.shop.api import make_api
from domains.shop.app import make_app
from domains.shop.auth import tokens_from_env
from glue.outbox.status import drain

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable
    from pathlib import Path

    from glue import App

ADMIN_PERMISSIONS = ("orders:admin", "orders:read", "customers:read", "glue:query")


@pytest.fixture
def admin() -> dict[str, str]:
    """Headers with a token for an admin of the shop."""
    token = tokens_from_env().issue("root", ADMIN_PERMISSIONS)
    return {"authorization": f"Bearer {token}"}


@pytest.fixture
def reader() -> dict[str, str]:
    """Headers with a token for an actor who may read orders, nothing more."""
    token = tokens_from_env().issue("ada", ["orders:read"])
    return {"authorization": f"Bearer {token}"}


def client(api: Any) -> httpx.AsyncClient:
    """An httpx client calling the ASGI app ``api`` in this process."""
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=api), base_url="http://shop.test"
    )


@pytest.fixture
def connect() -> Callable[[Any], httpx.AsyncClient]:
    """``connect(api)``: an httpx client calling an ASGI app in this process."""
    return client


@pytest.fixture(
    params=["sqlite", pytest.param("sqlite+postgres", marks=pytest.mark.postgres)]
)
def shop_databases(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, str]:
    """The shop's databases: a SQLite file per domain, or SQLite files with
    orders on PostgreSQL. The customers' file is the default database too,
    where a query of a table no domain declares goes (and fails as a 400)."""
    databases = {
        name: f"sqlite:///{tmp_path / f'{name}.sqlite'}"
        for name in ("default", "inventory", "orders")
    }
    if request.param == "sqlite+postgres":
        databases["orders"] = request.getfixturevalue("postgres_dsn")
    return databases


@pytest.fixture
async def shop_app(shop_databases: dict[str, str]) -> App:
    """The shop's App (not open), its subscribers run in this process."""
    return make_app(shop_databases, delivery="in-process")


@pytest.fixture
async def shop(shop_app: App) -> AsyncIterator[httpx.AsyncClient]:
    """The shop's HTTP front, open, with customer 1 (Ada), known to the orders
    domain, and 10 APL-001."""
    api = make_api(shop_app)
    async with api.lifespan(), client(api) as http:
        registered = await http.post(
            "/customers:register-customer",
            json={"name": "Ada", "email": "ada@example.org"},
        )
        assert registered.json() == {"customer_id": 1}
        await http.post("/inventory:restock", json={"sku": "APL-001", "quantity": 10})
        await drain(shop_app)
        yield http
