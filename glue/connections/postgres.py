"""PostgreSQL through asyncpg: `PostgresConnection`, its pool backend, error mapping.

The pool backend (`PostgresPoolBackend`) keeps its own idle list of asyncpg
connections; `DefaultConnectionPool` adds checkout accounting, timeouts and
closing around it.

A connection goes back to the idle list without asyncpg's reset (``SELECT
pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; RESET ALL``, one round trip)
only when glue can prove the checkout left it as it found it:

- every operation of the checkout completed: none was cancelled or failed (a
  cancelled query may still run on the server, holding its portal and locks,
  until the cancel request lands; a failed one may have left anything), and
  none is still running (a task started inside the checkout may outlive it:
  asyncpg cannot reset a connection mid-operation, so the pool closes it);
- every operation ended with the extended protocol's Sync, so the server has
  closed the implicit transaction of a statement outside ``BEGIN``: a bare
  prepare (``fetch`` naming the columns of an empty result) ends with Flush,
  and the server keeps that statement's locks until the connection's next
  message, so it counts as dirty;
- no transaction is open (asyncpg's protocol status, read from the server's
  last ReadyForQuery, which every completed operation waited for), and no
  ``transaction()`` block or stream (a cursor) is unfinished, and none ever ran
  a stream;
- no ``listen`` ran, and every statement's text is one known to keep no session
  state (`glue.connections.sessions.leaves_session_clean`).

Anything else is reset as asyncpg's pool does (`asyncpg.Connection.reset`: it
waits for a pending cancel, rolls back, then runs the reset query); a
connection whose reset fails is closed, never reused. A pool given asyncpg's
``reset`` option resets every release.
"""

from __future__ import annotations

import re
import time
from collections import deque
from contextlib import asynccontextmanager, contextmanager
from typing import TYPE_CHECKING, Any, TypeAlias
from urllib.parse import unquote, urlsplit

import anyio
import anyio.lowlevel
import asyncpg

from .. import errors
from ..log import get_logger
from ..sql.dialects.postgres import POSTGRES
from .abc import Connection, Result
from .sessions import leaves_session_clean
from .streams import RowStream

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable, Iterator, Sequence
    from types import TracebackType

    from asyncpg.cursor import Cursor
    from asyncpg.transaction import Transaction

    from ..sql.dialects import Dialect, Params, Statement

__all__ = [
    "PostgresConnection",
    "PostgresPoolBackend",
    "map_asyncpg_errors",
    "redact_dsn",
]

_log = get_logger(__name__)

_Raw: TypeAlias = "asyncpg.Connection[asyncpg.Record]"

# SQLSTATE classes (https://www.postgresql.org/docs/current/errcodes-appendix.html).
_LOST = ("08", "57P01", "57P02", "57P03", "28", "3D000")
# Lock timeout, deadlock victim, serialization failure: nothing was written, and
# running the transaction again may well succeed.
_LOCK = ("55P03", "40P01", "40001")
_INTEGRITY = ("23",)
_PROGRAMMING = ("42", "0A", "26", "34", "3F")
_OPERATIONAL = ("40", "53", "54", "55", "57", "58", "XX")
_COUNTED = frozenset({"INSERT", "UPDATE", "DELETE", "MERGE", "COPY"})
_RELATION = re.compile(r'relation "(?:\w+\.)?(\w+)" does not exist')
_DELIMITERS = re.compile(r"[/?#@:\[\]]")
_PASSWORD_PARAM = re.compile(r"(?<=[?&])password=([^&#]*)", re.IGNORECASE)
_LONE_SEPARATORS = re.compile(r"(?<=[?&])&+|[?&]+$")


def redact_dsn(dsn: str) -> str:
    """Return a database URL without its password, for messages and logs.

    Plain string work, so that a URL too malformed to parse loses its password
    too: every ``password=`` parameter, and everything after ``user:`` up to the
    last ``@``.
    """
    dsn = _LONE_SEPARATORS.sub("", _PASSWORD_PARAM.sub("", dsn))
    scheme, sep, rest = dsn.partition("://")
    userinfo, at, location = rest.rpartition("@")
    if sep and at:
        rest = f"{userinfo.partition(':')[0]}@{location}"
    return f"{scheme}{sep}{rest}"


