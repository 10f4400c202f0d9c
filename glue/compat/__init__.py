"""AMSDAL Glue compatibility: the names a program written for AMSDAL Glue imports.

glue keeps AMSDAL Glue's shape where it costs nothing: a registry of containers
(:class:`Container`, :func:`init_default_containers`), the ``Async*`` names (in
glue every connection and service is async already, so they are aliases), and
the data, schema, transaction and lock services with their operation types.
They are all here, in one place; each also stays importable from its own module
(``glue.connections``, ``glue.services``). An App needs none of them: it opens
its databases and serves its domains itself.
"""

from __future__ import annotations

from ..connections import AsyncConnectionManager as AsyncConnectionManager
from ..connections import AsyncPostgresConnection as AsyncPostgresConnection
from ..connections import AsyncSqliteConnection as AsyncSqliteConnection
from ..connections import Container as Container
from ..connections import DefaultAsyncConnectionPool as DefaultAsyncConnectionPool
from ..services import AddConstraint as AddConstraint
from ..services import AddIndex as AddIndex
from ..services import AddProperty as AddProperty
from ..services import AsyncDataCommandService as AsyncDataCommandService
from ..services import AsyncDataQueryService as AsyncDataQueryService
from ..services import AsyncLockCommandService as AsyncLockCommandService
from ..services import AsyncSchemaCommandService as AsyncSchemaCommandService
from ..services import AsyncSchemaQueryService as AsyncSchemaQueryService
from ..services import AsyncTransactionCommandService as AsyncTransactionCommandService
from ..services import Data as Data
from ..services import DataCommandService as DataCommandService
from ..services import DataQueryOperation as DataQueryOperation
from ..services import DataQueryService as DataQueryService
from ..services import DataResult as DataResult
from ..services import DeleteConstraint as DeleteConstraint
from ..services import DeleteIndex as DeleteIndex
from ..services import DeleteProperty as DeleteProperty
from ..services import DeleteSchema as DeleteSchema
from ..services import LockCommandService as LockCommandService
from ..services import RegisterSchema as RegisterSchema
from ..services import SchemaCommand as SchemaCommand
from ..services import SchemaCommandService as SchemaCommandService
from ..services import SchemaMutation as SchemaMutation
from ..services import SchemaQueryOperation as SchemaQueryOperation
from ..services import SchemaQueryService as SchemaQueryService
from ..services import SchemaResult as SchemaResult
from ..services import TransactionCommandService as TransactionCommandService
from ..services import init_default_containers as init_default_containers

__all__ = [
    "AddConstraint",
    "AddIndex",
    "AddProperty",
    "AsyncConnectionManager",
    "AsyncDataCommandService",
    "AsyncDataQueryService",
    "AsyncLockCommandService",
    "AsyncPostgresConnection",
    "AsyncSchemaCommandService",
    "AsyncSchemaQueryService",
    "AsyncSqliteConnection",
    "AsyncTransactionCommandService",
    "Container",
    "Data",
    "DataCommandService",
    "DataQueryOperation",
    "DataQueryService",
    "DataResult",
    "DefaultAsyncConnectionPool",
    "DeleteConstraint",
    "DeleteIndex",
    "DeleteProperty",
    "DeleteSchema",
    "LockCommandService",
    "RegisterSchema",
    "SchemaCommand",
    "SchemaCommandService",
    "SchemaMutation",
    "SchemaQueryOperation",
    "SchemaQueryService",
    "SchemaResult",
    "TransactionCommandService",
    "init_default_containers",
]
