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

**Committing.** `commit` commits every database or none, as
:mod:`glue.work.commit` describes: the outcome a caller sees is that the call
returns (committed everywhere), any other error (nothing committed), or
`glue.CommitInDoubt` (not known yet: it names each prepared transaction and what
is decided).

Rollback (on any error, or cancellation before the commit starts) runs under a
shielded cancel scope, and every connection goes back to its pool. Once the
commit has started it finishes, shielded from cancellation, so that a cancelled
caller never leaves a half-committed unit behind it.
"""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING, Self

import anyio

from ..errors import ContextError, GlueError, LockConflict, PoolTimeout
from ..log import get_logger
from ..state.lock import QuickLock
from .commit import Participant, commit_all, end

if TYPE_CHECKING:
    from collections.abc import Sequence
    from types import TracebackType

    from ..connections.abc import Connection, ConnectionPool

__all__ = ["LOCK_TIMEOUT", "Transaction", "TransactionState"]

_log = get_logger(__name__)

LOCK_TIMEOUT = 2.0
"""Seconds a transaction waits for a lock by default (see the module notes)."""

# How much of the lock timeout a write connection taken out of order is waited
# for (see `Transaction._join`).
_GLANCE = 0.025


class TransactionState(enum.Enum):
    """Where a transaction is in its life."""

    OPEN = "open"
    COMMITTED = "committed"
    ROLLED_BACK = "rolled back"
    FAILED = "failed"


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
        self._participants: dict[int, Participant] = {}
        self._state = TransactionState.OPEN
        # Made on first use; uncontended, it costs no loop iteration.
        self._opening_lock: QuickLock | None = None
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
        async with self._opening():
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
        async with self._opening():
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
        if not self._participants:
            # Nothing joined (a unit whose writes went out alone): nothing to
            # commit, and no cancel scope to pay for.
            self._state = TransactionState.COMMITTED
            return
        with anyio.CancelScope(shield=True):
            try:
                participants = list(self._participants.values())
                if len(participants) > 1:
                    participants.sort(key=lambda p: _order(p.pool))
                await commit_all(participants, lock_timeout=self._lock_timeout)
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

    def _opening(self) -> QuickLock:
        """The lock held while joining databases."""
        if self._opening_lock is None:
            self._opening_lock = QuickLock()
        return self._opening_lock

    def _check_open(self) -> None:
        if self._state is not TransactionState.OPEN:
            raise ContextError(
                f"this transaction is {self._state.value}: begin a new one"
            )

    async def _join(self, pool: ConnectionPool) -> Participant:
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
        participant = Participant(pool, checkout, conn)
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

    async def _release_all(self, *, rollback: bool) -> None:
        participants = list(self._participants.values())
        self._participants.clear()
        for participant in participants:
            try:
                if rollback:
                    await end(participant, commit=False)
            except GlueError as exc:
                _log.warning(
                    "rollback failed", database=participant.name, error=str(exc)
                )
            finally:
                await participant.release()
