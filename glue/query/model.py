"""The query model: a read as plain data, with the AMSDAL Glue names.

A :class:`QueryStatement` says what to read; it is built in code or decoded from
JSON, and the planner and the SQL compilers turn it into work::

    QueryStatement(
        only=[FieldReference.of("c", "name"), FieldReference.of("o", "amount")],
        table=SchemaReference(name="customers", alias="c"),
        joins=[JoinQuery(
            table=SchemaReference(name="orders", alias="o"),
            on=Conditions(Condition(field=FieldReference.of("o", "customer_id"),
                                    value=FieldReference.of("c", "id"))),
        )],
        where=Conditions(Condition(field=FieldReference.of("o", "status"),
                                   value=Value("paid"))),
        order_by=[OrderByQuery(field=FieldReference.of("o", "amount"),
                               direction=OrderDirection.DESC)],
        limit=LimitQuery(limit=10),
    )

Every node is a frozen, keyword-only msgspec Struct; nodes that share a slot carry
a ``"type"`` tag, so a statement round-trips through ``msgspec.json``. Sequences may
be passed as lists; they are stored as tuples.

Semantics worth knowing:

- ``only=None`` selects every column of every table, in order; a name already taken
  by an earlier table is returned as ``alias__name``. With aggregations and no
  ``only``, the group-by fields and the aggregations are selected.
- ``set_operations`` combine this statement with others (union, union all,
  intersect, except), left to right; this statement's ``order_by`` and ``limit``
  then apply to the combined rows, and name output columns.
- ``order_by`` puts NULLs first when ascending and last when descending, on every
  database (SQLite's rule: NULL is the smallest value).
"""

from __future__ import annotations

import enum
from collections.abc import Iterator, Sequence
from typing import Any, TypeAlias

import msgspec

from .conditions import (
    Conditions,
    FieldReference,
    FieldReferenceAliased,
    Value,
)

__all__ = [
    "Aggregate",
    "AggregationQuery",
    "AnnotationQuery",
    "Avg",
    "Count",
    "GroupByQuery",
    "JoinQuery",
    "JoinType",
    "LimitQuery",
    "Max",
    "Min",
    "Operand",
    "OrderByQuery",
    "OrderDirection",
    "QueryStatement",
    "SchemaReference",
    "SetOperation",
    "SetOperator",
    "SubQueryStatement",
    "Sum",
    "ValueAnnotation",
    "Version",
]


class Version(enum.StrEnum):
    """Which version of a schema a reference means; glue keeps only the latest."""

    LATEST = "LATEST"


class JoinType(enum.StrEnum):
    """The kind of join."""

    INNER = "INNER"
    LEFT = "LEFT"
    RIGHT = "RIGHT"
    FULL = "FULL"


class OrderDirection(enum.StrEnum):
    """Ascending (NULLs first) or descending (NULLs last)."""

    ASC = "ASC"
    DESC = "DESC"


class SetOperator(enum.StrEnum):
    """How a set operation combines two statements' rows."""

    UNION = "UNION"
    UNION_ALL = "UNION ALL"
    INTERSECT = "INTERSECT"
    EXCEPT = "EXCEPT"


class SchemaReference(msgspec.Struct, frozen=True, kw_only=True, tag="schema"):
    """A table, by name, optionally under an alias.

    Attributes:
        name: the table's (schema's) name; the ConnectionManager routes by it.
        version: kept for AMSDAL Glue compatibility; always the latest.
        alias: the name fields use for this table in the statement.
        namespace: reserved for schema namespaces; empty.
    """

    name: str
    version: Version = Version.LATEST
    alias: str | None = None
    namespace: str = ""

    @property
    def ref_name(self) -> str:
        """The name fields use for this table: its alias, else its name."""
        return self.alias or self.name


class SubQueryStatement(msgspec.Struct, frozen=True, kw_only=True, tag="subquery"):
    """A statement used inside another: as a table, a join target, an ``in``
    list, a scalar compared with, or a scalar selected.

    Attributes:
        query: the inner statement.
        alias: its name (the table alias, or the selected column's name).
    """

    query: QueryStatement
    alias: str = ""

    @property
    def ref_name(self) -> str:
        """The name fields use for this subquery's columns."""
        return self.alias


class _AggregateBase(msgspec.Struct, frozen=True, kw_only=True):
    field: FieldReference | FieldReferenceAliased | None = None
    distinct: bool = False

    function = ""