def _passwords(dsn: str) -> list[str]:
    """The passwords a URL holds (after ``user:``, and ``password=``), as written
    and decoded, with the pieces between URL delimiters that a parser may quote
    alone (``pw`` of ``pw/x`` read as a port); longest first."""
    found = []
    _, sep, rest = dsn.partition("://")
    userinfo, at, _ = rest.rpartition("@")
    if sep and at:
        found.append(userinfo.partition(":")[2])
    found += _PASSWORD_PARAM.findall(dsn)
    found += [unquote(p) for p in found]
    found += [piece for p in found for piece in _DELIMITERS.split(p) if len(piece) > 2]
    return sorted({p for p in found if p}, key=len, reverse=True)


@contextmanager
def _connecting(database: str, dsn: str, location: str | None = None) -> Iterator[None]:
    """`map_asyncpg_errors` while connecting to ``dsn``, with no password in the
    error: asyncpg reading a malformed URL can quote any part of it.

    ``location`` is ``redact_dsn(dsn)`` when the caller has it already (a pool
    checks out often: no need to redact the URL each time).
    """
    try:
        with map_asyncpg_errors(database, location=location or redact_dsn(dsn)):
            yield
    except errors.ConnectionError as exc:
        reason = exc.reason
        for password in _passwords(dsn):
            reason = reason.replace(password, "***")
        if reason == exc.reason:
            raise
        raise errors.ConnectionError(database, reason) from None


def _translate(database: str, exc: asyncpg.PostgresError) -> errors.GlueError:
    state = exc.sqlstate or ""
    message = exc.message or str(exc)
    if exc.detail:
        message += f" ({exc.detail})"
    if state.startswith(_LOST):
        return errors.ConnectionError(database, f"connection lost: {message}")
    if state.startswith(_INTEGRITY):
        return errors.IntegrityError(database, message, table=exc.table_name)
    if state.startswith(_LOCK):
        return errors.LockConflict(database, message, table=exc.table_name)
    if state.startswith(_PROGRAMMING):
        relation = _RELATION.search(message)
        table = exc.table_name or (relation.group(1) if relation else None)
        return errors.ProgrammingError(database, message, table=table)
    if state.startswith(_OPERATIONAL):
        return errors.OperationalError(database, message, table=exc.table_name)
    return errors.DatabaseError(database, message, table=exc.table_name)


@contextmanager
def map_asyncpg_errors(database: str, *, location: str | None = None) -> Iterator[None]:
    """Translate asyncpg and socket errors into glue errors naming the database.

    Args:
        database: the name used in messages.
        location: set while connecting (the URL without password): every failure
            then becomes a `glue.ConnectionError` that says where glue tried.

    Raises:
        glue.ConnectionError: unreachable server, bad credentials, unknown database,
            or a connection the server closed.
        glue.IntegrityError: a constraint was violated (SQLSTATE class 23).
        glue.ProgrammingError: bad SQL, an unknown table or column, bad parameters.
        glue.LockConflict: a lock wait past ``lock_timeout``, a deadlock victim,
            a serialization failure.
        glue.OperationalError: cancelled statements, resource limits.
        glue.DatabaseError: anything else the server refused.
    """
    try:
        yield
    except errors.GlueError:
        raise
    except _DRIVER_ERRORS as exc:
        raise _mapped(database, exc, location) from exc


_DRIVER_ERRORS = (
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    asyncpg.InternalClientError,
    OSError,
    TimeoutError,
    ValueError,  # asyncpg reading a malformed URL (a port that is no number)
)
"""What `map_asyncpg_errors` translates; anything else passes as it is."""


def _mapped(database: str, exc: Exception, location: str | None) -> errors.GlueError:
    """The glue error for one of `_DRIVER_ERRORS` (see `map_asyncpg_errors`)."""
    if location is not None:
        return errors.ConnectionError(database, f"cannot connect to {location}: {exc}")
    if isinstance(exc, asyncpg.PostgresError):
        return _translate(database, exc)
    if isinstance(exc, TimeoutError):
        return errors.OperationalError(
            database, "the statement timed out (command_timeout)"
        )
    if isinstance(exc, OSError) or (
        isinstance(exc, asyncpg.InterfaceError) and "closed" in str(exc)
    ):
        return errors.ConnectionError(database, f"connection lost: {exc}")
    if isinstance(exc, asyncpg.InterfaceError):
        return errors.ProgrammingError(database, str(exc))
    return errors.DatabaseError(database, str(exc))


