"""Mutations: the plain values that change state.

Event handlers yield them (or call the same-named methods of the
:class:`~glue.state.manager.StateManager`); only the state manager's flush turns
them into SQL. Each names its table by :class:`~glue.schema.Schema` and a row by
its primary key: a scalar for a one-column key, a tuple otherwise.

    yield Insert(schema=orders, values={"id": 7, "total": 12.5})
    yield Update(schema=orders, key=7, changes={"status": "paid"})
    yield Delete(schema=orders, key=7)
    yield Upsert(schema=counters, values={"id": "visits", "value": 1})
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec

from ..schema.model import Schema

__all__ = ["Delete", "Insert", "Mutation", "Update", "Upsert"]


class Mutation(msgspec.Struct, frozen=True, kw_only=True):
    """The base of every mutation: which table it changes.

    Attributes:
        schema: the table.
    """

    schema: Schema


class Insert(Mutation, frozen=True, kw_only=True):
    """Create a row.

    Attributes:
        values: the row's columns, primary key included. Columns left out take
            their default (NULL for nullable ones). Etag and audit columns are
            stamped by the state manager and cannot be given.
    """

    values: Mapping[str, Any]


class Update(Mutation, frozen=True, kw_only=True):
    """Change columns of an existing row, merging into its newest known state.

    Attributes:
        key: the row's primary key.
        changes: the columns to set.
        etag: when given, the etag the caller's copy carries (an HTTP If-Match):
            a different etag raises `glue.StaleEtag` at once.
    """

    key: Any
    changes: Mapping[str, Any]
    etag: str | None = None


class Delete(Mutation, frozen=True, kw_only=True):
    """Delete a row: soft (stamping ``deleted_at``) for soft-delete tables.

    Attributes:
        key: the row's primary key.
        etag: when given, the etag the caller's copy carries.
    """

    key: Any
    etag: str | None = None


class Upsert(Mutation, frozen=True, kw_only=True):
    """Create a row, or update it when it exists.

    Attributes:
        values: the row's columns, primary key included.
    """

    values: Mapping[str, Any]
