"""A small shop (customers, orders) and a way to run one statement on SQLite
and PostgreSQL holding it, asserting both return the same rows."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from glue.schema import Column, ColumnType, Schema
from glue.services.schema import SchemaCommandService
from glue.sql.query import QueryCompiler

if TYPE_CHECKING:
    from glue.connections import DefaultConnectionPool
    from glue.query import QueryStatement


def _columns(*spec: tuple[str, ColumnType, bool]) -> tuple[Column, ...]:
    return tuple(Column(name=n, type=t, nullable=null) for n, t, null in spec)


CUSTOMERS = Schema(
    name="customers",
    columns=_columns(
        ("id", ColumnType.INTEGER, False),
        ("name", ColumnType.TEXT, False),
        ("country", ColumnType.TEXT, True),
        ("data", ColumnType.JSON, True),
        ("vip", ColumnType.BOOLEAN, False),
        ("joined", ColumnType.DATETIME, False),
    ),
    primary_key=("id",),
    versioned=False,
)

ORDERS = Schema(
    name="orders",
    columns=_columns(
        ("id", ColumnType.INTEGER, False),
        ("customer_id", ColumnType.INTEGER, True),
        ("amount", ColumnType.FLOAT, False),
        ("qty", ColumnType.INTEGER, False),
        ("status", ColumnType.TEXT, False),
    ),
    primary_key=("id",),
    versioned=False,
)

SCHEMAS = {"customers": CUSTOMERS, "orders": ORDERS}


def _day(month: int) -> dt.datetime:
    return dt.datetime(2024, month, 1, tzinfo=dt.UTC)


CUSTOMER_ROWS: list[tuple[Any, ...]] = [
    (1, "Ann", "NO", {"city": "Oslo", "n": 1}, True, _day(1)),
    (2, "bob", "SE", {"city": "Lund", "n": 2}, False, _day(2)),
    (3, "Cid_%", None, None, False, _day(3)),
    (4, "Dee", "NO", {"city": "Bergen", "n": 3}, True, _day(4)),
    (5, "ann", "DK", {"city": "Århus", "n": 2}, False, _day(5)),
]

ORDER_ROWS: list[tuple[Any, ...]] = [
    (1, 1, 10.0, 1, "paid"),
    (2, 1, 5.5, 2, "open"),
    (3, 2, 7.25, 3, "paid"),
    (4, None, 1.0, 1, "PAID"),
    (5, 9, 3.0, 5, "void"),
    (6, 4, 2.5, 4, "paid"),
]


async def fill(pool: DefaultConnectionPool) -> None:
    commands = SchemaCommandService(pool)
    for schema, rows in ((CUSTOMERS, CUSTOMER_ROWS), (ORDERS, ORDER_ROWS)):
        await commands.create_table(schema)
        dialect = pool.dialect
        converters = [dialect.encoder(c.type) for c in schema.columns]
        marks = ", ".join(dialect.placeholder(i + 1) for i in range(len(rows[0])))
        table = dialect.quote(schema.name)
        sql = " ".join(("INSERT INTO", table, "VALUES", f"({marks})"))
        async with pool.acquire(write=True) as conn:
            await conn.execute_many(
                sql,
                [
                    [
                        None if v is None else f(v)
                        for f, v in zip(converters, row, strict=True)
                    ]
                    for row in rows
                ],
            )


class Both:
    """The same shop in SQLite and in PostgreSQL."""

    def __init__(self, sqlite: DefaultConnectionPool, postgres: DefaultConnectionPool):
        self.pools = (sqlite, postgres)

    async def run(self, pool: DefaultConnectionPool, statement: QueryStatement) -> Any:
        compiled = QueryCompiler(pool.dialect, SCHEMAS).compile(statement)
        async with pool.acquire() as conn:
            result = await conn.fetch(compiled.sql, compiled.params)
        assert list(result.columns) == [c.name for c in compiled.columns]
        return compiled.decode_rows(result.rows)

    async def rows(
        self, statement: QueryStatement, *, ordered: bool = False
    ) -> list[tuple[Any, ...]]:
        """Run on both; assert they agree; return the rows (sorted unless ordered)."""
        sqlite, postgres = [await self.run(pool, statement) for pool in self.pools]
        if not ordered:
            sqlite, postgres = sorted(sqlite, key=repr), sorted(postgres, key=repr)
        assert sqlite == postgres
        rows: list[tuple[Any, ...]] = sqlite
        return rows
