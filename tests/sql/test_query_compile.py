"""The compiler without a database: the SQL it writes, and what it refuses."""

from __future__ import annotations

import datetime as dt
from typing import Any

import msgspec
import pytest

from glue.errors import QueryError
from glue.query import (
    AggregationQuery,
    AnnotationQuery,
    Condition,
    Conditions,
    Count,
    Field,
    FieldLookup,
    FieldReference,
    GroupByQuery,
    JoinQuery,
    LimitQuery,
    OrderByQuery,
    QueryStatement,
    SchemaReference,
    SubQueryStatement,
    Sum,
    Value,
    ValueAnnotation,
)
from glue.sql.dialects import POSTGRES, SQLITE
from glue.sql.query import QueryCompiler, compile_query

from .shop import SCHEMAS

L = FieldLookup


def f(table: str, path: str) -> FieldReference:
    return FieldReference.of(table, path)


def where(table: str, *conditions: Condition | Conditions) -> QueryStatement:
    return QueryStatement(
        only=[f(table, "id")],
        table=SchemaReference(name="customers", alias=table),
        where=Conditions(*conditions),
    )


def test_simple_statement_on_both_dialects() -> None:
    statement = QueryStatement(
        only=[f("c", "name").aliased("who")],
        table=SchemaReference(name="customers", alias="c"),
        where=Conditions(
            Condition(field=f("c", "id"), lookup=L.GT, value=Value(2)),
            Condition(field=f("c", "country"), value=Value("NO")),
        ),
        order_by=[OrderByQuery(field=f("c", "id"))],
        limit=LimitQuery(limit=10, offset=5),
    )
    tail = (
        'FROM "customers" AS "c" WHERE ("c"."id" > {0} AND "c"."country" = {1}) '
        'ORDER BY "c"."id" ASC NULLS FIRST LIMIT {2} OFFSET {3}'
    )
    head = 'SELECT "c"."name" AS "who" '
    assert compile_query(statement, SQLITE, SCHEMAS) == (
        head + tail.format("?", "?", "?", "?"),
        [2, "NO", 10, 5],
    )
    assert compile_query(statement, POSTGRES, SCHEMAS) == (
        head + tail.format("$1", "$2", "$3", "$4"),
        [2, "NO", 10, 5],
    )


def test_parameters_follow_the_text_order() -> None:
    inner = QueryStatement(
        only=[f("customers", "id")],
        table=SchemaReference(name="customers"),
        where=Conditions(Condition(field=f("customers", "name"), value=Value("in"))),
    )
    statement = QueryStatement(
        only=[f("s", "id")],
        table=SubQueryStatement(query=inner, alias="s"),
        annotations=[AnnotationQuery(value=ValueAnnotation(value=Value(7), alias="k"))],
        where=Conditions(Condition(field=f("s", "id"), value=Value(3))),
    )
    sql, params = compile_query(statement, SQLITE, SCHEMAS)
    assert params == [7, "in", 3]
    assert sql.index("?") < sql.index("FROM")
    sql, params = compile_query(statement, POSTGRES, SCHEMAS)
    assert "CAST($1 AS BIGINT)" in sql
    assert '"customers"."name" = $2' in sql


def test_values_are_converted_for_the_column() -> None:
    statement = where(
        "c",
        Condition(
            field=f("c", "joined"), lookup=L.GT, value=Value("2024-01-01T00:00:00")
        ),
        Condition(field=f("c", "vip"), value=Value(True)),
        Condition(field=f("c", "data.city"), value=Value("Oslo")),
    )
    _, params = compile_query(statement, SQLITE, SCHEMAS)
    assert params == ["2024-01-01T00:00:00+00:00", 1, "Oslo"]
    sql, params = compile_query(statement, POSTGRES, SCHEMAS)
    assert params == [dt.datetime(2024, 1, 1, tzinfo=dt.UTC), True, '"Oslo"']
    assert """("c"."data" #> '{city}') = $3::jsonb""" in sql


