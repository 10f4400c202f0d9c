"""In-memory steps: join, filter, group, aggregate, sort and combine rows the way
SQL does.

When a query spans databases, the parts each database can answer are read there;
what joins them, and whatever else could not be pushed down, runs here over the
rows read. The result must equal what one database would return, so the SQL
rules are followed exactly, and the dialect choices are those of
:mod:`glue.sql.query`:

- Three-valued logic: a comparison with NULL is unknown, unknown rows are not
  matched, and NOT unknown is still unknown. ``eq`` / ``neq`` with
  ``Value(None)`` mean IS NULL / IS NOT NULL (the compiler's rule). ``in`` a list
  holding NULL is unknown rather than false for a missing value; ``in`` an empty
  list is false.
- NULL keys never match in joins; LEFT, RIGHT and FULL joins pad with NULLs.
- ``COUNT(*)`` counts rows, ``COUNT(field)`` non-NULL values; ``SUM``, ``AVG``,
  ``MIN``, ``MAX`` skip NULLs and are NULL over no values; ``AVG`` is a float.
  Without ``group_by`` an aggregate query returns one row even over no rows.
- DISTINCT ON keeps the first row of each group by ORDER BY (whose leading keys
  are the DISTINCT ON fields), as PostgreSQL does.
- DISTINCT, GROUP BY and set operations treat NULLs as equal; UNION, INTERSECT
  and EXCEPT drop duplicates, UNION ALL keeps them; set operations combine left
  to right.
- ``contains`` / ``startswith`` / ``endswith`` are case-sensitive; the ``i``
  variants fold ASCII letters only (SQLite's LIKE; PostgreSQL's ILIKE agrees on
  ASCII text).
- ORDER BY puts NULLs first ascending and last descending; text sorts by code
  point (SQLite's BINARY collation, PostgreSQL's ``C``).
"""

from __future__ import annotations

import datetime as dt
import decimal
import math
import operator
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import msgspec

from ..errors import QueryError
from ..query.conditions import (
    Condition,
    Conditions,
    FieldLookup,
    FieldReference,
    FilterConnector,
    Value,
)
from ..query.model import (
    Aggregate,
    Avg,
    Count,
    JoinType,
    LimitQuery,
    Max,
    Min,
    OrderByQuery,
    OrderDirection,
    QueryStatement,
    SetOperator,
    SubQueryStatement,
    Sum,
)
from ..schema.model import ColumnType
from ..sql.dialects import coerce
from .tasks import InputColumn, JoinStep, SelectStep, SetStep

__all__ = ["Row", "row_test", "run_step"]

Row = tuple[Any, ...]
"""One row: values in column order."""

_Results = Mapping[str, Sequence[Row]]
"""Rows by slot, as the executor keeps them."""

_Truth = bool | None
_Predicate = Callable[[Row], _Truth]
_Getter = Callable[[Row], Any]
_Subqueries = Sequence[tuple[QueryStatement, Sequence[Row]]]


def run_step(step: SelectStep | SetStep, results: _Results) -> list[Row]:
    """Compute one in-memory step over the results read before it.

    Raises:
        QueryError: a scalar subquery returned more than one row, a field the
            step needs is missing from its inputs, a bad regular expression, or
            values of types that do not compare (or add up) with each other.
    """
    try:
        if isinstance(step, SetStep):
            return _run_set(step, results)
        return _run_select(step, results)
    except TypeError as exc:
        # Values from different databases (or JSON) can be of types Python
        # cannot order or add: the query, not glue, asked for that.
        raise QueryError(
            f"in the in-memory step: values of different types met ({exc})"
        ) from None


def row_test(
    conditions: Conditions, columns: Mapping[str, ColumnType | None]
) -> Callable[[Mapping[str, Any]], bool]:
    """A test of one table's rows, each keyed by column name: whether
    ``conditions`` hold, by the rules above (unknown does not hold).

    Repositories test the rows pending in a unit of work with it, so a row
    matches in memory exactly when its SQL twin would.

    Args:
        conditions: conditions on the table's columns (no subqueries).
        columns: the table's columns and their types.

    Raises:
        QueryError: a field that is not one of ``columns``.
    """
    predicate = _compile_conditions(conditions, _ColumnScope(columns), "where")
    return lambda row: predicate(row) is True  # type: ignore[arg-type]  # a mapping, read by key


