"""SQLite's catalog: the type names glue declares, and tables read back.

SQLite gives every column a type *affinity* from the name it was declared with
(https://www.sqlite.org/datatype3.html, section 3.1): a name holding ``INT`` is
INTEGER, one holding ``CHAR``, ``CLOB`` or ``TEXT`` is TEXT, ``BLOB`` or no name
at all is BLOB, ``REAL``, ``FLOA`` or ``DOUB`` is REAL, anything else NUMERIC.
:func:`column_type` follows those rules, after glue's own names
(:data:`TYPE_NAMES`) and the names that say more than their affinity
(``BOOLEAN``, ``DATETIME``, ``DATE``, ``UUID``, ``JSON``).

:func:`describe` reads a table through SQLite's pragmas, and the names of its
constraints and its CHECK constraints from its CREATE TABLE statement
(:mod:`glue.sql.dialects.sqlite_constraints`); a constraint written without a
name gets the one PostgreSQL would give it (``orders_customer_id_fkey``,
``users_email_key``, ``orders_amount_check``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from ...schema.model import ColumnType
from .catalog import ColumnInfo, ConstraintInfo, IndexInfo, TableInfo
from .sqlite_constraints import sqlite_constraints

if TYPE_CHECKING:
    from ...connections.abc import Connection
    from .catalog import ConstraintKind
    from .sqlite_constraints import Clause

__all__ = [
    "TYPE_NAMES",
    "column_type",
    "describe",
    "table_names",
]

TYPE_NAMES: Final = {
    # Each name keeps the storage affinity the value needs (a name holding INT
    # gets INTEGER affinity, one holding TEXT gets TEXT) and also names the
    # portable type, so a table's columns read back as the same ColumnType.
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
}
"""The type glue declares for each portable column type."""

_BY_NAME = {name: column_type for column_type, name in TYPE_NAMES.items()}

# Names whose portable type is narrower than the affinity they get (NUMERIC for
# all but JSONB): SQLite stores what glue writes for them unchanged.
_NAMED = {
    "BOOL": ColumnType.BOOLEAN,
    "BOOLEAN": ColumnType.BOOLEAN,
    "DATETIME": ColumnType.DATETIME,
    "TIMESTAMP": ColumnType.DATETIME,
    "TIMESTAMPTZ": ColumnType.DATETIME,
    "DATE": ColumnType.DATE,
    "UUID": ColumnType.UUID,
    "JSON": ColumnType.JSON,
    "JSONB": ColumnType.JSON,
}


def column_type(declared: str) -> ColumnType | None:
    """The portable type of a SQLite column declared as ``declared``.

    ``varchar(255)`` is TEXT, ``decimal(10,2)`` DECIMAL, ``bigint unsigned``
    INTEGER, ``double`` FLOAT, ``blob`` BYTES; a column declared without a type
    (BLOB affinity: values kept as they come) has none.
    """
    name = declared.strip().upper()
    exact = _BY_NAME.get(name)
    if exact is not None:
        return exact
    head = name.partition("(")[0].split()
    named = _NAMED.get(head[0]) if head else None
    if named is not None:
        return named
    # SQLite's affinity rules, in their order.
    if "INT" in name:
        return ColumnType.INTEGER
    if "CHAR" in name or "CLOB" in name or "TEXT" in name:
        return ColumnType.TEXT
    if not name:
        return None
    if "BLOB" in name:
        return ColumnType.BYTES
    if "REAL" in name or "FLOA" in name or "DOUB" in name:
        return ColumnType.FLOAT
    return ColumnType.DECIMAL


async def table_names(conn: Connection) -> list[str]:
    """The names of the database's tables, sorted (SQLite's own excluded)."""
    result = await conn.fetch(
        "SELECT name FROM sqlite_master WHERE type = 'table' "
        "AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name"
    )
    return [row[0] for row in result.rows]


async def describe(conn: Connection, table: str) -> TableInfo:
    """Columns, key, indexes and constraints of ``table``, from SQLite's pragmas
    and its CREATE TABLE statement; no columns when there is no such table."""
    column_rows = await conn.fetch(
        'SELECT name, type, "notnull", pk, dflt_value FROM pragma_table_info(?)',
        [table],
    )
    column_infos = tuple(
        ColumnInfo(
            name=name,
            type=column_type(str(declared)),
            sql_type=declared,
            nullable=not notnull and not pk,
            default=default,
        )
        for name, declared, notnull, pk, default in column_rows.rows
    )
    key_rows = sorted((r for r in column_rows.rows if r[3]), key=lambda r: r[3])
    key = tuple(row[0] for row in key_rows)
    index_rows = await conn.fetch(
        'SELECT name, "unique", origin FROM pragma_index_list(?) '
        "WHERE origin IN ('c', 'u') ORDER BY name",
        [table],
    )
    indexes = []
    uniques = []
    for index_name, unique, origin in index_rows.rows:
        cols = await conn.fetch(
            "SELECT name FROM pragma_index_info(?) ORDER BY seqno", [index_name]
        )
        covered = tuple(r[0] for r in cols.rows)
        if origin == "u":
            uniques.append(covered)
        else:
            indexes.append(
                IndexInfo(name=index_name, columns=covered, unique=bool(unique))
            )
    foreign = await conn.fetch(
        'SELECT id, "table", "from", "to" FROM pragma_foreign_key_list(?) '
        "ORDER BY id, seq",
        [table],
    )
    keys: dict[int, tuple[str, list[str], list[str | None]]] = {}
    for number, target, source, to in foreign.rows:
        keys.setdefault(number, (target, [], []))
        keys[number][1].append(source)
        keys[number][2].append(to)
    created = await conn.fetch(
        "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", [table]
    )
    sql = (created.rows[0][0] if created.rows else None) or ""
    clauses = sqlite_constraints(sql, [c.name for c in column_infos])
    names = _Names(table)
    constraints = [
        ConstraintInfo(
            name=names.take("unique", columns, clauses),
            kind="unique",
            columns=columns,
        )
        for columns in uniques
    ]
    for target, sources, targets in keys.values():
        # A foreign key to the other table's primary key may leave "to" out.
        if None in targets:
            primary = await conn.fetch(
                "SELECT name FROM pragma_table_info(?) WHERE pk > 0 ORDER BY pk",
                [target],
            )
            targets = [row[0] for row in primary.rows]
        columns = tuple(sources)
        constraints.append(
            ConstraintInfo(
                name=names.take("foreign_key", columns, clauses),
                kind="foreign_key",
                columns=columns,
                references=target,
                referenced_columns=tuple(str(t) for t in targets),
            )
        )
    constraints += [
        ConstraintInfo(
            name=clause.name or names.made("check", clause.columns),
            kind="check",
            columns=clause.columns,
        )
        for clause in clauses
        if clause.kind == "check"
    ]
    return TableInfo(
        name=table,
        columns=column_infos,
        primary_key=key,
        indexes=tuple(indexes),
        constraints=tuple(sorted(constraints, key=lambda c: c.name)),
    )


_SUFFIXES = {"unique": "key", "foreign_key": "fkey", "check": "check"}


class _Names:
    """Names for a table's constraints: the one its CREATE statement gives, else
    the one PostgreSQL would have made (``orders_customer_id_fkey``)."""

    def __init__(self, table: str) -> None:
        self.table = table
        self.used: set[str] = set()

    def take(
        self,
        kind: ConstraintKind,
        columns: tuple[str, ...],
        clauses: list[Clause],
    ) -> str:
        """The name of the written clause of this kind over these columns."""
        wanted = tuple(c.lower() for c in columns)
        for number, clause in enumerate(clauses):
            if (
                clause.kind == kind
                and tuple(c.lower() for c in clause.columns) == wanted
            ):
                del clauses[number]  # each clause names one constraint
                if clause.name is not None:
                    self.used.add(clause.name)
                    return clause.name
                break
        return self.made(kind, columns)

    def made(self, kind: str, columns: tuple[str, ...]) -> str:
        """PostgreSQL's name for an unnamed constraint, numbered if taken."""
        parts = [self.table]
        if kind != "check" or len(columns) == 1:
            parts += columns
        base = "_".join([*parts, _SUFFIXES[kind]])
        name, number = base, 0
        while name in self.used:
            number += 1
            name = f"{base}{number}"
        self.used.add(name)
        return name
