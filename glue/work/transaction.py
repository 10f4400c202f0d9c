"""Transaction: write transactions on one or more databases, committed together.

A :class:`Transaction` opens a write connection and a transaction on each
database the first time it is asked for one, and commits them all, or none, at
the end.

**Waiting.** Transactions take the write connections of several databases in
one canonical order (by pool name), all before they write (`connections`), so
two of them never hold one each while waiting for the other's. A database
joined later, out of that order while the transaction holds one that sorts
after it (a lock taken by a handler, an early flush), is waited for at most a
fortieth of ``lock_timeout`` (50 ms by default: units waiting in order for what
this one holds queue behind that wait), and any lock inside PostgreSQL at most
``lock_timeout`` seconds (``SET LOCAL lock_timeout``); SQLite waits for another
process's write lock at most its busy timeout. A wait that runs out raises
`glue.LockConflict`, a `glue.ConcurrencyConflict`: nothing was written, and the
bus runs the command again. No server sees a cycle that spans two databases;
bounded waits break it.

**Committing.** The outcome a caller sees is one of three: the call returns
(committed everywhere); it raises any other error (nothing committed); or it
raises `glue.CommitInDoubt` (not known yet: it names each prepared transaction
and what is decided). Across databases:

- **One database**: its own transaction. Atomic. A connection lost while it
  committed gives `glue.CommitInDoubt` (nobody can tell whether it did).
- **Databases that can prepare** (PostgreSQL with ``max_prepared_transactions
  > 0``) commit in two phases around one database that does not prepare, the
  coordinator (the last SQLite one, else the last PostgreSQL one that cannot
  prepare, else the first in order). The coordinator records the decision in
  its own transaction, the others prepare, the coordinator commits (the
  decision), then the prepared ones are committed (see
  :mod:`glue.work.recovery`). A failure before the decision rolls every one
  back; a reply lost at the decision is settled by reading the coordinator's
  record; after it, glue only rolls forward, on fresh connections when needed,
  and checks the outcome of a ``COMMIT PREPARED`` whose reply was lost. What
  cannot be finished now stays prepared, named in `glue.CommitInDoubt`, and
  glue's recovery finishes it (the next App start, ``glue transactions
  recover``): atomic.
- **Several databases that cannot prepare** (SQLite, PostgreSQL without
  prepared transactions): they commit one at a time, PostgreSQL first, after
  everything prepared and before the coordinator. A failure once one committed
  raises `glue.CommitError` naming what committed: atomic only with one.

Rollback (on any error, or cancellation before the commit starts) runs under a
shielded cancel scope, and every connection goes back to its pool. Once the
commit has started it finishes, shielded from cancellation, so that a cancelled
caller never leaves a half-committed unit behind it.
"""

from __future__ import annotations

import enum
import uuid
import weakref
from typing import TYPE_CHECKING, Any, Self

import anyio
import structlog

from ..errors import (
    CommitError,
    CommitInDoubt,
    ContextError,
    GlueError,
    LockConflict,
    PoolTimeout,
)
from ..errors import ConnectionError as ConnectionLost
from . import recovery
from .recovery import Decision

if TYPE_CHECKING:
    from collections.abc import Sequence
    from contextlib import AbstractAsyncContextManager
    from types import TracebackType

    from ..connections.abc import Connection, ConnectionPool

__all__ = ["LOCK_TIMEOUT", "Transaction", "TransactionState", "supports_two_phase"]

_log = structlog.get_logger("glue.work")

LOCK_TIMEOUT = 2.0
"""Seconds a transaction waits for a lock by default (see the module notes)."""

# How much of the lock timeout a write connection taken out of order is waited
# for (see `Transaction._join`).
_GLANCE = 0.025

# max_prepared_transactions per PostgreSQL pool, learnt once.
_TWO_PHASE: weakref.WeakKeyDictionary[Any, bool] = weakref.WeakKeyDictionary()


class TransactionState(enum.Enum):
    """Where a transaction is in its life."""

    OPEN = "open"
    COMMITTED = "committed"
    ROLLED_BACK = "rolled back"
    FAILED = "failed"


