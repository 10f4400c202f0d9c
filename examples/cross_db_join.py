"""A query across two databases: customers in one SQLite file, orders in another.

glue routes each table to its database by name, reads from each only what the
query needs (the customers of one country first, then only their orders), joins
in memory, and returns what a single database would have returned.

Run: ``.venv/bin/python examples/cross_db_join.py``. Set ``GLUE_EXAMPLE_POSTGRES``
to a PostgreSQL URL to keep the orders there instead.
"""

from __future__ import annotations

import asyncio
import os
import random
import tempfile
from pathlib import Path

from glue.connections import ConnectionManager, pool_from_url
from glue.query import (
    AggregationQuery,
    Condition,
    Conditions,
    Count,
    FieldReference,
    GroupByQuery,
    JoinQuery,
    OrderByQuery,
    OrderDirection,
    QueryStatement,
    SchemaReference,
    Sum,
    Value,
)
from glue.schema import Column, ColumnType, Schema
from glue.services.reads import DataQueryService
from glue.services.schema import SchemaCommandService

CUSTOMERS = Schema(
    name="customers",
    columns=(
        Column(name="id", type=ColumnType.INTEGER),
        Column(name="name", type=ColumnType.TEXT),
        Column(name="country", type=ColumnType.TEXT),
    ),
    primary_key=("id",),
    versioned=False,
)
ORDERS = Schema(
    name="orders",
    columns=(
        Column(name="id", type=ColumnType.INTEGER),
        Column(name="customer_id", type=ColumnType.INTEGER),
        Column(name="amount", type=ColumnType.INTEGER),
        Column(name="status", type=ColumnType.TEXT),
    ),
    primary_key=("id",),
    versioned=False,
)


DESC = OrderDirection.DESC


def ref(table: str, name: str) -> FieldReference:
    return FieldReference.of(table, name)


async def create(url: str, schema: Schema, rows: list[dict[str, object]]) -> None:
    """Create a table and fill it, with glue's own schema and DML helpers."""
    async with pool_from_url(url) as pool:
        await SchemaCommandService(pool).create_table(schema)
        async with pool.acquire(write=True) as conn:
            await conn.batch(conn.dialect.insert(schema, rows))


async def main() -> None:
    rnd = random.Random(3)
    customers: list[dict[str, object]] = [
        {"id": n, "name": f"customer {n}", "country": rnd.choice(["NL", "DE", "FR"])}
        for n in range(1, 201)
    ]
    orders: list[dict[str, object]] = [
        {
            "id": n,
            "customer_id": rnd.randint(1, 200),
            "amount": rnd.randint(5, 500),
            "status": rnd.choice(["paid", "open"]),
        }
        for n in range(1, 2001)
    ]
    with tempfile.TemporaryDirectory() as tmp:
        customers_url = f"sqlite:///{Path(tmp) / 'customers.sqlite'}"
        orders_url = os.environ.get(
            "GLUE_EXAMPLE_POSTGRES", f"sqlite:///{Path(tmp) / 'orders.sqlite'}"
        )
        await create(customers_url, CUSTOMERS, customers)
        await create(orders_url, ORDERS, orders)

        manager = ConnectionManager()
        manager.register_connection_pool(pool_from_url(customers_url, name="crm"))
        manager.register_connection_pool(
            pool_from_url(orders_url, name="sales"), "orders"
        )
        service = DataQueryService(manager, [CUSTOMERS, ORDERS])
        join = JoinQuery(
            table=SchemaReference(name="orders", alias="o"),
            on=Conditions(
                Condition(field=ref("o", "customer_id"), value=ref("c", "id"))
            ),
        )
        paid_in_nl = Conditions(
            Condition(field=ref("c", "country"), value=Value("NL")),
            Condition(field=ref("o", "status"), value=Value("paid")),
        )
        names_and_amounts = QueryStatement(
            table=SchemaReference(name="customers", alias="c"),
            only=[ref("c", "name"), ref("o", "amount")],
            joins=[join],
            where=paid_in_nl,
            order_by=[
                OrderByQuery(field=ref("o", "amount"), direction=OrderDirection.DESC)
            ],
        )
        top_spenders = QueryStatement(
            table=SchemaReference(name="customers", alias="c"),
            only=[ref("c", "name")],
            joins=[join],
            where=paid_in_nl,
            aggregations=[
                AggregationQuery(expression=Count(), alias="orders"),
                AggregationQuery(
                    expression=Sum(field=ref("o", "amount")), alias="total"
                ),
            ],
            group_by=[GroupByQuery(field=ref("c", "name"))],
            order_by=[
                OrderByQuery(
                    field=FieldReference.of("", "total"), direction=OrderDirection.DESC
                )
            ],
        )
        async with manager:
            print("customers live in 'crm' (SQLite), orders in 'sales'\n")
            print("The plan for paid orders of customers in NL:")
            print(await service.explain(names_and_amounts))
            rows = await service.execute(names_and_amounts)
            print(f"\n{len(rows)} paid orders in NL; the largest three:")
            for row in rows[:3]:
                print(f"  {row['name']:<14} {row['amount']:>5}")
            print("\nTop spenders in NL (grouped and summed in memory):")
            for row in (await service.execute(top_spenders))[:3]:
                print(
                    f"  {row['name']:<14} {row['orders']:>3} orders {row['total']:>6}"
                )


if __name__ == "__main__":
    asyncio.run(main())
