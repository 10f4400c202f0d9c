"""The seed's style: init_default_containers(), Container, the Async* aliases."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

import pytest

import glue.connections as connections
from glue.connections import (
    AsyncConnectionManager,
    ConnectionManager,
    Container,
    DefaultConnectionPool,
    SqliteConnection,
    init_default_containers,
)
from glue.errors import ConfigurationError

if TYPE_CHECKING:
    from pathlib import Path


async def test_the_seed_style_works(tmp_path: Path) -> None:
    init_default_containers()
    manager = Container.managers.get(ConnectionManager)
    assert Container.managers.get(AsyncConnectionManager) is manager
    manager.register_connection_pool(
        DefaultConnectionPool(SqliteConnection, db_path=tmp_path / "customers.sqlite")
    )
    try:
        async with manager.get_connection_pool("customers").acquire() as conn:
            assert (await conn.fetch("SELECT 1")).rows == [(1,)]
    finally:
        await manager.disconnect_all()


def test_init_default_containers_starts_over() -> None:
    init_default_containers()
    first = Container.managers.get(ConnectionManager)
    init_default_containers()
    assert Container.managers.get(ConnectionManager) is not first


def test_registries_explain_what_is_missing_and_build_lazily() -> None:
    with pytest.raises(ConfigurationError, match="no ConnectionManager in Container"):
        Container.managers.get(ConnectionManager)
    built: list[ConnectionManager] = []

    def factory() -> ConnectionManager:
        built.append(ConnectionManager())
        return built[-1]

    Container.services.register_factory(ConnectionManager, factory)
    assert ConnectionManager in Container.services
    assert built == []
    assert Container.services.get(ConnectionManager) is Container.services.get(
        ConnectionManager
    )
    assert len(built) == 1


def test_a_factory_that_fails_reports_its_own_error_each_time() -> None:
    attempts: list[int] = []

    def factory() -> ConnectionManager:
        attempts.append(1)
        if len(attempts) < 3:
            raise ConfigurationError("the database is not configured yet")
        return ConnectionManager()

    Container.services.register_factory(ConnectionManager, factory)
    for _ in range(2):
        with pytest.raises(ConfigurationError, match="not configured yet"):
            Container.services.get(ConnectionManager)
    manager = Container.services.get(ConnectionManager)
    assert Container.services.get(ConnectionManager) is manager
    assert len(attempts) == 3


def test_async_aliases_name_the_same_classes() -> None:
    assert connections.AsyncConnectionManager is connections.ConnectionManager
    assert connections.DefaultAsyncConnectionPool is connections.DefaultConnectionPool
    assert connections.AsyncSqliteConnection is connections.SqliteConnection
    assert connections.AsyncPostgresConnection is connections.PostgresConnection


@pytest.mark.parametrize(
    "module",
    [
        "",
        ".abc",
        ".containers",
        ".manager",
        ".pool",
        ".postgres",
        ".sqlite",
        ".streams",
        ".urls",
    ],
)
def test_all_is_sorted_and_lists_what_the_module_defines(module: str) -> None:
    namespace = importlib.import_module(f"glue.connections{module}")
    assert namespace.__all__ == sorted(namespace.__all__)
    for name in namespace.__all__:
        assert hasattr(namespace, name), name
