"""Table schemas: what a table holds, as plain values."""

from __future__ import annotations

from .model import (
    AUDIT_COLUMNS,
    DELETED_AT,
    ETAG,
    SYSTEM_COLUMNS,
    Check,
    Column,
    ColumnType,
    Constraint,
    ForeignKey,
    Index,
    Schema,
    Unique,
    check_identifier,
)

__all__ = [
    "AUDIT_COLUMNS",
    "Check",
    "Column",
    "ColumnType",
    "Constraint",
    "DELETED_AT",
    "ETAG",
    "ForeignKey",
    "Index",
    "SYSTEM_COLUMNS",
    "Schema",
    "Unique",
    "check_identifier",
]
