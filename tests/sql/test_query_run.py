"""Every construct of row Q01, run on SQLite and PostgreSQL over the same rows."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

import msgspec
import pytest

from glue.query import (
    AggregationQuery,
    AnnotationQuery,
    Avg,
    Condition,
    Conditions,
    Count,
    FieldLookup,
    FieldReference,
    GroupByQuery,
    JoinQuery,
    JoinType,
    LimitQuery,
    Max,
    Min,
    OrderByQuery,
    OrderDirection,
    QueryStatement,
    SchemaReference,
    SubQueryStatement,
    Sum,
    Value,
    ValueAnnotation,
)

if TYPE_CHECKING:
    from .shop import Both

ASC, DESC = OrderDirection.ASC, OrderDirection.DESC


def f(table: str, path: str) -> FieldReference:
    return FieldReference.of(table, path)


def cond(table: str, path: str, lookup: FieldLookup, value: Any) -> Condition:
    operand = (
        value if isinstance(value, FieldReference | SubQueryStatement) else Value(value)
    )
    return Condition(field=f(table, path), lookup=lookup, value=operand)


def names(where: Conditions | Condition) -> QueryStatement:
    """SELECT c.name FROM customers c WHERE ... ORDER BY c.id"""
    conditions = where if isinstance(where, Conditions) else Conditions(where)
    return QueryStatement(
        only=[f("c", "name")],
        table=SchemaReference(name="customers", alias="c"),
        where=conditions,
        order_by=[OrderByQuery(field=f("c", "id"))],
    )


L = FieldLookup
LOOKUPS: list[tuple[str, Condition | Conditions, list[str]]] = [
    ("eq", cond("c", "country", L.EQ, "NO"), ["Ann", "Dee"]),
    ("eq-none", cond("c", "country", L.EQ, None), ["Cid_%"]),
    ("neq", cond("c", "country", L.NEQ, "NO"), ["bob", "ann"]),
    ("neq-none", cond("c", "country", L.NEQ, None), ["Ann", "bob", "Dee", "ann"]),
    ("gt", cond("c", "id", L.GT, 3), ["Dee", "ann"]),
    ("gte", cond("c", "id", L.GTE, 4), ["Dee", "ann"]),
    ("lt", cond("c", "id", L.LT, 2), ["Ann"]),
    ("lte", cond("c", "id", L.LTE, 2), ["Ann", "bob"]),
    ("in", cond("c", "id", L.IN, [2, 4, 99]), ["bob", "Dee"]),
    ("in-empty", cond("c", "id", L.IN, []), []),
    ("not-in-empty", ~cond("c", "id", L.IN, []), ["Ann", "bob", "Cid_%", "Dee", "ann"]),
    ("contains", cond("c", "name", L.CONTAINS, "nn"), ["Ann", "ann"]),
    ("contains-case", cond("c", "name", L.CONTAINS, "A"), ["Ann"]),
    ("contains-percent", cond("c", "name", L.CONTAINS, "_%"), ["Cid_%"]),
    ("contains-underscore", cond("c", "name", L.CONTAINS, "d_"), ["Cid_%"]),
    ("contains-wildcard-free", cond("c", "name", L.CONTAINS, "%"), ["Cid_%"]),
    ("contains-glob", cond("c", "name", L.CONTAINS, "*"), []),
    ("icontains", cond("c", "name", L.ICONTAINS, "AN"), ["Ann", "ann"]),
    ("contains-on-integer", cond("c", "id", L.CONTAINS, "4"), ["Dee"]),
    ("startswith", cond("c", "name", L.STARTSWITH, "a"), ["ann"]),
    ("istartswith", cond("c", "name", L.ISTARTSWITH, "a"), ["Ann", "ann"]),
    ("endswith", cond("c", "name", L.ENDSWITH, "_%"), ["Cid_%"]),
    ("iendswith", cond("c", "name", L.IENDSWITH, "EE"), ["Dee"]),
    ("isnull", cond("c", "country", L.ISNULL, True), ["Cid_%"]),
    ("isnotnull", cond("c", "country", L.ISNULL, False), ["Ann", "bob", "Dee", "ann"]),
    ("regex", cond("c", "name", L.REGEX, "^[A-C]"), ["Ann", "Cid_%"]),
    ("iregex", cond("c", "name", L.IREGEX, "^a"), ["Ann", "ann"]),
    ("bool", cond("c", "vip", L.EQ, True), ["Ann", "Dee"]),
    (
        "datetime-from-json-text",
        cond("c", "joined", L.GTE, "2024-03-01T00:00:00+00:00"),
        ["Cid_%", "Dee", "ann"],
    ),
    (
        "datetime",
        cond("c", "joined", L.LT, dt.datetime(2024, 2, 1, tzinfo=dt.UTC)),
        ["Ann"],
    ),
    ("json-path-eq", cond("c", "data.city", L.EQ, "Lund"), ["bob"]),
    ("json-path-number", cond("c", "data.n", L.GTE, 2), ["bob", "Dee", "ann"]),
    ("json-path-in", cond("c", "data.n", L.IN, [1, 3]), ["Ann", "Dee"]),
    ("json-path-contains", cond("c", "data.city", L.CONTAINS, "e"), ["Dee"]),
    ("json-path-isnull", cond("c", "data.city", L.ISNULL, True), ["Cid_%"]),
    (
        "and-or-not",
        (cond("c", "country", L.EQ, "NO") | cond("c", "vip", L.EQ, False))
        & ~cond("c", "name", L.STARTSWITH, "D"),
        ["Ann", "bob", "Cid_%", "ann"],
    ),
    (
        "not-or",
        ~(cond("c", "id", L.LT, 2) | cond("c", "id", L.GT, 4)),
        ["bob", "Cid_%", "Dee"],
    ),
    (
        "injection-in-value",
        cond("c", "name", L.EQ, "'; DROP TABLE customers; --"),
        [],
    ),
    (
        "injection-in-pattern",
        cond("c", "name", L.CONTAINS, "' OR 1=1 --"),
        [],
    ),
]


@pytest.mark.parametrize(
    ("where", "expected"),
    [pytest.param(w, e, id=i) for i, w, e in LOOKUPS],
)
async def test_lookups(
    both: Both, where: Condition | Conditions, expected: list[str]
) -> None:
    rows = await both.rows(names(where), ordered=True)
    assert [r[0] for r in rows] == expected


async def test_injection_left_the_table_alone(both: Both) -> None:
    await both.rows(names(cond("c", "name", L.EQ, "x'); DROP TABLE orders; --")))
    count = QueryStatement(
        table=SchemaReference(name="orders"),
        aggregations=[AggregationQuery(expression=Count(), alias="n")],
    )
    assert await both.rows(count) == [(6,)]


def join(kind: JoinType) -> QueryStatement:
    return QueryStatement(
        only=[f("c", "name"), f("o", "id").aliased("order_id")],
        table=SchemaReference(name="customers", alias="c"),
        joins=[
            JoinQuery(
                table=SchemaReference(name="orders", alias="o"),
                on=Conditions(cond("o", "customer_id", L.EQ, f("c", "id"))),
                join_type=kind,
            )
        ],
    )


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        (JoinType.INNER, {("Ann", 1), ("Ann", 2), ("bob", 3), ("Dee", 6)}),
        (
            JoinType.LEFT,
            {
                ("Ann", 1),
                ("Ann", 2),
                ("bob", 3),
                ("Dee", 6),
                ("Cid_%", None),
                ("ann", None),
            },
        ),
        (
            JoinType.RIGHT,
            {("Ann", 1), ("Ann", 2), ("bob", 3), ("Dee", 6), (None, 4), (None, 5)},
        ),
        (
            JoinType.FULL,
            {
                ("Ann", 1),
                ("Ann", 2),
                ("bob", 3),
                ("Dee", 6),
                (None, 4),
                (None, 5),
                ("Cid_%", None),
                ("ann", None),
            },
        ),
    ],
)
async def test_joins(
    both: Both, kind: JoinType, expected: set[tuple[Any, ...]]
) -> None:
    rows = await both.rows(join(kind))
    assert set(rows) == expected
    assert len(rows) == len(expected)


async def test_select_everything_and_decode_types(both: Both) -> None:
    rows = await both.rows(
        QueryStatement(
            table=SchemaReference(name="customers"),
            where=Conditions(cond("customers", "id", L.EQ, 1)),
        )
    )
    assert rows == [
        (
            1,
            "Ann",
            "NO",
            {"city": "Oslo", "n": 1},
            True,
            dt.datetime(2024, 1, 1, tzinfo=dt.UTC),
        )
    ]


async def test_select_everything_of_a_join_prefixes_taken_names(both: Both) -> None:
    statement = msgspec.structs.replace(join(JoinType.INNER), only=None)
    sqlite = await both.run(both.pools[0], statement)
    assert len(sqlite[0]) == 11
    await both.rows(statement)


async def test_json_path_selected(both: Both) -> None:
    statement = QueryStatement(
        only=[f("c", "data.city"), f("c", "data.n").aliased("n")],
        table=SchemaReference(name="customers", alias="c"),
        order_by=[OrderByQuery(field=f("c", "id"))],
    )
    rows = await both.rows(statement, ordered=True)
    assert rows == [("Oslo", 1), ("Lund", 2), (None, None), ("Bergen", 3), ("Århus", 2)]


async def test_aggregations_group_by_having_order_by_alias(both: Both) -> None:
    statement = QueryStatement(
        only=[f("o", "status")],
        table=SchemaReference(name="orders", alias="o"),
        aggregations=[
            AggregationQuery(expression=Count(), alias="n"),
            AggregationQuery(expression=Sum(field=f("o", "qty")), alias="qty"),
            AggregationQuery(expression=Sum(field=f("o", "amount")), alias="total"),
            AggregationQuery(expression=Avg(field=f("o", "qty")), alias="mean_qty"),
            AggregationQuery(expression=Min(field=f("o", "amount")), alias="low"),
            AggregationQuery(expression=Max(field=f("o", "id")), alias="last"),
            AggregationQuery(
                expression=Count(field=f("o", "customer_id"), distinct=True),
                alias="customers",
            ),
        ],
        group_by=[GroupByQuery(field=f("o", "status"))],
        having=Conditions(
            Condition(field=Count(), lookup=L.GTE, value=Value(1)),
            Condition(field=Sum(field=f("o", "qty")), lookup=L.LT, value=Value(9)),
        ),
        order_by=[
            OrderByQuery(field=FieldReference.of("", "total"), direction=DESC),
        ],
    )
    rows = await both.rows(statement, ordered=True)
    assert rows == [
        ("paid", 3, 8, 19.75, 8 / 3, 2.5, 6, 3),
        ("open", 1, 2, 5.5, 2.0, 5.5, 2, 1),
        ("void", 1, 5, 3.0, 5.0, 3.0, 5, 1),
        ("PAID", 1, 1, 1.0, 1.0, 1.0, 4, 0),
    ]
    assert all(type(r[2]) is int and type(r[4]) is float for r in rows)


async def test_aggregates_without_grouping_and_over_no_rows(both: Both) -> None:
    statement = QueryStatement(
        table=SchemaReference(name="orders"),
        aggregations=[
            AggregationQuery(expression=Count(), alias="n"),
            AggregationQuery(expression=Sum(field=f("orders", "qty")), alias="qty"),
            AggregationQuery(expression=Avg(field=f("orders", "amount")), alias="avg"),
        ],
        where=Conditions(cond("orders", "qty", L.GT, 100)),
    )
    assert await both.rows(statement) == [(0, None, None)]


async def test_group_by_without_only_selects_the_groups(both: Both) -> None:
    statement = QueryStatement(
        table=SchemaReference(name="customers"),
        group_by=[GroupByQuery(field=f("customers", "vip"))],
        aggregations=[AggregationQuery(expression=Count(), alias="n")],
    )
    assert await both.rows(statement) == [(False, 3), (True, 2)]


async def test_group_by_json_path(both: Both) -> None:
    statement = QueryStatement(
        only=[f("c", "data.n")],
        table=SchemaReference(name="customers", alias="c"),
        group_by=[GroupByQuery(field=f("c", "data.n"))],
        aggregations=[AggregationQuery(expression=Count(), alias="k")],
        order_by=[OrderByQuery(field=f("c", "data.n"))],
    )
    rows = await both.rows(statement, ordered=True)
    assert rows == [(None, 1), (1, 1), (2, 2), (3, 1)]


async def test_distinct(both: Both) -> None:
    statement = QueryStatement(
        only=[f("o", "status")],
        table=SchemaReference(name="orders", alias="o"),
        distinct=True,
        order_by=[OrderByQuery(field=f("o", "status"))],
    )
    rows = await both.rows(statement, ordered=True)
    assert rows == [("PAID",), ("open",), ("paid",), ("void",)]


@pytest.mark.parametrize(
    ("direction", "expected"),
    [
        (ASC, [None, "DK", "NO", "NO", "SE"]),
        (DESC, ["SE", "NO", "NO", "DK", None]),
    ],
)
async def test_order_by_puts_nulls_first_ascending(
    both: Both, direction: OrderDirection, expected: list[str | None]
) -> None:
    statement = QueryStatement(
        only=[f("c", "country")],
        table=SchemaReference(name="customers", alias="c"),
        order_by=[OrderByQuery(field=f("c", "country"), direction=direction)],
    )
    rows = await both.rows(statement, ordered=True)
    assert [r[0] for r in rows] == expected


@pytest.mark.parametrize(
    ("limit", "expected"),
    [
        (LimitQuery(limit=2), [1, 2]),
        (LimitQuery(limit=2, offset=3), [4, 5]),
        (LimitQuery(offset=4), [5, 6]),
        (LimitQuery(limit=0), []),
    ],
)
async def test_limit_and_offset(
    both: Both, limit: LimitQuery, expected: list[int]
) -> None:
    statement = QueryStatement(
        only=[f("orders", "id")],
        table=SchemaReference(name="orders"),
        order_by=[OrderByQuery(field=f("orders", "id"))],
        limit=limit,
    )
    rows = await both.rows(statement, ordered=True)
    assert [r[0] for r in rows] == expected


async def test_subquery_as_table(both: Both) -> None:
    inner = QueryStatement(
        only=[f("orders", "customer_id"), f("orders", "amount").aliased("value")],
        table=SchemaReference(name="orders"),
        where=Conditions(cond("orders", "status", L.EQ, "paid")),
    )
    statement = QueryStatement(
        only=[f("p", "customer_id")],
        table=SubQueryStatement(query=inner, alias="p"),
        where=Conditions(cond("p", "value", L.GT, 5)),
    )
    assert await both.rows(statement) == [(1,), (2,)]


async def test_subquery_as_join_target(both: Both) -> None:
    totals = QueryStatement(
        only=[f("orders", "customer_id")],
        table=SchemaReference(name="orders"),
        aggregations=[
            AggregationQuery(expression=Sum(field=f("orders", "amount")), alias="total")
        ],
        group_by=[GroupByQuery(field=f("orders", "customer_id"))],
    )
    statement = QueryStatement(
        only=[f("c", "name"), f("t", "total")],
        table=SchemaReference(name="customers", alias="c"),
        joins=[
            JoinQuery(
                table=SubQueryStatement(query=totals, alias="t"),
                on=Conditions(cond("t", "customer_id", L.EQ, f("c", "id"))),
            )
        ],
    )
    assert await both.rows(statement) == [("Ann", 15.5), ("Dee", 2.5), ("bob", 7.25)]


async def test_subquery_as_in_value_with_its_own_filter(both: Both) -> None:
    paid = QueryStatement(
        only=[f("orders", "customer_id")],
        table=SchemaReference(name="orders"),
        where=Conditions(cond("orders", "status", L.EQ, "paid")),
    )
    statement = names(cond("c", "id", L.IN, SubQueryStatement(query=paid)))
    assert await both.rows(statement, ordered=True) == [("Ann",), ("bob",), ("Dee",)]
    negated = names(~cond("c", "id", L.IN, SubQueryStatement(query=paid)))
    assert await both.rows(negated, ordered=True) == [("Cid_%",), ("ann",)]


async def test_scalar_subqueries_compared_and_selected(both: Both) -> None:
    average = QueryStatement(
        table=SchemaReference(name="orders"),
        aggregations=[
            AggregationQuery(expression=Avg(field=f("orders", "amount")), alias="a")
        ],
    )
    over = QueryStatement(
        only=[f("o", "id")],
        table=SchemaReference(name="orders", alias="o"),
        where=Conditions(cond("o", "amount", L.GT, SubQueryStatement(query=average))),
    )
    assert await both.rows(over) == [(1,), (2,), (3,)]
    # A correlated scalar subquery, selected: each customer's order count.
    count = QueryStatement(
        table=SchemaReference(name="orders", alias="o"),
        aggregations=[AggregationQuery(expression=Count(), alias="n")],
        where=Conditions(cond("o", "customer_id", L.EQ, f("c", "id"))),
    )
    statement = QueryStatement(
        only=[f("c", "name")],
        table=SchemaReference(name="customers", alias="c"),
        annotations=[
            AnnotationQuery(value=SubQueryStatement(query=count, alias="orders")),
            AnnotationQuery(value=ValueAnnotation(value=Value(2024), alias="year")),
        ],
        order_by=[OrderByQuery(field=f("c", "id"))],
    )
    rows = await both.rows(statement, ordered=True)
    assert rows == [
        ("Ann", 2, 2024),
        ("bob", 1, 2024),
        ("Cid_%", 0, 2024),
        ("Dee", 1, 2024),
        ("ann", 0, 2024),
    ]


def statuses(*keep: str) -> QueryStatement:
    return QueryStatement(
        only=[f("orders", "status")],
        table=SchemaReference(name="orders"),
        where=Conditions(cond("orders", "status", L.IN, list(keep))),
    )


async def test_set_operations(both: Both) -> None:
    a, b = statuses("paid", "open"), statuses("paid", "void")
    assert await both.rows(a.union(b)) == [("open",), ("paid",), ("void",)]
    assert sorted(await both.rows(a.union_all(b))) == sorted(
        [("paid",)] * 6 + [("open",), ("void",)]
    )
    assert await both.rows(a.intersect(b)) == [("paid",)]
    assert await both.rows(a.except_(b)) == [("open",)]


async def test_set_operations_combine_left_to_right(both: Both) -> None:
    # (open | void) ∩ paid is empty; PostgreSQL's own precedence would give open.
    combined = statuses("open").union(statuses("void")).intersect(statuses("paid"))
    assert await both.rows(combined) == []
    combined = statuses("open").intersect(statuses("paid")).union(statuses("void"))
    assert await both.rows(combined) == [("void",)]


async def test_set_operation_with_order_limit_on_both_sides(both: Both) -> None:
    first = msgspec.structs.replace(
        statuses("paid", "open", "void"),
        order_by=[OrderByQuery(field=f("orders", "status"), direction=DESC)],
        limit=LimitQuery(limit=2),
    )
    combined = first.union(
        msgspec.structs.replace(statuses("PAID"), limit=LimitQuery(limit=1))
    )
    # The first statement's order and limit apply to the combined rows; the
    # second's to its own: {paid, open, void} | {PAID}, then the top two.
    assert await both.rows(combined, ordered=True) == [("void",), ("paid",)]
    # The outer order and limit apply to the combined rows.
    ordered = msgspec.structs.replace(
        statuses("open").union(statuses("void")).union(statuses("PAID")),
        order_by=[OrderByQuery(field=f("orders", "status"))],
        limit=LimitQuery(limit=2),
    )
    assert await both.rows(ordered, ordered=True) == [("PAID",), ("open",)]
