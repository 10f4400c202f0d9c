"""Units of work across two databases under contention: every one completes.

Issue #13, points 1 and 2. Transfers between accounts kept in two databases
take the write connections of both, A-then-B and B-then-A; handlers that lock
rows in opposite orders build lock cycles that no server sees whole. Each runs
on every kind of pair: SQLite + SQLite, SQLite + PostgreSQL, PostgreSQL +
PostgreSQL, and two PostgreSQL databases committed in two phases.
"""

from __future__ import annotations

import anyio
import pytest

from glue import App, Command, Context, Domain, Response, RetryPolicy

from .bank import (
    ACCOUNTS,
    Transfer,
    balances,
    bank_app,
    checked_out,
    expected,
    open_accounts,
    transfers,
)
from .faults import prepared_transactions


class Deposit(Command):
    amount: int


class LockAndDeposit(Command):
    amount: int


@pytest.mark.slow
async def test_two_hundred_concurrent_transfers_all_complete(
    pair: dict[str, str],
) -> None:
    """200 transfers at once among 5 + 5 accounts: each completes (with
    retries), each applied once, the total conserved; no connection or
    prepared transaction left. With the pools' default sizes."""
    moves = transfers(200, per_database=5)
    async with bank_app(pair) as app:
        await open_accounts(app, per_database=5)
        results: list[Response] = []

        async def run(move: Transfer) -> None:
            results.append(await app.bus.dispatch(move))

        async with anyio.create_task_group() as tg:
            for move in moves:
                tg.start_soon(run, move)
        assert len(results) == 200
        found = await balances(app)
        assert found == expected(moves, per_database=5)
        assert sum(found.values()) == 10 * 1_000
        assert checked_out(app) == 0
    assert await prepared_transactions(pair) == []


@pytest.mark.slow
async def test_units_locking_rows_in_opposite_orders_all_complete(
    pair: dict[str, str],
) -> None:
    """Handlers lock a row in each database, half a-then-b and half b-then-a:
    lock cycles across databases. Bounded waits break them (LockConflict), and
    the retried units all complete."""
    moves = transfers(24, per_database=3, seed=7, lock=True)
    async with bank_app(pair) as app:
        await open_accounts(app, per_database=3)
        with anyio.fail_after(240):  # a hang fails the test instead of stalling it
            async with anyio.create_task_group() as tg:
                for move in moves:
                    tg.start_soon(app.bus.dispatch, move)
        assert await balances(app) == expected(moves, per_database=3)
        assert checked_out(app) == 0
    assert await prepared_transactions(pair) == []


async def test_a_handler_that_locks_a_row_and_dispatches_a_command_updating_it(
    pair: dict[str, str],
) -> None:
    """The nested command joins the unit that holds the lock: no wait at all."""
    bank = Domain("bank")
    for name, schema in ACCOUNTS.items():
        bank.table(schema, database=name)

    @bank.command(Deposit, retry=RetryPolicy(attempts=1))
    async def deposit(cmd: Deposit, ctx: Context) -> None:
        row = await ctx.state.require(ACCOUNTS["a"], 1)
        await ctx.state.update(
            ACCOUNTS["a"], 1, {"balance": row["balance"] + cmd.amount}
        )

    @bank.command(LockAndDeposit, retry=RetryPolicy(attempts=1))
    async def lock_and_deposit(cmd: LockAndDeposit, ctx: Context) -> None:
        await ctx.unit.lock(ACCOUNTS["a"], [1])
        await app.bus.dispatch(Deposit(amount=cmd.amount))

    app = App([bank], databases=pair, create_tables=True)
    async with app:
        await open_accounts(app, per_database=1)
        with anyio.fail_after(60):
            await app.bus.dispatch(LockAndDeposit(amount=5))
        assert (await balances(app))[("a", 1)] == 1_005
        assert checked_out(app) == 0
