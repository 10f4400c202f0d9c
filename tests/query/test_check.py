"""The statement checker: output columns and refusals without any SQL, and a
planner that checks once and compiles each SQL task once."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from glue.connections import ConnectionManager, pool_from_url
from glue.errors import QueryError
from glue.planning import QueryPlanner, SqlTask
from glue.query import (
    AggregationQuery,
    AnnotationQuery,
    Avg,
    Count,
    FieldReference,
    GroupByQuery,
    QueryStatement,
    SchemaReference,
    Value,
    ValueAnnotation,
)
from glue.query.check import OutputColumn, StatementChecker
from glue.schema import Column, ColumnType, Schema
from glue.sql import query as sql_query

if TYPE_CHECKING:
    from pathlib import Path

ORDERS = Schema(
    name="orders",
    columns=(
        Column(name="id", type=ColumnType.INTEGER),
        Column(name="customer", type=ColumnType.TEXT),
        Column(name="amount", type=ColumnType.DECIMAL),
        Column(name="data", type=ColumnType.JSON, nullable=True),
    ),
    primary_key=("id",),
    versioned=False,
)
CHECKER = StatementChecker({"orders": ORDERS})


def test_output_columns_are_named_and_typed_without_sql() -> None:
    statement = QueryStatement(
        table=SchemaReference(name="orders", alias="o"),
        only=[
            FieldReference.of("o", "customer").aliased("who"),
            FieldReference.of("o", "data.city"),
        ],
        annotations=[
            AnnotationQuery(value=ValueAnnotation(value=Value(1), alias="one"))
        ],
    )
    assert CHECKER.check(statement) == (
        OutputColumn("who", ColumnType.TEXT),
        OutputColumn("data__city", ColumnType.JSON),
        OutputColumn("one", ColumnType.INTEGER),
    )
    grouped = QueryStatement(
        table=SchemaReference(name="orders"),
        group_by=[GroupByQuery(field=FieldReference.of("orders", "customer"))],
        aggregations=[
            AggregationQuery(expression=Count(), alias="n"),
            AggregationQuery(
                expression=Avg(field=FieldReference.of("orders", "amount")),
                alias="mean",
            ),
        ],
    )
    assert CHECKER.check(grouped) == (
        OutputColumn("customer", ColumnType.TEXT),
        OutputColumn("n", ColumnType.INTEGER),
        OutputColumn("mean", ColumnType.FLOAT),
    )


@pytest.mark.parametrize(
    ("statement", "message"),
    [
        (
            QueryStatement(
                table=SchemaReference(name="orders"),
                only=[FieldReference.of("orders", "colour")],
            ),
            "select: table 'orders' has no field 'colour'",
        ),
        (
            QueryStatement(
                table=SchemaReference(name="orders"),
                only=[FieldReference.of("orders", "id")],
                group_by=[GroupByQuery(field=FieldReference.of("orders", "customer"))],
            ),
            "neither grouped nor aggregated",
        ),
        (
            QueryStatement(
                table=SchemaReference(name="orders"),
                only=[FieldReference.of("orders", "customer.city")],
            ),
            "is text, not json",
        ),
    ],
)
def test_what_a_database_would_refuse_is_named(
    statement: QueryStatement, message: str
) -> None:
    with pytest.raises(QueryError, match=message):
        CHECKER.check(statement)


async def test_a_single_database_statement_is_compiled_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[bool] = []
    compile_query = sql_query.QueryCompiler.compile

    def counting(
        self: sql_query.QueryCompiler, statement: QueryStatement, **options: Any
    ) -> sql_query.CompiledQuery:
        calls.append(options.get("checked", False))
        return compile_query(self, statement, **options)

    monkeypatch.setattr(sql_query.QueryCompiler, "compile", counting)
    manager = ConnectionManager()
    manager.register_connection_pool(pool_from_url(f"sqlite:///{tmp_path / 'a.db'}"))
    statement = QueryStatement(
        table=SchemaReference(name="orders"),
        only=[FieldReference.of("orders", "id")],
    )
    async with manager:
        plan = QueryPlanner(manager, {"orders": ORDERS}).plan(statement)
    assert isinstance(plan.root, SqlTask)
    assert plan.root.compiled is not None
    assert plan.columns == ("id",)
    assert calls == [True]  # checked once before, compiled once, for its database
