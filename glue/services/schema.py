"""Schema services: change tables, and read back what a database holds.

:class:`SchemaCommandService` creates, alters and drops tables, columns, indexes
and constraints from :class:`glue.schema.Schema` values. Each command runs in one
transaction, so a failed command changes nothing, and returns the table's new
schema.

:class:`SchemaQueryService` lists the tables of a database with their columns
(portable types included), primary keys, indexes and constraints: SQLite through
its pragmas (and, for CHECK constraints and constraint names, the tokens of the
CREATE TABLE statement), PostgreSQL through ``information_schema`` and
``pg_catalog``. Tables glue did not create read back as well as glue's own: a
SQLite column's portable type follows SQLite's type-affinity rules
(:func:`glue.sql.introspection.sqlite_column_type`), and a constraint written
without a name gets PostgreSQL's (``orders_customer_id_fkey``,
``users_email_key``, ``orders_amount_check``).

Both work on a connection, on a pool (taking a connection per call), or on a
:class:`~glue.connections.ConnectionManager` (by default the one in
``Container.managers``): then each table is found in the database its name routes
to, and :class:`SchemaQueryService` lists the tables of every registered
database, naming the database of each.
"""

from __future__ import annotations

from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Literal, overload

import msgspec

from ..connections.abc import Connection, ConnectionPool
from ..connections.containers import Container
from ..connections.manager import ConnectionManager
from ..errors import SchemaError
from ..schema.model import ColumnType, Index, Schema, check_identifier
from ..sql import ddl
from ..sql.introspection import (
    Clause,
    postgres_column_type,
    sqlite_column_type,
    sqlite_constraints,
)

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable, Sequence

    from ..connections.abc import Dialect
    from ..schema.model import Column, Constraint

__all__ = [
    "ColumnInfo",
    "ConstraintInfo",
    "IndexInfo",
    "SchemaCommandService",
    "SchemaQueryService",
    "TableInfo",
    "Target",
]


class ColumnInfo(msgspec.Struct, frozen=True, kw_only=True):
    """A column as the database reports it.

    Attributes:
        name: the column's name.
        type: its portable type, or None when the declared type has none.
        sql_type: the type as the database declares it.
        nullable: whether it accepts NULL.
        default: its default as the database writes it (an SQL expression),
            or None without one.
    """

    name: str
    type: ColumnType | None
    sql_type: str
    nullable: bool
    default: str | None = None


class IndexInfo(msgspec.Struct, frozen=True, kw_only=True):
    """A secondary index (not one backing a key or a constraint)."""

    name: str
    columns: tuple[str, ...]
    unique: bool


class ConstraintInfo(msgspec.Struct, frozen=True, kw_only=True):
    """A unique, foreign key or check constraint.

    Attributes:
        name: its name.
        kind: ``"unique"``, ``"foreign_key"`` or ``"check"``.
        columns: the columns it covers (for a check, the columns it reads).
        references: for a foreign key, the referenced table.
        referenced_columns: for a foreign key, the columns it references.
    """

    name: str
    kind: Literal["unique", "foreign_key", "check"]
    columns: tuple[str, ...]
    references: str | None = None
    referenced_columns: tuple[str, ...] = ()


class TableInfo(msgspec.Struct, frozen=True, kw_only=True):
    """A table as the database reports it: columns in order, key, indexes and
    constraints sorted by name.

    Attributes:
        database: the database it was read from: its name in the
            ConnectionManager (the first name its pool is registered under),
            else the pool's or connection's own name.
    """

    name: str
    columns: tuple[ColumnInfo, ...]
    primary_key: tuple[str, ...]
    indexes: tuple[IndexInfo, ...]
    constraints: tuple[ConstraintInfo, ...]
    database: str = ""

    def column(self, name: str) -> ColumnInfo:
        """The column called ``name``; SchemaError if there is none."""
        for column in self.columns:
            if column.name == name:
                return column
        raise SchemaError(f"table {self.name!r} has no column {name!r}")


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
            if dialect != "sqlite":
                raise SchemaError(
                    f"table {old.name!r}: changing a column ({', '.join(changed)}) or "
                    "the primary key in place is not supported; add a new column"
                )
            return ddl.rebuild_table(dialect, old, new)
        if dialect == "sqlite" and constraints_differ:
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


