"""SQLite through aiosqlite: `SqliteConnection`, its pool backend and error mapping.

Every call runs one plain function on aiosqlite's worker thread, so a batch of
statements costs one thread hop, not one per statement. aiosqlite has no public
API for "run this function on the connection's thread"; every public method of
``aiosqlite.Connection`` funnels through its ``_execute(fn)``, and `_on_thread`
below is the one place glue uses it. `_open_raw` makes that thread a daemon (one
more private attribute), so a connection nobody closed cannot keep the process
alive; what it committed is in the database file or its WAL by then.

Connections run in autocommit mode with WAL journaling, foreign keys on and a
busy timeout. glue issues ``BEGIN`` / ``SAVEPOINT`` itself. A pool keeps one
writer (its transactions begin ``IMMEDIATE``, so writers queue in the pool rather
than fail in SQLite) and up to ``max_size - 1`` readers.
"""

from __future__ import annotations

import asyncio
import functools
import math
import re
import sqlite3
import threading
import time
from collections import deque
from contextlib import asynccontextmanager, contextmanager, suppress
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, cast

import aiosqlite
import anyio
import anyio.lowlevel
import regex

from .. import errors
from ..log import get_logger
from ..sql.dialects.sqlite import SQLITE
from .abc import Connection, Result
from .streams import RowStream

if TYPE_CHECKING:
    import os
    from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence

    from ..sql.dialects import Dialect, Params, Statement

__all__ = ["SqliteConnection", "SqlitePoolBackend", "map_sqlite_errors"]

_T = TypeVar("_T")
_log = get_logger(__name__)

_MEMORY = ":memory:"

# Primary result codes (https://sqlite.org/rescode.html) that mean the statement
# itself was wrong: SQLITE_ERROR (syntax, unknown table or column), MISMATCH,
# MISUSE, RANGE (a bind index out of range).
_PROGRAMMING_CODES = frozenset({1, 20, 21, 25})
_CONSTRAINT = 19
_BUSY = 5
_TABLE_IN_MESSAGE = re.compile(
    r"(?:constraint failed|no such table): (?:main\.)?(\w+)|table (\w+) has no column"
)


def _table_of(message: str) -> str | None:
    match = _TABLE_IN_MESSAGE.search(message)
    return (match.group(1) or match.group(2)) if match else None


def _translate(database: str, exc: sqlite3.Error) -> errors.GlueError:
    message = str(exc)
    code = getattr(exc, "sqlite_errorcode", None)
    primary = code & 0xFF if isinstance(code, int) else None
    if isinstance(exc, sqlite3.IntegrityError) or primary == _CONSTRAINT:
        return errors.IntegrityError(database, message, table=_table_of(message))
    if isinstance(exc, sqlite3.ProgrammingError) and "closed" in message:
        return errors.ConnectionError(database, "the connection is closed")
    if primary in _PROGRAMMING_CODES or isinstance(
        exc,
        sqlite3.ProgrammingError | sqlite3.InterfaceError | sqlite3.NotSupportedError,
    ):
        return errors.ProgrammingError(database, message, table=_table_of(message))
    if isinstance(exc, sqlite3.DataError):
        return errors.DatabaseError(database, message)
    if primary == _BUSY:
        # Another connection (another process) held the write lock past the
        # busy timeout: nothing was written, and trying again may succeed.
        return errors.LockConflict(
            database,
            f"{message} (another connection held the write lock past the busy "
            "timeout; write through acquire(write=True) so writers queue in the "
            "pool)",
        )
    if "locked" in message:
        message += (
            " (another connection held the write lock past the busy timeout; "
            "write through acquire(write=True) so writers queue in the pool)"
        )
    return errors.OperationalError(database, message)