def test_like_patterns_are_escaped() -> None:
    statement = where(
        "c", Condition(field=f("c", "name"), lookup=L.ICONTAINS, value=Value("5%_!\\"))
    )
    sql, params = compile_query(statement, POSTGRES, SCHEMAS)
    assert "ILIKE $1 ESCAPE '!'" in sql
    assert params == ["%5!%!_!!\\%"]
    sql, params = compile_query(statement, SQLITE, SCHEMAS)
    assert "LIKE ? ESCAPE '!'" in sql
    cased = where(
        "c", Condition(field=f("c", "name"), lookup=L.STARTSWITH, value=Value("a*?["))
    )
    sql, params = compile_query(cased, SQLITE, SCHEMAS)
    assert '"c"."name" GLOB ?' in sql
    assert params == ["a[*][?][[]*"]


def test_regex_uses_tilde_on_postgres_and_regexp_on_sqlite() -> None:
    statement = where(
        "c", Condition(field=f("c", "name"), lookup=L.IREGEX, value=Value("^a"))
    )
    assert compile_query(statement, POSTGRES, SCHEMAS)[0].endswith(
        'WHERE ("c"."name" ~* $1)'
    )
    sql, params = compile_query(statement, SQLITE, SCHEMAS)
    assert sql.endswith('WHERE ("c"."name" REGEXP ?)')
    assert params == ["(?i)^a"]


def test_compiled_query_describes_and_decodes_its_columns() -> None:
    statement = QueryStatement(
        only=[f("c", "vip"), f("c", "data.city")],
        table=SchemaReference(name="customers", alias="c"),
        aggregations=[AggregationQuery(expression=Count(), alias="n")],
        group_by=[
            GroupByQuery(field=f("c", "vip")),
            GroupByQuery(field=f("c", "data.city")),
        ],
    )
    compiled = QueryCompiler(SQLITE, SCHEMAS).compile(statement)
    assert [c.name for c in compiled.columns] == ["vip", "data__city", "n"]
    assert [c.type for c in compiled.columns] == ["boolean", "json", "integer"]
    assert compiled.decode_dicts([(1, '"Oslo"', 2)]) == [
        {"vip": True, "data__city": "Oslo", "n": 2}
    ]


def test_statement_from_json_compiles_like_the_original() -> None:
    statement = where(
        "c",
        Condition(field=f("c", "id"), lookup=L.IN, value=Value([1, 2])),
        ~Condition(field=f("c", "name"), lookup=L.ENDSWITH, value=Value("x")),
    )
    decoded = msgspec.json.decode(msgspec.json.encode(statement), type=QueryStatement)
    for dialect in (SQLITE, POSTGRES):
        assert compile_query(decoded, dialect, SCHEMAS) == compile_query(
            statement, dialect, SCHEMAS
        )


def refuse(statement: QueryStatement, match: str) -> None:
    for dialect in (SQLITE, POSTGRES):
        with pytest.raises(QueryError, match=match):
            compile_query(statement, dialect, SCHEMAS)


def cond(table: str, name: str, lookup: FieldLookup, value: Any) -> Condition:
    return Condition(field=f(table, name), lookup=lookup, value=Value(value))


