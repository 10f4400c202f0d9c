"""Conflicts that surface as integrity errors: a commit that fails on a
constraint looks at its etag-guarded rows again, and a stale one is the conflict."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from glue.errors import ConcurrencyConflict, IntegrityError
from glue.work import UnitOfWork

from .tables import COUNTERS, ORDERS
from .test_unit import count, order, read

if TYPE_CHECKING:
    from glue.connections import ConnectionManager


async def seed(manager: ConnectionManager) -> None:
    async with UnitOfWork(manager) as unit:
        await unit.state.insert(COUNTERS, {"name": "orders", "value": 0})


async def next_id(unit: UnitOfWork) -> int:
    """Bump the sequence row; the new value is the next order's id."""
    row = await unit.state.require(COUNTERS, "orders")
    value: int = row["value"] + 1
    await unit.state.update(COUNTERS, "orders", {"value": value})
    return value


async def test_a_stale_sequence_then_a_duplicate_insert_is_a_conflict(
    manager: ConnectionManager,
) -> None:
    await seed(manager)
    late = UnitOfWork(manager)
    await late.state.require(COUNTERS, "orders")  # read before the other commits
    async with UnitOfWork(manager) as first:
        await first.state.insert(ORDERS, order(await next_id(first)))
    key = await next_id(late)
    await late.state.insert(ORDERS, order(key))
    with pytest.raises(ConcurrencyConflict) as caught:
        await late.commit()
    assert caught.value.table == "counters" and caught.value.key == "orders"
    assert (await read(manager, COUNTERS, "orders"))["value"] == 1
    assert await count(manager, "orders") == 1


async def test_an_insert_before_the_stale_update_is_a_conflict(
    manager: ConnectionManager,
) -> None:
    await seed(manager)
    late = UnitOfWork(manager)
    row = await late.state.require(COUNTERS, "orders")
    async with UnitOfWork(manager) as first:
        await first.state.insert(ORDERS, order(await next_id(first)))
    # The INSERT is first in first-touch order: it fails before the UPDATE runs.
    await late.state.insert(ORDERS, order(row["value"] + 1))
    await late.state.update(COUNTERS, "orders", {"value": row["value"] + 1})
    with pytest.raises(ConcurrencyConflict) as caught:
        await late.commit()
    assert caught.value.table == "counters"
    assert isinstance(caught.value.__cause__, IntegrityError)
    assert await count(manager, "orders") == 1


async def test_a_stale_delete_then_a_duplicate_insert_is_a_conflict(
    manager: ConnectionManager,
) -> None:
    await seed(manager)
    late = UnitOfWork(manager)
    await late.state.require(COUNTERS, "orders")
    async with UnitOfWork(manager) as first:
        await first.state.insert(ORDERS, order(1))
        await first.state.update(COUNTERS, "orders", {"value": 5})
    await late.state.insert(ORDERS, order(1))
    await late.state.delete(COUNTERS, "orders")
    with pytest.raises(ConcurrencyConflict) as caught:
        await late.commit()
    assert caught.value.table == "counters"


async def test_an_integrity_error_with_fresh_guards_stays_one(
    manager: ConnectionManager,
) -> None:
    await seed(manager)
    async with UnitOfWork(manager) as unit:
        await unit.state.insert(ORDERS, order(7))
    unit = UnitOfWork(manager)
    await next_id(unit)
    await unit.state.insert(ORDERS, order(7))  # a real duplicate: nobody raced
    with pytest.raises(IntegrityError):
        await unit.commit()
    assert (await read(manager, COUNTERS, "orders"))["value"] == 0
    assert manager.get_connection_pool().statistics().checked_out == 0


async def test_an_integrity_error_without_guards_stays_one(
    manager: ConnectionManager,
) -> None:
    async with UnitOfWork(manager) as unit:
        await unit.state.insert(ORDERS, order(7))
    with pytest.raises(IntegrityError):
        async with UnitOfWork(manager) as unit:
            await unit.state.insert(ORDERS, order(8))
            await unit.state.insert(ORDERS, order(7, note="again"))


async def test_a_row_flushed_earlier_counts_with_what_it_held(
    manager: ConnectionManager,
) -> None:
    await seed(manager)
    async with UnitOfWork(manager) as unit:
        await unit.state.insert(ORDERS, order(7))
    values: list[Any] = []
    with pytest.raises(IntegrityError):
        async with UnitOfWork(manager) as unit:
            values.append(await next_id(unit))
            await unit.flush()  # the row now holds its flushed etag
            await unit.state.update(COUNTERS, "orders", {"value": 2})
            await unit.state.insert(ORDERS, order(7))
    assert values == [1]
    assert (await read(manager, COUNTERS, "orders"))["value"] == 0
