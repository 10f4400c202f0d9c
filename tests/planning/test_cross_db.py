"""Q01-Q04: every construct of the query model gives the same rows whether the
tables live in one SQLite file, one PostgreSQL database, or split across SQLite
files and PostgreSQL."""

from __future__ import annotations

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
    FilterConnector,
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
)

if TYPE_CHECKING:
    from glue.services.reads import DataQueryService

pytestmark = pytest.mark.postgres


def f(table: str, name: str) -> FieldReference:
    return FieldReference.of(table, name)


def cond(table: str, name: str, lookup: FieldLookup, value: Any) -> Condition:
    kinds = FieldReference | SubQueryStatement
    operand = value if isinstance(value, kinds) else Value(value)
    return Condition(field=f(table, name), lookup=lookup, value=operand)


C = SchemaReference(name="customers", alias="c")
ORD = SchemaReference(name="orders", alias="o")
P = SchemaReference(name="products", alias="p")
ON_CO = Conditions(cond("o", "customer_id", FieldLookup.EQ, f("c", "id")))
ON_OP = Conditions(cond("o", "product_id", FieldLookup.EQ, f("p", "id")))
EQ = FieldLookup.EQ


def join(
    table: SchemaReference | SubQueryStatement,
    on: Conditions,
    join_type: JoinType = JoinType.INNER,
) -> JoinQuery:
    return JoinQuery(table=table, on=on, join_type=join_type)


def asc(table: str, name: str) -> OrderByQuery:
    return OrderByQuery(field=f(table, name))


def desc(table: str, name: str) -> OrderByQuery:
    return OrderByQuery(field=f(table, name), direction=OrderDirection.DESC)


def agg(alias: str, expression: Any) -> AggregationQuery:
    return AggregationQuery(expression=expression, alias=alias)


PAID_IDS = QueryStatement(
    table=SchemaReference(name="orders"),
    only=[f("orders", "customer_id")],
    where=Conditions(cond("orders", "status", EQ, "paid")),
)

CO_ONLY = [f("c", "id").aliased("cid"), f("c", "name"), f("o", "id").aliased("oid"),
           f("o", "amount"), f("o", "status")]  # fmt: skip

