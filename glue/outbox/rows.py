"""Reading the outbox's own tables through the one SELECT compiler.

The outbox, inbox and dead-letter tables are read by primary keys
(:func:`select_keys`), or with filters written as
``(column, lookup, value)`` triples (lookups named as :class:`glue.FieldLookup`'s
values: ``eq``, ``in``, ...); each read is a `glue.QueryStatement` compiled for
the connection's dialect, and every column comes back decoded by the table's codec.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..query.conditions import (
    Condition,
    Conditions,
    Field,
    FieldLookup,
    FieldReference,
    Value,
)
from ..query.model import OrderByQuery, OrderDirection, QueryStatement, SchemaReference
from ..sql.query import QueryCompiler

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from ..connections.abc import Connection
    from ..schema.model import Schema

__all__ = ["decode", "select", "select_keys"]


async def select(
    conn: Connection,
    schema: Schema,
    filters: Sequence[tuple[str, str, Any]],
    *,
    order_by: Sequence[tuple[str, bool]] = (),
) -> list[dict[str, Any]]:
    """Every column of the rows of ``schema`` matching all ``filters``, as dicts.

    Args:
        conn: the connection to read through.
        schema: the table.
        filters: ``(column, lookup, value)`` triples, all of which must hold.
        order_by: ``(column, descending)`` pairs.
    """

    def field(column: str) -> FieldReference:
        return FieldReference(table_name=schema.name, field=Field(name=column))

    conditions = [
        Condition(field=field(c), lookup=FieldLookup(lookup), value=Value(v))
        for c, lookup, v in filters
    ]
    statement = QueryStatement(
        table=SchemaReference(name=schema.name),
        where=Conditions(*conditions) if conditions else None,
        order_by=[
            OrderByQuery(
                field=field(c),
                direction=OrderDirection.DESC if descending else OrderDirection.ASC,
            )
            for c, descending in order_by
        ],
    )
    dialect = conn.dialect
    compiled = QueryCompiler(dialect, {schema.name: schema}).compile(statement)
    result = await conn.fetch(compiled.sql, compiled.params)
    return decode(conn, schema, result.rows)


async def select_keys(
    conn: Connection, schema: Schema, keys: Sequence[tuple[Any, ...]]
) -> list[dict[str, Any]]:
    """Every column of the rows of ``schema`` whose primary keys are ``keys``, as
    dicts: the dialect's own read by keys (on PostgreSQL one statement whatever
    their number, prepared once), for the relays' and the inbox's hot reads."""
    rows: list[dict[str, Any]] = []
    for statement in conn.dialect.select_by_keys(schema, keys):
        result = await conn.fetch(statement.sql, statement.params)
        rows += decode(conn, schema, result.rows)
    return rows


def decode(
    conn: Connection, schema: Schema, rows: Iterable[Sequence[Any]]
) -> list[dict[str, Any]]:
    """Rows of every column of ``schema``, in its order, as dicts."""
    return conn.dialect.codec(schema).decode_all(rows)
