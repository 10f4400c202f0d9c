"""Database URLs to pools: ``sqlite:///shop.db``, ``postgresql://user@host/db``.

===========================  ===============================================
URL                          database
===========================  ===============================================
``sqlite:///shop.db``        ``shop.db``, relative to the working directory
``sqlite:////var/shop.db``   the absolute path ``/var/shop.db``
``sqlite:///:memory:``       a private in-memory database, in one connection
``postgresql://...``         PostgreSQL (``postgres://`` works too); the URL
                             goes to asyncpg as it is
===========================  ===============================================
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from ..errors import ConnectionError
from .options import driver_options
from .pool import DefaultConnectionPool
from .postgres import PostgresConnection, redact_dsn
from .sqlite import SqliteConnection

__all__ = ["pool_from_url"]

_POSTGRES_SCHEMES = frozenset({"postgresql", "postgres"})


def pool_from_url(
    url: str, *, name: str | None = None, **options: Any
) -> DefaultConnectionPool:
    """Build a pool (not yet open) from a database URL.

    Args:
        url: ``sqlite:///relative.db``, ``sqlite:////absolute.db``,
            ``sqlite:///:memory:``, ``postgresql://`` or ``postgres://``.
        name: the pool's name in messages; by default the file or database name.
        **options: for `DefaultConnectionPool` (``min_size``, ``max_size``,
            ``acquire_timeout``), ``lock_timeout`` and ``statement_timeout``
            (see `glue.connections.options`; the query may carry the first
            three too), and the driver.

    Raises:
        glue.ConnectionError: the URL cannot be read, its scheme is unknown, or
            it names no database; the message shows it without its password.
        glue.ConfigurationError: a pool option that cannot work.
    """
    url, options = driver_options(url, name, options)
    label = name or "database"
    shown = redact_dsn(url)
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  # raises for a port that is no number, or out of range
    except ValueError:
        # Not urllib's message: it can quote the URL (a password read as a port).
        raise ConnectionError(
            label, f"cannot read the URL {shown!r}: its host or port is malformed"
        ) from None
    scheme = parts.scheme.lower()
    if scheme == "sqlite":
        if parts.netloc or parts.query or len(parts.path) < 2:
            raise ConnectionError(
                label,
                f"cannot use {shown!r}: write sqlite:///relative.db, "
                "sqlite:////absolute/path.db or sqlite:///:memory:",
            )
        return DefaultConnectionPool(
            SqliteConnection, name=name, db_path=parts.path[1:], **options
        )
    if scheme in _POSTGRES_SCHEMES:
        return DefaultConnectionPool(PostgresConnection, name=name, dsn=url, **options)
    raise ConnectionError(
        label,
        f"unknown database URL scheme {parts.scheme!r} in {shown!r}: use sqlite:/// "
        "or postgresql://",
    )