async def _run(raw: _Raw, sql: str, params: Params) -> str:
    """Run exactly one statement and return its status (``"UPDATE 3"``).

    asyncpg sends a statement without values as a simple query, where
    ``"...; DROP TABLE t"`` would run both. Text holding a semicolon goes
    through the extended protocol instead, which refuses several statements;
    text without one is one statement, and keeps the simple protocol's single
    round trip (BEGIN, PREPARE TRANSACTION, most DDL).
    """
    if params or ";" not in sql:
        return await raw.execute(sql, *params)
    statement = await raw.prepare(sql)
    await statement.fetch()
    return statement.get_statusmsg() or ""


def _rowcount(status: str) -> int:
    """Rows changed, from a command tag such as ``"UPDATE 3"`` or ``"INSERT 0 2"``."""
    tag, _, rest = status.partition(" ")
    return int(rest.rpartition(" ")[2]) if tag in _COUNTED and rest else 0


class PostgresConnection:
    """One connection to a PostgreSQL database, on asyncpg.

    Open one alone with `PostgresConnection.connect`, or let a
    `DefaultConnectionPool` hand them out::

        pool = DefaultConnectionPool(PostgresConnection, dsn="postgresql://...")

    Values are bound with ``$1, $2, ...`` placeholders. Driver errors arrive as
    glue errors (see `map_asyncpg_errors`); a connection the server closed raises
    `glue.ConnectionError`, and the pool replaces it.
    """

    def __init__(self, raw: _Raw, *, database: str) -> None:
        """Wrap an open asyncpg connection (pools and `connect` do this).

        Args:
            raw: an open asyncpg connection.
            database: the name used in messages and logs.
        """
        self._raw = raw
        self._database = database
        self._closed_reason: str | None = None
        # Until the connection is closed or handed back to its pool.
        self._owned = True
        self._stream: RowStream | None = None
        self._depth = 0
        # False once an operation was cancelled or failed, or a statement may
        # have left state in the session: its pool then resets it on release.
        self._clean = True
        self._uses = 0
        # Operations running now: one may outlive the checkout (a task started
        # inside ``acquire``), and asyncpg runs one at a time.
        self._running = 0

    @classmethod
    async def connect(
        cls, dsn: str, *, name: str | None = None, **options: Any
    ) -> PostgresConnection:
        """Open a standalone connection; close it with `aclose`.

        Args:
            dsn: a ``postgresql://`` or ``postgres://`` URL.
            name: the name used in messages; the database name by default.
            **options: passed on to ``asyncpg.connect``.

        Raises:
            glue.ConnectionError: the server is unreachable or refuses us.
        """
        database = name or _default_name(dsn)
        with _connecting(database, dsn):
            raw = await _connect(dsn, **options)
        try:
            await anyio.lowlevel.checkpoint()  # cancelled while `_connect` ran on
        except BaseException:
            with anyio.CancelScope(shield=True):
                await raw.close()
            raise
        return cls(raw, database=database)

    @classmethod
    def pool_backend(
        cls,
        *,
        name: str | None,
        min_size: int,
        max_size: int | None,
        dsn: str,
        **options: Any,
    ) -> PostgresPoolBackend:
        """Build the backend `DefaultConnectionPool` uses for PostgreSQL.

        Args:
            name: the pool's name; the database name by default.
            min_size: connections opened up front.
            max_size: the most connections; 10 by default.
            dsn: a ``postgresql://`` or ``postgres://`` URL.
            **options: asyncpg's pool options (``init``, ``setup``, ``reset``,
                ``max_queries``, ``max_inactive_connection_lifetime``, see
                `PostgresPoolBackend`), the others passed on to
                ``asyncpg.connect``.
        """
        return PostgresPoolBackend(
            dsn=dsn,
            name=name,
            min_size=min_size,
            max_size=10 if max_size is None else max_size,
            options=options,
        )

    @property
    def dialect(self) -> Dialect:
        """PostgreSQL's dialect."""
        return POSTGRES

    @property
    def database(self) -> str:
        """The database's name, for messages and logs."""
        return self._database

    @property
    def closed(self) -> bool:
        """Whether the connection was closed, lost or returned to its pool."""
        return self._closed_reason is not None or self._raw.is_closed()

    async def execute(self, sql: str, params: Params = ()) -> int:
        """Run one statement; return the number of rows it changed.

        Text holding several statements is refused, with or without values
        (see `_run`).
        """
        self._note(sql)
        async with self._use() as raw:
            return _rowcount(await _run(raw, sql, params))

    async def execute_many(self, sql: str, rows: Sequence[Params]) -> None:
        """Run one statement once per row of values, pipelined, all or none."""
        self._note(sql)
        async with self._use() as raw:
            await raw.executemany(sql, rows)

    async def fetch(self, sql: str, params: Params = ()) -> Result:
        """Run a query and return all its rows.

        An empty result costs a second round trip, to learn its column names.
        """
        self._note(sql)
        # `_use`, inline (every read goes through here): entered through it
        # only when it has more to do than count the operation.
        raw = self._raw
        if self._closed_reason is None and self._stream is None and not raw.is_closed():
            self._uses += 1
            self._running += 1
        else:
            raw = await self._use().__aenter__()  # refuses, or ends the stream
        try:
            records = await raw.fetch(sql, *params)
            if records:
                columns = tuple(records[0].keys())
            else:
                statement = await raw.prepare(sql)
                columns = tuple(a.name for a in statement.get_attributes())
                # A bare prepare ends without Sync: the server's implicit
                # transaction stays open, holding its locks, until the next
                # statement. Reset on release.
                self._clean = False
        except BaseException as exc:
            self._running -= 1
            _failed(self, exc)
            raise
        self._running -= 1
        # A slice of a Record is a tuple, made a third faster than by tuple().
        return Result(columns=columns, rows=[r[:] for r in records])

    def iterate(
        self, sql: str, params: Params = (), *, batch_size: int = 500
    ) -> RowStream:
        """Stream a query's rows through a server-side cursor, a batch per trip.

        The cursor lives in the caller's transaction, or in one opened for it
        (and rolled back when the stream ends: a stream only reads). The
        connection's next operation ends the stream if it is unfinished.
        """
        self._clean = False  # a portal, maybe a transaction: reset on release
        cursors: list[Cursor[asyncpg.Record]] = []
        own: list[Transaction] = []

        async def fetch() -> list[tuple[Any, ...]]:
            async with self._use(stream) as raw:
                if not cursors:
                    if not raw.is_in_transaction():
                        own.append(raw.transaction())
                        await own[0].start()
                    self._stream = stream
                    cursors.append(await raw.cursor(sql, *params))
                records = await cursors[0].fetch(batch_size)
            return [tuple(r) for r in records]

        async def finish() -> None:
            if self._stream is stream:
                self._stream = None
            if own and self._closed_reason is None:
                await self._rollback(own[0], stream)

        stream = RowStream(fetch, finish, batch_size=batch_size)
        return stream

    async def copy_records(
        self, table: str, columns: Sequence[str], records: Sequence[Params]
    ) -> int:
        """Insert rows with ``COPY ... FROM STDIN`` (binary); return how many.

        asyncpg quotes the names, and learns the columns' types from the server
        (a prepared statement, cached per connection).
        """
        async with self._use() as raw:
            status = await raw.copy_records_to_table(
                table, columns=list(columns), records=records
            )
        return _rowcount(status)

    async def batch(self, statements: Sequence[Statement]) -> list[int]:
        """Run statements in order in one transaction (a savepoint when nested).

        A ``many`` statement runs once per row (a prepared statement, reused) so
        that its count is exact: asyncpg's pipelined ``executemany`` reports none.

        Returns:
            for each statement, the number of rows it changed.
        """
        for statement in statements:
            self._note(statement.sql)
        counts = []
        async with self.transaction(), self._use() as raw:
            for statement in statements:
                if statement.many is None:
                    status = await _run(raw, statement.sql, statement.params)
                    counts.append(_rowcount(status))
                    continue
                total = 0
                for row in statement.many:
                    total += _rowcount(await raw.execute(statement.sql, *row))
                counts.append(total)
        return counts

    def transaction(self, *, lock_timeout: float | None = None) -> _Transaction:
        """Begin a transaction; nested use makes a savepoint.

        Commits on a clean exit. Rolls back on any error or cancellation (the
        rollback is shielded from cancellation) and re-raises. A transaction
        that ``PREPARE TRANSACTION`` ended (two-phase commit) is the server's
        to finish: leaving the block sends nothing.

        Args:
            lock_timeout: the most seconds any statement of the transaction
                waits for a lock (``SET LOCAL lock_timeout``, sent with
                ``BEGIN``: no extra round trip); past it, `glue.LockConflict`.
                None waits as the server is configured. Ignored for a savepoint.

        Raises:
            glue.OperationalError: ``COMMIT`` found the transaction failed (a
                statement's error was caught inside it) and rolled it back.
        """
        return _Transaction(self, lock_timeout)

    @asynccontextmanager
    async def listen(
        self, channel: str, callback: Callable[[], None]
    ) -> AsyncIterator[bool]:
        """``LISTEN channel`` while the block runs: ``callback()`` on each
        notification (asyncpg calls it on the event loop). Yields True."""

        def notified(*_: object) -> None:
            callback()

        self._clean = False
        async with self._use() as raw:
            await raw.add_listener(channel, notified)
        try:
            yield True
        finally:
            with anyio.CancelScope(shield=True):
                try:
                    async with self._use() as raw:
                        await raw.remove_listener(channel, notified)
                except errors.GlueError:
                    pass  # a lost connection listens no more anyway

    async def aclose(self) -> None:
        """Close the connection. Closing twice does nothing."""
        if self._closed_reason is None:
            self._closed_reason = "the connection is closed"
        if not self._owned:
            return
        self._owned = False
        with anyio.CancelScope(shield=True):
            try:
                with map_asyncpg_errors(self._database):
                    await self._raw.close()
            except errors.GlueError as exc:
                _log.debug(
                    "postgres close failed", database=self._database, error=str(exc)
                )
                if not self._raw.is_closed():
                    self._raw.terminate()

    def _note(self, sql: str) -> None:
        """Mark the session dirty if ``sql`` may leave state in it."""
        if self._clean and not leaves_session_clean(sql):
            self._clean = False

    async def _rollback(
        self, transaction: Transaction, stream: RowStream | None = None
    ) -> None:
        """Roll back after an error, which stays the error raised."""
        try:
            async with self._use(stream):
                await transaction.rollback()
        except errors.GlueError as exc:
            _log.warning(
                "postgres rollback failed", database=self._database, error=str(exc)
            )

    async def _undo(self, depth: int) -> None:
        """Roll back to ``depth`` after an error, which stays the error raised.

        A lost connection took its transaction with it; a transaction the server
        already ended (a failed COMMIT, PREPARE TRANSACTION) needs nothing.
        """
        if self._closed_reason is not None:
            return
        try:
            async with self._use() as raw:
                if depth:
                    await raw.execute(
                        f"ROLLBACK TO SAVEPOINT glue_{depth}; "
                        f"RELEASE SAVEPOINT glue_{depth}"
                    )
                elif raw.is_in_transaction():
                    await raw.execute("ROLLBACK")
        except errors.GlueError as exc:
            _log.warning(
                "postgres rollback failed", database=self._database, error=str(exc)
            )

    def _use(self, stream: RowStream | None = None) -> _Use:
        """Hand out the live connection for one operation, translating errors
        (``async with self._use() as raw``).

        An unfinished stream other than ``stream`` is ended first.
        """
        return _Use(self, stream)

    def _left_clean(self) -> bool:
        """Whether the checkout provably left the connection as it found it
        (see the module's docstring); its stream, if any, ended."""
        raw = self._raw
        return (
            self._clean
            and not self._running
            and self._stream is None
            and not self._depth
            and not raw.is_closed()
            and not raw.is_in_transaction()
        )

    def _release(self) -> _Raw:
        if self._closed_reason is None:
            self._closed_reason = "the connection was returned to its pool"
        self._owned = False
        return self._raw

    async def _detach(self) -> tuple[_Raw, bool]:
        """Give up the connection, its stream ended; return it, and whether
        the checkout left it clean."""
        if self._stream is not None:
            await self._stream.aclose()
        clean = self._left_clean()
        return self._release(), clean


