"""Making a unit of work current: UnitOfWork.bind, bind_unit and unit sources."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import anyio
import pytest

from glue.errors import ContextError
from glue.work import Repository, UnitOfWork, current_unit, require_unit
from glue.work.unit import UnitSource, bind_unit

from .tables import ORDERS
from .test_unit import count, order

if TYPE_CHECKING:
    from glue.connections import ConnectionManager


class Orders(Repository[Any]):
    schema = ORDERS


class LazySource:
    """A unit opened on first use, as a dispatch's is."""

    def __init__(self, manager: ConnectionManager) -> None:
        self.manager = manager
        self.unit: UnitOfWork | None = None

    def open_unit(self) -> UnitOfWork:
        if self.unit is None:
            self.unit = UnitOfWork(self.manager)
        return self.unit

    def opened_unit(self) -> UnitOfWork | None:
        return self.unit


async def test_bind_makes_a_unit_current_without_entering_it(
    manager: ConnectionManager,
) -> None:
    unit = UnitOfWork(manager)
    with unit.bind():
        assert current_unit() is require_unit() is unit
        await Orders().create(order(1))
        inner = UnitOfWork(manager)
        with inner.bind():
            assert current_unit() is inner
        assert current_unit() is unit
    assert current_unit() is None
    await unit.commit()
    assert await count(manager, "orders") == 1


async def test_a_binding_resets_once_and_child_tasks_see_it(
    manager: ConnectionManager,
) -> None:
    unit = UnitOfWork(manager)
    binding = unit.bind()
    seen: list[UnitOfWork | None] = []
    async with anyio.create_task_group() as tg:
        tg.start_soon(lambda: _see(seen))
    binding.reset()
    binding.reset()
    assert seen == [unit]
    assert current_unit() is None


async def _see(seen: list[UnitOfWork | None]) -> None:
    seen.append(current_unit())


async def test_a_bound_source_opens_only_when_required(
    manager: ConnectionManager,
) -> None:
    source = LazySource(manager)
    checked: UnitSource = source
    with bind_unit(checked):
        assert current_unit() is None  # looking does not open it
        repo = Orders()  # built before the unit opened
        assert source.opened_unit() is None
        await repo.create(order(1))
        opened = source.opened_unit()
        assert opened is not None
        assert current_unit() is require_unit() is repo.unit is opened
    await opened.commit()
    assert await count(manager, "orders") == 1


def test_require_unit_outside_any_unit_says_where_one_comes_from() -> None:
    with pytest.raises(ContextError, match=r"app\.context"):
        require_unit()
