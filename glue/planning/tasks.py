"""The plan a query becomes: tasks as frozen Structs, run by the executor.

A plan is a tree of four kinds of task:

- :class:`SqlTask`: one statement on one database, its rows kept under a slot;
- :class:`MemoryTask`: a step over rows already read (a join, filters, grouping,
  ordering, a set operation), its rows kept under a slot;
- :class:`ChainTask`: children in order, each able to use what the earlier ones
  produced;
- :class:`GroupTask`: children in parallel.

Slots name results: a task writes its rows under its ``slot``, later tasks read
them by that name. A :class:`Plan` says which slot holds the answer and what
its columns are called. Everything is plain data (an SQL task names its
database's dialect object), so a plan can be printed
(:func:`glue.planning.explain.explain`) and compared.
"""

from __future__ import annotations

from typing import TypeAlias

import msgspec

from ..query.conditions import Conditions, FieldReference, FieldReferenceAliased
from ..query.model import (
    AggregationQuery,
    AnnotationQuery,
    GroupByQuery,
    JoinType,
    LimitQuery,
    OrderByQuery,
    QueryStatement,
    SetOperator,
)
from ..schema.model import ColumnType
from ..sql.dialects import Dialect
from ..sql.query import CompiledQuery

__all__ = [
    "ChainTask",
    "GroupTask",
    "Input",
    "InputColumn",
    "JoinStep",
    "KeyFilter",
    "MemoryTask",
    "Plan",
    "SelectStep",
    "SetStep",
    "SqlTask",
    "SubqueryInput",
    "Task",
]


class KeyFilter(msgspec.Struct, frozen=True, kw_only=True):
    """Read only the rows whose ``field`` is among keys an earlier task returned.

    At run time the executor adds ``field IN (keys)`` to the statement, where the
    keys are the distinct non-NULL values of column ``column`` of slot
    ``source``. With no keys the statement is not run at all (nothing can
    match); with more than ``max_keys`` it runs without the filter, which is
    always correct because the filter only saves reading rows that the join or
    condition above drops anyway.

    Attributes:
        source: the slot holding the keys.
        column: the position of the key column in that slot's rows.
        field: the field of this task's statement the keys restrict.
        max_keys: the most keys sent as bound values.
    """

    source: str
    column: int
    field: FieldReference
    max_keys: int


class SqlTask(msgspec.Struct, frozen=True, kw_only=True, tag="sql"):
    """One statement run on one database.

    Attributes:
        slot: where its rows are kept.
        route: a schema name the ConnectionManager routes to the database.
        database: the database's (pool's) name, for people.
        dialect: the database's dialect.
        statement: what to read.
        key_filters: keys from earlier tasks that narrow the read.
        columns: the names of the columns it returns, in order.
        compiled: the statement compiled when planned, when no key filter will
            change it: a cached plan runs it without compiling again.
    """

    slot: str
    route: str
    database: str
    dialect: Dialect
    statement: QueryStatement
    key_filters: tuple[KeyFilter, ...] = ()
    columns: tuple[str, ...] = ()
    compiled: CompiledQuery | None = None


class InputColumn(msgspec.Struct, frozen=True, kw_only=True):
    """One column of an input of an in-memory step.

    Attributes:
        ref: the table alias (or name) the column belongs to in the statement.
        path: the field's name, then JSON keys, if any.
        type: its portable type; None when the database decides (a JSON value).
    """

    ref: str
    path: tuple[str, ...]
    type: ColumnType | None


class Input(msgspec.Struct, frozen=True, kw_only=True):
    """Rows an in-memory step reads: a slot, and what each column is.

    Attributes:
        slot: the slot holding the rows.
        refs: the tables (aliases) these rows hold columns of.
        columns: the columns, in row order.
    """

    slot: str
    refs: tuple[str, ...]
    columns: tuple[InputColumn, ...]


