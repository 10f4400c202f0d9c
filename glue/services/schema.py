"""Schema services: change tables, and read back what a database holds.

:class:`SchemaCommandService` creates, alters and drops tables, columns, indexes
and constraints from :class:`glue.schema.Schema` values. Each command runs in one
transaction, so a failed command changes nothing, and returns the table's new
schema.

:class:`SchemaQueryService` lists the tables of a database with their columns
(portable types included), primary keys, indexes and constraints, as each
database's dialect reads its catalog (:meth:`glue.sql.dialects.Dialect.describe`:
SQLite's pragmas and CREATE TABLE statements, PostgreSQL's
``information_schema`` and ``pg_catalog``). Tables glue did not create read back
as well as glue's own: a SQLite column's portable type follows SQLite's
type-affinity rules, and a constraint written without a name gets PostgreSQL's
(``orders_customer_id_fkey``, ``users_email_key``, ``orders_amount_check``).

Both work on a connection, on a pool (taking a connection per call), or on a
:class:`~glue.connections.ConnectionManager` (by default the one in
``Container.managers``): then each table is found in the database its name routes
to, and :class:`SchemaQueryService` lists the tables of every registered
database, naming the database of each.
"""

from __future__ import annotations

from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, overload

import msgspec

from ..connections.abc import Connection, ConnectionPool
from ..connections.containers import Container
from ..connections.manager import ConnectionManager
from ..errors import SchemaError
from ..schema.model import Index, Schema, check_identifier
from ..sql import ddl

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable, Sequence

    from ..schema.model import Column, Constraint
    from ..sql.dialects import Dialect, TableInfo

__all__ = [
    "SchemaCommandService",
    "SchemaQueryService",
    "Target",
]


Target = Connection | ConnectionPool
"""One database: a connection, or a pool to take a connection from per call."""


@asynccontextmanager
async def _connection(target: Target, *, write: bool) -> AsyncIterator[Connection]:
    if isinstance(target, ConnectionPool):
        async with target.acquire(write=write) as conn:
            yield conn
    else:
        yield target


class _Routed:
    """A service's target: one database, or a manager routing each table."""

    def __init__(self, target: Target | ConnectionManager | None) -> None:
        self._target = target

    @property
    def target(self) -> Target | ConnectionManager:
        """The connection, pool or ConnectionManager the service works on."""
        if self._target is None:
            self._target = Container.managers.get(ConnectionManager)
        return self._target

    def _database(self, table: str) -> Target:
        """Where ``table`` lives: the target, or the pool its name routes to."""
        target = self.target
        if isinstance(target, ConnectionManager):
            return target.get_connection_pool(table)
        return target