_KINDS: dict[str, Literal["unique", "foreign_key", "check"]] = {
    "u": "unique",
    "f": "foreign_key",
    "c": "check",
}

_PG_TABLES = (
    "SELECT table_name FROM information_schema.tables "
    "WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' "
    "ORDER BY table_name"
)
_PG_COLUMNS = (
    "SELECT column_name, data_type, is_nullable = 'YES', "
    "COALESCE(column_default, CASE WHEN is_identity = 'YES' "
    "THEN 'GENERATED ' || identity_generation || ' AS IDENTITY' END) "
    "FROM information_schema.columns "
    "WHERE table_schema = current_schema() AND table_name = $1 "
    "ORDER BY ordinal_position"
)
_PG_CONSTRAINTS = (
    "SELECT c.conname, c.contype::text, f.relname, ARRAY("
    "  SELECT a.attname FROM unnest(c.conkey) WITH ORDINALITY AS k(n, i)"
    "  JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.n"
    "  ORDER BY k.i)::text[], ARRAY("
    "  SELECT a.attname FROM unnest(c.confkey) WITH ORDINALITY AS k(n, i)"
    "  JOIN pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = k.n"
    "  ORDER BY k.i)::text[] "
    "FROM pg_constraint c "
    "JOIN pg_class t ON t.oid = c.conrelid "
    "JOIN pg_namespace s ON s.oid = t.relnamespace "
    "LEFT JOIN pg_class f ON f.oid = c.confrelid "
    "WHERE s.nspname = current_schema() AND t.relname = $1 "
    "AND c.contype IN ('p', 'u', 'f', 'c') "
    "ORDER BY c.conname"
)
_PG_INDEXES = (
    "SELECT i.relname, x.indisunique, ARRAY("
    "  SELECT a.attname FROM unnest(x.indkey::int2[]) WITH ORDINALITY AS k(n, o)"
    "  JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.n"
    "  ORDER BY k.o)::text[] "
    "FROM pg_index x "
    "JOIN pg_class t ON t.oid = x.indrelid "
    "JOIN pg_class i ON i.oid = x.indexrelid "
    "JOIN pg_namespace s ON s.oid = t.relnamespace "
    "WHERE s.nspname = current_schema() AND t.relname = $1 "
    "AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid) "
    "ORDER BY i.relname"
)


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
            if conn.dialect == "sqlite":
                result = await conn.fetch(
                    "SELECT name FROM sqlite_master WHERE type = 'table' "
                    "AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name"
                )
            else:
                result = await conn.fetch(_PG_TABLES)
        return [row[0] for row in result.rows]

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
            if conn.dialect == "sqlite":
                info = await self._sqlite(conn, table)
            else:
                info = await self._postgres(conn, table)
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

    async def _sqlite(self, conn: Connection, table: str) -> TableInfo:
        column_rows = await conn.fetch(
            'SELECT name, type, "notnull", pk, dflt_value FROM pragma_table_info(?)',
            [table],
        )
        column_infos = tuple(
            ColumnInfo(
                name=name,
                type=sqlite_column_type(str(declared)),
                sql_type=declared,
                nullable=not notnull and not pk,
                default=default,
            )
            for name, declared, notnull, pk, default in column_rows.rows
        )
        key_rows = sorted((r for r in column_rows.rows if r[3]), key=lambda r: r[3])
        key = tuple(row[0] for row in key_rows)
        index_rows = await conn.fetch(
            'SELECT name, "unique", origin FROM pragma_index_list(?) '
            "WHERE origin IN ('c', 'u') ORDER BY name",
            [table],
        )
        indexes = []
        uniques = []
        for index_name, unique, origin in index_rows.rows:
            cols = await conn.fetch(
                "SELECT name FROM pragma_index_info(?) ORDER BY seqno", [index_name]
            )
            covered = tuple(r[0] for r in cols.rows)
            if origin == "u":
                uniques.append(covered)
            else:
                indexes.append(
                    IndexInfo(name=index_name, columns=covered, unique=bool(unique))
                )
        foreign = await conn.fetch(
            'SELECT id, "table", "from", "to" FROM pragma_foreign_key_list(?) '
            "ORDER BY id, seq",
            [table],
        )
        keys: dict[int, tuple[str, list[str], list[str | None]]] = {}
        for number, target, source, to in foreign.rows:
            keys.setdefault(number, (target, [], []))
            keys[number][1].append(source)
            keys[number][2].append(to)
        created = await conn.fetch(
            "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", [table]
        )
        sql = (created.rows[0][0] if created.rows else None) or ""
        clauses = sqlite_constraints(sql, [c.name for c in column_infos])
        names = _Names(table)
        constraints = [
            ConstraintInfo(
                name=names.take("unique", columns, clauses),
                kind="unique",
                columns=columns,
            )
            for columns in uniques
        ]
        for target, sources, targets in keys.values():
            # A foreign key to the other table's primary key may leave "to" out.
            if None in targets:
                primary = await conn.fetch(
                    "SELECT name FROM pragma_table_info(?) WHERE pk > 0 ORDER BY pk",
                    [target],
                )
                targets = [row[0] for row in primary.rows]
            columns = tuple(sources)
            constraints.append(
                ConstraintInfo(
                    name=names.take("foreign_key", columns, clauses),
                    kind="foreign_key",
                    columns=columns,
                    references=target,
                    referenced_columns=tuple(str(t) for t in targets),
                )
            )
        constraints += [
            ConstraintInfo(
                name=clause.name or names.made("check", clause.columns),
                kind="check",
                columns=clause.columns,
            )
            for clause in clauses
            if clause.kind == "check"
        ]
        return TableInfo(
            name=table,
            columns=column_infos,
            primary_key=key,
            indexes=tuple(indexes),
            constraints=tuple(sorted(constraints, key=lambda c: c.name)),
        )

    async def _postgres(self, conn: Connection, table: str) -> TableInfo:
        columns = await conn.fetch(_PG_COLUMNS, [table])
        constraint_rows = await conn.fetch(_PG_CONSTRAINTS, [table])
        index_rows = await conn.fetch(_PG_INDEXES, [table])
        key: tuple[str, ...] = ()
        constraints = []
        for name, kind, references, cols, referenced in constraint_rows.rows:
            if kind == "p":
                key = tuple(cols)
                continue
            constraints.append(
                ConstraintInfo(
                    name=name,
                    kind=_KINDS[kind],
                    columns=tuple(cols),
                    references=references,
                    referenced_columns=tuple(referenced),
                )
            )
        return TableInfo(
            name=table,
            columns=tuple(
                ColumnInfo(
                    name=name,
                    type=postgres_column_type(sql_type),
                    sql_type=sql_type,
                    nullable=nullable,
                    default=default,
                )
                for name, sql_type, nullable, default in columns.rows
            ),
            primary_key=key,
            indexes=tuple(
                IndexInfo(name=name, columns=tuple(cols), unique=unique)
                for name, unique, cols in index_rows.rows
            ),
            constraints=tuple(constraints),
        )