class JoinStep(msgspec.Struct, frozen=True, kw_only=True):
    """Join the rows so far with another input.

    Attributes:
        input: the rows joined.
        join_type: inner, left, right or full.
        on: the join condition; None joins every pair.
    """

    input: Input
    join_type: JoinType = JoinType.INNER
    on: Conditions | None = None


class SubqueryInput(msgspec.Struct, frozen=True, kw_only=True):
    """The rows of a subquery, computed before the step that compares with it.

    Attributes:
        query: the subquery, as it appears in the step's conditions or
            annotations (matched by equality).
        slot: the slot holding its rows.
    """

    query: QueryStatement
    slot: str


class SelectStep(msgspec.Struct, frozen=True, kw_only=True, tag="select"):
    """A SELECT evaluated in memory over inputs read before.

    The fields mirror :class:`glue.QueryStatement`'s, with the tables replaced
    by inputs; every field names its table.

    Attributes:
        first: the rows the join starts from.
        joins: the joins, in order.
        where: conditions on the joined rows.
        only: the selected fields (the planner spells out ``SELECT *``).
        annotations: constants and scalar subqueries selected.
        aggregations: aggregates selected.
        group_by: the grouping fields.
        having: conditions on the groups.
        distinct: drop duplicate rows.
        distinct_on: keep the first row, by ``order_by``, of each group of rows
            equal in these fields (DISTINCT ON).
        order_by: the sort keys.
        limit: how many rows, after how many.
        subqueries: results of the subqueries the conditions and annotations use.
        outputs: the result's column names, in order.
    """

    first: Input
    joins: tuple[JoinStep, ...] = ()
    where: Conditions | None = None
    only: tuple[FieldReference | FieldReferenceAliased, ...] = ()
    annotations: tuple[AnnotationQuery, ...] = ()
    aggregations: tuple[AggregationQuery, ...] = ()
    group_by: tuple[GroupByQuery, ...] = ()
    having: Conditions | None = None
    distinct: bool = False
    distinct_on: tuple[FieldReference | FieldReferenceAliased, ...] = ()
    order_by: tuple[OrderByQuery, ...] = ()
    limit: LimitQuery | None = None
    subqueries: tuple[SubqueryInput, ...] = ()
    outputs: tuple[str, ...] = ()


class SetStep(msgspec.Struct, frozen=True, kw_only=True, tag="set"):
    """Set operations over results read before, left to right, then order and
    limit over the combined rows.

    Attributes:
        first: the slot of the first statement's rows.
        operations: each operator with the slot of the rows it combines.
        order_by: sort keys, naming output columns.
        limit: how many rows, after how many.
        outputs: the result's column names, in order.
    """

    first: str
    operations: tuple[tuple[SetOperator, str], ...]
    order_by: tuple[OrderByQuery, ...] = ()
    limit: LimitQuery | None = None
    outputs: tuple[str, ...] = ()


class MemoryTask(msgspec.Struct, frozen=True, kw_only=True, tag="memory"):
    """A step over rows already read, run in this process.

    Attributes:
        slot: where its rows are kept.
        step: what to compute.
    """

    slot: str
    step: SelectStep | SetStep


class ChainTask(msgspec.Struct, frozen=True, kw_only=True, tag="chain"):
    """Children run one after another; each may read the slots of earlier ones."""

    children: tuple[Task, ...]


class GroupTask(msgspec.Struct, frozen=True, kw_only=True, tag="group"):
    """Children run in parallel; the first failure cancels the others."""

    children: tuple[Task, ...]


Task: TypeAlias = SqlTask | MemoryTask | ChainTask | GroupTask
"""Any task of a plan."""


class Plan(msgspec.Struct, frozen=True, kw_only=True):
    """A query's plan: the tasks, and where the answer ends up.

    Attributes:
        root: the task to run.
        slot: the slot holding the result rows once ``root`` has run.
        columns: the result's column names, in order.
    """

    root: Task
    slot: str
    columns: tuple[str, ...]
