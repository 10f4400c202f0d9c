"""glue: an asyncio-first CQRS framework for services whose data lives in SQL.

Here is the CQRS core: domains and the App that serves them, commands, events
and responses, the bus and the context, tables, mutations, units of work,
repositories, services and the errors. Each part's own package holds the rest:
``glue.query`` the query model, ``glue.planning`` the planner,
``glue.connections`` connections and pools, and ``glue.compat`` the names of
AMSDAL Glue (containers, ``Async*`` aliases, the data, schema, transaction and
lock services).
"""

from __future__ import annotations

import importlib as _importlib
import warnings as _warnings
from typing import Any as _Any

import msgspec as _msgspec

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
from .errors import CommitInDoubt as CommitInDoubt
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
from .errors import LockConflict as LockConflict
from .errors import NotFound as NotFound
from .errors import OperationalError as OperationalError
from .errors import PoolClosed as PoolClosed
from .errors import PoolTimeout as PoolTimeout
from .errors import PreconditionRequired as PreconditionRequired
from .errors import ProgrammingError as ProgrammingError
from .errors import QueryError as QueryError
from .errors import QueryTimeout as QueryTimeout
from .errors import RegistrationError as RegistrationError
from .errors import RenderError as RenderError
from .errors import SchemaError as SchemaError
from .errors import SetupError as SetupError
from .errors import StaleEtag as StaleEtag
from .errors import Unauthenticated as Unauthenticated
from .errors import UnknownCommand as UnknownCommand
from .errors import UnknownService as UnknownService
from .errors import UnsupportedMediaType as UnsupportedMediaType
from .errors import ValidationError as ValidationError
from .ids import IdAllocator as IdAllocator
from .ids import Ids as Ids
from .ids import new_id as new_id
from .query import Condition as Condition
from .query import Conditions as Conditions
from .query import FieldLookup as FieldLookup
from .query import FieldReference as FieldReference
from .query import QueryStatement as QueryStatement
from .query import SchemaReference as SchemaReference
from .schema import Check as Check
from .schema import Column as Column
from .schema import ColumnType as ColumnType
from .schema import ForeignKey as ForeignKey
from .schema import Index as Index
from .schema import Schema as Schema
from .schema import Unique as Unique
from .services.dal import Dal as Dal
from .services.dal import Service as Service
from .services.dal import Services as Services
from .state import Delete as Delete
from .state import Insert as Insert
from .state import Mutation as Mutation
from .state import Update as Update
from .state import Upsert as Upsert
from .state.manager import StateManager as StateManager
from .work import Transaction as Transaction
from .work import run_with_retry as run_with_retry
from .work.repository import Repository as Repository
from .work.retry import RetryPolicy as RetryPolicy
from .work.unit import UnitOfWork as UnitOfWork
from .work.unit import current_unit as current_unit

__version__ = "0.1.0.dev0"

__all__ = [
    "Actor",
    "App",
    "Bus",
    "Check",
    "Column",
    "ColumnType",
    "Command",
    "CommitError",
    "CommitInDoubt",
    "ConcurrencyConflict",
    "Condition",
    "Conditions",
    "ConfigurationError",
    "ConnectionError",
    "Context",
    "ContextError",
    "Dal",
    "DatabaseError",
    "Delete",
    "Domain",
    "Entity",
    "Event",
    "FieldError",
    "FieldLookup",
    "FieldReference",
    "Forbidden",
    "ForeignKey",
    "GlueError",
    "HandlerError",
    "IdAllocator",
    "Ids",
    "Index",
    "Insert",
    "IntegrityError",
    "LockConflict",
    "Metadata",
    "Mutation",
    "NotFound",
    "Ok",
    "OperationalError",
    "Outcome",
    "PoolClosed",
    "PoolTimeout",
    "PreconditionRequired",
    "ProgrammingError",
    "QueryError",
    "QueryStatement",
    "QueryTimeout",
    "RegistrationError",
    "RenderError",
    "Repository",
    "Response",
    "RetryPolicy",
    "Schema",
    "SchemaError",
    "SchemaReference",
    "Service",
    "Services",
    "SetupError",
    "StaleEtag",
    "StateManager",
    "Transaction",
    "Unauthenticated",
    "Unique",
    "UnitOfWork",
    "UnknownCommand",
    "UnknownService",
    "UnsupportedMediaType",
    "Update",
    "Upsert",
    "ValidationError",
    "current_context",
    "current_unit",
    "new_id",
    "require_context",
    "run_with_retry",
]