@contextmanager
def map_sqlite_errors(database: str, *, location: str | None = None) -> Iterator[None]:
    """Translate sqlite3 and aiosqlite errors into glue errors naming the database.

    Args:
        database: the name used in messages.
        location: set while connecting: every failure then becomes a
            `glue.ConnectionError` that says where glue tried to connect.

    Raises:
        glue.ConnectionError: the connection is closed, or (while connecting) the
            file cannot be opened.
        glue.IntegrityError: a constraint was violated.
        glue.ProgrammingError: bad SQL, an unknown table or column, bad parameters.
        glue.LockConflict: the write lock stayed busy past the busy timeout.
        glue.OperationalError: locked tables, disk or I/O trouble.
    """
    try:
        yield
    except errors.GlueError:
        raise
    except (sqlite3.Error, ValueError, OverflowError) as exc:
        if location is not None:
            raise errors.ConnectionError(
                database, f"cannot open {location}: {exc}"
            ) from exc
        if isinstance(exc, sqlite3.Error):
            raise _translate(database, exc) from exc
        if isinstance(exc, OverflowError):
            raise errors.ProgrammingError(
                database, f"a value cannot be stored in SQLite: {exc}"
            ) from exc
        # aiosqlite raises ValueError once its connection or thread is gone.
        if "closed" in str(exc) or "no active connection" in str(exc):
            raise errors.ConnectionError(database, "the connection is closed") from exc
        raise errors.ProgrammingError(database, str(exc)) from exc


def _on_thread(
    raw: aiosqlite.Connection, fn: Callable[[sqlite3.Connection], _T]
) -> Awaitable[_T]:
    """Run ``fn(sqlite3_connection)`` on aiosqlite's worker thread, in one hop."""

    def call() -> _T:
        return fn(raw._conn)

    hop = raw._execute(call)  # type: ignore[no-untyped-call]  # aiosqlite's only hop; see module docstring
    return cast("Awaitable[_T]", hop)


def _in_savepoint(
    body: Callable[[sqlite3.Connection], _T],
) -> Callable[[sqlite3.Connection], _T]:
    """``body`` run all or none, inside a savepoint (which nests in a transaction,
    and is a transaction of its own outside one)."""

    def run(db: sqlite3.Connection) -> _T:
        db.execute("SAVEPOINT glue_steps").close()
        try:
            result = body(db)
        except BaseException:
            # Undo, but let the body's error be the one that surfaces.
            with suppress(sqlite3.Error):
                db.execute("ROLLBACK TO glue_steps").close()
                db.execute("RELEASE glue_steps").close()
            raise
        db.execute("RELEASE glue_steps").close()
        return result

    return run


# What the statement running on a connection's worker thread may take: until
# ``stop_at`` (time.monotonic()), None for no limit. Set by `SqliteConnection._call`.
_running = threading.local()


@functools.lru_cache(maxsize=256)
def _pattern(pattern: str) -> regex.Pattern[str]:
    return regex.compile(pattern)


def _regexp(pattern: str, value: object) -> bool | None:
    """SQLite's ``x REGEXP p``, which SQLite leaves to the application to define.

    On the `regex` engine, which defuses most catastrophic backtracking, and
    stops a match at the statement's deadline: sqlite3's interrupt cannot stop
    a Python function, and one match alone can take hours.
    """
    if value is None:
        return None
    stop_at = getattr(_running, "stop_at", None)
    timeout = None if stop_at is None else max(stop_at - time.monotonic(), 0.0)
    return _pattern(pattern).search(str(value), timeout=timeout) is not None


def _quote(name: str) -> str:
    """``name`` as a quoted SQL identifier (embedded quotes doubled)."""
    return '"' + name.replace('"', '""') + '"'


def _rowcount(cursor: sqlite3.Cursor) -> int:
    return max(cursor.rowcount, 0)


