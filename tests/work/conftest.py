"""Fixtures for the unit-of-work tests: a connection manager with the test tables."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from glue.connections import ConnectionManager

from .tables import create_tables

if TYPE_CHECKING:
    from collections.abc import AsyncIterator


@pytest.fixture
async def manager(database_url: str) -> AsyncIterator[ConnectionManager]:
    """An open manager whose default pool holds every test table."""
    async with ConnectionManager.from_urls(
        {"default": database_url}, max_size=8
    ) as opened:
        await create_tables(opened.get_connection_pool())
        yield opened
