"""A domain's tables: where each lives, and the fence around them.

A domain declares the tables it uses and the database each is in::

    customers = shop.table(customers_schema)                    # "default"
    orders = shop.table(orders_schema, database="orders")

When the App opens, every declared table is routed to its database's pool, and
each domain gets a :class:`TableAccess`: the only way its units of work reach a
pool. Touching a table the domain did not declare, through ``ctx.state``, a
yielded mutation or a repository, raises :class:`glue.Forbidden` naming the
domain, the table and its database, before any SQL runs (E12).

A command dispatched inside another's unit of work joins that unit (see
:mod:`glue.domain.bus`); while it runs, the fence is its own domain's
(:func:`fence`), and its tables join the unit's routes so that the commit
writes them.
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

import msgspec

from ..errors import Forbidden
from ..schema.model import Schema
from ..state.facts import TableFacts, facts_of
from ..state.manager import StateManager
from ..work.unit import UnitOfWork

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping, Sequence
    from contextvars import Token

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
    "fence",
    "unfence",
]

DEFAULT_DATABASE = "default"
"""The database a table lives in unless its declaration names another."""

# (owner, access): inside the dispatch joining owner's unit, the fence of that
# unit is access. Set and reset by the bus around a nested dispatch.
_FENCE: ContextVar[tuple[object, TableAccess] | None] = ContextVar(
    "glue_table_fence", default=None
)


def fence(
    owner: object, access: TableAccess
) -> Token[tuple[object, TableAccess] | None]:
    """Make ``access`` the fence of ``owner``'s unit of work in this task (and
    the tasks it starts) until the returned token is reset
    (``_FENCE.reset(token)``, done by :func:`unfence`)."""
    return _FENCE.set((owner, access))


def unfence(token: Token[tuple[object, TableAccess] | None]) -> None:
    """Undo :func:`fence`."""
    _FENCE.reset(token)


class Table(msgspec.Struct, frozen=True):
    """One table a domain declared (see :meth:`glue.Domain.table`).

    Attributes:
        schema: the table.
        database: the name of the database it lives in.
    """

    schema: Schema
    database: str = DEFAULT_DATABASE

    @property
    def facts(self) -> TableFacts:
        """What the state manager needs of the table: built when the App is
        built, kept with the schema (and its dialect's codec with it, built
        when the App opens)."""
        return facts_of(self.schema)


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

    @property
    def pools(self) -> Mapping[str, ConnectionPool]:
        """Each declared table's pool, by table name."""
        return self._pools

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

    Args:
        access: the tables it lets through, or a callable giving them now (the
            fence of a unit that nested dispatches join).
    """

    def __init__(
        self, access: TableAccess | Callable[[], TableAccess], **options: Any
    ) -> None:
        super().__init__(**options)
        self._fence: Callable[[], TableAccess] = (
            access if callable(access) else lambda: access
        )

    async def get(self, schema: Schema, key: Any) -> Row | None:
        self._fence().check(schema)
        return await super().get(schema, key)

    async def get_many(self, schema: Schema, keys: Iterable[Any]) -> list[Row | None]:
        self._fence().check(schema)
        return await super().get_many(schema, keys)

    def track(self, schema: Schema, rows: Iterable[Mapping[str, Any]]) -> list[Row]:
        self._fence().check(schema)
        return super().track(schema, rows)

    async def insert(self, schema: Schema, values: Mapping[str, Any]) -> Row:
        self._fence().check(schema)
        return await super().insert(schema, values)

    async def insert_many(
        self, schema: Schema, rows: Iterable[Mapping[str, Any]]
    ) -> list[Row]:
        self._fence().check(schema)
        return await super().insert_many(schema, rows)

    async def update(
        self,
        schema: Schema,
        key: Any,
        changes: Mapping[str, Any],
        *,
        etag: str | None = None,
    ) -> Row:
        self._fence().check(schema)
        return await super().update(schema, key, changes, etag=etag)

    async def update_many(
        self, schema: Schema, changes: Iterable[tuple[Any, Mapping[str, Any]]]
    ) -> list[Row]:
        self._fence().check(schema)
        return await super().update_many(schema, changes)

    async def delete(
        self, schema: Schema, key: Any, *, etag: str | None = None
    ) -> bool:
        self._fence().check(schema)
        return await super().delete(schema, key, etag=etag)

    async def upsert(self, schema: Schema, values: Mapping[str, Any]) -> Row:
        self._fence().check(schema)
        return await super().upsert(schema, values)


class DomainUnit(UnitOfWork):
    """A unit of work of one domain: its tables only, on their pools.

    The bus opens one per dispatch, when a handler first needs it. Every SQL
    path (reads, locks, repository queries, the commit's write plan) finds its
    pool through the domain's :class:`TableAccess`, and its state manager is a
    :class:`DomainState`. Commands dispatched inside it join it: each
    :meth:`admit`-s its domain's tables, and while it runs its domain's fence
    is the one in force (:attr:`access`).

    Args:
        access: the domain's tables and pools.
        actor: who is acting, stamped into audit columns.
        owner: what a nested dispatch's :func:`fence` names to mean this unit
            (the dispatch that opened it).
    """

    def __init__(
        self, access: TableAccess, *, actor: str | None = None, owner: object = None
    ) -> None:
        self._access = access
        self._owner = owner
        self._pools = dict(access.pools)
        super().__init__(self._routed, actor=actor)

    @property
    def access(self) -> TableAccess:
        """The tables the code running now may touch: its domain's."""
        return self._fenced()

    def _fenced(self) -> TableAccess:
        current = _FENCE.get()
        if current is not None and current[0] is self._owner:
            return current[1]
        return self._access

    def admit(self, access: TableAccess) -> None:
        """Let a command of another domain work in this unit: its tables are
        written by the commit (the fence still applies while code runs)."""
        self._pools.update(access.pools)

    def pool_for(self, table: str) -> ConnectionPool:
        """The pool of ``table``, if the domain running now declared it.

        Raises:
            glue.Forbidden: it did not.
        """
        return self._fenced().pool(table)

    async def lock(self, schema: Schema, keys: Sequence[Any]) -> list[Row]:
        """Lock rows of a declared table (see :meth:`UnitOfWork.lock`).

        Raises:
            glue.Forbidden: the domain running now did not declare the table.
        """
        self._fenced().check(schema)
        return await super().lock(schema, keys)

    def _new_state(self, actor: str | None, clock: Clock | None) -> StateManager:
        return DomainState(self._fenced, loader=self._load, actor=actor, clock=clock)

    def _routed(self, table: str) -> ConnectionPool:
        """The pool of any table admitted to the unit (for reads and writes the
        fence already let through)."""
        pool = self._pools.get(table)
        if pool is None:
            raise self._fenced().forbidden(table)
        return pool
