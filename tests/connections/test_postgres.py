"""What is particular to PostgreSQL: server-side cursors, the pool's resets, DSNs."""

from __future__ import annotations

from typing import TYPE_CHECKING

import anyio
import pytest

from glue.connections import DefaultConnectionPool, PostgresConnection
from glue.connections.postgres import redact_dsn
from glue.errors import ConnectionError, OperationalError, ProgrammingError

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

pytestmark = pytest.mark.postgres


@pytest.fixture
async def pool(postgres_dsn: str) -> AsyncIterator[DefaultConnectionPool]:
    async with DefaultConnectionPool(
        PostgresConnection, name="orders", dsn=postgres_dsn, max_size=3
    ) as opened:
        yield opened


async def _pid(conn: object) -> int:
    assert isinstance(conn, PostgresConnection)
    pid: int = (await conn.fetch("SELECT pg_backend_pid()")).rows[0][0]
    return pid


async def test_iterate_uses_a_server_side_cursor(pool: DefaultConnectionPool) -> None:
    cursors = "SELECT count(*) FROM pg_cursors WHERE name <> ''"
    async with pool.acquire() as conn:
        assert isinstance(conn, PostgresConnection)
        # Outside a transaction the stream opens one of its own ...
        async for _row in conn.iterate("SELECT generate_series(1, 10)", batch_size=3):
            assert conn._raw.is_in_transaction()
            break
        # ... which ends with the stream: here, ended by the next operation.
        assert (await conn.fetch(cursors)).rows == [(0,)]
        assert not conn._raw.is_in_transaction()
        async with conn.transaction():
            stream = conn.iterate("SELECT generate_series(1, 10)", batch_size=4)
            first = [await anext(stream) for _ in range(5)]
            assert first == [(i,) for i in range(1, 6)]
            # The rows come from a named portal: a server-side cursor.
            assert (await conn.fetch(cursors)).rows == [(1,)]
            await stream.aclose()
            assert stream.finished
            assert conn._raw.is_in_transaction()
        assert (await conn.fetch(cursors)).rows == [(0,)]


async def test_an_idle_connection_killed_by_the_server_is_replaced_on_checkout(
    pool: DefaultConnectionPool, postgres_dsn: str
) -> None:
    async with pool.acquire() as conn:
        victim = await _pid(conn)
    killer = await PostgresConnection.connect(postgres_dsn)
    try:
        await killer.execute("SELECT pg_terminate_backend($1)", (victim,))
    finally:
        await killer.aclose()
    async with pool.acquire() as conn:
        try:
            assert await _pid(conn) != victim
        except ConnectionError:
            pass  # the pool had not yet heard the news; the next checkout has
    async with pool.acquire() as conn:
        assert await _pid(conn) != victim
    assert pool.statistics().checked_out == 0


async def test_write_changes_nothing_on_postgres(pool: DefaultConnectionPool) -> None:
    async with pool.acquire(write=True) as a, pool.acquire(write=True) as b:
        assert await _pid(a) != await _pid(b)


async def test_a_transaction_context_is_entered_once(
    pool: DefaultConnectionPool,
) -> None:
    async with pool.acquire(write=True) as conn:
        assert isinstance(conn, PostgresConnection)
        transaction = conn.transaction()
        async with transaction:
            with pytest.raises(RuntimeError, match="entered only once"):
                async with transaction:
                    pass
            await conn.execute("SELECT 1")
        assert not conn._raw.is_in_transaction()


async def test_a_standalone_connection_opens_and_closes(postgres_dsn: str) -> None:
    conn = await PostgresConnection.connect(postgres_dsn, name="solo")
    assert conn.database == "solo"
    assert (await conn.fetch("SELECT 1 AS one")).dicts() == [{"one": 1}]
    await conn.aclose()
    await conn.aclose()
    with pytest.raises(ConnectionError, match="'solo'"):
        await conn.execute("SELECT 1")


def test_redact_dsn_drops_passwords() -> None:
    assert (
        redact_dsn("postgresql://app:s3cret@db:5432/shop?sslmode=require&password=x")
        == "postgresql://app@db:5432/shop?sslmode=require"
    )
    assert redact_dsn("postgres://db/shop") == "postgres://db/shop"


