"""Tables glue did not create: declared types read by SQLite's affinity rules,
constraints read from the pragmas (names and CHECKs from the CREATE statement's
tokens), and queries over them answered as the database would (#9)."""

from __future__ import annotations

import datetime as dt
import decimal
from typing import TYPE_CHECKING, Any

import pytest

from glue.connections import ConnectionManager, pool_from_url
from glue.query import (
    Condition,
    FieldLookup,
    FieldReference,
    OrderByQuery,
    QueryStatement,
    SchemaReference,
)
from glue.schema import ColumnType
from glue.services.reads import DataQueryService
from glue.services.schema import SchemaQueryService
from glue.sql.dialects import ConstraintInfo
from glue.sql.dialects.sqlite_catalog import column_type as sqlite_column_type
from glue.sql.dialects.sqlite_constraints import sqlite_constraints

if TYPE_CHECKING:
    from pathlib import Path

TEXT, INTEGER, DECIMAL = ColumnType.TEXT, ColumnType.INTEGER, ColumnType.DECIMAL


@pytest.mark.parametrize(
    ("declared", "expected"),
    [
        # glue's own names
        ("DECIMAL_TEXT", ColumnType.DECIMAL),
        ("BOOLEAN_INTEGER", ColumnType.BOOLEAN),
        ("DATETIME_TEXT", ColumnType.DATETIME),
        ("UUID_TEXT", ColumnType.UUID),
        ("JSON_TEXT", ColumnType.JSON),
        # rule 1: INT anywhere is INTEGER affinity
        ("INTEGER", INTEGER),
        ("bigint unsigned", INTEGER),
        ("INT(11)", INTEGER),
        ("tinyint(1)", INTEGER),
        ("UNSIGNED BIG INT", INTEGER),
        # rule 2: CHAR, CLOB, TEXT are TEXT
        ("varchar(255)", TEXT),
        ("CHARACTER VARYING(20)", TEXT),
        ("NCHAR(55)", TEXT),
        ("nvarchar", TEXT),
        ("clob", TEXT),
        ("text", TEXT),
        # rule 3: BLOB, or nothing at all
        ("BLOB", ColumnType.BYTES),
        ("", None),
        # rule 4: REAL, FLOA, DOUB
        ("REAL", ColumnType.FLOAT),
        ("double precision", ColumnType.FLOAT),
        ("FLOAT(8)", ColumnType.FLOAT),
        # rule 5: the rest is NUMERIC
        ("decimal(10,2)", DECIMAL),
        ("NUMERIC", DECIMAL),
        ("money", DECIMAL),
        # names that say more than their (NUMERIC) affinity
        ("BOOLEAN", ColumnType.BOOLEAN),
        ("bool", ColumnType.BOOLEAN),
        ("DATETIME", ColumnType.DATETIME),
        ("timestamp with time zone", ColumnType.DATETIME),
        ("date", ColumnType.DATE),
        ("uuid", ColumnType.UUID),
        ("json", ColumnType.JSON),
    ],
)
def test_sqlite_declared_types_follow_the_affinity_rules(
    declared: str, expected: ColumnType | None
) -> None:
    assert sqlite_column_type(declared) is expected


def test_constraint_clauses_are_read_from_tokens_not_text() -> None:
    sql = '''CREATE TABLE "odd ""name""" (
        -- a comment, with a comma and CHECK (x > 0)
        id INTEGER PRIMARY KEY,
        [label] TEXT DEFAULT 'CHECK (label > 0), UNIQUE' NOT NULL,
        `size` decimal(10, 2) CONSTRAINT size_positive CHECK ("size" > 0)
            CONSTRAINT size_once UNIQUE,
        owner INT REFERENCES owners /* (x) */ ON DELETE CASCADE,
        CONSTRAINT both_set CHECK (label <> 'size' AND size IS NOT NULL),
        UNIQUE (label COLLATE NOCASE, owner DESC),
        FOREIGN KEY (owner, size) REFERENCES "owner sizes" (id, size),
        CHECK (length(label) < 10)
    )'''
    columns = ["id", "label", "size", "owner"]
    clauses = sqlite_constraints(sql, columns)
    assert [(c.kind, c.name, c.columns, c.references) for c in clauses] == [
        ("check", "size_positive", ("size",), None),
        ("unique", "size_once", ("size",), None),
        ("foreign_key", None, ("owner",), "owners"),
        ("check", "both_set", ("label", "size"), None),
        ("unique", None, ("label", "owner"), None),
        ("foreign_key", None, ("owner", "size"), "owner sizes"),
        ("check", None, ("label",), None),
    ]
    assert sqlite_constraints("CREATE TABLE t AS SELECT 1 AS x", ["x"]) == []


