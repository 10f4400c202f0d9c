"""SQLite's constraints as its CREATE TABLE statement writes them.

SQLite's pragmas report foreign keys and unique constraints, but not their names,
and not CHECK constraints at all. :func:`sqlite_constraints` reads those from the
CREATE TABLE statement with a tokenizer (comments, quoted names and string
literals are tokens, so ``'CHECK'`` in a default is never taken for a clause),
then only its top-level structure: each column definition and table constraint,
split at top-level commas.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from .catalog import ConstraintKind

__all__ = [
    "Clause",
    "sqlite_constraints",
]


class Clause(NamedTuple):
    """A constraint as a CREATE TABLE statement writes it.

    Attributes:
        kind: ``"unique"``, ``"foreign_key"`` or ``"check"``.
        name: the name given with ``CONSTRAINT name``, or None.
        columns: the constrained columns; for a check, the columns it reads
            (the column it is declared on, if it reads none).
        references: for a foreign key, the referenced table.
    """

    kind: ConstraintKind
    name: str | None
    columns: tuple[str, ...]
    references: str | None = None


class _Token(NamedTuple):
    kind: str  # "word", "name" (quoted), "string", "number", "op", "blob"
    text: str

    @property
    def word(self) -> str:
        return self.text.upper() if self.kind == "word" else ""

    @property
    def identifier(self) -> str | None:
        if self.kind == "word":
            return self.text
        if self.kind == "name":
            quote, body = self.text[0], self.text[1:-1]
            return body if quote == "[" else body.replace(quote * 2, quote)
        return None


_LEXER = re.compile(
    r"""
      (?P<space>\s+|--[^\n]*|/\*.*?(?:\*/|\Z))
    | (?P<blob>[xX]'[^']*')
    | (?P<string>'(?:[^']|'')*')
    | (?P<name>"(?:[^"]|"")*"|`(?:[^`]|``)*`|\[[^\]]*\])
    | (?P<number>0[xX][0-9a-fA-F]+|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)
    | (?P<word>[^\W\d]\w*|\$\w+)
    | (?P<op>\|\||<<|>>|<=|>=|==|!=|<>|->>|->|.)
    """,
    re.VERBOSE | re.DOTALL,
)

_TABLE_CONSTRAINTS = frozenset({"CONSTRAINT", "PRIMARY", "UNIQUE", "CHECK", "FOREIGN"})
_COLUMN_CONSTRAINTS = frozenset(
    {"PRIMARY", "NOT", "NULL", "UNIQUE", "CHECK", "DEFAULT", "COLLATE"}
    | {"REFERENCES", "GENERATED", "AS"}
)


def _tokens(sql: str) -> list[_Token]:
    tokens = []
    for match in _LEXER.finditer(sql):
        kind = match.lastgroup
        if kind is not None and kind != "space":
            tokens.append(_Token(kind, match.group()))
    return tokens


def _group(tokens: Sequence[_Token], start: int) -> tuple[list[_Token], int]:
    """The tokens inside the parentheses opening at ``start``, and the index
    just past the closing one."""
    depth = 0
    for index in range(start, len(tokens)):
        text = tokens[index].text if tokens[index].kind == "op" else ""
        if text == "(":
            depth += 1
        elif text == ")":
            depth -= 1
            if depth == 0:
                return list(tokens[start + 1 : index]), index + 1
    return list(tokens[start + 1 :]), len(tokens)


def _split(tokens: Sequence[_Token]) -> list[list[_Token]]:
    """Split at commas outside parentheses."""
    parts: list[list[_Token]] = [[]]
    depth = 0
    for token in tokens:
        text = token.text if token.kind == "op" else ""
        if text == "(":
            depth += 1
        elif text == ")":
            depth -= 1
        if text == "," and depth == 0:
            parts.append([])
        else:
            parts[-1].append(token)
    return [part for part in parts if part]


def _definitions(tokens: Sequence[_Token]) -> list[list[_Token]]:
    """The column definitions and table constraints of CREATE TABLE."""
    for index, token in enumerate(tokens):
        if token.word == "AS":
            return []  # CREATE TABLE ... AS SELECT: no constraints
        if token.kind == "op" and token.text == "(":
            body, _ = _group(tokens, index)
            return _split(body)
    return []


def _names(tokens: Iterable[_Token]) -> tuple[str, ...]:
    """The column of each comma-separated part (``a COLLATE x DESC, b``)."""
    return tuple(
        name
        for part in _split(list(tokens))
        if (name := part[0].identifier) is not None
    )


def _read(expression: Sequence[_Token], columns: dict[str, str]) -> tuple[str, ...]:
    """The table's columns an expression names, in first-use order."""
    found: dict[str, None] = {}
    for index, token in enumerate(expression):
        name = token.identifier
        following = expression[index + 1] if index + 1 < len(expression) else None
        if name is None or (following is not None and following.text == "("):
            continue  # not a name, or a function's
        column = columns.get(name.lower())
        if column is not None:
            found.setdefault(column)
    return tuple(found)


