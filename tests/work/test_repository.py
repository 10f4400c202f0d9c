"""Repositories over the current unit of work (R01-R05), on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import anyio
import msgspec
import pytest

from glue.errors import (
    ConcurrencyConflict,
    ConfigurationError,
    ContextError,
    SchemaError,
)
from glue.sql.query import QueryCompiler
from glue.state import Row
from glue.work import Repository, UnitOfWork

from .tables import ORDERS

if TYPE_CHECKING:
    from glue.connections import ConnectionManager
    from glue.query import QueryStatement


class Order(msgspec.Struct):
    id: int
    customer: str
    total: float
    status: str = "new"
    note: str | None = None
    etag: str | None = None


class OrderRepository(Repository[Order]):
    schema = ORDERS


class OrderRows(Repository[Row]):
    schema = ORDERS


async def seed(manager: ConnectionManager) -> None:
    async with UnitOfWork(manager):
        repo = OrderRepository()
        for i, (customer, total) in enumerate(
            [("ada", 5.0), ("bob", 20.0), ("ada", 12.0), ("cy", 7.5)], start=1
        ):
            await repo.create({"id": i, "customer": customer, "total": total})


async def test_r03_get_list_create_update_delete_query(
    manager: ConnectionManager,
) -> None:
    await seed(manager)
    async with UnitOfWork(manager):
        repo = OrderRepository()
        first = await repo.get(1)
        assert isinstance(first, Order) and first.total == 5.0 and first.etag
        assert await repo.get(99) is None
        ada = await repo.list({"customer": "ada"}, order_by=["-total"])
        assert [o.id for o in ada] == [3, 1]
        big = await repo.query(
            {"total__gte": 7.5, "customer__ne": "bob"}, order_by=["total"]
        )
        assert [o.id for o in big] == [4, 3]
        assert [
            o.id
            for o in await repo.query({"customer__in": ["cy", "bob"]}, order_by=["id"])
        ] == [2, 4]
        assert [
            o.id
            for o in await repo.query({"customer__startswith": "a"}, order_by=["id"])
        ] == [1, 3]
        assert [
            o.id
            for o in await repo.query(
                {"note__isnull": True}, order_by=["id"], limit=2, offset=1
            )
        ] == [2, 3]
        await repo.update(1, {"note": "rush"})
        assert await repo.delete(2)
    async with UnitOfWork(manager):
        repo = OrderRepository()
        assert [o.id for o in await repo.list(order_by=["id"])] == [1, 3, 4]
        assert (await repo.require(1)).note == "rush"


async def test_r03_unknown_columns_and_lookups_are_named(
    manager: ConnectionManager,
) -> None:
    async with UnitOfWork(manager):
        repo = OrderRepository()
        with pytest.raises(SchemaError, match="'colour'"):
            await repo.list({"colour": "red"})
        with pytest.raises(SchemaError, match="'colour'"):
            await repo.list(order_by=["-colour"])
        with pytest.raises(SchemaError, match="'about'"):
            await repo.query({"total__about": 3})
        with pytest.raises(SchemaError, match="'colour'"):
            await repo.create({"id": 1, "customer": "a", "total": 1.0, "colour": "red"})


async def test_r02_repositories_in_one_unit_share_state(
    manager: ConnectionManager,
) -> None:
    await seed(manager)
    async with UnitOfWork(manager):
        models, rows = OrderRepository(), OrderRows()
        await models.update(1, {"total": 6.0})
        row = await rows.require(1)
        assert row["total"] == 6.0
        await rows.create({"id": 9, "customer": "dee", "total": 1.0})
        await rows.delete(4)
        listed = await models.list(order_by=["id"])
        assert [(o.id, o.total) for o in listed] == [
            (1, 6.0),
            (2, 20.0),
            (3, 12.0),
            (9, 1.0),
        ]
        assert [o.id for o in await models.list({"customer": "dee"})] == [9]


async def test_r01_each_task_gets_its_own_unit(manager: ConnectionManager) -> None:
    await seed(manager)
    totals: dict[int, float] = {}

    async def task(i: int) -> None:
        async with UnitOfWork(manager):
            repo = OrderRepository()
            await repo.update(i, {"total": 100.0 + i})
            await anyio.sleep(0.01)
            totals[i] = (await repo.require(i)).total
            assert [t.key for t in repo.unit.state.pending] == [(i,)]

    async with anyio.create_task_group() as group:
        for i in range(1, 5):
            group.start_soon(task, i)
    assert totals == {i: 100.0 + i for i in range(1, 5)}
    assert manager.get_connection_pool().statistics().checked_out == 0


async def test_r05_pending_changes_can_be_inspected(manager: ConnectionManager) -> None:
    await seed(manager)
    async with UnitOfWork(manager) as unit:
        repo = OrderRepository()
        await repo.update(1, {"total": 1.5})
        await repo.create({"id": 7, "customer": "eve", "total": 2.0})
        assert [(t.kind, t.key) for t in unit.state.pending] == [
            ("update", (1,)), ("insert", (7,)),
        ]  # fmt: skip
        assert unit.state.is_dirty(ORDERS, 1) and not unit.state.is_dirty(ORDERS, 2)
        assert "update orders (total, etag, updated_at, updated_by): 1 row(s)" in (
            unit.plan().explain()
        )
        await unit.rollback()
    async with UnitOfWork(manager):
        assert (await OrderRepository().require(1)).total == 5.0


async def test_saving_a_model_checks_its_etag(manager: ConnectionManager) -> None:
    await seed(manager)
    async with UnitOfWork(manager):
        kept = await OrderRepository().require(1)
    async with UnitOfWork(manager):
        await OrderRepository().update(1, {"total": 8.0})
    with pytest.raises(ConcurrencyConflict):
        async with UnitOfWork(manager):
            await OrderRepository().update(msgspec.structs.replace(kept, total=9.0))
    async with UnitOfWork(manager):
        fresh = await OrderRepository().require(1)
        saved = await OrderRepository().update(
            msgspec.structs.replace(fresh, total=9.0)
        )
        assert saved.total == 9.0 and saved.etag != fresh.etag


async def test_misuse_is_explained() -> None:
    with pytest.raises(ContextError, match="no unit of work is active"):
        await OrderRepository().get(1)

    class Nameless(Repository[Row]):
        pass

    with pytest.raises(ConfigurationError, match="Nameless has no schema"):
        Nameless()


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({"note__ne": "x"}, [1]),
        ({"note__eq": None}, [2, 3]),
        ({"note__ne": None}, [1, 4]),
        ({"note__in": [None, "y"]}, [1]),
        ({"note__startswith": ""}, [1, 4]),
        ({"note__contains": ""}, [1, 4]),
        ({"note__contains": "Y"}, []),
        ({"customer__startswith": "A"}, []),
        ({"customer__contains": "d"}, [1, 3]),
        # FieldLookup's names, the same in a QueryStatement.
        ({"note__neq": "x"}, [1]),
        ({"customer__icontains": "D"}, [1, 3]),
        ({"customer__istartswith": "A"}, [1, 3]),
        ({"customer__endswith": "y"}, [4]),
        ({"customer__iendswith": "B"}, [2]),
        ({"customer__in": ("cy", "bob")}, [2, 4]),
        ({"note__isnull": True}, [2, 3]),
    ],
)
async def test_query_matches_pending_rows_as_the_database_matches_stored_ones(
    manager: ConnectionManager, filters: dict[str, object], expected: list[int]
) -> None:
    """SQL's rules either way: NULL matches no comparison, list or pattern, and
    patterns are case-sensitive on both databases."""
    notes = {1: "y", 2: None, 3: None, 4: "x"}
    customers = {1: "ada", 2: "bob", 3: "ada", 4: "cy"}
    async with UnitOfWork(manager):
        repo = OrderRepository()
        for i in (1, 2):
            await repo.create(
                {"id": i, "customer": customers[i], "total": 1.0, "note": notes[i]}
            )
    async with UnitOfWork(manager):
        repo = OrderRepository()
        for i in (3, 4):  # pending in this unit, never written
            await repo.create(
                {"id": i, "customer": customers[i], "total": 1.0, "note": notes[i]}
            )
        found = await repo.query(filters, order_by=["id"])
        assert [o.id for o in found] == expected


async def test_query_with_new_values_compiles_once(
    manager: ConnectionManager, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A repository read keeps its SQL by shape: new values are bound to it."""
    await seed(manager)
    compiled: list[object] = []
    compile = QueryCompiler.compile

    def counted(self: QueryCompiler, statement: QueryStatement, **kw: bool) -> Any:
        compiled.append(statement)
        return compile(self, statement, **kw)

    monkeypatch.setattr(QueryCompiler, "compile", counted)
    async with UnitOfWork(manager):
        repo = OrderRepository()
        for key, expected in ((1, [1]), (3, [3]), (99, [])):
            assert [o.id for o in await repo.query({"id": key})] == expected
        assert len(compiled) == 1
        for customer, expected in (("ada", [1, 3]), ("bob", [2])):
            found = await repo.query({"customer": customer}, order_by=["id"])
            assert [o.id for o in found] == expected
        assert len(compiled) == 2
        # A pattern depends on its value: compiled with it, every time.
        for prefix in ("a", "b"):
            await repo.query({"customer__startswith": prefix})
        assert len(compiled) == 4


async def test_query_lists_a_changed_row_once(manager: ConnectionManager) -> None:
    """A row changed in the unit is listed once, in its new state, whether the
    database still matches it or only its new state does."""
    await seed(manager)
    async with UnitOfWork(manager):
        repo = OrderRepository()
        await repo.update(1, {"total": 6.0})  # ada: stored and new state match
        await repo.update(2, {"customer": "ada"})  # bob: only the new state
        await repo.update(4, {"customer": "bob"})  # cy, no longer matching
        await repo.create({"id": 5, "customer": "ada", "total": 1.0})
        found = await repo.list({"customer": "ada"}, order_by=["id"])
        assert [(o.id, o.total) for o in found] == [
            (1, 6.0),
            (2, 20.0),
            (3, 12.0),
            (5, 1.0),
        ]
        rows = await OrderRows().list(order_by=["id"])
        assert [row["id"] for row in rows] == [1, 2, 3, 4, 5]
        for row in rows:
            with pytest.raises(TypeError):
                row["total"] = 0.0  # type: ignore[index]  # read-only: the point
