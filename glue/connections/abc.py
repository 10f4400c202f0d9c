"""What every database connection and pool promises to the layers above.

A connection and a pool name their dialect object (:class:`glue.sql.dialects.Dialect`,
``conn.dialect``); everything above asks it how that database's SQL is written.
Values always travel as bound parameters, in the dialect's placeholders.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import msgspec

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from contextlib import AbstractAsyncContextManager

    from ..sql.dialects import Dialect, Params, Statement
    from .streams import RowStream

__all__ = [
    "Connection",
    "ConnectionPool",
    "PoolStatistics",
    "Result",
]


class Result(msgspec.Struct, frozen=True):
    """Rows a query returned, with their column names in order.

    Attributes:
        columns: the column names, as the statement named them.
        rows: the rows, each a tuple in column order.
    """

    columns: tuple[str, ...]
    rows: list[tuple[Any, ...]]

    def dicts(self) -> list[dict[str, Any]]:
        """Return the rows as dictionaries keyed by column name."""
        columns = self.columns
        return [dict(zip(columns, row, strict=True)) for row in self.rows]


class PoolStatistics(msgspec.Struct, frozen=True):
    """A snapshot of a pool.

    Attributes:
        name: the pool's name.
        size: connections open now.
        max_size: the most it will open.
        checked_out: connections handed out and not yet returned.
        waiting: tasks waiting for a connection.
    """

    name: str
    size: int
    max_size: int
    checked_out: int
    waiting: int


@runtime_checkable
class Connection(Protocol):
    """One open connection to one database.

    Errors from the driver never escape: each becomes the most specific
    ``glue.DatabaseError`` or ``glue.ConnectionError``, naming the database.
    """

    @property
    def dialect(self) -> Dialect:
        """The dialect of this connection's database."""
        ...

    @property
    def database(self) -> str:
        """The database's name, for messages and logs (never a password)."""
        ...

    @property
    def closed(self) -> bool:
        """Whether the connection was closed, lost, or returned to its pool."""
        ...

    async def execute(self, sql: str, params: Params = ()) -> int:
        """Run one statement; return the number of rows it changed."""
        ...

    async def execute_many(self, sql: str, rows: Sequence[Params]) -> None:
        """Run one statement once per row of values."""
        ...

    async def fetch(self, sql: str, params: Params = ()) -> Result:
        """Run a query and return all its rows."""
        ...

    def iterate(
        self, sql: str, params: Params = (), *, batch_size: int = 500
    ) -> RowStream:
        """Stream a query's rows without holding them all.

        ``async for row in conn.iterate(...)``. A stream left unfinished is ended
        by the connection's next operation; ``await stream.aclose()`` ends it now.
        """
        ...

    async def batch(self, statements: Sequence[Statement]) -> list[int]:
        """Run statements in order, in as few round trips as the driver allows.

        Returns:
            for each statement, the number of rows it changed (for a ``many``
            statement, the total).
        """
        ...

    async def copy_records(
        self, table: str, columns: Sequence[str], records: Sequence[Params]
    ) -> int:
        """Insert rows into ``table`` the fastest way the driver has; all or none.

        PostgreSQL: ``COPY ... FROM STDIN`` in binary (asyncpg's
        ``copy_records_to_table``); SQLite: one ``executemany`` in one thread hop,
        inside a savepoint. It joins the caller's transaction, if any. Names are
        quoted here; values are sent as they are (no SQL is built from them).

        Args:
            table: the table's name.
            columns: the columns each record holds, in order.
            records: the rows, each a sequence of values in ``columns`` order.

        Returns:
            the number of rows inserted.

        Raises:
            glue.IntegrityError: a record broke a constraint; none was inserted.
        """
        ...

    def transaction(
        self, *, lock_timeout: float | None = None
    ) -> AbstractAsyncContextManager[None]:
        """Begin a transaction that commits on a clean exit and rolls back on error.

        Args:
            lock_timeout: the most seconds a statement of the transaction waits
                for a lock another transaction holds, then `glue.LockConflict`;
                for databases that bound lock waits per transaction
                (PostgreSQL). SQLite bounds them with its busy timeout.
        """
        ...

    def listen(
        self, channel: str, callback: Callable[[], None]
    ) -> AbstractAsyncContextManager[bool]:
        """Call ``callback()`` whenever a transaction that ran the dialect's
        ``notify(channel)`` commits, while the block runs; the block gets
        whether notifications will come at all (False where the database has
        none: SQLite). Keep the connection for nothing else meanwhile."""
        ...

    async def aclose(self) -> None:
        """Close the connection. Closing twice does nothing."""
        ...


@runtime_checkable
class ConnectionPool(Protocol):
    """A pool of connections to one database.

    Open it with ``async with pool`` (or ``await pool.open()``), take connections
    with ``async with pool.acquire() as conn``.
    """

    @property
    def name(self) -> str:
        """The pool's name, used in messages and logs."""
        ...

    @property
    def dialect(self) -> Dialect:
        """The dialect of the pool's database."""
        ...

    async def open(self) -> None:
        """Open the pool; raise ``glue.ConnectionError`` if the database is down."""
        ...

    def acquire(
        self, *, write: bool = False, timeout: float | None = None
    ) -> AbstractAsyncContextManager[Connection]:
        """Check out a connection, returning it on exit.

        Args:
            write: the connection will write. SQLite hands out its single writer;
                PostgreSQL ignores this.
            timeout: seconds to wait before ``glue.PoolTimeout``; the pool's own
                acquire timeout when None.
        """
        ...

    def statistics(self) -> PoolStatistics:
        """Return a snapshot of the pool's size and use."""
        ...

    async def aclose(self, *, timeout: float | None = None) -> None:
        """Close the pool, waiting for checked-out connections up to ``timeout``."""
        ...