# Written the way people write DDL by hand, valid on both databases.
PORTABLE = [
    """CREATE TABLE customers (
        id integer PRIMARY KEY,
        email varchar(255) NOT NULL UNIQUE,
        joined timestamp
    )""",
    """CREATE TABLE orders (
        id bigint NOT NULL,
        customer_id integer REFERENCES customers (id),
        amount decimal(10,2) CHECK (amount >= 0),
        status varchar(20) DEFAULT 'new'
            CONSTRAINT status_known CHECK (status IN ('new', 'paid', 'amount')),
        code char(3),
        ratio double precision,
        PRIMARY KEY (id),
        UNIQUE (customer_id, code),
        CHECK (amount < 1000000 OR status = 'paid')
    )""",
    "INSERT INTO customers VALUES (1, 'ada@example.org', '2024-01-02 03:04:05')",
    "INSERT INTO customers VALUES (2, 'bob@example.org', NULL)",
    "INSERT INTO orders VALUES (1, 1, 150.50, 'paid', 'A01', 0.5)",
    "INSERT INTO orders VALUES (2, 1, 99.99, 'new', 'A02', 0.25)",
    "INSERT INTO orders VALUES (3, 2, 100, 'new', 'B01', NULL)",
]


async def run(url: str, statements: list[str]) -> None:
    async with pool_from_url(url) as pool, pool.acquire(write=True) as conn:
        for sql in statements:
            await conn.execute(sql)


async def test_hand_written_tables_read_back_alike_on_both(database_url: str) -> None:
    await run(database_url, PORTABLE)
    async with pool_from_url(database_url) as pool:
        orders = await SchemaQueryService(pool).describe("orders")
        customers = await SchemaQueryService(pool).describe("customers")
    assert [(c.name, c.type, c.nullable) for c in orders.columns] == [
        ("id", INTEGER, False),
        ("customer_id", INTEGER, True),
        ("amount", DECIMAL, True),
        ("status", TEXT, True),
        ("code", TEXT, True),
        ("ratio", ColumnType.FLOAT, True),
    ]
    assert orders.column("status").default is not None
    assert "new" in (orders.column("status").default or "")
    assert orders.column("code").default is None
    assert orders.primary_key == ("id",)
    # Unnamed constraints get PostgreSQL's names, on SQLite too.
    assert orders.constraints == (
        ConstraintInfo(name="orders_amount_check", kind="check", columns=("amount",)),
        ConstraintInfo(name="orders_check", kind="check", columns=("amount", "status")),
        ConstraintInfo(
            name="orders_customer_id_code_key",
            kind="unique",
            columns=("customer_id", "code"),
        ),
        ConstraintInfo(
            name="orders_customer_id_fkey",
            kind="foreign_key",
            columns=("customer_id",),
            references="customers",
            referenced_columns=("id",),
        ),
        ConstraintInfo(name="status_known", kind="check", columns=("status",)),
    )
    assert customers.constraints == (
        ConstraintInfo(name="customers_email_key", kind="unique", columns=("email",)),
    )
    assert customers.column("joined").type is ColumnType.DATETIME
    assert orders.indexes == customers.indexes == ()


async def test_sqlite_tables_in_other_styles(sqlite_path: Path) -> None:
    url = f"sqlite:///{sqlite_path}"
    await run(
        url,
        [
            "CREATE TABLE `owners` (`id` int(11) NOT NULL, PRIMARY KEY (`id`))",
            """CREATE TABLE [pets] (
                [id] bigint unsigned NOT NULL PRIMARY KEY,
                [owner] int(11) NOT NULL REFERENCES [owners],
                [weight] decimal(5,1),
                [tags],
                [picture] blob,
                CONSTRAINT [heavy] CHECK ([weight] < 500),
                CONSTRAINT [one_name] UNIQUE ([owner], [tags])
            )""",
        ],
    )
    async with pool_from_url(url) as pool:
        pets = await SchemaQueryService(pool).describe("pets")
    assert [(c.name, c.type) for c in pets.columns] == [
        ("id", INTEGER),
        ("owner", INTEGER),
        ("weight", DECIMAL),
        ("tags", None),
        ("picture", ColumnType.BYTES),
    ]
    assert pets.constraints == (
        ConstraintInfo(name="heavy", kind="check", columns=("weight",)),
        ConstraintInfo(name="one_name", kind="unique", columns=("owner", "tags")),
        ConstraintInfo(
            name="pets_owner_fkey",
            kind="foreign_key",
            columns=("owner",),
            references="owners",
            referenced_columns=("id",),
        ),
    )


