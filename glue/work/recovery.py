"""Two-phase commit's decisions, and the prepared transactions a crash leaves.

A unit of work whose databases include some that can prepare (PostgreSQL with
``max_prepared_transactions > 0``) commits them with two-phase commit. One
database that does not prepare, the **coordinator**, holds the unit's decision:

1. the coordinator's transaction inserts a row ``(unit, 'commit')`` into its
   table ``glue_decisions`` (created on first use);
2. every other database that can prepare runs ``PREPARE TRANSACTION`` with an
   id naming the unit and the coordinator (`transaction_id`);
3. the coordinator commits: **the decision**. Its row exists exactly when the
   unit committed;
4. each prepared transaction is committed (``COMMIT PREPARED``), and the row is
   deleted.

A prepared transaction found later (the process died, a server restarted, a
reply was lost) is decided by its coordinator's row: committed if the row says
so, else rolled back (presumed abort). To decide, `decide` inserts
``(unit, 'abort')`` unless a row exists: that insert waits for a coordinator
transaction still running (its uncommitted row, or SQLite's write lock), so it
never rolls back a unit about to commit, and once it is in, that unit can no
longer commit. Recovery is safe at any time, beside live units, from any number
of processes.

`recover_prepared` runs when an App opens and behind ``glue transactions
recover``; `find_prepared` lists without changing anything.
"""

from __future__ import annotations

import datetime as dt
import enum
import hashlib
import re
import weakref
from typing import TYPE_CHECKING, Any

import msgspec

from ..errors import GlueError, IntegrityError
from ..log import get_logger

if TYPE_CHECKING:
    from collections.abc import Iterable

    from ..connections.abc import Connection, ConnectionPool
    from ..sql.dialects import Dialect

__all__ = [
    "Decision",
    "PreparedTransaction",
    "decide",
    "find_prepared",
    "forget",
    "record",
    "recover_prepared",
    "remember_table",
    "transaction_id",
]

_log = get_logger(__name__)

_GID = re.compile(r"^glue_([0-9a-f]{32})_([0-9]+)_([0-9a-f]{12})$")
_CREATE = (
    "CREATE TABLE IF NOT EXISTS glue_decisions "
    "(unit TEXT PRIMARY KEY, decision TEXT NOT NULL)"
)
# {unit} is the dialect's placeholder for the unit, which is always bound.
_RECORD = "INSERT INTO glue_decisions (unit, decision) VALUES ({unit}, 'commit')"
_READ = "SELECT decision FROM glue_decisions WHERE unit = {unit}"
_FORGET = "DELETE FROM glue_decisions WHERE unit = {unit}"

# Pools whose database is known to have glue_decisions.
_TABLES: weakref.WeakKeyDictionary[Any, bool] = weakref.WeakKeyDictionary()


class Decision(enum.StrEnum):
    """What a unit of work decided, as its coordinator records it."""

    COMMIT = "commit"
    ABORT = "abort"


class PreparedTransaction(msgspec.Struct, frozen=True, kw_only=True):
    """A prepared transaction glue left on a server, and what became of it.

    Attributes:
        database: the name of the pool whose database holds it.
        gid: its transaction id (``COMMIT PREPARED 'gid'`` finishes it).
        prepared_at: when it was prepared.
        unit: the unit of work it belongs to; None for an id glue cannot read.
        coordinator: the pool whose database holds the unit's decision; None
            when no pool given is it.
        decision: ``"commit"``, ``"abort"``, or None while undecided.
        outcome: ``"committed"``, ``"rolled back"``, or why it is left as it is
            (empty when only listed).
    """

    database: str
    gid: str
    prepared_at: dt.datetime | None = None
    unit: str | None = None
    coordinator: str | None = None
    decision: str | None = None
    outcome: str = ""


