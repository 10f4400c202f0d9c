"""The SELECT compiler: a QueryStatement becomes one SQL statement and its values.

The compiler only writes SQL. What a statement means (its tables, fields and
their types, its output columns, and what a database would refuse) is the
:class:`~glue.query.check.StatementChecker`'s: :meth:`QueryCompiler.compile`
runs it first unless told the statement was checked already (the planner checks
each statement once), and resolves fields through its scopes. Identifiers are
quoted; every value is a bound parameter (the dialect's placeholders), converted
to the type of the column it meets. What differs between databases is asked of
the :class:`~glue.sql.dialects.Dialect` the compiler is given.

The same statement returns the same rows on both databases:

- ``order_by`` puts NULLs first ascending and last descending (SQLite's rule).
- ``avg`` is a float; ``sum`` of an integer column an int; ``count`` an int.
- ``contains`` / ``startswith`` / ``endswith`` are case-sensitive on both (SQLite
  uses ``GLOB``, since its ``LIKE`` ignores ASCII case); the ``i`` variants ignore
  case (``ILIKE`` on PostgreSQL, ``LIKE`` on SQLite, which folds ASCII letters only).
- ``distinct=[field, ...]`` is PostgreSQL's DISTINCT ON, whose rule holds on both:
  ``order_by`` begins with those fields. SQLite numbers each group's rows with
  ``ROW_NUMBER()`` in a subquery and keeps the first.
- ``regex`` is PostgreSQL's ``~``; on SQLite it is ``REGEXP``, which needs the
  connection to register a ``regexp(pattern, value)`` function.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any, NamedTuple

from ..errors import QueryError
from ..query.check import (
    OutputColumn,
    Resolved,
    Scope,
    Selected,
    StatementChecker,
)
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
    JoinType,
    OrderDirection,
    QueryStatement,
    SchemaReference,
    SubQueryStatement,
    Sum,
    ValueAnnotation,
)
from ..schema.model import ColumnType, Schema
from .dialects import Dialect, coerce, is_identity

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

__all__ = [
    "CompiledQuery",
    "QueryCompiler",
    "compile_query",
]

_MARK = "\x00"
"""Stands for a placeholder until the statement is complete and numbered."""


class CompiledQuery(NamedTuple):
    """A statement ready to run, and how to read what it returns.

    Attributes:
        sql: the statement, with the dialect's placeholders.
        params: the values to bind, in placeholder order.
        columns: the result's columns, in order.
        dialect: the dialect it was compiled for.
    """

    sql: str
    params: list[Any]
    columns: tuple[OutputColumn, ...]
    dialect: Dialect

    def decode_rows(self, rows: Sequence[Sequence[Any]]) -> list[tuple[Any, ...]]:
        """Convert rows the driver returned into Python values per column type."""
        active = _converters(self.dialect.decoder, self.columns)
        if not active:
            return [tuple(row) for row in rows]
        return _convert(rows, active)

    def decode_tuples(self, rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
        """Like :meth:`decode_rows`, for rows that are tuples already: when no
        column needs converting, ``rows`` itself, not a copy."""
        active = _converters(self.dialect.decoder, self.columns)
        return _convert(rows, active) if active else rows

    def tuple_decoder(
        self,
    ) -> Callable[[list[tuple[Any, ...]]], list[tuple[Any, ...]]] | None:
        """What :meth:`decode_tuples` does, worked out once for a statement run
        many times; None when no column needs converting (rows stay as they
        are)."""
        active = _converters(self.dialect.decoder, self.columns)
        return functools.partial(_convert, active=active) if active else None

    def decode_dicts(self, rows: Sequence[Sequence[Any]]) -> list[dict[str, Any]]:
        """Like :meth:`decode_rows`, each row a dict keyed by column name."""
        names = [c.name for c in self.columns]
        return [dict(zip(names, row, strict=True)) for row in self.decode_rows(rows)]


@functools.lru_cache(maxsize=256)
def _converters(
    decoder: Callable[[ColumnType], Callable[[Any], Any]],
    columns: tuple[OutputColumn, ...],
) -> tuple[tuple[int, Callable[[Any], Any]], ...]:
    """The position and converter of each column whose values need converting,
    by the dialect's ``decoder``; kept, since a service runs the same few
    column lists over and over."""
    converters = [decoder(c.type) if c.type is not None else None for c in columns]
    return tuple(
        (i, f) for i, f in enumerate(converters) if f is not None and not is_identity(f)
    )


def _convert(
    rows: Sequence[Sequence[Any]],
    active: tuple[tuple[int, Callable[[Any], Any]], ...],
) -> list[tuple[Any, ...]]:
    """Each row as a tuple, the ``active`` columns' values converted."""
    decoded: list[tuple[Any, ...]] = []
    for row in rows:
        values = list(row)
        for i, convert in active:
            if values[i] is not None:
                values[i] = convert(values[i])
        decoded.append(tuple(values))
    return decoded