QUERIES: dict[str, QueryStatement] = {
    "select all": QueryStatement(table=SchemaReference(name="customers")),
    "aliases and filter": QueryStatement(
        table=C,
        only=[f("c", "name").aliased("who"), f("c", "age")],
        where=Conditions(cond("c", "age", FieldLookup.GT, 30)),
        order_by=[asc("c", "id")],
    ),
    "inner join, select all": QueryStatement(table=C, joins=[join(ORD, ON_CO)]),
    "inner join with filters on both sides": QueryStatement(
        table=C,
        only=[f("c", "name"), f("o", "amount")],
        joins=[join(ORD, ON_CO)],
        where=Conditions(
            cond("o", "status", EQ, "paid"), cond("c", "country", EQ, "nl")
        ),
    ),
    "selective side passes its keys": QueryStatement(
        table=C,
        only=CO_ONLY,
        joins=[join(ORD, ON_CO)],
        where=Conditions(cond("c", "id", FieldLookup.LTE, 4)),
    ),
    "key list too long falls back": QueryStatement(
        table=C,
        only=CO_ONLY,
        joins=[join(ORD, ON_CO)],
        where=Conditions(cond("c", "id", FieldLookup.LTE, 25)),
    ),
    "left join": QueryStatement(
        table=C, only=CO_ONLY, joins=[join(ORD, ON_CO, JoinType.LEFT)]
    ),
    "right join": QueryStatement(
        table=C, only=CO_ONLY, joins=[join(ORD, ON_CO, JoinType.RIGHT)]
    ),
    "full join": QueryStatement(
        table=C, only=CO_ONLY, joins=[join(ORD, ON_CO, JoinType.FULL)]
    ),
    "left join, filter in ON": QueryStatement(
        table=C,
        only=CO_ONLY,
        joins=[
            join(
                ORD,
                Conditions(
                    cond("o", "customer_id", EQ, f("c", "id")),
                    cond("o", "status", EQ, "paid"),
                ),
                JoinType.LEFT,
            )
        ],
    ),
    "left join, filter on the padded side in WHERE": QueryStatement(
        table=C,
        only=CO_ONLY,
        joins=[join(ORD, ON_CO, JoinType.LEFT)],
        where=Conditions(cond("o", "status", FieldLookup.ISNULL, True)),
    ),
    "right join, filter on the padded side": QueryStatement(
        table=C,
        only=CO_ONLY,
        joins=[join(ORD, ON_CO, JoinType.RIGHT)],
        where=Conditions(cond("c", "country", FieldLookup.NEQ, "nl")),
    ),
    "three tables": QueryStatement(
        table=C,
        only=[f("c", "name"), f("o", "amount"), f("p", "title"), f("p", "price")],
        joins=[join(ORD, ON_CO), join(P, ON_OP)],
        where=Conditions(cond("p", "price", FieldLookup.GT, 2)),
    ),
    "three tables, outer joins": QueryStatement(
        table=C,
        only=[f("c", "id"), f("o", "id").aliased("oid"), f("p", "title")],
        joins=[join(ORD, ON_CO, JoinType.LEFT), join(P, ON_OP, JoinType.LEFT)],
    ),
    "join on an inequality too": QueryStatement(
        table=C,
        only=CO_ONLY,
        joins=[
            join(
                ORD,
                Conditions(
                    cond("o", "customer_id", EQ, f("c", "id")),
                    cond("o", "amount", FieldLookup.GT, f("c", "age")),
                ),
            )
        ],
    ),
    "and / or / not across databases": QueryStatement(
        table=C,
        only=CO_ONLY,
        joins=[join(ORD, ON_CO)],
        where=Conditions(
            Conditions(
                cond("c", "country", EQ, "nl"),
                cond("o", "amount", FieldLookup.GT, 50),
                connector=FilterConnector.OR,
            ),
            Conditions(cond("o", "status", EQ, "void"), negated=True),
        ),
    ),
    "not of unknown stays unknown": QueryStatement(
        table=C,
        only=CO_ONLY,
        joins=[join(ORD, ON_CO, JoinType.LEFT)],
        where=Conditions(
            Conditions(cond("o", "amount", FieldLookup.GT, f("c", "age")), negated=True)
        ),
    ),
    "in with NULL, neq, comparisons": QueryStatement(
        table=C,
        only=CO_ONLY,
        joins=[join(ORD, ON_CO)],
        where=Conditions(
            Conditions(
                Conditions(
                    cond("o", "status", FieldLookup.IN, ["paid", None]), negated=True
                ),
                cond("c", "age", FieldLookup.GTE, 20),
                connector=FilterConnector.OR,
            ),
            cond("o", "amount", FieldLookup.LT, 90),
            cond("c", "name", FieldLookup.NEQ, "ann0"),
        ),
    ),
    "text lookups": QueryStatement(
        table=C,
        only=CO_ONLY,
        joins=[join(ORD, ON_CO)],
        where=Conditions(
            cond("c", "name", FieldLookup.CONTAINS, "o"),
            cond("c", "name", FieldLookup.ICONTAINS, "O"),
            cond("c", "name", FieldLookup.STARTSWITH, "b"),
            cond("c", "name", FieldLookup.ISTARTSWITH, "B"),
            cond("c", "name", FieldLookup.ENDSWITH, "1"),
            cond("c", "name", FieldLookup.IENDSWITH, "B1"),
            cond("o", "status", FieldLookup.CONTAINS, "a"),
            connector=FilterConnector.OR,
        ),
    ),
    "isnull and eq None": QueryStatement(
        table=C,
        only=CO_ONLY,
        joins=[join(ORD, ON_CO, JoinType.FULL)],
        where=Conditions(
            cond("c", "age", EQ, None),
            cond("o", "status", FieldLookup.ISNULL, False),
            cond("o", "amount", FieldLookup.NEQ, None),
        ),
    ),
    "aggregates grouped, having": QueryStatement(
        table=C,
        only=[f("c", "country")],
        joins=[join(ORD, ON_CO, JoinType.LEFT)],
        aggregations=[
            agg("n", Count()),
            agg("orders", Count(field=f("o", "id"))),
            agg("total", Sum(field=f("o", "amount"))),
            agg("mean", Avg(field=f("o", "amount"))),
            agg("low", Min(field=f("o", "amount"))),
            agg("high", Max(field=f("o", "status"))),
            agg("statuses", Count(field=f("o", "status"), distinct=True)),
        ],
        group_by=[GroupByQuery(field=f("c", "country"))],
        having=Conditions(
            Condition(field=Count(), lookup=FieldLookup.GT, value=Value(3))
        ),
    ),
    "having on an aggregate not selected": QueryStatement(
        table=ORD,
        only=[f("o", "status")],
        joins=[join(C, ON_CO)],
        aggregations=[agg("n", Count())],
        group_by=[GroupByQuery(field=f("o", "status"))],
        having=Conditions(
            Condition(
                field=Sum(field=f("c", "age")), lookup=FieldLookup.GT, value=Value(300)
            )
        ),
        order_by=[OrderByQuery(field=FieldReference.of("", "n"))],
    ),
    "aggregate over no rows": QueryStatement(
        table=C,
        joins=[join(ORD, ON_CO)],
        aggregations=[agg("n", Count()), agg("total", Sum(field=f("o", "amount")))],
        where=Conditions(cond("c", "age", FieldLookup.GT, 1000)),
    ),
    "group by without only": QueryStatement(
        table=ORD,
        joins=[join(P, ON_OP)],
        aggregations=[agg("mean", Avg(field=f("p", "price")))],
        group_by=[GroupByQuery(field=f("o", "status"))],
    ),
    "distinct": QueryStatement(
        table=C,
        only=[f("c", "country"), f("o", "status")],
        joins=[join(ORD, ON_CO)],
        distinct=True,
        order_by=[asc("c", "country"), desc("o", "status")],
    ),
    "order, limit and offset": QueryStatement(
        table=C,
        only=CO_ONLY,
        joins=[join(ORD, ON_CO, JoinType.LEFT)],
        order_by=[desc("o", "amount"), asc("c", "id"), asc("o", "id")],
        limit=LimitQuery(limit=7, offset=3),
    ),
    "subquery as a table": QueryStatement(
        table=SubQueryStatement(
            query=QueryStatement(
                table=SchemaReference(name="orders"),
                only=[f("orders", "customer_id")],
                aggregations=[agg("total", Sum(field=f("orders", "amount")))],
                group_by=[GroupByQuery(field=f("orders", "customer_id"))],
            ),
            alias="s",
        ),
        only=[f("s", "total"), f("c", "name")],
        joins=[join(C, Conditions(cond("s", "customer_id", EQ, f("c", "id"))))],
    ),
    "subquery as a join target": QueryStatement(
        table=C,
        only=[f("c", "id"), f("s", "n")],
        joins=[
            join(
                SubQueryStatement(
                    query=QueryStatement(
                        table=SchemaReference(name="orders"),
                        only=[f("orders", "customer_id")],
                        aggregations=[agg("n", Count())],
                        where=Conditions(cond("orders", "amount", FieldLookup.GT, 20)),
                        group_by=[GroupByQuery(field=f("orders", "customer_id"))],
                    ),
                    alias="s",
                ),
                Conditions(cond("s", "customer_id", EQ, f("c", "id"))),
                JoinType.LEFT,
            )
        ],
    ),
    "in subquery": QueryStatement(
        table=C,
        only=[f("c", "id"), f("c", "name")],
        where=Conditions(
            cond("c", "id", FieldLookup.IN, SubQueryStatement(query=PAID_IDS))
        ),
    ),
    "not in subquery with NULLs": QueryStatement(
        table=C,
        only=[f("c", "id")],
        where=Conditions(
            cond("c", "id", FieldLookup.IN, SubQueryStatement(query=PAID_IDS)),
            negated=True,
        ),
    ),
    "scalar subquery": QueryStatement(
        table=C,
        only=[f("c", "id"), f("c", "age")],
        where=Conditions(
            cond(
                "c",
                "age",
                FieldLookup.GT,
                SubQueryStatement(
                    query=QueryStatement(
                        table=SchemaReference(name="orders"),
                        aggregations=[agg("m", Avg(field=f("orders", "amount")))],
                    )
                ),
            )
        ),
    ),
    "scalar subquery selected": QueryStatement(
        table=C,
        only=[f("c", "id")],
        annotations=[
            AnnotationQuery(
                value=SubQueryStatement(
                    query=QueryStatement(
                        table=SchemaReference(name="products"),
                        aggregations=[agg("m", Max(field=f("products", "price")))],
                    ),
                    alias="top_price",
                )
            )
        ],
        where=Conditions(cond("c", "id", FieldLookup.LT, 5)),
    ),
    "filters inside a subquery": QueryStatement(
        table=P,
        only=[f("p", "title")],
        where=Conditions(
            cond(
                "p",
                "id",
                FieldLookup.IN,
                SubQueryStatement(
                    query=QueryStatement(
                        table=ORD,
                        only=[f("o", "product_id")],
                        joins=[join(C, ON_CO)],
                        where=Conditions(
                            cond("c", "country", EQ, "de"),
                            Conditions(cond("o", "status", EQ, "void"), negated=True),
                        ),
                    )
                ),
            )
        ),
    ),
}

