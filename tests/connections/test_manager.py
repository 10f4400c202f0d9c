"""ConnectionManager: routing schema names to pools, URLs, startup errors, closing."""

from __future__ import annotations

import socket
from typing import TYPE_CHECKING

import pytest

from glue.connections import (
    ConnectionManager,
    DefaultConnectionPool,
    SqliteConnection,
    pool_from_url,
)
from glue.errors import ConfigurationError, ConnectionError, GlueError, PoolClosed

if TYPE_CHECKING:
    from pathlib import Path


def _pool(path: Path, name: str) -> DefaultConnectionPool:
    return DefaultConnectionPool(
        SqliteConnection, name=name, db_path=path / f"{name}.db"
    )


def test_names_fall_back_to_the_default_pool(tmp_path: Path) -> None:
    manager = ConnectionManager()
    default, orders = _pool(tmp_path, "shop"), _pool(tmp_path, "orders")
    manager.register_connection_pool(default)
    manager.register_connection_pool(orders, "orders")
    assert manager.get_connection_pool("orders") is orders
    assert manager.get_connection_pool("customers") is default
    assert manager.get_connection_pool() is default
    assert manager.pools == {"default": default, "orders": orders}
    assert manager.unregister_connection_pool("orders") is orders
    assert manager.get_connection_pool("orders") is default


def test_registration_mistakes_are_clear(tmp_path: Path) -> None:
    manager = ConnectionManager()
    orders = _pool(tmp_path, "orders")
    with pytest.raises(ConfigurationError, match="no connection pool for schema 'x'"):
        manager.get_connection_pool("x")
    manager.register_connection_pool(orders, schema_name="orders")
    with pytest.raises(ConfigurationError, match="already has pool 'orders'"):
        manager.register_connection_pool(_pool(tmp_path, "other"), "orders")
    with pytest.raises(ConfigurationError, match="'customers'"):
        manager.unregister_connection_pool("customers")


async def test_a_taken_name_says_how_to_replace_and_replace_swaps_it(
    tmp_path: Path,
) -> None:
    manager = ConnectionManager()
    first, second = _pool(tmp_path, "first"), _pool(tmp_path, "second")
    assert manager.register_connection_pool(first) is None
    manager.register_connection_pool(first)  # the same pool again changes nothing
    with pytest.raises(ConfigurationError) as caught:
        manager.register_connection_pool(second)
    assert str(caught.value) == (
        "schema 'default' already has pool 'first'; to swap it for 'second', call "
        "register_connection_pool(pool, replace=True), which returns the old pool "
        "for you to close"
    )
    with pytest.raises(ConfigurationError, match=r"\(pool, 'orders', replace=True\)"):
        manager.register_connection_pool(first, "orders")
        manager.register_connection_pool(second, "orders")
    assert manager.get_connection_pool() is first
    assert manager.register_connection_pool(second, replace=True) is first
    assert manager.register_connection_pool(second, "new", replace=True) is None
    assert manager.get_connection_pool() is second
    assert manager.get_connection_pool("orders") is first
    async with manager:
        async with manager.get_connection_pool("customers").acquire() as conn:
            assert (await conn.fetch("SELECT 1")).rows == [(1,)]


async def test_async_with_opens_and_closes_every_pool_once(tmp_path: Path) -> None:
    shared = _pool(tmp_path, "shop")
    manager = ConnectionManager()
    manager.register_connection_pool(shared)
    manager.register_connection_pool(shared, "customers")
    async with manager:
        assert shared.statistics().size == 1
        async with manager.get_connection_pool("customers").acquire() as conn:
            assert (await conn.fetch("SELECT 1")).rows == [(1,)]
    with pytest.raises(PoolClosed):
        await shared.open()
    await manager.aclose()  # closing twice does nothing
    await manager.disconnect_all()


async def test_from_urls_builds_one_pool_per_name(
    tmp_path: Path, postgres_dsn: str
) -> None:
    manager = ConnectionManager.from_urls(
        {"default": f"sqlite:///{tmp_path}/shop.db", "orders": postgres_dsn},
        max_size=3,
    )
    async with manager:
        shop, orders = (
            manager.get_connection_pool(),
            manager.get_connection_pool("orders"),
        )
        assert (shop.name, shop.dialect.name) == ("default", "sqlite")
        assert (orders.name, orders.dialect.name) == ("orders", "postgres")
        assert orders.statistics().max_size == 3
        for pool in (shop, orders):
            async with pool.acquire(write=True) as conn:
                assert (await conn.fetch("SELECT 1")).rows == [(1,)]
    assert (tmp_path / "shop.db").exists()


def test_sqlite_urls_relative_absolute_and_memory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    relative = pool_from_url("sqlite:///data/shop.db")
    absolute = pool_from_url(f"sqlite:///{tmp_path}/abs.db")
    memory = pool_from_url("sqlite:///:memory:")
    assert relative.location == str(tmp_path / "data" / "shop.db")
    assert absolute.location == str(tmp_path / "abs.db")
    assert (relative.name, memory.name) == ("shop.db", "memory")
    assert memory.statistics().max_size == 1
    with pytest.raises(ConfigurationError, match="max_size must be 1"):
        pool_from_url("sqlite:///:memory:", max_size=4)


@pytest.mark.parametrize(
    "url",
    ["mysql://root:hunter2@db/shop", "sqlite://host/shop.db", "sqlite://", "shop.db"],
)
def test_bad_urls_raise_connection_error_naming_the_database(url: str) -> None:
    with pytest.raises(ConnectionError) as caught:
        ConnectionManager.from_urls({"orders": url})
    assert caught.value.database == "orders"
    assert isinstance(caught.value, GlueError)
    assert "hunter2" not in str(caught.value)


async def test_a_missing_sqlite_directory_fails_at_startup(tmp_path: Path) -> None:
    manager = ConnectionManager.from_urls(
        {"shop": f"sqlite:///{tmp_path}/nope/shop.db"}
    )
    with pytest.raises(ConnectionError) as caught:
        async with manager:
            pass
    assert caught.value.database == "shop"
    assert f"{tmp_path}/nope" in str(caught.value)


async def test_wrong_postgres_credentials_fail_at_startup_without_the_password(
    postgres_dsn: str,
) -> None:
    dsn = postgres_dsn.replace("postgres@", "no_such_role:s3cret@", 1)
    manager = ConnectionManager.from_urls({"orders": dsn})
    with pytest.raises(ConnectionError) as caught:
        async with manager:
            pass
    message = str(caught.value)
    assert caught.value.database == "orders"
    assert "no_such_role@" in message
    assert "s3cret" not in message
    assert 'role "no_such_role" does not exist' in message


async def test_an_unreachable_server_fails_at_startup(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    manager = ConnectionManager.from_urls(
        {
            "default": f"sqlite:///{tmp_path}/shop.db",
            "orders": f"postgresql://postgres:pw@127.0.0.1:{port}/shop",
        }
    )
    with pytest.raises(ConnectionError, match=f"127.0.0.1:{port}") as caught:
        await manager.open()
    assert caught.value.database == "orders"
    assert "pw@" not in str(caught.value)
    # The pool opened before the failure was closed again.
    with pytest.raises(PoolClosed):
        await manager.get_connection_pool().open()
