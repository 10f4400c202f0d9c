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
be passed as lists; they are stored as tuples. Where conditions go (``where``,
``having``, a join's ``on``), one bare :class:`Condition` is taken as
``Conditions(condition)``. A statement built in code is checked like its JSON
when it is planned (:meth:`QueryStatement.validated`): a node of the wrong type is
a :class:`glue.QueryError` naming its path, never a crash deep inside glue.

Semantics worth knowing:

- ``only=None`` selects every column of every table, in order; a name already taken
  by an earlier table is returned as ``alias__name``. With aggregations and no
  ``only``, the group-by fields and the aggregations are selected.
- ``set_operations`` combine this statement with others (union, union all,
  intersect, except), left to right; this statement's ``order_by`` and ``limit``
  then apply to the combined rows, and name output columns.
- ``order_by`` puts NULLs first when ascending and last when descending, on every
  database (SQLite's rule: NULL is the smallest value).
- ``distinct=[field, ...]`` keeps the first row of each group of rows equal in
  those fields (PostgreSQL's DISTINCT ON), first by ``order_by``, which must
  begin with those fields; SQLite and the in-memory step do the same.
"""

from __future__ import annotations

import enum
import functools
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any, TypeAlias

import msgspec

from ..errors import QueryError
from .conditions import (
    Condition,
    Conditions,
    FieldLookup,
    FieldReference,
    FieldReferenceAliased,
    FilterConnector,
    Value,
)

if TYPE_CHECKING:
    _Filter: TypeAlias = Conditions
else:
    # JSON may give one bare condition where conditions go; post-init wraps it.
    _Filter = Conditions | Condition


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
    on: _Filter
    join_type: JoinType = JoinType.INNER

    if TYPE_CHECKING:

        def __init__(
            self,
            *,
            table: SchemaReference | SubQueryStatement,
            on: Conditions | Condition,
            join_type: JoinType = JoinType.INNER,
        ) -> None: ...

    def __post_init__(self) -> None:
        on: Any = self.on
        if isinstance(on, Condition):
            msgspec.structs.force_setattr(self, "on", Conditions(on))


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


_force = msgspec.structs.force_setattr


_KEPT = (tuple, dict, msgspec.Struct)


def _tuple(value: Any) -> Any:
    """A sequence as a tuple; anything else as it is, for `validated` to name."""
    if isinstance(value, _KEPT):
        return value
    try:
        return tuple(value)
    except TypeError:
        return value


class QueryStatement(msgspec.Struct, frozen=True, kw_only=True):
    """A read: ``SELECT [DISTINCT [ON (...)]] only, annotations, aggregations FROM
    table JOIN ... WHERE ... GROUP BY ... HAVING ... ORDER BY ... LIMIT ... OFFSET``.

    Attributes:
        table: the table or subquery read from.
        only: the fields selected; all columns when None.
        annotations: constants and scalar subqueries selected.
        aggregations: aggregates selected.
        distinct: True drops duplicate rows; a list of fields keeps the first row
            (by ``order_by``, which must start with those fields) of each group
            of rows equal in them, as PostgreSQL's DISTINCT ON.
        joins: joined tables and subqueries, in order.
        where: conditions on the rows (a bare Condition is wrapped).
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
    distinct: bool | Sequence[FieldReference | FieldReferenceAliased] = False
    joins: Sequence[JoinQuery] = ()
    where: _Filter | None = None
    group_by: Sequence[GroupByQuery] = ()
    having: _Filter | None = None
    order_by: Sequence[OrderByQuery] = ()
    limit: LimitQuery | None = None
    set_operations: Sequence[SetOperation] = ()

    if TYPE_CHECKING:

        def __init__(
            self,
            *,
            table: SchemaReference | SubQueryStatement,
            only: Sequence[FieldReference | FieldReferenceAliased] | None = None,
            annotations: Sequence[AnnotationQuery] = (),
            aggregations: Sequence[AggregationQuery] = (),
            distinct: bool | Sequence[FieldReference | FieldReferenceAliased] = False,
            joins: Sequence[JoinQuery] = (),
            where: Conditions | Condition | None = None,
            group_by: Sequence[GroupByQuery] = (),
            having: Conditions | Condition | None = None,
            order_by: Sequence[OrderByQuery] = (),
            limit: LimitQuery | None = None,
            set_operations: Sequence[SetOperation] = (),
        ) -> None: ...

    def __post_init__(self) -> None:
        # Runs for every statement built or decoded: exact type checks, no loop.
        if type(self.annotations) is not tuple:
            _force(self, "annotations", _tuple(self.annotations))
        if type(self.aggregations) is not tuple:
            _force(self, "aggregations", _tuple(self.aggregations))
        if type(self.joins) is not tuple:
            _force(self, "joins", _tuple(self.joins))
        if type(self.group_by) is not tuple:
            _force(self, "group_by", _tuple(self.group_by))
        if type(self.order_by) is not tuple:
            _force(self, "order_by", _tuple(self.order_by))
        if type(self.set_operations) is not tuple:
            _force(self, "set_operations", _tuple(self.set_operations))
        if self.only is not None and type(self.only) is not tuple:
            _force(self, "only", _tuple(self.only))
        distinct: Any = self.distinct
        if (
            distinct is not False
            and distinct is not True
            and type(distinct) is not tuple
        ):
            # No fields to be distinct on is no DISTINCT ON at all.
            fields = _tuple(distinct)
            _force(self, "distinct", False if fields == () else fields)
        where: Any = self.where
        if type(where) is Condition:
            _force(self, "where", Conditions(where))
        having: Any = self.having
        if type(having) is Condition:
            _force(self, "having", Conditions(having))

    @property
    def distinct_on(self) -> tuple[FieldReference | FieldReferenceAliased, ...]:
        """The fields of a DISTINCT ON, or () for none (plain or no DISTINCT)."""
        distinct = self.distinct
        return () if isinstance(distinct, bool) else tuple(distinct)

    # -- checking -------------------------------------------------------------

    def encoded(self) -> bytes:
        """The statement as msgpack: a key for caching its plan, which keeps
        ``1``, ``1.0`` and ``True`` apart as the values they are to bind.

        Raises:
            glue.QueryError: a value glue cannot send to a database (an object
                that is not a constant).
        """
        try:
            return _ENCODER.encode(self)
        except (TypeError, OverflowError, msgspec.MsgspecError) as exc:
            raise QueryError(
                f"the statement holds a value glue cannot send to a database: {exc}"
            ) from None

    def validated(self) -> QueryStatement:
        """This statement as its JSON would decode: every node checked against
        the query model, enums and tuples in place, constants as JSON keeps them.

        msgspec checks Structs only when it decodes them; a statement built in
        code is taken on trust, so the planner validates it here once, before
        anything reads it.

        Raises:
            glue.QueryError: a node or value of the wrong type, named by its path
                (``$.where.children[0].field``), as the same JSON would be
                refused.
        """
        try:
            return _decoder().decode(self.encoded())
        except msgspec.ValidationError as exc:
            raise QueryError(
                f"the statement does not fit the query model: {exc}{_choices(exc)}"
            ) from None

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


_ENCODER = msgspec.msgpack.Encoder()

_CHOICES: dict[str, type[enum.StrEnum]] = {
    "lookup": FieldLookup,
    "connector": FilterConnector,
    "direction": OrderDirection,
    "join_type": JoinType,
    "operator": SetOperator,
    "version": Version,
}


def _choices(error: msgspec.ValidationError) -> str:
    """For a bad enum value, the values its field takes: `` (lookups: eq, ...)``."""
    message = str(error)
    if not message.startswith("Invalid enum value"):
        return ""
    name = message.rstrip("`").rpartition(".")[2]
    choices = _CHOICES.get(name)
    if choices is None:
        return ""
    return f" ({name}s: {', '.join(c.value for c in choices)})"


@functools.cache
def _decoder() -> msgspec.msgpack.Decoder[QueryStatement]:
    # Built on first use: the model's names resolve once both modules are loaded.
    return msgspec.msgpack.Decoder(QueryStatement)
