"""Dialects: everything that differs between databases, one object per database.

A connection and a pool name their dialect (``conn.dialect``, ``pool.dialect``),
and every part of glue that writes SQL or reads a catalog asks that object:
placeholders and quoting, LIKE, GLOB and escaping, LIMIT and OFFSET, casts and
value conversions, the batched DML (upsert, COPY or multi-row insert), whether
a flush needs its own transaction, prepared transactions, advisory locks, type
names and affinity, DDL choices, sequences, and reading tables back. No part
outside this package and ``glue.connections`` compares a database's name;
``dialect.name`` is for messages and explain output.

====================  ===========================================================
module                holds
====================  ===========================================================
``base``              the :class:`Dialect` Protocol and :class:`Statement`
``standard``          what every dialect writes alike: quoting, literals,
                      upsert, LIKE escaping
``codecs``            value converters, :func:`coerce`, :class:`TableCodec`
``catalog``           :class:`TableInfo` and its parts: a table as read back
``sqlite``            :data:`SQLITE`; ``sqlite_catalog`` and
                      ``sqlite_constraints`` read SQLite's tables back
``postgres``          :data:`POSTGRES`; ``postgres_catalog`` reads its tables back
====================  ===========================================================

Adding a database is one dialect module here and one connection module in
``glue.connections`` (whose connections and pool return the dialect object from
their ``dialect`` property). The dialect module provides one object satisfying
:class:`Dialect`, every member of it:

- who: ``name``;
- values: ``quote``, ``placeholder``, ``number_placeholders``, ``encoder``
  and ``decoder`` per portable column type, ``codec`` (a
  :class:`TableCodec` per schema, kept with the schema: ``schema.derived``);
- the SELECT compiler's choices: ``distinct_on``,
  ``parenthesized_set_operations``, ``decimals_as_text`` and ``numeric``,
  ``as_text``, ``typed_constant``, ``average``, ``integer_sum``, ``limit``,
  ``text_pattern`` and ``text_match`` (case-sensitive and not),
  ``regex_pattern`` and ``regex_match``, ``is_in``, ``json_path``,
  ``json_compares_sql_values``, ``json_placeholder``, ``json_parameter``;
- the write path: ``insert`` (plain and if absent), ``update`` and ``delete``
  guarded by etags, ``select_by_keys`` (optionally locking), and how those
  report matches and go out (``batched_writes``, ``copy_from``), ``upsert``;
- transactions and locks: ``embedded``, ``two_phase``,
  ``allows_prepared_transactions``,
  ``prepare_transaction``, ``finish_prepared``, ``is_prepared``,
  ``prepared_transactions``, ``current_transaction``, ``transaction_status``
  (two-phase commit and its recovery), ``advisory_lock``, ``try_advisory_lock``,
  ``skip_locked``, ``notify`` and ``combine`` (claiming rows, waking other
  processes, several writes in one round trip: the outbox);
- tables: ``type_name`` and ``column_type`` (the way back, with the database's
  affinity rules), ``literal`` for DDL, ``rebuilds_tables`` and
  ``rebuild_prelude``, ``sequences`` with ``create_sequence`` and
  ``next_values``, ``table_names`` and ``describe``.

Where a member does not apply (SQLite has no sequences), it raises
:class:`glue.GlueError`, and the flag that says so keeps callers away.
``tests/sql/test_dialects.py`` holds every dialect to the Protocol.
"""

from __future__ import annotations

from .base import Convert as Convert
from .base import Dialect as Dialect
from .base import Params as Params
from .base import Statement as Statement
from .catalog import ColumnInfo as ColumnInfo
from .catalog import ConstraintInfo as ConstraintInfo
from .catalog import IndexInfo as IndexInfo
from .catalog import TableInfo as TableInfo
from .codecs import TableCodec as TableCodec
from .codecs import coerce as coerce
from .codecs import is_identity as is_identity
from .postgres import POSTGRES as POSTGRES
from .postgres import PostgresDialect as PostgresDialect
from .sqlite import SQLITE as SQLITE
from .sqlite import SqliteDialect as SqliteDialect
from .standard import LIKE_ESCAPE as LIKE_ESCAPE
from .standard import like_escape as like_escape

__all__ = [
    "ColumnInfo",
    "ConstraintInfo",
    "Convert",
    "Dialect",
    "IndexInfo",
    "LIKE_ESCAPE",
    "POSTGRES",
    "Params",
    "PostgresDialect",
    "SQLITE",
    "SqliteDialect",
    "Statement",
    "TableCodec",
    "TableInfo",
    "coerce",
    "is_identity",
    "like_escape",
]