class _Use:
    """`PostgresConnection._use`: a class, since every operation goes through
    it; the two generator-based context managers it replaces took a quarter
    of glue's CPU around a pooled query (2 of 8 µs)."""

    __slots__ = ("_conn", "_stream")

    def __init__(self, conn: PostgresConnection, stream: RowStream | None) -> None:
        self._conn = conn
        self._stream = stream

    async def __aenter__(self) -> _Raw:
        conn = self._conn
        if conn._closed_reason is not None:
            raise errors.ConnectionError(conn._database, conn._closed_reason)
        if conn._raw.is_closed():  # lost, or terminated by a pool closed by force
            conn._closed_reason = "connection lost: the connection is closed"
            raise errors.ConnectionError(conn._database, conn._closed_reason)
        if conn._stream is not None and conn._stream is not self._stream:
            await conn._stream.aclose()
        conn._uses += 1
        conn._running += 1
        return conn._raw

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        conn = self._conn
        conn._running -= 1
        if exc is not None:
            _failed(conn, exc)


def _failed(conn: PostgresConnection, exc: BaseException) -> None:
    """Note an operation of ``conn`` that raised ``exc``; raise the glue error
    for a driver's error (returning lets ``exc`` go on as it is)."""
    # Cancelled mid-operation, the server may still run it; failed, it may
    # have left anything.
    conn._clean = False
    if isinstance(exc, errors.GlueError):
        error = exc
    elif isinstance(exc, _DRIVER_ERRORS):
        error = _mapped(conn._database, exc, None)
    else:
        return
    cause = error.__cause__ if error is exc else exc
    if isinstance(error, errors.ConnectionError):
        conn._closed_reason = error.reason
    elif isinstance(cause, asyncpg.InternalClientError) or conn._raw.is_closed():
        # asyncpg reads a server's goodbye to an idle connection (a killed
        # backend, a restart) as a protocol error, and reports its own state
        # machine ("cannot switch to state 12") on the next call: the real
        # cause it lost is that the other side closed the connection.
        conn._closed_reason = (
            "connection lost: the server or the network closed the connection"
        )
        raise errors.ConnectionError(conn._database, conn._closed_reason) from cause
    if error is not exc:
        raise error from exc


