"""Integer ids in blocks: one round trip per block of ids, not one per id.

A handler that needs a new row's integer key before the flush takes one here::

    ids = Ids()                                   # once, e.g. beside the domain

    @shop.command(PlaceOrder)
    async def place(cmd: PlaceOrder, ctx: Context) -> OrderPlaced:
        order_id = await ids.next(orders)         # a round trip once per block
        await ctx.state.insert(orders, {"id": order_id, ...})

Each `IdAllocator` reserves a block of ids in the database, then hands them out
from memory. Where the block comes from:

- a sequence (``store="sequence"``, PostgreSQL's default): ``nextval`` of the
  sequence ``glue_ids_<name>``, once per id of the block, in one statement;
- a counter table (``store="table"``, SQLite's default, usable on PostgreSQL
  too): one row per name in ``glue_ids``, moved on by the block size in one
  ``INSERT ... ON CONFLICT DO UPDATE ... RETURNING`` statement.

Both are created on first use. A block is reserved on a connection of its own,
committed at once, outside any unit of work's transaction: no block is ever
handed out twice, however many processes share the database, and writers do not
wait for each other's units to end. Ids are unique and, within one allocator,
increasing; they are not gapless: a block's unused ids are lost when the
process ends, and ids taken by a unit of work that rolls back are not reused.
"""

from __future__ import annotations

import collections
import weakref
from typing import TYPE_CHECKING, Literal, Protocol

import anyio

from ..errors import ConfigurationError, ContextError, DatabaseError
from ..schema.model import ColumnType, Schema, check_identifier
from ..work.unit import current_unit, require_unit

if TYPE_CHECKING:
    from collections.abc import Iterable

    from ..connections.abc import Connection, ConnectionPool
    from ..sql.dialects import Dialect
    from ..work.unit import PoolSource

__all__ = ["COUNTERS_TABLE", "DEFAULT_BLOCK", "IdAllocator", "Ids", "Store"]

DEFAULT_BLOCK = 100
"""Ids reserved per round trip, unless an allocator says otherwise."""

COUNTERS_TABLE = "glue_ids"
"""The counter table of ``store="table"``: one row (name, next id) per counter."""

Store = Literal["auto", "sequence", "table"]
"""Where blocks come from: a sequence, a counter table, or ``"auto"``: a
sequence on PostgreSQL, the counter table on SQLite."""


