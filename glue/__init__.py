"""glue: an asyncio-first CQRS framework for services whose data lives in SQL."""

from __future__ import annotations

from .errors import CommitError as CommitError
from .errors import ConcurrencyConflict as ConcurrencyConflict
from .errors import ConfigurationError as ConfigurationError
from .errors import ConnectionError as ConnectionError
from .errors import ContextError as ContextError
from .errors import DatabaseError as DatabaseError
from .errors import FieldError as FieldError
from .errors import Forbidden as Forbidden
from .errors import GlueError as GlueError
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
from .errors import ValidationError as ValidationError

__version__ = "0.1.0.dev0"

__all__ = [
    "CommitError",
    "ConcurrencyConflict",
    "ConfigurationError",
    "ConnectionError",
    "ContextError",
    "DatabaseError",
    "FieldError",
    "Forbidden",
    "GlueError",
    "IntegrityError",
    "NotFound",
    "OperationalError",
    "PoolClosed",
    "PoolTimeout",
    "ProgrammingError",
    "QueryError",
    "QueryTimeout",
    "RegistrationError",
    "SchemaError",
    "SetupError",
    "UnknownCommand",
    "ValidationError",
]

for _name in __all__:
    globals()[_name].__module__ = __name__
del _name