class SchemaCommandService(_Routed):
    """Creates, alters, renames and drops tables.

    Args:
        target: a connection, a pool to take one from per command, or a
            ConnectionManager, whose pool for each table's name runs the
            command; the one in ``Container.managers`` when None.
    """

    def __init__(self, target: Target | ConnectionManager | None = None) -> None:
        super().__init__(target)

    async def _run(self, database: Target, statements: Sequence[str]) -> None:
        async with _connection(database, write=True) as conn, conn.transaction():
            for sql in statements:
                await conn.execute(sql)

    async def _apply(self, table: str, build: Callable[[Dialect], list[str]]) -> None:
        database = self._database(table)
        statements = build(database.dialect)
        if statements:
            await self._run(database, statements)

    async def create_table(
        self, schema: Schema, *, if_not_exists: bool = False
    ) -> Schema:
        """Create the table with its key, constraints and indexes."""
        await self._apply(
            schema.name,
            lambda dialect: ddl.create_table(
                dialect, schema, if_not_exists=if_not_exists
            ),
        )
        return schema

    async def drop_table(self, table: Schema | str, *, if_exists: bool = False) -> None:
        """Drop the table, its indexes and its rows."""
        name = table if isinstance(table, str) else table.name
        await self._apply(
            name, lambda dialect: ddl.drop_table(dialect, name, if_exists=if_exists)
        )

    @overload
    async def rename_table(self, table: Schema, name: str) -> Schema: ...

    @overload
    async def rename_table(self, table: str, name: str) -> None: ...

    async def rename_table(self, table: Schema | str, name: str) -> Schema | None:
        """Rename a table, keeping its rows, indexes and constraints; foreign keys
        of other tables follow it.

        With a ConnectionManager, the table is renamed in the database its old
        name routes to; route the new name there too if it has a pool of its own.

        Returns:
            the schema under its new name, when given a schema.

        Raises:
            SchemaError: ``name`` is not a valid table name.
            glue.ProgrammingError: no such table, or ``name`` is taken.
        """
        old = table if isinstance(table, str) else table.name
        await self._apply(old, lambda dialect: ddl.rename_table(dialect, old, name))
        if isinstance(table, str):
            return None
        return msgspec.structs.replace(table, name=name)

    async def add_column(self, schema: Schema, column: Column) -> Schema:
        """Add a column (nullable, or with a default); return the new schema."""
        new = msgspec.structs.replace(schema, columns=(*schema.columns, column))
        await self._apply(
            schema.name, lambda dialect: ddl.add_column(dialect, schema, column)
        )
        return new

    async def drop_column(self, schema: Schema, name: str) -> Schema:
        """Drop a column no key, index or constraint uses; return the new schema."""
        if name not in {c.name for c in schema.columns}:
            raise SchemaError(
                f"table {schema.name!r} has no column {name!r} of its own to drop"
            )
        columns = tuple(c for c in schema.columns if c.name != name)
        await self._apply(
            schema.name, lambda dialect: ddl.drop_column(dialect, schema, name)
        )
        return msgspec.structs.replace(schema, columns=columns)

    async def add_index(self, schema: Schema, index: Index) -> Schema:
        """Create an index; return the new schema."""
        new = msgspec.structs.replace(schema, indexes=(*schema.indexes, index))
        await self._apply(
            schema.name, lambda dialect: [ddl.create_index(dialect, new, index)]
        )
        return new

    async def drop_index(self, schema: Schema, name: str) -> Schema:
        """Drop an index by name; return the new schema."""
        indexes = tuple(i for i in schema.indexes if i.name != name)
        if len(indexes) == len(schema.indexes):
            raise SchemaError(f"table {schema.name!r} has no index {name!r}")
        await self._apply(schema.name, lambda dialect: ddl.drop_index(dialect, name))
        return msgspec.structs.replace(schema, indexes=indexes)

    async def add_constraint(self, schema: Schema, constraint: Constraint) -> Schema:
        """Add a unique, foreign key or check constraint; return the new schema.

        Existing rows must satisfy it, else ``glue.IntegrityError`` and nothing
        changes.
        """
        new = msgspec.structs.replace(
            schema, constraints=(*schema.constraints, constraint)
        )
        await self._apply(
            schema.name,
            lambda dialect: ddl.add_constraint(dialect, schema, new, constraint),
        )
        return new

    async def drop_constraint(self, schema: Schema, name: str) -> Schema:
        """Drop a constraint by name; return the new schema."""
        constraints = tuple(c for c in schema.constraints if c.name != name)
        if len(constraints) == len(schema.constraints):
            raise SchemaError(f"table {schema.name!r} has no constraint {name!r}")
        new = msgspec.structs.replace(schema, constraints=constraints)
        await self._apply(
            schema.name, lambda dialect: ddl.drop_constraint(dialect, schema, new, name)
        )
        return new

    async def alter_table(self, old: Schema, new: Schema) -> Schema:
        """Change the table from ``old`` to ``new`` in one transaction.

        Columns, indexes and constraints are added and dropped by name. A changed
        primary key or column type, or (on SQLite) any constraint change, rebuilds
        the table on SQLite; on PostgreSQL a changed column type or key is refused.
        """
        if old.name != new.name:
            raise SchemaError(
                f"alter_table changes one table; {old.name!r} and {new.name!r} differ"
            )
        await self._apply(old.name, lambda dialect: self._changes(dialect, old, new))
        return new

    def _changes(self, dialect: Dialect, old: Schema, new: Schema) -> list[str]:
        old_columns = {c.name: c for c in old.all_columns}
        new_columns = {c.name: c for c in new.all_columns}
        changed = [
            n
            for n in old_columns.keys() & new_columns.keys()
            if old_columns[n] != new_columns[n]
        ]
        old_constraints = {c.name: c for c in old.constraints}
        new_constraints = {c.name: c for c in new.constraints}
        constraints_differ = old_constraints != new_constraints
        if changed or old.primary_key != new.primary_key:
            if not dialect.rebuilds_tables:
                raise SchemaError(
                    f"table {old.name!r}: changing a column ({', '.join(changed)}) or "
                    "the primary key in place is not supported; add a new column"
                )
            return ddl.rebuild_table(dialect, old, new)
        if constraints_differ and dialect.rebuilds_tables:
            return ddl.rebuild_table(dialect, old, new)
        statements: list[str] = []
        old_indexes = {i.name: i for i in old.indexes}
        new_indexes = {i.name: i for i in new.indexes}
        for name, index in old_indexes.items():
            if new_indexes.get(name) != index:
                statements += ddl.drop_index(dialect, name)
        for name, constraint in old_constraints.items():
            if new_constraints.get(name) != constraint:
                statements += ddl.drop_constraint(dialect, old, new, name)
        for name in old_columns.keys() - new_columns.keys():
            statements += ddl.drop_column(dialect, old, name, check=False)
        for column in new.all_columns:
            if column.name not in old_columns:
                statements += ddl.add_column(dialect, old, column)
        for name, constraint in new_constraints.items():
            if old_constraints.get(name) != constraint:
                statements += ddl.add_constraint(dialect, old, new, constraint)
        for name, index in new_indexes.items():
            if old_indexes.get(name) != index:
                statements.append(ddl.create_index(dialect, new, index))
        return statements