class IdAllocator:
    """Integer ids of one counter on one database, reserved a block at a time.

    ::

        allocator = IdAllocator(pool, "orders", block=100)
        order_id = await allocator.next()

    Safe to share between tasks: concurrent callers never get the same id, and
    one refill serves them all.

    Args:
        pool: the database that keeps the counter.
        name: the counter's name (a table's name, usually).
        block: how many ids one round trip reserves.
        store: ``"sequence"`` (PostgreSQL only), ``"table"`` or ``"auto"``.
        start: the first id of a counter created now.

    Raises:
        glue.ConfigurationError: a block or start below 1, an unknown store, or
            a sequence asked of SQLite.
        glue.SchemaError: a name that is not a valid identifier.
    """

    def __init__(
        self,
        pool: ConnectionPool,
        name: str,
        *,
        block: int = DEFAULT_BLOCK,
        store: Store = "auto",
        start: int = 1,
    ) -> None:
        if block < 1 or start < 1:
            raise ConfigurationError(
                f"id counter {name!r}: block and start must be at least 1 "
                f"(got block={block}, start={start})"
            )
        self.pool = pool
        self.name = check_identifier(name, "id counter")
        self.block = block
        self.start = start
        self._store = _store(pool.dialect, store, name)
        self._free: collections.deque[int] = collections.deque()
        self._refilling = anyio.Lock()
        self._created = False

    def __repr__(self) -> str:
        return (
            f"<IdAllocator {self.name!r} on {self.pool.name!r} "
            f"{self._store.kind} block={self.block}>"
        )

    @property
    def store(self) -> Literal["sequence", "table"]:
        """Where this allocator's blocks come from."""
        return self._store.kind

    async def next(self) -> int:
        """A new id, from the current block; the next block when it is used up.

        Raises:
            glue.ContextError: on SQLite, the current unit of work holds the
                database's write lock (after ``flush()`` or ``lock()``), which a
                new block needs: take ids before that.
            glue.DatabaseError, glue.ConnectionError: the block could not be
                reserved.
        """
        free = self._free
        if free:
            return free.popleft()
        async with self._refilling:
            if not free:
                await self._refill(self.block)
            return free.popleft()

    async def take(self, count: int) -> list[int]:
        """``count`` new ids at once, in increasing order (for ``insert_many``).

        Raises:
            as `next`.
        """
        free = self._free
        async with self._refilling:
            if len(free) < count:
                await self._refill(max(self.block, count - len(free)))
            return [free.popleft() for _ in range(count)]

    async def _refill(self, count: int) -> None:
        unit = current_unit()
        # SQLite has one writer per database: a unit holding its write lock would
        # wait on this very task for ever.
        if (
            unit is not None
            and self._store.needs_writer
            and unit.transaction.joined(self.pool) is not None
        ):
            raise ContextError(
                f"cannot reserve ids of {self.name!r} on {self.pool.name!r}: this "
                "task's unit of work holds the database's write lock (after "
                "flush() or lock()), which a new block needs; take ids before that"
            )
        async with self.pool.acquire(write=self._store.needs_writer) as conn:
            if not self._created:
                await self._store.create(conn, self)
                self._created = True
            self._free.extend(await self._store.draw(conn, self, count))


class Ids:
    """Integer ids for tables: one `IdAllocator` per table and database.

    ::

        ids = Ids()                        # routed through the current unit
        order_id = await ids.next(orders)  # inside a dispatch or a unit of work

        ids = Ids(manager)                 # routed through a ConnectionManager
        order_id = await ids.next("orders")

    Args:
        pools: where tables live; None to ask the current unit of work, which
            also keeps a domain to the tables it declared.
        block: ids reserved per round trip, for every table.
        store: where blocks come from, for every table (see `Store`).
    """

    def __init__(
        self,
        pools: PoolSource | None = None,
        *,
        block: int = DEFAULT_BLOCK,
        store: Store = "auto",
    ) -> None:
        if block < 1:
            raise ConfigurationError(f"Ids: block must be at least 1 (got {block})")
        self._pools = pools
        self._block = block
        self._store: Store = store
        # Per pool: an App that closes takes its pools, and their allocators, along.
        self._allocators: weakref.WeakKeyDictionary[
            ConnectionPool, dict[str, IdAllocator]
        ] = weakref.WeakKeyDictionary()

    async def next(self, table: Schema | str) -> int:
        """A new id for ``table`` (a `Schema` or a table name).

        Raises:
            glue.ContextError: no pools were given and no unit of work is
                current; or see `IdAllocator.next`.
            glue.Forbidden: the current unit's domain did not declare ``table``.
        """
        return await self.allocator(table).next()

    async def take(self, table: Schema | str, count: int) -> list[int]:
        """``count`` new ids for ``table`` at once, in increasing order."""
        return await self.allocator(table).take(count)

    def allocator(self, table: Schema | str) -> IdAllocator:
        """The allocator of ``table`` on the database it routes to."""
        name = table.name if isinstance(table, Schema) else table
        pool = self._route(name)
        allocators = self._allocators.setdefault(pool, {})
        allocator = allocators.get(name)
        if allocator is None:
            allocator = allocators[name] = IdAllocator(
                pool, name, block=self._block, store=self._store
            )
        return allocator

    def _route(self, name: str) -> ConnectionPool:
        if self._pools is not None:
            return self._pools.get_connection_pool(name)
        try:
            unit = require_unit()
        except ContextError:
            raise ContextError(
                f"Ids() found no unit of work to route {name!r} with: use it inside "
                "a dispatch, `app.context(...)` or a UnitOfWork, or give it the "
                "databases, Ids(manager)"
            ) from None
        return unit.pool_for(name)


