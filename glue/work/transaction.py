"""Transaction: write transactions on one or more databases, committed together.

A :class:`Transaction` opens a write connection and a transaction on each
database the first time it is asked for one, and commits them all, or none, at
the end. What "all or none" can mean depends on the databases involved:

- **One database**: its own transaction. Atomic.
- **Several PostgreSQL databases whose servers allow prepared transactions**
  (``max_prepared_transactions > 0``): two-phase commit. Each is prepared
  (``PREPARE TRANSACTION 'glue_...'``) in first-use order; a database that
  refuses to prepare (a deferred constraint, a lost connection) rolls every one
  back, the prepared ones with ``ROLLBACK PREPARED``. Once every one prepared the
  unit is decided, and each is committed (``COMMIT PREPARED``), on its own
  connection or, when that was lost, on a fresh one from its pool. Prepared
  transactions are never rolled back after that point: one that still cannot be
  committed raises `glue.CommitError`, naming the databases that committed and,
  for the one that failed, its transaction id and whether it is still on the
  server (check ``pg_prepared_xacts``; finish it with ``COMMIT PREPARED 'id'``,
  connected to that database). The other prepared databases are still committed.
  That is the only case that leaves a prepared transaction behind.
- **SQLite among them, or a PostgreSQL server with max_prepared_transactions = 0**
  (neither can prepare): every flush must have succeeded before anything
  commits; then the databases that can prepare are prepared, then the others
  commit one at a time (PostgreSQL ones first, then SQLite ones, each in
  first-use order), and only then are the prepared ones committed. When exactly
  one database cannot prepare, the unit is atomic except for a crash between its
  commit and the prepared ones' commits. When several cannot, a commit that
  fails after an earlier one succeeded raises `glue.CommitError` naming the
  database that failed and the databases already committed; everything not yet
  committed is rolled back.

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

from ..errors import CommitError, ContextError, GlueError
from ..errors import ConnectionError as ConnectionLost
from ..log import get_logger

if TYPE_CHECKING:
    from contextlib import AbstractAsyncContextManager
    from types import TracebackType

    from ..connections.abc import Connection, ConnectionPool

__all__ = ["Transaction", "TransactionState", "supports_two_phase"]

_log = get_logger(__name__)

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


class _Participant:
    """One database of a transaction: its checkout and its transaction."""

    __slots__ = ("checkout", "conn", "gid", "pool", "prepared", "transaction")

    def __init__(
        self,
        pool: ConnectionPool,
        checkout: AbstractAsyncContextManager[Connection],
        conn: Connection,
    ) -> None:
        self.pool = pool
        self.checkout = checkout
        self.conn = conn
        self.transaction: AbstractAsyncContextManager[None] | None = None
        # The prepared transaction's id while it may need ROLLBACK PREPARED.
        self.gid: str | None = None
        self.prepared = False

    @property
    def name(self) -> str:
        return self.pool.name


class Transaction:
    """Write transactions on every database a unit of work touches.

    ::

        async with Transaction() as tx:
            conn = await tx.connection(pool)
            await conn.execute("UPDATE ...", (...))
        # committed on a clean exit, rolled back on error

    A transaction is used once; after `commit` or `rollback` it refuses more work.
    """

    def __init__(self) -> None:
        """Create a transaction; nothing connects until `connection`."""
        self._participants: dict[int, _Participant] = {}
        self._state = TransactionState.OPEN
        self._opening = anyio.Lock()

    @property
    def state(self) -> TransactionState:
        """Where the transaction is in its life."""
        return self._state

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
        write lock is held from here on).

        Raises:
            glue.ContextError: the transaction has ended.
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

    async def commit(self) -> None:
        """Commit on every database, or on none (see the module notes).

        Raises:
            glue.CommitError: a database failed to commit after another one had
                committed.
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
        checkout = pool.acquire(write=True)
        conn = await checkout.__aenter__()
        participant = _Participant(pool, checkout, conn)
        try:
            transaction = conn.transaction()
            await transaction.__aenter__()
            participant.transaction = transaction
        except BaseException:
            with anyio.CancelScope(shield=True):
                await checkout.__aexit__(None, None, None)
            raise
        self._participants[id(pool)] = participant
        return participant

    async def _commit(self) -> None:
        participants = list(self._participants.values())
        if len(participants) == 1:
            await _end(participants[0], commit=True)
            return
        prepared, single = [], []
        for participant in participants:
            if await _can_prepare(participant):
                prepared.append(participant)
            else:
                single.append(participant)
        single.sort(key=lambda p: p.conn.dialect.embedded)
        for participant in prepared:
            await _prepare(participant)
        committed: list[str] = []
        for participant in single:
            try:
                await _end(participant, commit=True)
            except GlueError as exc:
                if not committed:
                    raise
                raise CommitError(participant.name, committed, str(exc)) from exc
            committed.append(participant.name)
        # Decided: every database prepared or committed. Roll forward only.
        failed: list[tuple[_Participant, str, GlueError]] = []
        for participant in prepared:
            gid = participant.gid
            assert gid is not None
            participant.gid = None
            try:
                await _finish_prepared(participant, "COMMIT", gid)
            except GlueError as exc:
                failed.append((participant, gid, exc))
                continue
            committed.append(participant.name)
        if failed:
            reasons = [await _left_behind(*failure) for failure in failed]
            raise CommitError(
                failed[0][0].name, committed, "; ".join(reasons)
            ) from failed[0][2]

    async def _release_all(self, *, rollback: bool) -> None:
        participants = list(self._participants.values())
        self._participants.clear()
        for participant in participants:
            try:
                if rollback:
                    await _end(participant, commit=False)
                    if participant.gid is not None:
                        await _rollback_prepared(participant, participant.gid)
            except GlueError as exc:
                _log.warning(
                    "rollback failed", database=participant.name, error=str(exc)
                )
            finally:
                await participant.checkout.__aexit__(None, None, None)


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


