"""The faults the reliability suite injects, and how it looks at servers.

- `LossyProxy`: a TCP proxy in front of a PostgreSQL server that loses a
  reply, cuts a session or refuses connections on cue: faults on the wire.
- `HookedPool`: a real pool whose checkouts and statements call a hook before
  and after each (where a unit of work awaits its databases): to cancel there,
  pause there, or die there (`Crash`).
- `RestartablePostgres`: a throwaway server a test may restart.
- `admin`, `prepared_transactions`: what a server holds, read over a
  connection of their own.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode, urlsplit, urlunsplit

import anyio
import anyio.abc
import asyncpg

from glue.testing import ThrowawayPostgres

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Mapping, Sequence

    from glue.connections import (
        Connection,
        ConnectionPool,
        Dialect,
        Params,
        PoolStatistics,
        Result,
        RowStream,
        Statement,
    )

_GONE = (
    anyio.EndOfStream,
    anyio.ClosedResourceError,
    anyio.BrokenResourceError,
    OSError,
)


class Crash(BaseException):
    """The process dying between two statements: nothing in glue catches it."""


def database_of(dsn: str) -> str:
    """The database name of a PostgreSQL URL."""
    return urlsplit(dsn).path.lstrip("/")


async def admin(dsn: str, sql: str, *args: Any) -> list[asyncpg.Record]:
    """Run ``sql`` on ``dsn`` over a connection of its own; return the rows."""
    conn = await asyncpg.connect(dsn, timeout=10)
    try:
        return await conn.fetch(sql, *args)
    finally:
        await conn.close()


async def prepared_transactions(urls: Mapping[str, str]) -> list[tuple[str, str]]:
    """(database, gid) of every prepared transaction in the PostgreSQL
    databases of ``urls``."""
    found = []
    for url in urls.values():
        if url.startswith("postgres"):
            rows = await admin(
                url,
                "SELECT database, gid FROM pg_prepared_xacts "
                "WHERE database = current_database()",
            )
            found += [(r["database"], r["gid"]) for r in rows]
    return found


# -- a proxy that loses what it is told to -----------------------------------------


class _Session:
    """One client connection through the proxy, and its server connection."""

    def __init__(
        self, client: anyio.abc.SocketStream, server: anyio.abc.SocketStream
    ) -> None:
        self.client = client
        self.server = server
        self.swallow = False  # drop the server's replies, up to ReadyForQuery
        self.cut_after_reply = False  # pass the reply, then cut the session
        self.done = anyio.Event()

    async def close(self) -> None:
        self.done.set()
        with anyio.CancelScope(shield=True):
            await self.client.aclose()
            await self.server.aclose()


class LossyProxy:
    """A TCP proxy to a PostgreSQL server that fails on cue, on the wire.

    It reads the protocol's message framing both ways (no TLS: its URLs say
    ``sslmode=disable``). Cues act on the next simple query with a
    given text (or, for a text ending in a space, prefix):

    - `lose_reply`: the query reaches the server and runs; the proxy waits
      for the server to finish it (ReadyForQuery), then cuts the session
      without passing the reply on: the client never learns the outcome.
    - `cut_after`: the reply arrives, then the session is cut.

    `down` cuts every session and refuses new ones until `up`.
    """

    def __init__(self, target: str) -> None:
        parts = urlsplit(target)
        self._host = parts.hostname or "127.0.0.1"
        self._port = parts.port or 5432
        self._target = target
        self.port = 0
        self._sessions: set[_Session] = set()
        self._cues: list[tuple[str, str, bool]] = []
        self._down = False
        self.fired: list[str] = []

    def url(self, database: str | None = None) -> str:
        """A URL to ``database`` (the target's by default) through the proxy."""
        parts = urlsplit(self._target)
        netloc = parts.netloc.rpartition("@")
        host = (
            f"{netloc[0]}@127.0.0.1:{self.port}"
            if netloc[1]
            else f"127.0.0.1:{self.port}"
        )
        path = f"/{database}" if database else parts.path
        query = urlencode({"sslmode": "disable"})
        return urlunsplit(parts._replace(netloc=host, path=path, query=query))

    def lose_reply(self, query: str, *, then_down: bool = False) -> None:
        """Lose the reply to the next simple query that is ``query`` (or, for
        one ending in a space, starts with it); with ``then_down``, refuse new
        sessions from then on (the server stays unreachable until `up`)."""
        self._cues.append(("lose", query, then_down))

    def cut_after(self, query: str, *, then_down: bool = False) -> None:
        """Cut the session once the next query matching ``query`` answered."""
        self._cues.append(("cut", query, then_down))

    async def down(self) -> None:
        """Cut every session, and refuse new ones."""
        self._down = True
        for session in list(self._sessions):
            await session.close()

    def up(self) -> None:
        """Accept sessions again."""
        self._down = False

    async def serve(self, task_status: anyio.abc.TaskStatus[None]) -> None:
        listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
        self.port = listener.extra(anyio.abc.SocketAttribute.local_port)
        task_status.started()
        async with listener:
            await listener.serve(self._handle)

    async def _handle(self, client: anyio.abc.SocketStream) -> None:
        if self._down:
            await client.aclose()
            return
        try:
            server = await anyio.connect_tcp(self._host, self._port)
        except OSError:
            await client.aclose()
            return
        session = _Session(client, server)
        self._sessions.add(session)
        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(self._upstream, session, tg.cancel_scope)
                tg.start_soon(self._downstream, session, tg.cancel_scope)
        finally:
            self._sessions.discard(session)
            await session.close()

    async def _upstream(self, session: _Session, scope: anyio.CancelScope) -> None:
        """Client to server: the startup packet, then typed messages."""
        try:
            reader = _Reader(session.client)
            startup = await reader.exactly(4)
            size = int.from_bytes(startup, "big")
            await session.server.send(startup + await reader.exactly(size - 4))
            while True:
                head = await reader.exactly(5)
                body = await reader.exactly(int.from_bytes(head[1:], "big") - 4)
                if head[:1] == b"Q":
                    self._cue(session, body.decode(errors="replace"))
                await session.server.send(head + body)
        except _GONE:
            pass
        scope.cancel()

    async def _downstream(self, session: _Session, scope: anyio.CancelScope) -> None:
        """Server to client: typed messages; act on a cue at ReadyForQuery."""
        try:
            reader = _Reader(session.server)
            while True:
                head = await reader.exactly(5)
                body = await reader.exactly(int.from_bytes(head[1:], "big") - 4)
                if not session.swallow:
                    await session.client.send(head + body)
                if head[:1] == b"Z" and (session.swallow or session.cut_after_reply):
                    break
        except _GONE:
            pass
        scope.cancel()

    def _cue(self, session: _Session, query: str) -> None:
        query = query.rstrip("\0")
        for cue in self._cues:
            action, text, then_down = cue
            if query == text or (text.endswith(" ") and query.startswith(text)):
                self._cues.remove(cue)
                self.fired.append(f"{action}: {query}")
                if then_down:
                    self._down = True
                if action == "lose":
                    session.swallow = True
                else:
                    session.cut_after_reply = True
                return


class _Reader:
    """Exact reads from a byte stream."""

    def __init__(self, stream: anyio.abc.ByteReceiveStream) -> None:
        self._stream = stream
        self._buffer = bytearray()

    async def exactly(self, n: int) -> bytes:
        while len(self._buffer) < n:
            self._buffer += await self._stream.receive()
        data = bytes(self._buffer[:n])
        del self._buffer[:n]
        return data


# -- a server to restart ------------------------------------------------------------


class RestartablePostgres(ThrowawayPostgres):
    """A throwaway server that a test may restart or stop."""

    def restart(self) -> None:
        """Restart the server (``pg_ctl restart -m fast``): sessions die."""
        assert self.root is not None and self._pg_ctl is not None
        data = str(self.root / "data")
        self._call(
            self._pg_ctl, "restart", "-m", "fast", "-w", "-t", "60", "-D", data,
            "-l", str(self.root / "server.log"),
        )  # fmt: skip


# -- pools whose connections report each step -----------------------------------------


Hook = Callable[[str, str], Awaitable[None]]
"""``hook(moment, what)``: ``moment`` is ``"before"`` or ``"after"``; ``what`` the
statement, or ``ACQUIRE``, ``BEGIN``, ``COMMIT``."""


class HookedPool:
    """A real pool whose checkouts and statements call ``hook`` before and
    after each: the places where a unit of work awaits its databases."""

    def __init__(self, pool: ConnectionPool, hook: Hook | None = None) -> None:
        self.pool = pool
        self.hook = hook

    @property
    def name(self) -> str:
        return self.pool.name

    @property
    def dialect(self) -> Dialect:
        return self.pool.dialect

    async def call(self, moment: str, what: str) -> None:
        if self.hook is not None:
            await self.hook(moment, what)

    async def open(self) -> None:
        await self.pool.open()

    @asynccontextmanager
    async def acquire(
        self, *, write: bool = False, timeout: float | None = None
    ) -> AsyncIterator[Connection]:
        await self.call("before", "ACQUIRE")
        async with self.pool.acquire(write=write, timeout=timeout) as conn:
            await self.call("after", "ACQUIRE")
            yield HookedConnection(self, conn)

    def statistics(self) -> PoolStatistics:
        return self.pool.statistics()

    async def aclose(self, *, timeout: float | None = None) -> None:
        await self.pool.aclose(timeout=timeout)


class HookedConnection:
    """A real connection that calls its `HookedPool`'s hook around each step."""

    def __init__(self, owner: HookedPool, conn: Connection) -> None:
        self.owner = owner
        self.conn = conn

    @property
    def dialect(self) -> Dialect:
        return self.conn.dialect

    @property
    def database(self) -> str:
        return self.conn.database

    @property
    def closed(self) -> bool:
        return self.conn.closed

    async def execute(self, sql: str, params: Params = ()) -> int:
        await self.owner.call("before", sql)
        count = await self.conn.execute(sql, params)
        await self.owner.call("after", sql)
        return count

    async def execute_many(self, sql: str, rows: Sequence[Params]) -> None:
        await self.owner.call("before", sql)
        await self.conn.execute_many(sql, rows)
        await self.owner.call("after", sql)

    async def fetch(self, sql: str, params: Params = ()) -> Result:
        await self.owner.call("before", sql)
        result = await self.conn.fetch(sql, params)
        await self.owner.call("after", sql)
        return result

    def iterate(
        self, sql: str, params: Params = (), *, batch_size: int = 500
    ) -> RowStream:
        return self.conn.iterate(sql, params, batch_size=batch_size)

    async def batch(self, statements: Sequence[Statement]) -> list[int]:
        what = "; ".join(s.sql for s in statements)
        await self.owner.call("before", what)
        counts = await self.conn.batch(statements)
        await self.owner.call("after", what)
        return counts

    async def copy_records(
        self, table: str, columns: Sequence[str], records: Sequence[Params]
    ) -> int:
        await self.owner.call("before", f"COPY {table}")
        count = await self.conn.copy_records(table, columns, records)
        await self.owner.call("after", f"COPY {table}")
        return count

    @asynccontextmanager
    async def transaction(
        self, *, lock_timeout: float | None = None
    ) -> AsyncIterator[None]:
        await self.owner.call("before", "BEGIN")
        async with self.conn.transaction(lock_timeout=lock_timeout):
            await self.owner.call("after", "BEGIN")
            yield
            await self.owner.call("before", "COMMIT")
        await self.owner.call("after", "COMMIT")

    @asynccontextmanager
    async def listen(
        self, channel: str, callback: Callable[[], None]
    ) -> AsyncIterator[bool]:
        async with self.conn.listen(channel, callback) as listening:
            yield listening

    async def aclose(self) -> None:
        await self.conn.aclose()