def transaction_id(unit: str, index: int, coordinator: ConnectionPool) -> str:
    """The id of a unit's ``index``-th prepared transaction.

    ``glue_<unit>_<index>_<coordinator>``: the unit (32 hex digits), the
    participant's place, and a digest of the coordinator pool's name, so that
    recovery finds the decision. Only ``[0-9a-z_]``: safe inside a SQL literal.
    """
    return f"glue_{unit}_{index}_{_token(coordinator.name)}"


async def record(conn: Connection, pool: ConnectionPool, unit: str) -> None:
    """Insert the unit's decision to commit, in the coordinator's transaction.

    It counts once that transaction commits, and not before.
    """
    await _ensure_table(conn, pool)
    await conn.execute(_by_unit(conn.dialect, _RECORD), (unit,))


def remember_table(pool: ConnectionPool) -> None:
    """Note that ``pool``'s database has the decisions table (after a commit
    that created it, if it did)."""
    _TABLES[pool] = True


async def forget(conn: Connection, unit: str) -> None:
    """Delete a unit's decision once every database finished (best effort)."""
    try:
        await conn.execute(_by_unit(conn.dialect, _FORGET), (unit,))
    except GlueError as exc:
        _log.warning("could not delete a commit decision", unit=unit, error=str(exc))


async def decide(
    pool: ConnectionPool, unit: str, *, lock_timeout: float | None
) -> Decision:
    """Fix the decision of ``unit``, whose coordinator is ``pool``'s database.

    Commit if the coordinator committed the unit's row; otherwise record an
    abort, which waits for a coordinator transaction still running (up to
    ``lock_timeout``) and keeps it from ever committing.

    Raises:
        glue.LockConflict: the coordinator's transaction is still running.
        glue.PoolTimeout: no write connection within ``lock_timeout``.
        glue.GlueError: the database could not be reached or refused.
    """
    async with pool.acquire(write=True, timeout=lock_timeout) as conn:
        async with conn.transaction(lock_timeout=lock_timeout):
            await _ensure_table(conn, pool)
            fence = conn.dialect.upsert(
                "glue_decisions", ("unit", "decision"), ("unit",)
            )
            await conn.execute(fence, (unit, Decision.ABORT.value))
            result = await conn.fetch(_by_unit(conn.dialect, _READ), (unit,))
    remember_table(pool)
    return Decision(result.rows[0][0])


async def find_prepared(
    pools: Iterable[ConnectionPool],
) -> list[PreparedTransaction]:
    """Every prepared transaction glue left in the databases of ``pools``.

    Changes nothing: a decision is read as it stands (None while the unit is
    undecided, or its coordinator cannot be read).

    Raises:
        glue.GlueError: a PostgreSQL database could not be read.
    """
    distinct = _distinct(pools)
    found = []
    for pool, gid, prepared_at in await _scan(distinct):
        unit, coordinator = _parse(gid, distinct)
        decision = None
        if unit is not None and coordinator is not None:
            decision = await _read(coordinator, unit)
        found.append(
            PreparedTransaction(
                database=pool.name,
                gid=gid,
                prepared_at=prepared_at,
                unit=unit,
                coordinator=None if coordinator is None else coordinator.name,
                decision=decision,
            )
        )
    return found


