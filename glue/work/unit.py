"""UnitOfWork: one dispatch's reads and writes, committed together or not at all.

A unit of work owns a :class:`~glue.state.StateManager`. Rows are read through
the connections on first use (each at most once); changes collect in the state
manager; :meth:`UnitOfWork.commit` plans them (:mod:`glue.planning.write`, no
I/O) and runs the plan (:mod:`glue.work.flush`, where rows are read back too):
every database's write connection in one order shared by all units, then each
database's batches in that order, each in its own transaction; it commits only
when every flush succeeded (see :mod:`glue.work.commit` for what is
guaranteed across databases, :mod:`glue.work.transaction` for how long a unit
waits for a lock).
Any error rolls the whole unit back and is re-raised; connections always go back
to their pools.

::

    async with UnitOfWork(manager, actor="alice") as unit:
        order = await unit.state.require(orders, 7)
        await unit.state.update(orders, 7, {"total": order["total"] + 1})
    # committed here; a ConcurrencyConflict or any other error rolled back

Each task should use its own unit of work; :func:`current_unit` finds the one
the current task entered (repositories use it). :meth:`UnitOfWork.bind` makes a
unit current without entering it, and :func:`bind_unit` binds a
:class:`UnitSource`, a unit opened on first use (the bus binds each dispatch's):
:func:`require_unit`, and so a repository, opens it; :func:`current_unit` only
looks.
"""

from __future__ import annotations

import contextvars
import enum
from contextlib import AbstractAsyncContextManager, nullcontext
from typing import TYPE_CHECKING, Any, Protocol, Self

import anyio

from ..errors import (
    ConcurrencyConflict,
    ContextError,
    DatabaseError,
    GlueError,
)
from ..log import get_logger
from ..planning.write import WritePlan, plan_writes
from ..schema.model import ETAG
from ..state.identity import RowKind
from ..state.manager import StateManager, normalize_key
from .flush import one_shot, select_rows, write
from .transaction import LOCK_TIMEOUT, Transaction

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Sequence
    from types import TracebackType
    from typing import TypeAlias

    from ..connections.abc import Connection, ConnectionPool
    from ..planning.write import Batch, ConnectionWrites
    from ..schema.model import Schema
    from ..sql.dialects import Statement
    from ..state.identity import Changeset, Key, Row, Tracked
    from ..state.manager import Clock

    BeforeCommit: TypeAlias = Callable[[Transaction], Awaitable[None]]
    Inline: TypeAlias = Callable[[ConnectionPool], list[Statement] | None]

__all__ = [
    "PoolSource",
    "UnitBinding",
    "UnitOfWork",
    "UnitSource",
    "UnitState",
    "bind_unit",
    "current_unit",
    "require_unit",
]

_log = get_logger(__name__)
_CURRENT: contextvars.ContextVar[UnitOfWork | UnitSource | None] = (
    contextvars.ContextVar("glue_unit_of_work", default=None)
)


class PoolSource(Protocol):
    """Anything that finds the pool a table lives on: a `ConnectionManager`."""

    def get_connection_pool(self, schema_name: str | None = None) -> ConnectionPool:
        """The pool for a table (schema) name, or the default pool."""
        ...


class UnitSource(Protocol):
    """A unit of work opened on first use, made current with :func:`bind_unit`.

    A dispatch's context is one: its unit opens when a handler first needs it.
    """

    def open_unit(self) -> UnitOfWork:
        """The unit of work, opened now if it is not open yet.

        Raises:
            glue.ContextError: there is no unit of work to have here (now).
        """
        ...

    def opened_unit(self) -> UnitOfWork | None:
        """The unit of work if it is open already, else None."""
        ...


class UnitBinding:
    """A unit of work (or a :class:`UnitSource`) made current in this task.

    Returned by :func:`bind_unit` and :meth:`UnitOfWork.bind`; undo it with
    :meth:`reset`, or use it as a ``with`` block. Child tasks started while it
    is bound see it too.
    """

    __slots__ = ("_token",)

    def __init__(self, bound: UnitOfWork | UnitSource) -> None:
        self._token: contextvars.Token[UnitOfWork | UnitSource | None] | None = (
            _CURRENT.set(bound)
        )

    def reset(self) -> None:
        """Make the unit that was current before current again. Idempotent."""
        token, self._token = self._token, None
        if token is not None:
            try:
                _CURRENT.reset(token)
            except ValueError:
                pass  # bound in another task's context, which went with it

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.reset()


