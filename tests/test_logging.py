"""glue is quiet: nothing on stdout, nothing below WARNING unless the standard
``logging`` configuration asks, records under their modules' names (#9)."""

from __future__ import annotations

import ast
import json
import logging
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from glue import (
    Actor,
    App,
    Command,
    ConcurrencyConflict,
    Context,
    Domain,
    Forbidden,
    NotFound,
    ValidationError,
)
from glue.errors import FieldError
from glue.log import configure, get_logger

if TYPE_CHECKING:
    from collections.abc import Iterator

GLUE = Path(__file__).resolve().parents[1] / "glue"

# A script that uses glue as a newcomer would: opens an App on SQLite, writes,
# has requests refused (a stale etag, a missing permission, a missing row, an
# invalid value), reads, closes. `{setup}` is how it configures logging.
SCRIPT = """
import logging, sys
import anyio
from glue import (Actor, App, Column, ColumnType, Command, ConcurrencyConflict,
                  Domain, FieldError, Forbidden, NotFound, QueryStatement, Schema,
                  SchemaReference, ValidationError)

{setup}

items = Schema(name="items", primary_key=("id",), columns=(
    Column(name="id", type=ColumnType.INTEGER),
    Column(name="name", type=ColumnType.TEXT),
))

class Add(Command):
    id: int

class Rename(Command):
    id: int
    etag: str

class Purge(Command):
    pass

class Find(Command):
    id: int

class Check(Command):
    pass

shop = Domain("shop")
shop.table(items)

@shop.command(Add)
async def add(cmd, ctx):
    await ctx.state.insert(items, {{"id": cmd.id, "name": "pen"}})

@shop.command(Rename)
async def rename(cmd, ctx):
    await ctx.state.update(items, cmd.id, {{"name": "ink"}}, etag=cmd.etag)

@shop.command(Purge, requires={{"admin"}})
async def purge(cmd, ctx):
    pass

@shop.command(Find)
async def find(cmd, ctx):
    await ctx.state.require(items, cmd.id)

@shop.command(Check)
async def check(cmd, ctx):
    raise ValidationError("shop:check", [FieldError(path="$.id", reason="taken")])

async def main():
    urls = {{"default": "sqlite:///shop.sqlite"}}
    async with App([shop], databases=urls, create_tables=True) as app:
        await app.bus.dispatch(Add(id=1))
        refusals = [
            (Rename(id=1, etag="stale"), ConcurrencyConflict),
            (Purge(), Forbidden),
            (Find(id=2), NotFound),
            (Check(), ValidationError),
        ]
        for command, error in refusals:
            try:
                await app.bus.dispatch(command, actor=Actor(id="ada"))
            except error:
                pass
        await app.query(QueryStatement(table=SchemaReference(name="items")))

anyio.run(main)
"""


def run_script(tmp_path: Path, setup: str) -> subprocess.CompletedProcess[str]:
    script = tmp_path / "script.py"
    script.write_text(SCRIPT.format(setup=setup))
    return subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_unconfigured_glue_prints_nothing(tmp_path: Path) -> None:
    done = run_script(tmp_path, "")
    assert done.returncode == 0, done.stderr
    assert (done.stdout, done.stderr) == ("", "")


def test_basic_config_at_warning_silences_debug_and_info(tmp_path: Path) -> None:
    done = run_script(tmp_path, "logging.basicConfig(level=logging.WARNING)")
    assert done.returncode == 0, done.stderr
    assert (done.stdout, done.stderr) == ("", "")


def test_basic_config_at_debug_shows_glue_on_stderr_by_module(tmp_path: Path) -> None:
    setup = (
        'logging.basicConfig(level=logging.DEBUG, format="%(levelname)s %(name)s '
        '%(message)s")'
    )
    done = run_script(tmp_path, setup)
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""
    lines = done.stderr.splitlines()
    assert any(
        line.startswith("DEBUG glue.connections.pool pool opened pool=default")
        for line in lines
    )
    dispatched = [line for line in lines if "glue.domain.bus dispatched" in line]
    assert len(dispatched) == 1 and "command=shop:add" in dispatched[0]
    # Refused requests are the client's business: info, never warning.
    failed = [line for line in lines if "dispatch failed" in line]
    assert len(failed) == 4
    assert all(line.startswith("INFO glue.domain.bus ") for line in failed)
    assert not [line for line in lines if line.startswith("WARNING")]


@pytest.fixture
def glue_records() -> Iterator[list[logging.LogRecord]]:
    """Records reaching a handler on the ``glue`` logger set to DEBUG."""

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    records: list[logging.LogRecord] = []
    logger, handler = logging.getLogger("glue"), Keep()
    level = logger.level
    logger.setLevel(logging.DEBUG)
    logger.addHandler(handler)
    yield records
    logger.removeHandler(handler)
    logger.setLevel(level)


class Boom(Command):
    pass


class Stale(Command):
    pass


class Purge(Command):
    pass


class Missing(Command):
    pass


def shop() -> Domain:
    domain = Domain("shop")

    @domain.command(Boom)
    async def boom(cmd: Boom, ctx: Context) -> None:
        raise RuntimeError("the disk is on fire")

    @domain.command(Stale)
    async def stale(cmd: Stale, ctx: Context) -> None:
        raise ConcurrencyConflict("items", 1, "etag-the-client-sent")

    @domain.command(Purge, requires={"admin"})
    async def purge(cmd: Purge, ctx: Context) -> None:
        pass

    @domain.command(Missing)
    async def missing(cmd: Missing, ctx: Context) -> None:
        raise NotFound("items", 7)

    return domain


