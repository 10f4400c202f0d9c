"""Conditions: what a row must satisfy, nested with and / or / not.

A :class:`Condition` compares one operand (a field, or an aggregate in ``having``)
with a :class:`Value`, another field or a subquery, through a :class:`FieldLookup`.
A plain constant stands for its :class:`Value` (``value=18`` is ``value=Value(18)``),
in code and in JSON alike. :class:`Conditions` nests them under a connector,
optionally negated::

    adult = Condition(field=FieldReference.of("people", "age"),
                      lookup=FieldLookup.GTE, value=18)
    named = Condition(field=FieldReference.of("people", "name"),
                      lookup=FieldLookup.STARTSWITH, value=Value("A"))
    where = adult & ~named   # Conditions(adult, Conditions(named, negated=True))

Everything here is a frozen msgspec Struct tagged with ``"type"``, so a condition
tree round-trips through JSON. The operands that name fields live here too, because
conditions are built from them.
"""

from __future__ import annotations

import datetime as dt
import decimal
import enum
import uuid
from typing import TYPE_CHECKING, Any, TypeAlias

import msgspec

from ..errors import QueryError

if TYPE_CHECKING:
    from collections.abc import Iterator

__all__ = [
    "Condition",
    "Conditions",
    "Constant",
    "Field",
    "FieldLookup",
    "FieldReference",
    "FieldReferenceAliased",
    "FilterConnector",
    "Value",
]


class FieldLookup(enum.StrEnum):
    """How a condition compares its field with its value."""

    EQ = "eq"
    """Equal; ``Value(None)`` means IS NULL."""
    NEQ = "neq"
    """Not equal; ``Value(None)`` means IS NOT NULL. Rows where the field is NULL
    never match, as in SQL."""
    GT = "gt"
    GTE = "gte"
    LT = "lt"
    LTE = "lte"
    IN = "in"
    """In a list of values (an empty list matches nothing) or in a subquery."""
    CONTAINS = "contains"
    """Contains the text, case-sensitively; ``%`` and ``_`` are matched literally."""
    ICONTAINS = "icontains"
    """Contains the text, ignoring case."""
    STARTSWITH = "startswith"
    ISTARTSWITH = "istartswith"
    ENDSWITH = "endswith"
    IENDSWITH = "iendswith"
    ISNULL = "isnull"
    """``Value(True)``: the field is NULL; ``Value(False)``: it is not."""
    REGEX = "regex"
    """Matches a regular expression (PostgreSQL ``~``; SQLite ``REGEXP``)."""
    IREGEX = "iregex"
    """Matches a regular expression, ignoring case."""


class FilterConnector(enum.StrEnum):
    """How the children of a :class:`Conditions` combine."""

    AND = "AND"
    OR = "OR"


class Field(msgspec.Struct, frozen=True, kw_only=True):
    """A column, or a path into a JSON column.

    Attributes:
        name: the column's name.
        child: for a JSON column, the key inside it (itself possibly nested).
    """

    name: str
    child: Field | None = None

    @classmethod
    def of(cls, path: str) -> Field:
        """Build a field from a dotted path: ``Field.of("data.address.city")``."""
        head, _, rest = path.partition(".")
        return cls(name=head, child=cls.of(rest) if rest else None)

    @property
    def path(self) -> tuple[str, ...]:
        """The column's name followed by the JSON keys, outermost first."""
        names = [self.name]
        child = self.child
        while child is not None:
            names.append(child.name)
            child = child.child
        return tuple(names)


