"""Table schemas as values: columns, keys, indexes, constraints, tracked fields.

A :class:`Schema` is plain data. Declare one directly, or derive one from a msgspec
Struct with :meth:`Schema.from_struct`. Everything that writes SQL checks names
against a schema first, so a typo fails with a clear :class:`glue.SchemaError`
before any statement runs.
"""

from __future__ import annotations

import datetime as dt
import decimal
import enum
import re
import uuid
from typing import TYPE_CHECKING, Any, TypeVar

import msgspec

from ..errors import SchemaError

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = [
    "AUDIT_COLUMNS",
    "Check",
    "Column",
    "ColumnType",
    "Constraint",
    "DELETED_AT",
    "ETAG",
    "ForeignKey",
    "Index",
    "SYSTEM_COLUMNS",
    "Schema",
    "Unique",
    "check_identifier",
]

_T = TypeVar("_T")

ETAG = "etag"
"""The column holding a row's etag, in every versioned table."""

DELETED_AT = "deleted_at"
"""The column a soft delete stamps."""

AUDIT_COLUMNS = ("created_at", "updated_at", "created_by", "updated_by")
"""The columns the state manager stamps in tables that track audit fields."""

SYSTEM_COLUMNS = frozenset((ETAG, DELETED_AT, *AUDIT_COLUMNS))
"""Every column glue maintains itself; handlers never set them."""

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")


def check_identifier(name: str, what: str = "identifier") -> str:
    """Return ``name`` if it is a safe SQL identifier, else raise SchemaError.

    Safe means a letter or underscore, then letters, digits or underscores, at most
    63 characters (PostgreSQL's limit). Quoting is still applied when SQL is built.
    """
    if not isinstance(name, str) or _IDENTIFIER.fullmatch(name) is None:
        raise SchemaError(
            f"{what} {name!r} is not a valid name: use letters, digits and "
            "underscores, starting with a letter or underscore, at most 63 characters"
        )
    return name


class ColumnType(enum.StrEnum):
    """The portable column types, mapped to each dialect's own."""

    INTEGER = "integer"
    FLOAT = "float"
    DECIMAL = "decimal"
    TEXT = "text"
    BOOLEAN = "boolean"
    DATETIME = "datetime"
    DATE = "date"
    UUID = "uuid"
    BYTES = "bytes"
    JSON = "json"

    @property
    def python_type(self) -> type[Any] | None:
        """The Python type a value of this column is, or None for JSON (any)."""
        return _PYTHON_TYPES.get(self)


_PYTHON_TYPES: dict[ColumnType, type[Any]] = {
    ColumnType.INTEGER: int,
    ColumnType.FLOAT: float,
    ColumnType.DECIMAL: decimal.Decimal,
    ColumnType.TEXT: str,
    ColumnType.BOOLEAN: bool,
    ColumnType.DATETIME: dt.datetime,
    ColumnType.DATE: dt.date,
    ColumnType.UUID: uuid.UUID,
    ColumnType.BYTES: bytes,
}


class Column(msgspec.Struct, frozen=True, kw_only=True):
    """One column.

    Attributes:
        name: the column's name.
        type: its portable type.
        nullable: whether it may hold NULL.
        default: a constant default for new rows, or ``msgspec.UNSET`` for none.
    """

    name: str
    type: ColumnType
    nullable: bool = False
    default: Any = msgspec.UNSET

    def __post_init__(self) -> None:
        check_identifier(self.name, "column")


class Index(msgspec.Struct, frozen=True, kw_only=True):
    """A secondary index over one or more columns."""

    name: str
    columns: tuple[str, ...]
    unique: bool = False


class Unique(msgspec.Struct, frozen=True, kw_only=True, tag="unique"):
    """A unique constraint over one or more columns."""

    name: str
    columns: tuple[str, ...]


class ForeignKey(msgspec.Struct, frozen=True, kw_only=True, tag="foreign_key"):
    """Columns that must match a key of another table in the same database."""

    name: str
    columns: tuple[str, ...]
    references: str
    referenced_columns: tuple[str, ...]
    on_delete: str = "NO ACTION"


class Check(msgspec.Struct, frozen=True, kw_only=True, tag="check"):
    """A check constraint over one column: ``column op value``, value bound.

    Only simple comparisons are portable and safe to build from data:
    op is one of ``>``, ``>=``, ``<``, ``<=``, ``<>``.
    """

    name: str
    column: str
    op: str
    value: float | int | str


Constraint = Unique | ForeignKey | Check

