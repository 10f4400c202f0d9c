"""Running a write plan, and reading rows back: the unit of work's I/O.

:func:`write` runs a :class:`~glue.planning.write.WritePlan` (what to write, in
which batches, planned without I/O) in a :class:`~glue.work.transaction.Transaction`:
every database's write connection first, in the order all units share, then
each database's batches, one database at a time in that order, so that row
locks are taken in one order too and never cross. An insert-only plan on one
database that is atomic alone skips BEGIN and COMMIT.

:func:`flush` writes one database's batches inside the caller's transaction and
raises `glue.ConcurrencyConflict` for the first row whose etag guard did not
match. The connection's dialect writes each batch's statements, and says how
they go out (:attr:`~glue.sql.dialects.Dialect.batched_writes`): all of a flush
in one `Connection.batch` call (SQLite: one thread hop), or one at a time, an
insert of :attr:`~glue.sql.dialects.Dialect.copy_from` rows or more by ``COPY``
(`Connection.copy_records`, PostgreSQL).

:func:`select_rows` reads rows back by key: the unit's loader, its locks, the
check of guarded rows after a failed commit, and a short UPDATE's pinning all
read through it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..schema.model import ETAG
from ..state.identity import RowKind

if TYPE_CHECKING:
    from collections.abc import Sequence

    from ..connections.abc import Connection
    from ..planning.write import Batch, WritePlan
    from ..schema.model import Schema
    from ..sql.dialects import Dialect, Statement
    from ..state.identity import Key, Tracked
    from .transaction import Transaction

__all__ = ["flush", "one_shot", "select_rows", "write"]


async def write(plan: WritePlan, transaction: Transaction, *, alone: bool) -> None:
    """Write a plan through ``transaction``.

    Args:
        plan: what to write, per database.
        transaction: the unit's transaction; joined on each database written.
        alone: nothing else will be written in the transaction and it commits
            right after: a plan that is atomic by itself (:func:`one_shot`)
            then goes out on a checkout of its own, without BEGIN and COMMIT.

    Raises:
        glue.ConcurrencyConflict: a guarded row did not match; roll back.
        glue.GlueError: a database refused a write; roll back.
    """
    if alone and one_shot(plan) and not transaction.databases:
        (writes,) = plan.connections
        async with writes.pool.acquire(write=True) as conn:
            await flush(conn, writes.batches)
        return
    if len(plan.connections) == 1:
        (writes,) = plan.connections
        await flush(await transaction.connection(writes.pool), writes.batches)
        return
    # Every writer first, then the writes, one database at a time in the same
    # order as every other unit: row locks never cross.
    batches = {id(w.pool): w.batches for w in plan.connections}
    pools = [w.pool for w in plan.connections]
    for pool, conn in await transaction.connections(pools):
        await flush(conn, batches[id(pool)])


def one_shot(plan: WritePlan) -> bool:
    """Whether the plan is atomic without a transaction of its own.

    True for inserts into one database that go out as one atomic call: any
    number of batches where a flush is one `Connection.batch` (SQLite: one
    savepoint in one thread hop), else one batch (one statement, PostgreSQL).
    Inserts need no count check before committing, so BEGIN and COMMIT would
    only cost round trips.
    """
    if len(plan.connections) != 1:
        return False
    (writes,) = plan.connections
    if len(writes.batches) != 1 and not writes.pool.dialect.batched_writes:
        return False
    return all(batch.kind is RowKind.INSERT for batch in writes.batches)


async def flush(conn: Connection, batches: Sequence[Batch]) -> None:
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
    conn: Connection, dialect: Dialect, batches: Sequence[Batch]
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
    conn: Connection, dialect: Dialect, batches: Sequence[Batch]
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
