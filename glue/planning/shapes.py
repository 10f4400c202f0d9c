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

A statement of the usual kind (a table, conditions in ``where``, ``having`` and
join ``on`` holding plain constants, no subquery, annotation or set operation)
gets its shape straight from its Structs: the conditions are rebuilt with marks
and the statement is encoded once. Any other is encoded, decoded to plain data,
walked and encoded again. Both give the same bytes for the same shape.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import msgspec

from ..errors import GlueError
from ..query.conditions import (
    Condition,
    Conditions,
    FieldLookup,
    FieldReference,
    Value,
)
from ..query.model import JoinQuery, QueryStatement, SchemaReference
from ..sql.query import CompiledQuery, QueryCompiler
from .tasks import Plan, SqlTask

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from ..schema.model import Schema
    from ..sql.dialects import Dialect

__all__ = ["SelectCache", "Shape", "Template", "shape_of"]

_SLOT_LOOKUPS = frozenset(
    {
        FieldLookup.EQ,
        FieldLookup.NEQ,
        FieldLookup.GT,
        FieldLookup.GTE,
        FieldLookup.LT,
        FieldLookup.LTE,
        FieldLookup.IN,
    }
)
"""Equal to their text (decoded trees hold the text), and found by identity
for a condition's own lookup, faster than a text compare."""
_KINDS = {int: 1, str: 2}
"""The Ext code of a slot's mark, by the type of its value."""
_INT_RANGE = 2**31
"""Ints bound into a template stay within every integer column's range, as the
sentinel that planned it did."""
_ENCODER = msgspec.msgpack.Encoder()
_DECODER = msgspec.msgpack.Decoder()
_STATEMENTS = msgspec.msgpack.Decoder(QueryStatement)


class Shape(msgspec.Struct, frozen=True):
    """A statement split into its shape (``key``, the encoded statement with
    marks for its slots) and its slotted values."""

    key: bytes
    values: tuple[Any, ...]

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

        tree = _DECODER.decode(self.key)
        statement = _STATEMENTS.decode(_ENCODER.encode(fill(tree)))
        return statement, tuple(sentinels), tuple(str(s) for s in sentinels)


def shape_of(statement: QueryStatement) -> Shape | None:
    """The statement's shape, or None when it has no slot (its encoding keys it
    as well)."""
    values: list[Any] = []
    marked = _marked(statement, values)
    if marked is not None:
        return Shape(key=_ENCODER.encode(marked), values=tuple(values))
    if values:
        values.clear()
    tree = _DECODER.decode(statement.encoded())
    marks: set[int] = set()
    if not _walk(tree, values, marks) or not values:
        return None
    return Shape(key=_ENCODER.encode(tree), values=tuple(values))


_PLAIN = frozenset({int, str, float, bool, type(None)})
"""Types of constants the Struct walk passes as they are."""
_force = msgspec.structs.force_setattr
"""Marks go into copies (``__copy__``) of the Structs: ``replace`` would run
their ``__post_init__`` again, which has nothing left to do (the fields it
normalizes keep their types here) and is most of the walk's cost."""


def _marked(statement: QueryStatement, values: list[Any]) -> QueryStatement | None:
    """The statement with marks in its slots, from its Structs; None when it has
    no slot, or is not of the usual kind (see the module's docstring)."""
    if (
        type(statement.table) is not SchemaReference
        or statement.annotations
        or statement.set_operations
    ):
        return None
    joins = statement.joins
    if joins:
        marked_joins = []
        for join in joins:
            if type(join) is not JoinQuery or type(join.table) is not SchemaReference:
                return None
            on = _marked_filter(join.on, values)
            if on is None:
                return None
            marked_joins.append(msgspec.structs.replace(join, on=on))
        joins = tuple(marked_joins)
    where: Condition | Conditions | None = statement.where
    if where is not None and (where := _marked_filter(where, values)) is None:
        return None
    having: Condition | Conditions | None = statement.having
    if having is not None and (having := _marked_filter(having, values)) is None:
        return None
    if not values:
        return None
    marked: QueryStatement = statement.__copy__()  # type: ignore[attr-defined]
    _force(marked, "joins", joins)
    _force(marked, "where", where)
    _force(marked, "having", having)
    return marked


def _marked_filter(
    node: Condition | Conditions, values: list[Any]
) -> Condition | Conditions | None:
    kind = type(node)
    if kind is Conditions:
        assert isinstance(node, Conditions)
        children = []
        for child in node.children:
            marked = _marked_filter(child, values)
            if marked is None:
                return None
            children.append(marked)
        marked_group: Conditions = node.__copy__()  # type: ignore[attr-defined]
        _force(marked_group, "children", tuple(children))
        return marked_group
    if kind is not Condition:
        return None
    assert isinstance(node, Condition)
    operand = node.value
    if type(operand) is not Value:
        # Another field: nothing to mark. A subquery: the slow walk.
        return node if isinstance(operand, FieldReference) else None
    inner = operand.value
    slotted = node.lookup in _SLOT_LOOKUPS
    if type(inner) is list or type(inner) is tuple:
        if any(type(v) not in _PLAIN for v in inner):
            return None
        if not slotted:
            return node
        inner = [_mark(v, values) for v in inner]
    elif type(inner) not in _PLAIN:
        return None
    elif not slotted:
        return node
    else:
        inner = _mark(inner, values)
    marked_condition: Condition = node.__copy__()  # type: ignore[attr-defined]
    _force(marked_condition, "value", Value(inner))
    return marked_condition


