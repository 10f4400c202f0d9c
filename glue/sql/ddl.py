"""DDL for SQLite and PostgreSQL: tables, columns, indexes and constraints.

Every function returns a list of statements to run in order, in one transaction.
Names are validated and quoted. DDL cannot take bound parameters, so column
defaults and check values become SQL literals, and only plain ones are accepted:
None, bools, numbers and text (quotes doubled, and on PostgreSQL text holding a
backslash written ``E'...'`` with the backslash doubled, so that it means the
same under any ``standard_conforming_strings``); other values are first encoded
to text the way the dialect stores them.

Column types are :data:`glue.sql.dialect.SQL_TYPES`; on SQLite those names also
name the portable type (``DATETIME_TEXT``, ``BOOLEAN_INTEGER``...), so
:class:`SchemaQueryService` reads back the same :class:`ColumnType` on both
databases. SQLite cannot add or drop a
constraint in place: :func:`rebuild_table` copies the table into its new shape.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import msgspec

from ..errors import SchemaError
from ..schema.model import Check, Column, ColumnType, ForeignKey, Index, Schema, Unique
from .dialect import SQL_TYPES, encoder, quote

if TYPE_CHECKING:
    from ..connections.abc import Dialect
    from ..schema.model import Constraint

__all__ = [
    "add_column",
    "add_constraint",
    "create_index",
    "create_table",
    "drop_column",
    "drop_constraint",
    "drop_index",
    "drop_table",
    "literal",
    "rebuild_table",
    "rename_table",
    "sql_type",
]

_ON_DELETE = frozenset({"NO ACTION", "RESTRICT", "CASCADE", "SET NULL", "SET DEFAULT"})


def sql_type(dialect: Dialect, column_type: ColumnType) -> str:
    """The type name glue declares for ``column_type`` in ``dialect``."""
    try:
        return SQL_TYPES[dialect][column_type]
    except KeyError:
        raise SchemaError(f"unknown SQL dialect {dialect!r}") from None


def literal(dialect: Dialect, value: Any, column_type: ColumnType | None = None) -> str:
    """Render a constant as a SQL literal, for DDL, which cannot bind values.

    Args:
        dialect: the SQL dialect.
        value: the constant.
        column_type: when given, the value is first encoded as the dialect
            stores that type.

    Raises:
        SchemaError: the value cannot be written safely as a literal.
    """
    if column_type is not None and value is not None:
        value = encoder(dialect, column_type)(value)
        if not isinstance(value, bool | int | float | str | bytes):
            value = str(value)
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        if dialect == "sqlite":
            return "1" if value else "0"
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise SchemaError(f"{value!r} cannot be a SQL literal")
        return repr(value)
    if isinstance(value, str):
        if "\x00" in value:
            raise SchemaError("a SQL literal cannot hold a NUL character")
        quoted = "'" + value.replace("'", "''") + "'"
        if dialect == "postgres" and "\\" in value:
            # In '...' a backslash escapes the quote after it when the server's
            # standard_conforming_strings is off; E'...' reads the same either way.
            return "E" + quoted.replace("\\", "\\\\")
        return quoted
    raise SchemaError(
        f"{value!r} ({type(value).__name__}) cannot be written as a SQL literal; "
        "use None, a bool, a number or text"
    )


def _names(names: tuple[str, ...], what: str) -> str:
    return ", ".join(quote(name, what) for name in names)


def _column(dialect: Dialect, column: Column) -> str:
    parts = [quote(column.name, "column"), sql_type(dialect, column.type)]
    if not column.nullable:
        parts.append("NOT NULL")
    if column.default is not None and not _unset(column.default):
        parts.append("DEFAULT " + literal(dialect, column.default, column.type))
    return " ".join(parts)


def _unset(value: Any) -> bool:
    return value is msgspec.UNSET


def _constraint(dialect: Dialect, schema: Schema, constraint: Constraint) -> str:
    name = quote(constraint.name, "constraint")
    match constraint:
        case Unique():
            return f"CONSTRAINT {name} UNIQUE ({_names(constraint.columns, 'column')})"
        case ForeignKey():
            action = constraint.on_delete.upper()
            if action not in _ON_DELETE:
                raise SchemaError(
                    f"foreign key {constraint.name!r} of {schema.name!r}: on_delete "
                    f"{constraint.on_delete!r} is not one of {sorted(_ON_DELETE)}"
                )
            return (
                f"CONSTRAINT {name} FOREIGN KEY "
                f"({_names(constraint.columns, 'column')}) REFERENCES "
                f"{quote(constraint.references, 'table')} "
                f"({_names(constraint.referenced_columns, 'column')}) "
                f"ON DELETE {action}"
            )
        case Check():
            column = schema.column(constraint.column)
            value = literal(dialect, constraint.value, column.type)
            target = quote(column.name, "column")
            if dialect == "sqlite" and column.type is ColumnType.DECIMAL:
                target, value = f"CAST({target} AS REAL)", f"CAST({value} AS REAL)"
            return f"CONSTRAINT {name} CHECK ({target} {constraint.op} {value})"
    raise SchemaError(f"unknown constraint {constraint!r}")


def _create_table_sql(
    dialect: Dialect,
    schema: Schema,
    name: str,
    columns: tuple[Column, ...] | None = None,
) -> str:
    columns = schema.all_columns if columns is None else columns
    lines = [_column(dialect, column) for column in columns]
    lines.append(f"PRIMARY KEY ({_names(schema.primary_key, 'column')})")
    lines += [_constraint(dialect, schema, c) for c in schema.constraints]
    body = ",\n    ".join(lines)
    return f"CREATE TABLE {quote(name, 'table')} (\n    {body}\n)"


def create_table(
    dialect: Dialect, schema: Schema, *, if_not_exists: bool = False
) -> list[str]:
    """CREATE TABLE with its columns, key and constraints, then its indexes."""
    sql = _create_table_sql(dialect, schema, schema.name)
    if if_not_exists:
        sql = sql.replace("CREATE TABLE ", "CREATE TABLE IF NOT EXISTS ", 1)
    prefix = "IF NOT EXISTS " if if_not_exists else ""
    return [
        sql,
        *(create_index(dialect, schema, i, prefix=prefix) for i in schema.indexes),
    ]


def rename_table(dialect: Dialect, name: str, new_name: str) -> list[str]:
    """ALTER TABLE RENAME TO: rows, indexes and constraints go with the table,
    and foreign keys of other tables follow it (on SQLite too, unless its
    ``legacy_alter_table`` is on)."""
    return [f"ALTER TABLE {quote(name, 'table')} RENAME TO {quote(new_name, 'table')}"]


def drop_table(dialect: Dialect, name: str, *, if_exists: bool = False) -> list[str]:
    """DROP TABLE (its indexes go with it)."""
    guard = "IF EXISTS " if if_exists else ""
    return [f"DROP TABLE {guard}{quote(name, 'table')}"]


def create_index(
    dialect: Dialect, schema: Schema, index: Index, prefix: str = ""
) -> str:
    """CREATE [UNIQUE] INDEX over columns of ``schema``."""
    schema.check_columns(index.columns, f"index {index.name!r}")
    unique = "UNIQUE " if index.unique else ""
    return (
        f"CREATE {unique}INDEX {prefix}{quote(index.name, 'index')} ON "
        f"{quote(schema.name, 'table')} ({_names(index.columns, 'column')})"
    )


def drop_index(dialect: Dialect, name: str) -> list[str]:
    """DROP INDEX by name."""
    return [f"DROP INDEX {quote(name, 'index')}"]


def add_column(dialect: Dialect, schema: Schema, column: Column) -> list[str]:
    """ALTER TABLE ADD COLUMN; a NOT NULL column needs a default for existing rows.

    Raises:
        SchemaError: the column exists, or is NOT NULL without a default.
    """
    if column.name in schema.column_names:
        raise SchemaError(f"table {schema.name!r} already has column {column.name!r}")
    if not column.nullable and (column.default is None or _unset(column.default)):
        raise SchemaError(
            f"new column {column.name!r} of {schema.name!r} is NOT NULL: give it a "
            "default for the rows already there, or make it nullable"
        )
    table = quote(schema.name, "table")
    return [f"ALTER TABLE {table} ADD COLUMN {_column(dialect, column)}"]


def drop_column(
    dialect: Dialect, schema: Schema, name: str, *, check: bool = True
) -> list[str]:
    """ALTER TABLE DROP COLUMN.

    Args:
        dialect: the SQL dialect.
        schema: the table as it is.
        name: the column to drop.
        check: refuse a column the key, an index or a constraint uses; off when
            the caller drops those in the same transaction first.

    Raises:
        SchemaError: no such column, or it is still in use.
    """
    schema.column(name)
    if not check:
        return [_drop_column_sql(schema.name, name)]
    users = ["the primary key"] if name in schema.primary_key else []
    users += [f"index {i.name!r}" for i in schema.indexes if name in i.columns]
    for constraint in schema.constraints:
        columns = (
            (constraint.column,)
            if isinstance(constraint, Check)
            else constraint.columns
        )
        if name in columns:
            users.append(f"constraint {constraint.name!r}")
    if users:
        raise SchemaError(
            f"column {name!r} of {schema.name!r} is used by {', '.join(users)}; "
            "drop those first"
        )
    return [_drop_column_sql(schema.name, name)]


def _drop_column_sql(table: str, name: str) -> str:
    return f"ALTER TABLE {quote(table, 'table')} DROP COLUMN {quote(name, 'column')}"


def add_constraint(
    dialect: Dialect, old: Schema, new: Schema, constraint: Constraint
) -> list[str]:
    """Add ``constraint`` (already part of ``new``) to the table ``old`` describes.

    PostgreSQL alters the table; SQLite rebuilds it.
    """
    if dialect == "sqlite":
        return rebuild_table(dialect, old, new)
    return [
        f"ALTER TABLE {quote(new.name, 'table')} ADD "
        f"{_constraint(dialect, new, constraint)}"
    ]


def drop_constraint(dialect: Dialect, old: Schema, new: Schema, name: str) -> list[str]:
    """Drop the constraint ``name`` (absent from ``new``) from the table.

    PostgreSQL alters the table; SQLite rebuilds it.
    """
    if dialect == "sqlite":
        return rebuild_table(dialect, old, new)
    return [
        f"ALTER TABLE {quote(new.name, 'table')} DROP CONSTRAINT "
        f"{quote(name, 'constraint')}"
    ]


def rebuild_table(dialect: Dialect, old: Schema, new: Schema) -> list[str]:
    """Copy a SQLite table into a new shape: create, copy, drop, rename, index.

    Columns both shapes share are copied, in the old order; new columns go last,
    where ``ALTER TABLE ADD COLUMN`` would put them. Run it in a transaction;
    foreign keys are checked at commit (``PRAGMA defer_foreign_keys``).
    """
    if dialect != "sqlite":
        raise SchemaError("only SQLite tables are rebuilt; PostgreSQL alters them")
    temporary = f"_glue_new_{new.name}"[:63]
    wanted = {c.name: c for c in new.all_columns}
    # Keep the old column order, new columns last, as ALTER TABLE would.
    order = [wanted[n] for n in old.column_names if n in wanted]
    order += [c for c in new.all_columns if c.name not in set(old.column_names)]
    shared = tuple(n for n in old.column_names if n in wanted)
    columns = _names(shared, "column")
    return [
        "PRAGMA defer_foreign_keys = ON",
        _create_table_sql(dialect, new, temporary, tuple(order)),
        " ".join(
            (
                *("INSERT INTO", quote(temporary, "table"), f"({columns})"),
                *("SELECT", columns, "FROM", quote(old.name, "table")),
            )
        ),
        *drop_table(dialect, old.name),
        f"ALTER TABLE {quote(temporary, 'table')} RENAME TO {quote(new.name, 'table')}",
        *(create_index(dialect, new, index) for index in new.indexes),
    ]
