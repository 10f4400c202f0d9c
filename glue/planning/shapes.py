"""Plans keyed by a statement's shape: the same read with new values reuses one plan.

A statement's *shape* is its encoding with each comparison constant (``eq``,
``neq``, ``gt``, ``gte``, ``lt``, ``lte``, and each element of an ``in`` list)
that is an int or a str replaced by a slot. The shape keeps everything whose
SQL depends on a value: the length of an ``in`` list, ``None`` (``IS NULL``),
pattern and ``isnull`` lookups, limits, annotations, floats and every other type
stay in it as they are.

A shape is planned once, with a unique sentinel in each slot; the plan is a
:class:`Template` only when it is one SQL statement on one database whose bound
parameters hold each sentinel unchanged (same type, same value), and nothing
else mentions one (not the SQL, not a converted parameter). Values are then
bound into its parameters at run time; they are never written into SQL. Any
other plan (several databases, a value the compiler converts) is keyed by the
whole statement instead.
"""

from __future__ import annotations

import secrets
from typing import Any

import msgspec

from ..query.model import QueryStatement
from .tasks import Plan, SqlTask

__all__ = ["Shape", "Template", "shape_of"]

_SLOT_LOOKUPS = frozenset({"eq", "neq", "gt", "gte", "lt", "lte", "in"})
_KINDS = {int: 1, str: 2}
"""The Ext code of a slot's mark, by the type of its value."""
_INT_RANGE = 2**31
"""Ints bound into a template stay within every integer column's range, as the
sentinel that planned it did."""
_ENCODER = msgspec.msgpack.Encoder()
_DECODER = msgspec.msgpack.Decoder()
_STATEMENTS = msgspec.msgpack.Decoder(QueryStatement)


class Shape(msgspec.Struct, frozen=True):
    """A statement split into its shape (``key``) and its slotted values."""

    key: bytes
    values: tuple[Any, ...]
    tree: Any

    def sentinel_statement(
        self,
    ) -> tuple[QueryStatement, tuple[Any, ...], tuple[str, ...]]:
        """The shape with a unique sentinel in each slot, checked against the
        query model; the sentinels, and the text each shows wherever it is
        converted.

        Raises:
            msgspec.ValidationError: the model refuses a sentinel.
        """
        token = secrets.token_hex(4)
        sentinels: list[Any] = [None] * len(self.values)

        def fill(node: Any) -> Any:
            if isinstance(node, msgspec.msgpack.Ext):
                n = int.from_bytes(node.data, "big")
                sentinel: Any = (
                    1_000_000_007 + 7919 * n
                    if node.code == _KINDS[int]
                    else f"glue-slot-{n}-{token}"
                )
                sentinels[n] = sentinel
                return sentinel
            if isinstance(node, dict):
                return {k: fill(v) for k, v in node.items()}
            if isinstance(node, list):
                return [fill(v) for v in node]
            return node

        statement = _STATEMENTS.decode(_ENCODER.encode(fill(self.tree)))
        return statement, tuple(sentinels), tuple(str(s) for s in sentinels)


def shape_of(statement: QueryStatement) -> Shape | None:
    """The statement's shape, or None when it has no slot (its encoding keys it
    as well)."""
    tree = _DECODER.decode(statement.encoded())
    values: list[Any] = []
    marks: set[int] = set()
    if not _walk(tree, values, marks) or not values:
        return None
    return Shape(key=_ENCODER.encode(tree), values=tuple(values), tree=tree)


def _walk(node: dict[str, Any] | list[Any], values: list[Any], marks: set[int]) -> bool:
    """Replace slotted constants under ``node`` by marks (naming their slot), in
    place, collecting them; False when it holds an Ext of its own (a mark's
    look-alike: no shape then)."""
    if type(node) is dict:
        if node.get("type") == "condition" and node.get("lookup") in _SLOT_LOOKUPS:
            value = node.get("value")
            if type(value) is dict and value.get("type") == "value":
                inner = value.get("value")
                if type(inner) is list:
                    value["value"] = [_slot(v, values, marks) for v in inner]
                else:
                    value["value"] = _slot(inner, values, marks)
        children: Any = node.values()
    else:
        children = node
    # Loops, not all() over generators: this runs on every query.
    for child in children:
        kind = type(child)
        if kind is dict or kind is list:
            if not _walk(child, values, marks):
                return False
        elif kind is msgspec.msgpack.Ext and id(child) not in marks:
            return False
    return True


def _slot(value: Any, values: list[Any], marks: set[int]) -> Any:
    kind = type(value)
    if (kind is int and -_INT_RANGE < value < _INT_RANGE) or kind is str:
        mark = msgspec.msgpack.Ext(_KINDS[kind], len(values).to_bytes(4, "big"))
        values.append(value)
        marks.add(id(mark))
        return mark
    return value


class Template(msgspec.Struct, frozen=True):
    """A plan of one SQL statement, and where each value binds.

    Attributes:
        plan: the plan, planned with sentinels.
        slots: for each parameter, the slot whose value it binds, or -1 for a
            parameter of the shape itself (kept from ``plan``).
    """

    plan: Plan
    slots: tuple[int, ...]

    @classmethod
    def of(
        cls, plan: Plan, sentinels: tuple[Any, ...], marks: tuple[str, ...]
    ) -> Template | None:
        """The template of ``plan`` planned with ``sentinels``; None when its
        SQL depends on a value (a sentinel converted, dropped or written)."""
        task = plan.root
        if not isinstance(task, SqlTask) or task.compiled is None:
            return None
        compiled = task.compiled
        if any(mark in compiled.sql for mark in marks):
            return None
        where = {(type(s), s): n for n, s in enumerate(sentinels)}
        slots = []
        for param in compiled.params:
            n = where.get(_hashed(param), -1)
            if n < 0 and any(mark in repr(param) for mark in marks):
                return None
            slots.append(n)
        if set(slots) - {-1} != set(range(len(sentinels))):
            return None
        return cls(plan=plan, slots=tuple(slots))

    def bind(self, statement: QueryStatement, values: tuple[Any, ...]) -> Plan:
        """The plan for ``statement``, whose slotted constants are ``values``."""
        task = self.plan.root
        assert isinstance(task, SqlTask) and task.compiled is not None
        compiled = task.compiled
        params = [
            p if n < 0 else values[n]
            for p, n in zip(compiled.params, self.slots, strict=True)
        ]
        root = msgspec.structs.replace(
            task, statement=statement, compiled=compiled._replace(params=params)
        )
        return msgspec.structs.replace(self.plan, root=root)


def _hashed(param: Any) -> Any:
    try:
        hash(param)
    except TypeError:  # a list or dict bound as JSON: never a sentinel
        return None
    return (type(param), param)
