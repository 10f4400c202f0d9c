"""Two-phase commit across two PostgreSQL databases, for real.

The server allows prepared transactions (``postgres_2pc_server``), so a unit of
work on two of its databases goes out as: the coordinator (the pool first by
name, ``counters``) records the decision in its transaction; the other
(``default``) runs PREPARE TRANSACTION; the coordinator commits (the decision);
the other runs COMMIT PREPARED. The pools are real; `Watched` wraps them to
record the statements sent and to inject a fault between the decision and the
COMMIT PREPARED: a lost connection, a prepared transaction finished by someone
else, a database refusing connections. Faults on the wire (lost replies) are in
``tests/reliability/test_two_phase_faults.py``.
"""

from __future__ import annotations

from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

import anyio
import anyio.lowlevel
import asyncpg
import pytest

from glue.connections import ConnectionManager
from glue.errors import (
    CommitError,
    CommitInDoubt,
    ConcurrencyConflict,
    IntegrityError,
)
from glue.schema import Column, ColumnType, Schema
from glue.work import UnitOfWork, supports_two_phase
from glue.work.recovery import recover_prepared

from .tables import COUNTERS, ORDERS, create_tables

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
    from contextlib import AbstractAsyncContextManager

    from glue.connections import (
        Connection,
        ConnectionPool,
        Dialect,
        Params,
        PoolStatistics,
        Result,
        RowStream,
        Statement,
    )

CHILDREN = Schema(
    name="children",
    columns=(
        Column(name="id", type=ColumnType.INTEGER),
        Column(name="parent_id", type=ColumnType.INTEGER),
    ),
    primary_key=("id",),
)
SECOND = frozenset({"counters", "children"})


class Watched:
    """A real pool whose connections record statements and can fail on cue.

    ``fault`` runs once, just before the next ``COMMIT PREPARED`` sent through
    this pool, with the connection and the transaction id.
    """

    def __init__(self, pool: ConnectionPool) -> None:
        self.pool = pool
        self.statements: list[str] = []
        self.fault: Callable[[Connection, str], Awaitable[None]] | None = None

    @property
    def name(self) -> str:
        return self.pool.name

    @property
    def dialect(self) -> Dialect:
        return self.pool.dialect

    async def open(self) -> None:
        await self.pool.open()

    @asynccontextmanager
    async def acquire(
        self, *, write: bool = False, timeout: float | None = None
    ) -> AsyncIterator[Connection]:
        async with self.pool.acquire(write=write, timeout=timeout) as conn:
            yield WatchedConnection(self, conn)

    def statistics(self) -> PoolStatistics:
        return self.pool.statistics()

    async def aclose(self, *, timeout: float | None = None) -> None:
        await self.pool.aclose(timeout=timeout)

    def sent(self, prefix: str) -> int:
        """How many statements starting with ``prefix`` went out."""
        return sum(s.startswith(prefix) for s in self.statements)


class WatchedConnection:
    """A real connection that reports each statement to its `Watched` pool."""

    def __init__(self, owner: Watched, conn: Connection) -> None:
        self.owner = owner
        self.conn = conn

    @property
    def dialect(self) -> Dialect:
        return self.conn.dialect

    @property
    def database(self) -> str:
        return self.conn.database

    @property
    def closed(self) -> bool:
        return self.conn.closed

    async def execute(self, sql: str, params: Params = ()) -> int:
        fault = self.owner.fault
        if fault is not None and sql.startswith("COMMIT PREPARED"):
            self.owner.fault = None
            await fault(self.conn, sql.split("'")[1])
        self.owner.statements.append(sql)
        return await self.conn.execute(sql, params)

    async def execute_many(self, sql: str, rows: Sequence[Params]) -> None:
        self.owner.statements.append(sql)
        await self.conn.execute_many(sql, rows)

    async def fetch(self, sql: str, params: Params = ()) -> Result:
        self.owner.statements.append(sql)
        return await self.conn.fetch(sql, params)

    def iterate(
        self, sql: str, params: Params = (), *, batch_size: int = 500
    ) -> RowStream:
        self.owner.statements.append(sql)
        return self.conn.iterate(sql, params, batch_size=batch_size)

    async def batch(self, statements: Sequence[Statement]) -> list[int]:
        self.owner.statements += [s.sql for s in statements]
        return await self.conn.batch(statements)

    async def copy_records(
        self, table: str, columns: Sequence[str], records: Sequence[Params]
    ) -> int:
        self.owner.statements.append(f"COPY {table}")
        return await self.conn.copy_records(table, columns, records)

    def transaction(
        self, *, lock_timeout: float | None = None
    ) -> AbstractAsyncContextManager[None]:
        return self.conn.transaction(lock_timeout=lock_timeout)

    def listen(
        self, channel: str, callback: Callable[[], None]
    ) -> AbstractAsyncContextManager[bool]:
        return self.conn.listen(channel, callback)

    async def aclose(self) -> None:
        await self.conn.aclose()


