"""glue: an asyncio-first CQRS framework for services whose data lives in SQL."""

from __future__ import annotations

from .context.context import Context as Context
from .context.context import Metadata as Metadata
from .context.context import current_context as current_context
from .context.context import require_context as require_context
from .domain.app import App as App
from .domain.bus import Bus as Bus
from .domain.bus import Outcome as Outcome
from .domain.domain import Domain as Domain
from .domain.policy import Actor as Actor
from .entities.base import Command as Command
from .entities.base import Entity as Entity
from .entities.base import Event as Event
from .entities.base import Ok as Ok
from .entities.base import Response as Response
from .errors import CommitError as CommitError
from .errors import ConcurrencyConflict as ConcurrencyConflict
from .errors import ConfigurationError as ConfigurationError
from .errors import ConnectionError as ConnectionError
from .errors import ContextError as ContextError
from .errors import DatabaseError as DatabaseError
from .errors import FieldError as FieldError
from .errors import Forbidden as Forbidden
from .errors import GlueError as GlueError
from .errors import HandlerError as HandlerError
from .errors import IntegrityError as IntegrityError
from .errors import NotFound as NotFound
from .errors import OperationalError as OperationalError
from .errors import PoolClosed as PoolClosed
from .errors import PoolTimeout as PoolTimeout
from .errors import ProgrammingError as ProgrammingError
from .errors import QueryError as QueryError
from .errors import QueryTimeout as QueryTimeout
from .errors import RegistrationError as RegistrationError
from .errors import SchemaError as SchemaError
from .errors import SetupError as SetupError
from .errors import UnknownCommand as UnknownCommand
from .errors import UnknownService as UnknownService
from .errors import ValidationError as ValidationError
from .services.dal import Service as Service
from .state.manager import StateManager as StateManager
from .work.repository import Repository as Repository
from .work.retry import RetryPolicy as RetryPolicy
from .work.unit import UnitOfWork as UnitOfWork
from .work.unit import current_unit as current_unit

__version__ = "0.1.0.dev0"

__all__ = [
    "Actor",
    "App",
    "Bus",
    "Command",
    "CommitError",
    "ConcurrencyConflict",
    "ConfigurationError",
    "ConnectionError",
    "Context",
    "ContextError",
    "DatabaseError",
    "Domain",
    "Entity",
    "Event",
    "FieldError",
    "Forbidden",
    "GlueError",
    "HandlerError",
    "IntegrityError",
    "Metadata",
    "NotFound",
    "Ok",
    "OperationalError",
    "Outcome",
    "PoolClosed",
    "PoolTimeout",
    "ProgrammingError",
    "QueryError",
    "QueryTimeout",
    "RegistrationError",
    "Repository",
    "Response",
    "RetryPolicy",
    "SchemaError",
    "Service",
    "SetupError",
    "StateManager",
    "UnitOfWork",
    "UnknownCommand",
    "UnknownService",
    "ValidationError",
    "current_context",
    "current_unit",
    "require_context",
]

for _name in __all__:
    globals()[_name].__module__ = __name__
del _name
