"""`init_default_containers()`: the seed's global registries, services included.

::

    init_default_containers()
    manager = Container.managers.get(ConnectionManager)
    manager.register_connection_pool(pool)
    result = await Container.services.get(AsyncDataQueryService).execute(
        query_op=DataQueryOperation(query=statement)
    )
    tables = await Container.services.get(AsyncSchemaQueryService).execute(
        query_op=SchemaQueryOperation(filters=None)
    )

Every service is built on first use, over the container's `ConnectionManager`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..connections import containers
from ..connections.containers import Container
from ..connections.manager import ConnectionManager
from .reads import AsyncDataQueryService, DataQueryService
from .schema import SchemaCommandService, SchemaQueryService
from .schema_operations import AsyncSchemaCommandService, AsyncSchemaQueryService
from .writes import (
    AsyncDataCommandService,
    AsyncLockCommandService,
    AsyncTransactionCommandService,
)

if TYPE_CHECKING:
    from ..connections.abc import ConnectionPool

__all__ = ["init_default_containers"]


def _manager() -> ConnectionManager:
    return Container.managers.get(ConnectionManager)


def _default_pool() -> ConnectionPool:
    return _manager().get_connection_pool()


def init_default_containers() -> None:
    """Register a fresh `ConnectionManager` and the services in `Container`.

    ``Container.services`` then answers, each built on first use over the
    container's manager: `AsyncDataQueryService` (and `DataQueryService`),
    `AsyncSchemaQueryService` and `AsyncSchemaCommandService` (AMSDAL Glue's
    ``execute(...)`` shape, over every database), `SchemaQueryService` and
    `SchemaCommandService` (glue's own, on the default database),
    `AsyncDataCommandService`, `AsyncTransactionCommandService` and
    `AsyncLockCommandService`. Call it again (between tests, say) to start over;
    close the previous manager first if its pools are open.
    """
    containers.init_default_containers()
    services = Container.services
    services.clear()
    services.register_factory(DataQueryService, lambda: DataQueryService(_manager()))
    services.register_factory(
        AsyncDataQueryService,
        lambda: AsyncDataQueryService(services.get(DataQueryService)),
    )
    services.register_factory(AsyncSchemaQueryService, AsyncSchemaQueryService)
    services.register_factory(AsyncSchemaCommandService, AsyncSchemaCommandService)
    services.register_factory(
        SchemaQueryService, lambda: SchemaQueryService(_default_pool())
    )
    services.register_factory(
        SchemaCommandService, lambda: SchemaCommandService(_default_pool())
    )
    services.register_factory(
        AsyncDataCommandService, lambda: AsyncDataCommandService(_manager())
    )
    services.register_factory(
        AsyncTransactionCommandService, AsyncTransactionCommandService
    )
    services.register_factory(
        AsyncLockCommandService, lambda: AsyncLockCommandService(_manager())
    )
