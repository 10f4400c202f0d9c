"""Checking a statement against the schemas: names, types and output columns.

A statement is checked once, before it is planned or compiled.
:class:`StatementChecker` walks it as a database binds one: every table, field,
alias and lookup is looked up in the schemas and in the scopes around it, each
selected column gets its name and portable type, and what a database would
refuse (an ungrouped field, a sort key missing under DISTINCT, a subquery of two
columns used as a value) raises :class:`glue.QueryError` naming what and where.
With ``distinct``, sort keys must be selected; with grouping, selected fields
must be grouped: PostgreSQL requires both and SQLite would silently differ.

The planner asks it for output columns; the SQL compiler resolves fields through
the same :class:`Scope` and :meth:`StatementChecker.selection`, and only writes
SQL. Values are converted where they are used, by the compiler when it binds
them and by the in-memory step when it compares them: a value that does not fit
its column is refused there.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple, TypeAlias

from ..errors import QueryError, SchemaError
from ..schema.model import ColumnType, check_identifier
from .conditions import (
    Condition,
    Conditions,
    FieldLookup,
    FieldReference,
    Value,
)
from .model import (
    Aggregate,
    AggregationQuery,
    Avg,
    Count,
    QueryStatement,
    SchemaReference,
    SubQueryStatement,
    Sum,
    ValueAnnotation,
)

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping

    from ..schema.model import Schema

__all__ = [
    "CASTS",
    "COMPARISONS",
    "Expression",
    "Key",
    "NUMERIC",
    "OutputColumn",
    "Resolved",
    "Scope",
    "Selected",
    "Source",
    "StatementChecker",
    "TEXT_LOOKUPS",
]


class OutputColumn(NamedTuple):
    """One column of a statement's result.

    Attributes:
        name: its name in each row.
        type: its portable type, or None when the database decides (a JSON path).
    """

    name: str
    type: ColumnType | None


class Source(NamedTuple):
    """A table or subquery a part of a statement reads.

    Attributes:
        ref: the name its fields are qualified with (alias or table name).
        label: how messages name it.
        columns: its columns and their types, in order.
    """

    ref: str
    label: str
    columns: dict[str, ColumnType | None]


class Resolved(NamedTuple):
    """A field found in a scope.

    Attributes:
        source: the table or subquery it belongs to.
        type: the column's type; None for a path into JSON.
        is_path: it names keys inside a JSON column.
    """

    source: Source
    type: ColumnType | None
    is_path: bool


Key: TypeAlias = tuple[str, tuple[str, ...]]
"""A resolved field: the ref of its source and its path."""


class Scope:
    """The tables a part of a statement can see, and the scopes around it."""

    __slots__ = ("parent", "sources")

    def __init__(self, parent: Scope | None) -> None:
        self.parent = parent
        self.sources: dict[str, Source] = {}

    def add(self, source: Source, part: str) -> None:
        """Make ``source`` visible here.

        Raises:
            QueryError: another source of this scope has its name.
        """
        if source.ref in self.sources:
            raise QueryError(
                f"{part}: the name {source.ref!r} is used by two tables; "
                "give one of them an alias"
            )
        self.sources[source.ref] = source

    def chain(self) -> Iterator[Scope]:
        """This scope, then each around it."""
        scope: Scope | None = self
        while scope is not None:
            yield scope
            scope = scope.parent

    def resolve(self, ref: FieldReference, part: str) -> Resolved:
        """Find a field: its source, its type, and whether it is a JSON path.

        Raises:
            QueryError: an unknown table or field, an ambiguous field, or keys
                into a column that is not JSON.
        """
        source = self._find(ref, part)
        name = ref.field.name
        if name not in source.columns:
            raise QueryError(
                f"{part}: {source.label} has no field {name!r} "
                f"(fields: {', '.join(source.columns)})"
            )
        column_type = source.columns[name]
        if ref.field.child is None:
            return Resolved(source, column_type, False)
        path = ref.field.path[1:]
        if column_type not in (ColumnType.JSON, None):
            raise QueryError(
                f"{part}: field {name!r} of {source.label} is {column_type}, "
                f"not json, so it has no key {path[0]!r}"
            )
        for key in path:
            _name(key, "JSON key", part)
        return Resolved(source, None, True)

    def _find(self, ref: FieldReference, part: str) -> Source:
        if ref.table_name:
            for level in self.chain():
                if ref.table_name in level.sources:
                    return level.sources[ref.table_name]
            known = ", ".join(self.sources) or "none"
            raise QueryError(
                f"{part}: unknown table {ref.table_name!r} for field "
                f"{ref.field.name!r} (tables here: {known})"
            )
        for level in self.chain():
            found = [s for s in level.sources.values() if ref.field.name in s.columns]
            if len(found) > 1:
                raise QueryError(
                    f"{part}: field {ref.field.name!r} is ambiguous "
                    f"({', '.join(s.ref for s in found)}); name its table"
                )
            if found:
                return found[0]
        known = ", ".join(self.sources) or "none"
        raise QueryError(
            f"{part}: unknown field {ref.field.name!r} (tables here: {known})"
        )


Expression: TypeAlias = (
    FieldReference | ValueAnnotation | SubQueryStatement | AggregationQuery
)
"""What a selected column computes."""


class Selected(NamedTuple):
    """One selected column: what computes it, and what it is.

    Attributes:
        expression: a field, a constant, a scalar subquery or an aggregate.
        column: its output name and type.
        key: for a field, its (source, path), to match it against grouping
            and sort keys; None otherwise.
        field: for a field, where it was found (the compiler writes it from
            there without looking again).
    """

    expression: Expression
    column: OutputColumn
    key: Key | None
    field: Resolved | None = None


NUMERIC = frozenset({ColumnType.INTEGER, ColumnType.FLOAT, ColumnType.DECIMAL})
"""Column types ``sum`` and ``avg`` accept."""

COMPARISONS = frozenset(
    {
        FieldLookup.EQ,
        FieldLookup.NEQ,
        FieldLookup.GT,
        FieldLookup.GTE,
        FieldLookup.LT,
        FieldLookup.LTE,
    }
)
"""Lookups that compare two values."""

TEXT_LOOKUPS = frozenset(
    {
        FieldLookup.CONTAINS,
        FieldLookup.ICONTAINS,
        FieldLookup.STARTSWITH,
        FieldLookup.ISTARTSWITH,
        FieldLookup.ENDSWITH,
        FieldLookup.IENDSWITH,
        FieldLookup.REGEX,
        FieldLookup.IREGEX,
    }
)
"""Lookups that match text (patterns and regular expressions)."""

CASTS = {
    bool: ColumnType.BOOLEAN,
    int: ColumnType.INTEGER,
    float: ColumnType.FLOAT,
    str: ColumnType.TEXT,
}
"""The type of a selected constant, by its Python type."""


def _types(schema: Schema) -> dict[str, ColumnType | None]:
    """Every column of a table and its type, in order (kept with the schema)."""
    return {c.name: c.type for c in schema.all_columns}


def _name(name: str, what: str, part: str) -> str:
    try:
        return check_identifier(name, what)
    except SchemaError as exc:
        raise QueryError(f"{part}: {exc}") from None


class StatementChecker:
    """Checks statements against a fixed set of schemas.

    Args:
        schemas: the tables statements may read, by name.
    """

    __slots__ = ("schemas",)

    def __init__(self, schemas: Mapping[str, Schema]) -> None:
        self.schemas = schemas

    def check(self, statement: QueryStatement) -> tuple[OutputColumn, ...]:
        """Check a whole statement and return its output columns.

        Raises:
            QueryError: an unknown table, field, alias or lookup, or a part a
                database would refuse, named with the part it is in.
        """
        return self._statement(statement, None)

    # -- statements -----------------------------------------------------------

    def _statement(
        self, statement: QueryStatement, parent: Scope | None
    ) -> tuple[OutputColumn, ...]:
        if not statement.set_operations:
            return self._select(statement, parent, tail=True)
        columns = self._select(statement, parent, tail=False)
        for number, operation in enumerate(statement.set_operations, start=1):
            part = f"{operation.operator.value.lower()} #{number}"
            branch = self._statement(operation.query, parent)
            if len(branch) != len(columns):
                raise QueryError(
                    f"{part}: it selects {len(branch)} columns "
                    f"({', '.join(c.name for c in branch)}) but the first "
                    f"statement selects {len(columns)} "
                    f"({', '.join(c.name for c in columns)})"
                )
        names = {c.name for c in columns}
        for order in statement.order_by:
            name = statement.order_output_name(order)
            if name not in names:
                raise QueryError(
                    f"order by of a set operation: {name!r} is not a selected "
                    f"column (selected: {', '.join(sorted(names))})"
                )
            _name(name, "column", "order by")
        self._limit(statement)
        return columns

    def _select(
        self, statement: QueryStatement, parent: Scope | None, *, tail: bool
    ) -> tuple[OutputColumn, ...]:
        scope = self.scope(statement, parent)
        selected = self.selection(statement, scope)
        group = [self.field_key(g.field, scope, "group by") for g in statement.group_by]
        if statement.group_by or statement.aggregations:
            grouped = set(group)
            for item in statement.only or ():
                if self.field_key(item, scope, "select") not in grouped:
                    raise QueryError(
                        f"select: field {item.field.name!r} of "
                        f"{item.table_name or 'the table'!r} is neither grouped "
                        "nor aggregated; add it to group_by"
                    )
        if statement.where is not None:
            self.conditions(statement.where, scope, "where")
        if statement.having is not None:
            self.conditions(statement.having, scope, "having")
        if statement.distinct_on:
            if not tail:
                raise QueryError(
                    "distinct on: a statement with set operations sorts the "
                    "combined rows, so nothing would decide which row of each "
                    "group is kept; make it a set operation's or a subquery's"
                )
            self._distinct_on(statement, scope, selected, group)
        for chosen in selected:
            _name(chosen.column.name, "alias", "select")
        if tail and not statement.distinct_on:
            self.order_keys(statement, scope, selected)
        if tail:
            self._limit(statement)
        return tuple(s.column for s in selected)

    def scope(self, statement: QueryStatement, parent: Scope | None) -> Scope:
        """The scope of one SELECT: its FROM and JOIN sources, each join's
        condition checked as the join is added.

        Raises:
            QueryError: as :meth:`check`.
        """
        scope = Scope(parent)
        scope.add(self.source(statement.table, "from"), "from")
        for join in statement.joins:
            part = f"join {join.table.ref_name!r}"
            scope.add(self.source(join.table, part), part)
            self.conditions(join.on, scope, f"{part} on")
        return scope

    def source(self, node: SchemaReference | SubQueryStatement, part: str) -> Source:
        """A table or a subquery (checked, in no outer scope) as a source.

        Raises:
            QueryError: an unknown table, or a subquery without an alias.
        """
        if isinstance(node, SchemaReference):
            schema = self.schemas.get(node.name)
            if schema is None:
                known = ", ".join(sorted(self.schemas)) or "none"
                raise QueryError(
                    f"{part}: unknown table {node.name!r} (known tables: {known})"
                )
            if node.alias:
                _name(node.alias, "alias", part)
            return Source(
                node.ref_name, f"table {node.name!r}", schema.derived("types", _types)
            )
        if not node.alias:
            raise QueryError(f"{part}: a subquery used as a table needs an alias")
        _name(node.alias, "alias", part)
        columns = self._statement(node.query, None)
        return Source(
            node.alias, f"subquery {node.alias!r}", {c.name: c.type for c in columns}
        )

    # -- selection ------------------------------------------------------------

    def selection(self, statement: QueryStatement, scope: Scope) -> list[Selected]:
        """The selected columns of one SELECT, in order.

        Raises:
            QueryError: an unknown field, a bad annotation or aggregation, a
                name selected twice, or nothing selected.
        """
        selected: list[Selected] = []
        fields = (
            statement.only
            if statement.only is not None
            else [g.field for g in statement.group_by]
            if statement.aggregations or statement.group_by
            else None
        )
        if fields is not None:
            part = "select" if statement.only is not None else "group by"
            for item in fields:
                resolved = scope.resolve(item, part)
                kind = ColumnType.JSON if resolved.is_path else resolved.type
                key = (resolved.source.ref, item.field.path)
                selected.append(
                    Selected(item, OutputColumn(item.output_name, kind), key, resolved)
                )
        else:
            taken: set[str] = set()
            for source in scope.sources.values():
                for name, column_type in source.columns.items():
                    output = name if name not in taken else f"{source.ref}__{name}"
                    taken.add(output)
                    selected.append(
                        Selected(
                            FieldReference.of(source.ref, name),
                            OutputColumn(output, column_type),
                            (source.ref, (name,)),
                            Resolved(source, column_type, False),
                        )
                    )
        for annotation in statement.annotations:
            column = self._annotation(annotation.value, scope)
            selected.append(Selected(annotation.value, column, None))
        for aggregation in statement.aggregations:
            part = f"aggregation {aggregation.alias!r}"
            column_type = self.aggregate(aggregation.expression, scope, part)
            selected.append(
                Selected(
                    aggregation, OutputColumn(aggregation.alias, column_type), None
                )
            )
        if not selected:
            raise QueryError("select: the statement selects nothing")
        names = [s.column.name for s in selected]
        if len(set(names)) < len(names):
            duplicates = sorted({n for n in names if names.count(n) > 1})
            raise QueryError(
                f"select: {', '.join(map(repr, duplicates))} selected more than "
                "once; give each an alias"
            )
        return selected

    def _annotation(
        self, value: ValueAnnotation | SubQueryStatement, scope: Scope
    ) -> OutputColumn:
        part = f"annotation {value.alias!r}"
        if isinstance(value, SubQueryStatement):
            columns = self._statement(value.query, scope)
            if len(columns) != 1:
                raise QueryError(
                    f"{part}: a scalar subquery must select one column, not "
                    f"{len(columns)}"
                )
            return OutputColumn(value.alias, columns[0].type)
        constant = value.value.value
        cast = CASTS.get(type(constant))
        if cast is None:
            raise QueryError(
                f"{part}: a selected constant must be a bool, int, float or str, "
                f"not {type(constant).__name__}"
            )
        return OutputColumn(value.alias, cast)

    def aggregate(
        self, expression: Aggregate, scope: Scope, part: str
    ) -> ColumnType | None:
        """The type of an aggregate's result.

        Raises:
            QueryError: an aggregate other than count without a field, or a
                sum or average of something that is not a number.
        """
        if expression.field is None:
            if not isinstance(expression, Count):
                raise QueryError(
                    f"{part}: {expression.function} needs a field; only count "
                    "may count rows"
                )
            return ColumnType.INTEGER
        resolved = scope.resolve(expression.field, part)
        if isinstance(expression, Count):
            return ColumnType.INTEGER
        if isinstance(expression, Sum | Avg) and (
            resolved.is_path or resolved.type not in NUMERIC
        ):
            raise QueryError(
                f"{part}: {expression.function} needs a number field; "
                f"{expression.field.field.name!r} is "
                f"{resolved.type or 'a JSON value'}"
            )
        if isinstance(expression, Avg):
            return ColumnType.FLOAT
        return resolved.type

    @staticmethod
    def field_key(ref: FieldReference, scope: Scope, part: str) -> Key:
        """The key of a field used as a grouping or sort key (checked)."""
        resolved = scope.resolve(ref, part)
        return (resolved.source.ref, ref.field.path)

    # -- order, distinct on, limit ----------------------------------------------

    def order_keys(
        self, statement: QueryStatement, scope: Scope, selected: list[Selected]
    ) -> list[Key | None]:
        """What each sort key sorts by (the key of a field; None for an
        aggregate or annotation), checked against DISTINCT and grouping.

        Raises:
            QueryError: with distinct, a sort key that is not selected; with
                grouping, one that is neither grouped nor aggregated.
        """
        by_name = {s.column.name: s for s in selected}
        expressions = {s.key for s in selected if s.key is not None}
        grouping = bool(statement.group_by or statement.aggregations)
        keys: list[Key | None] = []
        for order in statement.order_by:
            ref = order.field
            item = by_name.get(ref.field.name)
            if not ref.table_name and ref.field.child is None and item is not None:
                _name(ref.field.name, "column", "order by")
                keys.append(item.key)
                continue
            key = self.field_key(ref, scope, "order by")
            if statement.distinct is True and key not in expressions:
                raise QueryError(
                    f"order by: with distinct, the sort key {ref.field.name!r} "
                    "must be selected"
                )
            if grouping and key not in expressions:
                raise QueryError(
                    f"order by: {ref.field.name!r} is neither grouped nor "
                    "aggregated; sort by a group_by field or an aggregation alias"
                )
            keys.append(key)
        return keys

    def _distinct_on(
        self,
        statement: QueryStatement,
        scope: Scope,
        selected: list[Selected],
        group: list[Key],
    ) -> None:
        fields = statement.distinct_on
        names = ", ".join(repr(".".join(f.field.path)) for f in fields)
        part = f"distinct on ({names})"
        on = [self.field_key(f, scope, part) for f in fields]
        if statement.group_by or statement.aggregations:
            grouped = set(group)
            for ref, key in zip(fields, on, strict=True):
                if key not in grouped:
                    raise QueryError(
                        f"{part}: {ref.field.name!r} is not grouped; add it to group_by"
                    )
        keys = self.order_keys(statement, scope, selected)
        leading = keys[: len(on)]
        if keys and (len(keys) < len(on) or set(leading) != set(on)):
            raise QueryError(
                f"{part}: order_by must begin with these fields (in any order), "
                "then say which row of each group is kept, as PostgreSQL requires"
            )

    @staticmethod
    def _limit(statement: QueryStatement) -> None:
        limit = statement.limit
        if limit is None:
            return
        for name, value in (("limit", limit.limit), ("offset", limit.offset)):
            if value is not None and (
                not isinstance(value, int) or isinstance(value, bool) or value < 0
            ):
                raise QueryError(
                    f"limit: {name} must be a whole number >= 0, not {value!r}"
                )

    # -- conditions -----------------------------------------------------------

    def conditions(self, conditions: Conditions, scope: Scope, part: str) -> None:
        """Check a condition tree.

        Raises:
            QueryError: an unknown field or lookup, or a value of the wrong
                shape for its lookup.
        """
        for child in conditions.children:
            if isinstance(child, Conditions):
                self.conditions(child, scope, part)
            else:
                self.condition(child, scope, part)

    def condition(self, condition: Condition, scope: Scope, part: str) -> None:
        """Check one condition (see :meth:`conditions`)."""
        left = condition.field
        if isinstance(left, FieldReference):
            scope.resolve(left, part)
            label = repr(left.field.name)
        else:
            self.aggregate(left, scope, part)
            label = left.function.lower()
        try:
            lookup = FieldLookup(condition.lookup)
        except ValueError:
            raise QueryError(
                f"{part}: unknown lookup {condition.lookup!r} on {label} "
                f"(lookups: {', '.join(v.value for v in FieldLookup)})"
            ) from None
        place = f"{part}, {lookup.value} on {label}"
        value = condition.value
        if isinstance(value, SubQueryStatement):
            columns = self._statement(value.query, scope)
            if len(columns) != 1:
                raise QueryError(
                    f"{place}: the subquery must select one column, not "
                    f"{len(columns)} ({', '.join(c.name for c in columns)})"
                )
            if lookup is not FieldLookup.IN and lookup not in COMPARISONS:
                raise QueryError(
                    f"{place}: a subquery works with in and comparisons only"
                )
            return
        if isinstance(value, FieldReference):
            if lookup not in COMPARISONS:
                raise QueryError(
                    f"{place}: compares with a constant only, not another field"
                )
            scope.resolve(value, part)
            return
        if not isinstance(value, Value):
            raise QueryError(
                f"{place}: the value must be a Value, a field or a subquery"
            )
        constant = value.value
        if lookup is FieldLookup.ISNULL:
            if not isinstance(constant, bool):
                raise QueryError(f"{place}: the value must be True or False")
        elif lookup is FieldLookup.IN:
            if not isinstance(constant, list | tuple | set | frozenset):
                raise QueryError(f"{place}: the value must be a list")
        elif lookup in COMPARISONS:
            if constant is None and lookup not in (FieldLookup.EQ, FieldLookup.NEQ):
                raise QueryError(f"{place}: cannot compare with None")
        elif not isinstance(constant, str):
            raise QueryError(f"{place}: the value must be text, not {constant!r}")