def compile_query(
    statement: QueryStatement, dialect: Dialect, schemas: Mapping[str, Schema]
) -> tuple[str, list[Any]]:
    """Compile ``statement`` for ``dialect`` into SQL and its bound values.

    Args:
        statement: the query.
        dialect: the database's dialect (``glue.sql.dialects.SQLITE``, ``POSTGRES``).
        schemas: every table the statement may read, by name.

    Returns:
        the SQL text and its parameters, in placeholder order.

    Raises:
        QueryError: a node of the wrong type (see
            :meth:`glue.QueryStatement.validated`), an unknown table, field, alias
            or lookup, or a value that does not fit its column, named with the
            part of the statement it is in.
    """
    compiled = QueryCompiler(dialect, schemas).compile(statement.validated())
    return compiled.sql, compiled.params


class _Frag(NamedTuple):
    sql: str
    params: list[Any]


def _join(parts: Sequence[_Frag], sep: str) -> _Frag:
    params: list[Any] = []
    for part in parts:
        params.extend(part.params)
    return _Frag(sep.join(p.sql for p in parts), params)


_COMPARE = {
    FieldLookup.EQ: "=",
    FieldLookup.NEQ: "<>",
    FieldLookup.GT: ">",
    FieldLookup.GTE: ">=",
    FieldLookup.LT: "<",
    FieldLookup.LTE: "<=",
}

_REGEX = frozenset({FieldLookup.REGEX, FieldLookup.IREGEX})

_EQUALITY = frozenset({FieldLookup.EQ, FieldLookup.NEQ})

# Lookup: (the value starts with the text, ends with it, case ignored).
_PATTERNS = {
    FieldLookup.CONTAINS: (False, False, False),
    FieldLookup.ICONTAINS: (False, False, True),
    FieldLookup.STARTSWITH: (True, False, False),
    FieldLookup.ISTARTSWITH: (True, False, True),
    FieldLookup.ENDSWITH: (False, True, False),
    FieldLookup.IENDSWITH: (False, True, True),
}

_JOINS = {
    JoinType.INNER: "INNER JOIN",
    JoinType.LEFT: "LEFT JOIN",
    JoinType.RIGHT: "RIGHT JOIN",
    JoinType.FULL: "FULL JOIN",
}


class _Column(NamedTuple):
    """A selected column as SQL, with what the checker said of it."""

    frag: _Frag
    column: OutputColumn


class _OrderKey(NamedTuple):
    """A sort key: what ORDER BY names (an alias, or the expression), the
    expression itself (usable anywhere in the SELECT), and the direction."""

    sort: _Frag
    expression: _Frag
    direction: OrderDirection


