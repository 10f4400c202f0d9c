"""HTTP, timed: glue's ASGI app against FastAPI + SQLAlchemy, and against dispatch.

The work, for every contender: ``POST`` a JSON body ``{"customer": 7, "text":
"..."}``, validate it, insert one row (a new uuid4 id, the customer, the text)
in its own transaction, commit, answer ``{"id": "..."}``.

- **glue**: ``glue.http.asgi(app)``, a domain whose command handler inserts the
  row through ``ctx.state`` (a table without etag columns, as the other side's);
- **FastAPI + SQLAlchemy**: a pydantic model, an ``AsyncSession`` adding an ORM
  object and committing; SQLite gets the same pragmas as glue's (WAL,
  ``synchronous=NORMAL``), both sides pools of 10 on PostgreSQL.

Each is served by uvicorn (same settings: one worker, its default loop and HTTP
parser, no access log) in a process of its own, one at a time, on the same
database server: a SQLite file each, or a table each in one PostgreSQL scratch
database. A load generator in this process keeps ``--connections`` keep-alive
HTTP/1.1 connections busy for ``--seconds`` per round; rounds alternate the
order of the contenders. Reported: requests per second (median of the rounds,
and their spread min-max), and the latency's p50 and p99 (median of the rounds).
The garbage collector stays on everywhere.

Second table: glue's HTTP layer against calling ``dispatch`` directly, in this
process, one request at a time: ``app.decode`` + ``app.bus.dispatch`` + encoding
the response, against the same request through the ASGI app called directly (no
server, no socket). Microseconds per request, median of the rounds.

Targets: glue at least 2x FastAPI + SQLAlchemy's throughput; glue's HTTP layer
at most 30% over dispatch. Run::

    python benchmarks/http.py [--rounds 5] [--seconds 3] [--connections 16]
                              [--postgres DSN]

FastAPI and SQLAlchemy come with the ``bench`` extra; without them that
contender is skipped with a message.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a script, this file's folder comes first on sys.path, and this file
# would stand in for the standard library's `http` package: take it out.
if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    del sys.path[0]

import argparse
import asyncio
import importlib.util
import os
import socket
import statistics
import subprocess
import tempfile
import time
import uuid
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

import anyio
import asyncpg
import msgspec

if TYPE_CHECKING:
    from collections.abc import Callable

LOCAL = "postgresql://postgres@127.0.0.1:5432/postgres"
BODY = b'{"customer": 7, "text": "two apples and a pear"}'


# -- the contenders' apps (each runs in a uvicorn process of its own) -------------


def glue_app(database: str) -> Any:
    """glue's ASGI app: ``POST /bench:add-note``."""
    import glue.http
    from glue import App, Column, ColumnType, Command, Context, Domain, Response, Schema

    notes = Schema(
        name="glue_notes",
        primary_key=("id",),
        versioned=False,
        columns=(
            Column(name="id", type=ColumnType.TEXT),
            Column(name="customer", type=ColumnType.INTEGER),
            Column(name="text", type=ColumnType.TEXT),
        ),
    )

    class AddNote(Command):
        customer: int
        text: str

    class NoteAdded(Response):
        id: str

    bench = Domain("bench")
    bench.table(notes)

    @bench.command(AddNote)
    async def add(cmd: AddNote, ctx: Context) -> NoteAdded:
        note = uuid.uuid4().hex
        await ctx.state.insert(
            notes, {"id": note, "customer": cmd.customer, "text": cmd.text}
        )
        return NoteAdded(id=note)

    app = App([bench], databases={"default": database}, create_tables=True)
    return glue.http.asgi(app, docs=False, query_permission=None)


