"""Helpers for testing glue applications, used by glue's own suite too.

- :func:`memory_app`: an App whose every database is a private in-memory
  SQLite with the domains' tables created: a test needs no file and no server.
- :func:`emitted` and :func:`assert_emitted`: the events of an
  :class:`~glue.Outcome` (from ``app.bus.execute``), by type or in order.
- PostgreSQL for tests: :func:`find_postgres` (a server from
  ``GLUE_TEST_POSTGRES_DSN``, else one on 127.0.0.1:5432), :class:`ThrowawayPostgres`
  (a server of the test's own, in a temporary directory) and
  :func:`fresh_database` (an empty database, dropped afterwards). The pytest
  plugin :mod:`glue.testing.plugin` turns them into fixtures: add
  ``pytest_plugins = ["glue.testing.plugin"]`` to a ``conftest.py``.
"""

from .apps import memory_app
from .outcomes import assert_emitted, emitted
from .postgres import (
    PostgresUnavailable,
    ThrowawayPostgres,
    find_postgres,
    free_port,
    fresh_database,
    with_database,
)

__all__ = [
    "PostgresUnavailable",
    "ThrowawayPostgres",
    "assert_emitted",
    "emitted",
    "find_postgres",
    "free_port",
    "fresh_database",
    "memory_app",
    "with_database",
]