class Databases:
    """Orders in the first database; counters and children in the second."""

    def __init__(self, manager: ConnectionManager, urls: tuple[str, str]) -> None:
        self.manager = manager
        self.urls = urls
        self.first = Watched(manager.get_connection_pool())
        self.second = Watched(manager.get_connection_pool("counters"))
        self.server = urlunsplit(urlsplit(urls[0])._replace(path="/postgres"))

    def route(self, table: str) -> ConnectionPool:
        return self.second if table in SECOND else self.first

    def unit(self) -> UnitOfWork:
        return UnitOfWork(self.route)

    async def state(self) -> tuple[Any, Any]:
        """The order's total and the counter's value, None where absent."""
        async with self.unit() as unit:
            order = await unit.state.get(ORDERS, 1)
            counter = await unit.state.get(COUNTERS, "c")
        return (order and order["total"], counter and counter["value"])

    async def prepared(self) -> list[tuple[str, str]]:
        """The (database, gid) of every prepared transaction in either database."""
        names = [urlsplit(url).path.lstrip("/") for url in self.urls]
        conn = await asyncpg.connect(self.server, timeout=10)
        try:
            records = await conn.fetch(
                "SELECT database, gid FROM pg_prepared_xacts "
                "WHERE database = ANY($1::text[]) ORDER BY gid",
                names,
            )
        finally:
            await conn.close()
        return [(r["database"], r["gid"]) for r in records]

    async def admin(self, sql: str, *args: Any, database: int | None = None) -> None:
        """Run ``sql`` on the server's ``postgres`` database, or on one of ours."""
        dsn = self.server if database is None else self.urls[database]
        conn = await asyncpg.connect(dsn, timeout=10)
        try:
            await conn.execute(sql, *args)
        finally:
            await conn.close()

    async def assert_clean(self) -> None:
        """Nothing prepared is left, and every connection is back in its pool."""
        assert await self.prepared() == []
        for pool in (self.first, self.second):
            assert pool.statistics().checked_out == 0


@pytest.fixture
async def dbs(two_phase_urls: tuple[str, str]) -> AsyncIterator[Databases]:
    first, second = two_phase_urls
    urls = {"default": first, "counters": second}
    async with ConnectionManager.from_urls(urls, max_size=4) as manager:
        await create_tables(manager.get_connection_pool(), ORDERS)
        pool = manager.get_connection_pool("counters")
        await create_tables(pool, COUNTERS)
        # A foreign key checked only at the end: PREPARE TRANSACTION refuses.
        async with pool.acquire(write=True) as conn:
            await conn.execute('CREATE TABLE "parents" ("id" INTEGER PRIMARY KEY)')
            await conn.execute(
                'CREATE TABLE "children" ("id" INTEGER PRIMARY KEY, "parent_id" '
                'INTEGER NOT NULL REFERENCES "parents" ("id") DEFERRABLE '
                'INITIALLY DEFERRED, "etag" TEXT NOT NULL)'
            )
        yield Databases(manager, two_phase_urls)


def order(total: float) -> dict[str, Any]:
    return {"id": 1, "customer": "ada", "total": total}


async def insert_both(dbs: Databases, total: float = 1.0, value: int = 1) -> None:
    async with dbs.unit() as unit:
        await unit.state.insert(ORDERS, order(total))
        await unit.state.insert(COUNTERS, {"name": "c", "value": value})


async def test_the_server_allows_prepared_transactions(dbs: Databases) -> None:
    for pool in (dbs.first, dbs.second):
        async with pool.acquire() as conn:
            assert await supports_two_phase(pool, conn)


async def test_success_prepares_one_and_commits_both(dbs: Databases) -> None:
    await insert_both(dbs)
    assert await dbs.state() == (1.0, 1)
    assert dbs.first.sent("PREPARE TRANSACTION") == 1
    assert dbs.first.sent("COMMIT PREPARED") == 1
    # The coordinator records the decision and commits in one phase.
    assert dbs.second.sent("PREPARE TRANSACTION") == 0
    assert dbs.second.sent("INSERT INTO glue_decisions") == 1
    assert dbs.second.sent("DELETE FROM glue_decisions") == 1
    async with dbs.unit() as unit:
        await unit.state.update(ORDERS, 1, {"total": 2.0})
        await unit.state.update(COUNTERS, "c", {"value": 2})
    assert await dbs.state() == (2.0, 2)
    assert dbs.first.sent("COMMIT PREPARED") == 2
    await dbs.assert_clean()


async def test_a_conflict_on_one_rolls_back_both(dbs: Databases) -> None:
    await insert_both(dbs)
    stale = dbs.unit()
    async with stale:
        await stale.state.require(COUNTERS, "c")
        async with dbs.unit() as other:
            await other.state.update(COUNTERS, "c", {"value": 5})
        await stale.state.update(ORDERS, 1, {"total": 9.0})
        await stale.state.update(COUNTERS, "c", {"value": 9})
        with pytest.raises(ConcurrencyConflict, match="counters c changed since"):
            await stale.commit()
    assert await dbs.state() == (1.0, 5)
    await dbs.assert_clean()