class QueryCompiler:
    """Compiles statements for one dialect against a fixed set of schemas.

    Args:
        dialect: the database's dialect.
        schemas: the tables statements may read, by name.
    """

    def __init__(self, dialect: Dialect, schemas: Mapping[str, Schema]) -> None:
        self.dialect = dialect
        self.checker = StatementChecker(schemas)
        # Bound once: every name of a statement is quoted through it.
        self._quote: Callable[[str, str], str] = dialect.quote

    @property
    def schemas(self) -> Mapping[str, Schema]:
        """The tables statements may read, by name."""
        return self.checker.schemas

    def compile(
        self, statement: QueryStatement, *, checked: bool = False
    ) -> CompiledQuery:
        """Compile a statement into SQL, parameters and result columns.

        Args:
            statement: the query.
            checked: the :class:`~glue.query.check.StatementChecker` passed it
                already (the planner's statements); otherwise it runs first.

        Raises:
            QueryError: as :func:`compile_query`.
        """
        if not checked:
            self.checker.check(statement)
        frag, columns = self._statement(statement, None)
        sql = self.dialect.number_placeholders(frag.sql.split(_MARK))
        return CompiledQuery(sql, frag.params, columns, self.dialect)

    # -- statements -----------------------------------------------------------

    def _statement(
        self, statement: QueryStatement, parent: Scope | None
    ) -> tuple[_Frag, tuple[OutputColumn, ...]]:
        if not statement.set_operations:
            return self._select(statement, parent, tail=True)
        core, columns = self._select(statement, parent, tail=False)
        frag = core
        for number, operation in enumerate(statement.set_operations, start=1):
            branch, _ = self._statement(operation.query, parent)
            if self._needs_wrap(operation.query):
                alias = self._quote(f"_set{number}", "alias")
                wrapped = [_Frag("SELECT * FROM (", []), branch, _Frag(") AS ", [])]
                branch = _join([*wrapped, _Frag(alias, [])], "")
            if number > 1 and self.dialect.parenthesized_set_operations:
                # Set operations combine left to right, on every database.
                frag = _join([_Frag("(", []), frag, _Frag(")", [])], "")
            frag = _join([frag, _Frag(operation.operator.value, []), branch], " ")
        tail = self._compound_tail(statement)
        return _join([frag, tail], ""), columns

    @staticmethod
    def _needs_wrap(statement: QueryStatement) -> bool:
        return bool(statement.set_operations or statement.order_by or statement.limit)

    def _compound_tail(self, statement: QueryStatement) -> _Frag:
        keys = [
            self._direction(
                self._quote(statement.order_output_name(order), "column"),
                order.direction,
            )
            for order in statement.order_by
        ]
        parts = [_Frag(f" ORDER BY {', '.join(keys)}", [])] if keys else []
        parts.append(self._limit(statement))
        return _join(parts, "")

    def _select(
        self, statement: QueryStatement, parent: Scope | None, *, tail: bool
    ) -> tuple[_Frag, tuple[OutputColumn, ...]]:
        scope = Scope(parent)
        from_frag = self._source(statement.table, scope, "from")
        joins: list[_Frag] = []
        for join in statement.joins:
            part = f"join {join.table.ref_name!r}"
            target = self._source(join.table, scope, part)
            on = self._conditions(join.on, scope, f"{part} on")
            joins.append(
                _join(
                    [
                        _Frag(f" {_JOINS[join.join_type]} ", []),
                        target,
                        _Frag(" ON ", []),
                        on,
                    ],
                    "",
                )
            )
        selected = [
            self._selected(item, scope)
            for item in self.checker.selection(statement, scope)
        ]
        group = [
            self._operand(g.field, scope, "group by")[0] for g in statement.group_by
        ]
        body = [_Frag(" FROM ", []), from_frag, *joins]
        if statement.where is not None:
            body += [
                _Frag(" WHERE ", []),
                self._conditions(statement.where, scope, "where"),
            ]
        if group:
            body += [_Frag(" GROUP BY ", []), _join(group, ", ")]
        if statement.having is not None:
            body += [
                _Frag(" HAVING ", []),
                self._conditions(statement.having, scope, "having"),
            ]
        columns = tuple(s.column for s in selected)
        if statement.distinct_on:
            return self._distinct_on(statement, scope, selected, body), columns
        parts = [
            _Frag("SELECT DISTINCT " if statement.distinct is True else "SELECT ", []),
            self._select_list(selected),
            *body,
        ]
        if tail:
            keys = self._order_keys(statement, scope, selected)
            if keys:
                parts.append(self._order_clause([(k.sort, k.direction) for k in keys]))
            parts.append(self._limit(statement))
        return _join(parts, ""), columns

    def _select_list(self, selected: Sequence[_Column]) -> _Frag:
        return _join(
            [
                _join(
                    [s.frag, _Frag(" AS " + self._quote(s.column.name, "alias"), [])],
                    "",
                )
                for s in selected
            ],
            ", ",
        )

    def _distinct_on(
        self,
        statement: QueryStatement,
        scope: Scope,
        selected: list[_Column],
        body: list[_Frag],
    ) -> _Frag:
        """SELECT DISTINCT ON: PostgreSQL's own; on SQLite, the first row of each
        partition by ROW_NUMBER() in a subquery, sorted outside it."""
        on = [self._operand(f, scope, "distinct on")[0] for f in statement.distinct_on]
        keys = self._order_keys(statement, scope, selected)
        if self.dialect.distinct_on:
            parts = [
                _Frag("SELECT DISTINCT ON (", []),
                _join(on, ", "),
                _Frag(") ", []),
                self._select_list(selected),
                *body,
            ]
            if keys:
                parts.append(self._order_clause([(k.sort, k.direction) for k in keys]))
            parts.append(self._limit(statement))
            return _join(parts, "")
        # No DISTINCT ON (SQLite): number the rows of each partition in the
        # order asked, keep the first, and sort again outside.
        outputs = [s.column.name for s in selected]
        hidden = [f"_glue_order{n}" for n in range(1, len(keys) + 1)]
        clash = sorted(set(outputs) & {"_glue_row", *hidden})
        if clash:
            names = ", ".join(
                repr(".".join(f.field.path)) for f in statement.distinct_on
            )
            raise QueryError(
                f"distinct on ({names}): the names {clash} are glue's own; rename them"
            )
        row = self._quote("_glue_row", "alias")
        wrapper = self._quote("_glue_distinct", "alias")
        quoted = [self._quote(name, "alias") for name in hidden]
        window = [_Frag("ROW_NUMBER() OVER (PARTITION BY ", []), _join(on, ", ")]
        if keys:
            window.append(
                self._order_clause([(k.expression, k.direction) for k in keys])
            )
        window.append(_Frag(f") AS {row}", []))
        inner = [
            _Frag("SELECT ", []),
            self._select_list(selected),
            _Frag(", ", []),
            *window,
            *(
                _join([_Frag(", ", []), k.expression, _Frag(f" AS {name}", [])], "")
                for k, name in zip(keys, quoted, strict=True)
            ),
            *body,
        ]
        columns = [
            _Frag(f"{wrapper}.{self._quote(name, 'alias')}", []) for name in outputs
        ]
        parts = [
            _Frag("SELECT ", []),
            _join(columns, ", "),
            _Frag(" FROM (", []),
            _join(inner, ""),
            _Frag(f") AS {wrapper} WHERE {row} = 1", []),
        ]
        if keys:
            parts.append(
                self._order_clause(
                    [
                        (_Frag(f"{wrapper}.{name}", []), k.direction)
                        for k, name in zip(keys, quoted, strict=True)
                    ]
                )
            )
        parts.append(self._limit(statement))
        return _join(parts, "")

    def _source(
        self, node: SchemaReference | SubQueryStatement, scope: Scope, part: str
    ) -> _Frag:
        scope.add(self.checker.source(node, part), part)
        if isinstance(node, SchemaReference):
            name = self._quote(node.name, "table")
            if node.alias:
                return _Frag(f"{name} AS {self._quote(node.alias, 'alias')}", [])
            return _Frag(name, [])
        frag, _ = self._statement(node.query, None)
        return _Frag(f"({frag.sql}) AS {self._quote(node.alias, 'alias')}", frag.params)

    # -- fields ---------------------------------------------------------------

    def _operand(
        self,
        ref: FieldReference,
        scope: Scope,
        part: str,
        *,
        compare: bool = False,
        text: bool = False,
    ) -> tuple[_Frag, ColumnType | None, bool]:
        """A field as an expression, with its type and whether it is a JSON
        path: selected (a JSON path as JSON), compared (a JSON path by its SQL
        value or as JSON, as the dialect compares them), or matched as text."""
        return self._field(ref, scope.resolve(ref, part), compare=compare, text=text)

    def _field(
        self,
        ref: FieldReference,
        resolved: Resolved,
        *,
        compare: bool = False,
        text: bool = False,
    ) -> tuple[_Frag, ColumnType | None, bool]:
        """A field found already, as :meth:`_operand` writes it."""
        source, column_type, is_path = resolved
        quote = self._quote
        column = f"{quote(source.ref, 'table')}.{quote(ref.field.name, 'field')}"
        if not is_path:
            return _Frag(column, []), column_type, False
        keys = ref.field.path[1:]
        as_text = text or (compare and self.dialect.json_compares_sql_values)
        return _Frag(self.dialect.json_path(column, keys, text=as_text), []), None, True

    # -- selection ------------------------------------------------------------

    def _selected(self, item: Selected, scope: Scope) -> _Column:
        expression = item.expression
        if isinstance(expression, FieldReference):
            resolved = item.field or scope.resolve(expression, "select")
            frag = self._field(expression, resolved)[0]
        elif isinstance(expression, SubQueryStatement):
            inner, _ = self._statement(expression.query, scope)
            frag = _Frag(f"({inner.sql})", inner.params)
        elif isinstance(expression, ValueAnnotation):
            column_type = item.column.type
            assert column_type is not None  # a constant's type, from its value
            bound = self.dialect.encoder(column_type)(expression.value.value)
            frag = _Frag(self.dialect.typed_constant(_MARK, column_type), [bound])
        else:
            frag = self._aggregate(expression.expression, scope, "select")
        return _Column(frag, item.column)

    def _aggregate(self, expression: Aggregate, scope: Scope, part: str) -> _Frag:
        if expression.field is None:
            return _Frag("COUNT(*)", [])
        distinct = "DISTINCT " if expression.distinct else ""
        inner, column_type, _ = self._operand(
            expression.field, scope, part, compare=True
        )
        call = f"{expression.function}({distinct}{inner.sql})"
        if isinstance(expression, Avg):
            return _Frag(self.dialect.average(call), [])
        if isinstance(expression, Sum) and column_type is ColumnType.INTEGER:
            call = self.dialect.integer_sum(call)
        return _Frag(call, [])

    # -- order and limit ------------------------------------------------------

    def _direction(self, key: str, direction: OrderDirection) -> str:
        nulls = "NULLS FIRST" if direction is OrderDirection.ASC else "NULLS LAST"
        return f"{key} {direction.value} {nulls}"

    def _order_clause(self, keys: Sequence[tuple[_Frag, OrderDirection]]) -> _Frag:
        parts = [
            _join([key, _Frag(self._direction("", direction), [])], "")
            for key, direction in keys
        ]
        return _join([_Frag(" ORDER BY ", []), _join(parts, ", ")], "")

    def _order_keys(
        self, statement: QueryStatement, scope: Scope, selected: list[_Column]
    ) -> list[_OrderKey]:
        """The sort keys of a SELECT."""
        by_name = {s.column.name: s for s in selected}
        keys: list[_OrderKey] = []
        for order in statement.order_by:
            ref = order.field
            item = by_name.get(ref.field.name)
            if not ref.table_name and ref.field.child is None and item is not None:
                # A selected field, aggregation or annotation, by its alias.
                expression = item.frag
                sort = _Frag(self._quote(ref.field.name, "column"), [])
                if self._decimal_text(item.column.type):
                    expression = self._as_real(expression)
                    sort = expression
                keys.append(_OrderKey(sort, expression, order.direction))
                continue
            frag, column_type, _ = self._operand(ref, scope, "order by")
            if self._decimal_text(column_type):
                frag = self._as_real(frag)
            keys.append(_OrderKey(frag, frag, order.direction))
        return keys

    def _as_real(self, frag: _Frag) -> _Frag:
        # Decimals kept as text: sort and compare them as numbers.
        return _Frag(self.dialect.numeric(frag.sql), frag.params)

    def _limit(self, statement: QueryStatement) -> _Frag:
        limit = statement.limit
        if limit is None:
            return _Frag("", [])
        params: list[Any] = []
        if limit.limit is not None:
            params.append(limit.limit)
        if limit.offset:
            params.append(limit.offset)
        sql = self.dialect.limit(
            None if limit.limit is None else _MARK, _MARK if limit.offset else None
        )
        return _Frag(sql, params)

    # -- conditions -----------------------------------------------------------

    def _conditions(self, conditions: Conditions, scope: Scope, part: str) -> _Frag:
        if not conditions.children:
            sql = "1 = 1" if conditions.connector is FilterConnector.AND else "1 = 0"
            return _Frag(f"NOT ({sql})" if conditions.negated else sql, [])
        parts = [
            self._conditions(child, scope, part)
            if isinstance(child, Conditions)
            else self._condition(child, scope, part)
            for child in conditions.children
        ]
        body = _join(parts, f" {conditions.connector.value} ")
        prefix = "NOT (" if conditions.negated else "("
        return _join([_Frag(prefix, []), body, _Frag(")", [])], "")

    def _condition(self, condition: Condition, scope: Scope, part: str) -> _Frag:
        lookup = FieldLookup(condition.lookup)
        left_ref = condition.field
        is_path = False
        if isinstance(left_ref, FieldReference):
            textual = lookup in _PATTERNS or lookup in _REGEX
            left, column_type, is_path = self._operand(
                left_ref, scope, part, compare=True, text=textual
            )
            label = repr(left_ref.field.name)
        else:
            left = self._aggregate(left_ref, scope, part)
            column_type = self.checker.aggregate(left_ref, scope, part)
            label = left_ref.function.lower()
        place = f"{part}, {lookup.value} on {label}"
        value = condition.value
        if isinstance(value, SubQueryStatement):
            frag, _ = self._statement(value.query, scope)
            if lookup is FieldLookup.IN:
                return _Frag(f"{left.sql} IN ({frag.sql})", frag.params)
            return _Frag(f"{left.sql} {_COMPARE[lookup]} ({frag.sql})", frag.params)
        if isinstance(value, FieldReference):
            right, _, _ = self._operand(value, scope, part, compare=True)
            return _Frag(f"{left.sql} {_COMPARE[lookup]} {right.sql}", [])
        assert isinstance(value, Value)  # the checker let nothing else through
        constant = value.value
        if lookup is FieldLookup.ISNULL:
            return _Frag(f"{left.sql} IS {'' if constant else 'NOT '}NULL", [])
        if lookup is FieldLookup.IN:
            if not constant:
                return _Frag("1 = 0", [])
            bound = [self._bind(v, column_type, is_path, place) for v in constant]
            marks = ", ".join(self._mark(is_path) for _ in bound)
            return _Frag(f"{left.sql} IN ({marks})", bound)
        if lookup in _COMPARE:
            if constant is None:
                null = "IS NULL" if lookup is FieldLookup.EQ else "IS NOT NULL"
                return _Frag(f"{left.sql} {null}", [])
            bound_value = self._bind(constant, column_type, is_path, place)
            mark = self._mark(is_path)
            if self._decimal_text(column_type) and lookup not in _EQUALITY:
                # Decimals kept as text: compare them as numbers.
                numeric = self.dialect.numeric
                return _Frag(
                    f"{numeric(left.sql)} {_COMPARE[lookup]} {numeric(mark)}",
                    [bound_value],
                )
            return _Frag(f"{left.sql} {_COMPARE[lookup]} {mark}", [bound_value])
        dialect = self.dialect
        text = left.sql
        if not is_path and column_type is not ColumnType.TEXT:
            text = dialect.as_text(text)
        if lookup in _REGEX:
            ignore_case = lookup is FieldLookup.IREGEX
            pattern = dialect.regex_pattern(constant, ignore_case=ignore_case)
            sql = dialect.regex_match(text, _MARK, ignore_case=ignore_case)
            return _Frag(sql, [pattern])
        starts, ends, ignore_case = _PATTERNS[lookup]
        pattern = dialect.text_pattern(
            constant, starts=starts, ends=ends, ignore_case=ignore_case
        )
        return _Frag(
            dialect.text_match(text, _MARK, ignore_case=ignore_case), [pattern]
        )

    def _decimal_text(self, column_type: ColumnType | None) -> bool:
        return column_type is ColumnType.DECIMAL and self.dialect.decimals_as_text

    def _mark(self, is_path: bool) -> str:
        return self.dialect.json_placeholder(_MARK) if is_path else _MARK

    def _bind(
        self, value: Any, column_type: ColumnType | None, is_path: bool, place: str
    ) -> Any:
        if value is None:
            return None
        if is_path:
            return self.dialect.json_parameter(value)
        if column_type is None:
            return value
        return self.dialect.encoder(column_type)(coerce(value, column_type, place))