async def _open_raw(
    path: str, *, database: str, timeout: float, writer: bool, options: dict[str, Any]
) -> aiosqlite.Connection:
    """Open one configured aiosqlite connection, or raise `glue.ConnectionError`."""
    if path != _MEMORY and not Path(path).parent.is_dir():
        raise errors.ConnectionError(
            database,
            f"cannot open {path}: the directory {Path(path).parent} does not exist; "
            "create it first",
        )
    pragmas = [
        "PRAGMA foreign_keys = ON",
        f"PRAGMA busy_timeout = {int(timeout * 1000)}",
        "PRAGMA synchronous = NORMAL",
    ]
    if writer and path != _MEMORY:
        pragmas.insert(0, "PRAGMA journal_mode = WAL")

    def configure(db: sqlite3.Connection) -> None:
        for pragma in pragmas:
            db.execute(pragma).close()
        db.create_function("regexp", 2, _regexp, deterministic=True)

    raw = aiosqlite.connect(path, isolation_level=None, timeout=timeout, **options)
    raw._thread.daemon = True  # see the module docstring
    try:
        with map_sqlite_errors(database, location=path):
            await raw
            await _on_thread(raw, configure)
    except BaseException:
        with anyio.CancelScope(shield=True):
            await raw.close()
        raise
    return raw


