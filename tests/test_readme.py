"""Every Python block of README.md runs as written, so none can rot (#9).

The conventions, for whoever adds a block:

- A ```` ```python ```` block is a whole program: its imports, and
  ``asyncio.run(main())`` (or ``anyio.run``) around what it awaits. Each runs
  alone, as a script in a fresh empty directory (SQLite files land there), and
  must exit on its own with status 0 and nothing on stderr. Printing is welcome.
- A block that reads ``ORDERS_DATABASE_URL`` (defaulting to a SQLite file) runs
  twice: without it, and with it set to a fresh PostgreSQL database.
- A block that truly cannot run (prefer making it run) has the line
  ``<!-- readme: not run, <why> -->`` right above its fence; it is reported as
  skipped with that reason. Other languages (``console``, ``sql``) never run.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

import pytest

if TYPE_CHECKING:
    from _pytest.mark import ParameterSet

README = Path(__file__).resolve().parents[1] / "README.md"
POSTGRES_ENV = "ORDERS_DATABASE_URL"
TIMEOUT = 60
"""Seconds a block may take; one that has not exited by then hangs."""

_FENCE = re.compile(r"^```python\n(.*?)^```$", re.MULTILINE | re.DOTALL)
_NOT_RUN = re.compile(r"<!-- readme: not run, (.+?) -->\n\Z")


class Block(NamedTuple):
    """One Python block of the README."""

    id: str  # its line and the heading above it: "L27-a-domain-in-twenty-lines"
    code: str
    not_run: str | None  # why it does not run, or None


def blocks(text: str) -> list[Block]:
    found = []
    for match in _FENCE.finditer(text):
        before = text[: match.start()]
        line = before.count("\n") + 1
        headings = re.findall(r"^#+ (.+)$", before, re.MULTILINE)
        slug = re.sub(r"\W+", "-", headings[-1].lower()).strip("-") if headings else ""
        reason = _NOT_RUN.search(before)
        found.append(
            Block(f"L{line}-{slug}", match.group(1), reason and reason.group(1))
        )
    return found


BLOCKS = blocks(README.read_text())


def cases() -> list[ParameterSet]:
    runs: list[ParameterSet] = []
    for block in BLOCKS:
        marks = [pytest.mark.skip(reason=block.not_run)] if block.not_run else []
        runs.append(pytest.param(block, False, id=block.id, marks=marks))
        if POSTGRES_ENV in block.code:
            pg = [*marks, pytest.mark.postgres]
            runs.append(pytest.param(block, True, id=f"{block.id}-pg", marks=pg))
    return runs


@pytest.mark.parametrize(("block", "on_postgres"), cases())
def test_the_block_runs(
    block: Block, on_postgres: bool, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    env = {k: v for k, v in os.environ.items() if k != POSTGRES_ENV}
    if on_postgres:
        env[POSTGRES_ENV] = request.getfixturevalue("postgres_dsn")
    script = tmp_path / "readme_block.py"
    script.write_text(block.code)
    try:
        done = subprocess.run(
            [sys.executable, script.name],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"README block {block.id} did not exit within {TIMEOUT} s")
    assert done.returncode == 0, f"README block {block.id} failed:\n{done.stderr}"
    assert done.stderr == "", f"README block {block.id} wrote to stderr"


def test_every_python_block_is_found() -> None:
    assert len(BLOCKS) == README.read_text().count("```python\n") > 0


def test_a_block_opts_out_only_with_a_reason_right_above_it() -> None:
    text = (
        "# Title\n\n## Start here\n\n```python\nprint(1)\n```\n\n"
        "<!-- readme: not run, it needs a GPU -->\n```python\nimport cuda\n```\n\n"
        "```console\n$ glue demo\n```\n"
    )
    assert blocks(text) == [
        Block("L5-start-here", "print(1)\n", None),
        Block("L10-start-here", "import cuda\n", "it needs a GPU"),
    ]
