"""State: mutations, the identity map and the state manager (pure data, no I/O)."""

from __future__ import annotations

from .identity import Changeset, IdentityMap, Key, Row, RowKind, Tracked
from .manager import Clock, Loader, StateManager, new_etag, normalize_key, utcnow
from .mutations import Delete, Insert, Mutation, Update, Upsert

__all__ = [
    "Changeset",
    "Clock",
    "Delete",
    "IdentityMap",
    "Insert",
    "Key",
    "Loader",
    "Mutation",
    "Row",
    "RowKind",
    "StateManager",
    "Tracked",
    "Update",
    "Upsert",
    "new_etag",
    "normalize_key",
    "utcnow",
]
