from __future__ import annotations

import datetime as dt
import decimal
from typing import TYPE_CHECKING

import msgspec
import pytest

from glue.connections import (
    ConnectionManager,
    Container,
    init_default_containers,
    pool_from_url,
)
from glue.errors import IntegrityError, ProgrammingError, SchemaError
from glue.schema import Check, Column, ColumnType, ForeignKey, Index, Schema, Unique
from glue.services.schema import SchemaCommandService, SchemaQueryService
from glue.sql import ddl
from glue.sql.dialects import (
    POSTGRES,
    SQLITE,
    ColumnInfo,
    ConstraintInfo,
    IndexInfo,
)

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from glue.connections import DefaultConnectionPool

CUSTOMERS = Schema(
    name="customers",
    columns=(
        Column(name="id", type=ColumnType.INTEGER),
        Column(name="email", type=ColumnType.TEXT),
        Column(name="score", type=ColumnType.FLOAT, nullable=True),
    ),
    primary_key=("id",),
    constraints=(Unique(name="customers_email_key", columns=("email",)),),
)

ORDERS = Schema(
    name="orders",
    columns=tuple(
        Column(name=name, type=column_type, nullable=name == "note")
        for name, column_type in [
            ("id", ColumnType.INTEGER),
            ("customer_id", ColumnType.INTEGER),
            ("amount", ColumnType.DECIMAL),
            ("paid", ColumnType.BOOLEAN),
            ("placed", ColumnType.DATETIME),
            ("due", ColumnType.DATE),
            ("token", ColumnType.UUID),
            ("blob", ColumnType.BYTES),
            ("data", ColumnType.JSON),
            ("note", ColumnType.TEXT),
        ]
    ),
    primary_key=("id",),
    indexes=(Index(name="orders_by_customer", columns=("customer_id", "placed")),),
    constraints=(
        ForeignKey(
            name="orders_customer_fk",
            columns=("customer_id",),
            references="customers",
            referenced_columns=("id",),
        ),
        Check(name="orders_amount_positive", column="amount", op=">", value=0),
    ),
    audit=True,
)


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[DefaultConnectionPool]:
    async with pool_from_url(database_url, name="schema", max_size=3) as opened:
        yield opened


async def test_create_tables_and_read_them_back(pool: DefaultConnectionPool) -> None:
    commands = SchemaCommandService(pool)
    await commands.create_table(CUSTOMERS)
    await commands.create_table(ORDERS)
    queries = SchemaQueryService(pool)
    assert await queries.tables() == ["customers", "orders"]

    orders = await queries.describe("orders")
    assert [(c.name, c.type, c.nullable) for c in orders.columns] == [
        (c.name, c.type, c.nullable) for c in ORDERS.all_columns
    ]
    assert orders.primary_key == ("id",)
    assert orders.indexes == (
        IndexInfo(
            name="orders_by_customer", columns=("customer_id", "placed"), unique=False
        ),
    )
    assert orders.constraints == (
        ConstraintInfo(
            name="orders_amount_positive", kind="check", columns=("amount",)
        ),
        ConstraintInfo(
            name="orders_customer_fk",
            kind="foreign_key",
            columns=("customer_id",),
            references="customers",
            referenced_columns=("id",),
        ),
    )
    customers = await queries.describe("customers")
    assert customers.constraints == (
        ConstraintInfo(name="customers_email_key", kind="unique", columns=("email",)),
    )
    assert [t.name for t in await queries.describe_all()] == ["customers", "orders"]
    assert customers.column("score") == ColumnInfo(
        name="score",
        type=ColumnType.FLOAT,
        sql_type=customers.column("score").sql_type,
        nullable=True,
    )


