"""Write services outside the bus: data, transaction and lock commands.

- `DataCommandService` inserts, updates and deletes rows, each call in its own
  unit of work (so with etags, audit columns and conflict detection), or inside
  a `Transaction` you pass.
- `TransactionCommandService` begins, commits and rolls back transactions that
  span databases (see `glue.work.Transaction` for what "all or none" means).
- `LockCommandService` takes row locks (``SELECT ... FOR UPDATE``) and
  PostgreSQL advisory locks inside a transaction; on SQLite both are the
  database's write lock, which a transaction holds from its first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..state.manager import normalize_key
from ..work.flush import select_rows
from ..work.transaction import Transaction
from ..work.unit import UnitOfWork

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping, Sequence

    from ..connections.abc import ConnectionPool
    from ..schema.model import Schema
    from ..state.identity import Row
    from ..state.manager import Clock
    from ..work.unit import PoolSource

__all__ = [
    "AsyncDataCommandService",
    "AsyncLockCommandService",
    "AsyncTransactionCommandService",
    "DataCommandService",
    "LockCommandService",
    "TransactionCommandService",
]


class DataCommandService:
    """Insert, update and delete rows without the bus.

    Args:
        pools: where tables live (a `ConnectionManager`, or table name → pool).
        actor: stamped into audit columns.
        clock: the time source for audit and soft-delete columns.
    """

    def __init__(
        self,
        pools: PoolSource | Callable[[str], ConnectionPool],
        *,
        actor: str | None = None,
        clock: Clock | None = None,
    ) -> None:
        self._pools = pools
        self._actor = actor
        self._clock = clock

    def _unit(self, transaction: Transaction | None) -> UnitOfWork:
        return UnitOfWork(
            self._pools, actor=self._actor, clock=self._clock, transaction=transaction
        )

    async def insert(
        self,
        schema: Schema,
        rows: Iterable[Mapping[str, Any]],
        *,
        transaction: Transaction | None = None,
    ) -> list[Row]:
        """Insert rows in one batch; return them with their etags.

        Raises:
            glue.IntegrityError: a duplicate key or another broken constraint;
                nothing was inserted.
        """
        async with self._unit(transaction) as unit:
            return await unit.state.insert_many(schema, rows)

    async def update(
        self,
        schema: Schema,
        key: Any,
        changes: Mapping[str, Any],
        *,
        etag: str | None = None,
        transaction: Transaction | None = None,
    ) -> Row:
        """Merge ``changes`` into a row, guarded by ``etag`` when given.

        Raises:
            glue.NotFound: no such row.
            glue.StaleEtag: the row's etag is not ``etag``.
            glue.ConcurrencyConflict: the row changed between its read and its
                write.
        """
        async with self._unit(transaction) as unit:
            return await unit.state.update(schema, key, changes, etag=etag)

    async def delete(
        self,
        schema: Schema,
        key: Any,
        *,
        etag: str | None = None,
        transaction: Transaction | None = None,
    ) -> bool:
        """Delete a row (soft for soft-delete tables); whether one was deleted."""
        async with self._unit(transaction) as unit:
            return await unit.state.delete(schema, key, etag=etag)


class TransactionCommandService:
    """Begin, commit and roll back transactions across databases.

    ::

        async with transactions.begin() as tx:
            await data.update(orders, 7, {"total": 9}, transaction=tx)
            await data.insert(audit_log, [...], transaction=tx)
    """

    def begin(self) -> Transaction:
        """A new transaction; each database joins on first use.

        Use it with ``async with`` (commit on success, rollback on error), or
        call `commit` / `rollback`.
        """
        return Transaction()

    async def commit(self, transaction: Transaction) -> None:
        """Commit ``transaction`` on every database it touched, or on none."""
        await transaction.commit()

    async def rollback(self, transaction: Transaction) -> None:
        """Roll ``transaction`` back everywhere. Idempotent."""
        await transaction.rollback()


class LockCommandService:
    """Row locks and advisory locks, held until their transaction ends.

    Args:
        pools: where tables and databases live.
    """

    def __init__(self, pools: PoolSource | Callable[[str], ConnectionPool]) -> None:
        self._route: Callable[[str], ConnectionPool] = (
            pools if callable(pools) else pools.get_connection_pool
        )

    async def lock_rows(
        self, transaction: Transaction, schema: Schema, keys: Sequence[Any]
    ) -> list[dict[str, Any]]:
        """Lock rows until ``transaction`` ends, and return them as they are.

        PostgreSQL locks each row (``SELECT ... FOR UPDATE``); SQLite has no row
        locks, and the transaction's write lock on the whole database covers
        them.
        """
        conn = await transaction.connection(self._route(schema.name))
        wanted = [normalize_key(schema, key) for key in keys]
        return await select_rows(conn, schema, wanted, for_update=True)

    async def advisory_lock(
        self, transaction: Transaction, database: str, key: int
    ) -> None:
        """Wait for the advisory lock ``key`` on ``database`` (a schema name).

        PostgreSQL: ``pg_advisory_xact_lock``, released when the transaction
        ends. SQLite: the database's write lock, which the transaction now holds.
        """
        conn = await transaction.connection(self._route(database))
        await conn.dialect.advisory_lock(conn, key)

    async def try_advisory_lock(
        self, transaction: Transaction, database: str, key: int
    ) -> bool:
        """Take the advisory lock ``key`` if it is free; whether it was taken.

        On SQLite, joining the transaction waits for the write lock (up to the
        busy timeout), so this returns True once it holds it.
        """
        conn = await transaction.connection(self._route(database))
        return await conn.dialect.try_advisory_lock(conn, key)


AsyncDataCommandService = DataCommandService
"""The seed's name for `DataCommandService` (glue's is async already)."""
AsyncTransactionCommandService = TransactionCommandService
"""The seed's name for `TransactionCommandService`."""
AsyncLockCommandService = LockCommandService
"""The seed's name for `LockCommandService`."""
