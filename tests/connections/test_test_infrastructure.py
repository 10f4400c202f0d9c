"""The fixtures of tests/conftest.py: a throwaway PostgreSQL server, databases."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from glue.connections import PostgresConnection

if TYPE_CHECKING:
    from pathlib import Path


@pytest.mark.postgres
async def test_throwaway_server_starts_answers_and_stops(
    throwaway_postgres: str,
) -> None:
    conn = await PostgresConnection.connect(throwaway_postgres)
    try:
        result = await conn.fetch("SELECT current_user, inet_server_addr()::text")
    finally:
        await conn.aclose()
    assert result.rows[0][0] == "postgres"
    assert result.rows[0][1].startswith("127.0.0.1")


async def test_postgres_dsn_is_a_fresh_empty_database(postgres_dsn: str) -> None:
    conn = await PostgresConnection.connect(postgres_dsn)
    try:
        tables = await conn.fetch(
            "SELECT count(*) FROM information_schema.tables "
            "WHERE table_schema = 'public'"
        )
        name = await conn.fetch("SELECT current_database()")
    finally:
        await conn.aclose()
    assert tables.rows == [(0,)]
    assert name.rows[0][0].startswith("glue_test_")


def test_sqlite_path_is_inside_tmp_path(sqlite_path: Path, tmp_path: Path) -> None:
    assert sqlite_path.parent == tmp_path
    assert not sqlite_path.exists()