async def recover_prepared(
    pools: Iterable[ConnectionPool], *, lock_timeout: float | None = 2.0
) -> list[PreparedTransaction]:
    """Finish every prepared transaction glue left in the databases of ``pools``.

    Each is committed when its unit's coordinator recorded the commit, else
    rolled back (see the module notes). One stays, said in its ``outcome``,
    when its coordinator is not among ``pools``, cannot be reached, or is still
    committing (a live unit: it finishes it itself).

    Args:
        pools: the pools of an App (each database is looked at once).
        lock_timeout: how long to wait for a coordinator still committing.

    Returns:
        what was found, each with its decision and outcome.

    Raises:
        glue.GlueError: a PostgreSQL database could not be read.
    """
    distinct = _distinct(pools)
    done = []
    for pool, gid, prepared_at in await _scan(distinct):
        unit, coordinator = _parse(gid, distinct)
        decision, outcome = None, ""
        if unit is None:
            outcome = "left: not an id glue made"
        elif coordinator is None:
            outcome = "left: its coordinator is none of these databases"
        else:
            try:
                decision = await decide(coordinator, unit, lock_timeout=lock_timeout)
            except GlueError as exc:
                outcome = f"left: undecided ({exc})"
        if decision is not None:
            outcome = await _finish(pool, gid, decision)
        report = PreparedTransaction(
            database=pool.name,
            gid=gid,
            prepared_at=prepared_at,
            unit=unit,
            coordinator=None if coordinator is None else coordinator.name,
            decision=decision,
            outcome=outcome,
        )
        _log.warning(
            "prepared transaction recovered"
            if decision is not None and not outcome.startswith("left")
            else "prepared transaction left",
            database=report.database,
            gid=gid,
            decision=decision,
            outcome=outcome,
        )
        done.append(report)
    return done


# Internals ---------------------------------------------------------------


def _token(name: str) -> str:
    return hashlib.blake2s(name.encode(), digest_size=6).hexdigest()


def _distinct(pools: Iterable[ConnectionPool]) -> list[ConnectionPool]:
    return list({id(pool): pool for pool in pools}.values())


def _parse(
    gid: str, pools: list[ConnectionPool]
) -> tuple[str | None, ConnectionPool | None]:
    """The unit of ``gid`` and the pool of its coordinator, where known."""
    match = _GID.match(gid)
    if match is None:
        return None, None
    token = match.group(3)
    coordinator = next((p for p in pools if _token(p.name) == token), None)
    return match.group(1), coordinator


async def _scan(
    pools: list[ConnectionPool],
) -> list[tuple[ConnectionPool, str, dt.datetime]]:
    """(pool, gid, prepared at) of glue's prepared transactions, per database."""
    found = []
    for pool in pools:
        if not pool.dialect.two_phase:
            continue  # it never prepares
        async with pool.acquire() as conn:
            rows = await conn.dialect.prepared_transactions(conn, "glue_")
        found += [(pool, gid, prepared_at) for gid, prepared_at in rows]
    return found


async def _read(pool: ConnectionPool, unit: str) -> str | None:
    """The decision recorded for ``unit``, without waiting or recording one."""
    try:
        async with pool.acquire() as conn:
            result = await conn.fetch(_by_unit(conn.dialect, _READ), (unit,))
    except GlueError:  # no table yet, or unreachable: nothing is known
        return None
    return str(result.rows[0][0]) if result.rows else None


async def _finish(pool: ConnectionPool, gid: str, decision: Decision) -> str:
    commit = decision is Decision.COMMIT
    verb = "COMMIT" if commit else "ROLLBACK"
    try:
        async with pool.acquire() as conn:
            try:
                await conn.execute(conn.dialect.finish_prepared(gid, commit=commit))
            except GlueError:
                if await conn.dialect.is_prepared(conn, gid):
                    raise
                return "finished meanwhile by its own unit of work"
    except GlueError as exc:
        return f"left: {verb} PREPARED failed ({exc})"
    return "committed" if decision is Decision.COMMIT else "rolled back"


def _by_unit(dialect: Dialect, template: str) -> str:
    return template.format(unit=dialect.placeholder(1))


async def _ensure_table(conn: Connection, pool: ConnectionPool) -> None:
    """Create glue_decisions if ``pool``'s database may lack it.

    Inside the caller's transaction, in a savepoint: on PostgreSQL, a
    transaction creating it at the same time makes this one fail, and the table
    exists once that one commits.
    """
    if _TABLES.get(pool):
        return
    try:
        async with conn.transaction():
            await conn.execute(_CREATE)
    except IntegrityError:
        pass
