"""PostgreSQL's catalog: the type names glue declares, and tables read back.

Tables of the connection's current schema are read from ``information_schema``
(columns) and ``pg_catalog`` (constraints and indexes, with their columns in
order). An index that backs a key or a constraint is reported as that
constraint only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from ...schema.model import ColumnType
from .catalog import ColumnInfo, ConstraintInfo, IndexInfo, TableInfo

if TYPE_CHECKING:
    from ...connections.abc import Connection
    from .catalog import ConstraintKind

__all__ = [
    "TYPE_NAMES",
    "column_type",
    "describe",
    "table_names",
]

TYPE_NAMES: Final = {
    ColumnType.INTEGER: "BIGINT",
    ColumnType.FLOAT: "DOUBLE PRECISION",
    ColumnType.DECIMAL: "NUMERIC",
    ColumnType.TEXT: "TEXT",
    ColumnType.BOOLEAN: "BOOLEAN",
    ColumnType.DATETIME: "TIMESTAMPTZ",
    ColumnType.DATE: "DATE",
    ColumnType.UUID: "UUID",
    ColumnType.BYTES: "BYTEA",
    ColumnType.JSON: "JSONB",
}
"""The type glue declares for each portable column type."""

_BY_DATA_TYPE: dict[str, ColumnType] = {
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

_KINDS: dict[str, ConstraintKind] = {
    "u": "unique",
    "f": "foreign_key",
    "c": "check",
}

_TABLES = (
    "SELECT table_name FROM information_schema.tables "
    "WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' "
    "ORDER BY table_name"
)
_COLUMNS = (
    "SELECT column_name, data_type, is_nullable = 'YES', "
    "COALESCE(column_default, CASE WHEN is_identity = 'YES' "
    "THEN 'GENERATED ' || identity_generation || ' AS IDENTITY' END) "
    "FROM information_schema.columns "
    "WHERE table_schema = current_schema() AND table_name = $1 "
    "ORDER BY ordinal_position"
)
_CONSTRAINTS = (
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
_INDEXES = (
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


def column_type(data_type: str) -> ColumnType | None:
    """The portable type of a column whose ``information_schema`` data type is
    ``data_type`` (``character varying``, ``numeric``, ...)."""
    return _BY_DATA_TYPE.get(data_type)


async def table_names(conn: Connection) -> list[str]:
    """The names of the tables of the current schema, sorted."""
    result = await conn.fetch(_TABLES)
    return [row[0] for row in result.rows]


async def describe(conn: Connection, table: str) -> TableInfo:
    """Columns, key, indexes and constraints of ``table`` in the current schema,
    from ``information_schema`` and ``pg_catalog``; no columns when there is no
    such table."""
    columns = await conn.fetch(_COLUMNS, [table])
    constraint_rows = await conn.fetch(_CONSTRAINTS, [table])
    index_rows = await conn.fetch(_INDEXES, [table])
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
                type=column_type(sql_type),
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
