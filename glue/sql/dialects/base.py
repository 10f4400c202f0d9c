"""The contract every dialect keeps: :class:`Dialect`, and its vocabulary.

:class:`Dialect` is what the rest of glue may ask of a database's SQL; a dialect
module implements it once, as one object (``SQLITE``, ``POSTGRES``). A
:class:`Statement` is SQL with its bound values, as the batched DML builds it
and connections run it. What every dialect writes alike is
:mod:`glue.sql.dialects.standard`; how values are converted on their way in and
out, :mod:`glue.sql.dialects.codecs`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Protocol

import msgspec

if TYPE_CHECKING:
    import datetime as dt
    from collections.abc import Mapping

    from ...connections.abc import Connection
    from ...schema.model import ColumnType, Schema
    from ...state.identity import Key, Row
    from .catalog import TableInfo
    from .codecs import TableCodec

__all__ = ["Convert", "Dialect", "Params", "Statement"]

Params = Sequence[Any]
"""Positional values bound to a statement's placeholders."""

Convert = Callable[[Any], Any]
"""A function turning one value into another (an encoder or a decoder)."""


class Statement(msgspec.Struct, frozen=True):
    """One step of a batch: a statement run once, or once per parameter row.

    Attributes:
        sql: the statement, with the dialect's placeholders.
        params: the values for one run.
        many: when set, the statement runs once per row of values, and ``params``
            is ignored.
        name: when set, the name under which the later statements of one
            :meth:`Dialect.combine` read the rows this one returns (PostgreSQL:
            its common table expression's name); where statements run one
            after another (SQLite) nothing is named.
    """

    sql: str
    params: Params = ()
    many: Sequence[Params] | None = None
    name: str | None = None