def fastapi_app(database: str) -> Any:
    """FastAPI + SQLAlchemy's ASGI app: ``POST /notes``."""
    from contextlib import asynccontextmanager

    import pydantic
    from fastapi import FastAPI
    from sqlalchemy import Integer, String, event
    from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine
    from sqlalchemy.orm import DeclarativeBase, mapped_column

    # Classes built here, where `from __future__ import annotations` would
    # leave annotations that SQLAlchemy, pydantic and FastAPI cannot resolve.
    class Base(DeclarativeBase):
        pass

    class Note(Base):
        __tablename__ = "sa_notes"
        id = mapped_column(String, primary_key=True)
        customer = mapped_column(Integer)
        text = mapped_column(String)

    add_note = pydantic.create_model("AddNote", customer=(int, ...), text=(str, ...))
    note_added = pydantic.create_model("NoteAdded", id=(str, ...))

    if database.startswith("sqlite"):
        engine = create_async_engine(database.replace("sqlite:", "sqlite+aiosqlite:"))

        @event.listens_for(engine.sync_engine, "connect")
        def pragmas(conn: Any, record: Any) -> None:
            cursor = conn.cursor()
            cursor.execute("PRAGMA journal_mode = WAL")
            cursor.execute("PRAGMA synchronous = NORMAL")
            cursor.close()

    else:
        engine = create_async_engine(
            database.replace("postgresql:", "postgresql+asyncpg:"),
            pool_size=10,
            max_overflow=0,
        )
    sessions = async_sessionmaker(engine, expire_on_commit=False)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> Any:
        async with engine.begin() as conn:
            await conn.run_sync(Base.metadata.create_all)
        yield
        await engine.dispose()

    api = FastAPI(lifespan=lifespan, docs_url=None, redoc_url=None)

    async def add(note: Any) -> Any:
        row = Note(id=uuid.uuid4().hex, customer=note.customer, text=note.text)
        async with sessions() as session:
            session.add(row)
            await session.commit()
        return note_added(id=row.id)

    add.__annotations__ = {"note": add_note, "return": note_added}
    api.post("/notes")(add)
    return api


CONTENDERS: dict[str, tuple[Callable[[str], Any], str]] = {
    "glue": (glue_app, "/bench:add-note"),
    "FastAPI + SQLAlchemy": (fastapi_app, "/notes"),
}


def serve(name: str, database: str, port: int) -> None:
    """The child process: serve one contender under uvicorn."""
    import uvicorn

    factory, _ = CONTENDERS[name]
    uvicorn.run(
        factory(database), host="127.0.0.1", port=port, log_level="warning",
        access_log=False,
    )  # fmt: skip


# -- the load generator ---------------------------------------------------------------


class Round(msgspec.Struct, frozen=True):
    """One contender's round: requests per second and latencies (seconds)."""

    rps: float
    p50: float
    p99: float


async def load(port: int, path: str, connections: int, seconds: float) -> Round:
    """Keep ``connections`` keep-alive connections busy for ``seconds``."""
    request = (
        f"POST {path} HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(BODY)}\r\n\r\n"
    ).encode() + BODY
    latencies: list[float] = []
    stop = time.perf_counter() + seconds

    async def client() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while time.perf_counter() < stop:
                started = time.perf_counter()
                writer.write(request)
                head = await reader.readuntil(b"\r\n\r\n")
                if not head.startswith(b"HTTP/1.1 200"):
                    raise RuntimeError(f"{path}: {head.decode(errors='replace')}")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                await reader.readexactly(length)
                latencies.append(time.perf_counter() - started)
        finally:
            writer.close()

    began = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(connections)))
    elapsed = time.perf_counter() - began
    latencies.sort()
    return Round(
        rps=len(latencies) / elapsed,
        p50=latencies[len(latencies) // 2],
        p99=latencies[int(len(latencies) * 0.99)],
    )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def start(name: str, database: str) -> tuple[subprocess.Popen[bytes], int]:
    """A contender's server, answering."""
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, __file__, "--serve", name, database, str(port)],
        cwd=Path(__file__).resolve().parents[1],
    )
    for _ in range(300):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return process, port
        except OSError:
            if process.poll() is not None:
                raise RuntimeError(f"{name} did not start") from None
            time.sleep(0.1)
    process.kill()
    raise RuntimeError(f"{name} did not answer")