# The system columns, built once: all_columns runs on hot paths.
_ETAG_COLUMNS = (Column(name=ETAG, type=ColumnType.TEXT),)
_AUDIT_COLUMNS = (
    Column(name="created_at", type=ColumnType.DATETIME),
    Column(name="updated_at", type=ColumnType.DATETIME),
    Column(name="created_by", type=ColumnType.TEXT, nullable=True),
    Column(name="updated_by", type=ColumnType.TEXT, nullable=True),
)
_DELETED_COLUMNS = (Column(name=DELETED_AT, type=ColumnType.DATETIME, nullable=True),)

_CHECK_OPS = frozenset({">", ">=", "<", "<=", "<>"})


class Schema(msgspec.Struct, frozen=True, kw_only=True, dict=True):
    """A table: its columns, primary key, indexes, constraints and tracked fields.

    Attributes:
        name: the table's name; also the schema name the ConnectionManager routes.
        columns: the user's columns, in order (system columns are added by
            :attr:`all_columns`).
        primary_key: the columns that identify a row.
        indexes: secondary indexes.
        constraints: unique, foreign key and check constraints.
        versioned: whether rows carry an ``etag`` guarding against lost updates.
        audit: whether the state manager stamps created/updated at and by.
        soft_delete: whether delete stamps ``deleted_at`` instead of removing.
    """

    name: str
    columns: tuple[Column, ...]
    primary_key: tuple[str, ...]
    indexes: tuple[Index, ...] = ()
    constraints: tuple[Constraint, ...] = ()
    versioned: bool = True
    audit: bool = False
    soft_delete: bool = False

    def __post_init__(self) -> None:
        check_identifier(self.name, "table")
        if not self.columns:
            raise SchemaError(f"table {self.name!r} has no columns")
        names = [c.name for c in self.all_columns]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise SchemaError(
                f"table {self.name!r} declares {', '.join(duplicates)} more than "
                "once (etag and audit columns are added by glue)"
            )
        if not self.primary_key:
            raise SchemaError(f"table {self.name!r} has no primary key")
        self.check_columns(self.primary_key, "primary key")
        for index in self.indexes:
            check_identifier(index.name, "index")
            self.check_columns(index.columns, f"index {index.name!r}")
        for constraint in self.constraints:
            check_identifier(constraint.name, "constraint")
            if isinstance(constraint, Check):
                self.check_columns((constraint.column,), f"check {constraint.name!r}")
                if constraint.op not in _CHECK_OPS:
                    raise SchemaError(
                        f"check {constraint.name!r} on {self.name!r}: operator "
                        f"{constraint.op!r} is not one of {sorted(_CHECK_OPS)}"
                    )
            else:
                self.check_columns(constraint.columns, f"{constraint.name!r}")
            if isinstance(constraint, ForeignKey):
                check_identifier(constraint.references, "table")

    def derived(self, key: str, build: Callable[[Schema], _T]) -> _T:
        """A value worked out from this schema once, and kept with it.

        Per-table facts (a dialect's codec, the state manager's key extractors
        and defaults) are built on first use, or when an App is built for its
        declared tables, and live on the schema object: no cache keyed by a
        table's name, which two schemas of one name would share. A changed copy
        (``msgspec.structs.replace``) starts without them.

        Args:
            key: what the value is, unique per kind (``"codec sqlite"``).
            build: makes the value from the schema.
        """
        found: _T | None = self.__dict__.get(key)
        if found is None:
            found = self.__dict__[key] = build(self)
        return found

    @property
    def all_columns(self) -> tuple[Column, ...]:
        """The user's columns followed by the system columns glue maintains."""
        columns = self.columns
        if self.versioned:
            columns += _ETAG_COLUMNS
        if self.audit:
            columns += _AUDIT_COLUMNS
        if self.soft_delete:
            columns += _DELETED_COLUMNS
        return columns

    @property
    def column_names(self) -> tuple[str, ...]:
        """The names of :attr:`all_columns`, in order."""
        return tuple(c.name for c in self.all_columns)

    def column(self, name: str) -> Column:
        """Return the column called ``name``, or raise SchemaError naming it."""
        for column in self.all_columns:
            if column.name == name:
                return column
        raise SchemaError(
            f"table {self.name!r} has no column {name!r} "
            f"(columns: {', '.join(self.column_names)})"
        )

    def check_columns(self, names: tuple[str, ...] | list[str], where: str) -> None:
        """Raise SchemaError if any of ``names`` is not a column of this table."""
        known = set(self.column_names)
        unknown = [n for n in names if n not in known]
        if unknown:
            raise SchemaError(
                f"{where} of table {self.name!r} names unknown column(s) "
                f"{', '.join(map(repr, unknown))} (columns: {', '.join(known)})"
            )

    def key_of(self, row: dict[str, Any]) -> tuple[Any, ...]:
        """Return a row's primary key as a tuple, raising SchemaError if incomplete."""
        try:
            return tuple(row[name] for name in self.primary_key)
        except KeyError as exc:
            raise SchemaError(
                f"a row of {self.name!r} lacks primary key column {exc.args[0]!r}"
            ) from None

    @classmethod
    def from_struct(
        cls,
        struct: type[msgspec.Struct],
        *,
        name: str | None = None,
        primary_key: str | tuple[str, ...] = "id",
        indexes: tuple[Index, ...] = (),
        constraints: tuple[Constraint, ...] = (),
        versioned: bool = True,
        audit: bool = False,
        soft_delete: bool = False,
    ) -> Schema:
        """Derive a schema from a msgspec Struct's fields.

        ``int`` becomes INTEGER, ``float`` FLOAT, ``Decimal`` DECIMAL, ``str`` TEXT,
        ``bool`` BOOLEAN, ``datetime`` DATETIME, ``date`` DATE, ``UUID`` UUID,
        ``bytes`` BYTES, and lists, dicts and Structs JSON. ``X | None`` is nullable.

        Args:
            struct: the Struct class.
            name: the table name; the Struct's name in snake_case by default.
            primary_key: the key column(s).
            indexes: secondary indexes.
            constraints: unique, foreign key and check constraints.
            versioned: whether rows carry an etag.
            audit: whether created/updated at and by are stamped.
            soft_delete: whether deletes stamp deleted_at.

        Raises:
            SchemaError: a field's type has no column type.
        """
        info = msgspec.inspect.type_info(struct)
        if not isinstance(info, msgspec.inspect.StructType):
            raise SchemaError(f"{struct!r} is not a msgspec Struct")
        table = name or _snake(struct.__name__)
        columns = []
        for field in info.fields:
            column_type, nullable = _column_type(field.type, table, field.name)
            default = (
                field.default
                if field.default is not msgspec.NODEFAULT
                else (msgspec.UNSET)
            )
            columns.append(
                Column(
                    name=field.encode_name,
                    type=column_type,
                    nullable=nullable,
                    default=default,
                )
            )
        key = (primary_key,) if isinstance(primary_key, str) else primary_key
        return cls(
            name=table,
            columns=tuple(columns),
            primary_key=key,
            indexes=indexes,
            constraints=constraints,
            versioned=versioned,
            audit=audit,
            soft_delete=soft_delete,
        )


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


