"""Fixtures every test may use: real SQLite files and a real PostgreSQL server.

They come from glue's own pytest plugin, :mod:`glue.testing.plugin`
(``postgres_server``, ``postgres_2pc_server``, ``postgres_dsn``,
``throwaway_postgres``, ``sqlite_path``, ``database_url``); DEVELOPERS.md says
how the server is found or started.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import pytest
import structlog

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


@pytest.fixture(autouse=True)
def _logging_as_found() -> Iterator[None]:
    """Each test starts with structlog's defaults and no bound context
    variables, and leaves the standard logging setup as it found it: ``glue``
    run in-process (:func:`glue.log.configure`) adds a handler writing to the
    test's captured stderr, closed once the test ends."""
    root, glue = logging.getLogger(), logging.getLogger("glue")
    handlers, levels = root.handlers[:], (root.level, glue.level)
    structlog.reset_defaults()
    structlog.contextvars.clear_contextvars()
    yield
    structlog.reset_defaults()
    structlog.contextvars.clear_contextvars()
    root.handlers[:] = handlers
    root.setLevel(levels[0])
    glue.setLevel(levels[1])
