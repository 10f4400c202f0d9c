"""The write planner: a unit of work's changes as per-connection, per-table batches.

:func:`plan_writes` groups a :class:`~glue.state.identity.Changeset` by the pool
each table lives on, then by table and kind of write (and, for updates, by the
columns written), keeping first-change order: a batch goes out at the position
of its first row, so rows created first are written first. A batch writes its
statements in a dialect (:meth:`Batch.statements`).

Planning does no I/O: the unit of work runs the plan (:mod:`glue.work.flush`).
"""

from __future__ import annotations

import operator
from typing import TYPE_CHECKING

import msgspec

from ..connections.abc import ConnectionPool
from ..schema.model import ETAG, Schema
from ..state.identity import Changeset, Row, RowKind, Tracked

if TYPE_CHECKING:
    from collections.abc import Callable

    from ..sql.dialects import Dialect, Statement

__all__ = [
    "Batch",
    "ConnectionWrites",
    "WritePlan",
    "plan_writes",
]

_CURRENT = operator.attrgetter("current")
_SHAPES = 256
"""The most update shapes a table keeps the written columns of."""


class Batch(msgspec.Struct, frozen=True):
    """Rows of one table that need the same kind of write.

    Attributes:
        kind: insert, create, update or delete.
        schema: the table.
        rows: the rows, in first-change order.
        columns: for updates, the columns written (the key excluded).
    """

    kind: RowKind
    schema: Schema
    rows: tuple[Tracked, ...]
    columns: tuple[str, ...] = ()

    def statements(self, dialect: Dialect) -> list[Statement]:
        """This batch as statements of ``dialect``."""
        rows = self.rows
        match self.kind:
            case RowKind.INSERT | RowKind.CREATE:
                return dialect.insert(
                    self.schema, self.currents(), if_absent=self.kind is RowKind.CREATE
                )
            case RowKind.UPDATE:
                return dialect.update(
                    self.schema, self.columns, self.currents(), self.held()
                )
            case RowKind.DELETE:
                return dialect.delete(self.schema, [t.key for t in rows], self.held())

    def currents(self) -> list[Row]:
        """The new state of each row (none for deletes)."""
        if self.kind is RowKind.DELETE:
            return []
        # Inserts and updates always have a current row.
        return list(map(_CURRENT, self.rows))

    def held(self) -> list[str | None]:
        """The etag each row had when read (None for rows never stored)."""
        # Tracked.held_etag, inlined: a bulk update asks it of every row.
        return [
            None if (stored := t.stored) is None else stored.get(ETAG)
            for t in self.rows
        ]


class ConnectionWrites(msgspec.Struct, frozen=True):
    """Everything one database must write, in order.

    Attributes:
        pool: the pool of that database.
        batches: the batches, in first-change order.
    """

    pool: ConnectionPool
    batches: tuple[Batch, ...]


class WritePlan(msgspec.Struct, frozen=True):
    """A unit of work's writes, per connection, in first-change order.

    Attributes:
        connections: one entry per database written, in first-change order.
    """

    connections: tuple[ConnectionWrites, ...] = ()

    def __len__(self) -> int:
        return len(self.connections)

    def __bool__(self) -> bool:
        return bool(self.connections)

    def explain(self) -> str:
        """The plan as indented text: databases, then batches with row counts."""
        lines = []
        for writes in self.connections:
            lines.append(
                f"{writes.pool.name} ({writes.pool.dialect.name}): transaction"
            )
            for batch in writes.batches:
                columns = f" ({', '.join(batch.columns)})" if batch.columns else ""
                lines.append(
                    f"  {batch.kind.value} {batch.schema.name}{columns}: "
                    f"{len(batch.rows)} row(s)"
                )
        return "\n".join(lines)


def _written(schema: Schema, changed: frozenset[str]) -> tuple[str, ...]:
    """The columns an UPDATE of ``changed`` writes, in the table's order, the
    key left out (memoised on the schema: a table has few such shapes)."""
    shapes: dict[frozenset[str], tuple[str, ...]] = schema.derived(
        "planning written", lambda _: {}
    )
    found = shapes.get(changed)
    if found is None:
        key = schema.primary_key
        found = tuple(c for c in schema.column_names if c in changed and c not in key)
        if len(shapes) < _SHAPES:
            shapes[changed] = found
    return found


def plan_writes(
    changeset: Changeset, route: Callable[[str], ConnectionPool]
) -> WritePlan:
    """Group pending rows into per-connection, per-table batches.

    Args:
        changeset: the unit of work's pending rows, in first-change order.
        route: the pool a table lives on (by table name).

    Returns:
        the plan; empty when there is nothing to write.
    """
    pools: dict[int, ConnectionPool] = {}
    groups: dict[int, dict[tuple[str, RowKind, tuple[str, ...]], list[Tracked]]] = {}
    routes: dict[str, ConnectionPool] = {}
    # Rows come in runs of one table and kind (and written columns): the run's
    # list is reused until the shape changes.
    last_schema: Schema | None = None
    last_kind: RowKind | None = None
    last_changed: frozenset[str] | None = None
    insert, create = RowKind.INSERT, RowKind.CREATE
    update, delete = RowKind.UPDATE, RowKind.DELETE
    run: list[Tracked] = []
    extend = run.append
    for tracked in changeset.rows:
        stored, current = tracked.stored, tracked.current
        if current is stored:
            continue
        if stored is None:
            kind = create if tracked.create else insert
        else:
            kind = delete if current is None else update
        schema, changed = tracked.schema, tracked.changed
        if (
            schema is last_schema
            and kind is last_kind
            and (kind is not update or changed is last_changed)
        ):
            extend(tracked)
            continue
        pool = routes.get(schema.name)
        if pool is None:
            pool = routes[schema.name] = route(schema.name)
        columns: tuple[str, ...] = ()
        if kind is RowKind.UPDATE:
            columns = _written(schema, changed)
        bucket = groups.setdefault(id(pool), {})
        pools[id(pool)] = pool
        run = bucket.setdefault((schema.name, kind, columns), [])
        run.append(tracked)
        extend = run.append
        last_schema, last_kind, last_changed = schema, kind, changed
    return WritePlan(
        tuple(
            ConnectionWrites(
                pools[ident],
                tuple(
                    Batch(kind, rows[0].schema, tuple(rows), columns)
                    for (_, kind, columns), rows in bucket.items()
                ),
            )
            for ident, bucket in groups.items()
        )
    )
