"""Batched DML for the write side: INSERT, etag-guarded UPDATE and DELETE, reads by key.

Every builder takes a dialect, a :class:`~glue.schema.Schema` and Python values,
and returns :class:`~glue.connections.abc.Statement` values with every value bound.
Identifiers come from the schema, validated and quoted.

How a batch becomes SQL:

==========  ==========================================  ==============================
write       PostgreSQL                                  SQLite
==========  ==========================================  ==============================
insert      ``COPY`` from :func:`records` (from         one ``executemany``
            :data:`COPY_ROWS` rows), else one ``INSERT
            ... SELECT FROM unnest(...)``
create      the same ``ON CONFLICT DO NOTHING           one statement per row, ``ON
            RETURNING`` key                             CONFLICT DO NOTHING``
update      one ``UPDATE ... FROM unnest(...) WHERE     one ``executemany``, ``WHERE
            etag = held``                               key AND etag = ?``
delete      one ``DELETE ... USING unnest(...)          one statement per row
            RETURNING`` key
==========  ==========================================  ==============================

A guarded UPDATE reports how many rows it matched (its command tag on
PostgreSQL, ``executemany``'s total on SQLite); a short count is pinned to its
rows by reading them back (see :func:`select_by_keys`). A guarded DELETE returns
the keys it matched on PostgreSQL (asyncpg's ``executemany`` reports no row
counts), and runs one statement per row on SQLite. Parameter arrays for
``unnest`` are built a column at a time, encoders applied only where a column
needs one.
"""

from __future__ import annotations

import operator
import sqlite3
from typing import TYPE_CHECKING, Any, Final

