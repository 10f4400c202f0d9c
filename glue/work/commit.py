"""Committing the databases of a transaction: in one phase, or two around a
coordinator.

The outcome a caller sees is one of three: the call returns (committed
everywhere); it raises any other error (nothing committed); or it raises
`glue.CommitInDoubt` (not known yet: it names each prepared transaction and what
is decided). Across databases:

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

See :mod:`glue.work.recovery` for the decision record and how prepared
transactions left behind are found and finished.
"""

from __future__ import annotations

import enum
import uuid
import weakref
from typing import TYPE_CHECKING, Any

from ..errors import CommitError, CommitInDoubt, GlueError
from ..errors import ConnectionError as ConnectionLost
from ..log import get_logger
from . import recovery
from .recovery import Decision

if TYPE_CHECKING:
    from collections.abc import Sequence
    from contextlib import AbstractAsyncContextManager

    from ..connections.abc import Connection, ConnectionPool

__all__ = ["Participant", "commit_all", "end", "supports_two_phase"]

_log = get_logger(__name__)

# max_prepared_transactions per PostgreSQL pool, learnt once.
_TWO_PHASE: weakref.WeakKeyDictionary[Any, bool] = weakref.WeakKeyDictionary()


class Participant:
    """One database of a transaction: its checkout and its transaction.

    Args:
        pool: the database's pool.
        checkout: the checkout of its write connection, given back by `release`.
        conn: the write connection.
    """

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


async def commit_all(
    participants: Sequence[Participant], *, lock_timeout: float | None
) -> None:
    """Commit every participant, or none (see the module notes).

    Args:
        participants: the databases, in canonical order, their transactions open.
        lock_timeout: how long to wait for a decision still being taken, or a
            connection to finish a prepared transaction on.

    Raises:
        glue.CommitInDoubt: the outcome is not known yet on some database.
        glue.CommitError: a database that cannot prepare failed after another
            one had committed, or a prepared transaction was finished the other
            way by someone else.
        glue.GlueError: nothing was committed (prepared transactions were rolled
            back; a note names any that could not be yet).
    """
    ordered = list(participants)
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
    # Network databases first (the likelier to fail), embedded ones (SQLite)
    # last: the coordinator is then one whose commit cannot lose its reply,
    # when there is one.
    single.sort(key=lambda p: p.conn.dialect.embedded)
    await _two_phase(prepared, single, lock_timeout)


