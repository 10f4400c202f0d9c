"""A table as the database reports it: what ``Dialect.describe`` returns.

Each dialect reads its own catalog (SQLite's pragmas, PostgreSQL's
``information_schema`` and ``pg_catalog``) into these values, so that
:class:`glue.services.schema.SchemaQueryService` and ``glue schema`` read the
same shapes from every database.
"""

from __future__ import annotations

from typing import Literal

import msgspec

from ...errors import SchemaError
from ...schema.model import ColumnType

__all__ = [
    "ColumnInfo",
    "ConstraintInfo",
    "ConstraintKind",
    "IndexInfo",
    "TableInfo",
]

ConstraintKind = Literal["unique", "foreign_key", "check"]
"""The kinds of constraint glue reads back (a primary key is the table's own)."""


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
    kind: ConstraintKind
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