class SqliteConnection:
    """One connection to a SQLite database file (or ``:memory:``).

    Open one alone with `SqliteConnection.connect`, or let a
    `DefaultConnectionPool` hand them out::

        pool = DefaultConnectionPool(SqliteConnection, db_path="customers.sqlite")

    Values are bound with ``?`` placeholders. Driver errors arrive as glue errors
    (see `map_sqlite_errors`); once the connection is lost every call raises
    `glue.ConnectionError`, and a pool replaces it.
    """

    def __init__(
        self, raw: aiosqlite.Connection, *, database: str, writer: bool = True
    ) -> None:
        """Wrap an open aiosqlite connection (pools and `connect` do this).

        Args:
            raw: the aiosqlite connection, in autocommit mode.
            database: the name used in messages and logs.
            writer: transactions begin ``IMMEDIATE`` (the pool's writer) rather
                than deferred (a reader).
        """
        self._raw = raw
        self._database = database
        self._writer = writer
        self._depth = 0
        # As the last thread hop saw it; None when unknown (a cancelled hop).
        self._in_transaction: bool | None = False
        self._closed_reason: str | None = None
        # Until the connection is closed or handed back to its pool.
        self._owned = True
        self._stream: RowStream | None = None

    @classmethod
    async def connect(
        cls,
        db_path: str | os.PathLike[str],
        *,
        name: str | None = None,
        timeout: float = 5.0,
        **options: Any,
    ) -> SqliteConnection:
        """Open a standalone connection; close it with `aclose`.

        Args:
            db_path: the database file, or ``":memory:"``.
            name: the name used in messages; the file name by default.
            timeout: seconds to wait for another connection's lock (busy timeout).
            **options: passed on to ``sqlite3.connect``.

        Raises:
            glue.ConnectionError: the file cannot be opened.
        """
        path = _resolve(db_path)
        database = name or _default_name(path)
        raw = await _open_raw(
            path, database=database, timeout=timeout, writer=True, options=options
        )
        return cls(raw, database=database)

    @classmethod
    def pool_backend(
        cls,
        *,
        name: str | None,
        min_size: int,
        max_size: int | None,
        db_path: str | os.PathLike[str],
        timeout: float = 5.0,
        **options: Any,
    ) -> SqlitePoolBackend:
        """Build the backend `DefaultConnectionPool` uses for SQLite.

        Args:
            name: the pool's name; the file name by default.
            min_size: connections opened up front (the writer first).
            max_size: the most connections: one writer and ``max_size - 1``
                readers; 5 by default, and always 1 for ``":memory:"``.
            db_path: the database file, or ``":memory:"``.
            timeout: SQLite's busy timeout, in seconds.
            **options: passed on to ``sqlite3.connect``.
        """
        return SqlitePoolBackend(
            path=_resolve(db_path),
            name=name,
            min_size=min_size,
            max_size=max_size,
            timeout=timeout,
            options=options,
        )

    @property
    def dialect(self) -> Dialect:
        """SQLite's dialect."""
        return SQLITE

    @property
    def database(self) -> str:
        """The database's name, for messages and logs."""
        return self._database

    @property
    def closed(self) -> bool:
        """Whether the connection was closed, lost or returned to its pool."""
        return self._closed_reason is not None

    async def execute(self, sql: str, params: Params = ()) -> int:
        """Run one statement; return the number of rows it changed."""

        def run(db: sqlite3.Connection) -> int:
            cursor = db.execute(sql, params)
            count = _rowcount(cursor)
            cursor.close()
            return count

        return await self._call(run)

    async def execute_many(self, sql: str, rows: Sequence[Params]) -> None:
        """Run one statement once per row of values, in one thread hop."""

        def run(db: sqlite3.Connection) -> None:
            db.executemany(sql, rows).close()

        await self._call(run)

    async def fetch(self, sql: str, params: Params = ()) -> Result:
        """Run a query and return all its rows."""

        def run(db: sqlite3.Connection) -> Result:
            cursor = db.execute(sql, params)
            rows = cursor.fetchall()
            columns = tuple(d[0] for d in cursor.description or ())
            cursor.close()
            return Result(columns=columns, rows=rows)

        return await self._call(run)

    def iterate(
        self, sql: str, params: Params = (), *, batch_size: int = 500
    ) -> RowStream:
        """Stream a query's rows, ``batch_size`` rows per thread hop.

        The connection's next operation ends the stream if it is unfinished.
        """
        cursors: list[sqlite3.Cursor] = []

        def step(cursor: sqlite3.Cursor) -> list[tuple[Any, ...]]:
            rows = cursor.fetchmany(batch_size)
            if len(rows) < batch_size:
                cursor.close()
            return rows

        def first(db: sqlite3.Connection) -> list[tuple[Any, ...]]:
            cursors.append(db.execute(sql, params))
            return step(cursors[0])

        async def fetch() -> list[tuple[Any, ...]]:
            if cursors:
                return await self._call(lambda _db: step(cursors[0]), stream)
            rows = await self._call(first, stream)
            self._stream = stream
            return rows

        async def finish() -> None:
            if self._stream is stream:
                self._stream = None
            if cursors and self._closed_reason is None:
                await self._call(lambda _db: cursors[0].close(), stream)

        stream = RowStream(fetch, finish, batch_size=batch_size)
        return stream

    async def copy_records(
        self, table: str, columns: Sequence[str], records: Sequence[Params]
    ) -> int:
        """Insert rows with one ``executemany`` in one thread hop; return how many.

        The rows go in inside a savepoint: all or none, inside a `transaction`
        or alone.
        """
        names = ", ".join(map(_quote, columns))
        marks = ", ".join("?" * len(columns))
        sql = f"INSERT INTO {_quote(table)} ({names}) VALUES ({marks})"  # noqa: S608

        def run(db: sqlite3.Connection) -> int:
            cursor = db.executemany(sql, records)
            count = _rowcount(cursor)
            cursor.close()
            return count

        return await self._call(_in_savepoint(run))

    async def batch(self, statements: Sequence[Statement]) -> list[int]:
        """Run statements in order, all or none, in one thread hop.

        The batch runs inside a savepoint: inside a `transaction` it nests, outside
        one it is its own transaction.

        Returns:
            for each statement, the number of rows it changed.
        """

        def run(db: sqlite3.Connection) -> list[int]:
            counts = []
            for statement in statements:
                if statement.many is not None:
                    cursor = db.executemany(statement.sql, statement.many)
                else:
                    cursor = db.execute(statement.sql, statement.params)
                counts.append(_rowcount(cursor))
                cursor.close()
            return counts

        return await self._call(_in_savepoint(run))

    @asynccontextmanager
    async def transaction(
        self, *, lock_timeout: float | None = None
    ) -> AsyncIterator[None]:
        """Begin a transaction; nested use makes a savepoint.

        Commits on a clean exit. Rolls back on any error or cancellation (the
        rollback is shielded from cancellation) and re-raises.

        Args:
            lock_timeout: not used: a writer's transaction takes the database's
                write lock at ``BEGIN IMMEDIATE`` and waits for another
                process's at most the busy timeout (`glue.LockConflict` then).
        """
        depth = self._depth
        if depth == 0:
            begin, commit = "BEGIN IMMEDIATE" if self._writer else "BEGIN", "COMMIT"
        else:
            begin, commit = f"SAVEPOINT glue_{depth}", f"RELEASE glue_{depth}"
        await self._call(lambda db: db.execute(begin).close())
        self._depth = depth + 1
        try:
            yield
            self._depth = depth
            await self._call(lambda db: db.execute(commit).close())
        except BaseException:
            self._depth = depth
            with anyio.CancelScope(shield=True):
                await self._rollback(depth)
            raise

    @asynccontextmanager
    async def listen(
        self, channel: str, callback: Callable[[], None]
    ) -> AsyncIterator[bool]:
        """SQLite tells no other session of a commit: yields False."""
        yield False

    async def aclose(self) -> None:
        """Close the connection. Closing twice does nothing."""
        if self._closed_reason is None:
            self._closed_reason = "the connection is closed"
        if not self._owned:
            return
        self._owned = False
        with anyio.CancelScope(shield=True):
            await _close_raw(self._raw, self._database)

    async def _rollback(self, depth: int) -> None:
        """Roll back to ``depth`` after an error, which stays the error raised."""

        def run(db: sqlite3.Connection) -> None:
            if depth:
                db.execute(f"ROLLBACK TO glue_{depth}").close()
                db.execute(f"RELEASE glue_{depth}").close()
            elif db.in_transaction:
                db.execute("ROLLBACK").close()

        try:
            await self._call(run)
        except errors.GlueError as exc:
            _log.warning(
                "sqlite rollback failed", database=self._database, error=str(exc)
            )

    async def _call(
        self, fn: Callable[[sqlite3.Connection], _T], stream: RowStream | None = None
    ) -> _T:
        if self._closed_reason is not None:
            raise errors.ConnectionError(self._database, self._closed_reason)
        if self._stream is not None and self._stream is not stream:
            await self._stream.aclose()
        # Unknown until the hop reports back: a cancelled hop still runs.
        self._in_transaction = None
        seen: list[bool] = []
        cancelled: list[bool] = []
        deadline = anyio.current_effective_deadline()
        stop_at = (
            None
            if deadline == math.inf
            else time.monotonic() + deadline - anyio.current_time()
        )

        def run(db: sqlite3.Connection) -> _T:
            if cancelled:  # the caller gave up before the hop began
                raise sqlite3.OperationalError("interrupted")
            _running.stop_at = stop_at
            try:
                return fn(db)
            finally:
                _running.stop_at = None
                with suppress(sqlite3.ProgrammingError):  # closed meanwhile
                    seen.append(db.in_transaction)

        try:
            with map_sqlite_errors(self._database):
                return await _on_thread(self._raw, run)
        except anyio.get_cancelled_exc_class():
            # Stop the statement on the worker thread (sqlite3's interrupt is
            # safe from any thread), so the connection is free again soon: the
            # rollback and the pool wait for it, and so does the caller.
            cancelled.append(True)
            with anyio.CancelScope(shield=True):
                await self._raw.interrupt()
            raise
        except errors.ConnectionError as exc:
            self._closed_reason = exc.reason
            raise
        except errors.GlueError:
            if anyio.current_time() >= deadline:
                # Failed past its deadline (a REGEXP stopped there): the caller's
                # cancellation is the outcome, not the error it caused.
                await anyio.lowlevel.checkpoint()
            raise
        finally:
            self._in_transaction = seen[0] if seen else None

    def _idle_now(self) -> bool:
        """Whether the checkout can end with nothing awaited: no stream, no
        transaction, not lost."""
        return (
            self._stream is None
            and self._owned
            and self._closed_reason is None
            and self._in_transaction is False
        )

    async def _detach(self) -> aiosqlite.Connection | None:
        """End this checkout: return the raw connection if it can be reused.

        A transaction left open is rolled back; a lost connection is closed.
        """
        if self._stream is not None:
            await self._stream.aclose()
        if self._closed_reason is None and self._in_transaction is not False:
            self._depth = 0
            await self._rollback(0)
        reusable = (
            self._owned
            and self._closed_reason is None
            and self._in_transaction is False
        )
        self._owned = False
        if self._closed_reason is None:
            self._closed_reason = "the connection was returned to its pool"
        if reusable:
            return self._raw
        await _close_raw(self._raw, self._database)
        return None