class _RolledBack(Exception):
    """Thrown into a connection's transaction to make it roll back."""


class _LostReply(Exception):
    """A one-phase COMMIT was sent and its reply never came."""

    def __init__(self, participant: _Participant, error: ConnectionLost) -> None:
        self.participant = participant
        self.error = error


class _Settled(enum.Enum):
    DONE = "done"
    CONTRADICTED = "finished the other way by someone else"
    LEFT = "left"


class _Participant:
    """One database of a transaction: its checkout and its transaction."""

    __slots__ = ("checkout", "conn", "gid", "pool", "transaction", "xid")

    def __init__(
        self,
        pool: ConnectionPool,
        checkout: AbstractAsyncContextManager[Connection],
        conn: Connection,
    ) -> None:
        self.pool = pool
        self.checkout: AbstractAsyncContextManager[Connection] | None = checkout
        self.conn = conn
        self.transaction: AbstractAsyncContextManager[None] | None = None
        # Set just before PREPARE TRANSACTION: from then on it may be prepared.
        self.gid: str | None = None
        self.xid: int | None = None

    @property
    def name(self) -> str:
        return self.pool.name

    async def release(self) -> None:
        """Give the connection back to its pool (once)."""
        checkout, self.checkout = self.checkout, None
        if checkout is not None:
            await checkout.__aexit__(None, None, None)


def _order(pool: ConnectionPool) -> tuple[str, int]:
    """The canonical order in which transactions take write connections."""
    return (pool.name, id(pool))