# DISTINCT ON: each order_by decides the kept row (ids break every tie).
QUERIES |= {
    "distinct on: each customer's biggest order": QueryStatement(
        table=C,
        only=[f("c", "name"), f("o", "id").aliased("oid"), f("o", "amount")],
        joins=[join(ORD, ON_CO)],
        distinct=[f("c", "id")],
        order_by=[asc("c", "id"), desc("o", "amount"), asc("o", "id")],
    ),
    "distinct on, keys not selected, outer join, limited": QueryStatement(
        table=C,
        only=[f("o", "id").aliased("oid"), f("o", "status")],
        joins=[join(ORD, ON_CO, JoinType.LEFT)],
        distinct=[f("c", "country"), f("o", "status")],
        order_by=[
            desc("o", "status"),
            asc("c", "country"),
            asc("o", "amount"),
            desc("c", "id"),
            asc("o", "id"),
        ],
        limit=LimitQuery(limit=6, offset=2),
    ),
    "distinct on, ordered by the alias of a selected field": QueryStatement(
        table=ORD,
        only=[f("o", "customer_id").aliased("who"), f("o", "id"), f("p", "title")],
        joins=[join(P, ON_OP)],
        where=Conditions(cond("o", "customer_id", FieldLookup.ISNULL, False)),
        distinct=[f("o", "customer_id")],
        order_by=[asc("", "who"), desc("p", "price"), asc("o", "id")],
        limit=LimitQuery(limit=100),
    ),
    "distinct on a grouped field": QueryStatement(
        table=C,
        only=[f("c", "country"), f("o", "status")],
        joins=[join(ORD, ON_CO)],
        aggregations=[agg("n", Count())],
        group_by=[
            GroupByQuery(field=f("c", "country")),
            GroupByQuery(field=f("o", "status")),
        ],
        distinct=[f("c", "country")],
        order_by=[asc("c", "country"), desc("", "n"), asc("o", "status")],
        limit=LimitQuery(limit=100),
    ),
}

