"""The AMSDAL Glue style end to end: global containers, services built on use."""

from __future__ import annotations

from typing import TYPE_CHECKING

import msgspec

from glue.connections import (
    AsyncConnectionManager,
    ConnectionManager,
    Container,
    DefaultConnectionPool,
    SqliteConnection,
    pool_from_url,
)
from glue.errors import QueryError
from glue.query import (
    Condition,
    Conditions,
    FieldLookup,
    FieldReference,
    QueryStatement,
    SchemaReference,
    Value,
)
from glue.schema import Column, ColumnType, Index, Schema, Unique
from glue.services import (
    AddConstraint,
    AddIndex,
    AddProperty,
    AsyncDataQueryService,
    AsyncSchemaCommandService,
    AsyncSchemaQueryService,
    DataQueryOperation,
    DeleteConstraint,
    DeleteIndex,
    DeleteProperty,
    DeleteSchema,
    RegisterSchema,
    SchemaCommand,
    SchemaCommandService,
    SchemaQueryOperation,
    SchemaQueryService,
    SchemaResult,
    init_default_containers,
)

if TYPE_CHECKING:
    from pathlib import Path


async def test_query_through_the_global_containers(sqlite_path: Path) -> None:
    init_default_containers()
    manager = Container.managers.get(ConnectionManager)
    manager.register_connection_pool(
        DefaultConnectionPool(SqliteConnection, db_path=str(sqlite_path))
    )
    async with manager:
        async with manager.get_connection_pool("default").acquire(write=True) as conn:
            await conn.execute("CREATE TABLE customers (id INTEGER PRIMARY KEY, name)")
            await conn.execute("INSERT INTO customers VALUES (1, 'Ann'), (2, 'Bob')")
        statement = QueryStatement(
            only=[FieldReference.of("customers", "name")],
            table=SchemaReference(name="customers"),
        )
        service = Container.services.get(AsyncDataQueryService)
        result = await service.execute(query_op=DataQueryOperation(query=statement))
    assert result.success, result.message
    assert result.data is not None
    assert sorted(d.data["name"] for d in result.data) == ["Ann", "Bob"]
    assert Container.services.get(AsyncDataQueryService) is service


async def test_a_failed_query_is_reported_not_raised(sqlite_path: Path) -> None:
    init_default_containers()
    manager = Container.managers.get(ConnectionManager)
    manager.register_connection_pool(
        DefaultConnectionPool(SqliteConnection, db_path=str(sqlite_path))
    )
    async with manager:
        statement = QueryStatement(table=SchemaReference(name="missing"))
        service = Container.services.get(AsyncDataQueryService)
        result = await service.execute(query_op=DataQueryOperation(query=statement))
    assert not result.success
    assert "missing" in (result.message or "")


# Schema services, the AMSDAL Glue way ------------------------------------------------

CUSTOMERS = Schema(
    name="customers",
    columns=(
        Column(name="id", type=ColumnType.INTEGER),
        Column(name="name", type=ColumnType.TEXT),
    ),
    primary_key=("id",),
)
SHIPPINGS = Schema(
    name="shippings",
    columns=(Column(name="id", type=ColumnType.INTEGER),),
    primary_key=("id",),
    versioned=False,
)


def seed_style(database_url: str, tmp_path: Path) -> ConnectionManager:
    """The seed page's snippets: the default database, and shippings in a file."""
    init_default_containers()
    manager = Container.managers.get(AsyncConnectionManager)
    manager.register_connection_pool(pool_from_url(database_url))
    shippings = f"sqlite:///{tmp_path / 'shippings.sqlite'}"
    manager.register_connection_pool(pool_from_url(shippings), schema_name="shippings")
    return manager


def names(result: SchemaResult) -> list[str]:
    assert result.success, result.message
    return [table.name for table in result.schemas or () if table is not None]


def by_name(name: str, lookup: FieldLookup = FieldLookup.EQ) -> Condition:
    return Condition(
        field=FieldReference.of("", "name"), lookup=lookup, value=Value(name)
    )


