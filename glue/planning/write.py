"""The write planner: a unit of work's changes as per-connection, per-table batches.

:func:`plan_writes` groups a :class:`~glue.state.identity.Changeset` by the pool
each table lives on, then by table and kind of write (and, for updates, by the
columns written), keeping first-change order: a batch goes out at the position
of its first row, so rows created first are written first. :func:`flush` runs one
connection's batches inside the caller's transaction and raises
`glue.ConcurrencyConflict` for the first row whose etag guard did not match.

The connection's dialect writes each batch's statements, and says how they go
out (:attr:`~glue.sql.dialects.Dialect.batched_writes`): all of a flush in one
`Connection.batch` call (SQLite: one thread hop), or one at a time, an insert of
:attr:`~glue.sql.dialects.Dialect.copy_from` rows or more by ``COPY``
(`Connection.copy_records`, PostgreSQL).
"""

from __future__ import annotations

import operator
from typing import TYPE_CHECKING, Any

import msgspec

from ..connections.abc import ConnectionPool
from ..schema.model import ETAG, Schema
from ..state.identity import Changeset, Key, Row, RowKind, Tracked

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from ..connections.abc import Connection
    from ..sql.dialects import Dialect, Statement

__all__ = [
    "Batch",
    "ConnectionWrites",
    "WritePlan",
    "flush",
    "plan_writes",
    "select_rows",
]

_CURRENT = operator.attrgetter("current")


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
        return [t.held_etag for t in self.rows]


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
    written: dict[tuple[str, frozenset[str]], tuple[str, ...]] = {}
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
            shape = (schema.name, changed)
            found = written.get(shape)
            if found is None:
                key = schema.primary_key
                found = written[shape] = tuple(
                    c for c in schema.column_names if c in changed and c not in key
                )
            columns = found
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


async def flush(conn: Connection, batches: tuple[Batch, ...]) -> None:
    """Write ``batches`` through ``conn``, inside the caller's transaction.

    Raises:
        glue.ConcurrencyConflict: a guarded row did not match: its etag changed,
            or it was deleted, or (for an upsert's create) it now exists. The
            caller must roll back.
        glue.IntegrityError: an insert broke a constraint.
    """
    dialect = conn.dialect
    if dialect.batched_writes:
        await _flush_batched(conn, dialect, batches)
    else:
        await _flush_each(conn, dialect, batches)


async def _flush_each(
    conn: Connection, dialect: Dialect, batches: tuple[Batch, ...]
) -> None:
    """One statement at a time; creates and deletes return the keys they matched."""
    copy_from = dialect.copy_from
    for batch in batches:
        kind = batch.kind
        if (
            kind is RowKind.INSERT
            and copy_from is not None
            and len(batch.rows) >= copy_from
        ):
            codec = dialect.codec(batch.schema)
            records = codec.encode_rows(batch.currents())
            await conn.copy_records(batch.schema.name, codec.names, records)
            continue
        for statement in batch.statements(dialect):
            if kind is RowKind.INSERT:
                await conn.execute(statement.sql, statement.params)
            elif kind is RowKind.UPDATE:
                count = await conn.execute(statement.sql, statement.params)
                if count != len(batch.rows):
                    await _pin_update(conn, batch)
            else:
                result = await conn.fetch(statement.sql, statement.params)
                if len(result.rows) != len(batch.rows):
                    matched = {tuple(row) for row in result.rows}
                    _conflict(batch, [t for t in batch.rows if t.key not in matched])


async def _flush_batched(
    conn: Connection, dialect: Dialect, batches: tuple[Batch, ...]
) -> None:
    """Every statement in one `Connection.batch`; a create or delete is one
    statement per row, whose count says whether it matched."""
    statements: list[Statement] = []
    spans: list[tuple[Batch, int, int]] = []
    for batch in batches:
        compiled = batch.statements(dialect)
        spans.append((batch, len(statements), len(statements) + len(compiled)))
        statements += compiled
    counts = await conn.batch(statements)
    for batch, start, end in spans:
        if batch.kind is RowKind.INSERT:
            continue
        if batch.kind is RowKind.UPDATE:
            if counts[start] != len(batch.rows):
                await _pin_update(conn, batch)
            continue
        # One statement per row: each count says whether its row matched.
        missed = [
            t for t, n in zip(batch.rows, counts[start:end], strict=True) if not n
        ]
        if missed:
            _conflict(batch, missed)


async def select_rows(
    conn: Connection, schema: Schema, keys: Sequence[Key], *, for_update: bool = False
) -> list[dict[str, Any]]:
    """Read the rows of ``keys`` (in chunks the database accepts), decoded.

    Args:
        for_update: lock them until the transaction ends (PostgreSQL).
    """
    dialect = conn.dialect
    decode_all = dialect.codec(schema).decode_all
    rows: list[dict[str, Any]] = []
    for statement in dialect.select_by_keys(schema, keys, for_update=for_update):
        result = await conn.fetch(statement.sql, statement.params)
        rows += decode_all(result.rows)
    return rows


async def _pin_update(conn: Connection, batch: Batch) -> None:
    """Find which rows of a short UPDATE did not match, by reading them back.

    A row that matched now carries its new etag (or, unversioned, exists).
    """
    schema = batch.schema
    found = await select_rows(conn, schema, [t.key for t in batch.rows])
    seen: dict[Key, Any] = {schema.key_of(row): row.get(ETAG, True) for row in found}
    missed = []
    for tracked in batch.rows:
        etag = seen.get(tracked.key)
        wanted = tracked.current.get(ETAG, True) if tracked.current else True
        if etag is None or etag != wanted:
            missed.append(tracked)
    _conflict(batch, missed or list(batch.rows))


def _conflict(batch: Batch, missed: list[Tracked]) -> None:
    raise missed[0].conflict()