async def test_sqlite_columns_keep_the_affinity_of_their_storage(
    sqlite_path: object,
) -> None:
    async with pool_from_url(f"sqlite:///{sqlite_path}") as pool:
        await SchemaCommandService(pool).create_table(CUSTOMERS)
        await SchemaCommandService(pool).create_table(ORDERS)
        async with pool.acquire(write=True) as conn:
            await conn.execute("INSERT INTO customers VALUES (1, 'a', NULL, 'e')")
            await conn.execute(
                "INSERT INTO orders VALUES (1, 1, '10.50', 1, "
                "'2024-01-01T00:00:00+00:00', '2024-01-02', 'u', x'00', '{}', NULL, "
                "'e', '2024-01-01', '2024-01-01', NULL, NULL)"
            )
            result = await conn.fetch(
                "SELECT typeof(amount), typeof(paid), typeof(placed), typeof(data) "
                "FROM orders"
            )
    # DECIMAL stays text ('10.50' keeps its zero), BOOLEAN an integer.
    assert result.rows == [("text", "integer", "text", "text")]


async def test_defaults_and_checks_are_literals_that_work(
    pool: DefaultConnectionPool,
) -> None:
    schema = Schema(
        name="things",
        columns=(
            Column(name="id", type=ColumnType.INTEGER),
            Column(name="label", type=ColumnType.TEXT, default="it's"),
            Column(
                name="price", type=ColumnType.DECIMAL, default=decimal.Decimal("2.50")
            ),
            Column(name="on", type=ColumnType.BOOLEAN, default=True),
            Column(
                name="at",
                type=ColumnType.DATETIME,
                default=dt.datetime(2024, 1, 1, tzinfo=dt.UTC),
            ),
        ),
        primary_key=("id",),
        constraints=(Check(name="price_cap", column="price", op="<", value=100),),
        versioned=False,
    )
    await SchemaCommandService(pool).create_table(schema)
    async with pool.acquire(write=True) as conn:
        await conn.execute("INSERT INTO things (id) VALUES (1)")
        rows = (await conn.fetch('SELECT label, price, "on", at FROM things')).rows
        with pytest.raises(IntegrityError):
            await conn.execute("INSERT INTO things (id, price) VALUES (2, 150)")
    label, price, on, at = rows[0]
    assert label == "it's"
    assert decimal.Decimal(str(price)) == decimal.Decimal("2.50")
    assert bool(on) is True
    assert str(at).startswith("2024-01-01")


async def test_alter_add_and_drop_columns_indexes_constraints(
    pool: DefaultConnectionPool,
) -> None:
    commands = SchemaCommandService(pool)
    queries = SchemaQueryService(pool)
    await commands.create_table(CUSTOMERS)
    async with pool.acquire(write=True) as conn:
        await conn.execute(
            "INSERT INTO customers (id, email, score, etag) VALUES (1, 'a@x', 1.5, 'e')"
        )

    schema = await commands.add_column(
        CUSTOMERS, Column(name="city", type=ColumnType.TEXT, nullable=True)
    )
    schema = await commands.add_index(
        schema, Index(name="customers_city", columns=("city",))
    )
    schema = await commands.add_constraint(
        schema, Check(name="score_positive", column="score", op=">=", value=0)
    )
    info = await queries.describe("customers")
    assert info.column("city").type is ColumnType.TEXT
    assert [i.name for i in info.indexes] == ["customers_city"]
    assert [c.name for c in info.constraints] == [
        "customers_email_key",
        "score_positive",
    ]

    # The data survived, and the new check holds.
    async with pool.acquire(write=True) as conn:
        rows = (await conn.fetch("SELECT id, email, score FROM customers")).rows
        assert rows == [(1, "a@x", 1.5)]
        with pytest.raises(IntegrityError):
            await conn.execute("UPDATE customers SET score = -1 WHERE id = 1")

    schema = await commands.drop_constraint(schema, "customers_email_key")
    schema = await commands.drop_index(schema, "customers_city")
    schema = await commands.drop_column(schema, "city")
    info = await queries.describe("customers")
    assert [c.name for c in info.columns] == ["id", "email", "score", "etag"]
    assert info.indexes == ()
    assert [c.name for c in info.constraints] == ["score_positive"]
    async with pool.acquire(write=True) as conn:
        # the unique constraint is gone: a duplicate email is now allowed
        await conn.execute(
            "INSERT INTO customers (id, email, score, etag) VALUES (2, 'a@x', 0, 'e')"
        )


