"""Fixtures of the reliability suite: real databases, and real faults.

- ``pair``: two databases ``a`` and ``b`` as URLs, once per kind of pair
  (``sqlite+sqlite``, ``sqlite+postgres``, ``postgres+postgres`` and
  ``two-phase``: two PostgreSQL databases on a server that prepares).
- ``fresh_database``: makes fresh databases on a server; drops them (rolling
  back any prepared transaction left in them) at the end.
- ``proxy``: a TCP proxy in front of a PostgreSQL server that loses a reply,
  cuts a session or refuses connections on cue (`LossyProxy`): faults on the
  wire, for real.
- ``restartable_postgres``: a throwaway server of this test's own, which the
  test may restart (never the shared one).
- ``admin``: runs a statement on a server as its superuser.

Tests that run long carry the ``slow`` marker (``pytest -m "not slow"`` skips
them; ``make test`` runs them).
"""

from __future__ import annotations

import asyncio
import uuid
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode, urlsplit, urlunsplit

import anyio
import anyio.abc
import asyncpg
import pytest
from conftest import ThrowawayPostgres  # the root conftest of tests/

if TYPE_CHECKING:
    from collections.abc import (
        AsyncIterator,
        Awaitable,
        Callable,
        Iterator,
        Mapping,
    )
    from pathlib import Path

PAIRS = ["sqlite+sqlite", "sqlite+postgres", "postgres+postgres", "two-phase"]
_GONE = (
    anyio.EndOfStream,
    anyio.ClosedResourceError,
    anyio.BrokenResourceError,
    OSError,
)


def with_database(dsn: str, database: str) -> str:
    """``dsn`` pointing at another database of the same server."""
    return urlunsplit(urlsplit(dsn)._replace(path=f"/{database}"))


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


async def _drop(server: str, name: str) -> None:
    """Roll back what a test left prepared in ``name``, then drop it."""
    await admin(server, f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
    conn = await asyncpg.connect(with_database(server, name), timeout=10)
    try:
        for record in await conn.fetch(
            "SELECT gid FROM pg_prepared_xacts WHERE database = current_database()"
        ):
            await conn.execute(f"ROLLBACK PREPARED '{record['gid']}'")
    finally:
        await conn.close()
    await admin(server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


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


@pytest.fixture
def fresh_database() -> Iterator[Callable[[str], str]]:
    """``make(server)``: a fresh database on ``server``, dropped afterwards."""
    made: list[tuple[str, str]] = []

    def make(server: str) -> str:
        name = f"glue_test_{uuid.uuid4().hex[:12]}"
        asyncio.run(admin(server, f'CREATE DATABASE "{name}"'))
        made.append((server, name))
        return with_database(server, name)

    yield make
    for server, name in made:
        asyncio.run(_drop(server, name))


@pytest.fixture(params=PAIRS)
def pair(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    fresh_database: Callable[[str], str],
) -> dict[str, str]:
    """URLs of two databases, ``a`` and ``b``, of the kinds the param names."""
    kind: str = request.param
    if kind == "two-phase":
        kinds = ("postgres_2pc_server", "postgres_2pc_server")
    else:
        kinds = tuple(
            "postgres_server" if k == "postgres" else "sqlite" for k in kind.split("+")
        )
    urls = {}
    for name, server in zip(("a", "b"), kinds, strict=True):
        if server == "sqlite":
            urls[name] = f"sqlite:///{tmp_path / f'{name}.sqlite'}"
        else:
            urls[name] = fresh_database(request.getfixturevalue(server))
    return urls


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark the ``pair`` tests that need PostgreSQL with ``postgres``."""
    for item in items:
        callspec = getattr(item, "callspec", None)
        if callspec is not None and "postgres" in str(callspec.params.get("pair", "")):
            item.add_marker(pytest.mark.postgres)
        if callspec is not None and callspec.params.get("pair") == "two-phase":
            item.add_marker(pytest.mark.postgres)


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
    ``sslmode=disable``). Cues act on the next simple query whose text
    contains a string:

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
        self._cues: list[tuple[str, str]] = []
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

    def lose_reply(self, text: str) -> None:
        """Lose the reply to the next simple query containing ``text``."""
        self._cues.append(("lose", text))

    def cut_after(self, text: str) -> None:
        """Cut the session once the next query containing ``text`` answered."""
        self._cues.append(("cut", text))

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
        for cue in self._cues:
            action, text = cue
            if text in query:
                self._cues.remove(cue)
                self.fired.append(f"{action}: {query.rstrip(chr(0))}")
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


@pytest.fixture
async def start_proxy() -> AsyncIterator[Callable[[str], Awaitable[LossyProxy]]]:
    """``await start_proxy(target_url)``: a `LossyProxy` to the server of
    ``target_url``, serving until the test ends."""
    async with anyio.create_task_group() as tg:

        async def start(target: str) -> LossyProxy:
            proxy = LossyProxy(target)
            await tg.start(proxy.serve)
            return proxy

        yield start
        tg.cancel_scope.cancel()


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


@pytest.fixture
def restartable_postgres() -> Iterator[RestartablePostgres]:
    """A PostgreSQL server of this test's own, which it may restart."""
    server = RestartablePostgres()
    server.start()
    try:
        yield server
    finally:
        server.stop()
