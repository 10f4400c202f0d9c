"""DISTINCT ON (``distinct=[field, ...]``): PostgreSQL's own, emulated on SQLite
with ROW_NUMBER(), the same rows on both; refused where nothing would decide the
row kept (#9)."""

from __future__ import annotations

import decimal
from typing import TYPE_CHECKING

import msgspec
import pytest

from glue.connections import pool_from_url
from glue.errors import QueryError
from glue.query import (
    AggregationQuery,
    Count,
    Field,
    FieldReference,
    GroupByQuery,
    LimitQuery,
    OrderByQuery,
    OrderDirection,
    QueryStatement,
    SchemaReference,
    SubQueryStatement,
)
from glue.schema import Column, ColumnType, Schema
from glue.services.schema import SchemaCommandService
from glue.sql.dialects import POSTGRES, SQLITE
from glue.sql.query import QueryCompiler, compile_query

from .shop import SCHEMAS

if TYPE_CHECKING:
    from .shop import Both

ASC, DESC = OrderDirection.ASC, OrderDirection.DESC


def f(table: str, path: str) -> FieldReference:
    return FieldReference.of(table, path)


def by(table: str, path: str, direction: OrderDirection = ASC) -> OrderByQuery:
    return OrderByQuery(field=f(table, path), direction=direction)


ORDERS = SchemaReference(name="orders", alias="o")


def latest_per_status(**changes: object) -> QueryStatement:
    """For each status, the order with the largest amount."""
    statement = QueryStatement(
        table=ORDERS,
        only=[f("o", "status"), f("o", "id"), f("o", "amount")],
        distinct=[f("o", "status")],
        order_by=[by("o", "status"), by("o", "amount", DESC), by("o", "id")],
    )
    return msgspec.structs.replace(statement, **changes)


async def test_first_row_of_each_group_by_order(both: Both) -> None:
    rows = await both.rows(latest_per_status(), ordered=True)
    assert rows == [
        ("PAID", 4, 1.0),
        ("open", 2, 5.5),
        ("paid", 1, 10.0),
        ("void", 5, 3.0),
    ]


async def test_order_by_desc_and_limit_apply_to_the_kept_rows(both: Both) -> None:
    statement = latest_per_status(
        order_by=[by("o", "status", DESC), by("o", "amount"), by("o", "id")],
        limit=LimitQuery(limit=2, offset=1),
    )
    assert await both.rows(statement, ordered=True) == [
        ("paid", 6, 2.5),
        ("open", 2, 5.5),
    ]


async def test_several_fields_not_selected_and_nulls_as_one_group(both: Both) -> None:
    statement = QueryStatement(
        table=ORDERS,
        only=[f("o", "id")],
        distinct=[f("o", "customer_id"), f("o", "qty")],
        order_by=[by("o", "qty"), by("o", "customer_id"), by("o", "id", DESC)],
    )
    rows = await both.rows(statement, ordered=True)
    assert rows == [(4,), (1,), (2,), (3,), (6,), (5,)]


async def test_ordered_by_a_selected_alias(both: Both) -> None:
    statement = QueryStatement(
        table=ORDERS,
        only=[f("o", "status").aliased("s"), f("o", "id")],
        distinct=[f("o", "status")],
        order_by=[
            OrderByQuery(field=FieldReference(field=Field(name="s"))),
            by("o", "id", DESC),
        ],
    )
    assert await both.rows(statement, ordered=True) == [
        ("PAID", 4),
        ("open", 2),
        ("paid", 6),
        ("void", 5),
    ]


async def test_grouped(both: Both) -> None:
    statement = QueryStatement(
        table=ORDERS,
        only=[f("o", "status"), f("o", "qty")],
        aggregations=[AggregationQuery(expression=Count(), alias="n")],
        group_by=[
            GroupByQuery(field=f("o", "status")),
            GroupByQuery(field=f("o", "qty")),
        ],
        distinct=[f("o", "status")],
        order_by=[by("o", "status"), by("o", "qty", DESC)],
    )
    assert await both.rows(statement, ordered=True) == [
        ("PAID", 1, 1),
        ("open", 2, 1),
        ("paid", 4, 1),
        ("void", 5, 1),
    ]


async def test_in_a_subquery_and_a_set_operation(both: Both) -> None:
    inner = latest_per_status()
    as_table = QueryStatement(
        table=SubQueryStatement(query=inner, alias="best"),
        only=[f("best", "id")],
        order_by=[by("best", "id")],
    )
    assert await both.rows(as_table, ordered=True) == [(1,), (2,), (4,), (5,)]
    branch = QueryStatement(table=ORDERS, only=[f("o", "id")]).except_(
        latest_per_status(only=[f("o", "id")])
    )
    assert await both.rows(branch) == [(3,), (6,)]