async def test_schema_services_from_the_container(
    database_url: str, tmp_path: Path
) -> None:
    manager = seed_style(database_url, tmp_path)
    async with manager:
        commands = Container.services.get(AsyncSchemaCommandService)
        result = await commands.execute(
            SchemaCommand(
                mutations=[
                    RegisterSchema(schema=CUSTOMERS),
                    RegisterSchema(schema=SHIPPINGS),
                ]
            )
        )
        assert result.success, result.message
        assert result.schemas == [CUSTOMERS, SHIPPINGS]
        queries = Container.services.get(AsyncSchemaQueryService)
        listed = await queries.execute(query_op=SchemaQueryOperation(filters=None))
        assert names(listed) == ["customers", "shippings"]
        # Each table was created in the database its name routes to.
        assert await SchemaQueryService(manager.get_connection_pool()).tables() == [
            "customers"
        ]
        # glue's own services, under the seed's sync names, on the default one.
        assert await Container.services.get(SchemaQueryService).tables() == [
            "customers"
        ]
        default = Container.services.get(SchemaCommandService)
        assert default.target is manager.get_connection_pool()


async def test_schema_queries_filter_by_name(database_url: str, tmp_path: Path) -> None:
    manager = seed_style(database_url, tmp_path)
    async with manager:
        await AsyncSchemaCommandService(manager).execute_async(
            SchemaCommand(
                mutations=[
                    RegisterSchema(schema=CUSTOMERS),
                    RegisterSchema(schema=SHIPPINGS),
                ]
            )
        )
        queries = Container.services.get(AsyncSchemaQueryService)
        cases: dict[Condition | Conditions, list[str]] = {
            by_name("shippings"): ["shippings"],
            ~by_name("shippings"): ["customers"],
            by_name("CUST", FieldLookup.ISTARTSWITH) | by_name("x"): ["customers"],
            Conditions(by_name("customers"), by_name("shippings")): [],
        }
        for filters, expected in cases.items():
            result = await queries.execute(SchemaQueryOperation(filters=filters))
            assert names(result) == expected, filters
        wrong = Condition(
            field=FieldReference.of("", "columns"),
            lookup=FieldLookup.EQ,
            value=Value(1),
        )
        result = await queries.execute(SchemaQueryOperation(filters=wrong))
        assert not result.success and isinstance(result.exception, QueryError)
        assert "filter on the table's name" in (result.message or "")


async def test_a_failed_schema_command_changes_nothing_on_its_database(
    database_url: str, tmp_path: Path
) -> None:
    manager = seed_style(database_url, tmp_path)
    async with manager:
        commands = Container.services.get(AsyncSchemaCommandService)
        result = await commands.execute(
            SchemaCommand(
                mutations=[
                    RegisterSchema(schema=CUSTOMERS),
                    AddIndex(
                        schema=CUSTOMERS,
                        index=Index(name="by_name", columns=("name",)),
                    ),
                    DeleteIndex(schema=CUSTOMERS, index_name="no_such_index"),
                ]
            )
        )
        assert not result.success
        assert "no index 'no_such_index'" in (result.message or "")
        assert await SchemaQueryService(manager.get_connection_pool()).tables() == []
        changed = await commands.execute(
            SchemaCommand(
                mutations=[
                    RegisterSchema(schema=CUSTOMERS),
                    AddProperty(
                        schema=CUSTOMERS,
                        property=Column(
                            name="note", type=ColumnType.TEXT, nullable=True
                        ),
                    ),
                    DeleteSchema(schema_reference=SchemaReference(name="customers")),
                ]
            )
        )
        assert changed.success, changed.message
        assert changed.schemas is not None and changed.schemas[2] is None
        assert [c.name for c in changed.schemas[1].columns] == ["id", "name", "note"]  # type: ignore[union-attr]
        assert await SchemaQueryService(manager.get_connection_pool()).tables() == []


def test_schema_commands_round_trip_through_json() -> None:
    command = SchemaCommand(
        mutations=[
            RegisterSchema(schema=CUSTOMERS),
            DeleteProperty(schema=CUSTOMERS, property_name="name"),
            AddConstraint(
                schema=CUSTOMERS, constraint=Unique(name="one_name", columns=("name",))
            ),
            DeleteConstraint(schema=CUSTOMERS, constraint_name="one_name"),
            DeleteSchema(schema_reference=SchemaReference(name="customers")),
        ]
    )
    encoded = msgspec.json.encode(command)
    assert msgspec.json.decode(encoded, type=SchemaCommand) == command