class Transaction:
    """Write transactions on every database a unit of work touches.

    ::

        async with Transaction() as tx:
            conn = await tx.connection(pool)
            await conn.execute("UPDATE ...", (...))
        # committed on a clean exit, rolled back on error

    A transaction is used once; after `commit` or `rollback` it refuses more work.

    Args:
        lock_timeout: the most seconds to wait for a lock another transaction
            holds (see the module notes); None waits as long as the pools and
            servers let it.
    """

    def __init__(self, *, lock_timeout: float | None = LOCK_TIMEOUT) -> None:
        """Create a transaction; nothing connects until `connection`."""
        self._participants: dict[int, _Participant] = {}
        self._state = TransactionState.OPEN
        self._opening = anyio.Lock()
        self._lock_timeout = lock_timeout

    @property
    def state(self) -> TransactionState:
        """Where the transaction is in its life."""
        return self._state

    @property
    def lock_timeout(self) -> float | None:
        """The most seconds it waits for a lock another transaction holds."""
        return self._lock_timeout

    @property
    def databases(self) -> tuple[str, ...]:
        """The names of the databases joined so far, in first-use order."""
        return tuple(p.name for p in self._participants.values())

    def joined(self, pool: ConnectionPool) -> Connection | None:
        """The connection this transaction holds on ``pool``, if it joined it."""
        participant = self._participants.get(id(pool))
        return None if participant is None else participant.conn

    async def connection(self, pool: ConnectionPool) -> Connection:
        """The write connection to ``pool``'s database, in this transaction.

        The first call for a pool checks out its writer (``acquire(write=True)``)
        and begins a transaction (``BEGIN IMMEDIATE`` on SQLite: the database's
        write lock is held from here on). Joining a pool that sorts before one
        already joined waits at most ``lock_timeout``.

        Raises:
            glue.ContextError: the transaction has ended.
            glue.LockConflict: joining out of order waited past ``lock_timeout``.
            glue.PoolTimeout: no connection became free in time.
        """
        participant = self._participants.get(id(pool))
        if participant is not None:
            self._check_open()
            return participant.conn
        async with self._opening:
            self._check_open()
            participant = self._participants.get(id(pool))
            if participant is None:
                participant = await self._join(pool)
            return participant.conn

    async def connections(
        self, pools: Sequence[ConnectionPool]
    ) -> list[tuple[ConnectionPool, Connection]]:
        """The write connections to ``pools``, each joined as by `connection`.

        The pools not joined yet are joined in canonical order, before anything
        is written through them: then no two transactions can each hold one
        writer while waiting for the other's.

        Returns:
            (pool, connection) for each distinct pool, in canonical order: the
            order to write in, so that row locks are taken in one order too.
        """
        distinct = sorted({id(p): p for p in pools}.values(), key=_order)
        async with self._opening:
            self._check_open()
            for pool in distinct:
                if id(pool) not in self._participants:
                    await self._join(pool)
        return [(pool, self._participants[id(pool)].conn) for pool in distinct]

    async def commit(self) -> None:
        """Commit on every database, or on none (see the module notes).

        Raises:
            glue.CommitInDoubt: the outcome is not known yet on some database.
            glue.CommitError: a database that cannot prepare failed to commit
                after another one had committed, or a prepared transaction was
                finished the other way by someone else.
            glue.GlueError: a database failed before anything committed; all
                were rolled back.
        """
        self._check_open()
        with anyio.CancelScope(shield=True):
            try:
                await self._commit()
            except BaseException:
                self._state = TransactionState.FAILED
                await self._release_all(rollback=True)
                raise
            self._state = TransactionState.COMMITTED
            await self._release_all(rollback=False)

    async def rollback(self) -> None:
        """Roll back every database and release the connections. Idempotent."""
        if self._state is not TransactionState.OPEN:
            return
        self._state = TransactionState.ROLLED_BACK
        with anyio.CancelScope(shield=True):
            await self._release_all(rollback=True)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is None and self._state is TransactionState.OPEN:
            await self.commit()
        else:
            await self.rollback()

    # Internals -------------------------------------------------------------

    def _check_open(self) -> None:
        if self._state is not TransactionState.OPEN:
            raise ContextError(
                f"this transaction is {self._state.value}: begin a new one"
            )

    async def _join(self, pool: ConnectionPool) -> _Participant:
        timeout = self._lock_timeout
        after = [
            p.name for p in self._participants.values() if _order(p.pool) > _order(pool)
        ]
        # In canonical order a wait cannot close a cycle; out of it, it may,
        # and whoever waits in order for what this one holds waits with it:
        # a glance, not the whole lock timeout.
        glance = None if timeout is None or not after else timeout * _GLANCE
        checkout = pool.acquire(write=True, timeout=glance)
        try:
            conn = await checkout.__aenter__()
        except PoolTimeout as exc:
            if glance is None:
                raise
            raise LockConflict(
                pool.name,
                f"its write connection was not free within {glance:g} s while "
                f"this transaction holds {', '.join(after)}'s: its holder may be "
                "waiting for one of those",
            ) from exc
        participant = _Participant(pool, checkout, conn)
        try:
            transaction = conn.transaction(lock_timeout=timeout)
            await transaction.__aenter__()
            participant.transaction = transaction
        except BaseException:
            with anyio.CancelScope(shield=True):
                await participant.release()
            raise
        self._participants[id(pool)] = participant
        return participant

    async def _commit(self) -> None:
        ordered = sorted(self._participants.values(), key=lambda p: _order(p.pool))
        if not ordered:
            return
        if len(ordered) == 1:
            try:
                await _commit_one(ordered[0])
            except _LostReply as lost:
                raise CommitInDoubt(
                    lost.participant.name,
                    (),
                    f"the connection was lost while it committed: {lost.error}",
                ) from lost.error
            return
        prepared, single = [], []
        for participant in ordered:
            if await _can_prepare(participant):
                prepared.append(participant)
            else:
                single.append(participant)
        if not single:
            single.append(prepared.pop(0))
        # PostgreSQL first (the likelier to fail), SQLite last: the coordinator
        # is then one whose commit cannot lose its reply, when there is one.
        single.sort(key=lambda p: p.conn.dialect == "sqlite")
        await self._two_phase(prepared, single)

    async def _two_phase(
        self, prepared: list[_Participant], single: list[_Participant]
    ) -> None:
        """Prepare, commit the one-phase databases (the coordinator last: the
        decision), then roll forward."""
        coordinator = single[-1]
        unit = uuid.uuid4().hex
        committed: list[str] = []
        step = coordinator
        try:
            if prepared:
                await recovery.record(coordinator.conn, coordinator.pool, unit)
                for index, step in enumerate(prepared, 1):
                    gid = recovery.transaction_id(unit, index, coordinator.pool)
                    await _prepare(step, gid)
            for step in single:
                await _commit_one(step)
                committed.append(step.name)
        except _LostReply as lost:
            if lost.participant is not coordinator or not prepared:
                # It keeps no record: nobody can tell whether it committed.
                notes = await self._abandon(prepared)
                error = CommitInDoubt(
                    lost.participant.name,
                    committed,
                    f"the connection was lost while it committed: {lost.error}",
                )
                for note in notes:
                    error.add_note(note)
                raise error from lost.error
            await self._settle_lost(lost, prepared, committed, unit)
            return
        except GlueError as exc:
            notes = await self._abandon(prepared)
            for note in notes:
                exc.add_note(note)
            if committed:
                raise CommitError(step.name, committed, str(exc)) from exc
            raise
        if prepared:
            recovery.remember_table(coordinator.pool)
            await self._roll_forward(prepared, committed, coordinator, unit)

    async def _settle_lost(
        self,
        lost: _LostReply,
        prepared: list[_Participant],
        committed: list[str],
        unit: str,
    ) -> None:
        """The coordinator's COMMIT lost its reply: its record says whether the
        unit committed; roll forward, or back."""
        participant = lost.participant
        await participant.release()
        try:
            decision = await recovery.decide(
                participant.pool, unit, lock_timeout=self._lock_timeout
            )
        except GlueError as exc:
            raise CommitInDoubt(
                participant.name,
                committed,
                "the connection was lost while it committed the unit's decision, "
                f"which cannot be read now ({exc})",
                prepared=[(p.name, p.gid) for p in prepared if p.gid],
            ) from lost.error
        if decision is Decision.COMMIT:
            committed.append(participant.name)
            await self._roll_forward(prepared, committed, participant, unit)
            return
        error = lost.error
        error.add_note("its decision reads 'abort': it did not commit")
        for note in await self._abandon(prepared):
            error.add_note(note)
        if committed:
            raise CommitError(participant.name, committed, str(error)) from error
        raise error

    async def _abandon(self, prepared: list[_Participant]) -> list[str]:
        """Roll back whatever prepared (before the decision); return notes on
        prepared transactions that may be left (recovery rolls them back)."""
        notes = []
        for participant in prepared:
            if participant.gid is None:
                continue
            settled = await _settle(participant, Decision.ABORT, self._lock_timeout)
            if settled is not _Settled.DONE:
                notes.append(
                    f"prepared transaction {participant.gid!r} may be left in "
                    f"database {participant.name!r}: nothing of the unit "
                    "committed, and glue's recovery rolls it back (the next App "
                    "start, or `glue transactions recover`)"
                )
        return notes

    async def _roll_forward(
        self,
        prepared: list[_Participant],
        committed: list[str],
        coordinator: _Participant,
        unit: str,
    ) -> None:
        """The unit decided to commit: commit every prepared transaction."""
        pending: list[_Participant] = []
        contradicted: list[_Participant] = []
        for participant in prepared:
            settled = await _settle(participant, Decision.COMMIT, self._lock_timeout)
            if settled is _Settled.DONE:
                committed.append(participant.name)
            elif settled is _Settled.CONTRADICTED:
                contradicted.append(participant)
            else:
                pending.append(participant)
        if contradicted:
            first = contradicted[0]
            raise CommitError(
                first.name,
                committed,
                f"its prepared transaction {first.gid!r} was rolled back by "
                "someone else after the unit decided to commit",
            )
        if pending:
            raise CommitInDoubt(
                pending[0].name,
                committed,
                "its prepared transaction could not be committed now",
                decision=Decision.COMMIT,
                prepared=[(p.name, p.gid) for p in pending if p.gid],
            )
        if coordinator.checkout is not None and not coordinator.conn.closed:
            await recovery.forget(coordinator.conn, unit)

    async def _release_all(self, *, rollback: bool) -> None:
        participants = list(self._participants.values())
        self._participants.clear()
        for participant in participants:
            try:
                if rollback:
                    await _end(participant, commit=False)
            except GlueError as exc:
                _log.warning(
                    "rollback failed", database=participant.name, error=str(exc)
                )
            finally:
                await participant.release()