async def test_without_order_by_one_row_per_group(both: Both) -> None:
    statement = QueryStatement(
        table=ORDERS, only=[f("o", "status")], distinct=[f("o", "status")]
    )
    assert await both.rows(statement) == [("PAID",), ("open",), ("paid",), ("void",)]


def test_distinct_true_and_an_empty_list_are_not_distinct_on() -> None:
    assert QueryStatement(table=ORDERS, distinct=True).distinct_on == ()
    assert QueryStatement(table=ORDERS, distinct=[]).distinct is False
    for dialect in (SQLITE, POSTGRES):
        sql, _ = compile_query(latest_per_status(), dialect, SCHEMAS)
        assert "DISTINCT ON" in sql if dialect.distinct_on else "ROW_NUMBER()" in sql
        plain, _ = compile_query(
            QueryStatement(table=ORDERS, distinct=True), dialect, SCHEMAS
        )
        assert plain.startswith("SELECT DISTINCT ")
        assert "ROW_NUMBER" not in plain and "DISTINCT ON" not in plain


def test_a_statement_from_json_plans_the_same() -> None:
    statement = latest_per_status()
    decoded = msgspec.json.decode(msgspec.json.encode(statement), type=QueryStatement)
    assert decoded == statement
    assert decoded.distinct_on == (f("o", "status"),)


@pytest.mark.parametrize(
    ("statement", "match"),
    [
        pytest.param(
            latest_per_status(order_by=[by("o", "amount"), by("o", "status")]),
            r"distinct on \('status'\): order_by must begin with these fields",
            id="order-by-starts-elsewhere",
        ),
        pytest.param(
            QueryStatement(
                table=ORDERS,
                distinct=[f("o", "status"), f("o", "qty")],
                order_by=[by("o", "status")],
            ),
            r"order_by must begin with these fields",
            id="order-by-too-short",
        ),
        pytest.param(
            latest_per_status().union(latest_per_status()),
            r"distinct on: a statement with set operations sorts the combined rows",
            id="set-operations",
        ),
        pytest.param(
            QueryStatement(
                table=ORDERS,
                aggregations=[AggregationQuery(expression=Count(), alias="n")],
                group_by=[GroupByQuery(field=f("o", "qty"))],
                distinct=[f("o", "status")],
            ),
            r"distinct on \('status'\): 'status' is not grouped",
            id="not-grouped",
        ),
        pytest.param(
            latest_per_status(distinct=[f("o", "nope")]),
            r"distinct on \('nope'\): table 'orders' has no field 'nope'",
            id="unknown-field",
        ),
    ],
)
def test_what_decides_nothing_is_refused(statement: QueryStatement, match: str) -> None:
    for dialect in (SQLITE, POSTGRES):
        with pytest.raises(QueryError, match=match):
            QueryCompiler(dialect, SCHEMAS).compile(statement)


PRICES = Schema(
    name="prices",
    columns=(
        Column(name="id", type=ColumnType.INTEGER),
        Column(name="kind", type=ColumnType.TEXT),
        Column(name="price", type=ColumnType.DECIMAL),
    ),
    primary_key=("id",),
    versioned=False,
)


async def test_decimals_sort_as_numbers_by_alias_too(database_url: str) -> None:
    """SQLite keeps decimals as text; sorting by a selected decimal's alias (and
    choosing the row DISTINCT ON keeps) must still compare numbers."""
    rows = [
        {"id": 1, "kind": "a", "price": decimal.Decimal("9.5")},
        {"id": 2, "kind": "a", "price": decimal.Decimal("10.25")},
        {"id": 3, "kind": "b", "price": decimal.Decimal("100")},
        {"id": 4, "kind": "b", "price": decimal.Decimal("20")},
    ]
    async with pool_from_url(database_url) as pool:
        await SchemaCommandService(pool).create_table(PRICES)
        async with pool.acquire(write=True) as conn:
            await conn.batch(conn.dialect.insert(PRICES, rows))
            price = OrderByQuery(
                field=FieldReference(field=Field(name="price")), direction=DESC
            )
            plain = QueryStatement(
                table=SchemaReference(name="prices"),
                only=[f("prices", "id"), f("prices", "price")],
                order_by=[price],
            )
            distinct = msgspec.structs.replace(
                plain,
                only=[f("prices", "kind"), f("prices", "price")],
                distinct=[f("prices", "kind")],
                order_by=[by("prices", "kind"), price],
            )
            results = []
            for statement in (plain, distinct):
                compiled = QueryCompiler(conn.dialect, {"prices": PRICES}).compile(
                    statement
                )
                result = await conn.fetch(compiled.sql, compiled.params)
                results.append(compiled.decode_rows(result.rows))
    assert [row[0] for row in results[0]] == [3, 4, 2, 1]
    assert results[1] == [
        ("a", decimal.Decimal("10.25")),
        ("b", decimal.Decimal("100")),
    ]