class SchemaQueryService(_Routed):
    """Reads tables back: columns, types, keys, indexes, constraints.

    Args:
        target: a connection or a pool (one database), or a ConnectionManager
            (every database registered in it); the one in
            ``Container.managers`` when None.
    """

    def __init__(self, target: Target | ConnectionManager | None = None) -> None:
        super().__init__(target)

    def _databases(self) -> list[tuple[str, Target]]:
        """Each database once, by name: a manager's pools under the first name
        each is registered by, or the one target under its own name."""
        target = self.target
        if isinstance(target, ConnectionManager):
            seen: dict[int, tuple[str, Target]] = {}
            for name, pool in target.pools.items():
                seen.setdefault(id(pool), (name, pool))
            return list(seen.values())
        name = target.name if isinstance(target, ConnectionPool) else target.database
        return [(name, target)]

    def _name_of(self, database: Target) -> str:
        for name, known in self._databases():
            if known is database:
                return name
        return database.name if isinstance(database, ConnectionPool) else ""

    async def tables(self) -> list[str]:
        """The names of the tables, sorted (SQLite's own excluded); with a
        ConnectionManager, of every database, each name once."""
        names: set[str] = set()
        for _, database in self._databases():
            names.update(await self._tables(database))
        return sorted(names)

    async def databases(self) -> dict[str, list[str]]:
        """Each database's name, with the names of its tables, sorted."""
        return {
            name: await self._tables(database) for name, database in self._databases()
        }

    async def _tables(self, database: Target) -> list[str]:
        async with _connection(database, write=False) as conn:
            return await conn.dialect.table_names(conn)

    async def describe(self, table: str) -> TableInfo:
        """Columns, primary key, indexes and constraints of one table; with a
        ConnectionManager, in the database its name routes to.

        Raises:
            SchemaError: the database has no such table, or ``table`` is not a
                valid name.
        """
        check_identifier(table, "table")
        database = self._database(table)
        return await self._describe(database, table, self._name_of(database))

    async def _describe(self, database: Target, table: str, name: str) -> TableInfo:
        async with _connection(database, write=False) as conn:
            info = await conn.dialect.describe(conn, table)
        if not info.columns:
            raise SchemaError(f"database {conn.database!r} has no table {table!r}")
        return msgspec.structs.replace(info, database=name or conn.database)

    async def describe_all(self) -> list[TableInfo]:
        """:meth:`describe` for every table, sorted by name; with a
        ConnectionManager, every table of every database, database by database
        (in registration order), each naming its database."""
        return [
            await self._describe(database, table, name)
            for name, database in self._databases()
            for table in await self._tables(database)
        ]