async def test_a_statement_timeout_is_an_operational_error(postgres_dsn: str) -> None:
    async with DefaultConnectionPool(
        PostgresConnection, dsn=postgres_dsn, command_timeout=0.05
    ) as pool:
        async with pool.acquire() as conn:
            with pytest.raises(OperationalError, match="timed out"):
                await conn.execute("SELECT pg_sleep(5)")
        async with pool.acquire() as conn:
            assert (await conn.fetch("SELECT 1")).rows == [(1,)]


async def _last_query(postgres_dsn: str, pid: int) -> str:
    """The last statement the backend ``pid`` ran, seen from another session."""
    watcher = await PostgresConnection.connect(postgres_dsn)
    try:
        found = await watcher.fetch(
            "SELECT query FROM pg_stat_activity WHERE pid = $1", (pid,)
        )
    finally:
        await watcher.aclose()
    query: str = found.rows[0][0]
    return query


async def test_a_clean_checkout_is_released_without_the_reset_query(
    postgres_dsn: str,
) -> None:
    async with DefaultConnectionPool(
        PostgresConnection, dsn=postgres_dsn, max_size=1
    ) as pool:
        async with pool.acquire() as conn:
            pid = await _pid(conn)
            async with conn.transaction():
                await conn.execute("SET LOCAL statement_timeout = 1000")
                await conn.fetch("SELECT pg_advisory_xact_lock(4241)")
            await conn.fetch("SELECT 'clean' AS marker")
        assert await _last_query(postgres_dsn, pid) == "SELECT 'clean' AS marker"


DIRTY = {
    "session SET": (
        ["SET application_name = 'dirty'"],
        "SELECT current_setting('application_name') = 'dirty'",
    ),
    "set_config": (
        ["SELECT set_config('application_name', 'dirty', false)"],
        "SELECT current_setting('application_name') = 'dirty'",
    ),
    "unfinished transaction": (
        ["BEGIN", "SET LOCAL application_name = 'dirty'"],
        "SELECT current_setting('application_name') = 'dirty'",
    ),
    "LISTEN": (
        ["LISTEN glue_dirty"],
        "SELECT count(*) > 0 FROM pg_listening_channels()",
    ),
    "session advisory lock": (
        ["SELECT pg_advisory_lock(4242)"],
        "SELECT count(*) > 0 FROM pg_locks WHERE locktype = 'advisory' "
        "AND pid = pg_backend_pid()",
    ),
}


@pytest.mark.parametrize("case", list(DIRTY))
async def test_a_dirty_session_is_still_reset_on_release(
    postgres_dsn: str, case: str
) -> None:
    statements, leftover = DIRTY[case]
    async with DefaultConnectionPool(
        PostgresConnection, dsn=postgres_dsn, max_size=1
    ) as pool:
        async with pool.acquire() as conn:
            pid = await _pid(conn)
            for statement in statements:
                await conn.execute(statement)
            assert (await conn.fetch(leftover)).rows == [(True,)]
        assert "RESET ALL" in await _last_query(postgres_dsn, pid)
        async with pool.acquire() as conn:
            assert await _pid(conn) == pid
            assert isinstance(conn, PostgresConnection)
            assert not conn._raw.is_in_transaction()
            assert (await conn.fetch(leftover)).rows == [(False,)]


async def test_asyncpgs_own_reset_option_resets_every_release(
    postgres_dsn: str,
) -> None:
    async with DefaultConnectionPool(
        PostgresConnection, dsn=postgres_dsn, max_size=1, reset=None
    ) as pool:
        async with pool.acquire() as conn:
            pid = await _pid(conn)
        assert "RESET ALL" in await _last_query(postgres_dsn, pid)


async def test_a_query_cancelled_mid_flight_is_reset_before_reuse(
    postgres_dsn: str,
) -> None:
    async with DefaultConnectionPool(
        PostgresConnection, dsn=postgres_dsn, max_size=1
    ) as pool:
        async with pool.acquire() as conn:
            await conn.execute("DROP TABLE IF EXISTS glue_cancelled")
            await conn.execute("CREATE TABLE glue_cancelled (id int)")
            await conn.execute("INSERT INTO glue_cancelled VALUES (1)")
        with anyio.move_on_after(0.2):
            async with pool.acquire() as conn:
                pid = await _pid(conn)
                await conn.fetch("SELECT pg_sleep(5) FROM glue_cancelled")
        # The release waited for the cancel and reset the session: nothing of
        # the query holds a lock, so another session drops the table at once.
        assert "RESET ALL" in await _last_query(postgres_dsn, pid)
        other = await PostgresConnection.connect(postgres_dsn)
        try:
            with anyio.fail_after(5):
                await other.execute("DROP TABLE glue_cancelled")
        finally:
            await other.aclose()
        async with pool.acquire() as conn:
            assert await _pid(conn) == pid
            assert (await conn.fetch("SELECT 1")).rows == [(1,)]


