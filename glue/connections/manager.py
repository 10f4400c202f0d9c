"""`ConnectionManager`: which pool serves which schema name, and their lifetime.

Tables are routed to databases by schema name. One pool is the default; names
registered explicitly (``"orders"``) get their own pool, and every other name
falls back to the default.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Self

import anyio

from ..errors import ConfigurationError, GlueError
from .options import database
from .urls import pool_from_url

if TYPE_CHECKING:
    from collections.abc import Mapping
    from types import TracebackType

    from .abc import ConnectionPool
    from .options import Database

__all__ = ["ConnectionManager", "DEFAULT"]

DEFAULT = "default"
"""The schema name under which the default pool is registered."""


class ConnectionManager:
    """Schema name → connection pool, with one default; closes every pool.

    ::

        manager = ConnectionManager()
        manager.register_connection_pool(shop_pool)  # the default
        manager.register_connection_pool(orders_pool, "orders")
        async with manager:
            pool = manager.get_connection_pool("orders")

    ``async with manager`` opens every pool (failing fast, naming the database
    that could not be reached) and closes them all on exit.
    """

    def __init__(self) -> None:
        """Start with no pools."""
        self._pools: dict[str, ConnectionPool] = {}

    @classmethod
    def from_urls(
        cls, urls: Mapping[str, str | Database | Mapping[str, Any]], **options: Any
    ) -> Self:
        """Build a manager with one pool per database, named by its key.

        Args:
            urls: schema name → database: a URL, a mapping with ``url`` and pool
                options, or a `Database` (see `glue.connections.options`); the
                ``"default"`` key is the default pool. See
                `glue.connections.urls` for the URL forms.
            **options: for every pool (``max_size``, ``acquire_timeout``, ...),
                unless its database sets them.

        Raises:
            glue.ConnectionError: a URL with an unknown scheme or no database.
            glue.ConfigurationError: pool options that cannot work, naming the
                database.
        """
        manager = cls()
        for name, value in urls.items():
            found = database(value, name=name)
            pool = pool_from_url(found.url, name=name, **{**options, **found.given()})
            manager.register_connection_pool(pool, name)
        return manager

    @property
    def pools(self) -> Mapping[str, ConnectionPool]:
        """The registered pools by schema name (the default under ``"default"``)."""
        return dict(self._pools)

    def register_connection_pool(
        self,
        pool: ConnectionPool,
        schema_name: str | None = None,
        *,
        replace: bool = False,
    ) -> ConnectionPool | None:
        """Register ``pool`` for a schema name, or as the default without one.

        One pool may serve several names; it is opened and closed once. A name
        that has a pool keeps it unless ``replace=True`` says to swap it (AMSDAL
        Glue swaps silently; glue asks, so that a second registration by mistake
        does not reroute tables).

        Args:
            pool: the pool.
            schema_name: the schema name it serves; None for the default pool.
            replace: swap the pool the name has, if any.

        Returns:
            the pool that was replaced, or None. It is left open and no longer
            closed by this manager: ``await old.aclose()`` when nothing else
            uses it.

        Raises:
            glue.ConfigurationError: the name already has a pool and ``replace``
                is False.
        """
        key = schema_name or DEFAULT
        old = self._pools.get(key)
        if old is not None and not replace and old is not pool:
            name = "" if schema_name is None else f", {schema_name!r}"
            raise ConfigurationError(
                f"schema {key!r} already has pool {old.name!r}; to swap it for "
                f"{pool.name!r}, call register_connection_pool(pool{name}, "
                "replace=True), which returns the old pool for you to close"
            )
        self._pools[key] = pool
        return None if old is pool else old

    def unregister_connection_pool(
        self, schema_name: str | None = None
    ) -> ConnectionPool:
        """Remove and return the pool of a schema name (the default without one).

        The pool stays open: close it yourself if nothing else uses it.

        Raises:
            glue.ConfigurationError: no pool is registered under that name.
        """
        key = schema_name or DEFAULT
        try:
            return self._pools.pop(key)
        except KeyError:
            raise ConfigurationError(
                f"no connection pool is registered for schema {key!r}"
            ) from None

    def get_connection_pool(self, schema_name: str | None = None) -> ConnectionPool:
        """Return the pool for a schema name, falling back to the default.

        Raises:
            glue.ConfigurationError: neither the name nor a default has a pool.
        """
        key = schema_name or DEFAULT
        pool = self._pools.get(key) or self._pools.get(DEFAULT)
        if pool is None:
            known = ", ".join(sorted(self._pools)) or "none"
            raise ConfigurationError(
                f"no connection pool for schema {key!r} and no default pool "
                f"(registered: {known}); call register_connection_pool(pool)"
            )
        return pool

    async def open(self) -> None:
        """Open every pool, in registration order.

        Raises:
            glue.ConnectionError: a database could not be reached; the pools
                opened before it are closed again.
        """
        opened: list[ConnectionPool] = []
        try:
            for pool in self._distinct():
                await pool.open()
                opened.append(pool)
        except BaseException:
            with anyio.CancelScope(shield=True):
                for pool in reversed(opened):
                    await pool.aclose()
            raise

    async def aclose(self, *, timeout: float | None = None) -> None:
        """Close every pool, each at most once. Closing twice does nothing.

        Args:
            timeout: how long each pool waits for its checked-out connections.

        Raises:
            glue.GlueError: the first pool that failed to close cleanly (all of
                them are closed regardless).
        """
        first: GlueError | None = None
        with anyio.CancelScope(shield=True):
            for pool in reversed(self._distinct()):
                try:
                    await pool.aclose(timeout=timeout)
                except GlueError as exc:
                    first = first or exc
        if first is not None:
            raise first

    async def disconnect_all(self) -> None:
        """Close every pool: the seed's name for `aclose`."""
        await self.aclose()

    def _distinct(self) -> list[ConnectionPool]:
        seen: dict[int, ConnectionPool] = {}
        for pool in self._pools.values():
            seen.setdefault(id(pool), pool)
        return list(seen.values())

    async def __aenter__(self) -> Self:
        await self.open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()
