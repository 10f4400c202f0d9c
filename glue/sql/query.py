"""The SELECT compiler: a QueryStatement becomes one SQL statement and its values.

:func:`compile_query` checks every table, field, alias and lookup of a statement
against the known schemas first, and raises :class:`glue.QueryError` naming what is
unknown and where, before any SQL exists. Identifiers are validated and quoted;
every value is a bound parameter (the dialect's placeholders), converted to the
type of the column it meets. What differs between databases is asked of the
:class:`~glue.sql.dialects.Dialect` the compiler is given.

The same statement returns the same rows on both databases:

- ``order_by`` puts NULLs first ascending and last descending (SQLite's rule).
- ``avg`` is a float; ``sum`` of an integer column an int; ``count`` an int.
- ``contains`` / ``startswith`` / ``endswith`` are case-sensitive on both (SQLite
  uses ``GLOB``, since its ``LIKE`` ignores ASCII case); the ``i`` variants ignore
  case (``ILIKE`` on PostgreSQL, ``LIKE`` on SQLite, which folds ASCII letters only).
- With ``distinct``, sort keys must be selected; with grouping, selected fields
  must be grouped: PostgreSQL requires both and SQLite would silently differ.
- ``distinct=[field, ...]`` is PostgreSQL's DISTINCT ON, whose rule holds on both:
  ``order_by`` begins with those fields. SQLite numbers each group's rows with
  ``ROW_NUMBER()`` in a subquery and keeps the first.
- ``regex`` is PostgreSQL's ``~``; on SQLite it is ``REGEXP``, which needs the
  connection to register a ``regexp(pattern, value)`` function.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NamedTuple

from ..errors import QueryError, SchemaError
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
    AggregationQuery,
    Avg,
    Count,
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
    from collections.abc import Callable, Iterator, Mapping, Sequence

__all__ = [
    "CompiledQuery",
    "OutputColumn",
    "QueryCompiler",
    "compile_query",
]

_MARK = "\x00"
"""Stands for a placeholder until the statement is complete and numbered."""


class OutputColumn(NamedTuple):
    """One column of a compiled query's result.

    Attributes:
        name: its name in each row.
        type: its portable type, or None when the database decides (a JSON path).
    """

    name: str
    type: ColumnType | None


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
        decoder = self.dialect.decoder
        converters = [
            decoder(c.type) if c.type is not None else None for c in self.columns
        ]
        active = [
            (i, f)
            for i, f in enumerate(converters)
            if f is not None and not is_identity(f)
        ]
        if not active:
            return [tuple(row) for row in rows]
        decoded: list[tuple[Any, ...]] = []
        for row in rows:
            values = list(row)
            for i, convert in active:
                if values[i] is not None:
                    values[i] = convert(values[i])
            decoded.append(tuple(values))
        return decoded

    def decode_dicts(self, rows: Sequence[Sequence[Any]]) -> list[dict[str, Any]]:
        """Like :meth:`decode_rows`, each row a dict keyed by column name."""
        names = [c.name for c in self.columns]
        return [dict(zip(names, row, strict=True)) for row in self.decode_rows(rows)]


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


class _Source(NamedTuple):
    ref: str
    label: str
    columns: dict[str, ColumnType | None]


class _Scope:
    """The tables a part of a statement can see, and the scopes around it."""

    def __init__(self, parent: _Scope | None) -> None:
        self.parent = parent
        self.sources: dict[str, _Source] = {}

    def add(self, source: _Source, part: str) -> None:
        if source.ref in self.sources:
            raise QueryError(
                f"{part}: the name {source.ref!r} is used by two tables; "
                "give one of them an alias"
            )
        self.sources[source.ref] = source

    def chain(self) -> Iterator[_Scope]:
        scope: _Scope | None = self
        while scope is not None:
            yield scope
            scope = scope.parent


_NUMERIC = frozenset({ColumnType.INTEGER, ColumnType.FLOAT, ColumnType.DECIMAL})

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

_CASTS = {
    bool: ColumnType.BOOLEAN,
    int: ColumnType.INTEGER,
    float: ColumnType.FLOAT,
    str: ColumnType.TEXT,
}


class _Selected(NamedTuple):
    frag: _Frag
    column: OutputColumn


class _OrderKey(NamedTuple):
    """A sort key: what ORDER BY names (an alias, or the expression), the
    expression itself (usable anywhere in the SELECT), the SQL of the value it
    sorts by (matched against DISTINCT ON), and the direction."""

    sort: _Frag
    expression: _Frag
    target: str
    direction: OrderDirection


class QueryCompiler:
    """Compiles statements for one dialect against a fixed set of schemas.

    Args:
        dialect: the database's dialect.
        schemas: the tables statements may read, by name.
    """

    def __init__(self, dialect: Dialect, schemas: Mapping[str, Schema]) -> None:
        self.dialect = dialect
        self.schemas = schemas
        # Bound once: every name of a statement is quoted through it.
        self._quote: Callable[[str, str], str] = dialect.quote

    def compile(self, statement: QueryStatement) -> CompiledQuery:
        """Compile a statement into SQL, parameters and result columns.

        Raises:
            QueryError: as :func:`compile_query`.
        """
        frag, columns = self._statement(statement, None)
        sql = self.dialect.number_placeholders(frag.sql.split(_MARK))
        return CompiledQuery(sql, frag.params, columns, self.dialect)

    def _ident(self, name: str, what: str, part: str) -> str:
        try:
            return self._quote(name, what)
        except SchemaError as exc:
            raise QueryError(f"{part}: {exc}") from None

    # -- statements -----------------------------------------------------------

    def _statement(
        self, statement: QueryStatement, parent: _Scope | None
    ) -> tuple[_Frag, tuple[OutputColumn, ...]]:
        if not statement.set_operations:
            return self._select(statement, parent, tail=True)
        core, columns = self._select(statement, parent, tail=False)
        frag = core
        for number, operation in enumerate(statement.set_operations, start=1):
            part = f"{operation.operator.value.lower()} #{number}"
            branch, branch_columns = self._statement(operation.query, parent)
            if len(branch_columns) != len(columns):
                raise QueryError(
                    f"{part}: it selects {len(branch_columns)} columns "
                    f"({', '.join(c.name for c in branch_columns)}) but the first "
                    f"statement selects {len(columns)} "
                    f"({', '.join(c.name for c in columns)})"
                )
            if self._needs_wrap(operation.query):
                alias = self._ident(f"_set{number}", "alias", part)
                wrapped = [_Frag("SELECT * FROM (", []), branch, _Frag(") AS ", [])]
                branch = _join([*wrapped, _Frag(alias, [])], "")
            if number > 1 and self.dialect.parenthesized_set_operations:
                # Set operations combine left to right, on every database.
                frag = _join([_Frag("(", []), frag, _Frag(")", [])], "")
            frag = _join([frag, _Frag(operation.operator.value, []), branch], " ")
        tail = self._compound_tail(statement, columns)
        return _join([frag, tail], ""), columns

    @staticmethod
    def _needs_wrap(statement: QueryStatement) -> bool:
        return bool(statement.set_operations or statement.order_by or statement.limit)

    def _compound_tail(
        self, statement: QueryStatement, columns: tuple[OutputColumn, ...]
    ) -> _Frag:
        names = {c.name for c in columns}
        keys: list[str] = []
        for order in statement.order_by:
            name = statement.order_output_name(order)
            if name not in names:
                raise QueryError(
                    f"order by of a set operation: {name!r} is not a selected "
                    f"column (selected: {', '.join(sorted(names))})"
                )
            keys.append(
                self._direction(
                    self._ident(name, "column", "order by"), order.direction
                )
            )
        parts = [_Frag(f" ORDER BY {', '.join(keys)}", [])] if keys else []
        parts.append(self._limit(statement))
        return _join(parts, "")

    def _select(
        self, statement: QueryStatement, parent: _Scope | None, *, tail: bool
    ) -> tuple[_Frag, tuple[OutputColumn, ...]]:
        scope = _Scope(parent)
        from_frag = self._source(statement.table, scope, "from")
        joins: list[_Frag] = []
        for join in statement.joins:
            part = f"join {self._source_name(join.table)!r}"
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
        selected = self._selection(statement, scope)
        names = [s.column.name for s in selected]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise QueryError(
                f"select: {', '.join(map(repr, duplicates))} selected more than "
                "once; give each an alias"
            )
        group = [
            self._operand(g.field, scope, "group by", compare=False)[0]
            for g in statement.group_by
        ]
        if statement.group_by or statement.aggregations:
            self._check_grouped(statement, scope, group)
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
            if not tail:
                raise QueryError(
                    "distinct on: a statement with set operations sorts the "
                    "combined rows, so nothing would decide which row of each "
                    "group is kept; make it a set operation's or a subquery's"
                )
            frag = self._distinct_on(statement, scope, selected, group, body)
            return frag, columns
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

    def _select_list(self, selected: Sequence[_Selected]) -> _Frag:
        return _join(
            [
                _join(
                    [
                        s.frag,
                        _Frag(
                            " AS " + self._ident(s.column.name, "alias", "select"), []
                        ),
                    ],
                    "",
                )
                for s in selected
            ],
            ", ",
        )

    def _distinct_on(
        self,
        statement: QueryStatement,
        scope: _Scope,
        selected: list[_Selected],
        group: list[_Frag],
        body: list[_Frag],
    ) -> _Frag:
        """SELECT DISTINCT ON: PostgreSQL's own; on SQLite, the first row of each
        partition by ROW_NUMBER() in a subquery, sorted outside it."""
        fields = statement.distinct_on
        names = ", ".join(repr(".".join(f.field.path)) for f in fields)
        part = f"distinct on ({names})"
        on = [self._operand(f, scope, part, compare=False)[0] for f in fields]
        grouped = {g.sql for g in group}
        if statement.group_by or statement.aggregations:
            for ref, frag in zip(fields, on, strict=True):
                if frag.sql not in grouped:
                    raise QueryError(
                        f"{part}: {ref.field.name!r} is not grouped; add it to group_by"
                    )
        keys = self._order_keys(statement, scope, selected)
        targets = {frag.sql for frag in on}
        leading = [k.target for k in keys[: len(on)]]
        if keys and (len(keys) < len(on) or set(leading) != targets):
            raise QueryError(
                f"{part}: order_by must begin with these fields (in any order), "
                "then say which row of each group is kept, as PostgreSQL requires"
            )
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
            raise QueryError(f"{part}: the names {clash} are glue's own; rename them")
        row = self._ident("_glue_row", "alias", part)
        wrapper = self._ident("_glue_distinct", "alias", part)
        quoted = [self._ident(name, "alias", part) for name in hidden]
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
            _Frag(f"{wrapper}.{self._ident(name, 'alias', part)}", [])
            for name in outputs
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

    @staticmethod
    def _source_name(source: SchemaReference | SubQueryStatement) -> str:
        return source.ref_name if isinstance(source, SchemaReference) else source.alias

    def _source(
        self, source: SchemaReference | SubQueryStatement, scope: _Scope, part: str
    ) -> _Frag:
        if isinstance(source, SchemaReference):
            schema = self.schemas.get(source.name)
            if schema is None:
                known = ", ".join(sorted(self.schemas)) or "none"
                raise QueryError(
                    f"{part}: unknown table {source.name!r} (known tables: {known})"
                )
            name = self._ident(source.name, "table", part)
            columns: dict[str, ColumnType | None] = {
                c.name: c.type for c in schema.all_columns
            }
            scope.add(_Source(source.ref_name, f"table {source.name!r}", columns), part)
            if source.alias:
                return _Frag(
                    f"{name} AS {self._ident(source.alias, 'alias', part)}", []
                )
            return _Frag(name, [])
        if not source.alias:
            raise QueryError(f"{part}: a subquery used as a table needs an alias")
        alias = self._ident(source.alias, "alias", part)
        frag, out = self._statement(source.query, None)
        scope.add(
            _Source(
                source.alias,
                f"subquery {source.alias!r}",
                {c.name: c.type for c in out},
            ),
            part,
        )
        return _Frag(f"({frag.sql}) AS {alias}", frag.params)

    # -- fields ---------------------------------------------------------------

    def _field(
        self, ref: FieldReference, scope: _Scope, part: str
    ) -> tuple[_Frag, ColumnType | None, bool]:
        """Resolve a field: its SQL, its type, and whether it is a JSON path."""
        source = self._find_source(ref, scope, part)
        name = ref.field.name
        if name not in source.columns:
            raise QueryError(
                f"{part}: {source.label} has no field {name!r} "
                f"(fields: {', '.join(source.columns)})"
            )
        table = self._ident(source.ref, "table", part)
        column = f"{table}.{self._ident(name, 'field', part)}"
        column_type = source.columns[name]
        path = ref.field.path[1:]
        if not path:
            return _Frag(column, []), column_type, False
        if column_type not in (ColumnType.JSON, None):
            raise QueryError(
                f"{part}: field {name!r} of {source.label} is {column_type}, "
                f"not json, so it has no key {path[0]!r}"
            )
        for key in path:
            self._ident(key, "JSON key", part)
        return _Frag(column, []), None, True

    def _find_source(self, ref: FieldReference, scope: _Scope, part: str) -> _Source:
        if ref.table_name:
            for level in scope.chain():
                if ref.table_name in level.sources:
                    return level.sources[ref.table_name]
            known = ", ".join(scope.sources) or "none"
            raise QueryError(
                f"{part}: unknown table {ref.table_name!r} for field "
                f"{ref.field.name!r} (tables here: {known})"
            )
        for level in scope.chain():
            found = [s for s in level.sources.values() if ref.field.name in s.columns]
            if len(found) > 1:
                raise QueryError(
                    f"{part}: field {ref.field.name!r} is ambiguous "
                    f"({', '.join(s.ref for s in found)}); name its table"
                )
            if found:
                return found[0]
        known = ", ".join(scope.sources) or "none"
        raise QueryError(
            f"{part}: unknown field {ref.field.name!r} (tables here: {known})"
        )

    def _operand(
        self,
        ref: FieldReference,
        scope: _Scope,
        part: str,
        *,
        compare: bool,
        text: bool = False,
    ) -> tuple[_Frag, ColumnType | None, bool]:
        """A field as an expression: selected (a JSON path as JSON), compared
        (a JSON path by its SQL value or as JSON, as the dialect compares them),
        or matched as text."""
        frag, column_type, is_path = self._field(ref, scope, part)
        if not is_path:
            return frag, column_type, False
        keys = ref.field.path[1:]
        as_text = text or (compare and self.dialect.json_compares_sql_values)
        path = self.dialect.json_path(frag.sql, keys, text=as_text)
        return _Frag(path, []), None, True

    # -- selection ------------------------------------------------------------

    def _selection(self, statement: QueryStatement, scope: _Scope) -> list[_Selected]:
        selected: list[_Selected] = []
        if statement.only is not None:
            for item in statement.only:
                frag, column_type, is_path = self._operand(
                    item, scope, "select", compare=False
                )
                kind = ColumnType.JSON if is_path else column_type
                selected.append(_Selected(frag, OutputColumn(item.output_name, kind)))
        elif statement.aggregations or statement.group_by:
            for group in statement.group_by:
                frag, column_type, is_path = self._operand(
                    group.field, scope, "group by", compare=False
                )
                kind = ColumnType.JSON if is_path else column_type
                selected.append(
                    _Selected(frag, OutputColumn(group.field.output_name, kind))
                )
        else:
            taken: set[str] = set()
            for source in scope.sources.values():
                table = self._ident(source.ref, "table", "select")
                for name, column_type in source.columns.items():
                    output = name if name not in taken else f"{source.ref}__{name}"
                    taken.add(output)
                    frag = _Frag(f"{table}.{self._ident(name, 'field', 'select')}", [])
                    selected.append(_Selected(frag, OutputColumn(output, column_type)))
        selected.extend(self._annotation(a.value, scope) for a in statement.annotations)
        selected.extend(self._aggregation(a, scope) for a in statement.aggregations)
        if not selected:
            raise QueryError("select: the statement selects nothing")
        return selected

    def _annotation(
        self, value: ValueAnnotation | SubQueryStatement, scope: _Scope
    ) -> _Selected:
        part = f"annotation {value.alias!r}"
        if isinstance(value, SubQueryStatement):
            frag, columns = self._statement(value.query, scope)
            if len(columns) != 1:
                raise QueryError(
                    f"{part}: a scalar subquery must select one column, not "
                    f"{len(columns)}"
                )
            return _Selected(
                _Frag(f"({frag.sql})", frag.params),
                OutputColumn(value.alias, columns[0].type),
            )
        constant = value.value.value
        cast = _CASTS.get(type(constant))
        if cast is None:
            raise QueryError(
                f"{part}: a selected constant must be a bool, int, float or str, "
                f"not {type(constant).__name__}"
            )
        column_type = cast
        bound = self.dialect.encoder(column_type)(constant)
        sql = self.dialect.typed_constant(_MARK, column_type)
        return _Selected(_Frag(sql, [bound]), OutputColumn(value.alias, column_type))

    def _aggregation(self, aggregation: AggregationQuery, scope: _Scope) -> _Selected:
        part = f"aggregation {aggregation.alias!r}"
        frag, column_type = self._aggregate(aggregation.expression, scope, part)
        return _Selected(frag, OutputColumn(aggregation.alias, column_type))

    def _aggregate(
        self, expression: Aggregate, scope: _Scope, part: str
    ) -> tuple[_Frag, ColumnType | None]:
        distinct = "DISTINCT " if expression.distinct else ""
        if expression.field is None:
            if not isinstance(expression, Count):
                raise QueryError(
                    f"{part}: {expression.function} needs a field; only count "
                    "may count rows"
                )
            return _Frag("COUNT(*)", []), ColumnType.INTEGER
        inner, column_type, is_path = self._operand(
            expression.field, scope, part, compare=True
        )
        call = f"{expression.function}({distinct}{inner.sql})"
        if isinstance(expression, Count):
            return _Frag(call, []), ColumnType.INTEGER
        if isinstance(expression, Sum | Avg) and (
            is_path or column_type not in _NUMERIC
        ):
            raise QueryError(
                f"{part}: {expression.function} needs a number field; "
                f"{expression.field.field.name!r} is {column_type or 'a JSON value'}"
            )
        if isinstance(expression, Avg):
            return _Frag(self.dialect.average(call), []), ColumnType.FLOAT
        if isinstance(expression, Sum) and column_type is ColumnType.INTEGER:
            call = self.dialect.integer_sum(call)
        return _Frag(call, []), column_type

    def _check_grouped(
        self, statement: QueryStatement, scope: _Scope, group: list[_Frag]
    ) -> None:
        grouped = {g.sql for g in group}
        for item in statement.only or ():
            frag = self._operand(item, scope, "select", compare=False)[0]
            if frag.sql not in grouped:
                raise QueryError(
                    f"select: field {item.field.name!r} of "
                    f"{item.table_name or 'the table'!r} is neither grouped nor "
                    "aggregated; add it to group_by"
                )

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
        self, statement: QueryStatement, scope: _Scope, selected: list[_Selected]
    ) -> list[_OrderKey]:
        """The sort keys of a SELECT, checked against DISTINCT and grouping."""
        by_name = {s.column.name: s for s in selected}
        expressions = {s.frag.sql for s in selected}
        grouping = bool(statement.group_by or statement.aggregations)
        keys: list[_OrderKey] = []
        for order in statement.order_by:
            ref = order.field
            item = by_name.get(ref.field.name)
            if not ref.table_name and ref.field.child is None and item is not None:
                # A selected field, aggregation or annotation, by its alias.
                expression = item.frag
                sort = _Frag(self._ident(ref.field.name, "column", "order by"), [])
                if self._decimal_text(item.column.type):
                    expression = self._as_real(expression)
                    sort = expression
                keys.append(_OrderKey(sort, expression, item.frag.sql, order.direction))
                continue
            frag, column_type, _ = self._operand(ref, scope, "order by", compare=False)
            if statement.distinct is True and frag.sql not in expressions:
                raise QueryError(
                    f"order by: with distinct, the sort key {ref.field.name!r} "
                    "must be selected"
                )
            if grouping and frag.sql not in expressions:
                raise QueryError(
                    f"order by: {ref.field.name!r} is neither grouped nor "
                    "aggregated; sort by a group_by field or an aggregation alias"
                )
            expression = (
                self._as_real(frag) if self._decimal_text(column_type) else frag
            )
            keys.append(_OrderKey(expression, expression, frag.sql, order.direction))
        return keys

    def _as_real(self, frag: _Frag) -> _Frag:
        # Decimals kept as text: sort and compare them as numbers.
        return _Frag(self.dialect.numeric(frag.sql), frag.params)

    def _limit(self, statement: QueryStatement) -> _Frag:
        limit = statement.limit
        if limit is None:
            return _Frag("", [])
        for name, value in (("limit", limit.limit), ("offset", limit.offset)):
            if value is not None and (
                not isinstance(value, int) or isinstance(value, bool) or value < 0
            ):
                raise QueryError(
                    f"limit: {name} must be a whole number >= 0, not {value!r}"
                )
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

    def _conditions(self, conditions: Conditions, scope: _Scope, part: str) -> _Frag:
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

    def _condition(self, condition: Condition, scope: _Scope, part: str) -> _Frag:
        left_ref = condition.field
        is_path = False
        textual = condition.lookup in _PATTERNS or condition.lookup in _REGEX
        if isinstance(left_ref, FieldReference):
            left, column_type, is_path = self._operand(
                left_ref, scope, part, compare=True, text=textual
            )
            label = repr(left_ref.field.name)
        else:
            left, column_type = self._aggregate(left_ref, scope, part)
            label = left_ref.function.lower()
        lookup = condition.lookup
        value = condition.value
        try:
            lookup = FieldLookup(lookup)
        except ValueError:
            raise QueryError(
                f"{part}: unknown lookup {lookup!r} on {label} "
                f"(lookups: {', '.join(v.value for v in FieldLookup)})"
            ) from None
        place = f"{part}, {lookup.value} on {label}"

        if isinstance(value, SubQueryStatement):
            return self._subquery_condition(left, lookup, value, scope, place)
        if isinstance(value, FieldReference):
            if lookup not in _COMPARE:
                raise QueryError(
                    f"{place}: compares with a constant only, not another field"
                )
            right, _, _ = self._operand(value, scope, part, compare=True)
            return _Frag(f"{left.sql} {_COMPARE[lookup]} {right.sql}", [])
        if not isinstance(value, Value):
            raise QueryError(
                f"{place}: the value must be a Value, a field or a subquery"
            )
        constant = value.value
        if lookup is FieldLookup.ISNULL:
            if not isinstance(constant, bool):
                raise QueryError(f"{place}: the value must be True or False")
            return _Frag(f"{left.sql} IS {'' if constant else 'NOT '}NULL", [])
        if lookup is FieldLookup.IN:
            if not isinstance(constant, list | tuple | set | frozenset):
                raise QueryError(f"{place}: the value must be a list")
            if not constant:
                return _Frag("1 = 0", [])
            bound = [self._bind(v, column_type, is_path, place) for v in constant]
            marks = ", ".join(self._mark(is_path) for _ in bound)
            return _Frag(f"{left.sql} IN ({marks})", bound)
        if lookup in _COMPARE:
            if constant is None:
                if lookup is FieldLookup.EQ:
                    return _Frag(f"{left.sql} IS NULL", [])
                if lookup is FieldLookup.NEQ:
                    return _Frag(f"{left.sql} IS NOT NULL", [])
                raise QueryError(f"{place}: cannot compare with None")
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
        if not isinstance(constant, str):
            raise QueryError(f"{place}: the value must be text, not {constant!r}")
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

    def _subquery_condition(
        self,
        left: _Frag,
        lookup: FieldLookup,
        value: SubQueryStatement,
        scope: _Scope,
        place: str,
    ) -> _Frag:
        frag, columns = self._statement(value.query, scope)
        if len(columns) != 1:
            raise QueryError(
                f"{place}: the subquery must select one column, not {len(columns)} "
                f"({', '.join(c.name for c in columns)})"
            )
        if lookup is FieldLookup.IN:
            return _Frag(f"{left.sql} IN ({frag.sql})", frag.params)
        if lookup in _COMPARE:
            return _Frag(f"{left.sql} {_COMPARE[lookup]} ({frag.sql})", frag.params)
        raise QueryError(f"{place}: a subquery works with in and comparisons only")

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
