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
from .schema import (
    AsyncSchemaCommandService,
    AsyncSchemaQueryService,
    SchemaCommandService,
    SchemaQueryService,
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
    "Difference",
    "LockCommandService",
    "SchemaCommandService",
    "SchemaQueryService",
    "TableDiff",
    "TransactionCommandService",
    "apply_diffs",
    "diff_tables",
    "init_default_containers",
]
