"""SQLite's dialect: ``?`` placeholders, values by affinity, writes in one batch.

How a batch of rows becomes SQL here:

==========  =====================================================================
write       SQLite
==========  =====================================================================
insert      one ``executemany``
create      one statement per row, ``ON CONFLICT DO NOTHING`` (its count says
            whether the row went in)
update      one ``executemany``, ``WHERE key AND etag = ?`` (its total count
            says how many rows matched)
delete      one statement per row (each count says whether its row matched)
==========  =====================================================================

Every statement of a flush goes to one `Connection.batch` call: one hop to the
connection's thread, inside one savepoint. Types without a storage class of
their own are stored as text (decimals, datetimes, dates, UUIDs, JSON) or as
integers (booleans), and read back by the declared type.
"""

from __future__ import annotations

import sqlite3
from functools import partial
from typing import TYPE_CHECKING, Any, Final

from ...errors import GlueError
from ...schema.model import ETAG, ColumnType
from . import sqlite_catalog
from .base import Statement
from .codecs import (
    TableCodec,
    bool_in,
    bool_out,
    date_in,
    datetime_in,
    decimal_in,
    identity,
    iso_out,
    json_in,
    json_out,
    str_out,
    uuid_in,
)
from .standard import (
    LIKE_ESCAPE,
    join_sql,
    like_escape,
    literal_value,
    plain_literal,
    quote_identifier,
    text_literal,
    upsert_sql,
)

if TYPE_CHECKING:
    import datetime as dt
    from collections.abc import Mapping, Sequence

    from ...connections.abc import Connection
    from ...schema.model import Schema
    from ...state.identity import Key, Row
    from .base import Convert
    from .catalog import TableInfo

__all__ = [
    "MAX_PARAMS",
    "SQLITE",
    "SqliteDialect",
]

MAX_PARAMS: Final = 32_000 if sqlite3.sqlite_version_info >= (3, 32) else 900
"""Most values bound in one statement (999 before SQLite 3.32, 32766 since)."""

_ENCODERS: Final[dict[ColumnType, Convert]] = {
    ColumnType.DECIMAL: str_out,
    ColumnType.BOOLEAN: bool_out,
    ColumnType.DATETIME: iso_out,
    ColumnType.DATE: iso_out,
    ColumnType.UUID: str_out,
    ColumnType.JSON: json_out,
}

_DECODERS: Final[dict[ColumnType, Convert]] = {
    ColumnType.DECIMAL: decimal_in,
    ColumnType.BOOLEAN: bool_in,
    ColumnType.DATETIME: datetime_in,
    ColumnType.DATE: date_in,
    ColumnType.UUID: uuid_in,
    ColumnType.JSON: json_in,
}


def _glob_escape(text: str) -> str:
    return text.replace("[", "[[]").replace("*", "[*]").replace("?", "[?]")