class Dialect(Protocol):
    """What one database's SQL looks like, asked by every part that writes SQL.

    One object per database (``glue.sql.dialects.SQLITE``, ``POSTGRES``); a
    connection and a pool name theirs (``conn.dialect``). ``str(dialect)`` is its
    :attr:`name`. Methods build SQL text from names glue validated and
    placeholders: values are always bound, never written into the text (DDL's
    :meth:`literal` aside, which cannot bind).
    """

    # -- who ------------------------------------------------------------------

    @property
    def name(self) -> str:
        """``"sqlite"``, ``"postgres"``: for messages, logs and explain output."""
        ...

    # -- names, placeholders, values --------------------------------------------

    def quote(self, name: str, what: str = "identifier") -> str:
        """``name`` validated as an identifier and quoted.

        Raises:
            glue.SchemaError: not a valid name; the message names it as ``what``.
        """
        ...

    def placeholder(self, index: int) -> str:
        """The placeholder of the ``index``-th (1-based) bound value."""
        ...

    def number_placeholders(self, pieces: Sequence[str]) -> str:
        """The statement made of ``pieces`` with a placeholder between each two,
        numbered from 1."""
        ...

    def encoder(self, column_type: ColumnType) -> Convert:
        """The function turning a Python value of ``column_type`` into what the
        driver stores; :func:`~glue.sql.dialects.codecs.identity` when the driver
        takes the value as it is."""
        ...

    def decoder(self, column_type: ColumnType) -> Convert:
        """The function turning what the driver returns for ``column_type`` back
        into the Python value; ``identity`` when there is nothing to do."""
        ...

    def codec(self, schema: Schema) -> TableCodec:
        """The table's column order, quoted names, encoders and decoders in this
        dialect: built once per schema and kept with it
        (:meth:`glue.schema.Schema.derived`)."""
        ...

    # -- reading: the SELECT compiler's choices ----------------------------------

    @property
    def distinct_on(self) -> bool:
        """Whether ``SELECT DISTINCT ON (...)`` exists; else the compiler keeps
        each group's first row by ``ROW_NUMBER()``."""
        ...

    @property
    def parenthesized_set_operations(self) -> bool:
        """Whether the left side of each further set operation goes in
        parentheses, so that operations combine left to right."""
        ...

    @property
    def decimals_as_text(self) -> bool:
        """Whether DECIMAL values are stored as text, so that ordering and
        comparing them needs :meth:`numeric`."""
        ...

    def numeric(self, sql: str) -> str:
        """``sql`` (a DECIMAL stored as text) as a number, to compare or sort."""
        ...

    def as_text(self, sql: str) -> str:
        """A non-text expression as text, for LIKE and regular expressions."""
        ...

    def typed_constant(self, mark: str, column_type: ColumnType) -> str:
        """A selected constant's placeholder, so its column has ``column_type``."""
        ...

    def average(self, call: str) -> str:
        """``AVG(...)``, as a float."""
        ...

    def integer_sum(self, call: str) -> str:
        """``SUM(...)`` of an integer column, as an integer."""
        ...

    def limit(self, limit: str | None, offset: str | None) -> str:
        """The clause (with a leading space) for a LIMIT and an OFFSET
        placeholder, either of which may be None; empty for neither."""
        ...

    def text_pattern(
        self, text: str, *, starts: bool, ends: bool, ignore_case: bool
    ) -> str:
        """The pattern :meth:`text_match` binds to find ``text`` literally: at the
        start of the value (``starts``), at its end (``ends``), or anywhere."""
        ...

    def text_match(self, sql: str, mark: str, *, ignore_case: bool) -> str:
        """The condition matching text ``sql`` against a :meth:`text_pattern`
        bound at ``mark``; case-sensitive unless ``ignore_case``."""
        ...

    def regex_pattern(self, pattern: str, *, ignore_case: bool) -> str:
        """The value :meth:`regex_match` binds for a regular expression."""
        ...

    def regex_match(self, sql: str, mark: str, *, ignore_case: bool) -> str:
        """The condition matching text ``sql`` against a :meth:`regex_pattern`
        bound at ``mark``."""
        ...

    def is_in(
        self, sql: str, mark: str, column_type: ColumnType, values: list[Any]
    ) -> tuple[str, list[Any]]:
        """The condition ``sql`` is one of ``values`` (already encoded, at least
        one), with ``mark`` for each placeholder, and the values to bind."""
        ...

    def json_path(self, sql: str, keys: Sequence[str], *, text: bool) -> str:
        """The value under ``keys`` of JSON column ``sql``: as JSON, or as text
        (its SQL value: a string unquoted, a number as it is)."""
        ...

    @property
    def json_compares_sql_values(self) -> bool:
        """Whether a JSON path compared with a constant is read as its SQL value
        (``json_path(text=True)``); else as JSON, the constant bound by
        :meth:`json_placeholder` and :meth:`json_parameter`."""
        ...

    def json_placeholder(self, mark: str) -> str:
        """The placeholder of a constant compared with a JSON path."""
        ...

    def json_parameter(self, value: Any) -> Any:
        """A constant as bound for comparison with a JSON path."""
        ...

    # -- writing: batched DML ------------------------------------------------------

    def insert(
        self, schema: Schema, rows: Sequence[Row], *, if_absent: bool = False
    ) -> list[Statement]:
        """Statements inserting ``rows`` (each holding every column).

        With ``if_absent``, rows whose key exists are skipped; what tells which
        went in follows :attr:`batched_writes`.
        """
        ...

    def update(
        self,
        schema: Schema,
        columns: Sequence[str],
        rows: Sequence[Row],
        held: Sequence[str | None],
    ) -> list[Statement]:
        """Statements writing ``columns`` of ``rows``, each row guarded by the etag
        it held (in a versioned table) or by existing; each statement's count is
        the number of rows it matched."""
        ...

    def delete(
        self, schema: Schema, keys: Sequence[Key], held: Sequence[str | None]
    ) -> list[Statement]:
        """Statements deleting the rows of ``keys``, each guarded by its held
        etag; what tells which matched follows :attr:`batched_writes`."""
        ...

    def select_by_keys(
        self, schema: Schema, keys: Sequence[Key], *, for_update: bool = False
    ) -> list[Statement]:
        """Statements reading every column (in :meth:`codec` order) of the rows of
        ``keys``, in chunks the database accepts; ``for_update`` locks them until
        the transaction ends where the database locks rows."""
        ...

    @property
    def batched_writes(self) -> bool:
        """How a flush goes out and what tells which guarded rows matched.

        True: every statement of a flush goes to one `Connection.batch` call,
        which runs them atomically (so a flush of inserts needs no BEGIN and
        COMMIT of its own); creates and deletes are one statement per row, each
        count saying whether its row matched. False: statements go one at a
        time, so only a single statement is atomic alone; a create or delete
        returns the keys it matched.
        """
        ...

    @property
    def copy_from(self) -> int | None:
        """From how many rows an insert goes out by `Connection.copy_records`
        (records from :meth:`TableCodec.encode_rows`); None: never."""
        ...

    def upsert(
        self,
        table: str,
        columns: Sequence[str],
        key: Sequence[str],
        *,
        update: Mapping[str, str] | None = None,
        returning: Sequence[str] = (),
    ) -> str:
        """INSERT of one row (placeholders 1 to ``len(columns)``) that, when a row
        with the same ``key`` exists, sets ``update``'s columns to its SQL
        expressions (``table``'s quoted name reads the row there) or, with no
        ``update``, does nothing; returning ``returning``'s columns."""
        ...

    # -- transactions and locks ----------------------------------------------------

    @property
    def embedded(self) -> bool:
        """Whether the database runs inside this process: a COMMIT cannot lose
        its reply, so it is the safest database to commit a unit's decision on."""
        ...

    @property
    def two_phase(self) -> bool:
        """Whether the database can take part in two-phase commit at all (its
        server may still not allow it: :meth:`allows_prepared_transactions`)."""
        ...

    async def allows_prepared_transactions(self, conn: Connection) -> bool:
        """Whether ``conn``'s database can prepare transactions (two-phase
        commit); SQLite never can, PostgreSQL when its server is set to."""
        ...

    def prepare_transaction(self, gid: str) -> str:
        """The statement preparing the open transaction as ``gid`` (only
        ``[0-9a-z_]``, so it may sit in a literal)."""
        ...

    def finish_prepared(self, gid: str, *, commit: bool) -> str:
        """The statement committing, or rolling back, prepared transaction
        ``gid``."""
        ...

    async def is_prepared(self, conn: Connection, gid: str) -> bool:
        """Whether ``gid`` is still a prepared transaction of ``conn``'s server."""
        ...

    async def prepared_transactions(
        self, conn: Connection, prefix: str
    ) -> list[tuple[str, dt.datetime]]:
        """The transactions prepared in ``conn``'s database whose id starts with
        ``prefix``, each with when it was prepared, oldest first."""
        ...

    async def current_transaction(self, conn: Connection) -> int:
        """The server's number for ``conn``'s open transaction, by which
        :meth:`transaction_status` tells later how it ended."""
        ...

    async def transaction_status(self, conn: Connection, number: int) -> str | None:
        """``"committed"``, ``"aborted"`` or ``"in progress"`` for transaction
        ``number`` of ``conn``'s server; None when it cannot tell any more."""
        ...

    @property
    def skip_locked(self) -> str:
        """The clause (with a leading space) that ends a SELECT claiming rows
        other transactions may claim at once: it locks the rows it returns and
        passes over those another holds; empty where a writer holds the whole
        database, so claims never meet."""
        ...

    def notify(self, channel: str) -> Statement | None:
        """The statement that, run in a transaction, wakes the listeners of
        ``channel`` once it commits (:meth:`glue.connections.Connection.listen`);
        None where the database cannot tell other sessions."""
        ...

    def combine(self, statements: Sequence[Statement]) -> list[Statement]:
        """``statements`` (none of them ``many``) as few statements as run
        them in order: one on PostgreSQL (the writes as common table
        expressions, atomic and one round trip), the same list where a batch
        is one call already (SQLite)."""
        ...

    async def advisory_lock(self, conn: Connection, key: int) -> None:
        """Wait for the advisory lock ``key``, held until ``conn``'s transaction
        ends."""
        ...

    async def try_advisory_lock(self, conn: Connection, key: int) -> bool:
        """Take the advisory lock ``key`` if it is free; whether it was taken."""
        ...

    # -- tables: types, DDL, sequences, introspection ---------------------------

    def type_name(self, column_type: ColumnType) -> str:
        """The type glue declares a ``column_type`` column with."""
        ...

    def column_type(self, declared: str) -> ColumnType | None:
        """The portable type of a column the database reports as ``declared``;
        None when it has none."""
        ...

    def literal(self, value: Any, column_type: ColumnType | None = None) -> str:
        """A constant as a SQL literal, for DDL, which cannot bind values.

        With ``column_type``, the value is first encoded as the column stores it.

        Raises:
            glue.SchemaError: the value cannot be written safely as a literal.
        """
        ...

    @property
    def rebuilds_tables(self) -> bool:
        """Whether a changed constraint, column type or primary key rebuilds the
        table (copy into a new one); else constraints are altered in place and
        changing a column or the key is refused."""
        ...

    @property
    def rebuild_prelude(self) -> tuple[str, ...]:
        """Statements a table rebuild runs first, in its transaction."""
        ...

    @property
    def sequences(self) -> bool:
        """Whether the database has sequences (:meth:`create_sequence`)."""
        ...

    def create_sequence(self, name: str, start: int) -> str:
        """The statement creating sequence ``name`` (quoted) unless it exists."""
        ...

    def next_values(self, name: str, count: int) -> Statement:
        """A query returning ``count`` new values of sequence ``name`` (quoted),
        one per row."""
        ...

    async def table_names(self, conn: Connection) -> list[str]:
        """The names of the tables of ``conn``'s database (its own excluded),
        sorted."""
        ...

    async def describe(self, conn: Connection, table: str) -> TableInfo:
        """Columns, key, indexes and constraints of ``table``; no columns when
        there is no such table."""
        ...
