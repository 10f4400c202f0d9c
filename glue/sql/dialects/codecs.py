"""Values on their way to a database and back: converters, coercion, table codecs.

A dialect picks, per portable column type, a converter from here for each
direction (what its driver cannot take or give as the Python value itself).
:func:`coerce` is how a constant meets a column, the same on every database.
:class:`TableCodec` gathers one table's column order, quoted names and
converters, built once per dialect and schema, for the batched DML.
"""

from __future__ import annotations

import datetime as dt
import decimal
import operator
import uuid
from typing import TYPE_CHECKING, Any

import msgspec

from ...errors import QueryError

if TYPE_CHECKING:
    from collections.abc import Callable, Hashable, Iterable, Sequence

    from ...schema.model import ColumnType, Schema
    from ...state.identity import Key, Row
    from .base import Convert, Dialect

__all__ = [
    "TableCodec",
    "bool_in",
    "bool_out",
    "coerce",
    "date_in",
    "datetime_in",
    "decimal_in",
    "identity",
    "is_identity",
    "iso_out",
    "json_in",
    "json_out",
    "str_out",
    "utc",
    "uuid_in",
]


def identity(value: Any) -> Any:
    """The converter that leaves a value as it is."""
    return value


def is_identity(convert: Convert) -> bool:
    """Whether ``convert`` leaves values as they are (so it can be skipped)."""
    return convert is identity


def json_out(value: Any) -> Any:
    """A JSON value as its text."""
    return None if value is None else msgspec.json.encode(value).decode()


def json_in(value: Any) -> Any:
    """JSON text (or bytes) as its value; anything else as it is."""
    return msgspec.json.decode(value) if isinstance(value, str | bytes) else value


def utc(value: Any) -> Any:
    """A naive datetime as UTC; anything else as it is."""
    if isinstance(value, dt.datetime) and value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC)
    return value


def iso_out(value: Any) -> Any:
    """A datetime (naive ones as UTC) or a date as ISO 8601 text."""
    if isinstance(value, dt.datetime):
        return utc(value).isoformat()
    return value.isoformat() if isinstance(value, dt.date) else value


# SQLite stores what a table's affinity makes of a value, and a table glue did
# not create may hold anything: text that does not parse as the column's type
# is returned as stored rather than failing the whole read.


def datetime_in(value: Any) -> Any:
    """ISO 8601 text as a datetime."""
    if isinstance(value, str):
        try:
            return dt.datetime.fromisoformat(value)
        except ValueError:
            return value
    return value


def date_in(value: Any) -> Any:
    """ISO 8601 text as a date."""
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            return value
    return value


def str_out(value: Any) -> Any:
    """A value (a Decimal, a UUID) as its text."""
    return None if value is None else str(value)


def uuid_in(value: Any) -> Any:
    """Text as a UUID."""
    if isinstance(value, str):
        try:
            return uuid.UUID(value)
        except ValueError:
            return value
    return value


def decimal_in(value: Any) -> Any:
    """Text or a number as a Decimal."""
    if isinstance(value, str):
        try:
            return decimal.Decimal(value)
        except decimal.InvalidOperation:
            return value
    if isinstance(value, float):
        # A NUMERIC column of SQLite's own holds REALs: their shortest text.
        return decimal.Decimal(repr(value))
    return decimal.Decimal(value) if isinstance(value, int) else value


def bool_out(value: Any) -> Any:
    """A bool as 1 or 0."""
    return None if value is None else int(value)


def bool_in(value: Any) -> Any:
    """1 or 0 as a bool."""
    return None if value is None else bool(value)


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
    return utc(value)


_SHAPES = 256
"""The most statement texts a table's codec keeps (a table has few shapes)."""


