"""The shop on SQLite and PostgreSQL, for the compiler's tests."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from glue.connections import pool_from_url

from .shop import Both, fill

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path


@pytest.fixture
async def both(sqlite_path: Path, postgres_dsn: str) -> AsyncIterator[Both]:
    """The shop on both databases."""
    async with (
        pool_from_url(f"sqlite:///{sqlite_path}", name="lite") as sqlite,
        pool_from_url(postgres_dsn, name="pg", max_size=2) as postgres,
    ):
        await fill(sqlite)
        await fill(postgres)
        yield Both(sqlite, postgres)
