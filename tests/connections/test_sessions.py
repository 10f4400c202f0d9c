"""Which statement texts glue trusts to leave a PostgreSQL session clean."""

from __future__ import annotations

import pytest

from glue.connections.sessions import leaves_session_clean

CLEAN = [
    "SELECT owner FROM accounts WHERE id = $1",
    "  -- a comment\n  /* another */ insert into t values ($1)",
    'UPDATE "t" SET "a" = $1 WHERE "id" = $2',
    "WITH x AS (SELECT 1) SELECT * FROM x",
    "BEGIN",
    "COMMIT",
    "SET LOCAL lock_timeout = 100",
    "set transaction isolation level serializable",
    "PREPARE TRANSACTION 'glue-1'",
    "prepare transaction'glue-2'",
    "SELECT pg_advisory_xact_lock($1)",
    'CREATE TABLE "orders" ("id" BIGINT PRIMARY KEY)',
    "COPY t FROM STDIN",
]
DIRTY = [
    "SET search_path = other",
    "SET SESSION statement_timeout = 5",
    "RESET ALL",
    "LISTEN orders",
    "SELECT pg_advisory_lock(1)",
    "SELECT pg_try_advisory_lock_shared(1)",
    "SELECT pg_advisory_unlock(1)",
    "SELECT set_config('search_path', 'x', false)",
    "CREATE TEMP TABLE scratch (id int)",
    "CREATE TEMPORARY TABLE scratch (id int)",
    "SELECT * INTO TEMP scratch FROM t",
    "CREATE TABLE pg_temp.scratch (id int)",
    "DECLARE c CURSOR WITH HOLD FOR SELECT 1",
    "PREPARE q AS SELECT 1",
    "PREPARE transaction AS SELECT 1",
    "PREPARE transaction (int) AS SELECT $1",
    "DO $$ BEGIN PERFORM 1; END $$",
    "CALL refresh_everything()",
    "DISCARD ALL",
    "",
    "-- only a comment",
]


@pytest.mark.parametrize("sql", CLEAN)
def test_statements_that_keep_no_session_state_are_clean(sql: str) -> None:
    assert leaves_session_clean(sql)


@pytest.mark.parametrize("sql", DIRTY)
def test_statements_that_may_keep_session_state_are_dirty(sql: str) -> None:
    assert not leaves_session_clean(sql)
