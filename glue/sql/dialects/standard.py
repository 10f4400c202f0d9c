"""What every dialect writes alike: standard SQL's quoting, literals and upsert.

A dialect module calls these where its database follows the standard (SQLite's
and PostgreSQL's both do, with the quirks their modules note): double-quoted
identifiers, single-quoted text, ``INSERT ... ON CONFLICT``, and LIKE patterns
escaped with :data:`LIKE_ESCAPE`.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Final

from ...errors import SchemaError
from ...schema.model import check_identifier

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from ...schema.model import ColumnType
    from .base import Dialect

__all__ = [
    "LIKE_ESCAPE",
    "join_sql",
    "like_escape",
    "literal_value",
    "plain_literal",
    "quote_identifier",
    "text_literal",
    "upsert_sql",
]

_QUOTED: dict[str, str] = {}
_QUOTED_MAX: Final = 4096


def quote_identifier(name: str, what: str = "identifier") -> str:
    """``name`` validated as an identifier and double-quoted (standard SQL).

    Raises:
        glue.SchemaError: not a valid name; the message names it as ``what``.
    """
    # Every name of every statement comes through here and the same few names
    # recur: each is checked once (a bounded cache; refusals are not kept).
    quoted = _QUOTED.get(name) if isinstance(name, str) else None
    if quoted is None:
        quoted = f'"{check_identifier(name, what)}"'
        if len(_QUOTED) < _QUOTED_MAX:
            _QUOTED[name] = quoted
    return quoted


def join_sql(*parts: str) -> str:
    """Join SQL pieces (quoted names, placeholders, keywords) with spaces,
    leaving out empty ones."""
    return " ".join(p for p in parts if p)


LIKE_ESCAPE: Final = "!"
"""The escape character of glue's LIKE patterns. Not a backslash: ``'\\'`` is an
unterminated literal on a PostgreSQL server whose ``standard_conforming_strings``
is off, while ``'!'`` reads the same under any setting and on SQLite."""


def like_escape(text: str) -> str:
    """``text`` with LIKE's wildcards (and the escape itself) escaped by
    :data:`LIKE_ESCAPE`, to match literally in ``LIKE ... ESCAPE '!'``."""
    return (
        text.replace(LIKE_ESCAPE, LIKE_ESCAPE * 2)
        .replace("%", LIKE_ESCAPE + "%")
        .replace("_", LIKE_ESCAPE + "_")
    )


def text_literal(value: str) -> str:
    """Text as a standard SQL literal: in single quotes, quotes doubled.

    Raises:
        glue.SchemaError: it holds a NUL character.
    """
    if "\x00" in value:
        raise SchemaError("a SQL literal cannot hold a NUL character")
    return "'" + value.replace("'", "''") + "'"


def plain_literal(value: Any) -> str:
    """None, an int or a finite float as a SQL literal (what every dialect
    writes alike).

    Raises:
        glue.SchemaError: any other value.
    """
    if value is None:
        return "NULL"
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise SchemaError(f"{value!r} cannot be a SQL literal")
        return repr(value)
    raise SchemaError(
        f"{value!r} ({type(value).__name__}) cannot be written as a SQL literal; "
        "use None, a bool, a number or text"
    )


def literal_value(dialect: Dialect, value: Any, column_type: ColumnType | None) -> Any:
    """A constant to write as a literal: with ``column_type``, first encoded as
    ``dialect`` stores that type (as text, when the encoding is no SQL value)."""
    if column_type is not None and value is not None:
        value = dialect.encoder(column_type)(value)
        if not isinstance(value, bool | int | float | str | bytes):
            value = str(value)
    return value


def upsert_sql(
    dialect: Dialect,
    table: str,
    columns: Sequence[str],
    key: Sequence[str],
    update: Mapping[str, str] | None,
    returning: Sequence[str],
) -> str:
    """:meth:`Dialect.upsert` as ``INSERT ... ON CONFLICT (key) DO ...``, which
    SQLite (since 3.24) and PostgreSQL (since 9.5) both write."""
    quote = dialect.quote
    names = ", ".join(quote(c, "column") for c in columns)
    marks = ", ".join(dialect.placeholder(i) for i in range(1, len(columns) + 1))
    target = ", ".join(quote(c, "column") for c in key)
    action = "NOTHING"
    if update:
        sets = ", ".join(f"{quote(c, 'column')} = {e}" for c, e in update.items())
        action = f"UPDATE SET {sets}"
    sql = (
        f"INSERT INTO {quote(table, 'table')} ({names}) VALUES ({marks}) "  # noqa: S608
        f"ON CONFLICT ({target}) DO {action}"
    )
    if returning:
        sql += " RETURNING " + ", ".join(quote(c, "column") for c in returning)
    return sql
