"""Integer ids in blocks, on SQLite and PostgreSQL: sequences and counter tables."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any

import anyio
import anyio.lowlevel
import pytest

from glue import App, Command, Context, Domain, Forbidden, Response
from glue.connections import ConnectionManager, pool_from_url
from glue.errors import ConfigurationError, ContextError
from glue.ids import IdAllocator, Ids
from glue.schema import Column, ColumnType, Schema
from glue.work import UnitOfWork

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from glue.connections import ConnectionPool

ORDERS = Schema(
    name="orders",
    columns=(
        Column(name="id", type=ColumnType.INTEGER),
        Column(name="note", type=ColumnType.TEXT),
    ),
    primary_key=("id",),
)
NOTES = Schema(
    name="notes",
    columns=(Column(name="id", type=ColumnType.INTEGER),),
    primary_key=("id",),
)


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[ConnectionPool]:
    async with pool_from_url(database_url) as opened:
        yield opened


def stores(pool: ConnectionPool) -> list[Any]:
    """The stores a database offers: the counter table, and sequences on PostgreSQL."""
    return ["table", "sequence"] if pool.dialect.name == "postgres" else ["table"]


async def counter_state(pool: ConnectionPool, allocator: IdAllocator) -> int:
    """What the database will hand out next (table) or handed out last (sequence)."""
    params: tuple[Any, ...]
    if allocator.store == "table":
        sql, params = "SELECT next FROM glue_ids WHERE name = $1", (allocator.name,)
    else:
        sql, params = f"SELECT last_value FROM glue_ids_{allocator.name}", ()  # noqa: S608
    if pool.dialect.name == "sqlite":
        sql = sql.replace("$1", "?")
    async with pool.acquire() as conn:
        result = await conn.fetch(sql, params)
    return int(result.rows[0][0])


async def test_ids_come_in_blocks_one_round_trip_each(pool: ConnectionPool) -> None:
    for store in stores(pool):
        allocator = IdAllocator(pool, f"orders_{store}", block=10, store=store)
        assert [await allocator.next() for _ in range(25)] == list(range(1, 26))
        # Three blocks were reserved: 1-10, 11-20, 21-30.
        expected = 31 if store == "table" else 30
        assert await counter_state(pool, allocator) == expected
        assert await allocator.take(12) == list(range(26, 38))
        again = IdAllocator(pool, f"orders_{store}", block=10, store=store)
        assert await again.next() > 37  # a block is never handed out twice


async def test_auto_picks_a_sequence_on_postgres_and_the_table_on_sqlite(
    pool: ConnectionPool,
) -> None:
    allocator = IdAllocator(pool, "picked")
    assert allocator.store == (
        "sequence" if pool.dialect.name == "postgres" else "table"
    )
    started = IdAllocator(pool, "started", start=1000, block=5)
    assert await started.next() == 1000
    if pool.dialect.name == "sqlite":
        with pytest.raises(ConfigurationError, match="sqlite has no sequences"):
            IdAllocator(pool, "orders", store="sequence")
    cases: list[tuple[dict[str, Any], type[Exception], str]] = [
        ({"block": 0}, ConfigurationError, "block and start must be at least 1"),
        ({"store": "file"}, ConfigurationError, "store must be 'auto', 'sequence'"),
    ]
    for options, error, message in cases:
        with pytest.raises(error, match=message):
            IdAllocator(pool, "orders", **options)


async def take_ids(allocator: IdAllocator, count: int, taken: list[int]) -> None:
    for _ in range(count):
        taken.append(await allocator.next())
        await anyio.lowlevel.checkpoint()


async def test_concurrent_allocation_from_several_pools_never_repeats(
    database_url: str,
) -> None:
    # Four pools on one database stand in for four processes; they create the
    # counter table or sequence at once, then reserve blocks at once.
    async with contextlib.AsyncExitStack() as stack:
        pools = [
            await stack.enter_async_context(
                pool_from_url(database_url, name=f"process{i}")
            )
            for i in range(4)
        ]
        for store in stores(pools[0]):
            taken: list[int] = []
            async with anyio.create_task_group() as group:
                for pool in pools:
                    allocator = IdAllocator(
                        pool, f"shared_{store}", block=7, store=store
                    )
                    for _ in range(5):
                        group.start_soon(take_ids, allocator, 30, taken)
            assert len(taken) == 600
            assert len(set(taken)) == 600, store


async def test_blocks_are_reserved_outside_the_units_transaction(
    database_url: str,
) -> None:
    async with ConnectionManager.from_urls({"default": database_url}) as manager:
        pool = manager.get_connection_pool()
        ids = Ids(manager, block=3)
        async with pool.acquire(write=True) as conn:
            await conn.execute(
                'CREATE TABLE "orders" ("id" BIGINT PRIMARY KEY, "note" TEXT, '
                '"etag" TEXT)'
            )
        unit = UnitOfWork(manager)
        with pytest.raises(RuntimeError, match="rolled back"):
            async with unit:
                first = await ids.next(ORDERS)
                await unit.state.insert(ORDERS, {"id": first, "note": "gone"})
                raise RuntimeError("rolled back")
        # The block outlived the unit that took from it, and went on from there.
        assert await ids.next(ORDERS) == first + 1
        async with UnitOfWork(manager) as unit:
            await unit.lock(ORDERS, [first])  # the unit's transaction is open now
            if pool.dialect.name == "postgres":
                # Another connection reserves the block: no wait for the unit.
                assert await ids.take(ORDERS, 5) == list(range(first + 2, first + 7))
            else:
                # One writer per SQLite database, and the unit holds it: say so
                # instead of waiting on ourselves for ever.
                await ids.take(ORDERS, 1)  # the rest of the current block
                with pytest.raises(ContextError, match="holds the database's write"):
                    await ids.next(ORDERS)


class Place(Command):
    note: str


class Placed(Response):
    order_id: int


async def test_ids_route_through_the_dispatchs_unit(database_url: str) -> None:
    shop = Domain("shop")
    shop.table(ORDERS)
    ids = Ids(block=2)

    @shop.command(Place)
    async def place(cmd: Place, ctx: Context) -> Placed:
        if cmd.note == "notes":
            await ids.next(NOTES)  # not a table of this domain
        order_id = await ids.next(ORDERS)
        await ctx.state.insert(ORDERS, {"id": order_id, "note": cmd.note})
        return Placed(order_id=order_id)

    async with App(
        [shop], databases={"default": database_url}, create_tables=True
    ) as app:
        placed = [await app.bus.dispatch(Place(note=str(i))) for i in range(3)]
        assert [p.order_id for p in placed] == [1, 2, 3]  # type: ignore[attr-defined]
        with pytest.raises(Forbidden, match="notes"):
            await app.bus.dispatch(Place(note="notes"))
    with pytest.raises(ContextError, match="found no unit of work"):
        await ids.next(ORDERS)
