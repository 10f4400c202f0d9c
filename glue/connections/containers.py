"""`Container` and `init_default_containers()`: the seed's global registries.

AMSDAL Glue code reaches the connection manager through a global container::

    init_default_containers()
    manager = Container.managers.get(ConnectionManager)
    manager.register_connection_pool(
        DefaultConnectionPool(SqliteConnection, db_path="customers.sqlite")
    )

glue keeps that style working. Apps never need it: ``App(..., databases=...)``
owns its own `ConnectionManager`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, TypeVar, cast

from ..errors import ConfigurationError
from .manager import ConnectionManager

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["Container", "Registry", "init_default_containers"]

_T = TypeVar("_T")


class Registry:
    """Instances keyed by the type they are asked for by.

    A factory registered with `register_factory` runs on the first `get`; its
    result is kept.
    """

    def __init__(self, kind: str) -> None:
        """Start empty.

        Args:
            kind: what the registry holds (``"managers"``), for messages.
        """
        self._kind = kind
        self._instances: dict[type[Any], Any] = {}
        self._factories: dict[type[Any], Callable[[], Any]] = {}

    def register(self, key: type[_T], instance: _T) -> None:
        """Register ``instance`` as what ``get(key)`` returns, replacing any other."""
        self._factories.pop(key, None)
        self._instances[key] = instance

    def register_factory(self, key: type[_T], factory: Callable[[], _T]) -> None:
        """Register a factory that builds what ``get(key)`` returns, on first use."""
        self._instances.pop(key, None)
        self._factories[key] = factory

    def get(self, key: type[_T]) -> _T:
        """Return what is registered for ``key``.

        Raises:
            glue.ConfigurationError: nothing is; call init_default_containers().
        """
        if key not in self._instances:
            factory = self._factories.get(key)
            if factory is None:
                raise ConfigurationError(
                    f"no {key.__name__} in Container.{self._kind}; call "
                    "init_default_containers() or register one"
                )
            # A factory that raises stays registered: the next get tries again.
            self._instances[key] = factory()
            del self._factories[key]
        return cast("_T", self._instances[key])

    def __contains__(self, key: object) -> bool:
        return key in self._instances or key in self._factories

    def clear(self) -> None:
        """Forget everything registered."""
        self._instances.clear()
        self._factories.clear()


class Container:
    """The seed's global registries: ``Container.managers`` and ``Container.services``.

    ``managers`` holds the `ConnectionManager`; ``services`` holds the query and
    command services that other parts of glue register.
    """

    managers: ClassVar[Registry] = Registry("managers")
    services: ClassVar[Registry] = Registry("services")


def init_default_containers() -> None:
    """Register a fresh `ConnectionManager` in ``Container.managers``.

    Call it again (between tests, say) to start over; the previous manager is
    not closed, so close it first if it has open pools.
    """
    Container.managers.clear()
    Container.managers.register(ConnectionManager, ConnectionManager())
