"""Fixtures for the connection tests: an open pool per database, and fault helpers."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import pytest

from glue.connections import PostgresConnection, SqliteConnection, pool_from_url

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable

    from glue.connections import Connection, DefaultConnectionPool


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[DefaultConnectionPool]:
    """An open pool of at most 5 connections, on SQLite and on PostgreSQL."""
    async with pool_from_url(database_url, name="shop", max_size=5) as opened:
        yield opened


@pytest.fixture
def sql(database_url: str) -> Callable[[str], str]:
    """Rewrite ``?`` placeholders as ``$1, $2, ...`` when the database is PostgreSQL."""

    def rewrite(text: str) -> str:
        if database_url.startswith("sqlite"):
            return text
        count = iter(range(1, text.count("?") + 1))
        return re.sub(r"\?", lambda _: f"${next(count)}", text)

    return rewrite


@pytest.fixture
def kill(database_url: str) -> Callable[[Connection], Awaitable[None]]:
    """Kill a connection from outside, as a server restart or crash would.

    PostgreSQL: ``pg_terminate_backend`` from another connection. SQLite: close
    the underlying aiosqlite connection behind glue's back.
    """

    async def kill_it(conn: Connection) -> None:
        if isinstance(conn, SqliteConnection):
            await conn._raw.close()
            return
        assert isinstance(conn, PostgresConnection)
        pid = (await conn.fetch("SELECT pg_backend_pid()")).rows[0][0]
        other = await PostgresConnection.connect(database_url)
        try:
            await other.execute("SELECT pg_terminate_backend($1)", (pid,))
        finally:
            await other.aclose()

    return kill_it