async def _two_phase(
    prepared: list[Participant], single: list[Participant], lock_timeout: float | None
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
            notes = await _abandon(prepared, lock_timeout)
            error = CommitInDoubt(
                lost.participant.name,
                committed,
                f"the connection was lost while it committed: {lost.error}",
            )
            for note in notes:
                error.add_note(note)
            raise error from lost.error
        await _settle_lost(lost, prepared, committed, unit, lock_timeout)
        return
    except GlueError as exc:
        notes = await _abandon(prepared, lock_timeout)
        for note in notes:
            exc.add_note(note)
        if committed:
            raise CommitError(step.name, committed, str(exc)) from exc
        raise
    if prepared:
        recovery.remember_table(coordinator.pool)
        await _roll_forward(prepared, committed, coordinator, unit, lock_timeout)


async def _settle_lost(
    lost: _LostReply,
    prepared: list[Participant],
    committed: list[str],
    unit: str,
    lock_timeout: float | None,
) -> None:
    """The coordinator's COMMIT lost its reply: its record says whether the
    unit committed; roll forward, or back."""
    participant = lost.participant
    await participant.release()
    try:
        decision = await recovery.decide(
            participant.pool, unit, lock_timeout=lock_timeout
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
        await _roll_forward(prepared, committed, participant, unit, lock_timeout)
        return
    error = lost.error
    error.add_note("its decision reads 'abort': it did not commit")
    for note in await _abandon(prepared, lock_timeout):
        error.add_note(note)
    if committed:
        raise CommitError(participant.name, committed, str(error)) from error
    raise error


async def _abandon(
    prepared: list[Participant], lock_timeout: float | None
) -> list[str]:
    """Roll back whatever prepared (before the decision); return notes on
    prepared transactions that may be left (recovery rolls them back)."""
    notes = []
    for participant in prepared:
        if participant.gid is None:
            continue
        settled = await _settle(participant, Decision.ABORT, lock_timeout)
        if settled is not _Settled.DONE:
            notes.append(
                f"prepared transaction {participant.gid!r} may be left in "
                f"database {participant.name!r}: nothing of the unit "
                "committed, and glue's recovery rolls it back (the next App "
                "start, or `glue transactions recover`)"
            )
    return notes


async def _roll_forward(
    prepared: list[Participant],
    committed: list[str],
    coordinator: Participant,
    unit: str,
    lock_timeout: float | None,
) -> None:
    """The unit decided to commit: commit every prepared transaction."""
    pending: list[Participant] = []
    contradicted: list[Participant] = []
    for participant in prepared:
        settled = await _settle(participant, Decision.COMMIT, lock_timeout)
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


class _RolledBack(Exception):
    """Thrown into a connection's transaction to make it roll back."""


class _LostReply(Exception):
    """A one-phase COMMIT was sent and its reply never came."""

    def __init__(self, participant: Participant, error: ConnectionLost) -> None:
        self.participant = participant
        self.error = error


class _Settled(enum.Enum):
    """What became of a prepared transaction glue tried to finish."""

    DONE = "done"
    CONTRADICTED = "finished the other way by someone else"
    LEFT = "left"


async def end(participant: Participant, *, commit: bool) -> None:
    """Leave the participant's transaction: commit, or roll back (a transaction
    already left is left alone)."""
    transaction, participant.transaction = participant.transaction, None
    if transaction is None:
        return
    if commit:
        await transaction.__aexit__(None, None, None)
    else:
        signal = _RolledBack()
        await transaction.__aexit__(_RolledBack, signal, None)


async def _commit_one(participant: Participant) -> None:
    """COMMIT a database in one phase.

    Raises:
        _LostReply: COMMIT went out and the connection was lost before its
            reply (a network database): it may or may not have committed.
        glue.GlueError: it did not commit.
    """
    conn = participant.conn
    sent = not conn.closed and not conn.dialect.embedded
    try:
        await end(participant, commit=True)
    except ConnectionLost as exc:
        if not sent:
            raise  # nothing went out, or SQLite, which cannot lose a reply
        raise _LostReply(participant, exc) from exc


async def _prepare(participant: Participant, gid: str) -> None:
    """Phase one on a PostgreSQL database: ``PREPARE TRANSACTION``."""
    conn = participant.conn
    participant.xid = await conn.dialect.current_transaction(conn)
    participant.gid = gid
    try:
        await conn.execute(conn.dialect.prepare_transaction(gid))
    except ConnectionLost:
        raise  # Unknown whether it prepared: `_settle` finds out.
    except GlueError:
        participant.gid = None  # Refused: the server rolled it back.
        raise
    # The session has left its transaction; this ends glue's side of it.
    await end(participant, commit=True)


async def _settle(
    participant: Participant, decision: Decision, timeout: float | None
) -> _Settled:
    """Commit or roll back a prepared (or maybe prepared) transaction.

    On its own connection, or, when that was lost or the statement failed, on
    a fresh one, which first looks whether it is still prepared and, when it is
    gone, asks the server how its transaction ended (``txid_status``).
    """
    gid = participant.gid
    assert gid is not None
    conn = participant.conn
    dialect = conn.dialect
    sql = dialect.finish_prepared(gid, commit=decision is Decision.COMMIT)
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
            if await dialect.is_prepared(fresh, gid):
                await fresh.execute(sql)
                return _Settled.DONE
            status = None
            if participant.xid is not None:
                status = await dialect.transaction_status(fresh, participant.xid)
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


async def _can_prepare(participant: Participant) -> bool:
    if not participant.conn.dialect.two_phase:
        return False
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