_IDS_C = QueryStatement(
    table=SchemaReference(name="customers"), only=[f("customers", "id")]
)
_IDS_O = QueryStatement(
    table=SchemaReference(name="orders"),
    only=[f("orders", "customer_id").aliased("id")],
)
QUERIES |= {
    "union": _IDS_C.union(_IDS_O),
    "union all": _IDS_C.union_all(_IDS_O),
    "intersect": _IDS_C.intersect(_IDS_O),
    "except": _IDS_O.except_(_IDS_C),
    "set operations left to right, ordered and limited": msgspec.structs.replace(
        _IDS_C.except_(_IDS_O).union(
            QueryStatement(
                table=SchemaReference(name="products"), only=[f("products", "id")]
            )
        ),
        order_by=[desc("", "id")],
        limit=LimitQuery(limit=5, offset=1),
    ),
}


def normal(rows: list[dict[str, Any]], ordered: bool) -> list[tuple[Any, ...]]:
    """Rows as tuples, floats rounded; sorted unless the query orders them."""
    out = [
        tuple(round(v, 9) if isinstance(v, float) else v for v in row.values())
        for row in rows
    ]
    return out if ordered else sorted(out, key=repr)


def is_ordered(statement: QueryStatement) -> bool:
    return bool(statement.order_by) and statement.limit is not None


@pytest.mark.parametrize("name", list(QUERIES))
async def test_same_rows_everywhere(
    name: str, worlds: dict[str, DataQueryService]
) -> None:
    statement = QUERIES[name]
    ordered = is_ordered(statement)
    results = {
        layout: normal(await service.execute(statement), ordered)
        for layout, service in worlds.items()
    }
    assert results["sqlite"] == results["postgres"]
    assert results["mixed"] == results["sqlite"]
    assert results["sqlite-split"] == results["sqlite"]
    # NOT IN a list holding NULL is never true: SQL returns nothing.
    assert bool(results["sqlite"]) is (name != "not in subquery with NULLs")


async def test_set_operations_combine_left_to_right(
    worlds: dict[str, DataQueryService],
) -> None:
    """(ids <= 5 UNION ids <= 10) INTERSECT ids <= 3, as the model documents,
    on every layout (PostgreSQL alone binds INTERSECT tighter)."""

    def ids(bound: int) -> QueryStatement:
        return QueryStatement(
            table=SchemaReference(name="customers"),
            only=[f("customers", "id")],
            where=Conditions(cond("customers", "id", FieldLookup.LTE, bound)),
        )

    statement = QueryStatement(
        table=SchemaReference(name="orders"),
        only=[f("orders", "id")],
        where=Conditions(cond("orders", "id", FieldLookup.LTE, 5)),
    )
    statement = statement.union(ids(10)).intersect(ids(3))
    for layout in worlds:
        rows = await worlds[layout].execute(statement)
        assert sorted(row["id"] for row in rows) == [1, 2, 3], layout
