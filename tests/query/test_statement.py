from __future__ import annotations

import msgspec

from glue.query import (
    AggregationQuery,
    AnnotationQuery,
    Condition,
    Conditions,
    Count,
    Field,
    FieldLookup,
    FieldReference,
    FieldReferenceAliased,
    FilterConnector,
    GroupByQuery,
    JoinQuery,
    JoinType,
    LimitQuery,
    OrderByQuery,
    OrderDirection,
    QueryStatement,
    SchemaReference,
    SetOperator,
    SubQueryStatement,
    Sum,
    Value,
    Version,
)


def ref(table: str, name: str) -> FieldReference:
    return FieldReference.of(table, name)


def big_statement() -> QueryStatement:
    paid = Condition(field=ref("o", "status"), value=Value("paid"))
    big = Condition(field=ref("o", "amount"), lookup=FieldLookup.GT, value=Value(10))
    vip = QueryStatement(
        only=[ref("vips", "customer_id")],
        table=SchemaReference(name="vips"),
    )
    return QueryStatement(
        only=[ref("c", "name").aliased("customer"), ref("o", "amount")],
        table=SchemaReference(name="customers", alias="c"),
        annotations=[
            AnnotationQuery(
                value=SubQueryStatement(
                    query=QueryStatement(
                        table=SchemaReference(name="books"),
                        aggregations=[
                            AggregationQuery(expression=Count(), alias="n"),
                        ],
                    ),
                    alias="books",
                )
            )
        ],
        joins=[
            JoinQuery(
                table=SchemaReference(name="orders", alias="o"),
                on=Conditions(
                    Condition(field=ref("o", "customer_id"), value=ref("c", "id"))
                ),
                join_type=JoinType.LEFT,
            )
        ],
        where=(paid & ~big)
        | Condition(
            field=ref("c", "id"),
            lookup=FieldLookup.IN,
            value=SubQueryStatement(query=vip),
        ),
        aggregations=[
            AggregationQuery(expression=Sum(field=ref("o", "amount")), alias="total")
        ],
        group_by=[GroupByQuery(field=ref("c", "name"))],
        having=Conditions(
            Condition(
                field=Count(field=ref("o", "id")),
                lookup=FieldLookup.GTE,
                value=Value(2),
            )
        ),
        order_by=[OrderByQuery(field=ref("c", "name"), direction=OrderDirection.DESC)],
        limit=LimitQuery(limit=5, offset=1),
        distinct=True,
    ).union(QueryStatement(table=SchemaReference(name="archive")))


def test_statement_round_trips_through_json() -> None:
    statement = big_statement()
    data = msgspec.json.encode(statement)
    assert msgspec.json.decode(data, type=QueryStatement) == statement


def test_statement_decodes_from_plain_json() -> None:
    raw = b"""{
      "table": {"type": "schema", "name": "people"},
      "only": [{"type": "aliased", "field": {"name": "name"},
                "table_name": "people", "alias": "who"}],
      "where": {"type": "conditions", "connector": "OR", "children": [
        {"type": "condition", "field": {"type": "field", "field": {"name": "age"}},
         "lookup": "gte", "value": {"type": "value", "value": 18}}
      ]}
    }"""
    statement = msgspec.json.decode(raw, type=QueryStatement)
    assert statement.table == SchemaReference(name="people", version=Version.LATEST)
    assert statement.only == (
        FieldReferenceAliased(
            field=Field(name="name"), table_name="people", alias="who"
        ),
    )
    assert statement.where is not None
    assert statement.where.connector is FilterConnector.OR
    assert statement.where.children == (
        Condition(
            field=FieldReference(field=Field(name="age")),
            lookup=FieldLookup.GTE,
            value=Value(18),
        ),
    )


def test_lists_are_stored_as_tuples_and_statements_hash() -> None:
    statement = QueryStatement(
        table=SchemaReference(name="t"), only=[ref("t", "a")], order_by=[]
    )
    assert statement.only == (ref("t", "a"),)
    assert statement.order_by == ()
    assert hash(statement) == hash(
        QueryStatement(table=SchemaReference(name="t"), only=(ref("t", "a"),))
    )


def test_combinators_build_nested_conditions() -> None:
    a = Condition(field=ref("t", "a"), value=Value(1))
    b = Condition(field=ref("t", "b"), value=Value(2))
    c = Condition(field=ref("u", "c"), value=Value(3))
    assert a & b == Conditions(a, b)
    assert (a & b) & c == Conditions(a, b, c)
    assert a | b == Conditions(a, b, connector=FilterConnector.OR)
    assert ~a == Conditions(a, negated=True)
    assert ~~Conditions(a) == Conditions(a)
    assert (a | b) & c == Conditions(Conditions(a, b, connector=FilterConnector.OR), c)
    assert ref("t", "a").lookup(FieldLookup.LT, Value(0)) == Condition(
        field=ref("t", "a"), lookup=FieldLookup.LT, value=Value(0)
    )


def test_conjuncts_split_plain_ands_only() -> None:
    a = Condition(field=ref("t", "a"), value=Value(1))
    b = Condition(field=ref("t", "b"), value=Value(2))
    c = Condition(field=ref("u", "c"), value=ref("t", "a"))
    assert Conditions(a, Conditions(b, c)).conjuncts() == (a, b, c)
    either = a | b
    assert Conditions(either, c).conjuncts() == (either, c)
    assert (~Conditions(a, b)).conjuncts() == (~Conditions(a, b),)
    assert Conditions(a, connector=FilterConnector.OR).conjuncts() == (a,)
    assert Conditions(a, c).tables() == frozenset({"t", "u"})
    assert [r.field.name for r in c.field_references()] == ["c", "a"]


def test_statement_walks_tables_subqueries_and_fields() -> None:
    statement = big_statement()
    assert [t.name for t in statement.tables()] == [
        "customers",
        "orders",
        "archive",
        "books",
        "vips",
    ]
    assert statement.table_names() == frozenset(
        {"customers", "orders", "archive", "books", "vips"}
    )
    assert [s.alias for s in statement.subqueries()] == ["books", ""]
    assert statement.set_operations[0].operator is SetOperator.UNION
    names = {(r.table_name, r.field.name) for r in statement.field_references()}
    assert ("o", "customer_id") in names
    assert ("o", "id") in names
    assert statement.sources()[1] == SchemaReference(name="orders", alias="o")


def test_fields_and_paths() -> None:
    field = Field.of("data.address.city")
    assert field.path == ("data", "address", "city")
    assert FieldReference(field=field, table_name="t").output_name == (
        "data__address__city"
    )
    assert ref("t", "a").aliased("x").output_name == "x"
    assert SchemaReference(name="t").ref_name == "t"
    assert SchemaReference(name="t", alias="u").ref_name == "u"