_SUFFIXES = {"unique": "key", "foreign_key": "fkey", "check": "check"}


class _Names:
    """Names for a table's constraints: the one its CREATE statement gives, else
    the one PostgreSQL would have made (``orders_customer_id_fkey``)."""

    def __init__(self, table: str) -> None:
        self.table = table
        self.used: set[str] = set()

    def take(
        self,
        kind: Literal["unique", "foreign_key"],
        columns: tuple[str, ...],
        clauses: list[Clause],
    ) -> str:
        """The name of the written clause of this kind over these columns."""
        wanted = tuple(c.lower() for c in columns)
        for number, clause in enumerate(clauses):
            if (
                clause.kind == kind
                and tuple(c.lower() for c in clause.columns) == wanted
            ):
                del clauses[number]  # each clause names one constraint
                if clause.name is not None:
                    self.used.add(clause.name)
                    return clause.name
                break
        return self.made(kind, columns)

    def made(self, kind: str, columns: tuple[str, ...]) -> str:
        """PostgreSQL's name for an unnamed constraint, numbered if taken."""
        parts = [self.table]
        if kind != "check" or len(columns) == 1:
            parts += columns
        base = "_".join([*parts, _SUFFIXES[kind]])
        name, number = base, 0
        while name in self.used:
            number += 1
            name = f"{base}{number}"
        self.used.add(name)
        return name