async def _prepare(participant: _Participant) -> None:
    """Phase one on a PostgreSQL database: ``PREPARE TRANSACTION``."""
    gid = participant.gid = f"glue_{uuid.uuid4().hex}"
    try:
        conn = participant.conn
        await conn.execute(conn.dialect.prepare_transaction(gid))
    except ConnectionLost:
        raise  # Unknown whether it prepared: the rollback tries ROLLBACK PREPARED.
    except GlueError:
        participant.gid = None  # Refused: the server rolled it back.
        raise
    participant.prepared = True
    # The session has left its transaction; this ends glue's side of it.
    await _end(participant, commit=True)


async def _finish_prepared(participant: _Participant, verb: str, gid: str) -> None:
    """Run ``COMMIT PREPARED`` or ``ROLLBACK PREPARED`` for ``gid``.

    On the participant's connection, or on a fresh one from its pool when that
    connection was lost: a prepared transaction outlives its session.
    """
    conn = participant.conn
    sql = conn.dialect.finish_prepared(gid, commit=verb == "COMMIT")
    if not conn.closed:
        try:
            await conn.execute(sql)
        except ConnectionLost as exc:
            _log.info(
                "connection lost finishing a prepared transaction; retrying",
                database=participant.name,
                statement=sql,
                error=str(exc),
            )
        else:
            return
    async with participant.pool.acquire() as fresh:
        await fresh.execute(sql)


async def _rollback_prepared(participant: _Participant, gid: str) -> None:
    try:
        await _finish_prepared(participant, "ROLLBACK", gid)
    except GlueError as exc:
        if participant.prepared:
            raise GlueError(
                f"{exc}; prepared transaction {gid!r} may be left on the server: "
                "finish it with ROLLBACK PREPARED"
            ) from exc
        # Its PREPARE never answered: most likely it never ran.
        _log.debug("no prepared transaction to roll back", gid=gid, error=str(exc))


async def _left_behind(participant: _Participant, gid: str, exc: GlueError) -> str:
    """Why ``gid`` did not commit, and whether it is still on its server."""
    try:
        async with participant.pool.acquire() as conn:
            found = await conn.dialect.is_prepared(conn, gid)
    except GlueError:
        where = (
            "may be left on the server: look in pg_prepared_xacts and finish it "
            f"with COMMIT PREPARED '{gid}' in database {participant.name!r}"
        )
    else:
        if found:
            where = (
                "is left on the server, holding its locks: finish it with "
                f"COMMIT PREPARED '{gid}' in database {participant.name!r}"
            )
        else:
            where = (
                "is no longer on the server (someone else finished it: check "
                "whether its writes are there)"
            )
    return f"{participant.name}: {exc}; its prepared transaction {gid!r} {where}"


async def _can_prepare(participant: _Participant) -> bool:
    return await supports_two_phase(participant.pool, participant.conn)


async def supports_two_phase(pool: ConnectionPool, conn: Connection) -> bool:
    """Whether ``pool``'s database allows prepared transactions.

    Asked once per pool (PostgreSQL: ``SHOW max_prepared_transactions``), then
    remembered; SQLite never does.
    """
    known = _TWO_PHASE.get(pool)
    if known is None:
        known = await conn.dialect.allows_prepared_transactions(conn)
        _TWO_PHASE[pool] = known
    return known
