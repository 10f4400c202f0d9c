"""glue: an asyncio-first CQRS framework for services whose data lives in SQL.

Every public name is importable from here; each part's own package holds the rest.
"""

from __future__ import annotations

import msgspec as _msgspec

from .connections import AsyncConnectionManager as AsyncConnectionManager
from .connections import AsyncPostgresConnection as AsyncPostgresConnection
from .connections import AsyncSqliteConnection as AsyncSqliteConnection
from .connections import Connection as Connection
from .connections import ConnectionManager as ConnectionManager
from .connections import ConnectionPool as ConnectionPool
from .connections import Container as Container
from .connections import DefaultAsyncConnectionPool as DefaultAsyncConnectionPool
from .connections import DefaultConnectionPool as DefaultConnectionPool
from .connections import PoolStatistics as PoolStatistics
from .connections import PostgresConnection as PostgresConnection
from .connections import Result as Result
from .connections import RowStream as RowStream
from .connections import SqliteConnection as SqliteConnection
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
from .planning import ChainTask as ChainTask
from .planning import GroupTask as GroupTask
from .planning import MemoryTask as MemoryTask
from .planning import PlanExecutor as PlanExecutor
from .planning import QueryPlanner as QueryPlanner
from .planning import SqlTask as SqlTask
from .planning import explain_plan as explain_plan
from .query import AggregationQuery as AggregationQuery
from .query import AnnotationQuery as AnnotationQuery
from .query import Avg as Avg
from .query import Condition as Condition
from .query import Conditions as Conditions
from .query import Count as Count
from .query import Field as Field
from .query import FieldLookup as FieldLookup
from .query import FieldReference as FieldReference
from .query import FieldReferenceAliased as FieldReferenceAliased
from .query import FilterConnector as FilterConnector
from .query import GroupByQuery as GroupByQuery
from .query import JoinQuery as JoinQuery
from .query import JoinType as JoinType
from .query import LimitQuery as LimitQuery
from .query import Max as Max
from .query import Min as Min
from .query import OrderByQuery as OrderByQuery
from .query import OrderDirection as OrderDirection
from .query import QueryStatement as QueryStatement
from .query import SchemaReference as SchemaReference
from .query import SetOperation as SetOperation
from .query import SetOperator as SetOperator
from .query import SubQueryStatement as SubQueryStatement
from .query import Sum as Sum
from .query import Value as Value
from .query import ValueAnnotation as ValueAnnotation
from .query import Version as Version
from .schema import Check as Check
from .schema import Column as Column
from .schema import ColumnType as ColumnType
from .schema import ForeignKey as ForeignKey
from .schema import Index as Index
from .schema import Schema as Schema
from .schema import Unique as Unique
from .services import AsyncDataCommandService as AsyncDataCommandService
from .services import AsyncDataQueryService as AsyncDataQueryService
from .services import AsyncLockCommandService as AsyncLockCommandService
from .services import AsyncSchemaCommandService as AsyncSchemaCommandService
from .services import AsyncSchemaQueryService as AsyncSchemaQueryService
from .services import AsyncTransactionCommandService as AsyncTransactionCommandService
from .services import Data as Data
from .services import DataCommandService as DataCommandService
from .services import DataQueryOperation as DataQueryOperation
from .services import DataQueryService as DataQueryService
from .services import DataResult as DataResult
from .services import LockCommandService as LockCommandService
from .services import SchemaCommand as SchemaCommand
from .services import SchemaCommandService as SchemaCommandService
from .services import SchemaQueryOperation as SchemaQueryOperation
from .services import SchemaQueryService as SchemaQueryService
from .services import SchemaResult as SchemaResult
from .services import TransactionCommandService as TransactionCommandService
from .services import init_default_containers as init_default_containers
from .services.dal import Dal as Dal
from .services.dal import DeferredCall as DeferredCall
from .services.dal import Service as Service
from .services.dal import ServiceCall as ServiceCall
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
    "AggregationQuery",
    "AnnotationQuery",
    "App",
    "AsyncConnectionManager",
    "AsyncDataCommandService",
    "AsyncDataQueryService",
    "AsyncLockCommandService",
    "AsyncPostgresConnection",
    "AsyncSchemaCommandService",
    "AsyncSchemaQueryService",
    "AsyncSqliteConnection",
    "AsyncTransactionCommandService",
    "Avg",
    "Bus",
    "ChainTask",
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
    "Connection",
    "ConnectionError",
    "ConnectionManager",
    "ConnectionPool",
    "Container",
    "Context",
    "ContextError",
    "Count",
    "Dal",
    "Data",
    "DataCommandService",
    "DataQueryOperation",
    "DataQueryService",
    "DataResult",
    "DatabaseError",
    "DefaultAsyncConnectionPool",
    "DefaultConnectionPool",
    "DeferredCall",
    "Delete",
    "Domain",
    "Entity",
    "Event",
    "Field",
    "FieldError",
    "FieldLookup",
    "FieldReference",
    "FieldReferenceAliased",
    "FilterConnector",
    "Forbidden",
    "ForeignKey",
    "GlueError",
    "GroupByQuery",
    "GroupTask",
    "HandlerError",
    "IdAllocator",
    "Ids",
    "Index",
    "Insert",
    "IntegrityError",
    "JoinQuery",
    "JoinType",
    "LimitQuery",
    "LockCommandService",
    "LockConflict",
    "Max",
    "MemoryTask",
    "Metadata",
    "Min",
    "Mutation",
    "NotFound",
    "Ok",
    "OperationalError",
    "OrderByQuery",
    "OrderDirection",
    "Outcome",
    "PlanExecutor",
    "PoolClosed",
    "PoolStatistics",
    "PoolTimeout",
    "PostgresConnection",
    "PreconditionRequired",
    "ProgrammingError",
    "QueryError",
    "QueryPlanner",
    "QueryStatement",
    "QueryTimeout",
    "RegistrationError",
    "RenderError",
    "Repository",
    "Response",
    "Result",
    "RetryPolicy",
    "RowStream",
    "Schema",
    "SchemaCommand",
    "SchemaCommandService",
    "SchemaError",
    "SchemaQueryOperation",
    "SchemaQueryService",
    "SchemaReference",
    "SchemaResult",
    "Service",
    "ServiceCall",
    "Services",
    "SetOperation",
    "SetOperator",
    "SetupError",
    "SqlTask",
    "SqliteConnection",
    "StaleEtag",
    "StateManager",
    "SubQueryStatement",
    "Sum",
    "Transaction",
    "TransactionCommandService",
    "Unauthenticated",
    "Unique",
    "UnitOfWork",
    "UnknownCommand",
    "UnknownService",
    "UnsupportedMediaType",
    "Update",
    "Upsert",
    "ValidationError",
    "Value",
    "ValueAnnotation",
    "Version",
    "current_context",
    "current_unit",
    "explain_plan",
    "init_default_containers",
    "new_id",
    "require_context",
    "run_with_retry",
]


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