async def test_alter_table_applies_a_diff_in_one_transaction(
    pool: DefaultConnectionPool,
) -> None:
    commands = SchemaCommandService(pool)
    await commands.create_table(CUSTOMERS)
    new = Schema(
        name="customers",
        columns=(
            Column(name="id", type=ColumnType.INTEGER),
            Column(name="email", type=ColumnType.TEXT),
            Column(name="tier", type=ColumnType.INTEGER, default=1),
        ),
        primary_key=("id",),
        indexes=(Index(name="customers_tier", columns=("tier",)),),
    )
    await commands.alter_table(CUSTOMERS, new)
    info = await SchemaQueryService(pool).describe("customers")
    assert [c.name for c in info.columns] == ["id", "email", "etag", "tier"]
    assert info.constraints == ()
    assert [i.name for i in info.indexes] == ["customers_tier"]


async def test_a_failed_command_changes_nothing(pool: DefaultConnectionPool) -> None:
    commands = SchemaCommandService(pool)
    await commands.create_table(CUSTOMERS)
    async with pool.acquire(write=True) as conn:
        await conn.execute(
            "INSERT INTO customers (id, email, score, etag) "
            "VALUES (1, 'a@x1', -1, 'e'), (2, 'a@x2', -1, 'e')"
        )
    with pytest.raises(IntegrityError):
        await commands.add_constraint(
            CUSTOMERS, Check(name="score_positive", column="score", op=">", value=0)
        )
    info = await SchemaQueryService(pool).describe("customers")
    assert [c.name for c in info.constraints] == ["customers_email_key"]
    async with pool.acquire() as conn:
        assert len((await conn.fetch("SELECT id FROM customers")).rows) == 2


async def test_drop_table(pool: DefaultConnectionPool) -> None:
    commands = SchemaCommandService(pool)
    await commands.create_table(CUSTOMERS)
    await commands.create_table(CUSTOMERS, if_not_exists=True)
    await commands.drop_table(CUSTOMERS)
    await commands.drop_table("customers", if_exists=True)
    assert await SchemaQueryService(pool).tables() == []
    with pytest.raises(SchemaError, match="no table 'customers'"):
        await SchemaQueryService(pool).describe("customers")
    with pytest.raises(ProgrammingError):
        await commands.drop_table("customers")


async def test_commands_on_a_connection(pool: DefaultConnectionPool) -> None:
    async with pool.acquire(write=True) as conn:
        await SchemaCommandService(conn).create_table(CUSTOMERS)
        assert await SchemaQueryService(conn).tables() == ["customers"]


def test_mistakes_are_refused_before_any_sql() -> None:
    with pytest.raises(SchemaError, match="NOT NULL"):
        ddl.add_column(SQLITE, CUSTOMERS, Column(name="x", type=ColumnType.TEXT))
    with pytest.raises(SchemaError, match="already has column"):
        ddl.add_column(SQLITE, CUSTOMERS, Column(name="email", type=ColumnType.TEXT))
    with pytest.raises(SchemaError, match="customers_email_key"):
        ddl.drop_column(POSTGRES, CUSTOMERS, "email")
    with pytest.raises(SchemaError, match="primary key"):
        ddl.drop_column(POSTGRES, CUSTOMERS, "id")
    with pytest.raises(SchemaError, match="not a valid name"):
        ddl.drop_table(SQLITE, 'x"; DROP TABLE customers; --')
    with pytest.raises(SchemaError, match="literal"):
        POSTGRES.literal(object())
    assert POSTGRES.literal("it's") == "'it''s'"
    assert SQLITE.literal(True) == "1"
    assert POSTGRES.literal(None) == "NULL"


