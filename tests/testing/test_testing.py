"""glue.testing: an in-memory App, assertions on outcomes, PostgreSQL for tests."""

from __future__ import annotations

from typing import TYPE_CHECKING

import asyncpg
import pytest

from glue import (
    App,
    Column,
    ColumnType,
    Command,
    Context,
    Domain,
    Event,
    QueryStatement,
    Schema,
    SchemaReference,
    Update,
)
from glue.testing import (
    PostgresUnavailable,
    assert_emitted,
    emitted,
    find_postgres,
    fresh_database,
    memory_app,
)
from glue.testing.postgres import run_sync

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

ORDERS = Schema(
    name="orders",
    primary_key=("id",),
    columns=(
        Column(name="id", type=ColumnType.INTEGER),
        Column(name="status", type=ColumnType.TEXT, default="new"),
    ),
)
LINES = Schema(
    name="lines",
    primary_key=("id",),
    columns=(Column(name="id", type=ColumnType.INTEGER),),
)


class Place(Command):
    id: int


class Placed(Event):
    id: int


class Noted(Event):
    text: str


def shop() -> Domain:
    domain = Domain("shop")
    domain.table(ORDERS, database="orders")
    domain.table(LINES)
    domain.register(Noted)

    @domain.command(Place)
    async def place(cmd: Place, ctx: Context) -> AsyncIterator[Event]:
        await ctx.state.insert(ORDERS, {"id": cmd.id})
        await ctx.state.insert(LINES, {"id": cmd.id})
        yield Noted(text="placing")
        yield Placed(id=cmd.id)

    @domain.event(Placed)
    async def accept(evt: Placed, ctx: Context) -> AsyncIterator[Update]:
        yield Update(schema=ORDERS, key=evt.id, changes={"status": "accepted"})

    return domain


async def test_a_memory_app_has_every_declared_database_with_its_tables() -> None:
    app = memory_app([shop()])
    assert isinstance(app, App)
    async with app:
        assert sorted(app.connections.pools) == ["default", "orders"]
        outcome = await app.bus.execute(Place(id=7))
        rows = await app.query(QueryStatement(table=SchemaReference(name="orders")))
    assert [(row["id"], row["status"]) for row in rows] == [(7, "accepted")]
    assert emitted(outcome, Placed) == [Placed(id=7)]
    assert_emitted(outcome, Noted(text="placing"), Placed(id=7))


async def test_memory_apps_share_nothing() -> None:
    async with memory_app([shop()]) as first, memory_app([shop()]) as second:
        await first.bus.dispatch(Place(id=1))
        await second.bus.dispatch(Place(id=1))  # no conflict: another database
        rows = await second.query(QueryStatement(table=SchemaReference(name="lines")))
    assert [row["id"] for row in rows] == [1]


async def test_a_memory_app_without_tables_has_a_default_database() -> None:
    async with memory_app([Domain("empty")]) as app:
        assert list(app.connections.pools) == ["default"]


async def test_assert_emitted_names_what_was_emitted_and_expected() -> None:
    async with memory_app([shop()]) as app:
        outcome = await app.bus.execute(Place(id=1))
    with pytest.raises(AssertionError) as info:
        assert_emitted(outcome, Placed(id=2))
    assert "Place emitted" in str(info.value)
    assert "Placed(id=1)" in str(info.value) and "Placed(id=2)" in str(info.value)


def test_a_dsn_from_the_environment_that_does_not_answer_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("GLUE_TEST_POSTGRES", raising=False)
    monkeypatch.setenv("GLUE_TEST_POSTGRES_DSN", "postgresql://nobody@127.0.0.1:1/x")
    with pytest.raises(PostgresUnavailable, match="GLUE_TEST_POSTGRES_DSN"):
        find_postgres()


def test_start_means_no_server_is_looked_for(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GLUE_TEST_POSTGRES", "start")
    assert find_postgres() is None


def test_a_fresh_database_is_empty_and_dropped_even_with_a_prepared_transaction(
    postgres_2pc_server: str,
) -> None:
    async def prepare(dsn: str) -> None:
        conn = await asyncpg.connect(dsn)
        try:
            await conn.execute("CREATE TABLE t (x int)")
            await conn.execute(
                "BEGIN; INSERT INTO t VALUES (1); PREPARE TRANSACTION 'left'"
            )
        finally:
            await conn.close()

    async def databases() -> set[str]:
        conn = await asyncpg.connect(postgres_2pc_server)
        try:
            return {r[0] for r in await conn.fetch("SELECT datname FROM pg_database")}
        finally:
            await conn.close()

    with fresh_database(postgres_2pc_server) as dsn:
        name = dsn.rsplit("/", 1)[1]
        assert name in run_sync(databases())
        run_sync(prepare(dsn))
    assert name not in run_sync(databases())
