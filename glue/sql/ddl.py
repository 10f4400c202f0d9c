"""DDL: tables, columns, indexes and constraints, for any dialect.

Every function returns a list of statements to run in order, in one transaction.
Names are validated and quoted by the dialect. DDL cannot take bound parameters,
so column defaults and check values become SQL literals
(:meth:`~glue.sql.dialects.Dialect.literal`), and only plain ones are accepted:
None, bools, numbers and text; other values are first encoded to text the way
the dialect stores them.

Column types are :meth:`Dialect.type_name <glue.sql.dialects.Dialect.type_name>`;
on SQLite those names also name the portable type (``DATETIME_TEXT``,
``BOOLEAN_INTEGER``...), so :class:`SchemaQueryService` reads back the same
:class:`ColumnType` on both databases. A dialect that cannot add or drop a
constraint in place (SQLite, :attr:`Dialect.rebuilds_tables`) has
:func:`rebuild_table` copy the table into its new shape.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import msgspec

from ..errors import SchemaError
from ..schema.model import Check, Column, ColumnType, ForeignKey, Index, Schema, Unique

if TYPE_CHECKING:
    from ..schema.model import Constraint
    from .dialects import Dialect

__all__ = [
    "add_column",
    "add_constraint",
    "create_index",
    "create_table",
    "drop_column",
    "drop_constraint",
    "drop_index",
    "drop_table",
    "rebuild_table",
    "rename_table",
]

_ON_DELETE = frozenset({"NO ACTION", "RESTRICT", "CASCADE", "SET NULL", "SET DEFAULT"})


def _names(dialect: Dialect, names: tuple[str, ...], what: str) -> str:
    return ", ".join(dialect.quote(name, what) for name in names)


def _column(dialect: Dialect, column: Column) -> str:
    parts = [dialect.quote(column.name, "column"), dialect.type_name(column.type)]
    if not column.nullable:
        parts.append("NOT NULL")
    if column.default is not None and not _unset(column.default):
        parts.append("DEFAULT " + dialect.literal(column.default, column.type))
    return " ".join(parts)


def _unset(value: Any) -> bool:
    return value is msgspec.UNSET


def _constraint(dialect: Dialect, schema: Schema, constraint: Constraint) -> str:
    quote = dialect.quote
    name = quote(constraint.name, "constraint")
    match constraint:
        case Unique():
            columns = _names(dialect, constraint.columns, "column")
            return f"CONSTRAINT {name} UNIQUE ({columns})"
        case ForeignKey():
            action = constraint.on_delete.upper()
            if action not in _ON_DELETE:
                raise SchemaError(
                    f"foreign key {constraint.name!r} of {schema.name!r}: on_delete "
                    f"{constraint.on_delete!r} is not one of {sorted(_ON_DELETE)}"
                )
            return (
                f"CONSTRAINT {name} FOREIGN KEY "
                f"({_names(dialect, constraint.columns, 'column')}) REFERENCES "
                f"{quote(constraint.references, 'table')} "
                f"({_names(dialect, constraint.referenced_columns, 'column')}) "
                f"ON DELETE {action}"
            )
        case Check():
            column = schema.column(constraint.column)
            value = dialect.literal(constraint.value, column.type)
            target = quote(column.name, "column")
            if column.type is ColumnType.DECIMAL and dialect.decimals_as_text:
                target, value = dialect.numeric(target), dialect.numeric(value)
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
    lines.append(f"PRIMARY KEY ({_names(dialect, schema.primary_key, 'column')})")
    lines += [_constraint(dialect, schema, c) for c in schema.constraints]
    body = ",\n    ".join(lines)
    return f"CREATE TABLE {dialect.quote(name, 'table')} (\n    {body}\n)"


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
    old, new = dialect.quote(name, "table"), dialect.quote(new_name, "table")
    return [f"ALTER TABLE {old} RENAME TO {new}"]


def drop_table(dialect: Dialect, name: str, *, if_exists: bool = False) -> list[str]:
    """DROP TABLE (its indexes go with it)."""
    guard = "IF EXISTS " if if_exists else ""
    return [f"DROP TABLE {guard}{dialect.quote(name, 'table')}"]


def create_index(
    dialect: Dialect, schema: Schema, index: Index, prefix: str = ""
) -> str:
    """CREATE [UNIQUE] INDEX over columns of ``schema``."""
    schema.check_columns(index.columns, f"index {index.name!r}")
    unique = "UNIQUE " if index.unique else ""
    columns = _names(dialect, index.columns, "column")
    return (
        f"CREATE {unique}INDEX {prefix}{dialect.quote(index.name, 'index')} ON "
        f"{dialect.quote(schema.name, 'table')} ({columns})"
    )


def drop_index(dialect: Dialect, name: str) -> list[str]:
    """DROP INDEX by name."""
    return [f"DROP INDEX {dialect.quote(name, 'index')}"]


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
    table = dialect.quote(schema.name, "table")
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
        return [_drop_column_sql(dialect, schema.name, name)]
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
    return [_drop_column_sql(dialect, schema.name, name)]


def _drop_column_sql(dialect: Dialect, table: str, name: str) -> str:
    quote = dialect.quote
    return f"ALTER TABLE {quote(table, 'table')} DROP COLUMN {quote(name, 'column')}"


def add_constraint(
    dialect: Dialect, old: Schema, new: Schema, constraint: Constraint
) -> list[str]:
    """Add ``constraint`` (already part of ``new``) to the table ``old`` describes.

    PostgreSQL alters the table; SQLite rebuilds it.
    """
    if dialect.rebuilds_tables:
        return rebuild_table(dialect, old, new)
    return [
        f"ALTER TABLE {dialect.quote(new.name, 'table')} ADD "
        f"{_constraint(dialect, new, constraint)}"
    ]


def drop_constraint(dialect: Dialect, old: Schema, new: Schema, name: str) -> list[str]:
    """Drop the constraint ``name`` (absent from ``new``) from the table.

    PostgreSQL alters the table; SQLite rebuilds it.
    """
    if dialect.rebuilds_tables:
        return rebuild_table(dialect, old, new)
    return [
        f"ALTER TABLE {dialect.quote(new.name, 'table')} DROP CONSTRAINT "
        f"{dialect.quote(name, 'constraint')}"
    ]


def rebuild_table(dialect: Dialect, old: Schema, new: Schema) -> list[str]:
    """Copy a table into a new shape: create, copy, drop, rename, index.

    For a dialect that :attr:`~glue.sql.dialects.Dialect.rebuilds_tables`
    (SQLite). Columns both shapes share are copied, in the old order; new columns
    go last, where ``ALTER TABLE ADD COLUMN`` would put them. Run it in a
    transaction; the dialect's :attr:`~glue.sql.dialects.Dialect.rebuild_prelude`
    comes first (SQLite: foreign keys checked at commit).

    Raises:
        SchemaError: the dialect alters tables in place instead.
    """
    if not dialect.rebuilds_tables:
        raise SchemaError(f"{dialect.name} tables are altered in place, not rebuilt")
    temporary = f"_glue_new_{new.name}"[:63]
    wanted = {c.name: c for c in new.all_columns}
    # Keep the old column order, new columns last, as ALTER TABLE would.
    order = [wanted[n] for n in old.column_names if n in wanted]
    order += [c for c in new.all_columns if c.name not in set(old.column_names)]
    shared = tuple(n for n in old.column_names if n in wanted)
    columns = _names(dialect, shared, "column")
    copy = dialect.quote(temporary, "table")
    return [
        *dialect.rebuild_prelude,
        _create_table_sql(dialect, new, temporary, tuple(order)),
        " ".join(
            (
                *("INSERT INTO", copy, f"({columns})"),
                *("SELECT", columns, "FROM", dialect.quote(old.name, "table")),
            )
        ),
        *drop_table(dialect, old.name),
        f"ALTER TABLE {copy} RENAME TO {dialect.quote(new.name, 'table')}",
        *(create_index(dialect, new, index) for index in new.indexes),
    ]