class _Transaction:
    """`PostgresConnection.transaction`: a class, not a generator-based context
    manager, since every unit of work that writes goes through it."""

    __slots__ = ("_conn", "_depth", "_lock_timeout")

    def __init__(self, conn: PostgresConnection, lock_timeout: float | None) -> None:
        self._conn = conn
        self._lock_timeout = lock_timeout
        self._depth = -1  # not entered yet

    async def __aenter__(self) -> None:
        if self._depth >= 0:
            # As a generator context manager would, refuse a second entry: it
            # would lose the depth the first one must end.
            raise RuntimeError("a transaction() context can be entered only once")
        conn = self._conn
        depth = self._depth = conn._depth
        if depth:
            begin = f"SAVEPOINT glue_{depth}"
        elif self._lock_timeout is None:
            begin = "BEGIN"
        else:
            # Simple-query protocol: both statements go out in one message.
            millis = max(1, round(self._lock_timeout * 1000))
            begin = f"BEGIN; SET LOCAL lock_timeout = {millis}"
        async with conn._use() as raw:
            await raw.execute(begin)
        conn._depth = depth + 1

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        conn, depth = self._conn, self._depth
        conn._depth = depth
        if exc_type is None:
            try:
                await self._commit()
            except BaseException:
                with anyio.CancelScope(shield=True):
                    await conn._undo(depth)
                raise
        else:
            with anyio.CancelScope(shield=True):
                await conn._undo(depth)

    async def _commit(self) -> None:
        conn, depth = self._conn, self._depth
        async with conn._use() as raw:
            if depth:
                await raw.execute(f"RELEASE SAVEPOINT glue_{depth}")
            # PREPARE TRANSACTION leaves no transaction to commit.
            elif raw.is_in_transaction() and await raw.execute("COMMIT") != "COMMIT":
                raise errors.OperationalError(
                    conn._database,
                    "the transaction had failed (a statement's error was "
                    "caught inside it), so COMMIT rolled it back",
                )


