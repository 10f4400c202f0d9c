"""Fixtures for the unit-of-work tests: a connection manager with the test tables."""

from __future__ import annotations

import asyncio
import uuid
from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from glue.connections import ConnectionManager

from .tables import create_tables

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterator
    from pathlib import Path


@pytest.fixture
async def manager(database_url: str) -> AsyncIterator[ConnectionManager]:
    """An open manager whose default pool holds every test table."""
    async with ConnectionManager.from_urls(
        {"default": database_url}, max_size=8
    ) as opened:
        await create_tables(opened.get_connection_pool())
        yield opened


@pytest.fixture
def second_postgres(postgres_server: str) -> Iterator[str]:
    """Another fresh PostgreSQL database on the same server, dropped afterwards."""
    name = f"glue_test_{uuid.uuid4().hex[:12]}"
    asyncio.run(_admin(postgres_server, f'CREATE DATABASE "{name}"'))
    try:
        yield urlunsplit(urlsplit(postgres_server)._replace(path=f"/{name}"))
    finally:
        asyncio.run(
            _admin(postgres_server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        )


@pytest.fixture
def two_phase_urls(postgres_2pc_server: str) -> Iterator[tuple[str, str]]:
    """Two fresh databases on a server that allows prepared transactions.

    Afterwards, prepared transactions a test left in them are rolled back (a
    database holding one cannot be dropped), then both are dropped.
    """
    names = [f"glue_test_{uuid.uuid4().hex[:12]}" for _ in range(2)]
    for name in names:
        asyncio.run(_admin(postgres_2pc_server, f'CREATE DATABASE "{name}"'))
    try:
        yield (
            urlunsplit(urlsplit(postgres_2pc_server)._replace(path=f"/{names[0]}")),
            urlunsplit(urlsplit(postgres_2pc_server)._replace(path=f"/{names[1]}")),
        )
    finally:
        for name in names:
            asyncio.run(_drop_with_prepared(postgres_2pc_server, name))


async def _admin(dsn: str, sql: str) -> None:
    conn = await asyncpg.connect(dsn, timeout=10)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def _drop_with_prepared(server: str, name: str) -> None:
    await _admin(server, f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
    conn = await asyncpg.connect(
        urlunsplit(urlsplit(server)._replace(path=f"/{name}")), timeout=10
    )
    try:
        for record in await conn.fetch(
            "SELECT gid FROM pg_prepared_xacts WHERE database = current_database()"
        ):
            await conn.execute(f"ROLLBACK PREPARED '{record['gid']}'")
    finally:
        await conn.close()
    await _admin(server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite+sqlite", "postgres+sqlite", "postgres+postgres"])
def two_urls(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, str]:
    """URLs of two databases: the first holds orders, the second counters."""
    first, second = request.param.split("+")
    urls = []
    for i, kind in enumerate((first, second)):
        if kind == "sqlite":
            urls.append(f"sqlite:///{tmp_path / f'db{i}.sqlite'}")
        elif i == 0:
            urls.append(request.getfixturevalue("postgres_dsn"))
        else:
            urls.append(request.getfixturevalue("second_postgres"))
    return urls[0], urls[1]