async def test_a_handler_on_glue_receives_records_with_their_fields(
    glue_records: list[logging.LogRecord],
) -> None:
    async with App([shop()]) as app:
        await app.bus.dispatch(
            Purge(), actor=Actor(id="root", permissions=frozenset({"admin"}))
        )
    [record] = glue_records
    assert (record.name, record.levelno) == ("glue.domain.bus", logging.DEBUG)
    fields: dict[str, Any] = vars(record)
    assert fields["domain"] == "shop" and fields["command"] == "shop:purge"
    assert isinstance(fields["request_id"], str) and fields["duration_ms"] >= 0
    assert record.getMessage().startswith(
        f"dispatched request_id={fields['request_id']} domain=shop command=shop:purge "
    )
    assert record.funcName == "_dispatched"  # the caller in glue, not structlog


async def test_refusals_log_at_info_and_faults_at_warning(
    glue_records: list[logging.LogRecord],
) -> None:
    async with App([shop()]) as app:
        for command, error in [
            (Boom(), RuntimeError),
            (Stale(), ConcurrencyConflict),
            (Purge(), Forbidden),
            (Missing(), NotFound),
        ]:
            with pytest.raises(error):
                await app.bus.dispatch(command, request_id=type(command).__name__)
    failed = {
        r.request_id: r.levelname  # type: ignore[attr-defined]
        for r in glue_records
        if r.getMessage().startswith("dispatch failed")
    }
    assert failed == {
        "Boom": "WARNING",
        "Stale": "INFO",
        "Purge": "INFO",
        "Missing": "INFO",
    }


async def test_the_level_follows_the_standard_logger(
    glue_records: list[logging.LogRecord],
) -> None:
    logging.getLogger("glue.domain").setLevel(logging.WARNING)
    try:
        async with App([shop()]) as app:
            await app.bus.dispatch(
                Purge(), actor=Actor(id="a", permissions=frozenset({"admin"}))
            )
            with pytest.raises(Forbidden):
                await app.bus.dispatch(Purge())
    finally:
        logging.getLogger("glue.domain").setLevel(logging.NOTSET)
    assert glue_records == []


def logger_names(path: Path) -> Iterator[tuple[int, str]]:
    """Each logger a module creates: (line, the argument's source)."""
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Call):
            name = ast.unparse(node.func)
            if name.endswith(("get_logger", "getLogger")) and node.args:
                yield node.lineno, ast.unparse(node.args[0])


def test_every_logger_is_named_after_its_module() -> None:
    found = {
        f"{path.relative_to(GLUE.parent)}:{line}": argument
        for path in sorted(GLUE.rglob("*.py"))
        if path.name != "log.py"
        for line, argument in logger_names(path)
    }
    assert found, "glue creates loggers; the scan found none"
    assert {where: a for where, a in found.items() if a != "__name__"} == {}


def test_configure_writes_readable_lines_to_stderr(tmp_path: Path) -> None:
    setup = "import glue.log; glue.log.configure('INFO')"
    done = run_script(tmp_path, setup)
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""
    [line, *_] = [x for x in done.stderr.splitlines() if "shop:purge" in x]
    assert "[info     ] dispatch failed" in line
    assert "[glue.domain.bus]" in line and "command=shop:purge" in line
    assert "dispatched" not in done.stderr  # debug is off


def test_configure_json_writes_one_object_per_record(tmp_path: Path) -> None:
    setup = "import glue.log; glue.log.configure('DEBUG', json=True)"
    done = run_script(tmp_path, setup)
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""
    records = [json.loads(line) for line in done.stderr.splitlines()]
    [dispatched] = [r for r in records if r["event"] == "dispatched"]
    assert dispatched["logger"] == "glue.domain.bus"
    assert dispatched["level"] == "debug" and dispatched["command"] == "shop:add"
    assert {r["logger"] for r in records} <= {
        "glue.domain.bus",
        "glue.connections.pool",
    }


def test_configure_in_process_routes_glue_to_its_handler(
    capsys: pytest.CaptureFixture[str],
) -> None:
    root, glue = logging.getLogger(), logging.getLogger("glue")
    saved = root.handlers[:], root.level, glue.level
    try:
        configure("INFO")
        configure("INFO")  # again: replaces, does not add
        get_logger("glue.work.unit").info("hello", table="items")
    finally:
        root.handlers[:], _, _ = saved
        root.setLevel(saved[1])
        glue.setLevel(saved[2])
    out, err = capsys.readouterr()
    assert out == ""
    assert err.count("hello") == 1


def test_a_message_reads_as_key_value_pairs() -> None:
    error = ValidationError("shop:x", [FieldError(path="$.a", reason="bad value")])
    logger = logging.getLogger("glue.tests.fields")
    seen: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(record)

    handler = Keep()
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        get_logger("glue.tests.fields").info("failed", error=repr(error), name="x")
    finally:
        logger.removeHandler(handler)
        logger.setLevel(logging.NOTSET)
    [record] = seen
    assert record.getMessage() == (
        "failed error=\"ValidationError('invalid shop:x: $.a: bad value')\" name=x"
    )
    # `name` is a LogRecord attribute: the field is kept beside it.
    assert record.name == "glue.tests.fields" and vars(record)["name_"] == "x"
