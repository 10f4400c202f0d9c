"""Pool options (#11): given as a URL's query, a mapping or a `Database`, through
``App(databases=...)`` and `ConnectionManager.from_urls`, they reach real pools
on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import msgspec
import pytest

from glue import App
from glue.connections import ConnectionManager, Database, PoolOptions, pool_from_url
from glue.errors import (
    ConfigurationError,
    ConnectionError,
    OperationalError,
    PoolTimeout,
)

if TYPE_CHECKING:
    from pathlib import Path

    from glue.connections import ConnectionPool


def _with_query(url: str, query: str) -> str:
    return f"{url}{'&' if '?' in url else '?'}{query}"


def _forms(url: str) -> dict[str, Any]:
    """The one database three ways: max_size 2, acquire_timeout 0.05 s."""
    return {
        "query": _with_query(url, "max_size=2&acquire_timeout=0.05"),
        "mapping": {"url": url, "max_size": 2, "acquire_timeout": 0.05},
        "database": Database(url=url, max_size=2, acquire_timeout=0.05),
    }


@pytest.mark.parametrize("form", ["query", "mapping", "database"])
async def test_pool_options_reach_the_pool(database_url: str, form: str) -> None:
    async with App([], databases={"orders": _forms(database_url)[form]}) as app:
        pool = app.connections.get_connection_pool("orders")
        assert pool.statistics().max_size == 2
        async with pool.acquire(write=True), pool.acquire():
            # Both connections are out: the next acquire waits 0.05 s, not 30.
            with pytest.raises(PoolTimeout, match=r"'orders'.*within 0\.05 s"):
                async with pool.acquire(write=True):
                    pass


async def test_the_manager_s_options_are_defaults_each_database_overrides(
    tmp_path: Path,
) -> None:
    manager = ConnectionManager.from_urls(
        {
            "default": f"sqlite:///{tmp_path / 'a.db'}",
            "orders": {"url": f"sqlite:///{tmp_path / 'b.db'}", "max_size": 3},
            "stock": f"sqlite:///{tmp_path / 'c.db'}?max_size=4",
        },
        max_size=2,
    )
    async with manager:
        sizes = {n: p.statistics().max_size for n, p in manager.pools.items()}
    assert sizes == {"default": 2, "orders": 3, "stock": 4}


async def _setting(pool: ConnectionPool, sql: str) -> Any:
    async with pool.acquire() as conn:
        return (await conn.fetch(sql)).rows[0][0]


async def test_lock_timeout_is_sqlite_s_busy_timeout(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'shop.db'}"
    async with App([], databases={"default": {"url": url, "lock_timeout": 1.5}}) as app:
        pool = app.connections.get_connection_pool()
        assert await _setting(pool, "PRAGMA busy_timeout") == 1500


async def test_sqlite_has_no_statement_timeout(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'shop.db'}"
    with pytest.raises(ConfigurationError) as caught:
        ConnectionManager.from_urls({"orders": {"url": url, "statement_timeout": 5}})
    assert str(caught.value) == (
        "database 'orders': SQLite has no statement_timeout; give the query a "
        "timeout (app.query(..., timeout=)) or the dispatch a deadline instead"
    )


@pytest.mark.postgres
async def test_postgres_timeouts_are_server_settings(postgres_dsn: str) -> None:
    options = {"url": postgres_dsn, "lock_timeout": 1.5, "statement_timeout": 0.05}
    async with App([], databases={"default": options}) as app:
        pool = app.connections.get_connection_pool()
        assert await _setting(pool, "SHOW lock_timeout") == "1500ms"
        assert await _setting(pool, "SHOW statement_timeout") == "50ms"
        with pytest.raises(OperationalError, match="statement timeout"):
            await _setting(pool, "SELECT pg_sleep(30)")


@pytest.mark.postgres
async def test_other_query_parameters_stay_the_driver_s(postgres_dsn: str) -> None:
    # asyncpg sends a parameter it does not know as a server setting.
    url = _with_query(postgres_dsn, "max_size=3&application_name=glue-test")
    async with App([], databases={"default": url}) as app:
        pool = app.connections.get_connection_pool()
        assert pool.statistics().max_size == 3
        assert await _setting(pool, "SHOW application_name") == "glue-test"


def test_a_database_moves_pool_options_out_of_its_url() -> None:
    found = Database(url="postgresql://app:pw@db/orders?sslmode=disable&max_size=3")
    assert found.url == "postgresql://app:pw@db/orders?sslmode=disable"
    assert found.given() == {"max_size": 3}
    assert Database(url="sqlite:///shop.db?min_size=0").url == "sqlite:///shop.db"
    assert msgspec.convert({"url": "sqlite:///a.db?max_size=2"}, Database) == (
        Database(url="sqlite:///a.db", max_size=2)
    )


def test_options_left_unset_keep_the_pool_s_defaults() -> None:
    assert PoolOptions().given() == {}
    assert PoolOptions(acquire_timeout=None).given() == {"acquire_timeout": None}


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (
            {"url": "sqlite:///a.db", "max_sise": 3},
            "database 'orders': Object contains unknown field `max_sise`",
        ),
        (
            {"url": "sqlite:///a.db", "max_size": 0},
            "database 'orders': max_size: Expected `int` >= 1",
        ),
        (
            {"url": "sqlite:///a.db", "acquire_timeout": "soon"},
            "database 'orders': acquire_timeout: Expected `float | null`, got `str`",
        ),
        ({"max_size": 3}, "database 'orders': Object missing required field `url`"),
        (
            "sqlite:///a.db?max_size=ten",
            "database 'orders': url: max_size='ten' in the URL's query: Expected "
            "`int`, got `str`",
        ),
        (
            {"url": "sqlite:///a.db?max_size=2", "max_size": 3},
            "database 'orders': url: max_size=2 in the URL's query disagrees with "
            "max_size=3 beside it; give it once",
        ),
    ],
)
def test_bad_options_fail_when_the_app_is_built(value: Any, message: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        App([], databases={"orders": value})
    assert str(caught.value) == message


def test_pool_from_url_reads_the_query_too(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'a.db'}?max_size=2"
    assert pool_from_url(url).statistics().max_size == 2
    with pytest.raises(ConfigurationError, match="disagrees with max_size=3"):
        pool_from_url(url, name="a", max_size=3)
    with pytest.raises(ConnectionError, match="cannot use"):
        pool_from_url(f"sqlite:///{tmp_path / 'a.db'}?mode=ro")


def test_a_database_built_by_hand_with_no_url_string() -> None:
    with pytest.raises(ConfigurationError, match="url: expected a str, got int"):
        Database(url=5)  # type: ignore[arg-type]