@pytest.mark.parametrize(
    ("statement", "match"),
    [
        pytest.param(
            QueryStatement(table=SchemaReference(name="custmers")),
            r"from: unknown table 'custmers' \(known tables: customers, orders\)",
            id="unknown-table",
        ),
        pytest.param(
            where("c", cond("c", "nmae", L.EQ, "x")),
            r"where: table 'customers' has no field 'nmae' \(fields: id, name,",
            id="unknown-field",
        ),
        pytest.param(
            where("c", cond("x", "name", L.EQ, "x")),
            r"where: unknown table 'x' for field 'name' \(tables here: c\)",
            id="unknown-table-alias",
        ),
        pytest.param(
            QueryStatement(
                only=[f("", "id")],
                table=SchemaReference(name="customers"),
                joins=[
                    JoinQuery(
                        table=SchemaReference(name="orders"),
                        on=Conditions(
                            Condition(
                                field=f("orders", "customer_id"),
                                value=f("customers", "id"),
                            )
                        ),
                    )
                ],
            ),
            r"select: field 'id' is ambiguous \(customers, orders\)",
            id="ambiguous-field",
        ),
        pytest.param(
            QueryStatement(
                only=[f("c", "id")],
                table=SchemaReference(name="customers", alias="c"),
                joins=[
                    JoinQuery(
                        table=SchemaReference(name="orders", alias="o"),
                        on=Conditions(
                            Condition(field=f("o", "id"), value=f("later", "id"))
                        ),
                    )
                ],
            ),
            r"join 'o' on: unknown table 'later'",
            id="join-on-unknown",
        ),
        pytest.param(
            where("c", Condition(field=f("c", "id"), lookup="like", value=Value(1))),  # type: ignore[arg-type]  # a lookup from untyped input
            r"Invalid enum value 'like' - at `\$.where.children\[0\].lookup` "
            r"\(lookups: eq, neq,",
            id="unknown-lookup",
        ),
        pytest.param(
            QueryStatement(table=SchemaReference(name='customers"; DROP TABLE x; --')),
            r"from: unknown table",
            id="injection-table",
        ),
        pytest.param(
            where("c", cond("c", 'name" = name OR "1', L.EQ, 1)),
            r"has no field",
            id="injection-field",
        ),
        pytest.param(
            QueryStatement(
                table=SchemaReference(name="customers", alias='c" JOIN secrets --')
            ),
            r"from: alias .* is not a valid name",
            id="injection-alias",
        ),
        pytest.param(
            QueryStatement(
                only=[f("c", "name").aliased("x; DROP TABLE customers")],
                table=SchemaReference(name="customers", alias="c"),
            ),
            r"select: alias .* is not a valid name",
            id="injection-output-alias",
        ),
        pytest.param(
            where("c", cond("c", "data.city') OR 1=1 --", L.EQ, 1)),
            r"JSON key .* is not a valid name",
            id="injection-json-key",
        ),
        pytest.param(
            where("c", cond("c", "name.city", L.EQ, 1)),
            r"field 'name' of table 'customers' is text, not json",
            id="path-into-text",
        ),
        pytest.param(
            where("c", cond("c", "id", L.EQ, "one")),
            r"where, eq on 'id': 'one' is not a valid integer value",
            id="value-does-not-fit",
        ),
        pytest.param(
            where("c", cond("c", "id", L.IN, 3)),
            r"in on 'id': the value must be a list",
            id="in-needs-list",
        ),
        pytest.param(
            where("c", cond("c", "id", L.ISNULL, "yes")),
            r"the value must be True or False",
            id="isnull-needs-bool",
        ),
        pytest.param(
            where("c", cond("c", "name", L.CONTAINS, 3)),
            r"contains on 'name': the value must be text",
            id="contains-needs-text",
        ),
        pytest.param(
            where("c", cond("c", "id", L.GT, None)),
            r"cannot compare with None",
            id="gt-none",
        ),
        pytest.param(
            where(
                "c",
                Condition(
                    field=f("c", "id"),
                    lookup=L.IN,
                    value=SubQueryStatement(
                        query=QueryStatement(table=SchemaReference(name="orders"))
                    ),
                ),
            ),
            r"the subquery must select one column, not 5",
            id="in-subquery-columns",
        ),
        pytest.param(
            QueryStatement(
                table=SubQueryStatement(
                    query=QueryStatement(table=SchemaReference(name="orders"))
                )
            ),
            r"a subquery used as a table needs an alias",
            id="subquery-alias",
        ),
        pytest.param(
            QueryStatement(
                only=[f("customers", "id")], table=SchemaReference(name="customers")
            ).union(QueryStatement(table=SchemaReference(name="orders"))),
            r"union #1: it selects 5 columns .* first statement selects 1",
            id="set-operation-columns",
        ),
        pytest.param(
            QueryStatement(
                only=[f("c", "name")],
                table=SchemaReference(name="customers", alias="c"),
                distinct=True,
                order_by=[OrderByQuery(field=f("c", "id"))],
            ),
            r"with distinct, the sort key 'id' must be selected",
            id="distinct-order",
        ),
        pytest.param(
            QueryStatement(
                only=[f("c", "name"), f("c", "country")],
                table=SchemaReference(name="customers", alias="c"),
                aggregations=[AggregationQuery(expression=Count(), alias="n")],
                group_by=[GroupByQuery(field=f("c", "country"))],
            ),
            r"field 'name' of 'c' is neither grouped nor aggregated",
            id="not-grouped",
        ),
        pytest.param(
            QueryStatement(
                table=SchemaReference(name="customers", alias="c"),
                aggregations=[
                    AggregationQuery(expression=Sum(field=f("c", "name")), alias="s")
                ],
            ),
            r"aggregation 's': SUM needs a number field; 'name' is text",
            id="sum-text",
        ),
        pytest.param(
            QueryStatement(
                table=SchemaReference(name="customers", alias="c"),
                aggregations=[AggregationQuery(expression=Sum(), alias="s")],
            ),
            r"SUM needs a field",
            id="sum-nothing",
        ),
        pytest.param(
            QueryStatement(
                only=[f("c", "id"), f("o", "id")],
                table=SchemaReference(name="customers", alias="c"),
                joins=[
                    JoinQuery(
                        table=SchemaReference(name="orders", alias="o"),
                        on=Conditions(),
                    )
                ],
            ),
            r"select: 'id' selected more than once; give each an alias",
            id="duplicate-output",
        ),
        pytest.param(
            QueryStatement(
                table=SchemaReference(name="customers"),
                joins=[
                    JoinQuery(table=SchemaReference(name="customers"), on=Conditions())
                ],
            ),
            r"the name 'customers' is used by two tables",
            id="duplicate-alias",
        ),
        pytest.param(
            QueryStatement(
                table=SchemaReference(name="customers"), limit=LimitQuery(limit=-1)
            ),
            r"limit: limit must be a whole number >= 0, not -1",
            id="negative-limit",
        ),
        pytest.param(
            QueryStatement(
                only=[f("customers", "id")], table=SchemaReference(name="customers")
            ).union(
                QueryStatement(
                    only=[f("orders", "id")], table=SchemaReference(name="orders")
                )
            ),
            "",
            id="valid-union-control",
        ),
    ],
)
def test_mistakes_raise_query_error_naming_them(
    statement: QueryStatement, match: str
) -> None:
    if not match:
        for dialect in (SQLITE, POSTGRES):
            compile_query(statement, dialect, SCHEMAS)
        return
    refuse(statement, match)


