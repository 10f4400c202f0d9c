"""Fixtures every test may use: real SQLite files and a real PostgreSQL server.

``postgres_server`` (session) finds a server, in this order:

1. ``GLUE_TEST_POSTGRES_DSN``, a URL of a server we may create databases on;
2. a server answering on 127.0.0.1:5432 as user ``postgres``;
3. a throwaway server this fixture starts (``initdb`` + ``pg_ctl``, trust auth,
   a free loopback port, data in a temporary directory), stopped at the end.

``GLUE_TEST_POSTGRES=start`` skips 1 and 2. When no server can be had, tests that
need one skip, except under ``CI=true``, where they fail.

``postgres_2pc_server`` (session) is a server that allows prepared transactions
(two-phase commit): the one above when its ``max_prepared_transactions`` is
above 0, else a throwaway server started with ``max_prepared_transactions=10``.

``postgres_dsn`` gives each test its own fresh database; ``sqlite_path`` a file
in ``tmp_path``; ``database_url`` runs a test once per database (ids ``sqlite``
and ``postgres``).
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
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar, cast
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from glue.connections import Container

if TYPE_CHECKING:
    from collections.abc import Coroutine, Iterator

_T = TypeVar("_T")
LOCAL_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"
# Settings of every throwaway server: prepared transactions allowed, so that one
# started as `postgres_server` serves `postgres_2pc_server` too.
THROWAWAY_SETTINGS = {"max_prepared_transactions": "10"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test that uses the PostgreSQL server with ``postgres``."""
    for item in items:
        names = getattr(item, "fixturenames", ())
        if "postgres_server" in names or "postgres_2pc_server" in names:
            item.add_marker(pytest.mark.postgres)


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def _unavailable(reason: str) -> NoReturn:
    """Skip, or under CI fail: a PostgreSQL test never silently skips there."""
    if _in_ci():
        pytest.fail(f"PostgreSQL needed under CI: {reason}", pytrace=False)
    pytest.skip(f"no PostgreSQL server: {reason}")


def _run(coro: Coroutine[Any, Any, _T]) -> _T:
    """Run a coroutine to completion on its own loop, in its own thread.

    Sync fixtures use this so that they never touch the loop a test runs on.
    """
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
    return cast("_T", box["value"])


async def _prepared_transactions(dsn: str) -> int:
    """The server's ``max_prepared_transactions``."""
    conn = await asyncpg.connect(dsn, timeout=10)
    try:
        return int(await conn.fetchval("SHOW max_prepared_transactions"))
    finally:
        await conn.close()


async def _admin(dsn: str, *statements: str, args: tuple[Any, ...] = ()) -> None:
    conn = await asyncpg.connect(dsn, timeout=10)
    try:
        for statement in statements:
            await conn.execute(statement, *args)
    finally:
        await conn.close()


def _probe(dsn: str) -> str | None:
    """Return None when ``dsn`` answers, else why not."""
    try:
        _run(_admin(dsn, "SELECT 1"))
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


def with_database(dsn: str, database: str) -> str:
    """Return ``dsn`` pointing at another database of the same server."""
    return urlunsplit(urlsplit(dsn)._replace(path=f"/{database}"))


def _find_binary(name: str) -> str | None:
    found = sorted(
        glob.glob(f"/usr/lib/postgresql/*/bin/{name}"),
        key=lambda path: int(Path(path).parent.parent.name.split(".")[0] or 0),
        reverse=True,
    )
    return found[0] if found else shutil.which(name)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class ThrowawayPostgres:
    """A PostgreSQL server in a temporary directory, for one test session.

    As root it runs as the ``postgres`` OS user (PostgreSQL refuses root).

    Args:
        settings: server settings passed as ``-c name=value``.
    """

    def __init__(self, settings: dict[str, str] | None = None) -> None:
        self.settings = dict(THROWAWAY_SETTINGS if settings is None else settings)
        self.root: Path | None = None
        self.dsn: str | None = None
        self._pg_ctl: str | None = None
        self._user: str | None = None

    def start(self) -> str:
        """Initialise and start the server; return its DSN, or skip / fail."""
        initdb, pg_ctl = _find_binary("initdb"), _find_binary("pg_ctl")
        if initdb is None or pg_ctl is None:
            _unavailable("initdb / pg_ctl not found (install PostgreSQL 15)")
        self.root = Path(tempfile.mkdtemp(prefix="glue-postgres-"))
        if os.geteuid() == 0:
            try:
                account = pwd.getpwnam("postgres")
            except KeyError:
                _unavailable("running as root and there is no 'postgres' OS user")
            os.chown(self.root, account.pw_uid, account.pw_gid)
            self._user = "postgres"
        data, port = self.root / "data", _free_port()
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
            _unavailable(
                f"{Path(command[0]).name} failed: {result.stderr.strip()} {tail}"
            )


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """The DSN of a PostgreSQL server (its ``postgres`` database) for this session."""
    if os.environ.get("GLUE_TEST_POSTGRES", "").lower() != "start":
        dsn = os.environ.get("GLUE_TEST_POSTGRES_DSN")
        if dsn:
            problem = _probe(dsn)
            if problem:
                _unavailable(f"GLUE_TEST_POSTGRES_DSN does not answer: {problem}")
            yield dsn
            return
        if _probe(LOCAL_DSN) is None:
            yield LOCAL_DSN
            return
    server = ThrowawayPostgres()
    try:
        yield server.start()
    finally:
        server.stop()


@pytest.fixture(scope="session")
def postgres_2pc_server(postgres_server: str) -> Iterator[str]:
    """The DSN of a PostgreSQL server that allows prepared transactions.

    ``postgres_server`` itself when its ``max_prepared_transactions`` is above 0;
    else a throwaway server of our own with ``max_prepared_transactions=10``
    (about a second to start), stopped at the end of the session. Skips when
    none can be had, except under ``CI=true``, where it fails.
    """
    if _run(_prepared_transactions(postgres_server)) > 0:
        yield postgres_server
        return
    server = ThrowawayPostgres()
    try:
        yield server.start()
    finally:
        server.stop()


@pytest.fixture
def throwaway_postgres() -> Iterator[str]:
    """Start a PostgreSQL server of our own for one test; yield its DSN."""
    server = ThrowawayPostgres()
    try:
        yield server.start()
    finally:
        server.stop()


def _fresh_database(server: str) -> Iterator[str]:
    name = f"glue_test_{uuid.uuid4().hex[:12]}"
    _run(_admin(server, f'CREATE DATABASE "{name}"'))
    try:
        yield with_database(server, name)
    finally:
        _run(_drop_database(server, name))


async def _drop_database(server: str, name: str) -> None:
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


@pytest.fixture
def postgres_dsn(postgres_server: str) -> Iterator[str]:
    """A fresh, empty PostgreSQL database for this test, dropped afterwards."""
    yield from _fresh_database(postgres_server)


@pytest.fixture
def sqlite_path(tmp_path: Path) -> Path:
    """A path for a SQLite database file in this test's ``tmp_path``."""
    return tmp_path / "test.sqlite"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database URL, once for SQLite (a file in tmp_path) and once for PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'test.sqlite'}"
    dsn: str = request.getfixturevalue("postgres_dsn")
    return dsn


@pytest.fixture(autouse=True)
def _reset_containers() -> Iterator[None]:
    """Leave the global registries as each test found them: empty."""
    yield
    Container.managers.clear()
    Container.services.clear()