async def test_max_queries_replaces_a_connection(postgres_dsn: str) -> None:
    async with DefaultConnectionPool(
        PostgresConnection, dsn=postgres_dsn, max_size=1, max_queries=3
    ) as pool:
        async with pool.acquire() as conn:
            first = await _pid(conn)
        async with pool.acquire() as conn:
            assert await _pid(conn) == first
            await conn.fetch("SELECT 1")
        async with pool.acquire() as conn:
            assert await _pid(conn) != first
        assert pool.statistics().size == 1


async def test_an_empty_result_leaves_no_lock_behind(postgres_dsn: str) -> None:
    # Naming an empty result's columns prepares the statement alone, which the
    # server answers without closing its implicit transaction.
    async with DefaultConnectionPool(
        PostgresConnection, dsn=postgres_dsn, max_size=1
    ) as pool:
        async with pool.acquire() as conn:
            await conn.execute("DROP TABLE IF EXISTS glue_empty")
            await conn.execute("CREATE TABLE glue_empty (id int)")
        async with pool.acquire() as conn:
            result = await conn.fetch("SELECT id FROM glue_empty WHERE id = $1", (1,))
            assert result.columns == ("id",)
        other = await PostgresConnection.connect(postgres_dsn)
        try:
            with anyio.fail_after(5):
                await other.execute("DROP TABLE glue_empty")
        finally:
            await other.aclose()


async def test_an_operation_outliving_its_checkout_closes_the_connection(
    postgres_dsn: str,
) -> None:
    async with DefaultConnectionPool(
        PostgresConnection, dsn=postgres_dsn, max_size=1
    ) as pool:
        outcome: list[BaseException | None] = []

        async def sleep_on(conn: object) -> None:
            assert isinstance(conn, PostgresConnection)
            try:
                await conn.fetch("SELECT pg_sleep(0.5)")
                outcome.append(None)
            except ConnectionError as exc:
                outcome.append(exc)

        async with anyio.create_task_group() as tg:
            async with pool.acquire() as conn:
                pid = await _pid(conn)
                tg.start_soon(sleep_on, conn)
                await anyio.wait_all_tasks_blocked()
            async with pool.acquire() as conn:
                assert await _pid(conn) != pid
                assert (await conn.fetch("SELECT 1")).rows == [(1,)]
        assert len(outcome) == 1
        assert isinstance(outcome[0], ConnectionError)


async def test_idle_connections_expire_under_steady_load(postgres_dsn: str) -> None:
    async with DefaultConnectionPool(
        PostgresConnection,
        dsn=postgres_dsn,
        min_size=0,
        max_size=2,
        max_inactive_connection_lifetime=0.2,
    ) as pool:
        async with pool.acquire(), pool.acquire():
            pass
        assert pool.statistics().size == 2
        # One connection at a time serves the load: the other one, never
        # checked out again, expires all the same.
        end = anyio.current_time() + 0.6
        while anyio.current_time() < end:
            async with pool.acquire() as conn:
                await conn.fetch("SELECT 1")
            await anyio.sleep(0.02)
        assert pool.statistics().size == 1


async def test_a_failed_fetch_is_mapped_and_resets_its_checkout(
    postgres_dsn: str,
) -> None:
    async with DefaultConnectionPool(
        PostgresConnection, dsn=postgres_dsn, max_size=1
    ) as pool:
        async with pool.acquire() as conn:
            pid = await _pid(conn)
            with pytest.raises(ProgrammingError, match="glue_no_such_table"):
                await conn.fetch("SELECT * FROM glue_no_such_table")
            assert (await conn.fetch("SELECT 1")).rows == [(1,)]
        assert "RESET ALL" in await _last_query(postgres_dsn, pid)
