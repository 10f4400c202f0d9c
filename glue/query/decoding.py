"""Query statements from JSON, for the CLI and HTTP: a bad one is a client error.

:func:`decode_statement` turns JSON text into a :class:`QueryStatement` or raises
:class:`glue.ValidationError`, whatever the text holds: malformed or truncated
JSON, numbers out of range, invalid Unicode, or nesting deep enough to exhaust a
parser. Statements may nest at most :data:`MAX_DEPTH` levels.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

import msgspec

from ..entities.codec import field_error, payload_type_error, text_error
from ..errors import FieldError, ValidationError
from .model import QueryStatement

if TYPE_CHECKING:
    from collections.abc import Iterable

__all__ = ["MAX_DEPTH", "STATEMENT", "decode_statement"]

STATEMENT: Final = "query statement"
"""How a bad query statement is named in its ValidationError."""

MAX_DEPTH: Final = 64
"""The most levels of JSON objects and arrays a decoded statement may nest: about
30 levels of conditions or subqueries, more than a person writes; deeper ones are
refused before they reach the planner or a database's parser."""

_TOO_DEEP = FieldError("$", f"nested deeper than {MAX_DEPTH} levels")
_UNTAGGED = "missing required field `type`"
_TAG_HINT = (
    ' (each object of a statement names its kind: {"type": "schema", "name": ...} '
    'for a table, "field", "value", "condition", "conditions", ...)'
)


def decode_statement(payload: bytes | str) -> QueryStatement:
    """Decode a :class:`QueryStatement` from JSON text.

    Raises:
        glue.ValidationError: the text is not JSON, is not a statement, or nests
            deeper than :data:`MAX_DEPTH`; the error names the first bad field
            by path.
    """
    try:
        if not isinstance(payload, bytes | str):
            error = payload_type_error(payload)  # type: ignore[unreachable]
        else:
            statement = msgspec.json.decode(payload, type=QueryStatement)
            if _depth(statement) <= MAX_DEPTH:
                return statement
            error = _TOO_DEEP
    except msgspec.ValidationError as exc:
        error = field_error(exc, "$")
        if error.reason.endswith(_UNTAGGED):
            error = FieldError(error.path, error.reason + _TAG_HINT)
    except RecursionError:
        error = _TOO_DEEP
    except (msgspec.DecodeError, UnicodeEncodeError) as exc:
        error = text_error(exc)
    raise ValidationError(STATEMENT, [error])


def _depth(statement: QueryStatement) -> int:
    """How many levels of objects and arrays the statement nests, counting up to
    one past :data:`MAX_DEPTH` (a loop, not recursion: the input is hostile)."""
    deepest = 0
    stack: list[tuple[object, int]] = [(statement, 1)]
    while stack and deepest <= MAX_DEPTH:
        value, depth = stack.pop()
        children: Iterable[object]
        if isinstance(value, msgspec.Struct):
            children = [getattr(value, f) for f in value.__struct_fields__]
        elif isinstance(value, dict):
            children = value.values()
        elif isinstance(value, list | tuple):
            children = value
        else:
            continue
        deepest = max(deepest, depth)
        stack.extend((child, depth + 1) for child in children)
    return deepest