def sqlite_constraints(sql: str, columns: Iterable[str]) -> list[Clause]:
    """The UNIQUE, FOREIGN KEY and CHECK clauses of a SQLite CREATE TABLE.

    Args:
        sql: the statement, as ``sqlite_master`` keeps it.
        columns: the table's column names, to tell them apart in a CHECK.

    Returns:
        the clauses in the order written, table and column constraints alike.
    """
    known = {name.lower(): name for name in columns}
    tokens = _tokens(sql)
    start = next((n for n, t in enumerate(tokens) if t.word == "TABLE"), len(tokens))
    clauses: list[Clause] = []
    for definition in _definitions(tokens[start + 1 :]):
        if definition[0].word in _TABLE_CONSTRAINTS:
            clauses += _table_constraint(definition, known)
        else:
            clauses += _column_constraints(definition, known)
    return clauses


def _table_constraint(tokens: list[_Token], known: dict[str, str]) -> list[Clause]:
    name = None
    if tokens[0].word == "CONSTRAINT" and len(tokens) > 2:
        name, tokens = tokens[1].identifier, tokens[2:]
    kind = tokens[0].word
    opening = next(
        (n for n, t in enumerate(tokens) if t.kind == "op" and t.text == "("), None
    )
    if opening is None:
        return []
    inner, after = _group(tokens, opening)
    if kind == "UNIQUE":
        return [Clause("unique", name, _names(inner))]
    if kind == "CHECK":
        return [Clause("check", name, _read(inner, known))]
    if kind == "FOREIGN" and after < len(tokens) and tokens[after].word == "REFERENCES":
        target = tokens[after + 1].identifier if after + 1 < len(tokens) else None
        return [Clause("foreign_key", name, _names(inner), target)]
    return []


def _column_constraints(tokens: list[_Token], known: dict[str, str]) -> list[Clause]:
    column = tokens[0].identifier
    if column is None:
        return []
    column = known.get(column.lower(), column)
    clauses: list[Clause] = []
    name: str | None = None
    index = 1
    while index < len(tokens):
        token = tokens[index]
        word = token.word
        if token.kind == "op" and token.text == "(":
            index = _group(tokens, index)[1]  # a type's size, a default
            continue
        if word == "CONSTRAINT" and index + 1 < len(tokens):
            name = tokens[index + 1].identifier
            index += 2
            continue
        if word == "CHECK" and index + 1 < len(tokens):
            inner, index = _group(tokens, index + 1)
            clauses.append(Clause("check", name, _read(inner, known) or (column,)))
            name = None
            continue
        if word == "UNIQUE":
            clauses.append(Clause("unique", name, (column,)))
        elif word == "REFERENCES" and index + 1 < len(tokens):
            target = tokens[index + 1].identifier
            clauses.append(Clause("foreign_key", name, (column,), target))
        if word in _COLUMN_CONSTRAINTS:
            name = None  # a CONSTRAINT name belongs to the clause after it
        index += 1
    return clauses