def bind_unit(bound: UnitOfWork | UnitSource) -> UnitBinding:
    """Make ``bound`` this task's current unit of work, until the binding resets.

    Args:
        bound: a unit of work, or a source that opens one on first use:
            :func:`require_unit` (and so every repository built without a unit)
            opens it, :func:`current_unit` does not.

    Returns:
        the binding; call ``reset()`` (or leave its ``with`` block) to undo it.
    """
    return UnitBinding(bound)


class UnitState(enum.Enum):
    """Where a unit of work is in its life."""

    NEW = "new"
    ACTIVE = "active"
    COMMITTED = "committed"
    ROLLED_BACK = "rolled back"
    FAILED = "failed"


def current_unit() -> UnitOfWork | None:
    """The unit of work current in this task, or None.

    A bound :class:`UnitSource` whose unit has not opened yet gives None: this
    only looks (use :func:`require_unit` to open it).
    """
    bound = _CURRENT.get()
    if bound is None or isinstance(bound, UnitOfWork):
        return bound
    return bound.opened_unit()


def require_unit() -> UnitOfWork:
    """The unit of work current in this task, opening a bound source's unit.

    Raises:
        glue.ContextError: no unit of work is current in this task, or the
            bound source cannot open one.
    """
    bound = _CURRENT.get()
    if bound is None:
        raise ContextError(
            "no unit of work is active: run this inside "
            "`async with UnitOfWork(...)`, a dispatch, or "
            "`async with app.context(domain=...)`"
        )
    if isinstance(bound, UnitOfWork):
        return bound
    return bound.open_unit()


