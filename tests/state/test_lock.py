"""`QuickLock`: the lock a unit's loads and its transaction's joins take."""

from __future__ import annotations

import anyio
import anyio.lowlevel

from glue.state.lock import QuickLock


async def test_free_lock_is_taken_without_yielding() -> None:
    lock = QuickLock()
    ran: list[str] = []

    async def other() -> None:
        ran.append("other")

    async with anyio.create_task_group() as tg:
        tg.start_soon(other)
        async with lock:
            assert lock.locked()
            ran.append("held")
        assert not lock.locked()
        ran.append("released")
    # Taking and leaving the free lock let no other task run in between.
    assert ran == ["held", "released", "other"]


async def test_waiters_get_the_lock_one_at_a_time_in_order() -> None:
    lock = QuickLock()
    inside = 0
    order: list[int] = []

    async def worker(n: int) -> None:
        nonlocal inside
        async with lock:
            inside += 1
            assert inside == 1
            order.append(n)
            await anyio.lowlevel.checkpoint()
            await anyio.lowlevel.checkpoint()
            inside -= 1

    async with anyio.create_task_group() as tg:
        for n in range(5):
            tg.start_soon(worker, n)
    assert order == [0, 1, 2, 3, 4]
    assert not lock.locked()


async def test_a_cancelled_waiter_leaves_the_queue() -> None:
    lock = QuickLock()
    got: list[str] = []

    scopes = {name: anyio.CancelScope() for name in "abc"}
    async with anyio.create_task_group() as tg:
        await lock.__aenter__()
        for name, scope in scopes.items():
            tg.start_soon(_waiter, lock, name, scope, got)
        await anyio.wait_all_tasks_blocked()
        scopes["b"].cancel()
        await anyio.wait_all_tasks_blocked()
        await lock.__aexit__(None, None, None)
    assert got == ["a", "c"]
    assert not lock.locked()


async def test_a_waiter_cancelled_as_it_is_handed_the_lock_passes_it_on() -> None:
    lock = QuickLock()
    got: list[str] = []

    first, second = anyio.CancelScope(), anyio.CancelScope()
    async with anyio.create_task_group() as tg:
        await lock.__aenter__()
        tg.start_soon(_waiter, lock, "first", first, got)
        tg.start_soon(_waiter, lock, "second", second, got)
        await anyio.wait_all_tasks_blocked()
        # Cancel "first", and hand it the lock before it runs again.
        first.cancel()
        await lock.__aexit__(None, None, None)
    assert got == ["second"]
    assert not lock.locked()


async def _waiter(
    lock: QuickLock, name: str, scope: anyio.CancelScope, got: list[str]
) -> None:
    """Take ``lock`` inside ``scope``; note ``name`` in ``got`` once it has it."""
    with scope:
        async with lock:
            got.append(name)