class Count(_AggregateBase, frozen=True, kw_only=True, tag="count"):
    """``COUNT(field)``, or ``COUNT(*)`` without a field; ``distinct`` counts
    distinct values."""

    function = "COUNT"


class Sum(_AggregateBase, frozen=True, kw_only=True, tag="sum"):
    """``SUM(field)``: an int for integer columns, a float for float columns."""

    function = "SUM"


class Avg(_AggregateBase, frozen=True, kw_only=True, tag="avg"):
    """``AVG(field)``, always a float."""

    function = "AVG"


class Min(_AggregateBase, frozen=True, kw_only=True, tag="min"):
    """``MIN(field)``, of the column's type."""

    function = "MIN"


class Max(_AggregateBase, frozen=True, kw_only=True, tag="max"):
    """``MAX(field)``, of the column's type."""

    function = "MAX"


Aggregate: TypeAlias = Count | Sum | Avg | Min | Max
"""Any aggregate function."""

Operand: TypeAlias = Value | FieldReference | FieldReferenceAliased | SubQueryStatement
"""What a condition compares its field with."""


class AggregationQuery(msgspec.Struct, frozen=True, kw_only=True):
    """A selected aggregate.

    Attributes:
        expression: the aggregate function and its field.
        alias: its name in the result.
    """

    expression: Aggregate
    alias: str


class ValueAnnotation(msgspec.Struct, frozen=True, kw_only=True, tag="value"):
    """A selected constant (bound, typed by its Python type).

    Attributes:
        value: the constant.
        alias: its name in the result.
    """

    value: Value
    alias: str


class AnnotationQuery(msgspec.Struct, frozen=True, kw_only=True):
    """A selected extra column: a constant, or a scalar subquery (named by its
    alias).

    Attributes:
        value: the constant or the subquery.
    """

    value: ValueAnnotation | SubQueryStatement

    @property
    def alias(self) -> str:
        """The column's name in the result."""
        return self.value.alias


class JoinQuery(msgspec.Struct, frozen=True, kw_only=True):
    """A join with another table or a subquery.

    Attributes:
        table: what to join.
        on: the join condition.
        join_type: inner, left, right or full.
    """

    table: SchemaReference | SubQueryStatement
    on: Conditions
    join_type: JoinType = JoinType.INNER


class GroupByQuery(msgspec.Struct, frozen=True, kw_only=True):
    """A field to group by."""

    field: FieldReference | FieldReferenceAliased


class OrderByQuery(msgspec.Struct, frozen=True, kw_only=True):
    """A sort key.

    Attributes:
        field: a field, or (with an empty ``table_name``) the alias of a selected
            field, aggregation or annotation.
        direction: ascending (NULLs first) or descending (NULLs last).
    """

    field: FieldReference | FieldReferenceAliased
    direction: OrderDirection = OrderDirection.ASC


class LimitQuery(msgspec.Struct, frozen=True, kw_only=True):
    """At most ``limit`` rows (all when None), after skipping ``offset``."""

    limit: int | None = None
    offset: int = 0


class SetOperation(msgspec.Struct, frozen=True, kw_only=True):
    """Another statement combined with this one.

    Attributes:
        operator: union, union all, intersect or except.
        query: the other statement; it must select as many columns.
    """

    operator: SetOperator
    query: QueryStatement


def _tuple(value: Sequence[Any]) -> tuple[Any, ...]:
    return value if isinstance(value, tuple) else tuple(value)


