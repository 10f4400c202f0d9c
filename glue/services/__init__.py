"""Services in the AMSDAL Glue style: data, schema, transactions and locks."""

from __future__ import annotations

from .containers import init_default_containers
from .diff import Difference, TableDiff, apply_diffs, diff_tables
from .reads import (
    AsyncDataQueryService,
    Data,
    DataQueryOperation,
    DataQueryService,
    DataResult,
)
from .schema import SchemaCommandService, SchemaQueryService
from .schema_operations import (
    AddConstraint,
    AddIndex,
    AddProperty,
    AsyncSchemaCommandService,
    AsyncSchemaQueryService,
    DeleteConstraint,
    DeleteIndex,
    DeleteProperty,
    DeleteSchema,
    RegisterSchema,
    SchemaCommand,
    SchemaMutation,
    SchemaQueryOperation,
    SchemaResult,
)
from .writes import (
    AsyncDataCommandService,
    AsyncLockCommandService,
    AsyncTransactionCommandService,
    DataCommandService,
    LockCommandService,
    TransactionCommandService,
)

__all__ = [
    "AddConstraint",
    "AddIndex",
    "AddProperty",
    "AsyncDataCommandService",
    "AsyncDataQueryService",
    "AsyncLockCommandService",
    "AsyncSchemaCommandService",
    "AsyncSchemaQueryService",
    "AsyncTransactionCommandService",
    "Data",
    "DataCommandService",
    "DataQueryOperation",
    "DataQueryService",
    "DataResult",
    "DeleteConstraint",
    "DeleteIndex",
    "DeleteProperty",
    "DeleteSchema",
    "Difference",
    "LockCommandService",
    "RegisterSchema",
    "SchemaCommand",
    "SchemaCommandService",
    "SchemaMutation",
    "SchemaQueryOperation",
    "SchemaQueryService",
    "SchemaResult",
    "TableDiff",
    "TransactionCommandService",
    "apply_diffs",
    "diff_tables",
    "init_default_containers",
]
