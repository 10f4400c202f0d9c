"""`init_default_containers()`: the seed's global registries, services included.

::

    init_default_containers()
    manager = Container.managers.get(ConnectionManager)
    manager.register_connection_pool(pool)
    result = await Container.services.get(AsyncDataQueryService).execute(
        query_op=DataQueryOperation(query=statement)
    )

Every service is built on first use, over the container's `ConnectionManager`.
"""

from __future__ import annotations

from ..connections import containers
from ..connections.containers import Container
from ..connections.manager import ConnectionManager
from .reads import AsyncDataQueryService, DataQueryService
from .writes import (
    AsyncDataCommandService,
    AsyncLockCommandService,
    AsyncTransactionCommandService,
)

__all__ = ["init_default_containers"]


def _manager() -> ConnectionManager:
    return Container.managers.get(ConnectionManager)


def init_default_containers() -> None:
    """Register a fresh `ConnectionManager` and the data services in `Container`.

    ``Container.services`` then answers `AsyncDataQueryService` (and
    `DataQueryService`), `AsyncDataCommandService`, `AsyncTransactionCommandService`
    and `AsyncLockCommandService`, each built on first use. Call it again (between
    tests, say) to start over; close the previous manager first if its pools are
    open.
    """
    containers.init_default_containers()
    services = Container.services
    services.clear()
    services.register_factory(DataQueryService, lambda: DataQueryService(_manager()))
    services.register_factory(
        AsyncDataQueryService,
        lambda: AsyncDataQueryService(services.get(DataQueryService)),
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