class FieldReference(msgspec.Struct, frozen=True, kw_only=True, tag="field"):
    """A field of a table, named by the table's alias or name.

    Attributes:
        field: the field.
        table_name: the alias of the table in the statement, or its name when it
            has no alias. Empty: the one table of the statement that has the field
            (an error if several have it).
        namespace: reserved for schema namespaces; empty.
    """

    field: Field
    table_name: str = ""
    namespace: str = ""

    @classmethod
    def of(cls, table_name: str, path: str) -> FieldReference:
        """Shorthand: ``FieldReference.of("orders", "amount")``.

        Args:
            table_name: the table's alias or name.
            path: the field's name, or a dotted path into a JSON column.
        """
        return cls(field=Field.of(path), table_name=table_name)

    def aliased(self, alias: str) -> FieldReferenceAliased:
        """The same field, selected under another name."""
        return FieldReferenceAliased(
            field=self.field,
            table_name=self.table_name,
            namespace=self.namespace,
            alias=alias,
        )

    @property
    def output_name(self) -> str:
        """The name this field has in a result row: its path joined with ``__``."""
        return "__".join(self.field.path)

    # Combinators build conditions: ``ref == Value(1)`` would clash with Struct
    # equality, so comparisons are spelled as methods.
    def lookup(self, lookup: FieldLookup, value: Operand | Constant) -> Condition:
        """A condition on this field: ``ref.lookup(FieldLookup.GT, 3)``."""
        return Condition(field=self, lookup=lookup, value=value)


class FieldReferenceAliased(FieldReference, frozen=True, kw_only=True, tag="aliased"):
    """A selected field with a name of its own in the result.

    Attributes:
        alias: the name the field has in each result row.
    """

    alias: str

    @property
    def output_name(self) -> str:
        """The alias."""
        return self.alias


class Value(msgspec.Struct, frozen=True, tag="value"):
    """A constant, always sent to the database as a bound parameter.

    The compiler converts it to the type of the column it is compared with, so a
    value decoded from JSON (a datetime as text, say) compares correctly.

    Attributes:
        value: the constant; a list for ``in``, a bool for ``isnull``.
    """

    value: Any


_Scalar: TypeAlias = (
    str | int | float | bool | decimal.Decimal | dt.date | dt.time | uuid.UUID | None
)
"""A constant a condition may compare with (a datetime is a date)."""

Constant: TypeAlias = _Scalar | list[_Scalar] | tuple[_Scalar, ...]
"""A plain constant given where a :class:`Value` is meant, or a list of them
(for ``in``)."""

_SCALARS = (str, int, float, decimal.Decimal, dt.date, dt.time, uuid.UUID)
_LISTS = (list, tuple, set, frozenset)


def _is_scalar(value: object) -> bool:
    return value is None or isinstance(value, _SCALARS)


class Condition(msgspec.Struct, frozen=True, kw_only=True, tag="condition"):
    """One comparison: ``field lookup value``.

    A plain constant (:data:`Constant`: text, a number, a bool, None, a date or
    time, a UUID, a Decimal, or a list of them for ``in``) given as ``value`` is
    kept as ``Value(constant)``, whether the condition is built in code or
    decoded from JSON.

    Attributes:
        field: the left operand: a field, or an aggregate (in ``having``).
        lookup: how to compare.
        value: the right operand: a constant, another field, or a subquery
            (a list of values for ``in``, a single value otherwise).

    Raises:
        glue.QueryError: ``value`` is neither an operand nor a constant.
    """

    field: FieldReference | FieldReferenceAliased | Aggregate
    lookup: FieldLookup = FieldLookup.EQ
    value: _Right

    if TYPE_CHECKING:

        def __init__(
            self,
            *,
            field: FieldReference | FieldReferenceAliased | Aggregate,
            lookup: FieldLookup = FieldLookup.EQ,
            value: Operand | Constant,
        ) -> None: ...

    def __post_init__(self) -> None:
        value: Any = self.value
        if isinstance(value, _OPERANDS):
            return
        if not _is_scalar(value) and not (
            isinstance(value, _LISTS) and all(_is_scalar(v) for v in value)
        ):
            field: Any = self.field
            on = ""
            if isinstance(field, FieldReference):
                path = ".".join((field.table_name, *field.field.path)).lstrip(".")
                on = f" on {path!r}"
            raise QueryError(
                f"condition{on}: it compares with a Value, a field, a subquery or "
                "a constant (text, a number, a bool, None, a date or time, a UUID, "
                f"a Decimal, or a list of them), not {value!r}"
            )
        msgspec.structs.force_setattr(self, "value", Value(value))

    def __and__(self, other: Condition | Conditions) -> Conditions:
        return Conditions(self, other)

    def __or__(self, other: Condition | Conditions) -> Conditions:
        return Conditions(self, other, connector=FilterConnector.OR)

    def __invert__(self) -> Conditions:
        return Conditions(self, negated=True)

    def field_references(self) -> Iterator[FieldReference]:
        """The fields this condition reads, outside any subquery in it."""
        match self.field:
            case FieldReference():
                yield self.field
            case _:
                if self.field.field is not None:
                    yield self.field.field
        if isinstance(self.value, FieldReference):
            yield self.value

    def subqueries(self) -> Iterator[SubQueryStatement]:
        """The subqueries this condition compares with."""
        if isinstance(self.value, SubQueryStatement):
            yield self.value