async def _end(participant: _Participant, *, commit: bool) -> None:
    """Leave the participant's transaction: commit, or roll back."""
    transaction, participant.transaction = participant.transaction, None
    if transaction is None:
        return
    if commit:
        await transaction.__aexit__(None, None, None)
    else:
        signal = _RolledBack()
        await transaction.__aexit__(_RolledBack, signal, None)


async def _commit_one(participant: _Participant) -> None:
    """COMMIT a database in one phase.

    Raises:
        _LostReply: COMMIT went out and the connection was lost before its
            reply (a network database): it may or may not have committed.
        glue.GlueError: it did not commit.
    """
    conn = participant.conn
    sent = not conn.closed and conn.dialect == "postgres"
    try:
        await _end(participant, commit=True)
    except ConnectionLost as exc:
        if not sent:
            raise  # nothing went out, or SQLite, which cannot lose a reply
        raise _LostReply(participant, exc) from exc


async def _prepare(participant: _Participant, gid: str) -> None:
    """Phase one on a PostgreSQL database: ``PREPARE TRANSACTION``."""
    conn = participant.conn
    result = await conn.fetch("SELECT txid_current()")
    participant.xid = int(result.rows[0][0])
    participant.gid = gid
    try:
        await conn.execute(f"PREPARE TRANSACTION '{gid}'")
    except ConnectionLost:
        raise  # Unknown whether it prepared: `_settle` finds out.
    except GlueError:
        participant.gid = None  # Refused: the server rolled it back.
        raise
    # The session has left its transaction; this ends glue's side of it.
    await _end(participant, commit=True)


