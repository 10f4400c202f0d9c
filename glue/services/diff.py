"""How the tables in the databases differ from their schemas, and closing what
can be closed without losing data.

::

    diffs = await diff_tables(manager, [(orders, "default"), (stock, "default")])
    for diff in diffs:
        for difference in diff.differences:
            print(difference)  # default.orders: missing column note (text, null)
    refused = await apply_diffs(manager, diffs)

A table is compared on what glue's reads and writes rely on: its columns (each
there, of the declared portable type, and not NOT NULL where the schema allows
None), no extra NOT NULL column without a default (inserts would fail), its
primary key, its indexes, and its constraints (matched by what they constrain,
not by name). Differences that make reads or writes fail are marked
:attr:`Difference.breaks`: ``App(create_tables=True)`` refuses to start on them.

:func:`apply_diffs` adds what is additive (missing tables, columns that are
nullable or have a default, indexes), each table in one transaction, and refuses
the rest, saying why: changing a type, a key or a column's nullability rewrites
data, and adding a constraint or an index of another shape needs a decision.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

import msgspec

from ..errors import SchemaError
from ..schema.model import Check, ForeignKey, Schema, Unique
from ..sql import ddl
from ..sql.dialects import TableInfo
from .schema import SchemaQueryService

if TYPE_CHECKING:
    from collections.abc import Iterable

    from ..connections.manager import ConnectionManager
    from ..schema.model import Column, Constraint, Index
    from ..sql.dialects import Dialect

__all__ = ["Difference", "TableDiff", "apply_diffs", "compare", "diff_tables"]

_Fix = Literal["create_table", "add_column", "create_index"]


class Difference(msgspec.Struct, frozen=True, kw_only=True):
    """One way a table in its database differs from its schema.

    Attributes:
        database: the database's name.
        table: the table's name.
        change: what differs: ``"missing_table"``, ``"missing_column"``,
            ``"column_type"``, ``"nullable"``, ``"extra_column"``,
            ``"primary_key"``, ``"missing_index"``, ``"index"`` or
            ``"missing_constraint"``.
        name: the column, index or constraint concerned ("" for the table).
        detail: what the schema says against what the database has.
        breaks: glue's reads or writes of the table would fail.
        fix: what :func:`apply_diffs` does about it, or None when it refuses.
        refusal: why it refuses, when it does.
    """

    database: str
    table: str
    change: str
    name: str
    detail: str
    breaks: bool
    fix: _Fix | None = None
    refusal: str | None = None

    def __str__(self) -> str:
        return f"{self.database}.{self.table}: {self.detail}"


class TableDiff(msgspec.Struct, frozen=True, kw_only=True):
    """A declared table against its database.

    Attributes:
        database: the database's name.
        schema: the table as declared.
        found: the table as the database reports it; None when it is missing.
        differences: every difference, in column, key, index, constraint order.
    """

    database: str
    schema: Schema
    found: TableInfo | None
    differences: tuple[Difference, ...]


async def diff_tables(
    manager: ConnectionManager, tables: Iterable[tuple[Schema, str]]
) -> list[TableDiff]:
    """Compare each declared table with the table its name routes to.

    Args:
        manager: routes each table's name to its database's pool.
        tables: each schema with the name of its database (for messages).
    """
    queries = SchemaQueryService(manager)
    diffs: list[TableDiff] = []
    for schema, database in tables:
        try:
            found: TableInfo | None = await queries.describe(schema.name)
        except SchemaError:
            found = None
        diffs.append(compare(schema, found, database))
    return diffs


def compare(schema: Schema, found: TableInfo | None, database: str) -> TableDiff:
    """The differences between a schema and the table a database reports."""
    differences = list(_Comparison(schema, found, database).differences())
    return TableDiff(
        database=database,
        schema=schema,
        found=found,
        differences=tuple(differences),
    )


class _Comparison:
    def __init__(self, schema: Schema, found: TableInfo | None, database: str):
        self.schema = schema
        self.found = found
        self.database = database

    def _difference(
        self,
        change: str,
        name: str,
        detail: str,
        *,
        breaks: bool,
        fix: _Fix | None = None,
        refusal: str | None = None,
    ) -> Difference:
        return Difference(
            database=self.database,
            table=self.schema.name,
            change=change,
            name=name,
            detail=detail,
            breaks=breaks,
            fix=fix,
            refusal=refusal,
        )

    def differences(self) -> Iterable[Difference]:
        found = self.found
        if found is None:
            yield self._difference(
                "missing_table",
                "",
                "missing table",
                breaks=False,
                fix="create_table",
            )
            return
        yield from self._columns(found)
        if found.primary_key != self.schema.primary_key:
            yield self._difference(
                "primary_key",
                "",
                f"primary key is ({', '.join(found.primary_key)}) in the database, "
                f"({', '.join(self.schema.primary_key)}) in the schema",
                breaks=True,
                refusal="changing a primary key rewrites the table",
            )
        for index in self.schema.indexes:
            yield from self._index(found, index)
        for constraint in self.schema.constraints:
            yield from self._constraint(found, constraint)

    def _columns(self, found: TableInfo) -> Iterable[Difference]:
        columns = {c.name: c for c in found.columns}
        for column in self.schema.all_columns:
            info = columns.get(column.name)
            if info is None:
                yield self._missing_column(column)
                continue
            if info.type is not column.type:
                portable = info.type.value if info.type else "no portable type"
                yield self._difference(
                    "column_type",
                    column.name,
                    f"column {column.name} is {portable} in the database "
                    f"(declared {info.sql_type or 'without a type'}), "
                    f"{column.type.value} in the schema",
                    breaks=True,
                    refusal="changing a column's type rewrites its values",
                )
            if not info.nullable and column.nullable:
                yield self._difference(
                    "nullable",
                    column.name,
                    f"column {column.name} is NOT NULL in the database but "
                    "nullable in the schema: writing None fails",
                    breaks=True,
                    refusal="dropping NOT NULL is a decision for the table's owner",
                )
        declared = set(self.schema.column_names)
        for info in found.columns:
            if info.name in declared or info.nullable or info.default is not None:
                continue
            if info.name in found.primary_key:
                continue  # a key the schema names otherwise: reported as the key
            yield self._difference(
                "extra_column",
                info.name,
                f"column {info.name} is NOT NULL without a default in the "
                "database and not in the schema: inserts fail",
                breaks=True,
                refusal="dropping a column loses its values",
            )

    def _missing_column(self, column: Column) -> Difference:
        null = "null" if column.nullable else "not null"
        default = column.default
        has_default = default is not None and default is not msgspec.UNSET
        extra = f", default {default!r}" if has_default else ""
        detail = f"missing column {column.name} ({column.type.value}, {null}{extra})"
        if column.nullable or has_default:
            return self._difference(
                "missing_column", column.name, detail, breaks=True, fix="add_column"
            )
        return self._difference(
            "missing_column",
            column.name,
            detail,
            breaks=True,
            refusal="it is NOT NULL without a default: the rows already there "
            "would have no value; give it a default or make it nullable",
        )

    def _index(self, found: TableInfo, index: Index) -> Iterable[Difference]:
        shape = f"({', '.join(index.columns)}){' unique' if index.unique else ''}"
        for info in found.indexes:
            same = info.columns == index.columns and info.unique == index.unique
            if info.name == index.name and not same:
                theirs = (
                    f"({', '.join(info.columns)}){' unique' if info.unique else ''}"
                )
                yield self._difference(
                    "index",
                    index.name,
                    f"index {index.name} is {theirs} in the database, {shape} in "
                    "the schema",
                    breaks=False,
                    refusal="replacing an index is a decision: drop it first",
                )
                return
            if same:
                return  # there, perhaps under another name
        yield self._difference(
            "missing_index",
            index.name,
            f"missing index {index.name} {shape}",
            breaks=False,
            fix="create_index",
        )

    def _constraint(
        self, found: TableInfo, constraint: Constraint
    ) -> Iterable[Difference]:
        for info in found.constraints:
            match constraint:
                case Unique() if info.kind == "unique":
                    if info.columns == constraint.columns:
                        return
                case ForeignKey() if info.kind == "foreign_key":
                    if (
                        info.columns == constraint.columns
                        and info.references == constraint.references
                    ):
                        return
                case Check() if info.kind == "check":
                    if constraint.column in info.columns:
                        return
        if isinstance(constraint, Unique) and any(
            i.unique and i.columns == constraint.columns for i in found.indexes
        ):
            return  # a unique index does the same
        kinds = {Unique: "unique", ForeignKey: "foreign key", Check: "check"}
        covers = (
            (constraint.column,)
            if isinstance(constraint, Check)
            else constraint.columns
        )
        yield self._difference(
            "missing_constraint",
            constraint.name,
            f"missing {kinds[type(constraint)]} constraint {constraint.name} "
            f"({', '.join(covers)})",
            breaks=False,
            refusal="the rows already there must satisfy it: add it with "
            "SchemaCommandService.add_constraint",
        )


async def apply_diffs(
    manager: ConnectionManager, diffs: Iterable[TableDiff]
) -> tuple[list[Difference], list[Difference]]:
    """Create missing tables, add missing columns and indexes; refuse the rest.

    Each table's changes run in one transaction on its database.

    Returns:
        the differences closed, and the differences refused (each with its
        :attr:`Difference.refusal`).
    """
    applied: list[Difference] = []
    refused: list[Difference] = []
    for diff in diffs:
        pool = manager.get_connection_pool(diff.schema.name)
        statements = _statements(pool.dialect, diff)
        fixed = [d for d in diff.differences if d.fix is not None]
        refused += [d for d in diff.differences if d.fix is None]
        if statements:
            async with pool.acquire(write=True) as conn, conn.transaction():
                for sql in statements:
                    await conn.execute(sql)
        applied += fixed
    return applied, refused


def _statements(dialect: Dialect, diff: TableDiff) -> list[str]:
    schema = diff.schema
    if diff.found is None:
        return ddl.create_table(dialect, schema, if_not_exists=True)
    present = {c.name for c in diff.found.columns}
    # ddl.add_column checks the column against the table as it is: a stand-in
    # with the declared columns the database has.
    kept = tuple(c for c in schema.all_columns if c.name in present)
    statements: list[str] = []
    for difference in diff.differences:
        if difference.fix == "add_column":
            if not kept:
                raise SchemaError(
                    f"table {schema.name!r} in {diff.database!r} has none of its "
                    "schema's columns: is it the table the schema means?"
                )
            stand_in = Schema(
                name=schema.name,
                columns=kept,
                primary_key=(kept[0].name,),
                versioned=False,
            )
            statements += ddl.add_column(
                dialect, stand_in, schema.column(difference.name)
            )
        elif difference.fix == "create_index":
            index = next(i for i in schema.indexes if i.name == difference.name)
            statements.append(ddl.create_index(dialect, schema, index))
    return statements