async def _close_raw(raw: aiosqlite.Connection, database: str) -> None:
    try:
        with map_sqlite_errors(database):
            await raw.close()
    except errors.GlueError as exc:
        _log.debug("sqlite close failed", database=database, error=str(exc))


def _alive(raw: aiosqlite.Connection) -> bool:
    """Whether an idle connection is still open (no thread hop needed)."""
    try:
        return isinstance(raw.in_transaction, bool)  # raises once closed
    except (ValueError, sqlite3.ProgrammingError):
        return False


def _resolve(db_path: str | os.PathLike[str]) -> str:
    path = str(db_path)
    return path if path == _MEMORY else str(Path(path).absolute())


def _default_name(path: str) -> str:
    return "memory" if path == _MEMORY else Path(path).name


class _Slots:
    """Idle connections of one kind (the writer, or the readers), with a cap."""

    def __init__(self, capacity: int, *, writer: bool) -> None:
        self.writer = writer
        self.free = anyio.Semaphore(capacity)
        self.idle: deque[aiosqlite.Connection] = deque()
        # The writer's holder (its task, since when by time.monotonic), for
        # PoolTimeout's message: the task's name is read only then.
        self.holder: tuple[asyncio.Task[Any] | None, float] | None = None


class SqlitePoolBackend:
    """What `DefaultConnectionPool` drives for SQLite: one writer, many readers.

    Writers (``acquire(write=True)``) take turns on the single writer connection;
    readers share the other ``max_size - 1`` connections, concurrently with the
    writer (WAL). With ``max_size=1``, or for ``":memory:"`` (one connection
    holds the whole database), every checkout takes the writer.
    """

    def __init__(
        self,
        *,
        path: str,
        name: str | None,
        min_size: int,
        max_size: int | None,
        timeout: float,
        options: dict[str, Any],
    ) -> None:
        """Prepare the backend; nothing opens until `open`.

        Raises:
            glue.ConfigurationError: ``max_size`` above 1 for ``":memory:"``.
        """
        self.name = name or _default_name(path)
        self.location = path
        if path == _MEMORY:
            if max_size not in (None, 1):
                raise errors.ConfigurationError(
                    f"pool {self.name!r}: an in-memory SQLite database lives in one "
                    f"connection, so max_size must be 1 (got {max_size}); use a file "
                    "for concurrent readers"
                )
            max_size = 1
        self.max_size = 5 if max_size is None else max_size
        self.min_size = min(min_size, self.max_size)
        self._timeout = timeout
        self._options = options
        self._writer = _Slots(1, writer=True)
        self._readers = (
            _Slots(self.max_size - 1, writer=False) if self.max_size > 1 else None
        )
        self._all: set[aiosqlite.Connection] = set()
        self._closed = False

    @property
    def dialect(self) -> Dialect:
        """SQLite's dialect."""
        return SQLITE

    def size(self) -> int:
        """Connections open now."""
        return len(self._all)

    async def open(self) -> None:
        """Open the writer (switching the file to WAL) and ``min_size - 1`` readers."""
        slots = [self._writer]
        if self._readers is not None:
            slots += [self._readers] * (self.min_size - 1)
        for slot in slots:
            slot.idle.append(await self._connect(slot))

    async def take(self, write: bool) -> Connection:
        """Check out the writer, or a reader; wait while none is free."""
        slots = self._writer if write or self._readers is None else self._readers
        await slots.free.acquire()
        try:
            raw = self._pop_idle(slots) or await self._connect(slots)
        except BaseException:
            slots.free.release()
            raise
        if self._closed:  # while the connection opened
            slots.free.release()
            self._all.discard(raw)
            with anyio.CancelScope(shield=True):
                await _close_raw(raw, self.name)
            raise errors.PoolClosed(self.name, "the pool closed while we waited")
        return self._hand_out(slots, raw)

    def take_nowait(self, write: bool) -> Connection | None:
        """Check out an idle writer or reader if one is free now; else None."""
        slots = self._writer if write or self._readers is None else self._readers
        if not slots.idle:
            return None
        try:
            slots.free.acquire_nowait()
        except anyio.WouldBlock:
            return None
        raw = self._pop_idle(slots)
        if raw is None:
            slots.free.release()
            return None
        return self._hand_out(slots, raw)

    async def give(self, conn: Connection) -> None:
        """Take a connection back; a lost one is closed and replaced later."""
        assert isinstance(conn, SqliteConnection)
        slots = self._writer if conn._writer or self._readers is None else self._readers
        try:
            raw = await conn._detach()
        finally:
            slots.holder = None
            slots.free.release()
        if raw is not None and raw in self._all and not self._closed:
            slots.idle.append(raw)
        elif raw is not None:  # the pool was closed meanwhile
            self._all.discard(raw)
            await _close_raw(raw, self.name)
        elif conn._raw in self._all:
            self._all.discard(conn._raw)
            _log.warning("sqlite connection lost; replacing it", database=self.name)

    def give_nowait(self, conn: Connection) -> bool:
        """Take back a connection that needs no rollback or closing; False,
        untouched, when it needs `give`."""
        assert isinstance(conn, SqliteConnection)
        if self._closed or not conn._idle_now() or conn._raw not in self._all:
            return False
        slots = self._writer if conn._writer or self._readers is None else self._readers
        conn._owned = False
        conn._closed_reason = "the connection was returned to its pool"
        slots.holder = None
        slots.idle.append(conn._raw)
        slots.free.release()
        return True

    async def close(self, *, force: bool) -> None:
        """Close idle connections, and with ``force`` the checked-out ones too."""
        self._closed = True
        targets = list(self._all) if force else [*self._writer.idle]
        if self._readers is not None and not force:
            targets += self._readers.idle
        self._writer.idle.clear()
        if self._readers is not None:
            self._readers.idle.clear()
        for raw in targets:
            self._all.discard(raw)
            await _close_raw(raw, self.name)

    def bottleneck(self, write: bool) -> str | None:
        """SQLite's single writer, who holds it and how many wait for it, when
        ``take(write)`` takes the writer; None for a reader."""
        if not write and self._readers is not None:
            return None
        waiting = self._writer.free.statistics().tasks_waiting
        about = [f"{waiting} other task{'' if waiting == 1 else 's'} waiting"]
        if self._writer.holder is not None:
            task, since = self._writer.holder
            name = (task.get_name() if task is not None else "") or "unnamed"
            age = time.monotonic() - since
            about.insert(0, f"held by task {name!r} for {age:.1f} s")
        return f"SQLite's single writer ({'; '.join(about)})"

    def _pop_idle(self, slots: _Slots) -> aiosqlite.Connection | None:
        """The oldest idle connection that is still open; closed ones are
        forgotten."""
        while slots.idle:
            raw = slots.idle.popleft()
            if _alive(raw):
                return raw
            self._all.discard(raw)
            _log.warning(
                "sqlite connection found closed; replacing it", database=self.name
            )
        return None

    def _hand_out(self, slots: _Slots, raw: aiosqlite.Connection) -> SqliteConnection:
        if slots.writer:
            # aiosqlite runs on asyncio alone; anyio's task info costs ten
            # times as much, on every write checkout.
            slots.holder = (asyncio.current_task(), time.monotonic())
        return SqliteConnection(raw, database=self.name, writer=slots.writer)

    async def _connect(self, slots: _Slots) -> aiosqlite.Connection:
        raw = await _open_raw(
            self.location,
            database=self.name,
            timeout=self._timeout,
            writer=slots.writer,
            options=self._options,
        )
        self._all.add(raw)
        return raw