def test_order_by_of_a_set_operation_names_an_output_column() -> None:
    base = QueryStatement(
        only=[f("customers", "id").aliased("key")],
        table=SchemaReference(name="customers"),
    )
    combined = msgspec.structs.replace(
        base.union(base), order_by=[OrderByQuery(field=f("customers", "id"))]
    )
    assert compile_query(combined, SQLITE, SCHEMAS)[0].endswith(
        'ORDER BY "key" ASC NULLS FIRST'
    )
    wrong = msgspec.structs.replace(
        base.union(base), order_by=[OrderByQuery(field=f("customers", "name"))]
    )
    refuse(wrong, r"order by of a set operation: 'name' is not a selected column")


def test_field_of_field_path() -> None:
    assert FieldReference(field=Field(name="data", child=Field(name="city"))) == (
        f("", "data.city")
    )


def test_grouped_statements_sort_by_groups_or_aggregates_only() -> None:
    grouped = QueryStatement(
        only=[f("c", "country")],
        table=SchemaReference(name="customers", alias="c"),
        aggregations=[AggregationQuery(expression=Count(), alias="n")],
        group_by=[GroupByQuery(field=f("c", "country"))],
    )
    for field in (f("c", "country"), f("", "n")):
        ok = msgspec.structs.replace(grouped, order_by=[OrderByQuery(field=field)])
        compile_query(ok, POSTGRES, SCHEMAS)
    wrong = msgspec.structs.replace(
        grouped, order_by=[OrderByQuery(field=f("c", "name"))]
    )
    refuse(wrong, r"order by: 'name' is neither grouped nor aggregated")


def test_a_tuple_decoder_decodes_as_decode_tuples() -> None:
    """Worked out once for a statement run many times, it converts what
    ``decode_tuples`` converts, and is None when nothing converts."""
    converting = QueryStatement(
        table=SchemaReference(name="customers"),
        only=[f("customers", "id"), f("customers", "vip"), f("customers", "joined")],
    )
    compiled = QueryCompiler(SQLITE, SCHEMAS).compile(converting)
    decode = compiled.tuple_decoder()
    assert decode is not None
    rows = [(1, 1, "2024-01-02T03:04:05+00:00"), (2, 0, "2024-02-03T04:05:06+00:00")]
    assert decode(rows) == compiled.decode_tuples(rows)
    assert decode(rows)[0][1] is True
    plain = QueryStatement(
        table=SchemaReference(name="customers"),
        only=[f("customers", "id"), f("customers", "name")],
    )
    assert QueryCompiler(SQLITE, SCHEMAS).compile(plain).tuple_decoder() is None