class _Storage(Protocol):
    @property
    def kind(self) -> Literal["sequence", "table"]: ...

    @property
    def needs_writer(self) -> bool: ...

    async def create(self, conn: Connection, allocator: IdAllocator) -> None: ...

    async def draw(
        self, conn: Connection, allocator: IdAllocator, count: int
    ) -> Iterable[int]: ...


class _CounterTable:
    """A row per counter in `COUNTERS_TABLE`, moved on a block at a time."""

    kind: Literal["table"] = "table"
    needs_writer = True

    def __init__(self, dialect: Dialect) -> None:
        table = dialect.quote(COUNTERS_TABLE, "table")
        name = dialect.quote("name", "column")
        next_ = dialect.quote("next", "column")
        self.ddl = (
            f"CREATE TABLE IF NOT EXISTS {table} ({name} "
            f"{dialect.type_name(ColumnType.TEXT)} PRIMARY KEY, "
            f"{next_} {dialect.type_name(ColumnType.INTEGER)} NOT NULL)"
        )
        # One statement, atomic: the row is created or moved on, and the new
        # value comes back; the block is the `count` ids below it. Quoted names
        # and placeholders only: the name, the first end, and `count` are bound.
        self.reserve = dialect.upsert(
            COUNTERS_TABLE,
            ("name", "next"),
            ("name",),
            update={"next": f"{table}.{next_} + {dialect.placeholder(3)}"},
            returning=("next",),
        )

    async def create(self, conn: Connection, allocator: IdAllocator) -> None:
        await _create(conn, self.ddl)

    async def draw(
        self, conn: Connection, allocator: IdAllocator, count: int
    ) -> Iterable[int]:
        result = await conn.fetch(
            self.reserve, (allocator.name, allocator.start + count, count)
        )
        end = int(result.rows[0][0])
        return range(end - count, end)


class _Sequence:
    """A PostgreSQL sequence per counter: ``nextval`` once per id of a block."""

    kind: Literal["sequence"] = "sequence"
    needs_writer = False

    def __init__(self, dialect: Dialect, name: str) -> None:
        self.dialect = dialect
        self.sequence = dialect.quote(f"glue_ids_{name}", "sequence")

    async def create(self, conn: Connection, allocator: IdAllocator) -> None:
        await _create(
            conn, self.dialect.create_sequence(self.sequence, int(allocator.start))
        )

    async def draw(
        self, conn: Connection, allocator: IdAllocator, count: int
    ) -> Iterable[int]:
        statement = self.dialect.next_values(self.sequence, count)
        result = await conn.fetch(statement.sql, statement.params)
        return sorted(int(row[0]) for row in result.rows)


async def _create(conn: Connection, ddl: str) -> None:
    try:
        await conn.execute(ddl)
    except DatabaseError:
        # PostgreSQL: of two sessions creating it at once, both pass IF NOT EXISTS
        # and the later fails once the first committed. Now it exists: IF NOT
        # EXISTS holds on a second try, and any other error comes again.
        await conn.execute(ddl)


def _store(dialect: Dialect, store: Store, name: str) -> _Storage:
    if store == "table" or (store == "auto" and not dialect.sequences):
        return _CounterTable(dialect)
    if store not in ("auto", "sequence"):
        raise ConfigurationError(
            f"id counter {name!r}: store must be 'auto', 'sequence' or 'table', "
            f"not {store!r}"
        )
    if not dialect.sequences:
        raise ConfigurationError(
            f"id counter {name!r}: {dialect.name} has no sequences; use store='table'"
        )
    return _Sequence(dialect, name)