def _mark(value: Any, values: list[Any]) -> Any:
    kind = type(value)
    if (kind is int and -_INT_RANGE < value < _INT_RANGE) or kind is str:
        n = len(values)
        values.append(value)
        data = _SLOT_NUMBERS[n] if n < len(_SLOT_NUMBERS) else n.to_bytes(4, "big")
        return msgspec.msgpack.Ext(_KINDS[kind], data)
    return value


_SLOT_NUMBERS = tuple(n.to_bytes(4, "big") for n in range(64))
"""The data of the first slots' marks, made once."""


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
        compiled: the plan's one statement, with the sentinels bound.
        route: the schema name its pool is routed by.
        direct: whether the plan's answer is its one statement's rows (its
            task's slot is the plan's): a caller may then run the statement
            alone, with ``compiled.sql``, `params`, `route` and `decode`.
        decode: what `CompiledQuery.decode_tuples` does to its rows, worked
            out once; None when no column needs converting.
        whole: whether its parameters are the slots' values, in order.
    """

    plan: Plan
    slots: tuple[int, ...]
    compiled: CompiledQuery
    route: str
    direct: bool
    decode: Callable[[list[tuple[Any, ...]]], list[tuple[Any, ...]]] | None
    whole: bool

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
        slots = _slots(compiled, sentinels, marks)
        if slots is None:
            return None
        return cls(
            plan=plan,
            slots=slots,
            compiled=compiled,
            route=task.route,
            direct=task.slot == plan.slot,
            decode=compiled.tuple_decoder(),
            whole=slots == tuple(range(len(slots))),
        )

    def params(self, values: tuple[Any, ...]) -> Sequence[Any]:
        """The statement's parameters with ``values`` bound: ``values`` itself
        when they are all its parameters, in order."""
        if self.whole:
            return values
        return _bound(self.compiled, self.slots, values).params

    def bind(self, statement: QueryStatement, values: tuple[Any, ...]) -> Plan:
        """The plan for ``statement``, whose slotted constants are ``values``."""
        task = self.plan.root
        compiled = _bound(self.compiled, self.slots, values)
        root = msgspec.structs.replace(task, statement=statement, compiled=compiled)
        return msgspec.structs.replace(self.plan, root=root)


class SelectCache:
    """Compiled SELECTs kept by shape, for code that compiles without planning
    (`glue.work.Repository.query`): the same read with new values compiles once.

    Args:
        size: the most shapes kept; the oldest goes first.
    """

    def __init__(self, size: int = 256) -> None:
        self._size = size
        self._kept: dict[
            tuple[int, bytes],
            tuple[tuple[Schema, ...], tuple[CompiledQuery, tuple[int, ...]] | None],
        ] = {}

    def compile(
        self, dialect: Dialect, schemas: Mapping[str, Schema], statement: QueryStatement
    ) -> CompiledQuery:
        """``QueryCompiler(dialect, schemas).compile(statement)``, from the
        statement's shape when it was compiled before with the same schemas.

        Raises:
            glue.QueryError: as `QueryCompiler.compile`.
        """
        shape = shape_of(statement)
        if shape is None:
            return QueryCompiler(dialect, schemas).compile(statement)
        key = (id(dialect), shape.key)
        tables = tuple(schemas.values())
        kept = self._kept.get(key)
        if kept is None or not _same(kept[0], tables):
            kept = (tables, self._template(dialect, schemas, shape))
            if key not in self._kept and len(self._kept) >= self._size:
                self._kept.pop(next(iter(self._kept)))
            self._kept[key] = kept
        template = kept[1]
        if template is None:
            return QueryCompiler(dialect, schemas).compile(statement)
        return _bound(template[0], template[1], shape.values)

    @staticmethod
    def _template(
        dialect: Dialect, schemas: Mapping[str, Schema], shape: Shape
    ) -> tuple[CompiledQuery, tuple[int, ...]] | None:
        try:
            statement, sentinels, marks = shape.sentinel_statement()
            compiled = QueryCompiler(dialect, schemas).compile(statement)
        except (GlueError, msgspec.ValidationError):
            return None  # compiled with its values, it says what is wrong
        slots = _slots(compiled, sentinels, marks)
        return None if slots is None else (compiled, slots)


def _same(a: tuple[Schema, ...], b: tuple[Schema, ...]) -> bool:
    return len(a) == len(b) and all(x is y for x, y in zip(a, b, strict=True))


def _slots(
    compiled: CompiledQuery, sentinels: tuple[Any, ...], marks: tuple[str, ...]
) -> tuple[int, ...] | None:
    """For each parameter of SQL compiled with ``sentinels``, the slot it binds
    (-1: the shape's own); None when the SQL depends on a value."""
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
    return tuple(slots)


def _bound(
    compiled: CompiledQuery, slots: tuple[int, ...], values: tuple[Any, ...]
) -> CompiledQuery:
    params = [
        p if n < 0 else values[n] for p, n in zip(compiled.params, slots, strict=True)
    ]
    # Built whole: a third of the cost of ``_replace``.
    return CompiledQuery(compiled.sql, params, compiled.columns, compiled.dialect)


def _hashed(param: Any) -> Any:
    try:
        hash(param)
    except TypeError:  # a list or dict bound as JSON: never a sentinel
        return None
    return (type(param), param)
