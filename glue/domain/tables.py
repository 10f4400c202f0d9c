"""A domain's tables: where each lives, and the fence around them.

A domain declares the tables it uses and the database each is in::

    customers = shop.table(customers_schema)                    # "default"
    orders = shop.table(orders_schema, database="orders")

When the App opens, every declared table is routed to its database's pool, and
each domain gets a :class:`TableAccess`: the only way its units of work reach a
pool. Touching a table the domain did not declare, through ``ctx.state``, a
yielded mutation or a repository, raises :class:`glue.Forbidden` naming the
domain, the table and its database, before any SQL runs (E12).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import msgspec

from ..errors import Forbidden
from ..schema.model import Schema
from ..state.manager import StateManager
from ..work.unit import UnitOfWork

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from ..connections.abc import ConnectionPool
    from ..state.identity import Row
    from ..state.manager import Clock

__all__ = [
    "DEFAULT_DATABASE",
    "DomainState",
    "DomainUnit",
    "Exposure",
    "Table",
    "TableAccess",
]

DEFAULT_DATABASE = "default"
"""The database a table lives in unless its declaration names another."""


class Table(msgspec.Struct, frozen=True):
    """One table a domain declared (see :meth:`glue.Domain.table`).

    Attributes:
        schema: the table.
        database: the name of the database it lives in.
    """

    schema: Schema
    database: str = DEFAULT_DATABASE


class Exposure(msgspec.Struct, frozen=True, kw_only=True):
    """A table a domain lets clients read (see :meth:`glue.Domain.expose`).

    Attributes:
        schema: the table.
        fields: the columns clients may select, filter and order by.
        requires: the permissions a reader must hold.
    """

    schema: Schema
    fields: tuple[str, ...]
    requires: frozenset[str] = frozenset()


class TableAccess:
    """The tables one domain may touch, routed to their pools.

    Args:
        domain: the domain's name, for messages.
        pools: table name → pool, for every table the domain declared.
        databases: table name → database name, for every table the App knows
            (to say where an undeclared table lives).
    """

    __slots__ = ("_databases", "_pools", "domain")

    def __init__(
        self,
        domain: str,
        pools: Mapping[str, ConnectionPool],
        databases: Mapping[str, str],
    ) -> None:
        self.domain = domain
        self._pools = dict(pools)
        self._databases = dict(databases)

    def pool(self, table: str) -> ConnectionPool:
        """The pool of a declared table.

        Raises:
            glue.Forbidden: the domain did not declare ``table``.
        """
        try:
            return self._pools[table]
        except KeyError:
            raise self.forbidden(table) from None

    def check(self, schema: Schema) -> None:
        """Let a declared table through.

        Raises:
            glue.Forbidden: the domain did not declare the table.
        """
        if schema.name not in self._pools:
            raise self.forbidden(schema.name)

    def forbidden(self, table: str) -> Forbidden:
        """The error for touching ``table``, naming domain, table and database."""
        database = self._databases.get(table, DEFAULT_DATABASE)
        declared = ", ".join(sorted(self._pools)) or "none"
        return Forbidden(
            f"domain {self.domain!r} did not declare table {table!r} (database "
            f"{database!r}); its tables: {declared}. Declare it with "
            f"{self.domain}.table({table}, database={database!r})",
            missing=[table],
        )


class DomainState(StateManager):
    """A state manager that refuses tables its domain did not declare.

    Every method that names a table checks it first, so an undeclared table
    raises :class:`glue.Forbidden` where the handler touched it.
    """

    def __init__(self, access: TableAccess, **options: Any) -> None:
        super().__init__(**options)
        self._access = access

    async def get(self, schema: Schema, key: Any) -> Row | None:
        self._access.check(schema)
        return await super().get(schema, key)

    async def get_many(self, schema: Schema, keys: Iterable[Any]) -> list[Row | None]:
        self._access.check(schema)
        return await super().get_many(schema, keys)

    def track(self, schema: Schema, rows: Iterable[Mapping[str, Any]]) -> list[Row]:
        self._access.check(schema)
        return super().track(schema, rows)

    async def insert(self, schema: Schema, values: Mapping[str, Any]) -> Row:
        self._access.check(schema)
        return await super().insert(schema, values)

    async def insert_many(
        self, schema: Schema, rows: Iterable[Mapping[str, Any]]
    ) -> list[Row]:
        self._access.check(schema)
        return await super().insert_many(schema, rows)

    async def update(
        self,
        schema: Schema,
        key: Any,
        changes: Mapping[str, Any],
        *,
        etag: str | None = None,
    ) -> Row:
        self._access.check(schema)
        return await super().update(schema, key, changes, etag=etag)

    async def update_many(
        self, schema: Schema, changes: Iterable[tuple[Any, Mapping[str, Any]]]
    ) -> list[Row]:
        self._access.check(schema)
        return await super().update_many(schema, changes)

    async def delete(
        self, schema: Schema, key: Any, *, etag: str | None = None
    ) -> bool:
        self._access.check(schema)
        return await super().delete(schema, key, etag=etag)

    async def upsert(self, schema: Schema, values: Mapping[str, Any]) -> Row:
        self._access.check(schema)
        return await super().upsert(schema, values)


class DomainUnit(UnitOfWork):
    """A unit of work of one domain: its tables only, on their pools.

    The bus opens one per dispatch, when a handler first needs it. Every SQL
    path (reads, locks, repository queries, the commit's write plan) finds its
    pool through the domain's :class:`TableAccess`, and its state manager is a
    :class:`DomainState`.

    Args:
        access: the domain's tables and pools.
        actor: who is acting, stamped into audit columns.
    """

    def __init__(self, access: TableAccess, *, actor: str | None = None) -> None:
        self._access = access
        super().__init__(access.pool, actor=actor)

    def _new_state(self, actor: str | None, clock: Clock | None) -> StateManager:
        return DomainState(self._access, loader=self._load, actor=actor, clock=clock)