_SIMPLE_TYPES: dict[type[msgspec.inspect.Type], ColumnType] = {
    msgspec.inspect.IntType: ColumnType.INTEGER,
    msgspec.inspect.FloatType: ColumnType.FLOAT,
    msgspec.inspect.DecimalType: ColumnType.DECIMAL,
    msgspec.inspect.StrType: ColumnType.TEXT,
    msgspec.inspect.BoolType: ColumnType.BOOLEAN,
    msgspec.inspect.DateTimeType: ColumnType.DATETIME,
    msgspec.inspect.DateType: ColumnType.DATE,
    msgspec.inspect.UUIDType: ColumnType.UUID,
    msgspec.inspect.BytesType: ColumnType.BYTES,
    msgspec.inspect.ListType: ColumnType.JSON,
    msgspec.inspect.DictType: ColumnType.JSON,
    msgspec.inspect.StructType: ColumnType.JSON,
}


def _column_type(
    field_type: msgspec.inspect.Type, table: str, field: str
) -> tuple[ColumnType, bool]:
    nullable = False
    if isinstance(field_type, msgspec.inspect.UnionType):
        members = [
            t for t in field_type.types if not isinstance(t, msgspec.inspect.NoneType)
        ]
        nullable = len(members) < len(field_type.types)
        if len(members) == 1:
            field_type = members[0]
    if isinstance(field_type, msgspec.inspect.Metadata):
        field_type = field_type.type
    for kind, column_type in _SIMPLE_TYPES.items():
        if isinstance(field_type, kind):
            return column_type, nullable
    raise SchemaError(
        f"field {field!r} of table {table!r} has type {field_type!r}, "
        "which has no column type"
    )