def test_create_table_sql_is_quoted() -> None:
    statements = ddl.create_table(POSTGRES, ORDERS)
    assert statements[0].startswith('CREATE TABLE "orders" (\n    "id" BIGINT NOT NULL')
    assert 'CONSTRAINT "orders_amount_positive" CHECK ("amount" > 0)' in statements[0]
    assert statements[1] == (
        'CREATE INDEX "orders_by_customer" ON "orders" ("customer_id", "placed")'
    )
    sqlite = ddl.create_table(SQLITE, ORDERS)[0]
    assert '"placed" DATETIME_TEXT NOT NULL' in sqlite
    assert """CHECK (CAST("amount" AS REAL) > CAST('0' AS REAL))""" in sqlite


async def test_rename_a_table_keeping_rows_indexes_and_references(
    pool: DefaultConnectionPool,
) -> None:
    commands = SchemaCommandService(pool)
    await commands.create_table(CUSTOMERS)
    await commands.create_table(ORDERS)
    async with pool.acquire(write=True) as conn:
        await conn.execute(
            "INSERT INTO customers (id, email, score, etag) VALUES (1, 'a@x', 1.5, 'e')"
        )
    renamed = await commands.rename_table(CUSTOMERS, "clients")
    assert renamed == msgspec.structs.replace(CUSTOMERS, name="clients")
    queries = SchemaQueryService(pool)
    assert await queries.tables() == ["clients", "orders"]
    clients = await queries.describe("clients")
    assert [c.kind for c in clients.constraints] == ["unique"]
    orders = await queries.describe("orders")
    assert [c.references for c in orders.constraints if c.kind == "foreign_key"] == [
        "clients"
    ]
    assert [i.name for i in orders.indexes] == ["orders_by_customer"]
    async with pool.acquire() as conn:
        assert (await conn.fetch("SELECT id, email FROM clients")).rows == [(1, "a@x")]

    await commands.rename_table("orders", "purchases")
    assert await queries.tables() == ["clients", "purchases"]
    with pytest.raises(SchemaError, match="not a valid name"):
        await commands.rename_table("clients", 'x"; DROP TABLE clients; --')
    with pytest.raises(ProgrammingError):
        await commands.rename_table("nowhere", "somewhere")
    assert await queries.tables() == ["clients", "purchases"]


@pytest.mark.postgres
async def test_schema_services_on_a_manager_see_every_database(
    sqlite_path: object, postgres_dsn: str
) -> None:
    """Customers in SQLite (the default), orders in PostgreSQL: one service lists
    and describes both, naming each table's database, and commands route by
    table name."""
    manager = ConnectionManager()
    manager.register_connection_pool(pool_from_url(f"sqlite:///{sqlite_path}"))
    manager.register_connection_pool(pool_from_url(postgres_dsn), "orders")
    plain_orders = msgspec.structs.replace(ORDERS, constraints=(), indexes=())
    async with manager:
        commands = SchemaCommandService(manager)
        await commands.create_table(CUSTOMERS)
        await commands.create_table(plain_orders)
        queries = SchemaQueryService(manager)
        assert await queries.tables() == ["customers", "orders"]
        assert await queries.databases() == {
            "default": ["customers"],
            "orders": ["orders"],
        }
        described = await queries.describe_all()
        assert [(t.database, t.name) for t in described] == [
            ("default", "customers"),
            ("orders", "orders"),
        ]
        orders = await queries.describe("orders")
        assert orders.database == "orders"
        assert orders.column("placed").sql_type == "timestamp with time zone"

        # The seed's style: the manager of Container.managers, by default.
        init_default_containers()
        Container.managers.register(ConnectionManager, manager)
        assert await SchemaQueryService().databases() == await queries.databases()
        await SchemaCommandService().rename_table("customers", "clients")
        assert await queries.databases() == {
            "default": ["clients"],
            "orders": ["orders"],
        }