class TableCodec:
    """One table in one dialect: column order, quoted names, converters.

    Args:
        dialect: the dialect whose names and converters to use.
        schema: the table.

    Attributes:
        schema: the table.
        names: every column, in the table's order (what a SELECT of
            :attr:`quoted` returns, and what :meth:`encode_rows` gives).
        quoted: those names quoted.
        quoted_key: the primary key's columns, quoted.
        types: each column's portable type, by name.
    """

    def __init__(self, dialect: Dialect, schema: Schema) -> None:
        self.schema = schema
        self.names = schema.column_names
        self.quoted = [dialect.quote(n, "column") for n in self.names]
        self.quoted_key = [dialect.quote(n, "column") for n in schema.primary_key]
        self.types = {c.name: c.type for c in schema.all_columns}
        self._encoders = {n: dialect.encoder(self.types[n]) for n in self.names}
        decoders = [dialect.decoder(self.types[n]) for n in self.names]
        self._decoding = [(i, d) for i, d in enumerate(decoders) if not is_identity(d)]
        self._encode_all = self._picker(self.names)
        self._pickers: dict[tuple[str, ...], Callable[[Row], tuple[Any, ...]]] = {}
        self._sql: dict[Hashable, str] = {}

    def sql(self, shape: Hashable, build: Callable[[], str]) -> str:
        """The statement text of ``shape`` (say, an update of some columns of
        one row), built by ``build()`` the first time only: a unit writing one
        row pays for a dictionary lookup, not for writing the SQL again."""
        found = self._sql.get(shape)
        if found is None:
            found = build()
            if len(self._sql) < _SHAPES:
                self._sql[shape] = found
        return found

    def picker(self, columns: tuple[str, ...]) -> Callable[[Row], tuple[Any, ...]]:
        """A function picking ``columns`` of a row as encoded values (memoised)."""
        found = self._pickers.get(columns)
        if found is None:
            found = self._pickers[columns] = self._picker(columns)
        return found

    def _picker(self, columns: tuple[str, ...]) -> Callable[[Row], tuple[Any, ...]]:
        """A function picking ``columns`` of a row as a tuple of encoded values."""
        if len(columns) == 1:
            name = columns[0]
            single = self._encoders[name]
            return lambda row: (single(row[name]),)
        pick = operator.itemgetter(*columns)
        converting = [
            (i, self._encoders[c])
            for i, c in enumerate(columns)
            if not is_identity(self._encoders[c])
        ]
        if not converting:
            return pick

        def encode(row: Row) -> tuple[Any, ...]:
            values = list(pick(row))
            for i, convert in converting:
                values[i] = convert(values[i])
            return tuple(values)

        return encode

    def columns_of(
        self, rows: Sequence[Row], columns: Sequence[str]
    ) -> list[list[Any]]:
        """One list of encoded values per column of ``columns`` (for arrays)."""
        arrays = []
        for column in columns:
            values = [row[column] for row in rows]
            convert = self._encoders[column]
            if not is_identity(convert):
                values = [convert(v) for v in values]
            arrays.append(values)
        return arrays

    def column_encoder(self, column: str) -> Callable[[Any], Any]:
        """The encoder of ``column``."""
        return self._encoders[column]

    def encode_rows(self, rows: Sequence[Row]) -> list[tuple[Any, ...]]:
        """Each row (holding every column) as a tuple of encoded values in
        :attr:`names` order."""
        return list(map(self._encode_all, rows))

    def key_encoder(self) -> Callable[[Key], tuple[Any, ...]]:
        """A function turning a primary key into its encoded values."""
        encoders = [self._encoders[c] for c in self.schema.primary_key]
        if all(is_identity(e) for e in encoders):
            return tuple
        return lambda key: tuple(e(v) for e, v in zip(encoders, key, strict=True))

    def decode_all(self, rows: Iterable[Sequence[Any]]) -> list[dict[str, Any]]:
        """Rows of every column (in :attr:`names` order) as decoded dicts."""
        if self._decoding:
            decode = self.decode
            return [decode(values) for values in rows]
        names = self.names
        # Each row holds exactly these columns (the SELECT names them): a
        # strict zip would only cost time.
        return [dict(zip(names, values, strict=False)) for values in rows]

    def decode(self, values: Sequence[Any]) -> dict[str, Any]:
        """One row of every column as a decoded dict."""
        row = dict(zip(self.names, values, strict=True))
        if self._decoding:
            names = self.names
            for i, convert in self._decoding:
                value = values[i]
                if value is not None:
                    row[names[i]] = convert(value)
        return row