def servers(database: str, names: list[str], options: argparse.Namespace) -> None:
    """Every contender's rounds on one database, printed as a table."""
    rounds: dict[str, list[Round]] = {name: [] for name in names}
    running: dict[str, tuple[subprocess.Popen[bytes], int]] = {}
    try:
        for name in names:
            running[name] = start(name, database)
        for name in names:  # warm up
            asyncio.run(load(running[name][1], CONTENDERS[name][1], 4, 0.5))
        for index in range(options.rounds):
            order = names if index % 2 == 0 else names[::-1]
            for name in order:
                path = CONTENDERS[name][1]
                rounds[name].append(
                    asyncio.run(
                        load(
                            running[name][1], path, options.connections, options.seconds
                        )
                    )
                )
    finally:
        for process, _ in running.values():
            process.terminate()
            process.wait()
    glue_rps = statistics.median(r.rps for r in rounds["glue"])
    print("| contender | requests/s | spread | p50 ms | p99 ms | x glue |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for name in names:
        rps = [r.rps for r in rounds[name]]
        median = statistics.median(rps)
        print(
            f"| {name} | {median:,.0f} | {min(rps):,.0f}-{max(rps):,.0f} | "
            f"{statistics.median(r.p50 for r in rounds[name]) * 1000:.2f} | "
            f"{statistics.median(r.p99 for r in rounds[name]) * 1000:.2f} | "
            f"{median / glue_rps:.2f} |"
        )


# -- glue's HTTP layer against dispatch, in process -----------------------------------


async def layer(database: str, options: argparse.Namespace) -> None:
    """Microseconds per request: dispatch alone, and through the ASGI app."""
    api = glue_app(database)
    app = api.app
    encoder = msgspec.json.Encoder()
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/bench:add-note",
        "raw_path": b"/bench:add-note",
        "root_path": "",
        "query_string": b"",
        "headers": [
            (b"host", b"bench"),
            (b"content-type", b"application/json"),
            (b"content-length", str(len(BODY)).encode()),
        ],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
    }
    message = {"type": "http.request", "body": BODY, "more_body": False}

    async def receive() -> dict[str, Any]:
        return message

    async def send(event: dict[str, Any]) -> None:
        if event["type"] == "http.response.start" and event["status"] != 200:
            raise RuntimeError(f"status {event['status']}")

    async def direct() -> None:
        command = app.decode("bench:add-note", BODY)
        encoder.encode(await app.bus.dispatch(command))

    async def through_http() -> None:
        await api(dict(scope), receive, send)

    timings: dict[str, list[float]] = {"dispatch": [], "HTTP layer": []}
    async with api.lifespan():
        for run in (direct, through_http):
            for _ in range(200):  # warm up
                await run()
        for index in range(options.rounds):
            pairs = [("dispatch", direct), ("HTTP layer", through_http)]
            for name, run in pairs if index % 2 == 0 else pairs[::-1]:
                began = time.perf_counter()
                for _ in range(options.requests):
                    await run()
                elapsed = time.perf_counter() - began
                timings[name].append(elapsed / options.requests * 1e6)
    base = statistics.median(timings["dispatch"])
    print("| path | µs per request | spread | x dispatch |")
    print("| --- | ---: | ---: | ---: |")
    for name, values in timings.items():
        median = statistics.median(values)
        print(
            f"| {name} | {median:.0f} | {min(values):.0f}-{max(values):.0f} | "
            f"{median / base:.2f} |"
        )


# -- databases ------------------------------------------------------------------------


async def postgres_database(server: str) -> str:
    name = f"glue_bench_http_{uuid.uuid4().hex[:8]}"
    conn = await asyncpg.connect(server)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return urlunsplit(urlsplit(server)._replace(path=f"/{name}"))


async def drop_database(server: str, dsn: str) -> None:
    name = urlsplit(dsn).path.lstrip("/")
    conn = await asyncpg.connect(server)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument(
        "--postgres", default=os.environ.get("GLUE_BENCH_POSTGRES_DSN", LOCAL)
    )
    parser.add_argument("--serve", nargs=3, help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.serve:
        name, database, port = options.serve
        serve(name, database, int(port))
        return
    names = ["glue"]
    if importlib.util.find_spec("fastapi") and importlib.util.find_spec("sqlalchemy"):
        names.append("FastAPI + SQLAlchemy")
    else:
        print("FastAPI or SQLAlchemy is not installed: pip install -e '.[bench]'")
    import uvicorn

    print(f"uvicorn {uvicorn.__version__}, Python {sys.version.split()[0]}")
    with tempfile.TemporaryDirectory() as folder:
        print("\nSQLite, over HTTP:\n")
        servers(f"sqlite:///{folder}/servers.sqlite", names, options)
        print("\nSQLite, glue's HTTP layer against dispatch:\n")
        anyio.run(layer, f"sqlite:///{folder}/layer.sqlite", options)
    try:
        dsn = anyio.run(postgres_database, options.postgres)
    except (OSError, asyncpg.PostgresError) as exc:
        print(f"\nno PostgreSQL at {options.postgres} ({exc}): skipped")
        return
    try:
        print("\nPostgreSQL, over HTTP:\n")
        servers(dsn, names, options)
        print("\nPostgreSQL, glue's HTTP layer against dispatch:\n")
        anyio.run(layer, dsn, options)
    finally:
        anyio.run(drop_database, options.postgres, dsn)


if __name__ == "__main__":
    main()
