"""Fixtures every test may use: real SQLite files and a real PostgreSQL server.

They come from glue's own pytest plugin, :mod:`glue.testing.plugin`
(``postgres_server``, ``postgres_2pc_server``, ``postgres_dsn``,
``throwaway_postgres``, ``sqlite_path``, ``database_url``); DEVELOPERS.md says
how the server is found or started.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from glue.connections import Container

if TYPE_CHECKING:
    from collections.abc import Iterator

pytest_plugins = ["glue.testing.plugin"]


@pytest.fixture(autouse=True)
def _reset_containers() -> Iterator[None]:
    """Leave the global registries as each test found them: empty."""
    yield
    Container.managers.clear()
    Container.services.clear()
