"""`DefaultConnectionPool`: checkouts, limits, timeouts and closing, for any backend.

The pool owns what every database shares: its state (new, open, closed), the
count of checked-out connections and waiting tasks, the acquire timeout, and a
close that waits for checkouts to come back. A backend, built by the connection
class (``SqliteConnection.pool_backend``, ``PostgresConnection.pool_backend``),
opens, hands out and takes back the connections themselves.

A pool nobody closes is closed as its event loop ends: ``asyncio.run`` and
``anyio.run`` close every unfinished async generator before they return, and an
open pool holds one (`_closes_at_loop_end`). Scripts written in the seed's style
(register pools, use them, return from ``anyio.run(main)``) end with every
committed row written and every connection closed, and the process exits.
"""

from __future__ import annotations

import asyncio
import enum
from typing import TYPE_CHECKING, Any, Protocol, Self

import anyio

from ..errors import ConfigurationError, GlueError, PoolClosed, PoolTimeout
from ..log import get_logger
from .abc import PoolStatistics

if TYPE_CHECKING:
    from collections.abc import AsyncGenerator
    from types import TracebackType

    from ..sql.dialects import Dialect
    from .abc import Connection

__all__ = ["ConnectionFactory", "DefaultConnectionPool", "PoolBackend"]

_log = get_logger(__name__)

_LEFT_OPEN_GRACE = 5.0
"""Seconds a pool closed at the end of its event loop waits for checkouts (those
still out then belong to abandoned tasks) before closing them under their users."""


class PoolBackend(Protocol):
    """What a driver provides to `DefaultConnectionPool`.

    ``take`` may wait and must be safe to cancel (a connection it returns past
    the deadline or the pool's close, the pool gives back); ``give`` never
    raises for a lost connection (it drops it, and a later ``take`` opens a new
    one), and closes what comes back after ``close``.
    """

    @property
    def name(self) -> str:
        """The pool's name, used in messages."""
        ...

    @property
    def location(self) -> str:
        """Where the database is: a file path, or a URL without password."""
        ...

    @property
    def max_size(self) -> int:
        """The most connections the backend opens."""
        ...

    @property
    def dialect(self) -> Dialect:
        """The dialect of the database."""
        ...

    def size(self) -> int:
        """Connections open now."""
        ...

    async def open(self) -> None:
        """Open the first connections; raise `glue.ConnectionError` on failure."""
        ...

    async def take(self, write: bool) -> Connection:
        """Check out a connection, waiting while none is free."""
        ...

    def take_nowait(self, write: bool) -> Connection | None:
        """Check out an idle connection if one is free now; else None (and
        `take` will wait for one, or open one)."""
        ...

    async def give(self, conn: Connection) -> None:
        """Take back a connection that `take` handed out."""
        ...

    def give_nowait(self, conn: Connection) -> bool:
        """Take back a connection that needs nothing awaited (no stream to end,
        nothing to roll back or reset); False, untouched, when it needs `give`."""
        ...

    async def close(self, *, force: bool) -> None:
        """Close the connections; with ``force``, the checked-out ones too."""
        ...

    def bottleneck(self, write: bool) -> str | None:
        """What a ``take(write)`` waits for when that is one connection, not
        any (SQLite's single writer), for `glue.PoolTimeout`; else None."""
        ...


class ConnectionFactory(Protocol):
    """A connection class that can back a pool (`SqliteConnection`, ...)."""

    def pool_backend(self, *args: Any, **options: Any) -> PoolBackend:
        """Build the backend for one pool.

        `DefaultConnectionPool` passes ``name``, ``min_size``, ``max_size`` and
        the user's options, all by keyword.
        """
        ...


class _State(enum.Enum):
    NEW = "new"
    OPEN = "open"
    CLOSED = "closed"