async def _connect(*args: Any, **options: Any) -> asyncpg.Connection[asyncpg.Record]:
    """``asyncpg.connect``, run to its end even when the caller is cancelled.

    Cancelled while asyncio sets up its socket, asyncpg leaves a future holding
    ``ConnectionError('unexpected connection_lost() call')`` that asyncio prints
    as "Future exception was never retrieved". Finishing instead costs at most
    the connect timeout (``timeout=``, 60 s by default). The caller sees the
    cancellation only at its next checkpoint, and must check for it at once
    (`PostgresPoolBackend.take` then keeps the new connection idle).
    """
    with anyio.CancelScope(shield=True):
        raw: asyncpg.Connection[asyncpg.Record] = await asyncpg.connect(
            *args, **options
        )
    return raw


def _default_name(dsn: str) -> str:
    try:
        parts = urlsplit(dsn)
    except ValueError:  # the connection will say what is wrong with the URL
        return "postgres"
    return parts.path.lstrip("/") or parts.hostname or "postgres"


_POOL_ONLY = (
    "init",
    "setup",
    "reset",
    "max_queries",
    "max_inactive_connection_lifetime",
)
"""asyncpg's pool options that `PostgresPoolBackend` honours itself; the others
go to ``asyncpg.connect``."""


class PostgresPoolBackend:
    """What `DefaultConnectionPool` drives for PostgreSQL: an idle list of
    asyncpg connections, the most recently returned handed out first.

    A connection is reused as it is when its checkout provably left it clean,
    and reset otherwise (see the module's docstring). asyncpg's pool options
    keep their meaning: ``init`` runs on each new connection, ``setup`` on each
    checkout; ``reset`` (a coroutine function, or None for asyncpg's reset)
    runs on every release; a connection is closed after ``max_queries``
    operations (50,000) and closed after ``max_inactive_connection_lifetime``
    idle seconds (300; 0 keeps it), seen at the next checkout or release.
    """

    def __init__(
        self,
        *,
        dsn: str,
        name: str | None,
        min_size: int,
        max_size: int,
        options: dict[str, Any],
    ) -> None:
        """Prepare the backend; nothing connects until `open`."""
        self.name = name or _default_name(dsn)
        self.location = redact_dsn(dsn)
        self.min_size = min(min_size, max_size)
        self.max_size = max_size
        self._dsn = dsn
        ours = {k: options.pop(k) for k in _POOL_ONLY if k in options}
        options.pop("connect", None)  # glue connects (`_connect`)
        self._options = options
        self._init = ours.get("init")
        self._setup = ours.get("setup")
        self._always_reset = "reset" in ours
        self._reset = ours.get("reset")
        self._max_queries: int = ours.get("max_queries", 50_000)
        self._max_idle: float = ours.get("max_inactive_connection_lifetime", 300.0)
        self._free = anyio.Semaphore(max_size, fast_acquire=True)
        # (connection, idle since), newest last.
        self._idle: deque[tuple[asyncpg.Connection[asyncpg.Record], float]] = deque()
        self._uses: dict[asyncpg.Connection[asyncpg.Record], int] = {}
        self._closed = False

    @property
    def dialect(self) -> Dialect:
        """PostgreSQL's dialect."""
        return POSTGRES

    def size(self) -> int:
        """Connections open now."""
        return len(self._uses)

    async def open(self) -> None:
        """Open the first ``min_size`` connections."""
        # Made again here, nothing taken yet: in the event loop anyio makes
        # its backend's own semaphore, where outside one it makes an adapter
        # that looks that up on every call (every checkout and release).
        self._free = anyio.Semaphore(self.max_size, fast_acquire=True)
        for _ in range(self.min_size):
            raw = await self._connect()
            self._idle.append((raw, time.monotonic()))
            await anyio.lowlevel.checkpoint()  # cancelled while `_connect` ran on

    async def take(self, write: bool) -> Connection:
        """Check out the newest idle connection, or open one; wait while
        ``max_size`` are checked out. ``write`` changes nothing."""
        await self._free.acquire()
        raw = None
        try:
            raw = self._idle_connection()
            if raw is None:
                raw = await self._connect()
                try:
                    # `_connect` ran on through any cancellation: see it now.
                    await anyio.lowlevel.checkpoint()
                except BaseException:
                    if not self._closed:  # the new connection waits idle
                        self._idle.append((raw, time.monotonic()))
                        raw = None
                    raise
            if self._closed:
                raise errors.PoolClosed(self.name, "the pool closed while we waited")
            if self._setup is not None:
                with map_asyncpg_errors(self.name):
                    await self._setup(raw)
        except BaseException:
            self._free.release()
            if raw is not None:
                await self._drop(raw)
            raise
        return PostgresConnection(raw, database=self.name)

    async def give(self, conn: Connection) -> None:
        """Take a connection back: reused as it is when its checkout left it
        clean, else reset first; closed when lost, past ``max_queries``, not
        resettable, or the pool closed."""
        assert isinstance(conn, PostgresConnection)
        try:
            try:
                raw, clean = await conn._detach()
            except BaseException:
                await self._drop(conn._release())
                raise
            uses = self._uses.get(raw)
            if uses is None:  # closed by force meanwhile
                return
            uses += conn._uses
            self._uses[raw] = uses
            if conn._running:
                # Neither reusable nor resettable while the operation runs.
                _log.warning(
                    "postgres connection returned with an operation still "
                    "running (a task outlived its checkout); closing it",
                    database=self.name,
                )
                await self._drop(raw)
            elif self._closed or raw.is_closed() or uses >= self._max_queries:
                await self._drop(raw)
            elif (clean and not self._always_reset) or await self._reset_raw(raw):
                now = time.monotonic()
                self._close_stale(now)
                self._idle.append((raw, now))
        finally:
            self._free.release()

    def take_nowait(self, write: bool) -> Connection | None:
        """Check out the newest idle connection if one is free now (and no
        ``setup`` is to run); else None."""
        if not self._idle or self._setup is not None:
            return None
        try:
            self._free.acquire_nowait()
        except anyio.WouldBlock:
            return None
        raw = self._idle_connection()
        if raw is None:
            self._free.release()
            return None
        return PostgresConnection(raw, database=self.name)

    def give_nowait(self, conn: Connection) -> bool:
        """Take back a connection its checkout left clean, with no reset to
        run; False, untouched, when it needs `give`."""
        assert isinstance(conn, PostgresConnection)
        if self._always_reset or self._closed or not conn._left_clean():
            return False
        raw = conn._raw
        uses = self._uses.get(raw)
        if uses is None or uses + conn._uses >= self._max_queries:
            return False
        conn._release()
        self._uses[raw] = uses + conn._uses
        now = time.monotonic()
        self._close_stale(now)
        self._idle.append((raw, now))
        self._free.release()
        return True

    def bottleneck(self, write: bool) -> str | None:
        """None: every connection of the pool serves reads and writes alike."""
        return None

    async def close(self, *, force: bool) -> None:
        """Close idle connections; with ``force``, terminate checked-out ones."""
        self._closed = True
        idle, self._idle = self._idle, deque()
        async with anyio.create_task_group() as tg:
            for raw, _ in idle:
                tg.start_soon(self._drop, raw)
        if force:
            for raw in list(self._uses):
                del self._uses[raw]
                raw.terminate()

    def _idle_connection(self) -> asyncpg.Connection[asyncpg.Record] | None:
        """Pop the newest idle connection that is alive, the stale ones closed."""
        idle = self._idle
        self._close_stale(time.monotonic())
        while idle:
            raw = idle.pop()[0]
            if not raw.is_closed():
                return raw
            self._uses.pop(raw, None)
            _log.warning(
                "postgres connection found closed; replacing it", database=self.name
            )
        return None

    def _close_stale(self, now: float) -> None:
        """Close the connections idle past ``max_inactive_connection_lifetime``:
        the oldest, at the end of the idle list that checkouts do not take."""
        idle, limit = self._idle, self._max_idle
        while limit and idle and now - idle[0][1] > limit:
            raw, _ = idle.popleft()
            self._uses.pop(raw, None)
            raw.terminate()

    async def _connect(self) -> asyncpg.Connection[asyncpg.Record]:
        with _connecting(self.name, self._dsn, self.location):
            raw = await _connect(self._dsn, **self._options)
        self._uses[raw] = 0
        if self._init is not None:
            try:
                with anyio.CancelScope(shield=True), map_asyncpg_errors(self.name):
                    await self._init(raw)
            except BaseException:
                await self._drop(raw)
                raise
        return raw

    async def _reset_raw(self, raw: asyncpg.Connection[asyncpg.Record]) -> bool:
        """Reset a connection as asyncpg's pool does; close it if that fails.
        Returns whether it can be reused."""
        try:
            with map_asyncpg_errors(self.name):
                if self._reset is None:
                    await raw.reset()
                else:
                    if raw.is_in_transaction():
                        await raw.execute("ROLLBACK")
                    await self._reset(raw)
        except errors.GlueError as exc:
            _log.warning(
                "postgres connection dropped", database=self.name, error=str(exc)
            )
            await self._drop(raw)
            return False
        return True

    async def _drop(self, raw: asyncpg.Connection[asyncpg.Record]) -> None:
        """Close a connection for good (terminated if it will not close)."""
        self._uses.pop(raw, None)
        if raw.is_closed():
            return
        try:
            with anyio.CancelScope(shield=True), map_asyncpg_errors(self.name):
                await raw.close(timeout=5)
        except errors.GlueError as exc:
            _log.debug("postgres close failed", database=self.name, error=str(exc))
            raw.terminate()
