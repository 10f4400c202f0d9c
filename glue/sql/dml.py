"""Reads by simple filters, for repositories: one SELECT of every column.

:func:`select_where` builds one statement from ``(column, lookup, value)``
filters, an order and a limit, in any dialect; :func:`decode_rows` turns what it
returns into dicts. Values are encoded by the column's type and bound. The
batched writes (insert, guarded update and delete, reads by key) are the
dialect's own: :meth:`glue.sql.dialects.Dialect.insert` and the methods beside it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

from .dialects import Statement

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from ..schema.model import Schema
    from .dialects import Dialect

__all__ = [
    "LOOKUPS",
    "decode_rows",
    "select_where",
]

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

_MARK = "\x00"
"""Stands for a placeholder until the statement is complete and numbered."""


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
            lookups are those of :data:`LOOKUPS` (``startswith`` and
            ``contains`` are case-sensitive).
        order_by: ``(column, descending)`` pairs; NULLs sort as the lowest value.
        limit: the most rows to return.
    """
    codec = dialect.codec(schema)
    quote = dialect.quote
    params: list[Any] = []
    where = []
    for column, lookup, value in filters:
        name = quote(column, "column")
        convert = codec.column_encoder(column)
        if lookup in _COMPARE:
            if value is None:
                where.append(f"{name} IS {'NOT ' if lookup == 'ne' else ''}NULL")
            else:
                where.append(f"{name} {_COMPARE[lookup]} {_MARK}")
                params.append(convert(value))
        elif lookup == "isnull":
            where.append(f"{name} IS {'' if value else 'NOT '}NULL")
        elif lookup == "in":
            values = [convert(v) for v in value]
            if not values:
                where.append("1 = 0")
            else:
                sql, bound = dialect.is_in(name, _MARK, codec.types[column], values)
                where.append(sql)
                params += bound
        else:
            pattern = dialect.text_pattern(
                str(value), starts=lookup == "startswith", ends=False, ignore_case=False
            )
            where.append(dialect.text_match(name, _MARK, ignore_case=False))
            params.append(pattern)
    parts = ["SELECT", ", ".join(codec.quoted), "FROM", quote(schema.name, "table")]
    if where:
        parts += ["WHERE", " AND ".join(where)]
    if order_by:
        keys = [
            f"{quote(c, 'column')} {'DESC NULLS LAST' if d else 'ASC NULLS FIRST'}"
            for c, d in order_by
        ]
        parts += ["ORDER BY", ", ".join(keys)]
    sql = " ".join(parts)
    if limit is not None:
        sql += dialect.limit(_MARK, None)
        params.append(int(limit))
    return Statement(dialect.number_placeholders(sql.split(_MARK)), params)


def decode_rows(
    dialect: Dialect, schema: Schema, rows: Iterable[Sequence[Any]]
) -> list[dict[str, Any]]:
    """Rows of every column (as :func:`select_where` and
    :meth:`~glue.sql.dialects.Dialect.select_by_keys` read them) as dicts,
    decoded in one pass."""
    return dialect.codec(schema).decode_all(rows)