class DefaultConnectionPool:
    """A pool of connections to one database, for SQLite or PostgreSQL.

    ::

        pool = DefaultConnectionPool(SqliteConnection, db_path="customers.sqlite")
        pool = DefaultConnectionPool(PostgresConnection, dsn="postgresql://...")

        async with pool:
            async with pool.acquire() as conn:
                rows = await conn.fetch("SELECT id, name FROM customers")

    The pool opens on ``async with`` (or `open`, or lazily on the first
    `acquire`) and closes on exit. On SQLite it keeps one writer, handed out by
    ``acquire(write=True)``, and readers for everything else; on PostgreSQL it
    keeps an idle list of asyncpg connections and ``write`` changes nothing.
    """

    def __init__(
        self,
        connection_class: ConnectionFactory,
        /,
        *,
        name: str | None = None,
        min_size: int = 1,
        max_size: int | None = None,
        acquire_timeout: float | None = 30.0,
        **options: Any,
    ) -> None:
        """Configure the pool; nothing connects until it opens.

        Args:
            connection_class: `SqliteConnection` or `PostgresConnection`.
            name: the pool's name in messages and logs; by default the file name
                (SQLite) or the database name (PostgreSQL).
            min_size: connections opened when the pool opens.
            max_size: the most connections at once (SQLite: 5, one of them the
                writer; PostgreSQL: 10).
            acquire_timeout: seconds `acquire` waits before `glue.PoolTimeout`;
                None waits as long as it takes.
            **options: for the connection class: ``db_path`` and ``timeout``
                (busy timeout) for SQLite, ``dsn`` and asyncpg's options for
                PostgreSQL.

        Raises:
            glue.ConfigurationError: sizes or timeout that cannot work.
        """
        if min_size < 0 or (max_size is not None and max_size < max(min_size, 1)):
            raise ConfigurationError(
                f"pool {name or ''!r}: need 0 <= min_size <= max_size and "
                f"max_size >= 1 (got min_size={min_size}, max_size={max_size})"
            )
        if acquire_timeout is not None and acquire_timeout <= 0:
            raise ConfigurationError(
                f"pool {name or ''!r}: acquire_timeout must be positive or None "
                f"(got {acquire_timeout})"
            )
        self._backend = connection_class.pool_backend(
            name=name, min_size=min_size, max_size=max_size, **options
        )
        self._acquire_timeout = acquire_timeout
        self._state = _State.NEW
        self._opening = anyio.Lock()
        self._closed = anyio.Event()
        self._returned = anyio.Event()
        self._checked_out = 0
        self._busy = 0  # checked out, or still being given back
        self._waiting: set[anyio.CancelScope] = set()
        self._at_loop_end: AsyncGenerator[None, None] | None = None
        # Connections checked out now, and those of checkouts dropped unexited
        # (given back by a task of the pool's loop, `_reap`).
        self._out: set[Connection] = set()
        self._orphans: list[Connection] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._reaping: set[asyncio.Task[None]] = set()

    def __repr__(self) -> str:
        stats = self.statistics()
        return (
            f"<DefaultConnectionPool {self.name!r} {self._state.value} "
            f"{self.dialect.name} size={stats.size}/{stats.max_size} "
            f"checked_out={stats.checked_out}>"
        )

    @property
    def name(self) -> str:
        """The pool's name, used in messages and logs."""
        return self._backend.name

    @property
    def dialect(self) -> Dialect:
        """The dialect of the pool's database."""
        return self._backend.dialect

    @property
    def location(self) -> str:
        """Where the database is: an absolute file path, or a URL without password."""
        return self._backend.location

    async def open(self) -> None:
        """Open the pool and its first connections. Opening twice does nothing.

        Raises:
            glue.ConnectionError: the database cannot be reached; the message
                names the pool and where it tried.
            glue.PoolClosed: the pool was closed; pools do not reopen.
        """
        async with self._opening:
            if self._state is _State.CLOSED:
                raise PoolClosed(self.name, "the pool is closed; create a new one")
            if self._state is _State.NEW:
                try:
                    await self._backend.open()
                except BaseException:
                    with anyio.CancelScope(shield=True):
                        await self._backend.close(force=True)
                    raise
                self._state = _State.OPEN
                self._loop = asyncio.get_running_loop()
                self._at_loop_end = _closes_at_loop_end(self)
                await anext(self._at_loop_end)
                _log.debug("pool opened", pool=self.name, location=self.location)

    def acquire(
        self, *, write: bool = False, timeout: float | None = None
    ) -> _Checkout:
        """Check out a connection and return it on exit, even when cancelled.

        Args:
            write: the connection will write. SQLite hands out its single writer;
                PostgreSQL ignores this.
            timeout: seconds to wait for a free connection; the pool's
                ``acquire_timeout`` when None.

        Raises:
            glue.PoolTimeout: no connection became free in time.
            glue.PoolClosed: the pool is closed, or closed while we waited.
            glue.ConnectionError: a new connection could not be opened.
        """
        return _Checkout(self, write, timeout)

    def _checkout_nowait(self, write: bool) -> Connection | None:
        """`_checkout` when it has nothing to wait for (the pool open, an idle
        connection free now); else None."""
        if self._state is not _State.OPEN:
            return None
        conn = self._backend.take_nowait(write)
        if conn is not None:
            self._handed_out(conn)
        return conn

    async def _checkout(self, write: bool, timeout: float | None) -> Connection:
        """Take a connection for `_Checkout`, counted out and noted as such."""
        if self._state is not _State.OPEN:
            await self.open()
        # The fast path, an idle connection free now, waits for nothing: no
        # deadline to set.
        conn = self._backend.take_nowait(write)
        if conn is None:
            conn = await self._take(write, timeout)
        self._handed_out(conn)
        return conn

    def _handed_out(self, conn: Connection) -> None:
        self._checked_out += 1
        self._busy += 1
        self._out.add(conn)

    def _give_back_nowait(self, conn: Connection) -> bool:
        """Take back a connection `_checkout` handed out, when the backend
        needs nothing awaited for it; False, nothing done, when it needs
        `_give_back`. Once: a connection given back already is ignored."""
        out = self._out
        if conn not in out:
            return True
        try:
            if not self._backend.give_nowait(conn):
                return False
        except BaseException:
            out.discard(conn)
            self._returned_one()
            raise
        out.remove(conn)
        self._returned_one()
        return True

    async def _give_back(self, conn: Connection) -> None:
        """`_give_back_nowait`'s other half: the backend's `give` (a reset, a
        close), awaited even when cancelled."""
        out = self._out
        if conn not in out:
            return
        out.remove(conn)
        # Counted as returned before the backend can hand it out again.
        self._checked_out -= 1
        try:
            with anyio.CancelScope(shield=True):
                await self._backend.give(conn)
        finally:
            self._no_longer_busy()

    def _returned_one(self) -> None:
        self._checked_out -= 1
        self._no_longer_busy()

    def _no_longer_busy(self) -> None:
        self._busy -= 1
        # Only `aclose` waits for this, the pool closed first.
        if not self._busy and self._state is _State.CLOSED:
            self._returned.set()

    def _dropped(self, conn: Connection) -> None:
        """Note the connection of a checkout dropped as garbage, entered and
        never exited (`_Checkout.__del__`), and have the pool's loop give it
        back soon, as asyncio's finalizer did for a generator checkout.

        It may run anywhere, even inside the pool's own code or another
        thread's collection: it only appends and schedules.
        """
        self._orphans.append(conn)
        loop = self._loop
        if loop is not None:
            try:
                loop.call_soon_threadsafe(self._reap)
            except RuntimeError:  # the loop is closed: `_close_left_open` did
                pass

    def _reap(self) -> None:
        """Start a task giving back the connections of dropped checkouts."""
        if self._orphans:
            task = asyncio.get_running_loop().create_task(self._give_back_orphans())
            self._reaping.add(task)
            task.add_done_callback(self._reaping.discard)

    async def _give_back_orphans(self) -> None:
        """Take back the connections of checkouts dropped unexited."""
        while self._orphans:
            conn = self._orphans.pop()
            if not self._give_back_nowait(conn):
                await self._give_back(conn)

    async def _take(self, write: bool, timeout: float | None) -> Connection:
        """Wait for a connection, up to the timeout."""
        limit = self._acquire_timeout if timeout is None else timeout
        scope = anyio.CancelScope(
            deadline=anyio.current_time() + limit if limit is not None else float("inf")
        )
        conn = None
        self._waiting.add(scope)
        try:
            with scope:
                conn = await self._backend.take(write)
        finally:
            self._waiting.discard(scope)
        if conn is not None and (scope.cancel_called or self._state is _State.CLOSED):
            # The backend finished a step it does not cancel (opening a
            # connection) past the deadline or the pool's close: the caller
            # gets the error it waited into, and the backend the connection.
            with anyio.CancelScope(shield=True):
                await self._backend.give(conn)
            conn = None
        if conn is None:
            if self._state is _State.CLOSED:
                raise PoolClosed(self.name, "the pool closed while we waited")
            one = self._backend.bottleneck(write)
            if one is not None:
                raise PoolTimeout(
                    self.name,
                    f"{one} was not free within {limit:g} s; keep write "
                    "transactions short, and read through acquire() without "
                    "write=True",
                )
            stats = self.statistics()
            raise PoolTimeout(
                self.name,
                f"no connection free within {limit:g} s ({stats.checked_out} of "
                f"{stats.max_size} checked out, {stats.waiting} waiting); raise "
                "max_size or hold connections for less time",
            )
        return conn

    def statistics(self) -> PoolStatistics:
        """Return a snapshot of the pool's size and use."""
        return PoolStatistics(
            name=self.name,
            size=self._backend.size(),
            max_size=self._backend.max_size,
            checked_out=self._checked_out,
            waiting=len(self._waiting),
        )

    async def aclose(self, *, timeout: float | None = None) -> None:
        """Close the pool. Closing twice does nothing.

        Tasks waiting in `acquire` get `glue.PoolClosed`. Checked-out connections
        are waited for, up to ``timeout`` seconds (None: as long as it takes).

        Raises:
            glue.PoolTimeout: connections were still checked out after
                ``timeout``; they were closed under their users.
        """
        if self._state is _State.CLOSED:
            await self._closed.wait()
            return
        self._state = _State.CLOSED
        at_loop_end, self._at_loop_end = self._at_loop_end, None
        if at_loop_end is not None:
            await at_loop_end.aclose()  # closed by its owner: nothing left to do
        for scope in self._waiting:
            scope.cancel()
        with anyio.CancelScope(shield=True):
            await self._give_back_orphans()
        still_out = 0
        try:
            with anyio.move_on_after(timeout):
                while self._busy:
                    self._returned = anyio.Event()
                    await self._returned.wait()
        finally:
            still_out = self._busy
            with anyio.CancelScope(shield=True):
                await self._backend.close(force=bool(still_out))
            self._closed.set()
            _log.debug("pool closed", pool=self.name, forced=still_out)
        if still_out:
            raise PoolTimeout(
                self.name,
                f"{still_out} connection(s) still checked out after {timeout:g} s; "
                "closed them",
            )

    async def _close_left_open(self) -> None:
        """Close the pool as its event loop ends, its owner having left it open."""
        _log.debug("closing a pool left open as its event loop ends", pool=self.name)
        # The loop is ending: a checkout still out is given back, as the loop
        # closing a generator checkout's generator (`asynccontextmanager`) did.
        self._orphans.extend(self._out)
        try:
            await self.aclose(timeout=_LEFT_OPEN_GRACE)
        except GlueError as exc:
            _log.warning(
                "pool left open closed by force", pool=self.name, error=str(exc)
            )

    async def __aenter__(self) -> Self:
        await self.open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()


