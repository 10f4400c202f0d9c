"""Schema services: change tables, and read back what a database holds.

:class:`SchemaCommandService` creates, alters and drops tables, columns, indexes
and constraints from :class:`glue.schema.Schema` values. Each command runs in one
transaction, so a failed command changes nothing, and returns the table's new
schema.

:class:`SchemaQueryService` lists the tables of a database with their columns
(portable types included), primary keys, indexes and constraints: SQLite through
``sqlite_master`` and its pragmas, PostgreSQL through ``information_schema`` and
``pg_catalog``.

Both work on a connection, or on a pool (taking a connection per call).
"""

from __future__ import annotations

import re
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Literal

import msgspec

from ..connections.abc import Connection, ConnectionPool
from ..errors import SchemaError
from ..schema.model import ColumnType, Index, Schema, check_identifier
from ..sql import ddl
from ..sql.dialect import SQL_TYPES

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Sequence

    from ..connections.abc import Dialect
    from ..schema.model import Column, Constraint

__all__ = [
    "AsyncSchemaCommandService",
    "AsyncSchemaQueryService",
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
    """

    name: str
    type: ColumnType | None
    sql_type: str
    nullable: bool


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
    """

    name: str
    kind: Literal["unique", "foreign_key", "check"]
    columns: tuple[str, ...]
    references: str | None = None


class TableInfo(msgspec.Struct, frozen=True, kw_only=True):
    """A table as the database reports it: columns in order, key, indexes and
    constraints sorted by name."""

    name: str
    columns: tuple[ColumnInfo, ...]
    primary_key: tuple[str, ...]
    indexes: tuple[IndexInfo, ...]
    constraints: tuple[ConstraintInfo, ...]

    def column(self, name: str) -> ColumnInfo:
        """The column called ``name``; SchemaError if there is none."""
        for column in self.columns:
            if column.name == name:
                return column
        raise SchemaError(f"table {self.name!r} has no column {name!r}")


Target = Connection | ConnectionPool


@asynccontextmanager
async def _connection(target: Target, *, write: bool) -> AsyncIterator[Connection]:
    if isinstance(target, ConnectionPool):
        async with target.acquire(write=write) as conn:
            yield conn
    else:
        yield target


class SchemaCommandService:
    """Creates, alters and drops tables on one database.

    Args:
        target: a connection, or a pool to take one from per command.
    """

    def __init__(self, target: Target) -> None:
        self.target = target

    async def _run(self, statements: Sequence[str]) -> None:
        async with _connection(self.target, write=True) as conn, conn.transaction():
            for sql in statements:
                await conn.execute(sql)

    def _dialect(self) -> Dialect:
        return self.target.dialect

    async def create_table(
        self, schema: Schema, *, if_not_exists: bool = False
    ) -> Schema:
        """Create the table with its key, constraints and indexes."""
        await self._run(
            ddl.create_table(self._dialect(), schema, if_not_exists=if_not_exists)
        )
        return schema

    async def drop_table(self, table: Schema | str, *, if_exists: bool = False) -> None:
        """Drop the table, its indexes and its rows."""
        name = table if isinstance(table, str) else table.name
        await self._run(ddl.drop_table(self._dialect(), name, if_exists=if_exists))

    async def add_column(self, schema: Schema, column: Column) -> Schema:
        """Add a column (nullable, or with a default); return the new schema."""
        statements = ddl.add_column(self._dialect(), schema, column)
        new = msgspec.structs.replace(schema, columns=(*schema.columns, column))
        await self._run(statements)
        return new

    async def drop_column(self, schema: Schema, name: str) -> Schema:
        """Drop a column no key, index or constraint uses; return the new schema."""
        if name not in {c.name for c in schema.columns}:
            raise SchemaError(
                f"table {schema.name!r} has no column {name!r} of its own to drop"
            )
        statements = ddl.drop_column(self._dialect(), schema, name)
        columns = tuple(c for c in schema.columns if c.name != name)
        await self._run(statements)
        return msgspec.structs.replace(schema, columns=columns)

    async def add_index(self, schema: Schema, index: Index) -> Schema:
        """Create an index; return the new schema."""
        new = msgspec.structs.replace(schema, indexes=(*schema.indexes, index))
        await self._run([ddl.create_index(self._dialect(), new, index)])
        return new

    async def drop_index(self, schema: Schema, name: str) -> Schema:
        """Drop an index by name; return the new schema."""
        indexes = tuple(i for i in schema.indexes if i.name != name)
        if len(indexes) == len(schema.indexes):
            raise SchemaError(f"table {schema.name!r} has no index {name!r}")
        await self._run(ddl.drop_index(self._dialect(), name))
        return msgspec.structs.replace(schema, indexes=indexes)

    async def add_constraint(self, schema: Schema, constraint: Constraint) -> Schema:
        """Add a unique, foreign key or check constraint; return the new schema.

        Existing rows must satisfy it, else ``glue.IntegrityError`` and nothing
        changes.
        """
        new = msgspec.structs.replace(
            schema, constraints=(*schema.constraints, constraint)
        )
        await self._run(ddl.add_constraint(self._dialect(), schema, new, constraint))
        return new

    async def drop_constraint(self, schema: Schema, name: str) -> Schema:
        """Drop a constraint by name; return the new schema."""
        constraints = tuple(c for c in schema.constraints if c.name != name)
        if len(constraints) == len(schema.constraints):
            raise SchemaError(f"table {schema.name!r} has no constraint {name!r}")
        new = msgspec.structs.replace(schema, constraints=constraints)
        await self._run(ddl.drop_constraint(self._dialect(), schema, new, name))
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
        dialect = self._dialect()
        statements = self._changes(dialect, old, new)
        if statements:
            await self._run(statements)
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


_SQLITE_NAMES: dict[str, ColumnType] = {
    **{name: column_type for column_type, name in SQL_TYPES["sqlite"].items()},
    "INT": ColumnType.INTEGER,
    "BIGINT": ColumnType.INTEGER,
    "FLOAT": ColumnType.FLOAT,
    "DOUBLE": ColumnType.FLOAT,
    "NUMERIC": ColumnType.DECIMAL,
    "DECIMAL": ColumnType.DECIMAL,
    "VARCHAR": ColumnType.TEXT,
    "BOOLEAN": ColumnType.BOOLEAN,
    "DATETIME": ColumnType.DATETIME,
    "TIMESTAMP": ColumnType.DATETIME,
    "DATE": ColumnType.DATE,
    "UUID": ColumnType.UUID,
    "JSON": ColumnType.JSON,
}

_POSTGRES_NAMES: dict[str, ColumnType] = {
    "bigint": ColumnType.INTEGER,
    "integer": ColumnType.INTEGER,
    "smallint": ColumnType.INTEGER,
    "double precision": ColumnType.FLOAT,
    "real": ColumnType.FLOAT,
    "numeric": ColumnType.DECIMAL,
    "text": ColumnType.TEXT,
    "character varying": ColumnType.TEXT,
    "character": ColumnType.TEXT,
    "boolean": ColumnType.BOOLEAN,
    "timestamp with time zone": ColumnType.DATETIME,
    "timestamp without time zone": ColumnType.DATETIME,
    "date": ColumnType.DATE,
    "uuid": ColumnType.UUID,
    "bytea": ColumnType.BYTES,
    "jsonb": ColumnType.JSON,
    "json": ColumnType.JSON,
}

# The constraints glue writes into a SQLite table's CREATE statement, which is
# the only place SQLite keeps their names.
_SQLITE_CONSTRAINT = re.compile(
    r'CONSTRAINT "(?P<name>\w+)" (?P<kind>UNIQUE|FOREIGN KEY|CHECK) '
    r'\((?P<columns>[^)]*)\)(?: REFERENCES "(?P<references>\w+)")?'
)
_QUOTED = re.compile(r'"(\w+)"')

_KINDS: dict[str, Literal["unique", "foreign_key", "check"]] = {
    "UNIQUE": "unique",
    "FOREIGN KEY": "foreign_key",
    "CHECK": "check",
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
    "SELECT column_name, data_type, is_nullable = 'YES' "
    "FROM information_schema.columns "
    "WHERE table_schema = current_schema() AND table_name = $1 "
    "ORDER BY ordinal_position"
)
_PG_CONSTRAINTS = (
    "SELECT c.conname, c.contype::text, f.relname, ARRAY("
    "  SELECT a.attname FROM unnest(c.conkey) WITH ORDINALITY AS k(n, i)"
    "  JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.n"
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


class SchemaQueryService:
    """Reads the tables of one database: columns, types, keys, indexes.

    Args:
        target: a connection, or a pool to take one from per call.
    """

    def __init__(self, target: Target) -> None:
        self.target = target

    async def tables(self) -> list[str]:
        """The names of the database's tables, sorted (SQLite's own excluded)."""
        async with _connection(self.target, write=False) as conn:
            if conn.dialect == "sqlite":
                result = await conn.fetch(
                    "SELECT name FROM sqlite_master WHERE type = 'table' "
                    "AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name"
                )
            else:
                result = await conn.fetch(_PG_TABLES)
        return [row[0] for row in result.rows]

    async def describe(self, table: str) -> TableInfo:
        """Columns, primary key, indexes and constraints of one table.

        Raises:
            SchemaError: the database has no such table, or ``table`` is not a
                valid name.
        """
        check_identifier(table, "table")
        async with _connection(self.target, write=False) as conn:
            if conn.dialect == "sqlite":
                info = await self._sqlite(conn, table)
            else:
                info = await self._postgres(conn, table)
        if not info.columns:
            raise SchemaError(f"database {conn.database!r} has no table {table!r}")
        return info

    async def describe_all(self) -> list[TableInfo]:
        """:meth:`describe` for every table, sorted by name."""
        return [await self.describe(name) for name in await self.tables()]

    async def _sqlite(self, conn: Connection, table: str) -> TableInfo:
        columns = await conn.fetch(
            'SELECT name, type, "notnull", pk FROM pragma_table_info(?)', [table]
        )
        column_infos = tuple(
            ColumnInfo(
                name=row[0],
                type=_SQLITE_NAMES.get(str(row[1]).upper()),
                sql_type=row[1],
                nullable=not row[2] and not row[3],
            )
            for row in columns.rows
        )
        key_rows = sorted((r for r in columns.rows if r[3]), key=lambda r: r[3])
        key = tuple(row[0] for row in key_rows)
        index_rows = await conn.fetch(
            'SELECT name, "unique" FROM pragma_index_list(?) '
            "WHERE origin = 'c' ORDER BY name",
            [table],
        )
        indexes = []
        for index_name, unique in index_rows.rows:
            cols = await conn.fetch(
                "SELECT name FROM pragma_index_info(?) ORDER BY seqno", [index_name]
            )
            names = tuple(r[0] for r in cols.rows)
            indexes.append(
                IndexInfo(name=index_name, columns=names, unique=bool(unique))
            )
        created = await conn.fetch(
            "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", [table]
        )
        sql = created.rows[0][0] if created.rows else ""
        constraints = [
            ConstraintInfo(
                name=match["name"],
                kind=_KINDS[match["kind"]],
                columns=tuple(_QUOTED.findall(match["columns"])),
                references=match["references"],
            )
            for match in _SQLITE_CONSTRAINT.finditer(sql or "")
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
        for name, kind, references, cols in constraint_rows.rows:
            if kind == "p":
                key = tuple(cols)
                continue
            constraints.append(
                ConstraintInfo(
                    name=name,
                    kind=_KINDS[kind],
                    columns=tuple(cols),
                    references=references,
                )
            )
        return TableInfo(
            name=table,
            columns=tuple(
                ColumnInfo(
                    name=name,
                    type=_POSTGRES_NAMES.get(sql_type),
                    sql_type=sql_type,
                    nullable=nullable,
                )
                for name, sql_type, nullable in columns.rows
            ),
            primary_key=key,
            indexes=tuple(
                IndexInfo(name=name, columns=tuple(cols), unique=unique)
                for name, unique, cols in index_rows.rows
            ),
            constraints=tuple(constraints),
        )


AsyncSchemaCommandService = SchemaCommandService
"""The AMSDAL Glue name for `SchemaCommandService` (glue's is async already)."""

AsyncSchemaQueryService = SchemaQueryService
"""The AMSDAL Glue name for `SchemaQueryService`."""
