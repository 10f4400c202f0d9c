"""A table's facts for the state manager, worked out once per schema.

:func:`facts_of` gives a schema's :class:`TableFacts` (its column sets,
defaults, required columns, audit and soft-delete stamps, and a key extractor),
built the first time a unit touches the table, or when an App is built for the
tables its domains declare, and kept on the schema object
(:meth:`glue.schema.Schema.derived`): the hot paths of the state manager look
them up in one step, and no cache keyed by a table's name is shared between
schemas of one name.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, Final

import msgspec

from ..errors import SchemaError
from ..schema.model import DELETED_AT, SYSTEM_COLUMNS, Schema

if TYPE_CHECKING:
    import datetime as dt

    from .identity import Key, Row

__all__ = ["SCALARS", "TableFacts", "facts_of"]

SCALARS: Final = frozenset({int, str, bytes, float})
"""Types of a one-column key given bare (``7``, not ``(7,)``)."""


def facts_of(schema: Schema) -> TableFacts:
    """The facts of ``schema``, built on first use and kept with it."""
    return schema.derived("state", TableFacts)


class TableFacts:
    """What the state manager needs of a table, worked out once per schema:
    its column sets, defaults, required columns, stamps and key extractor."""

    __slots__ = (
        "all_columns",
        "audit",
        "columns",
        "defaults",
        "key_of",
        "primary_key",
        "required",
        "schema",
        "shapes",
        "single",
        "soft",
        "system",
        "versioned",
    )

    def __init__(self, schema: Schema) -> None:
        self.schema = schema
        self.primary_key = frozenset(schema.primary_key)
        self.single = len(schema.primary_key) == 1
        self.shapes: dict[tuple[frozenset[str], Any, Any], frozenset[str]] = {}
        self.columns = frozenset(c.name for c in schema.columns)
        self.all_columns = frozenset(schema.column_names)
        self.system = self.all_columns & SYSTEM_COLUMNS
        defaults: dict[str, Any] = {}
        required = set()
        for column in schema.columns:
            if column.default is not msgspec.UNSET:
                defaults[column.name] = column.default
            elif column.nullable:
                defaults[column.name] = None
            else:
                required.add(column.name)
        self.defaults = defaults
        self.required = frozenset(required)
        self.versioned = schema.versioned
        self.audit = schema.audit
        self.soft = schema.soft_delete
        getter = operator.itemgetter(*schema.primary_key)
        if len(schema.primary_key) == 1:
            self.key_of: Callable[[Mapping[str, Any]], Key] = lambda row: (getter(row),)
        else:
            self.key_of = getter

    def key(self, key: Any) -> Key:
        """Normalise a scalar, tuple or row into a key tuple."""
        if self.single and type(key) in SCALARS:
            return (key,)
        primary_key = self.schema.primary_key
        if isinstance(key, Mapping):
            missing = [c for c in primary_key if c not in key]
            if missing:
                raise SchemaError(
                    f"a row of {self.schema.name!r} lacks primary key column "
                    f"{missing[0]!r}"
                )
            return self.key_of(key)
        if isinstance(key, tuple):
            if len(key) != len(primary_key):
                raise SchemaError(
                    f"table {self.schema.name!r} has primary key {primary_key}; "
                    f"got {key!r}"
                )
            return key
        if len(primary_key) != 1:
            raise SchemaError(
                f"table {self.schema.name!r} has primary key {primary_key}: "
                f"pass the key as a tuple, not {key!r}"
            )
        return (key,)

    def check(self, values: Mapping[str, Any], what: str) -> None:
        """Raise SchemaError if ``values`` names unknown or system columns."""
        if self.columns.issuperset(values):
            return
        system = sorted(self.system.intersection(values))
        if system:
            raise SchemaError(
                f"{what} of {self.schema.name!r} sets {', '.join(system)}: etag, "
                "audit and deleted_at columns are stamped by the state manager "
                "and cannot be set by handlers"
            )
        unknown = sorted(set(values) - self.columns)
        raise SchemaError(
            f"{what} of {self.schema.name!r} names unknown column(s) "
            f"{', '.join(map(repr, unknown))} "
            f"(columns: {', '.join(c.name for c in self.schema.columns)})"
        )

    def changed(
        self, before: frozenset[str], diff: Iterable[str], stamped: tuple[str, ...]
    ) -> frozenset[str]:
        """``before`` with ``diff`` and ``stamped`` added (memoised: few shapes)."""
        names = tuple(diff)
        found = self.shapes.get((before, names, stamped))
        if found is None:
            found = before.union(names, stamped)
            if len(self.shapes) < 256:
                self.shapes[(before, names, stamped)] = found
        return found

    def stamps(self, now: dt.datetime, actor: str | None) -> dict[str, Any]:
        """The audit and soft-delete columns of a new row (not its etag)."""
        stamps: dict[str, Any] = {}
        if self.audit:
            stamps["created_at"] = stamps["updated_at"] = now
            stamps["created_by"] = stamps["updated_by"] = actor
        if self.soft:
            stamps[DELETED_AT] = None
        return stamps

    def deleted(self, row: Row) -> bool:
        """Whether ``row`` is soft-deleted."""
        return self.soft and row.get(DELETED_AT) is not None
