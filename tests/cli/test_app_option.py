"""``--app MODULE:ATTR``: an App or a factory, imported from the current
directory; every mistake in it is one clear line and exit status 1."""

from __future__ import annotations

import sys
import textwrap
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from .conftest import Result

    Glue = Callable[..., Result]

TINY_APP = """
from glue import App, Command, Context, Domain, Response


class Echo(Command):
    text: str


class Echoed(Response):
    text: str


tiny = Domain("tiny")


@tiny.command(Echo)
async def echo(cmd: Echo, ctx: Context) -> Echoed:
    return Echoed(text=cmd.text.upper())


app = App([tiny])


def broken() -> App:
    raise RuntimeError("no configuration found")
"""


@pytest.fixture
def project(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> str:
    """A folder holding one module with an App in it, as the working
    directory; returns the module's name (unique per test, so that importing
    it in this process builds a new App)."""
    name = f"tiny_{abs(hash(request.node.nodeid))}"
    (tmp_path / f"{name}.py").write_text(textwrap.dedent(TINY_APP))
    (tmp_path / "broken_module.py").write_text("import nothing_of_that_name\n")
    (tmp_path / "raising_module.py").write_text("1 / 0\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))
    return name


def test_an_app_instance_from_the_current_directory(project: str, glue: Glue) -> None:
    done = glue("dispatch", "--app", f"{project}:app", "tiny:echo", '{"text": "hi"}')
    assert (done.code, done.out, done.err) == (0, '{"text":"HI"}\n', "")


def test_a_dotted_attribute(project: str, glue: Glue) -> None:
    done = glue(
        "dispatch", "--app", f"{project}:echo.__name__", "tiny:echo", '{"text": "x"}'
    )
    assert done.code == 1
    assert done.err == (
        f"glue: --app '{project}:echo.__name__': 'echo.__name__' is a str, neither "
        "an App nor a factory returning one\n"
    )


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("tiny", "expected MODULE:ATTR, such as 'domains.shop.app:make_app'"),
        (":app", "expected MODULE:ATTR"),
        (
            "no_such_module:app",
            "cannot import module 'no_such_module' (No module named "
            "'no_such_module'); run glue from the folder the module is found from",
        ),
        (
            "broken_module:app",
            "cannot import module 'broken_module' (No module named "
            "'nothing_of_that_name')",
        ),
        (
            "raising_module:app",
            "importing 'raising_module' raised ZeroDivisionError: division by zero",
        ),
    ],
)
def test_a_bad_app_is_one_line(
    project: str, glue: Glue, spec: str, message: str
) -> None:
    done = glue("schema", "--app", spec)
    assert (done.code, done.out) == (1, "")
    assert done.err.startswith(f"glue: --app {spec!r}: {message}")
    assert done.err.count("\n") == 1


def test_what_the_attribute_names_is_checked(project: str, glue: Glue) -> None:
    missing = glue("schema", "--app", f"{project}:nope")
    assert missing.err == (
        f"glue: --app '{project}:nope': module '{project}' has no attribute 'nope'\n"
    )
    domain = glue("schema", "--app", f"{project}:tiny")
    assert domain.err == (
        f"glue: --app '{project}:tiny': 'tiny' is a Domain, neither an App nor a "
        "factory returning one\n"
    )
    command = glue("schema", "--app", f"{project}:Echo")
    assert command.err.startswith(
        f"glue: --app '{project}:Echo': calling Echo() raised TypeError: "
    )
    raising = glue("schema", "--app", f"{project}:broken")
    assert raising.err == (
        f"glue: --app '{project}:broken': calling broken() raised RuntimeError: "
        "no configuration found\n"
    )
    assert {missing.code, domain.code, command.code, raising.code} == {1}


def test_an_app_without_databases_has_no_schema(project: str, glue: Glue) -> None:
    done = glue("schema", "--app", f"{project}:app")
    assert done.code == 1
    assert done.err == (
        "glue: this App has no databases: give them with `App([...], "
        "databases={...})`\n"
    )


def test_the_app_is_required(project: str, glue: Glue) -> None:
    done = glue("schema")
    assert done.code == 2
    assert done.err == (
        "glue schema: error: no app: give --app MODULE:ATTR, or "
        'app = "MODULE:ATTR" in glue.toml, or GLUE_APP\n'
    )


@pytest.mark.parametrize("command", ["dispatch", "query", "explain", "schema"])
def test_help_names_the_app_option(glue: Glue, command: str) -> None:
    done = glue(command, "--help")
    assert done.code == 0
    assert "--app MODULE:ATTR" in done.out
