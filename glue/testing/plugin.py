"""pytest fixtures for real databases: ``pytest_plugins = ["glue.testing.plugin"]``.

- ``postgres_server`` (session): a server's DSN, from
  :func:`~glue.testing.find_postgres`, else a throwaway server;
- ``postgres_2pc_server`` (session): a server that allows prepared transactions;
- ``postgres_dsn``: a fresh database for this test, dropped afterwards;
- ``throwaway_postgres``: a server of this test's own;
- ``sqlite_path``: a SQLite file path in ``tmp_path``;
- ``database_url``: runs the test once per database (ids ``sqlite``, ``postgres``).

Tests that use a server are marked ``postgres``. When no server can be had
they skip with the reason, except under ``CI=true``, where they fail.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn, TypeVar

import pytest

from .postgres import (
    PostgresUnavailable,
    ThrowawayPostgres,
    find_postgres,
    fresh_database,
    prepared_transactions,
)

if TYPE_CHECKING:
    from collections.abc import Iterator

S = TypeVar("S", bound=ThrowawayPostgres)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test that uses a PostgreSQL server with ``postgres``."""
    for item in items:
        names = getattr(item, "fixturenames", ())
        if "postgres_server" in names or "postgres_2pc_server" in names:
            item.add_marker(pytest.mark.postgres)


def unavailable(reason: object) -> NoReturn:
    """Skip, or under CI fail: a PostgreSQL test never silently skips there."""
    if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
        pytest.fail(f"PostgreSQL needed under CI: {reason}", pytrace=False)
    pytest.skip(f"no PostgreSQL server: {reason}")


def started(server: S) -> Iterator[S]:
    """Start ``server`` (skip, or under CI fail, when it cannot), yield it, stop it."""
    try:
        server.start()
    except PostgresUnavailable as exc:
        unavailable(exc)
    try:
        yield server
    finally:
        server.stop()


def throwaway(settings: dict[str, str] | None = None) -> Iterator[str]:
    """Start a server of our own with ``settings``, yield its DSN, stop it."""
    for server in started(ThrowawayPostgres(settings)):
        assert server.dsn is not None
        yield server.dsn


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """The DSN of a PostgreSQL server (its ``postgres`` database) for this session."""
    try:
        found = find_postgres()
    except PostgresUnavailable as exc:
        unavailable(exc)
    if found is not None:
        yield found
    else:
        yield from throwaway()


@pytest.fixture(scope="session")
def postgres_2pc_server(postgres_server: str) -> Iterator[str]:
    """A server whose ``max_prepared_transactions`` is above 0: ``postgres_server``
    when it is, else a throwaway one with ``max_prepared_transactions=10``."""
    if prepared_transactions(postgres_server) > 0:
        yield postgres_server
    else:
        yield from throwaway()


@pytest.fixture
def throwaway_postgres() -> Iterator[str]:
    """A PostgreSQL server of this test's own; yields its DSN."""
    yield from throwaway()


@pytest.fixture
def postgres_dsn(postgres_server: str) -> Iterator[str]:
    """A fresh, empty PostgreSQL database for this test, dropped afterwards."""
    with fresh_database(postgres_server) as dsn:
        yield dsn


@pytest.fixture
def sqlite_path(tmp_path: Path) -> Path:
    """A path for a SQLite database file in this test's ``tmp_path``."""
    return tmp_path / "test.sqlite"


@pytest.fixture(
    params=[
        pytest.param("sqlite_path", id="sqlite"),
        pytest.param("postgres_dsn", id="postgres", marks=pytest.mark.postgres),
    ]
)
def database_url(request: pytest.FixtureRequest) -> str:
    """A database URL, once for SQLite (a file in tmp_path) and once for PostgreSQL."""
    found: str | Path = request.getfixturevalue(request.param)
    return f"sqlite:///{found}" if isinstance(found, Path) else found
