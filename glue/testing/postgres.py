"""A real PostgreSQL server for tests: found, or started in a temporary directory.

:func:`find_postgres` looks, in order, at ``GLUE_TEST_POSTGRES_DSN`` and at a
server answering on 127.0.0.1:5432 as user ``postgres``;
``GLUE_TEST_POSTGRES=start`` skips both. When neither answers,
:class:`ThrowawayPostgres` starts one: ``initdb`` and ``pg_ctl`` from
``/usr/lib/postgresql/*/bin`` (or ``PATH``), run as the ``postgres`` OS user when
the caller is root (PostgreSQL refuses root), trust auth, data and socket in a
temporary directory, a free loopback port. Every helper here is synchronous and
runs its own short event loop in a thread, so a fixture never touches the loop
its test runs on.
"""

from __future__ import annotations

import asyncio
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import threading
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, cast
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from ..errors import GlueError

if TYPE_CHECKING:
    from collections.abc import Coroutine, Iterator

T = TypeVar("T")
LOCAL_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"
# Prepared transactions allowed: one throwaway server serves two-phase tests too.
THROWAWAY_SETTINGS = {"max_prepared_transactions": "10"}


class PostgresUnavailable(GlueError):
    """No PostgreSQL server could be found or started; the message says why."""


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion on its own loop, in its own thread."""
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = asyncio.run(coro)
        except BaseException as exc:
            box["error"] = exc

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    return cast("T", box["value"])


async def admin(dsn: str, *statements: str, args: tuple[Any, ...] = ()) -> None:
    """Run ``statements`` on a connection of their own to ``dsn``."""
    conn = await asyncpg.connect(dsn, timeout=10)
    try:
        for statement in statements:
            await conn.execute(statement, *args)
    finally:
        await conn.close()


def probe(dsn: str) -> str | None:
    """None when ``dsn`` answers, else why not."""
    try:
        run_sync(admin(dsn, "SELECT 1"))
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


def prepared_transactions(dsn: str) -> int:
    """The server's ``max_prepared_transactions`` (0: no two-phase commit)."""

    async def show() -> int:
        conn = await asyncpg.connect(dsn, timeout=10)
        try:
            return int(await conn.fetchval("SHOW max_prepared_transactions"))
        finally:
            await conn.close()

    return run_sync(show())


def find_postgres() -> str | None:
    """The DSN of a running server tests may create databases on, or None.

    Raises:
        PostgresUnavailable: ``GLUE_TEST_POSTGRES_DSN`` is set and does not answer.
    """
    if os.environ.get("GLUE_TEST_POSTGRES", "").lower() == "start":
        return None
    dsn = os.environ.get("GLUE_TEST_POSTGRES_DSN")
    if dsn:
        problem = probe(dsn)
        if problem:
            raise PostgresUnavailable(
                f"GLUE_TEST_POSTGRES_DSN does not answer: {problem}"
            )
        return dsn
    return LOCAL_DSN if probe(LOCAL_DSN) is None else None


def with_database(dsn: str, database: str) -> str:
    """``dsn`` pointing at another database of the same server."""
    return urlunsplit(urlsplit(dsn)._replace(path=f"/{database}"))


@contextmanager
def fresh_database(server: str) -> Iterator[str]:
    """An empty database on ``server`` for a ``with`` block, dropped afterwards."""
    name = f"glue_test_{uuid.uuid4().hex[:12]}"
    run_sync(admin(server, f'CREATE DATABASE "{name}"'))
    try:
        yield with_database(server, name)
    finally:
        run_sync(_drop_database(server, name))


async def _drop_database(server: str, name: str) -> None:
    """Roll back what a test left prepared in ``name`` (it would block the
    drop), end its sessions, drop it. A test may have closed it to connections."""
    await admin(server, f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
    conn = await asyncpg.connect(with_database(server, name), timeout=10)
    try:
        for record in await conn.fetch(
            "SELECT gid FROM pg_prepared_xacts WHERE database = current_database()"
        ):
            await conn.execute(f"ROLLBACK PREPARED '{record['gid']}'")
    finally:
        await conn.close()
    conn = await asyncpg.connect(server, timeout=10)
    try:
        await conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = $1 AND pid <> pg_backend_pid()",
            name,
        )
        force = " WITH (FORCE)" if conn.get_server_version().major >= 13 else ""
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}"{force}')
    finally:
        await conn.close()


def _find_binary(name: str) -> str | None:
    found = sorted(
        glob.glob(f"/usr/lib/postgresql/*/bin/{name}"),
        key=lambda path: int(Path(path).parent.parent.name.split(".")[0] or 0),
        reverse=True,
    )
    return found[0] if found else shutil.which(name)


def free_port() -> int:
    """A loopback TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class ThrowawayPostgres:
    """A PostgreSQL server in a temporary directory, started and stopped by hand.

    Args:
        settings: server settings passed as ``-c name=value``
            (default: ``max_prepared_transactions=10``).
    """

    def __init__(self, settings: dict[str, str] | None = None) -> None:
        self.settings = dict(THROWAWAY_SETTINGS if settings is None else settings)
        self.root: Path | None = None
        self.dsn: str | None = None
        self._pg_ctl: str | None = None
        self._user: str | None = None

    def start(self) -> str:
        """Initialise and start the server; return its DSN.

        Raises:
            PostgresUnavailable: no binaries, no ``postgres`` OS user for a
                root caller, or the server did not start (with its log's tail).
        """
        initdb, pg_ctl = _find_binary("initdb"), _find_binary("pg_ctl")
        if initdb is None or pg_ctl is None:
            raise PostgresUnavailable("initdb / pg_ctl not found (install PostgreSQL)")
        self.root = Path(tempfile.mkdtemp(prefix="glue-postgres-"))
        if os.geteuid() == 0:
            try:
                account = pwd.getpwnam("postgres")
            except KeyError:
                raise PostgresUnavailable(
                    "running as root and there is no 'postgres' OS user"
                ) from None
            os.chown(self.root, account.pw_uid, account.pw_gid)
            self._user = "postgres"
        data, port = self.root / "data", free_port()
        self._pg_ctl = pg_ctl
        self._call(
            initdb, "-D", str(data), "-U", "postgres", "-A", "trust",
            "-E", "UTF8", "--locale=C", "--no-sync",
        )  # fmt: skip
        options = f"-F -p {port} -k {self.root} -c listen_addresses=127.0.0.1"
        options += "".join(f" -c {k}={v}" for k, v in self.settings.items())
        self._call(
            pg_ctl, "start", "-w", "-t", "60", "-D", str(data),
            "-l", str(self.root / "server.log"), "-o", options,
        )  # fmt: skip
        self.dsn = f"postgresql://postgres@127.0.0.1:{port}/postgres"
        return self.dsn

    def stop(self) -> None:
        """Stop the server and delete its files."""
        if self.root is None:
            return
        if self.dsn is not None and self._pg_ctl is not None:
            data = str(self.root / "data")
            self._call(self._pg_ctl, "stop", "-m", "immediate", "-w", "-D", data)
        shutil.rmtree(self.root, ignore_errors=True)
        self.root = self.dsn = None

    def _call(self, *command: str) -> None:
        result = subprocess.run(
            command,
            user=self._user,
            cwd=self.root,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if result.returncode:
            log = self.root / "server.log" if self.root else None
            tail = log.read_text()[-2000:] if log and log.exists() else ""
            self.stop()
            raise PostgresUnavailable(
                f"{Path(command[0]).name} failed: {result.stderr.strip()} {tail}"
            )