# Names glue exported before its core was narrowed: they still import from here,
# with a DeprecationWarning naming their home.
_MOVED = {
    "AggregationQuery": "glue.query",
    "AnnotationQuery": "glue.query",
    "AsyncConnectionManager": "glue.compat",
    "AsyncDataCommandService": "glue.compat",
    "AsyncDataQueryService": "glue.compat",
    "AsyncLockCommandService": "glue.compat",
    "AsyncPostgresConnection": "glue.compat",
    "AsyncSchemaCommandService": "glue.compat",
    "AsyncSchemaQueryService": "glue.compat",
    "AsyncSqliteConnection": "glue.compat",
    "AsyncTransactionCommandService": "glue.compat",
    "Avg": "glue.query",
    "ChainTask": "glue.planning",
    "Connection": "glue.connections",
    "ConnectionManager": "glue.connections",
    "ConnectionPool": "glue.connections",
    "Container": "glue.compat",
    "Count": "glue.query",
    "Data": "glue.compat",
    "DataCommandService": "glue.compat",
    "DataQueryOperation": "glue.compat",
    "DataQueryService": "glue.compat",
    "DataResult": "glue.compat",
    "DefaultAsyncConnectionPool": "glue.compat",
    "DefaultConnectionPool": "glue.connections",
    "DeferredCall": "glue.services.dal",
    "Field": "glue.query",
    "FieldReferenceAliased": "glue.query",
    "FilterConnector": "glue.query",
    "GroupByQuery": "glue.query",
    "GroupTask": "glue.planning",
    "JoinQuery": "glue.query",
    "JoinType": "glue.query",
    "LimitQuery": "glue.query",
    "LockCommandService": "glue.compat",
    "Max": "glue.query",
    "MemoryTask": "glue.planning",
    "Min": "glue.query",
    "OrderByQuery": "glue.query",
    "OrderDirection": "glue.query",
    "PlanExecutor": "glue.planning",
    "PoolStatistics": "glue.connections",
    "PostgresConnection": "glue.connections",
    "QueryPlanner": "glue.planning",
    "Result": "glue.connections",
    "RowStream": "glue.connections",
    "SchemaCommand": "glue.compat",
    "SchemaCommandService": "glue.compat",
    "SchemaQueryOperation": "glue.compat",
    "SchemaQueryService": "glue.compat",
    "SchemaResult": "glue.compat",
    "ServiceCall": "glue.services.dal",
    "SetOperation": "glue.query",
    "SetOperator": "glue.query",
    "SqlTask": "glue.planning",
    "SqliteConnection": "glue.connections",
    "SubQueryStatement": "glue.query",
    "Sum": "glue.query",
    "TransactionCommandService": "glue.compat",
    "Value": "glue.query",
    "ValueAnnotation": "glue.query",
    "Version": "glue.query",
    "explain_plan": "glue.planning",
    "init_default_containers": "glue.compat",
}


def __getattr__(name: str) -> _Any:
    home = _MOVED.get(name)
    if home is None:
        raise AttributeError(f"module 'glue' has no attribute {name!r}")
    _warnings.warn(
        f"glue.{name} moved: import it from {home} (glue.{name} will go)",
        DeprecationWarning,
        stacklevel=2,
    )
    return getattr(_importlib.import_module(home), name)


def _relabel(value: object) -> None:
    """Say ``glue.X`` in reprs and tracebacks, where that is safe.

    msgspec resolves a Struct's field annotations in the module it names, so a
    Struct that declares fields keeps its own module.
    """
    if isinstance(value, type) and issubclass(value, _msgspec.Struct):
        if value.__struct_fields__:
            return
    if isinstance(value, type) or hasattr(value, "__code__"):  # not a builtin
        value.__module__ = __name__


for _name in __all__:
    _relabel(globals()[_name])
del _name