async def test_a_database_refusing_to_prepare_rolls_back_the_prepared_one(
    dbs: Databases,
) -> None:
    """The first database prepared; the coordinator's deferred key fails at its
    COMMIT, the decision: the prepared one is rolled back."""
    with pytest.raises(IntegrityError):
        async with dbs.unit() as unit:
            await unit.state.insert(ORDERS, order(1.0))
            await unit.state.insert(CHILDREN, {"id": 1, "parent_id": 404})
    assert dbs.first.sent("PREPARE TRANSACTION") == 1
    assert dbs.first.sent("ROLLBACK PREPARED") == 1
    assert dbs.first.sent("COMMIT PREPARED") == 0
    assert await dbs.state() == (None, None)
    await dbs.assert_clean()


async def test_a_connection_lost_between_phases_still_commits(dbs: Databases) -> None:
    """A prepared transaction outlives its session: glue commits it on a new one."""

    async def kill(conn: Connection, gid: str) -> None:
        pid = (await conn.fetch("SELECT pg_backend_pid()")).rows[0][0]
        await dbs.admin("SELECT pg_terminate_backend($1, 10000)", pid)

    dbs.first.fault = kill
    await insert_both(dbs)
    assert dbs.first.sent("COMMIT PREPARED") == 2  # the lost one, then again
    assert await dbs.state() == (1.0, 1)
    await dbs.assert_clean()


async def test_a_prepared_transaction_finished_by_someone_else(
    dbs: Databases,
) -> None:
    """After the decision an operator rolls back the first's prepared transaction.

    The coordinator committed; CommitError names it, and the first, and says
    that someone else rolled the prepared transaction back (the server says
    so): nothing is left dangling.
    """

    async def roll_back(conn: Connection, gid: str) -> None:
        await dbs.admin(f"ROLLBACK PREPARED '{gid}'", database=0)

    dbs.first.fault = roll_back
    with pytest.raises(CommitError) as caught:
        await insert_both(dbs)
    error = caught.value
    assert not isinstance(error, CommitInDoubt)
    assert error.failed == dbs.first.name
    assert error.committed == [dbs.second.name]
    assert "rolled back by someone else" in error.reason
    assert await dbs.state() == (None, 1)
    await dbs.assert_clean()


async def test_a_database_unreachable_between_phases_leaves_one_named_prepared(
    dbs: Databases,
) -> None:
    """The first database takes no connection to commit, after the decision.

    Its prepared transaction stays on the server, named in the CommitInDoubt
    with the decision (commit); recovery finishing it completes the unit.
    """
    first = urlsplit(dbs.urls[0]).path.lstrip("/")

    async def shut(conn: Connection, gid: str) -> None:
        await dbs.admin(f'ALTER DATABASE "{first}" ALLOW_CONNECTIONS false')
        await dbs.admin(
            "SELECT pg_terminate_backend(pid, 10000) FROM pg_stat_activity "
            "WHERE datname = $1",
            first,
        )

    dbs.first.fault = shut
    with pytest.raises(CommitInDoubt) as caught:
        await insert_both(dbs)
    error = caught.value
    assert (error.failed, error.committed) == (dbs.first.name, [dbs.second.name])
    assert error.decision == "commit"
    ((database, gid),) = await dbs.prepared()
    assert database == first
    assert error.prepared == ((dbs.first.name, gid),)
    assert gid in str(error)
    for pool in (dbs.first, dbs.second):
        assert pool.statistics().checked_out == 0
    await dbs.admin(f'ALTER DATABASE "{first}" ALLOW_CONNECTIONS true')
    (recovered,) = await recover_prepared([dbs.first, dbs.second])
    assert (recovered.gid, recovered.decision) == (gid, "commit")
    assert recovered.outcome == "committed"
    assert await dbs.state() == (1.0, 1)
    await dbs.assert_clean()


async def test_cancellation_before_commit_leaves_nothing(dbs: Databases) -> None:
    with anyio.CancelScope() as scope:
        async with dbs.unit() as unit:
            await unit.state.insert(ORDERS, order(1.0))
            await unit.state.insert(COUNTERS, {"name": "c", "value": 1})
            await unit.flush()  # written into both open transactions
            scope.cancel()
            await anyio.sleep(1)
    assert scope.cancelled_caught
    assert dbs.first.sent("PREPARE TRANSACTION") == 0
    assert await dbs.state() == (None, None)
    await dbs.assert_clean()


async def test_cancellation_between_phases_still_commits_both(
    dbs: Databases,
) -> None:
    """Once prepared, the unit is decided: a cancelled caller does not undo it."""
    with anyio.CancelScope() as scope:

        async def cancel(conn: Connection, gid: str) -> None:
            scope.cancel()
            await anyio.lowlevel.checkpoint()

        dbs.first.fault = cancel
        await insert_both(dbs)
    assert await dbs.state() == (1.0, 1)
    await dbs.assert_clean()