class _ConditionsMeta(msgspec.StructMeta):
    """Lets ``Conditions(a, b, connector=...)`` take its children positionally."""

    def __call__(cls, *children: Any, **options: Any) -> Any:
        if children:
            options["children"] = children
        return super().__call__(**options)


class Conditions(
    msgspec.Struct,
    frozen=True,
    kw_only=True,
    tag="conditions",
    metaclass=_ConditionsMeta,
):
    """Conditions joined by AND or OR, optionally negated as a whole.

    Build them positionally, ``Conditions(a, b, connector=FilterConnector.OR)``,
    or with ``a & b``, ``a | b`` and ``~a``.

    Attributes:
        children: conditions or nested groups; at least one.
        connector: AND (all must hold) or OR (any may hold).
        negated: whether the whole group is negated (NOT).
    """

    children: tuple[Condition | Conditions, ...] = ()
    connector: FilterConnector = FilterConnector.AND
    negated: bool = False

    if TYPE_CHECKING:

        def __init__(
            self,
            *children: Condition | Conditions,
            connector: FilterConnector = FilterConnector.AND,
            negated: bool = False,
        ) -> None: ...

    def __and__(self, other: Condition | Conditions) -> Conditions:
        return self._join(other, FilterConnector.AND)

    def __or__(self, other: Condition | Conditions) -> Conditions:
        return self._join(other, FilterConnector.OR)

    def __invert__(self) -> Conditions:
        return msgspec.structs.replace(self, negated=not self.negated)

    def _join(
        self, other: Condition | Conditions, connector: FilterConnector
    ) -> Conditions:
        if self.connector == connector and not self.negated:
            return Conditions(*self.children, other, connector=connector)
        return Conditions(self, other, connector=connector)

    def conjuncts(self) -> tuple[Condition | Conditions, ...]:
        """The parts that must all hold: the children of a plain AND, else itself.

        Nested plain ANDs are flattened, so a planner can push each part that
        reads one table down to that table's database.
        """
        if self.negated or (
            self.connector == FilterConnector.OR and len(self.children) > 1
        ):
            return (self,)
        parts: list[Condition | Conditions] = []
        for child in self.children:
            if isinstance(child, Conditions):
                parts.extend(child.conjuncts())
            else:
                parts.append(child)
        return tuple(parts)

    def walk(self) -> Iterator[Condition]:
        """Every condition in this tree, depth first (not inside subqueries)."""
        for child in self.children:
            if isinstance(child, Conditions):
                yield from child.walk()
            else:
                yield child

    def field_references(self) -> Iterator[FieldReference]:
        """Every field the tree reads, outside its subqueries."""
        for condition in self.walk():
            yield from condition.field_references()

    def subqueries(self) -> Iterator[SubQueryStatement]:
        """Every subquery the tree compares with (not nested ones)."""
        for condition in self.walk():
            yield from condition.subqueries()

    def tables(self) -> frozenset[str]:
        """The table names or aliases the tree's fields name (outside subqueries).

        A field with an empty ``table_name`` contributes ``""``.
        """
        return frozenset(ref.table_name for ref in self.field_references())


# The query model is one recursive family: a condition may compare with a subquery,
# whose statement holds conditions. msgspec resolves these names when it first
# encodes or decodes, so they are imported after the classes above exist.
from .model import (  # noqa: E402
    Aggregate,
    Operand,
    SubQueryStatement,
)

_OPERANDS = (Value, FieldReference, SubQueryStatement)

if TYPE_CHECKING:
    _Right: TypeAlias = Operand
else:
    # What JSON may give: an operand, or a constant that post-init wraps in Value.
    _Right = (
        Operand
        | str
        | int
        | float
        | bool
        | None
        | list[str | int | float | bool | None]
    )
