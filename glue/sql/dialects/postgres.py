"""PostgreSQL's dialect: ``$n`` placeholders, typed values, set-based writes.

How a batch of rows becomes SQL here:

==========  =====================================================================
write       PostgreSQL
==========  =====================================================================
insert      ``COPY`` (`Connection.copy_records`) from :attr:`COPY_ROWS` rows, else
            one ``INSERT ... SELECT FROM unnest(...)`` (one row: ``VALUES``)
create      the same with ``ON CONFLICT DO NOTHING RETURNING`` key
update      one ``UPDATE ... FROM unnest(...) WHERE etag = held`` (its count
            says how many rows matched)
delete      one ``DELETE ... USING unnest(...) RETURNING`` key (asyncpg's
            ``executemany`` reports no counts)
==========  =====================================================================

A row count short of the rows is pinned to its rows by reading them back.
Parameter arrays for ``unnest`` are built a column at a time, encoders applied
only where a column needs one. asyncpg gives and takes most Python values as
they are; datetimes are made aware and JSON goes as text.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, Final

from ...schema.model import ETAG, ColumnType
from . import postgres_catalog
from .base import Statement
from .codecs import TableCodec, identity, json_in, json_out, utc
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
    from collections.abc import Iterable, Mapping, Sequence

    from ...connections.abc import Connection
    from ...schema.model import Schema
    from ...state.identity import Key, Row
    from .base import Convert
    from .catalog import TableInfo

__all__ = [
    "COPY_ROWS",
    "POSTGRES",
    "PostgresDialect",
]

COPY_ROWS: Final = 100
"""From this many rows, an insert goes out by ``COPY`` (faster from about 100
rows; below, one INSERT over ``unnest`` costs a little less)."""

_ENCODERS: Final[dict[ColumnType, Convert]] = {
    ColumnType.DATETIME: utc,
    ColumnType.JSON: json_out,
}

_DECODERS: Final[dict[ColumnType, Convert]] = {
    ColumnType.JSON: json_in,
}

# Element types of unnest's parameter arrays.
_ARRAY_TYPES: Final = {
    column_type: name.lower()
    for column_type, name in postgres_catalog.TYPE_NAMES.items()
}

_PLACEHOLDER = re.compile(r"\$(\d+)")


def _shift(sql: str, offset: int) -> str:
    """``sql`` with each ``$n`` made ``$(n + offset)``."""
    return _PLACEHOLDER.sub(lambda m: f"${int(m[1]) + offset}", sql)


def _unnest(types: Iterable[str]) -> str:
    casts = ", ".join(f"${i}::{t}[]" for i, t in enumerate(types, 1))
    return f"unnest({casts})"


def _transpose(rows: Sequence[Sequence[Any]], width: int) -> tuple[list[Any], ...]:
    """Rows as one list per column (unnest's arrays)."""
    if not rows:
        return tuple([] for _ in range(width))
    return tuple(list(column) for column in zip(*rows, strict=True))


class PostgresDialect:
    """PostgreSQL, through asyncpg (see :class:`glue.sql.dialects.Dialect`)."""

    name: Final = "postgres"
    distinct_on: Final = True
    # PostgreSQL binds INTERSECT tighter than UNION and EXCEPT unless the left
    # side is parenthesised; SQLite combines left to right.
    parenthesized_set_operations: Final = True
    decimals_as_text: Final = False
    json_compares_sql_values: Final = False
    batched_writes: Final = False
    copy_from: Final = COPY_ROWS
    embedded: Final = False
    two_phase: Final = True
    skip_locked: Final = " FOR UPDATE SKIP LOCKED"
    rebuilds_tables: Final = False
    rebuild_prelude: Final = ()
    sequences: Final = True

    def __init__(self) -> None:
        self._codec_key = f"codec {self.name}"

    def __repr__(self) -> str:
        return "<PostgresDialect>"

    def __str__(self) -> str:
        return self.name

    # -- names, placeholders, values --------------------------------------------

    # The shared function itself, not a method around it: the compiler calls it
    # for every name of every statement.
    quote = staticmethod(quote_identifier)

    def placeholder(self, index: int) -> str:
        return f"${index}"

    def number_placeholders(self, pieces: Sequence[str]) -> str:
        out = [pieces[0]]
        for index, piece in enumerate(pieces[1:], start=1):
            out.append(f"${index}")
            out.append(piece)
        return "".join(out)

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
        return sql  # NUMERIC is a number already

    def as_text(self, sql: str) -> str:
        return f"CAST({sql} AS TEXT)"

    def typed_constant(self, mark: str, column_type: ColumnType) -> str:
        # A bare parameter in a select list is text to PostgreSQL.
        return f"CAST({mark} AS {postgres_catalog.TYPE_NAMES[column_type]})"

    def average(self, call: str) -> str:
        return f"CAST({call} AS DOUBLE PRECISION)"  # AVG of integers is NUMERIC

    def integer_sum(self, call: str) -> str:
        return f"CAST({call} AS BIGINT)"  # SUM of BIGINT is NUMERIC

    def limit(self, limit: str | None, offset: str | None) -> str:
        clause = "" if limit is None else f" LIMIT {limit}"
        return clause if offset is None else f"{clause} OFFSET {offset}"

    def text_pattern(
        self, text: str, *, starts: bool, ends: bool, ignore_case: bool
    ) -> str:
        return f"{'' if starts else '%'}{like_escape(text)}{'' if ends else '%'}"

    def text_match(self, sql: str, mark: str, *, ignore_case: bool) -> str:
        op = "ILIKE" if ignore_case else "LIKE"
        return f"{sql} {op} {mark} ESCAPE '{LIKE_ESCAPE}'"

    def regex_pattern(self, pattern: str, *, ignore_case: bool) -> str:
        return pattern

    def regex_match(self, sql: str, mark: str, *, ignore_case: bool) -> str:
        return f"{sql} {'~*' if ignore_case else '~'} {mark}"

    def is_in(
        self, sql: str, mark: str, column_type: ColumnType, values: list[Any]
    ) -> tuple[str, list[Any]]:
        # One array parameter, however many values.
        return f"{sql} = ANY({mark}::{_ARRAY_TYPES[column_type]}[])", [values]

    def json_path(self, sql: str, keys: Sequence[str], *, text: bool) -> str:
        return f"({sql} {'#>>' if text else '#>'} '{{{','.join(keys)}}}')"

    def json_placeholder(self, mark: str) -> str:
        return f"{mark}::jsonb"

    def json_parameter(self, value: Any) -> Any:
        return json_out(value)

    # -- writing ---------------------------------------------------------------------

    def insert(
        self, schema: Schema, rows: Sequence[Row], *, if_absent: bool = False
    ) -> list[Statement]:
        codec = self.codec(schema)
        one = len(rows) == 1
        sql = codec.sql(
            ("insert", one, if_absent),
            lambda: self._insert_sql(schema, codec, one=one, if_absent=if_absent),
        )
        if one:
            return [Statement(sql, codec.encode_rows(rows)[0])]
        return [Statement(sql, codec.columns_of(rows, codec.names))]

    def _insert_sql(
        self, schema: Schema, codec: TableCodec, *, one: bool, if_absent: bool
    ) -> str:
        table = self.quote(schema.name, "table")
        columns = f"({', '.join(codec.quoted)})"
        returning = ", ".join(codec.quoted_key)
        tail = f"ON CONFLICT DO NOTHING RETURNING {returning}" if if_absent else ""
        if one:
            values = ", ".join(f"${i}" for i in range(1, len(codec.names) + 1))
            return join_sql(
                "INSERT INTO", table, columns, "VALUES", f"({values})", tail
            )
        arrays = _unnest(_ARRAY_TYPES[codec.types[n]] for n in codec.names)
        return join_sql("INSERT INTO", table, columns, "SELECT * FROM", arrays, tail)

    def update(
        self,
        schema: Schema,
        columns: Sequence[str],
        rows: Sequence[Row],
        held: Sequence[str | None],
    ) -> list[Statement]:
        codec = self.codec(schema)
        one = len(rows) == 1
        sql = codec.sql(
            ("update", one, tuple(columns)),
            lambda: self._update_sql(schema, codec, columns, one=one),
        )
        arrays = codec.columns_of(rows, (*columns, *schema.primary_key))
        if schema.versioned:
            arrays.append(list(held))
        if one:
            return [Statement(sql, [array[0] for array in arrays])]
        return [Statement(sql, arrays)]

    def _update_sql(
        self, schema: Schema, codec: TableCodec, columns: Sequence[str], *, one: bool
    ) -> str:
        table = self.quote(schema.name, "table")
        key = schema.primary_key
        versioned = schema.versioned
        etag = self.quote(ETAG, "column")
        written = [self.quote(c, "column") for c in columns]
        width = len(columns) + len(key) + versioned
        if one:
            sets = ", ".join(f"{c} = ${i}" for i, c in enumerate(written, 1))
            where = " AND ".join(
                f"{self.quote(c, 'column')} = ${i}"
                for i, c in enumerate(key, len(columns) + 1)
            )
            if versioned:
                where += f" AND {etag} = ${width}"
            return join_sql("UPDATE", table, "SET", sets, "WHERE", where)
        types = [_ARRAY_TYPES[codec.types[c]] for c in (*columns, *key)]
        if versioned:
            types.append("text")
        names = [f"p{i}" for i in range(1, width + 1)]
        sets = ", ".join(f"{c} = v.{n}" for c, n in zip(written, names, strict=False))
        where = " AND ".join(
            f"t.{self.quote(c, 'column')} = v.{n}"
            for c, n in zip(key, names[len(columns) :], strict=False)
        )
        if versioned:
            where += f" AND t.{etag} = v.{names[-1]}"
        source = f"{_unnest(types)} AS v({', '.join(names)})"
        return join_sql(
            "UPDATE", table, "AS t SET", sets, "FROM", source, "WHERE", where
        )

    def delete(
        self, schema: Schema, keys: Sequence[Key], held: Sequence[str | None]
    ) -> list[Statement]:
        codec = self.codec(schema)
        versioned = schema.versioned
        encode_key = codec.key_encoder()
        params = [
            (*encode_key(k), e) if versioned else encode_key(k)
            for k, e in zip(keys, held, strict=True)
        ]
        one = len(params) == 1
        sql = codec.sql(
            ("delete", one), lambda: self._delete_sql(schema, codec, one=one)
        )
        if one:
            return [Statement(sql, params[0])]
        width = len(schema.primary_key) + versioned
        return [Statement(sql, _transpose(params, width))]

    def _delete_sql(self, schema: Schema, codec: TableCodec, *, one: bool) -> str:
        table = self.quote(schema.name, "table")
        key = schema.primary_key
        versioned = schema.versioned
        etag = self.quote(ETAG, "column")
        width = len(key) + versioned
        if one:
            where = " AND ".join(
                f"{self.quote(c, 'column')} = ${i}" for i, c in enumerate(key, 1)
            )
            if versioned:
                where += f" AND {etag} = ${width}"
            returning = ", ".join(codec.quoted_key)
            return join_sql(
                "DELETE FROM", table, "WHERE", where, "RETURNING", returning
            )
        names = [f"p{i}" for i in range(1, width + 1)]
        types = [_ARRAY_TYPES[codec.types[c]] for c in key]
        if versioned:
            types.append("text")
        where = " AND ".join(
            f"t.{self.quote(c, 'column')} = v.{n}"
            for c, n in zip(key, names, strict=False)
        )
        if versioned:
            where += f" AND t.{etag} = v.{names[-1]}"
        source = f"{_unnest(types)} AS v({', '.join(names)})"
        returning = ", ".join(f"t.{c}" for c in codec.quoted_key)
        return join_sql(
            "DELETE FROM", table, "AS t USING", source, "WHERE", where,
            "RETURNING", returning,
        )  # fmt: skip

    def select_by_keys(
        self, schema: Schema, keys: Sequence[Key], *, for_update: bool = False
    ) -> list[Statement]:
        codec = self.codec(schema)
        encode_key = codec.key_encoder()
        encoded = [encode_key(k) for k in keys]
        sql = codec.sql(
            ("select", for_update),
            lambda: self._select_sql(schema, codec, for_update=for_update),
        )
        if len(schema.primary_key) == 1:
            return [Statement(sql, ([k[0] for k in encoded],))]
        return [Statement(sql, _transpose(encoded, len(schema.primary_key)))]

    def _select_sql(
        self, schema: Schema, codec: TableCodec, *, for_update: bool
    ) -> str:
        table = self.quote(schema.name, "table")
        columns = ", ".join(codec.quoted)
        key = schema.primary_key
        lock = "FOR UPDATE" if for_update else ""
        if len(key) == 1:
            array = _ARRAY_TYPES[codec.types[key[0]]]
            where = f"{codec.quoted_key[0]} = ANY($1::{array}[])"
            return join_sql("SELECT", columns, "FROM", table, "WHERE", where, lock)
        source = _unnest(_ARRAY_TYPES[codec.types[c]] for c in key)
        where = join_sql(
            f"({', '.join(codec.quoted_key)})", "IN (SELECT * FROM", source, ")"
        )
        return join_sql("SELECT", columns, "FROM", table, "WHERE", where, lock)

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
        # pg_notify binds the channel; NOTIFY would need it in the text.
        return Statement("SELECT pg_notify($1, '')", (channel,))

    def combine(self, statements: Sequence[Statement]) -> list[Statement]:
        if len(statements) < 2:
            return list(statements)
        # Each statement's $n move past the values of those before it; names
        # are validated identifiers, so a "$" is always a placeholder.
        parts: list[str] = []
        params: list[Any] = []
        for statement in statements:
            parts.append(_shift(statement.sql, len(params)))
            params.extend(statement.params)
        *writes, last = parts
        if not last.lstrip().upper().startswith("SELECT"):
            writes, last = parts, "SELECT 1"
        names = [s.name or f"glue_w{i}" for i, s in enumerate(statements)]
        ctes = ", ".join(f"{n} AS ({w})" for n, w in zip(names, writes, strict=False))
        return [Statement(f"WITH {ctes} {last}", tuple(params))]

    async def allows_prepared_transactions(self, conn: Connection) -> bool:
        result = await conn.fetch("SHOW max_prepared_transactions")
        return int(result.rows[0][0]) > 0

    def prepare_transaction(self, gid: str) -> str:
        return f"PREPARE TRANSACTION '{gid}'"

    def finish_prepared(self, gid: str, *, commit: bool) -> str:
        return f"{'COMMIT' if commit else 'ROLLBACK'} PREPARED '{gid}'"

    async def is_prepared(self, conn: Connection, gid: str) -> bool:
        result = await conn.fetch(
            "SELECT 1 FROM pg_prepared_xacts WHERE gid = $1", (gid,)
        )
        return bool(result.rows)

    async def prepared_transactions(
        self, conn: Connection, prefix: str
    ) -> list[tuple[str, dt.datetime]]:
        # pg_prepared_xacts lists the whole server's: keep this database's.
        result = await conn.fetch(
            "SELECT gid, prepared FROM pg_prepared_xacts "
            "WHERE database = current_database() AND starts_with(gid, $1) "
            "ORDER BY prepared",
            (prefix,),
        )
        return [(gid, prepared) for gid, prepared in result.rows]

    async def current_transaction(self, conn: Connection) -> int:
        result = await conn.fetch("SELECT txid_current()")
        return int(result.rows[0][0])

    async def transaction_status(self, conn: Connection, number: int) -> str | None:
        result = await conn.fetch("SELECT txid_status($1)", (number,))
        status = result.rows[0][0]
        return None if status is None else str(status)

    async def advisory_lock(self, conn: Connection, key: int) -> None:
        await conn.fetch("SELECT pg_advisory_xact_lock($1)", (key,))

    async def try_advisory_lock(self, conn: Connection, key: int) -> bool:
        result = await conn.fetch("SELECT pg_try_advisory_xact_lock($1)", (key,))
        return bool(result.rows[0][0])

    # -- tables ---------------------------------------------------------------------

    def type_name(self, column_type: ColumnType) -> str:
        return postgres_catalog.TYPE_NAMES[column_type]

    def column_type(self, declared: str) -> ColumnType | None:
        return postgres_catalog.column_type(declared)

    def literal(self, value: Any, column_type: ColumnType | None = None) -> str:
        value = literal_value(self, value, column_type)
        if isinstance(value, bool):
            return "TRUE" if value else "FALSE"
        if isinstance(value, str):
            quoted = text_literal(value)
            if "\\" in value:
                # In '...' a backslash escapes the quote after it when the server's
                # standard_conforming_strings is off; E'...' reads the same either way.
                return "E" + quoted.replace("\\", "\\\\")
            return quoted
        return plain_literal(value)

    def create_sequence(self, name: str, start: int) -> str:
        return f"CREATE SEQUENCE IF NOT EXISTS {name} START WITH {int(start)}"

    def next_values(self, name: str, count: int) -> Statement:
        return Statement(
            "SELECT nextval($1::regclass) FROM generate_series(1, $2)", (name, count)
        )

    async def table_names(self, conn: Connection) -> list[str]:
        return await postgres_catalog.table_names(conn)

    async def describe(self, conn: Connection, table: str) -> TableInfo:
        return await postgres_catalog.describe(conn, table)


POSTGRES: Final = PostgresDialect()
"""PostgreSQL's dialect."""
