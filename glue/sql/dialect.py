"""What differs between SQLite and PostgreSQL: quoting, placeholders, types, values.

Compilers build SQL only from validated, quoted identifiers and placeholders; values
travel separately as bound parameters, converted here to what each driver stores
and back.
"""

from __future__ import annotations

import datetime as dt
import decimal
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final

import msgspec

from ..errors import QueryError, SchemaError
from ..schema.model import ColumnType, check_identifier

if TYPE_CHECKING:
    from ..connections.abc import Dialect

__all__ = [
    "Convert",
    "LIKE_ESCAPE",
    "SQL_TYPES",
    "coerce",
    "decoder",
    "encoder",
    "is_identity",
    "like_escape",
    "placeholder",
    "quote",
]

SQL_TYPES: Final[dict[Dialect, dict[ColumnType, str]]] = {
    # SQLite: each name keeps the storage affinity the value needs (a name holding
    # INT gets INTEGER affinity, one holding TEXT gets TEXT) and also names the
    # portable type, so a table's columns read back as the same ColumnType.
    "sqlite": {
        ColumnType.INTEGER: "INTEGER",
        ColumnType.FLOAT: "REAL",
        ColumnType.DECIMAL: "DECIMAL_TEXT",
        ColumnType.TEXT: "TEXT",
        ColumnType.BOOLEAN: "BOOLEAN_INTEGER",
        ColumnType.DATETIME: "DATETIME_TEXT",
        ColumnType.DATE: "DATE_TEXT",
        ColumnType.UUID: "UUID_TEXT",
        ColumnType.BYTES: "BLOB",
        ColumnType.JSON: "JSON_TEXT",
    },
    "postgres": {
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
    },
}
"""Each portable column type's name in each dialect's DDL."""


def quote(name: str, what: str = "identifier") -> str:
    """Validate ``name`` as an identifier and return it double-quoted."""
    return f'"{check_identifier(name, what)}"'


LIKE_ESCAPE: Final = "!"
"""The escape character of glue's LIKE patterns. Not a backslash: ``'\\'`` is an
unterminated literal on a PostgreSQL server whose ``standard_conforming_strings``
is off, while ``'!'`` reads the same under any setting and on SQLite."""


def like_escape(text: str) -> str:
    """``text`` with LIKE's wildcards (and the escape itself) escaped by
    :data:`LIKE_ESCAPE`, to match literally in ``LIKE ... ESCAPE '!'``."""
    return (
        text.replace(LIKE_ESCAPE, LIKE_ESCAPE * 2)
        .replace("%", LIKE_ESCAPE + "%")
        .replace("_", LIKE_ESCAPE + "_")
    )


def placeholder(dialect: Dialect, index: int) -> str:
    """The placeholder for the ``index``-th (1-based) bound value."""
    return "?" if dialect == "sqlite" else f"${index}"


Convert = Callable[[Any], Any]


def _identity(value: Any) -> Any:
    return value


def _json_out(value: Any) -> Any:
    return None if value is None else msgspec.json.encode(value).decode()


def _json_in(value: Any) -> Any:
    return msgspec.json.decode(value) if isinstance(value, str | bytes) else value


def _utc(value: Any) -> Any:
    if isinstance(value, dt.datetime) and value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC)
    return value


def _iso_out(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return _utc(value).isoformat()
    return value.isoformat() if isinstance(value, dt.date) else value


# SQLite stores what a table's affinity makes of a value, and a table glue did
# not create may hold anything: text that does not parse as the column's type
# is returned as stored rather than failing the whole read.


def _datetime_in(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return dt.datetime.fromisoformat(value)
        except ValueError:
            return value
    return value


def _date_in(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            return value
    return value


def _str_out(value: Any) -> Any:
    return None if value is None else str(value)


def _uuid_in(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return uuid.UUID(value)
        except ValueError:
            return value
    return value


def _decimal_in(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return decimal.Decimal(value)
        except decimal.InvalidOperation:
            return value
    if isinstance(value, float):
        # A NUMERIC column of SQLite's own holds REALs: their shortest text.
        return decimal.Decimal(repr(value))
    return decimal.Decimal(value) if isinstance(value, int) else value


def _bool_out(value: Any) -> Any:
    return None if value is None else int(value)


def _bool_in(value: Any) -> Any:
    return None if value is None else bool(value)


_ENCODERS: Final[dict[Dialect, dict[ColumnType, Convert]]] = {
    "sqlite": {
        ColumnType.DECIMAL: _str_out,
        ColumnType.BOOLEAN: _bool_out,
        ColumnType.DATETIME: _iso_out,
        ColumnType.DATE: _iso_out,
        ColumnType.UUID: _str_out,
        ColumnType.JSON: _json_out,
    },
    "postgres": {
        ColumnType.DATETIME: _utc,
        ColumnType.JSON: _json_out,
    },
}

_DECODERS: Final[dict[Dialect, dict[ColumnType, Convert]]] = {
    "sqlite": {
        ColumnType.DECIMAL: _decimal_in,
        ColumnType.BOOLEAN: _bool_in,
        ColumnType.DATETIME: _datetime_in,
        ColumnType.DATE: _date_in,
        ColumnType.UUID: _uuid_in,
        ColumnType.JSON: _json_in,
    },
    "postgres": {
        ColumnType.JSON: _json_in,
    },
}


def coerce(value: Any, column_type: ColumnType, place: str = "") -> Any:
    """A constant as a column of ``column_type`` holds it. The compiler binds it
    so, and the in-memory planner compares with it so: both must agree.

    The conversions are SQLite's type-affinity rules for a constant meeting a
    column: text that spells a number is that number for a numeric column
    (``"7"`` for INTEGER is 7), a number is its text for a TEXT column (``7``
    is ``"7"``). Besides: a naive datetime is UTC.

    Raises:
        glue.QueryError: the value cannot be one of that column's, naming ``place``.
    """
    python_type = column_type.python_type
    if value is None or python_type is None:
        return value
    try:
        value = msgspec.convert(value, python_type, strict=False)
    except msgspec.ValidationError:
        if python_type is str and isinstance(value, int | float | decimal.Decimal):
            if not isinstance(value, bool):
                return str(value)
        where = f"{place}: " if place else ""
        problem = f"{value!r} is not a valid {column_type} value"
        raise QueryError(where + problem) from None
    return _utc(value)


def encoder(dialect: Dialect, column_type: ColumnType) -> Convert:
    """The function turning a Python value into what ``dialect`` stores.

    Types the driver stores as they are get the identity function; callers can
    skip those by comparing with :func:`is_identity`.
    """
    try:
        return _ENCODERS[dialect].get(column_type, _identity)
    except KeyError:
        raise SchemaError(f"unknown SQL dialect {dialect!r}") from None


def decoder(dialect: Dialect, column_type: ColumnType) -> Convert:
    """The function turning what ``dialect`` returns back into a Python value."""
    try:
        return _DECODERS[dialect].get(column_type, _identity)
    except KeyError:
        raise SchemaError(f"unknown SQL dialect {dialect!r}") from None


def is_identity(convert: Convert) -> bool:
    """Whether ``convert`` leaves values as they are (so it can be skipped)."""
    return convert is _identity