class SqliteDialect:
    """SQLite, through aiosqlite (see :class:`glue.sql.dialects.Dialect`)."""

    name: Final = "sqlite"
    distinct_on: Final = False
    # SQLite allows no parentheses around a set operation's operand, and
    # combines them left to right anyway.
    parenthesized_set_operations: Final = False
    decimals_as_text: Final = True
    json_compares_sql_values: Final = True
    batched_writes: Final = True
    copy_from: Final = None
    embedded: Final = True
    two_phase: Final = False
    # A writer holds the whole file: two claims never run at once.
    skip_locked: Final = ""
    # SQLite cannot add or drop a constraint, nor change a column, in place.
    rebuilds_tables: Final = True
    # The copy drops and renames tables that others reference: check foreign
    # keys at commit, when the new table has the old one's name.
    rebuild_prelude: Final = ("PRAGMA defer_foreign_keys = ON",)
    sequences: Final = False

    def __init__(self) -> None:
        self._codec_key = f"codec {self.name}"

    def __repr__(self) -> str:
        return "<SqliteDialect>"

    def __str__(self) -> str:
        return self.name

    # -- names, placeholders, values --------------------------------------------

    # The shared function itself, not a method around it: the compiler calls it
    # for every name of every statement.
    quote = staticmethod(quote_identifier)

    def placeholder(self, index: int) -> str:
        return "?"

    def number_placeholders(self, pieces: Sequence[str]) -> str:
        return "?".join(pieces)

    def encoder(self, column_type: ColumnType) -> Convert:
        return _ENCODERS.get(column_type, identity)

    def decoder(self, column_type: ColumnType) -> Convert:
        return _DECODERS.get(column_type, identity)

    def codec(self, schema: Schema) -> TableCodec:
        return schema.derived(self._codec_key, self._new_codec)

    def _new_codec(self, schema: Schema) -> TableCodec:
        return TableCodec(self, schema)

    # -- reading -------------------------------------------------------------------

    def numeric(self, sql: str) -> str:
        return f"CAST({sql} AS REAL)"

    def as_text(self, sql: str) -> str:
        return sql  # LIKE, GLOB and REGEXP read any value as its text

    def typed_constant(self, mark: str, column_type: ColumnType) -> str:
        return mark  # a bound value keeps its own type

    def average(self, call: str) -> str:
        return call  # AVG is a float already

    def integer_sum(self, call: str) -> str:
        return call  # SUM of integers is an integer already

    def limit(self, limit: str | None, offset: str | None) -> str:
        if limit is not None:
            clause = f" LIMIT {limit}"
        elif offset is not None:
            clause = " LIMIT -1"  # SQLite has no OFFSET without a LIMIT
        else:
            return ""
        return clause if offset is None else f"{clause} OFFSET {offset}"

    def text_pattern(
        self, text: str, *, starts: bool, ends: bool, ignore_case: bool
    ) -> str:
        if ignore_case:
            return f"{'' if starts else '%'}{like_escape(text)}{'' if ends else '%'}"
        return f"{'' if starts else '*'}{_glob_escape(text)}{'' if ends else '*'}"

    def text_match(self, sql: str, mark: str, *, ignore_case: bool) -> str:
        if ignore_case:
            return f"{sql} LIKE {mark} ESCAPE '{LIKE_ESCAPE}'"
        # SQLite's LIKE ignores ASCII case; GLOB does not.
        return f"{sql} GLOB {mark}"

    def regex_pattern(self, pattern: str, *, ignore_case: bool) -> str:
        return f"(?i){pattern}" if ignore_case else pattern

    def regex_match(self, sql: str, mark: str, *, ignore_case: bool) -> str:
        # REGEXP calls regexp(pattern, value), which each connection registers.
        return f"{sql} REGEXP {mark}"

    def is_in(
        self, sql: str, mark: str, column_type: ColumnType, values: list[Any]
    ) -> tuple[str, list[Any]]:
        return f"{sql} IN ({', '.join([mark] * len(values))})", values

    def json_path(self, sql: str, keys: Sequence[str], *, text: bool) -> str:
        return f"({sql} {'->>' if text else '->'} '$.{'.'.join(keys)}')"

    def json_placeholder(self, mark: str) -> str:
        return mark

    def json_parameter(self, value: Any) -> Any:
        return value

    # -- writing ---------------------------------------------------------------------

    def insert(
        self, schema: Schema, rows: Sequence[Row], *, if_absent: bool = False
    ) -> list[Statement]:
        codec = self.codec(schema)
        sql = codec.sql(
            ("insert", if_absent),
            lambda: self._insert_sql(schema, codec, if_absent=if_absent),
        )
        params = codec.encode_rows(rows)
        if if_absent:
            return [Statement(sql, row) for row in params]
        return [Statement(sql, many=params)]

    def _insert_sql(self, schema: Schema, codec: TableCodec, *, if_absent: bool) -> str:
        table = self.quote(schema.name, "table")
        columns = ", ".join(codec.quoted)
        values = ", ".join("?" * len(codec.names))
        sql = join_sql("INSERT INTO", table, f"({columns})", "VALUES", f"({values})")
        return sql + " ON CONFLICT DO NOTHING" if if_absent else sql

    def update(
        self,
        schema: Schema,
        columns: Sequence[str],
        rows: Sequence[Row],
        held: Sequence[str | None],
    ) -> list[Statement]:
        codec = self.codec(schema)
        shape = tuple(columns)
        sql = codec.sql(("update", shape), lambda: self._update_sql(schema, shape))
        # One tuple per row, straight from the row: executemany's parameters.
        pick = codec.picker((*shape, *schema.primary_key))
        if schema.versioned:
            many = [(*pick(row), etag) for row, etag in zip(rows, held, strict=True)]
        else:
            many = [pick(row) for row in rows]
        return [Statement(sql, many=many)]

    def _update_sql(self, schema: Schema, columns: Sequence[str]) -> str:
        sets = ", ".join(f"{self.quote(c, 'column')} = ?" for c in columns)
        where = " AND ".join(
            f"{self.quote(c, 'column')} = ?" for c in schema.primary_key
        )
        if schema.versioned:
            where += f" AND {self.quote(ETAG, 'column')} = ?"
        table = self.quote(schema.name, "table")
        return join_sql("UPDATE", table, "SET", sets, "WHERE", where)

    def delete(
        self, schema: Schema, keys: Sequence[Key], held: Sequence[str | None]
    ) -> list[Statement]:
        encode_key = self.codec(schema).key_encoder()
        sql = self.codec(schema).sql(("delete",), lambda: self._delete_sql(schema))
        if schema.versioned:
            params = [(*encode_key(k), e) for k, e in zip(keys, held, strict=True)]
        else:
            params = [encode_key(k) for k in keys]
        return [Statement(sql, row) for row in params]

    def _delete_sql(self, schema: Schema) -> str:
        where = " AND ".join(
            f"{self.quote(c, 'column')} = ?" for c in schema.primary_key
        )
        if schema.versioned:
            where += f" AND {self.quote(ETAG, 'column')} = ?"
        return join_sql("DELETE FROM", self.quote(schema.name, "table"), "WHERE", where)

    def select_by_keys(
        self, schema: Schema, keys: Sequence[Key], *, for_update: bool = False
    ) -> list[Statement]:
        # No FOR UPDATE: a writer's transaction holds the whole database's lock.
        codec = self.codec(schema)
        width = len(schema.primary_key)
        encode_key = codec.key_encoder()
        encoded = [encode_key(k) for k in keys]
        statements = []
        size = max(1, MAX_PARAMS // width)
        for start in range(0, len(encoded), size):
            chunk = encoded[start : start + size]
            count = len(chunk)
            sql = codec.sql(
                ("select", count), partial(self._select_sql, schema, codec, count)
            )
            if width == 1:
                params: list[Any] = [k[0] for k in chunk]
            else:
                params = [v for k in chunk for v in k]
            statements.append(Statement(sql, params))
        return statements

    def _select_sql(self, schema: Schema, codec: TableCodec, count: int) -> str:
        table = self.quote(schema.name, "table")
        columns = ", ".join(codec.quoted)
        width = len(schema.primary_key)
        if width == 1:
            marks = ", ".join("?" * count)
            where = f"{codec.quoted_key[0]} IN ({marks})"
        else:
            row = f"({', '.join('?' * width)})"
            rows = ", ".join([row] * count)
            where = f"({', '.join(codec.quoted_key)}) IN (VALUES {rows})"
        return join_sql("SELECT", columns, "FROM", table, "WHERE", where)

    def upsert(
        self,
        table: str,
        columns: Sequence[str],
        key: Sequence[str],
        *,
        update: Mapping[str, str] | None = None,
        returning: Sequence[str] = (),
    ) -> str:
        return upsert_sql(self, table, columns, key, update, returning)

    # -- transactions and locks ----------------------------------------------------

    def notify(self, channel: str) -> Statement | None:
        return None

    def combine(self, statements: Sequence[Statement]) -> list[Statement]:
        return list(statements)  # a batch goes out in one thread hop already

    async def allows_prepared_transactions(self, conn: Connection) -> bool:
        return False

    def prepare_transaction(self, gid: str) -> str:
        raise GlueError("SQLite cannot prepare a transaction")

    def finish_prepared(self, gid: str, *, commit: bool) -> str:
        raise GlueError("SQLite has no prepared transactions")

    async def is_prepared(self, conn: Connection, gid: str) -> bool:
        return False

    async def prepared_transactions(
        self, conn: Connection, prefix: str
    ) -> list[tuple[str, dt.datetime]]:
        return []

    async def current_transaction(self, conn: Connection) -> int:
        raise GlueError("SQLite does not number its transactions")

    async def transaction_status(self, conn: Connection, number: int) -> str | None:
        return None

    async def advisory_lock(self, conn: Connection, key: int) -> None:
        """Nothing to take: the transaction holds the database's write lock."""

    async def try_advisory_lock(self, conn: Connection, key: int) -> bool:
        # Joining the transaction waited for the write lock (up to the busy
        # timeout): it is held now.
        return True

    # -- tables ---------------------------------------------------------------------

    def type_name(self, column_type: ColumnType) -> str:
        return sqlite_catalog.TYPE_NAMES[column_type]

    def column_type(self, declared: str) -> ColumnType | None:
        return sqlite_catalog.column_type(declared)

    def literal(self, value: Any, column_type: ColumnType | None = None) -> str:
        value = literal_value(self, value, column_type)
        if isinstance(value, bool):
            return "1" if value else "0"
        if isinstance(value, str):
            return text_literal(value)
        return plain_literal(value)

    def create_sequence(self, name: str, start: int) -> str:
        raise GlueError("SQLite has no sequences; use a counter table")

    def next_values(self, name: str, count: int) -> Statement:
        raise GlueError("SQLite has no sequences; use a counter table")

    async def table_names(self, conn: Connection) -> list[str]:
        return await sqlite_catalog.table_names(conn)

    async def describe(self, conn: Connection, table: str) -> TableInfo:
        return await sqlite_catalog.describe(conn, table)


SQLITE: Final = SqliteDialect()
"""SQLite's dialect."""