def f(name: str) -> FieldReference:
    return FieldReference.of("orders", name)


async def test_queries_over_hand_written_tables(database_url: str) -> None:
    """Nothing registered: the planner reads the tables, and compares constants
    the way the database's own types would."""
    await run(database_url, PORTABLE)
    manager = ConnectionManager()
    manager.register_connection_pool(pool_from_url(database_url))
    async with manager:
        service = DataQueryService(manager)

        async def ids(field: str, lookup: FieldLookup, value: Any) -> list[int]:
            statement = QueryStatement(
                table=SchemaReference(name="orders"),
                only=[f("id")],
                where=Condition(field=f(field), lookup=lookup, value=value),
                order_by=[OrderByQuery(field=f("id"))],
            )
            return [row["id"] for row in await service.execute(statement)]

        assert await ids("amount", FieldLookup.GT, 100) == [1]
        assert await ids("amount", FieldLookup.GTE, 100) == [1, 3]
        assert await ids("amount", FieldLookup.EQ, decimal.Decimal("99.99")) == [2]
        assert await ids("amount", FieldLookup.EQ, 100) == [3]
        assert await ids("id", FieldLookup.EQ, "2") == [2]
        assert await ids("code", FieldLookup.STARTSWITH, "A") == [1, 2]
        assert await ids("status", FieldLookup.IN, ["paid"]) == [1]
        assert await ids("ratio", FieldLookup.LT, 0.3) == [2]

        rows = await service.execute(
            QueryStatement(
                table=SchemaReference(name="orders"),
                only=[f("amount"), f("code")],
                order_by=[OrderByQuery(field=f("id"))],
            )
        )
        assert [row["amount"] for row in rows] == [
            decimal.Decimal("150.5"),
            decimal.Decimal("99.99"),
            decimal.Decimal("100"),
        ]
        customers = await service.execute(
            QueryStatement(table=SchemaReference(name="customers"))
        )
        assert customers[0]["joined"].replace(tzinfo=None) == dt.datetime(
            2024, 1, 2, 3, 4, 5
        )


async def test_numbers_compare_with_text_columns_as_their_text(
    database_url: str,
) -> None:
    """SQLite's TEXT affinity turns a number into its text; PostgreSQL would
    refuse to bind it: glue sends the text to both."""
    await run(
        database_url,
        [
            "CREATE TABLE codes (id integer PRIMARY KEY, code varchar(10))",
            "INSERT INTO codes VALUES (1, '100'), (2, '7'), (3, 'x')",
        ],
    )
    manager = ConnectionManager()
    manager.register_connection_pool(pool_from_url(database_url))
    async with manager:
        rows = await DataQueryService(manager).execute(
            QueryStatement(
                table=SchemaReference(name="codes"),
                only=[FieldReference.of("codes", "id")],
                where=Condition(
                    field=FieldReference.of("codes", "code"),
                    lookup=FieldLookup.IN,
                    value=[100, 7],
                ),
                order_by=[OrderByQuery(field=FieldReference.of("codes", "id"))],
            )
        )
    assert rows == [{"id": 1}, {"id": 2}]


async def test_values_that_do_not_parse_as_their_type_read_as_stored(
    sqlite_path: Path,
) -> None:
    url = f"sqlite:///{sqlite_path}"
    await run(
        url,
        [
            "CREATE TABLE events (id INTEGER PRIMARY KEY, at DATETIME, price NUMERIC,"
            " ref UUID, day DATE)",
            "INSERT INTO events VALUES (1, 'soon', 'n/a', 'nope', 'monday')",
            "INSERT INTO events VALUES (2, '2024-05-06T07:08:09+00:00', 12.5, "
            "'12345678-1234-5678-1234-567812345678', '2024-05-06')",
        ],
    )
    manager = ConnectionManager()
    manager.register_connection_pool(pool_from_url(url))
    async with manager:
        rows = await DataQueryService(manager).execute(
            QueryStatement(
                table=SchemaReference(name="events"),
                order_by=[OrderByQuery(field=FieldReference.of("events", "id"))],
            )
        )
    assert rows[0] == {"id": 1, "at": "soon", "price": "n/a", "ref": "nope",
                       "day": "monday"}  # fmt: skip
    assert rows[1]["at"] == dt.datetime(2024, 5, 6, 7, 8, 9, tzinfo=dt.UTC)
    assert rows[1]["price"] == decimal.Decimal("12.5")
    assert rows[1]["day"] == dt.date(2024, 5, 6)