# -- values -------------------------------------------------------------------


def _typed(value: Any, column_type: ColumnType | None) -> Any:
    """A constant as the column it meets holds it (the compiler's conversion)."""
    return value if column_type is None else coerce(value, column_type)


def _text(value: Any) -> str:
    """A value as SQLite's text of it, for the text lookups on other types."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return str(int(value))
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    return repr(value) if isinstance(value, float) else str(value)


_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def _fold(text: str) -> str:
    return text.translate(_ASCII_LOWER)


def _freeze(value: Any) -> Any:
    """A hashable stand-in for a value (JSON lists and objects are not)."""
    if isinstance(value, list | dict):
        return ("\x00json", msgspec.json.encode(value, order="sorted"))
    return value


def _hashable(row: Row) -> Row:
    try:
        hash(row)
    except TypeError:
        return tuple(_freeze(v) for v in row)
    return row


def _distinct(rows: Iterable[Row]) -> list[Row]:
    seen: dict[Row, Row] = {}
    for row in rows:
        seen.setdefault(_hashable(row), row)
    return list(seen.values())


def _sql_equal_rows(rows: Iterable[Row]) -> set[Row]:
    """The rows as a set, NULLs equal to NULLs (set operations' equality)."""
    return {_hashable(row) for row in rows}


# -- layouts and scopes ---------------------------------------------------------


class _Layout:
    """Where each (table, field path) sits in a joined row."""

    def __init__(self, columns: Sequence[InputColumn]) -> None:
        self.columns = list(columns)
        self.index: dict[tuple[str, tuple[str, ...]], int] = {}
        self.by_path: dict[tuple[str, ...], list[int]] = {}
        for position, column in enumerate(self.columns):
            self.index.setdefault((column.ref, column.path), position)
            self.by_path.setdefault(column.path, []).append(position)

    def extend(self, other: Sequence[InputColumn]) -> _Layout:
        return _Layout([*self.columns, *other])

    def find(self, ref: FieldReference) -> int | None:
        path = ref.field.path
        if ref.table_name:
            return self.index.get((ref.table_name, path))
        found = self.by_path.get(path, [])
        return found[0] if len(found) == 1 else None

    def locate(self, ref: FieldReference, part: str) -> tuple[int, ColumnType | None]:
        position = self.find(ref)
        if position is None:
            raise QueryError(
                f"{part}: field {'.'.join(ref.field.path)!r} of "
                f"{ref.table_name or 'no named table'!r} is not among the rows "
                "read for the in-memory step"
            )
        return position, self.columns[position].type


class _Scope:
    """What a condition may read: row fields, group aggregates, subquery rows."""

    def __init__(
        self,
        layout: _Layout,
        subqueries: _Subqueries,
        aggregates: Sequence[Aggregate] = (),
        aggregate_offset: int = 0,
        aggregate_types: Sequence[ColumnType | None] = (),
    ) -> None:
        self.layout = layout
        self.subqueries = subqueries
        self.aggregates = list(aggregates)
        self.aggregate_offset = aggregate_offset
        self.aggregate_types = list(aggregate_types)

    def operand(
        self, ref: FieldReference | Aggregate, part: str
    ) -> tuple[_Getter, ColumnType | None]:
        if isinstance(ref, FieldReference):
            position, column_type = self.layout.locate(ref, part)
            return operator.itemgetter(position), column_type
        for number, aggregate in enumerate(self.aggregates):
            if aggregate == ref:
                getter = operator.itemgetter(self.aggregate_offset + number)
                return getter, self.aggregate_types[number]
        raise QueryError(f"{part}: aggregate {ref.function} is not computed here")

    def subquery_rows(self, subquery: SubQueryStatement, part: str) -> Sequence[Row]:
        for query, rows in self.subqueries:
            if query == subquery.query:
                return rows
        raise QueryError(f"{part}: a subquery's rows were not read before this step")


class _ColumnScope(_Scope):
    """Fields of one table's rows keyed by column name."""

    def __init__(self, columns: Mapping[str, ColumnType | None]) -> None:
        super().__init__(_Layout(()), ())
        self.columns = columns

    def operand(
        self, ref: FieldReference | Aggregate, part: str
    ) -> tuple[_Getter, ColumnType | None]:
        if isinstance(ref, FieldReference) and ref.field.child is None:
            name = ref.field.name
            if name in self.columns:
                return operator.itemgetter(name), self.columns[name]
        raise QueryError(f"{part}: {ref!r} is not a column of these rows")


# -- conditions -----------------------------------------------------------------

_COMPARE: dict[FieldLookup, Callable[[Any, Any], bool]] = {
    FieldLookup.EQ: operator.eq,
    FieldLookup.NEQ: operator.ne,
    FieldLookup.GT: operator.gt,
    FieldLookup.GTE: operator.ge,
    FieldLookup.LT: operator.lt,
    FieldLookup.LTE: operator.le,
}


def _compile_conditions(conditions: Conditions, scope: _Scope, part: str) -> _Predicate:
    """A function giving a row's truth under ``conditions``: True, False or
    None (unknown)."""
    children = [
        _compile_conditions(child, scope, part)
        if isinstance(child, Conditions)
        else _compile_condition(child, scope, part)
        for child in conditions.children
    ]
    negated = conditions.negated
    if conditions.connector is FilterConnector.AND:

        def combine(row: Row) -> _Truth:
            result: _Truth = True
            for child in children:
                value = child(row)
                if value is False:
                    result = False
                    break
                if value is None:
                    result = None
            return result
    else:

        def combine(row: Row) -> _Truth:
            result: _Truth = False
            for child in children:
                value = child(row)
                if value is True:
                    result = True
                    break
                if value is None:
                    result = None
            return result

    if len(children) == 1 and not negated:
        return children[0]
    if not negated:
        return combine

    def negate(row: Row) -> _Truth:
        value = combine(row)
        return None if value is None else not value

    return negate


def _compile_condition(condition: Condition, scope: _Scope, part: str) -> _Predicate:
    left, column_type = scope.operand(condition.field, part)
    lookup = FieldLookup(condition.lookup)
    value = condition.value
    if isinstance(value, SubQueryStatement):
        return _subquery_condition(left, lookup, scope.subquery_rows(value, part), part)
    if isinstance(value, FieldReference):
        right, _ = scope.operand(value, part)
        compare = _COMPARE[lookup]

        def fields(row: Row) -> _Truth:
            a, b = left(row), right(row)
            if a is None or b is None:
                return None
            return compare(a, b)

        return fields
    if not isinstance(value, Value):
        raise QueryError(f"{part}: the value must be a Value, a field or a subquery")
    constant = value.value
    if lookup is FieldLookup.ISNULL:
        wanted = bool(constant)
        return lambda row: (left(row) is None) is wanted
    if lookup is FieldLookup.IN:
        return _in_list(left, [_typed(v, column_type) for v in constant])
    if lookup in _COMPARE:
        if constant is None:
            if lookup is FieldLookup.EQ:
                return lambda row: left(row) is None
            return lambda row: left(row) is not None
        typed = _typed(constant, column_type)
        compare = _COMPARE[lookup]

        def constant_compare(row: Row) -> _Truth:
            a = left(row)
            return None if a is None else compare(a, typed)

        return constant_compare
    return _text_condition(left, lookup, str(constant))


def _in_list(left: _Getter, values: Sequence[Any]) -> _Predicate:
    has_null = any(v is None for v in values)
    members = {_freeze(v) for v in values if v is not None}
    if not values:
        return lambda row: False

    def contains(row: Row) -> _Truth:
        a = left(row)
        if a is None:
            return None
        if _freeze(a) in members:
            return True
        return None if has_null else False

    return contains


def _subquery_condition(
    left: _Getter, lookup: FieldLookup, rows: Sequence[Row], part: str
) -> _Predicate:
    if lookup is FieldLookup.IN:
        return _in_list(left, [row[0] for row in rows])
    scalar = _scalar(rows, part)
    compare = _COMPARE[lookup]

    def against(row: Row) -> _Truth:
        a = left(row)
        if a is None or scalar is None:
            return None
        return compare(a, scalar)

    return against


def _scalar(rows: Sequence[Row], part: str) -> Any:
    if len(rows) > 1:
        raise QueryError(
            f"{part}: a subquery used as a value returned {len(rows)} rows, not one"
        )
    return rows[0][0] if rows else None


def _text_condition(left: _Getter, lookup: FieldLookup, pattern: str) -> _Predicate:
    match lookup:
        case FieldLookup.REGEX | FieldLookup.IREGEX:
            flags = re.IGNORECASE if lookup is FieldLookup.IREGEX else 0
            try:
                compiled = re.compile(pattern, flags)
            except re.error as exc:
                raise QueryError(f"{lookup.value} {pattern!r}: {exc}") from None

            def test(text: str) -> bool:
                return compiled.search(text) is not None

        case FieldLookup.CONTAINS:

            def test(text: str) -> bool:
                return pattern in text

        case FieldLookup.STARTSWITH:

            def test(text: str) -> bool:
                return text.startswith(pattern)

        case FieldLookup.ENDSWITH:

            def test(text: str) -> bool:
                return text.endswith(pattern)

        case FieldLookup.ICONTAINS:
            folded = _fold(pattern)

            def test(text: str) -> bool:
                return folded in _fold(text)

        case FieldLookup.ISTARTSWITH:
            folded = _fold(pattern)

            def test(text: str) -> bool:
                return _fold(text).startswith(folded)

        case FieldLookup.IENDSWITH:
            folded = _fold(pattern)

            def test(text: str) -> bool:
                return _fold(text).endswith(folded)

        case _:
            raise QueryError(f"unknown lookup {lookup!r}")

    def text_match(row: Row) -> _Truth:
        a = left(row)
        return None if a is None else test(_text(a))

    return text_match


# -- joins ------------------------------------------------------------------------


def _equi_keys(
    on: Conditions, left: _Layout, right: _Layout
) -> tuple[list[int], list[int], list[Condition | Conditions]]:
    """Split a join condition into equality keys (left, right) and the rest."""
    left_keys: list[int] = []
    right_keys: list[int] = []
    rest: list[Condition | Conditions] = []
    for part in on.conjuncts():
        if (
            isinstance(part, Condition)
            and FieldLookup(part.lookup) is FieldLookup.EQ
            and isinstance(part.field, FieldReference)
            and isinstance(part.value, FieldReference)
        ):
            a, b = part.field, part.value
            la, rb = left.find(a), right.find(b)
            lb, ra = left.find(b), right.find(a)
            if la is not None and rb is not None and ra is None and lb is None:
                left_keys.append(la)
                right_keys.append(rb)
                continue
            if lb is not None and ra is not None and la is None and rb is None:
                left_keys.append(lb)
                right_keys.append(ra)
                continue
        rest.append(part)
    return left_keys, right_keys, rest


def _key_function(positions: list[int]) -> Callable[[Row], Any]:
    if len(positions) == 1:
        getter = operator.itemgetter(positions[0])
        return lambda row: _freeze(getter(row))
    getters = [operator.itemgetter(p) for p in positions]
    return lambda row: tuple(_freeze(g(row)) for g in getters)


def _inner_hash_join(
    left_rows: Sequence[Row],
    right_rows: Sequence[Row],
    left_keys: list[int],
    right_keys: list[int],
) -> list[Row]:
    """An inner equi-join on plain (hashable) keys, hashing the smaller side."""
    build_left = len(left_rows) <= len(right_rows)
    build, probe = (left_rows, right_rows) if build_left else (right_rows, left_rows)
    build_keys, probe_keys = (
        (left_keys, right_keys) if build_left else (right_keys, left_keys)
    )
    index: dict[Any, list[Row]] = {}
    if len(build_keys) == 1:
        b, p = build_keys[0], probe_keys[0]
        for row in build:
            key = row[b]
            if key is not None:
                bucket = index.get(key)
                if bucket is None:
                    index[key] = [row]
                else:
                    bucket.append(row)
        if build_left:
            return [
                match + row
                for row in probe
                if (found := index.get(row[p])) is not None
                for match in found
            ]
        return [
            row + match
            for row in probe
            if (found := index.get(row[p])) is not None
            for match in found
        ]
    build_key = operator.itemgetter(*build_keys)
    probe_key = operator.itemgetter(*probe_keys)
    for row in build:
        key = build_key(row)
        if None not in key:
            index.setdefault(key, []).append(row)
    out: list[Row] = []
    for row in probe:
        found = index.get(probe_key(row))
        if found is not None:
            out += [m + row for m in found] if build_left else [row + m for m in found]
    return out


def _plain_columns(layout: _Layout, positions: list[int]) -> bool:
    """Whether the columns hold plain hashable values (not JSON)."""
    return all(layout.columns[p].type not in (None, ColumnType.JSON) for p in positions)


def _has_null(key: Any, width: int) -> bool:
    if width == 1:
        return key is None
    return any(k is None for k in key)


def _join(
    left_rows: Sequence[Row],
    layout: _Layout,
    step: JoinStep,
    right_rows: Sequence[Row],
    scope_for: Callable[[_Layout], _Scope],
) -> tuple[list[Row], _Layout]:
    right_layout = _Layout(step.input.columns)
    combined = layout.extend(step.input.columns)
    left_width, right_width = len(layout.columns), len(right_layout.columns)
    left_keys: list[int] = []
    right_keys: list[int] = []
    residual: _Predicate | None = None
    if step.on is not None:
        left_keys, right_keys, rest = _equi_keys(step.on, layout, right_layout)
        if rest:
            residual = _compile_conditions(
                Conditions(*rest), scope_for(combined), "join on"
            )
    join_type = step.join_type
    if (
        left_keys
        and join_type is JoinType.INNER
        and residual is None
        and _plain_columns(layout, left_keys)
        and _plain_columns(right_layout, right_keys)
    ):
        return _inner_hash_join(left_rows, right_rows, left_keys, right_keys), combined
    left_pad = (None,) * left_width
    right_pad = (None,) * right_width
    out: list[Row] = []
    keep_left = join_type in (JoinType.LEFT, JoinType.FULL)
    keep_right = join_type in (JoinType.RIGHT, JoinType.FULL)
    matched_right = bytearray(len(right_rows)) if keep_right else bytearray()

    if left_keys:
        width = len(left_keys)
        left_key = _key_function(left_keys)
        right_key = _key_function(right_keys)
        index: dict[Any, list[int]] = {}
        for position, row in enumerate(right_rows):
            key = right_key(row)
            if not _has_null(key, width):
                index.setdefault(key, []).append(position)
        empty: list[int] = []
        for row in left_rows:
            key = left_key(row)
            hit = False
            for position in index.get(key, empty) if not _has_null(key, width) else ():
                joined = row + right_rows[position]
                if residual is None or residual(joined) is True:
                    out.append(joined)
                    hit = True
                    if keep_right:
                        matched_right[position] = 1
            if keep_left and not hit:
                out.append(row + right_pad)
    else:
        for row in left_rows:
            hit = False
            for position, other in enumerate(right_rows):
                joined = row + other
                if residual is None or residual(joined) is True:
                    out.append(joined)
                    hit = True
                    if keep_right:
                        matched_right[position] = 1
            if keep_left and not hit:
                out.append(row + right_pad)
    if keep_right:
        out.extend(
            left_pad + row
            for position, row in enumerate(right_rows)
            if not matched_right[position]
        )
    return out, combined


# -- aggregates -------------------------------------------------------------------


def _aggregate_type(
    aggregate: Aggregate, field_type: ColumnType | None
) -> ColumnType | None:
    if isinstance(aggregate, Count):
        return ColumnType.INTEGER
    if isinstance(aggregate, Avg):
        return ColumnType.FLOAT
    return field_type


def _aggregator(
    aggregate: Aggregate, layout: _Layout, part: str
) -> tuple[Callable[[Sequence[Row]], Any], ColumnType | None]:
    if aggregate.field is None:
        if not isinstance(aggregate, Count):
            raise QueryError(f"{part}: {aggregate.function} needs a field")
        return len, ColumnType.INTEGER
    position, field_type = layout.locate(aggregate.field, part)
    distinct = aggregate.distinct

    def values(rows: Sequence[Row]) -> list[Any]:
        found = [row[position] for row in rows if row[position] is not None]
        return _distinct_values(found) if distinct else found

    match aggregate:
        case Count():
            return (lambda rows: len(values(rows))), ColumnType.INTEGER
        case Sum():
            return (lambda rows: _sum(values(rows))), field_type
        case Avg():
            return (lambda rows: _avg(values(rows))), ColumnType.FLOAT
        case Min():
            return (lambda rows: min(values(rows), default=None)), field_type
        case Max():
            return (lambda rows: max(values(rows), default=None)), field_type
    raise QueryError(f"{part}: unknown aggregate {aggregate!r}")


def _distinct_values(values: list[Any]) -> list[Any]:
    return list({_freeze(v): v for v in values}.values())


def _sum(values: list[Any]) -> Any:
    if not values:
        return None
    if any(isinstance(v, float) for v in values):
        return math.fsum(values)
    return sum(values)


def _avg(values: list[Any]) -> float | None:
    if not values:
        return None
    if all(isinstance(v, int) for v in values):
        return float(sum(values) / len(values))
    if any(isinstance(v, decimal.Decimal) for v in values):
        return float(sum(values) / len(values))
    return math.fsum(values) / len(values)


# -- order and limit --------------------------------------------------------------


def _sort(rows: list[Row], keys: Sequence[tuple[int, OrderDirection]]) -> None:
    """Sort in place by (position, direction) keys: NULLs first ascending,
    last descending."""
    for position, direction in reversed(keys):
        rows.sort(key=_null_first(position), reverse=direction is OrderDirection.DESC)


def _null_first(position: int) -> Callable[[Row], tuple[bool, Any]]:
    def key(row: Row) -> tuple[bool, Any]:
        value = row[position]
        return (value is not None, value)

    return key


def _constant(value: Any) -> _Getter:
    return lambda _row: value


def _limit(rows: list[Row], limit: LimitQuery | None) -> list[Row]:
    if limit is None:
        return rows
    start = limit.offset or 0
    stop = None if limit.limit is None else start + limit.limit
    return rows[start:stop]


# -- select -------------------------------------------------------------------------


def _run_select(step: SelectStep, results: _Results) -> list[Row]:
    """Evaluate a :class:`SelectStep` over the results read before it."""
    subqueries = [(s.query, results[s.slot]) for s in step.subqueries]

    def scope_for(layout: _Layout) -> _Scope:
        return _Scope(layout, subqueries)

    layout = _Layout(step.first.columns)
    rows: Sequence[Row] = results[step.first.slot]
    for join in step.joins:
        rows, layout = _join(rows, layout, join, results[join.input.slot], scope_for)
    if step.where is not None:
        predicate = _compile_conditions(step.where, scope_for(layout), "where")
        rows = [row for row in rows if predicate(row) is True]
    if step.aggregations or step.group_by or step.having is not None:
        extended = _grouped(step, rows, layout, subqueries)
    else:
        extended = _plain(step, rows, layout, subqueries)
    width = len(step.outputs)
    if step.distinct:
        seen: dict[Row, Row] = {}
        for row in extended:
            seen.setdefault(_hashable(row[:width]), row)
        extended = list(seen.values())
    order = [(width + n, o.direction) for n, o in enumerate(step.order_by)]
    if order:
        extended = list(extended)
        _sort(extended, order)
    if step.distinct_on:
        # Rows carry the DISTINCT ON values after the sort keys; once sorted,
        # the first row of each group is the one to keep.
        start = width + len(order)
        stop = start + len(step.distinct_on)
        firsts: dict[Row, Row] = {}
        for row in extended:
            firsts.setdefault(_hashable(row[start:stop]), row)
        extended = list(firsts.values())
    extended = _limit(list(extended), step.limit)
    if order or step.distinct_on:
        return [row[:width] for row in extended]
    return extended


def _annotation_getters(
    step: SelectStep, layout: _Layout, subqueries: _Subqueries
) -> list[_Getter]:
    getters: list[_Getter] = []
    for annotation in step.annotations:
        value = annotation.value
        if isinstance(value, SubQueryStatement):
            position = layout.index.get(("@annotation", (value.alias,)))
            if position is not None:
                getters.append(operator.itemgetter(position))
                continue
            scalar = _scalar(
                _Scope(layout, subqueries).subquery_rows(value, "annotation"),
                f"annotation {value.alias!r}",
            )
            getters.append(_constant(scalar))
        else:
            getters.append(_constant(value.value.value))
    return getters


def _order_sources(
    step: SelectStep,
) -> list[tuple[int | None, OrderByQuery]]:
    """For each sort key, the output column it names (by alias), or None."""
    outputs = {name: n for n, name in enumerate(step.outputs)}
    found: list[tuple[int | None, OrderByQuery]] = []
    for order in step.order_by:
        ref = order.field
        if not ref.table_name and ref.field.child is None and ref.field.name in outputs:
            found.append((outputs[ref.field.name], order))
        else:
            found.append((None, order))
    return found


def _plain(
    step: SelectStep,
    rows: Sequence[Row],
    layout: _Layout,
    subqueries: _Subqueries,
) -> list[Row]:
    positions = [layout.locate(item, "select")[0] for item in step.only]
    getters: list[_Getter] = [operator.itemgetter(p) for p in positions]
    getters += _annotation_getters(step, layout, subqueries)
    for output, order in _order_sources(step):
        if output is not None:
            getters.append(getters[output])
        else:
            position = layout.locate(order.field, "order by")[0]
            getters.append(operator.itemgetter(position))
    for ref in step.distinct_on:
        getters.append(operator.itemgetter(layout.locate(ref, "distinct on")[0]))
    if len(getters) == len(positions):
        if positions == list(range(len(layout.columns))):
            return list(rows)
        if len(positions) == 1:
            only = positions[0]
            return [(row[only],) for row in rows]
        project = operator.itemgetter(*positions)
        return [project(row) for row in rows]
    return [tuple(g(row) for g in getters) for row in rows]


def _grouped(
    step: SelectStep,
    rows: Sequence[Row],
    layout: _Layout,
    subqueries: _Subqueries,
) -> list[Row]:
    group_positions = [
        layout.locate(group.field, "group by")[0] for group in step.group_by
    ]
    group_layout = _Layout([layout.columns[p] for p in group_positions])
    aggregates: list[Aggregate] = [a.expression for a in step.aggregations]
    for conditions in (step.having,) if step.having is not None else ():
        for condition in conditions.walk():
            if not isinstance(condition.field, FieldReference) and (
                condition.field not in aggregates
            ):
                aggregates.append(condition.field)
    functions = [
        _aggregator(a, layout, f"aggregate {a.function.lower()}") for a in aggregates
    ]
    key_of = _key_function(group_positions) if group_positions else None
    groups: dict[Any, list[Row]] = {}
    firsts: dict[Any, Row] = {}
    if key_of is None:
        groups[()] = list(rows)
        firsts[()] = ()
    else:
        for row in rows:
            key = key_of(row)
            bucket = groups.get(key)
            if bucket is None:
                groups[key] = [row]
                firsts[key] = tuple(row[p] for p in group_positions)
            else:
                bucket.append(row)
    width = len(group_positions)
    group_rows = [
        firsts[key] + tuple(f(members) for f, _ in functions)
        for key, members in groups.items()
    ]
    scope = _Scope(
        group_layout,
        subqueries,
        aggregates,
        width,
        [t for _, t in functions],
    )
    if step.having is not None:
        having = _compile_conditions(step.having, scope, "having")
        group_rows = [row for row in group_rows if having(row) is True]
    getters: list[_Getter] = [scope.operand(item, "select")[0] for item in step.only]
    getters += _annotation_getters(step, group_layout, subqueries)
    getters += [
        operator.itemgetter(width + aggregates.index(a.expression))
        for a in step.aggregations
    ]
    for output, order in _order_sources(step):
        if output is not None:
            getters.append(getters[output])
        else:
            getters.append(scope.operand(order.field, "order by")[0])
    getters += [scope.operand(ref, "distinct on")[0] for ref in step.distinct_on]
    return [tuple(g(row) for g in getters) for row in group_rows]


# -- set operations ------------------------------------------------------------------


def _run_set(step: SetStep, results: _Results) -> list[Row]:
    """Evaluate a :class:`SetStep`: combine, then order and limit."""
    rows: list[Row] = list(results[step.first])
    for set_operator, slot in step.operations:
        other = results[slot]
        match set_operator:
            case SetOperator.UNION_ALL:
                rows = [*rows, *other]
            case SetOperator.UNION:
                rows = _distinct([*rows, *other])
            case SetOperator.INTERSECT:
                members = _sql_equal_rows(other)
                rows = _distinct(r for r in rows if _hashable(r) in members)
            case SetOperator.EXCEPT:
                members = _sql_equal_rows(other)
                rows = _distinct(r for r in rows if _hashable(r) not in members)
    positions = {name: n for n, name in enumerate(step.outputs)}
    keys: list[tuple[int, OrderDirection]] = []
    for order in step.order_by:
        name = order.field.output_name
        if name not in positions:
            raise QueryError(
                f"order by of a set operation: {name!r} is not a selected column"
            )
        keys.append((positions[name], order.direction))
    if keys:
        _sort(rows, keys)
    return _limit(rows, step.limit)