class QueryStatement(msgspec.Struct, frozen=True, kw_only=True):
    """A read: ``SELECT [DISTINCT] only, annotations, aggregations FROM table
    JOIN ... WHERE ... GROUP BY ... HAVING ... ORDER BY ... LIMIT ... OFFSET``.

    Attributes:
        table: the table or subquery read from.
        only: the fields selected; all columns when None.
        annotations: constants and scalar subqueries selected.
        aggregations: aggregates selected.
        distinct: drop duplicate rows.
        joins: joined tables and subqueries, in order.
        where: conditions on the rows.
        group_by: the grouping fields.
        having: conditions on the groups (may compare aggregates).
        order_by: the sort keys, in order.
        limit: how many rows, after how many.
        set_operations: statements combined with this one, left to right.
    """

    table: SchemaReference | SubQueryStatement
    only: Sequence[FieldReference | FieldReferenceAliased] | None = None
    annotations: Sequence[AnnotationQuery] = ()
    aggregations: Sequence[AggregationQuery] = ()
    distinct: bool = False
    joins: Sequence[JoinQuery] = ()
    where: Conditions | None = None
    group_by: Sequence[GroupByQuery] = ()
    having: Conditions | None = None
    order_by: Sequence[OrderByQuery] = ()
    limit: LimitQuery | None = None
    set_operations: Sequence[SetOperation] = ()

    def __post_init__(self) -> None:
        for name in (
            "annotations",
            "aggregations",
            "joins",
            "group_by",
            "order_by",
            "set_operations",
        ):
            value = getattr(self, name)
            if not isinstance(value, tuple):
                msgspec.structs.force_setattr(self, name, tuple(value))
        if self.only is not None and not isinstance(self.only, tuple):
            msgspec.structs.force_setattr(self, "only", tuple(self.only))

    # -- set operations -------------------------------------------------------

    def _combine(self, operator: SetOperator, other: QueryStatement) -> QueryStatement:
        operation = SetOperation(operator=operator, query=other)
        return msgspec.structs.replace(
            self, set_operations=(*self.set_operations, operation)
        )

    def order_output_name(self, order: OrderByQuery) -> str:
        """The output column an ORDER BY of this statement's combined rows (a set
        operation's) names: a selected field's alias when the order names that
        field by its table, else the field's own output name."""
        name = order.field.output_name
        if order.field.table_name and self.only is not None:
            for item in self.only:
                if (
                    item.table_name == order.field.table_name
                    and item.field == order.field.field
                ):
                    name = item.output_name
        return name

    def union(self, other: QueryStatement) -> QueryStatement:
        """This statement's rows and ``other``'s, without duplicates."""
        return self._combine(SetOperator.UNION, other)

    def union_all(self, other: QueryStatement) -> QueryStatement:
        """This statement's rows and ``other``'s, duplicates kept."""
        return self._combine(SetOperator.UNION_ALL, other)

    def intersect(self, other: QueryStatement) -> QueryStatement:
        """The rows both statements return."""
        return self._combine(SetOperator.INTERSECT, other)

    def except_(self, other: QueryStatement) -> QueryStatement:
        """This statement's rows that ``other`` does not return."""
        return self._combine(SetOperator.EXCEPT, other)

    # -- walking, for planners ------------------------------------------------

    def sources(self) -> tuple[SchemaReference | SubQueryStatement, ...]:
        """The FROM table and the join targets, in order (not set operations)."""
        return (self.table, *(join.table for join in self.joins))

    def conditions(self) -> Iterator[Conditions]:
        """This statement's condition trees: join conditions, where, having."""
        for join in self.joins:
            yield join.on
        if self.where is not None:
            yield self.where
        if self.having is not None:
            yield self.having

    def subqueries(self) -> Iterator[SubQueryStatement]:
        """Every subquery directly inside this statement (not nested deeper):
        in FROM, in joins, in conditions and in annotations."""
        for source in self.sources():
            if isinstance(source, SubQueryStatement):
                yield source
        for annotation in self.annotations:
            if isinstance(annotation.value, SubQueryStatement):
                yield annotation.value
        for conditions in self.conditions():
            yield from conditions.subqueries()

    def statements(self) -> Iterator[QueryStatement]:
        """This statement, its set operations' statements and every subquery's,
        at any depth, depth first."""
        yield self
        for operation in self.set_operations:
            yield from operation.query.statements()
        for subquery in self.subqueries():
            yield from subquery.query.statements()

    def tables(self) -> tuple[SchemaReference, ...]:
        """Every table the statement reads, at any depth, in first-use order,
        each distinct reference once."""
        seen: dict[SchemaReference, None] = {}
        for statement in self.statements():
            for source in statement.sources():
                if isinstance(source, SchemaReference):
                    seen.setdefault(source)
        return tuple(seen)

    def table_names(self) -> frozenset[str]:
        """The names of every table the statement reads (for routing)."""
        return frozenset(ref.name for ref in self.tables())

    def field_references(self) -> Iterator[FieldReference]:
        """Every field this statement names itself (not inside subqueries or set
        operations): selected, in conditions, grouped, aggregated and sorted."""
        if self.only is not None:
            yield from self.only
        for conditions in self.conditions():
            yield from conditions.field_references()
        for group in self.group_by:
            yield group.field
        for aggregation in self.aggregations:
            if aggregation.expression.field is not None:
                yield aggregation.expression.field
        for order in self.order_by:
            yield order.field