class UnitOfWork:
    """The reads, changes and commit of one dispatch.

    Args:
        pools: where tables live: a `ConnectionManager` (a table's name is its
            schema name; unknown names fall back to the default pool), or a
            callable from table name to pool.
        actor: who is acting, stamped into audit columns.
        clock: the time source for audit and soft-delete columns.
        transaction: a transaction to write into instead of the unit's own; the
            unit then flushes into it and leaves committing to its owner.
        lock_timeout: the most seconds the unit's transaction waits for a lock
            another one holds, then `glue.LockConflict` (see
            :mod:`glue.work.transaction`); None waits as long as it takes.
    """

    def __init__(
        self,
        pools: PoolSource | Callable[[str], ConnectionPool],
        *,
        actor: str | None = None,
        clock: Clock | None = None,
        transaction: Transaction | None = None,
        lock_timeout: float | None = LOCK_TIMEOUT,
    ) -> None:
        if callable(pools):
            self._route: Callable[[str], ConnectionPool] = pools
        else:
            self._route = pools.get_connection_pool
        self._external = transaction
        self._transaction = transaction or Transaction(lock_timeout=lock_timeout)
        self._state = UnitState.NEW
        self._binding: UnitBinding | None = None
        # What earlier `flush` calls wrote: their guards count at commit too.
        self._flushed: list[Changeset] = []
        self._before: list[tuple[BeforeCommit, Inline | None]] = []
        self._after: list[Callable[[], None]] = []
        self._inlined = False  # the hooks' writes went out with the unit's
        self.state = self._new_state(actor, clock)
        """The unit's state manager: its identity map and pending changes."""

    def _new_state(self, actor: str | None, clock: Clock | None) -> StateManager:
        """Build the unit's state manager; a subclass may build its own kind."""
        return StateManager(loader=self._load, actor=actor, clock=clock)

    @property
    def status(self) -> UnitState:
        """Where the unit is in its life."""
        return self._state

    @property
    def transaction(self) -> Transaction:
        """The transaction the unit writes into (opened lazily)."""
        return self._transaction

    def bind(self) -> UnitBinding:
        """Make this unit current in this task without entering it.

        ``async with unit`` does this itself; use it for a unit whose commit
        and rollback you call yourself::

            unit = UnitOfWork(manager)
            with unit.bind():
                await OrderRepository().create({...})  # finds `unit`
            await unit.commit()

        Returns:
            the binding: call ``reset()``, or leave its ``with`` block.
        """
        return UnitBinding(self)

    def before_commit(
        self, hook: BeforeCommit, *, inline: Inline | None = None
    ) -> None:
        """Run ``await hook(transaction)`` inside :meth:`commit`, after the unit's
        own changes went into its transaction and before it commits: what the
        hook writes there commits with them, or not at all (the outbox's rows).

        Args:
            hook: writes into the unit's transaction.
            inline: ``inline(pool)`` gives the statements that do the hook's
                work on ``pool``'s database, or None when it needs ``hook``.
                When the unit only inserts rows into one database, in one
                atomic call, and every hook has such statements for it, they
                go out with the inserts instead (PostgreSQL: one statement, no
                transaction of its own: one round trip instead of four).
        """
        self._before.append((hook, inline))

    def after_commit(self, hook: Callable[[], None]) -> None:
        """Call ``hook()`` once the unit committed (not when it rolled back, nor
        when an owner's transaction commits it)."""
        self._after.append(hook)

    def pool_for(self, table: str) -> ConnectionPool:
        """The pool the table ``table`` lives on."""
        return self._route(table)

    def reading(self, pool: ConnectionPool) -> AbstractAsyncContextManager[Connection]:
        """The connection to read ``pool`` through: the unit's transaction's once
        it has one there (so reads see the unit's own writes), else a checkout
        returned after the read."""
        # No generator-based context manager: every load reads through here.
        joined = self._transaction.joined(pool)
        return pool.acquire() if joined is None else nullcontext(joined)

    def plan(self) -> WritePlan:
        """What a commit would write now, per connection and table."""
        return plan_writes(self.state.changes(), self._route)

    async def lock(self, schema: Schema, keys: Sequence[Any]) -> list[Row]:
        """Lock rows for the rest of the unit, and read them fresh.

        PostgreSQL: ``SELECT ... FOR UPDATE`` in the unit's transaction, which
        is opened now. SQLite: the unit's write transaction is opened now
        (``BEGIN IMMEDIATE``), which locks the whole database for writers.
        Rows the unit had already read keep the state it read; lock before you
        read.

        Returns:
            the rows that exist, in their newest known state.
        """
        self._check_active()
        pool = self._route(schema.name)
        conn = await self._transaction.connection(pool)
        state = self.state
        wanted = [normalize_key(schema, key) for key in keys]
        rows = await select_rows(conn, schema, wanted, for_update=True)
        return state.track(schema, rows)

    async def flush(self) -> Changeset:
        """Write pending changes into the unit's transaction without committing.

        Returns:
            the changes written.

        Raises:
            glue.ConcurrencyConflict: a row changed since it was read.
        """
        self._check_active()
        changeset = await self._flush(self.state.changes(), mark=True)
        if changeset.rows and self._external is None:
            self._flushed.append(changeset)
        return changeset

    async def _flush(
        self, changeset: Changeset, *, mark: bool, alone: bool = False
    ) -> Changeset:
        plan = plan_writes(changeset, self._route)
        if not plan:
            return changeset
        # Asked once: `write` is told the answer.
        alone = alone and one_shot(plan) and not self._transaction.databases
        if alone:
            (writes,) = plan.connections
            riders = self._riders(writes)
            if riders:
                # The hooks' statements ride with the inserts: one atomic call.
                async with writes.pool.acquire(write=True) as conn:
                    await _flush_with(conn, writes.batches, riders)
                self._inlined = True
                return changeset
            alone = riders is not None  # None: a hook needs the transaction
        await write(plan, self._transaction, alone=alone)
        if mark:
            self.state.mark_flushed(changeset)
        return changeset

    async def commit(self) -> Changeset:
        """Flush and commit; on any error roll everything back and re-raise.

        A commit that fails with `glue.IntegrityError` (or any
        `glue.DatabaseError` while the unit holds etag-guarded rows: rows it
        updates or deletes, or an upsert creates) may have failed because
        another unit changed those rows first: a stale UPDATE that the
        database never reported because a later INSERT of a now-duplicate key
        failed first, or a sibling database's flush that was cancelled. After
        the rollback, the unit reads its guarded rows again, outside any
        transaction; if one changed or is gone (or an upsert's row now
        exists), the commit raises `glue.ConcurrencyConflict` for it, chained
        from the database's error, so that the bus retries the command.

        Returns:
            the changes committed.

        Raises:
            glue.ConcurrencyConflict: a guarded row changed since it was read.
            glue.GlueError: anything else that failed; all was rolled back.
        """
        self._check_active()
        changeset = self.state.changes()
        try:
            # Flushed rows are only marked clean when the unit goes on after.
            alone = self._external is None
            changeset = await self._flush(changeset, mark=not alone, alone=alone)
            if not self._inlined:
                for hook, _ in self._before:
                    await hook(self._transaction)
            if self._external is None:
                await self._transaction.commit()
        except BaseException as exc:
            self._state = UnitState.FAILED
            if self._external is None:
                await self._transaction.rollback()
                if isinstance(exc, DatabaseError):
                    conflict = await self._stale(changeset)
                    if conflict is not None:
                        raise conflict from exc
            raise
        self._state = UnitState.COMMITTED
        if self._external is None:
            for after in self._after:
                after()
        return changeset

    async def rollback(self) -> None:
        """Discard every change and release the connections. Idempotent."""
        if self._state in (UnitState.NEW, UnitState.ACTIVE):
            self._state = UnitState.ROLLED_BACK
        if self._external is None:
            await self._transaction.rollback()

    async def __aenter__(self) -> Self:
        if self._state is not UnitState.NEW:
            raise ContextError(
                f"this unit of work is {self._state.value}: use a new one for "
                "each dispatch"
            )
        self._state = UnitState.ACTIVE
        self._binding = UnitBinding(self)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if exc is None and self._state is UnitState.ACTIVE:
                await self.commit()
            else:
                with anyio.CancelScope(shield=True):
                    await self.rollback()
        finally:
            if self._binding is not None:
                self._binding.reset()
                self._binding = None

    # Internals -------------------------------------------------------------

    def _riders(self, writes: ConnectionWrites) -> list[Statement] | None:
        """The hooks' statements to send with a one-shot insert on
        ``writes.pool``; None when some hook needs the transaction."""
        if not self._before:
            return []
        copy_from = writes.pool.dialect.copy_from
        if copy_from is not None and any(
            len(batch.rows) >= copy_from for batch in writes.batches
        ):
            return None
        riders: list[Statement] = []
        for _, inline in self._before:
            statements = None if inline is None else inline(writes.pool)
            if statements is None:
                return None
            riders += statements
        return riders

    def _check_active(self) -> None:
        if self._state is UnitState.NEW:
            # Used without `async with`: the caller commits or rolls back itself.
            self._state = UnitState.ACTIVE
        if self._state is not UnitState.ACTIVE:
            raise ContextError(
                f"this unit of work is {self._state.value}: use a new one"
            )

    def _guards(self, changeset: Changeset) -> dict[tuple[str, Key], Tracked]:
        """The etag-guarded rows of every flush of the unit, as first flushed.

        A row an earlier `flush` wrote counts with what it held then: its
        later state was only ever in the rolled-back transaction.
        """
        seen: dict[tuple[str, Key], Tracked | None] = {}
        for flushed in (*self._flushed, changeset):
            for tracked in flushed.rows:
                ident = (tracked.schema.name, tracked.key)
                if ident not in seen:
                    kind = tracked.kind
                    guarded = kind is not None and kind is not RowKind.INSERT
                    seen[ident] = tracked if guarded else None
        return {ident: t for ident, t in seen.items() if t is not None}

    async def _stale(self, changeset: Changeset) -> ConcurrencyConflict | None:
        """After a failed commit, the conflict a guarded row shows, if any.

        Only guarded rows are looked at (without any, an `IntegrityError` is
        the unit's own). A row is stale when its etag differs from the
        one held, or it is gone (updates and deletes), or it exists (an
        upsert's create). When the rows cannot be read, there is no verdict.
        """
        guards = self._guards(changeset)
        if not guards:
            return None
        tables: dict[str, list[Tracked]] = {}
        for (table, _), tracked in guards.items():
            tables.setdefault(table, []).append(tracked)
        try:
            for rows in tables.values():
                schema = rows[0].schema
                async with self._route(schema.name).acquire() as conn:
                    found = await select_rows(conn, schema, [t.key for t in rows])
                fresh = {schema.key_of(r): r for r in found}
                for tracked in rows:
                    row = fresh.get(tracked.key)
                    if tracked.stored is None:
                        stale = row is not None
                    else:
                        stale = row is None or row.get(ETAG) != tracked.held_etag
                    if stale:
                        return tracked.conflict()
        except GlueError as exc:
            _log.warning(
                "could not read guarded rows again after a failed commit",
                error=str(exc),
            )
        return None

    async def _load(self, schema: Schema, keys: Sequence[Key]) -> list[dict[str, Any]]:
        self._check_active()
        async with self.reading(self._route(schema.name)) as conn:
            return await select_rows(conn, schema, keys)


async def _flush_with(
    conn: Connection, batches: tuple[Batch, ...], riders: list[Statement]
) -> None:
    """Insert ``batches`` and run ``riders`` in one atomic call (see
    :meth:`UnitOfWork.before_commit`)."""
    dialect = conn.dialect
    statements = [s for batch in batches for s in batch.statements(dialect)]
    statements += riders
    if all(statement.many is None for statement in statements):
        statements = dialect.combine(statements)
    if len(statements) == 1 and statements[0].many is None:
        # One statement is atomic alone: no BEGIN and COMMIT to pay for.
        await conn.execute(statements[0].sql, statements[0].params)
    else:
        await conn.batch(statements)