class _Checkout:
    """`DefaultConnectionPool.acquire`: a class rather than an
    ``asynccontextmanager``, since every operation checks out (the async
    generator took half of glue's CPU around a pooled query).

    A checkout entered and never exited is still given back: dropped as
    garbage, by a task its pool starts on its loop (`_dropped`); still held,
    at the end of that loop with the pool (`_close_left_open`).
    """

    __slots__ = ("_conn", "_entered", "_pool", "_timeout", "_write")

    def __init__(
        self, pool: DefaultConnectionPool, write: bool, timeout: float | None
    ) -> None:
        self._pool = pool
        self._write = write
        self._timeout = timeout
        self._entered = False
        self._conn: Connection | None = None

    async def __aenter__(self) -> Connection:
        if self._entered:
            raise RuntimeError("a pool checkout can be entered only once")
        self._entered = True
        pool = self._pool
        conn = pool._checkout_nowait(self._write)
        if conn is None:
            conn = await pool._checkout(self._write, self._timeout)
        self._conn = conn
        return conn

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        conn, self._conn = self._conn, None
        if conn is not None and not self._pool._give_back_nowait(conn):
            await self._pool._give_back(conn)

    def __del__(self) -> None:
        conn = self._conn
        if conn is not None:
            self._conn = None
            self._pool._dropped(conn)


async def _closes_at_loop_end(
    pool: DefaultConnectionPool,
) -> AsyncGenerator[None, None]:
    """Wait, suspended, for the end of the open pool's event loop, then close it.

    The event loop closes this generator when it shuts down (or when the pool,
    and so this, is garbage): its ``finally`` closes the pool unless `aclose`
    got there first.
    """
    try:
        yield
    finally:
        if pool._at_loop_end is not None:
            pool._at_loop_end = None
            with anyio.CancelScope(shield=True):
                await pool._close_left_open()
