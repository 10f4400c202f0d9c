"""The AMSDAL Glue style end to end: global containers, services built on use."""

from __future__ import annotations

from typing import TYPE_CHECKING

from glue.connections import (
    ConnectionManager,
    Container,
    DefaultConnectionPool,
    SqliteConnection,
)
from glue.query import FieldReference, QueryStatement, SchemaReference
from glue.services import (
    AsyncDataQueryService,
    DataQueryOperation,
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
