"""Write services outside the bus: data, transaction and lock commands (Q08)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import anyio
import pytest

from glue.connections import ConnectionManager
from glue.errors import ConcurrencyConflict, IntegrityError, NotFound
from glue.schema import Column, ColumnType, Schema
from glue.services.schema import SchemaCommandService
from glue.services.writes import (
    DataCommandService,
    LockCommandService,
    TransactionCommandService,
)

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

ACCOUNTS = Schema(
    name="accounts",
    columns=(
        Column(name="id", type=ColumnType.INTEGER),
        Column(name="owner", type=ColumnType.TEXT),
        Column(name="balance", type=ColumnType.INTEGER),
    ),
    primary_key=("id",),
    audit=True,
)


@pytest.fixture
async def manager(database_url: str) -> AsyncIterator[ConnectionManager]:
    async with ConnectionManager.from_urls({"default": database_url}) as opened:
        await SchemaCommandService(opened.get_connection_pool()).create_table(ACCOUNTS)
        yield opened


def account(key: int, balance: int = 100) -> dict[str, Any]:
    return {"id": key, "owner": f"o{key}", "balance": balance}


async def balances(manager: ConnectionManager) -> dict[int, int]:
    async with manager.get_connection_pool().acquire() as conn:
        result = await conn.fetch('SELECT "id", "balance" FROM "accounts"')
    return {row[0]: row[1] for row in result.rows}


async def test_data_commands_insert_update_delete(manager: ConnectionManager) -> None:
    data = DataCommandService(manager, actor="ops")
    rows = await data.insert(ACCOUNTS, [account(1), account(2)])
    assert [r["created_by"] for r in rows] == ["ops", "ops"]
    updated = await data.update(ACCOUNTS, 1, {"balance": 50}, etag=rows[0]["etag"])
    assert updated["balance"] == 50 and updated["etag"] != rows[0]["etag"]
    with pytest.raises(ConcurrencyConflict):
        await data.update(ACCOUNTS, 1, {"balance": 0}, etag=rows[0]["etag"])
    with pytest.raises(NotFound):
        await data.update(ACCOUNTS, 9, {"balance": 0})
    with pytest.raises(IntegrityError):
        await data.insert(ACCOUNTS, [account(3), account(1)])
    assert await data.delete(ACCOUNTS, 2)
    assert not await data.delete(ACCOUNTS, 2)
    assert await balances(manager) == {1: 50}


async def test_transaction_commands_commit_and_roll_back(
    manager: ConnectionManager,
) -> None:
    data = DataCommandService(manager)
    transactions = TransactionCommandService()
    await data.insert(ACCOUNTS, [account(1), account(2)])
    tx = transactions.begin()
    await data.update(ACCOUNTS, 1, {"balance": 70}, transaction=tx)
    await data.update(ACCOUNTS, 2, {"balance": 130}, transaction=tx)
    await transactions.rollback(tx)
    assert await balances(manager) == {1: 100, 2: 100}
    async with transactions.begin() as tx:
        await data.update(ACCOUNTS, 1, {"balance": 70}, transaction=tx)
        await data.update(ACCOUNTS, 2, {"balance": 130}, transaction=tx)
    assert await balances(manager) == {1: 70, 2: 130}
    tx = transactions.begin()
    await data.delete(ACCOUNTS, 1, transaction=tx)
    await transactions.commit(tx)
    assert await balances(manager) == {2: 130}


async def test_row_locks_serialise_writers(manager: ConnectionManager) -> None:
    data = DataCommandService(manager)
    locks = LockCommandService(manager)
    transactions = TransactionCommandService()
    await data.insert(ACCOUNTS, [account(1)])
    order: list[str] = []
    locked = anyio.Event()

    async def holder() -> None:
        async with transactions.begin() as tx:
            (row,) = await locks.lock_rows(tx, ACCOUNTS, [1])
            locked.set()
            await anyio.sleep(0.2)
            order.append("holder writes")
            await data.update(
                ACCOUNTS, 1, {"balance": row["balance"] - 10}, transaction=tx
            )

    async def other() -> None:
        await locked.wait()
        async with transactions.begin() as tx:
            (row,) = await locks.lock_rows(tx, ACCOUNTS, [1])
            order.append("other reads")
            await data.update(
                ACCOUNTS, 1, {"balance": row["balance"] - 1}, transaction=tx
            )

    async with anyio.create_task_group() as group:
        group.start_soon(holder)
        group.start_soon(other)
    assert order == ["holder writes", "other reads"]
    assert await balances(manager) == {1: 89}


async def test_advisory_locks(manager: ConnectionManager) -> None:
    locks = LockCommandService(manager)
    transactions = TransactionCommandService()
    async with transactions.begin() as tx:
        await locks.advisory_lock(tx, "accounts", 42)
        assert await locks.try_advisory_lock(tx, "accounts", 42)
        if manager.get_connection_pool().dialect.name == "postgres":
            async with transactions.begin() as other:
                assert not await locks.try_advisory_lock(other, "accounts", 42)
                assert await locks.try_advisory_lock(other, "accounts", 43)
    async with transactions.begin() as tx:  # released with its transaction
        assert await locks.try_advisory_lock(tx, "accounts", 42)