async def _settle(
    participant: _Participant, decision: Decision, timeout: float | None
) -> _Settled:
    """Commit or roll back a prepared (or maybe prepared) transaction.

    On its own connection, or, when that was lost or the statement failed, on
    a fresh one, which first looks whether it is still prepared and, when it is
    gone, asks the server how its transaction ended (``txid_status``).
    """
    gid = participant.gid
    assert gid is not None
    verb = "COMMIT" if decision is Decision.COMMIT else "ROLLBACK"
    sql = f"{verb} PREPARED '{gid}'"
    conn = participant.conn
    if participant.checkout is not None and not conn.closed:
        try:
            await conn.execute(sql)
        except GlueError as exc:
            _log.info(
                "finishing a prepared transaction failed; looking again",
                database=participant.name,
                statement=sql,
                error=str(exc),
            )
        else:
            return _Settled.DONE
    await participant.release()
    try:
        async with participant.pool.acquire(timeout=timeout) as fresh:
            if await recovery.is_prepared(fresh, gid):
                await fresh.execute(sql)
                return _Settled.DONE
            status = None
            if participant.xid is not None:
                status = await recovery.xact_status(fresh, participant.xid)
    except GlueError as exc:
        _log.warning(
            "cannot finish a prepared transaction now",
            database=participant.name,
            gid=gid,
            error=str(exc),
        )
        return _Settled.LEFT
    wanted = "committed" if decision is Decision.COMMIT else "aborted"
    if status == wanted:
        return _Settled.DONE
    if status in ("committed", "aborted"):
        return _Settled.CONTRADICTED
    return _Settled.LEFT  # a PREPARE still running, or too old to tell


async def _can_prepare(participant: _Participant) -> bool:
    if participant.conn.dialect != "postgres":
        return False
    return await supports_two_phase(participant.pool, participant.conn)


async def supports_two_phase(pool: ConnectionPool, conn: Connection) -> bool:
    """Whether ``pool``'s PostgreSQL server allows prepared transactions.

    Asked once per pool (``SHOW max_prepared_transactions``), then remembered.
    """
    known = _TWO_PHASE.get(pool)
    if known is None:
        result = await conn.fetch("SHOW max_prepared_transactions")
        known = _TWO_PHASE[pool] = int(result.rows[0][0]) > 0
    return known