from ..connections.abc import Statement
from ..schema.model import ETAG, Schema
from .dialect import (
    LIKE_ESCAPE,
    SQL_TYPES,
    decoder,
    encoder,
    is_identity,
    like_escape,
    quote,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Sequence

    from ..connections.abc import Dialect
    from ..state.identity import Key, Row

__all__ = [
    "COPY_ROWS",
    "LOOKUPS",
    "SQLITE_CHUNK",
    "decode_rows",
    "delete",
    "insert",
    "records",
    "row_decoder",
    "select_by_keys",
    "select_where",
    "update",
]

SQLITE_CHUNK: Final = 32_000 if sqlite3.sqlite_version_info >= (3, 32) else 900
"""Most values bound in one SQLite statement (999 before SQLite 3.32, 32766 since)."""

COPY_ROWS: Final = 100
"""From this many rows, a PostgreSQL insert goes out by ``COPY`` (faster from
about 100 rows; below, one INSERT over ``unnest`` costs a little less)."""


def records(
    dialect: Dialect, schema: Schema, rows: Sequence[Row]
) -> tuple[tuple[str, ...], list[tuple[Any, ...]]]:
    """``rows`` (each holding every column) as records for ``copy_records``.

    Returns:
        the column names, and one tuple of encoded values per row in that order.
    """
    codec = _codec(dialect, schema)
    return codec.names, codec.encode_rows(rows)


def insert(
    dialect: Dialect,
    schema: Schema,
    rows: Sequence[Row],
    *,
    if_absent: bool = False,
) -> list[Statement]:
    """Statements inserting ``rows`` (each holding every column of ``schema``).

    Args:
        dialect: the target dialect.
        schema: the table.
        rows: the rows, all columns present.
        if_absent: skip rows whose key exists. On PostgreSQL the statement then
            returns the keys it inserted; on SQLite there is one statement per row,
            so each count says whether its row went in.
    """
    codec = _codec(dialect, schema)
    table = quote(schema.name, "table")
    columns = ", ".join(codec.quoted)
    if dialect == "sqlite":
        params = codec.encode_rows(rows)
        values = ", ".join("?" * len(codec.names))
        if if_absent:
            sql = _sql(
                "INSERT INTO", table, f"({columns})", "VALUES", f"({values})",
                "ON CONFLICT DO NOTHING",
            )  # fmt: skip
            return [Statement(sql, row) for row in params]
        sql = _sql("INSERT INTO", table, f"({columns})", "VALUES", f"({values})")
        return [Statement(sql, many=params)]
    tail = f"ON CONFLICT DO NOTHING RETURNING {codec.returning}" if if_absent else ""
    if len(rows) == 1:
        values = ", ".join(f"${i}" for i in range(1, len(codec.names) + 1))
        sql = _sql(
            "INSERT INTO", table, f"({columns})", "VALUES", f"({values})", tail
        )  # fmt: skip
        return [Statement(sql, codec.encode_rows(rows)[0])]
    arrays = _unnest([codec.pg_type(n) for n in codec.names], 1)
    sql = _sql("INSERT INTO", table, f"({columns})", "SELECT * FROM", arrays, tail)
    return [Statement(sql, codec.columns_of(rows, codec.names))]


def update(
    dialect: Dialect,
    schema: Schema,
    columns: Sequence[str],
    rows: Sequence[Row],
    held: Sequence[str | None],
) -> list[Statement]:
    """Statements writing ``columns`` of ``rows``, each guarded by its held etag.

    In versioned tables a row is written only while its etag is still the one in
    ``held``; in others only while it exists. Each statement's row count says
    how many rows matched.

    Args:
        dialect: the target dialect.
        schema: the table.
        columns: the columns to write (not the key).
        rows: the rows' new states.
        held: the etag each row had when read.
    """
    codec = _codec(dialect, schema)
    table = quote(schema.name, "table")
    key = schema.primary_key
    versioned = schema.versioned
    written = [quote(c, "column") for c in columns]
    if dialect == "sqlite":
        sets = ", ".join(f"{c} = ?" for c in written)
        where = " AND ".join(f"{quote(c, 'column')} = ?" for c in key)
        # One tuple per row, straight from the row: executemany's parameters.
        pick = codec.picker((*columns, *key))
        if versioned:
            where += f" AND {quote(ETAG, 'column')} = ?"
            many = [(*pick(row), etag) for row, etag in zip(rows, held, strict=True)]
        else:
            many = [pick(row) for row in rows]
        sql = _sql("UPDATE", table, "SET", sets, "WHERE", where)
        return [Statement(sql, many=many)]
    arrays = codec.columns_of(rows, (*columns, *key))
    if versioned:
        arrays.append(list(held))
    width = len(arrays)
    if len(rows) == 1:
        sets = ", ".join(f"{c} = ${i}" for i, c in enumerate(written, 1))
        where = " AND ".join(
            f"{quote(c, 'column')} = ${i}" for i, c in enumerate(key, len(columns) + 1)
        )
        if versioned:
            where += f" AND {quote(ETAG, 'column')} = ${width}"
        sql = _sql("UPDATE", table, "SET", sets, "WHERE", where)
        return [Statement(sql, [array[0] for array in arrays])]
    types = [codec.pg_type(c) for c in (*columns, *key)]
    if versioned:
        types.append("text")
    names = [f"p{i}" for i in range(1, width + 1)]
    sets = ", ".join(f"{c} = v.{n}" for c, n in zip(written, names, strict=False))
    where = " AND ".join(
        f"t.{quote(c, 'column')} = v.{n}"
        for c, n in zip(key, names[len(columns) :], strict=False)
    )
    if versioned:
        where += f" AND t.{quote(ETAG, 'column')} = v.{names[-1]}"
    source = f"{_unnest(types, 1)} AS v({', '.join(names)})"
    sql = _sql("UPDATE", table, "AS t SET", sets, "FROM", source, "WHERE", where)
    return [Statement(sql, arrays)]


def delete(
    dialect: Dialect,
    schema: Schema,
    keys: Sequence[Key],
    held: Sequence[str | None],
) -> list[Statement]:
    """Statements deleting the rows of ``keys``, each guarded by its held etag.

    On PostgreSQL one statement returns the keys it deleted; on SQLite there is
    one statement per row, so each count says whether its row went.
    """
    codec = _codec(dialect, schema)
    table = quote(schema.name, "table")
    key = schema.primary_key
    versioned = schema.versioned
    encode_key = codec.key_encoder()
    params = [
        (*encode_key(k), e) if versioned else encode_key(k)
        for k, e in zip(keys, held, strict=True)
    ]
    if dialect == "sqlite":
        where = " AND ".join(f"{quote(c, 'column')} = ?" for c in key)
        if versioned:
            where += f" AND {quote(ETAG, 'column')} = ?"
        sql = _sql("DELETE FROM", table, "WHERE", where)
        return [Statement(sql, row) for row in params]
    width = len(key) + versioned
    if len(params) == 1:
        where = " AND ".join(
            f"{quote(c, 'column')} = ${i}" for i, c in enumerate(key, 1)
        )
        if versioned:
            where += f" AND {quote(ETAG, 'column')} = ${width}"
        sql = _sql("DELETE FROM", table, "WHERE", where, "RETURNING", codec.returning)
        return [Statement(sql, params[0])]
    names = [f"p{i}" for i in range(1, width + 1)]
    types = [codec.pg_type(c) for c in key] + (["text"] if versioned else [])
    where = " AND ".join(
        f"t.{quote(c, 'column')} = v.{n}" for c, n in zip(key, names, strict=False)
    )
    if versioned:
        where += f" AND t.{quote(ETAG, 'column')} = v.{names[-1]}"
    source = f"{_unnest(types, 1)} AS v({', '.join(names)})"
    sql = _sql(
        "DELETE FROM", table, "AS t USING", source, "WHERE", where,
        "RETURNING", _qualified(codec.returning_columns),
    )  # fmt: skip
    return [Statement(sql, _columns_of(params, width))]


def select_by_keys(
    dialect: Dialect,
    schema: Schema,
    keys: Sequence[Key],
    *,
    for_update: bool = False,
) -> list[Statement]:
    """Statements reading every column of the rows of ``keys``.

    Args:
        dialect: the target dialect.
        schema: the table.
        keys: the primary keys to read.
        for_update: lock the rows (PostgreSQL ``FOR UPDATE``; SQLite locks the
            whole database for a writer's transaction instead, so this adds
            nothing there).
    """
    codec = _codec(dialect, schema)
    table = quote(schema.name, "table")
    columns = ", ".join(codec.quoted)
    key = schema.primary_key
    encode_key = codec.key_encoder()
    encoded = [encode_key(k) for k in keys]
    if dialect == "sqlite":
        statements = []
        size = max(1, SQLITE_CHUNK // len(key))
        for start in range(0, len(encoded), size):
            chunk = encoded[start : start + size]
            if len(key) == 1:
                marks = ", ".join("?" * len(chunk))
                where = f"{quote(key[0], 'column')} IN ({marks})"
                params: list[Any] = [k[0] for k in chunk]
            else:
                row = f"({', '.join('?' * len(key))})"
                rows = ", ".join([row] * len(chunk))
                where = f"({', '.join(codec.quoted_key)}) IN (VALUES {rows})"
                params = [v for k in chunk for v in k]
            sql = _sql("SELECT", columns, "FROM", table, "WHERE", where)
            statements.append(Statement(sql, params))
        return statements
    lock = "FOR UPDATE" if for_update else ""
    if len(key) == 1:
        where = f"{quote(key[0], 'column')} = ANY($1::{codec.pg_type(key[0])}[])"
        sql = _sql("SELECT", columns, "FROM", table, "WHERE", where, lock)
        return [Statement(sql, ([k[0] for k in encoded],))]
    source = _unnest([codec.pg_type(c) for c in key], 1)
    where = _sql(f"({', '.join(codec.quoted_key)})", "IN (SELECT * FROM", source, ")")
    sql = _sql("SELECT", columns, "FROM", table, "WHERE", where, lock)
    return [Statement(sql, _columns_of(encoded, len(key)))]


def row_decoder(
    dialect: Dialect, schema: Schema
) -> Callable[[Sequence[Any]], dict[str, Any]]:
    """A function turning a row read by :func:`select_by_keys` into a dict."""
    return _codec(dialect, schema).decode


def decode_rows(
    dialect: Dialect, schema: Schema, rows: Iterable[Sequence[Any]]
) -> list[dict[str, Any]]:
    """Rows read by :func:`select_by_keys` as dicts, decoded in one pass."""
    return _codec(dialect, schema).decode_all(rows)


# Internals ------------------------------------------------------------------


def _sql(*parts: str) -> str:
    """Join SQL pieces (quoted identifiers, placeholders, keywords) with spaces."""
    return " ".join(p for p in parts if p)


def _unnest(types: Iterable[str], first: int) -> str:
    casts = ", ".join(f"${i}::{t}[]" for i, t in enumerate(types, first))
    return f"unnest({casts})"


def _qualified(columns: Sequence[str]) -> str:
    return ", ".join(f"t.{c}" for c in columns)


def _columns_of(rows: Sequence[Sequence[Any]], width: int) -> tuple[list[Any], ...]:
    """Transpose rows into one list per column (unnest's arrays)."""
    if not rows:
        return tuple([] for _ in range(width))
    return tuple(list(column) for column in zip(*rows, strict=True))


class _Codec:
    """Per dialect and schema: column order, encoders, decoders, PG types."""

    def __init__(self, dialect: Dialect, schema: Schema) -> None:
        self.schema = schema
        self.names = schema.column_names
        self.quoted = [quote(n, "column") for n in self.names]
        self.quoted_key = [quote(n, "column") for n in schema.primary_key]
        self.returning_columns = self.quoted_key
        self.returning = ", ".join(self.quoted_key)
        types = {c.name: c.type for c in schema.all_columns}
        self._encoders = {n: encoder(dialect, types[n]) for n in self.names}
        self._pg = {n: SQL_TYPES["postgres"][types[n]].lower() for n in self.names}
        decoders = [decoder(dialect, types[n]) for n in self.names]
        self._decoding = [(i, d) for i, d in enumerate(decoders) if not is_identity(d)]
        self._encode_all = self._picker(self.names)
        self._pickers: dict[tuple[str, ...], Callable[[Row], tuple[Any, ...]]] = {}

    def picker(self, columns: tuple[str, ...]) -> Callable[[Row], tuple[Any, ...]]:
        """A function picking ``columns`` of a row as encoded values (memoised)."""
        found = self._pickers.get(columns)
        if found is None:
            found = self._pickers[columns] = self._picker(columns)
        return found

    def pg_type(self, column: str) -> str:
        return self._pg[column]

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
        """One list of encoded values per column of ``columns`` (unnest's arrays)."""
        arrays = []
        for column in columns:
            values = [row[column] for row in rows]
            convert = self._encoders[column]
            if not is_identity(convert):
                values = [convert(v) for v in values]
            arrays.append(values)
        return arrays

    def column_encoder(self, column: str) -> Callable[[Any], Any]:
        return self._encoders[column]

    def encode_rows(self, rows: Sequence[Row]) -> list[tuple[Any, ...]]:
        encode = self._encode_all
        return [encode(row) for row in rows]

    def key_encoder(self) -> Callable[[Key], tuple[Any, ...]]:
        encoders = [self._encoders[c] for c in self.schema.primary_key]
        if all(is_identity(e) for e in encoders):
            return tuple
        return lambda key: tuple(e(v) for e, v in zip(encoders, key, strict=True))

    def decode_all(self, rows: Iterable[Sequence[Any]]) -> list[dict[str, Any]]:
        if self._decoding:
            decode = self.decode
            return [decode(values) for values in rows]
        names = self.names
        # Each row holds exactly these columns (the SELECT names them): a
        # strict zip would only cost time.
        return [dict(zip(names, values, strict=False)) for values in rows]

    def decode(self, values: Sequence[Any]) -> dict[str, Any]:
        row = dict(zip(self.names, values, strict=True))
        if self._decoding:
            names = self.names
            for i, convert in self._decoding:
                value = values[i]
                if value is not None:
                    row[names[i]] = convert(value)
        return row


_CODECS: dict[tuple[str, str], _Codec] = {}


def _codec(dialect: Dialect, schema: Schema) -> _Codec:
    codec = _CODECS.get((dialect, schema.name))
    if codec is None or codec.schema is not schema:
        codec = _CODECS[(dialect, schema.name)] = _Codec(dialect, schema)
    return codec


LOOKUPS: Final = frozenset(
    {"eq", "ne", "gt", "gte", "lt", "lte", "in", "isnull", "startswith", "contains"}
)
"""The lookups :func:`select_where` understands."""

_COMPARE: Final = {
    "eq": "=",
    "ne": "<>",
    "gt": ">",
    "gte": ">=",
    "lt": "<",
    "lte": "<=",
}


def select_where(
    dialect: Dialect,
    schema: Schema,
    filters: Sequence[tuple[str, str, Any]],
    *,
    order_by: Sequence[tuple[str, bool]] = (),
    limit: int | None = None,
) -> Statement:
    """A statement reading every column of the rows matching ``filters``.

    Args:
        dialect: the target dialect.
        schema: the table.
        filters: ``(column, lookup, value)`` triples, all of which must hold;
            lookups are those of :data:`LOOKUPS`.
        order_by: ``(column, descending)`` pairs.
        limit: the most rows to return.
    """
    codec = _codec(dialect, schema)
    params: list[Any] = []

    def bind(value: Any) -> str:
        params.append(value)
        return "?" if dialect == "sqlite" else f"${len(params)}"

    where = []
    for column, lookup, value in filters:
        name = quote(column, "column")
        convert = codec.column_encoder(column)
        if lookup in _COMPARE:
            if value is None:
                where.append(f"{name} IS {'NOT ' if lookup == 'ne' else ''}NULL")
            else:
                where.append(f"{name} {_COMPARE[lookup]} {bind(convert(value))}")
        elif lookup == "isnull":
            where.append(f"{name} IS {'' if value else 'NOT '}NULL")
        elif lookup == "in":
            values = [convert(v) for v in value]
            if not values:
                where.append("1 = 0")
            elif dialect == "sqlite":
                where.append(f"{name} IN ({', '.join(bind(v) for v in values)})")
            else:
                where.append(f"{name} = ANY({bind(values)}::{codec.pg_type(column)}[])")
        elif dialect == "sqlite":
            # Case-sensitive, as LIKE is on PostgreSQL (SQLite's LIKE is not).
            text = str(value)
            if lookup == "startswith":
                length = bind(len(text))
                where.append(f"substr({name}, 1, {length}) = {bind(text)}")
            else:
                where.append(f"instr({name}, {bind(text)}) > 0")
        else:
            escaped = like_escape(str(value))
            pattern = f"{escaped}%" if lookup == "startswith" else f"%{escaped}%"
            where.append(f"{name} LIKE {bind(pattern)} ESCAPE '{LIKE_ESCAPE}'")
    parts = ["SELECT", ", ".join(codec.quoted), "FROM", quote(schema.name, "table")]
    if where:
        parts += ["WHERE", " AND ".join(where)]
    if order_by:
        # NULLs sort as the lowest value on both databases (SQLite's rule).
        nulls = {False: "", True: ""}
        if dialect == "postgres":
            nulls = {False: " NULLS FIRST", True: " NULLS LAST"}
        keys = [
            f"{quote(c, 'column')} {'DESC' if d else 'ASC'}{nulls[d]}"
            for c, d in order_by
        ]
        parts += ["ORDER BY", ", ".join(keys)]
    if limit is not None:
        parts += ["LIMIT", bind(int(limit))]
    return Statement(_sql(*parts), params)
