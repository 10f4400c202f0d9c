"""Every mistake in the configuration (#11) is a `glue.ConfigurationError` that names
the file, variable or flag and the key path; never a raw exception."""

from __future__ import annotations

import textwrap
from typing import TYPE_CHECKING

import pytest

from glue.config import load
from glue.errors import ConfigurationError

if TYPE_CHECKING:
    from pathlib import Path


@pytest.fixture(autouse=True)
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


def fails(
    *,
    glue_toml: str | None = None,
    pyproject: str | None = None,
    environ: dict[str, str] | None = None,
    flags: dict[str, object] | None = None,
) -> str:
    """The message of the error loading these layers raises."""
    for name, text in (("glue.toml", glue_toml), ("pyproject.toml", pyproject)):
        if text is not None:
            with open(name, "w") as file:
                file.write(textwrap.dedent(text))
    with pytest.raises(ConfigurationError) as caught:
        load(environ=environ or {}, flags=flags)
    return str(caught.value)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            '[serve]\nport = "eighty"\n',
            "glue.toml: serve.port: Expected `int`, got `str`",
        ),
        ("[serve]\nport = 70000\n", "glue.toml: serve.port: Expected `int` <= 65535"),
        (
            '[databases]\norders = { url = "sqlite:///a.db", max_size = 0 }\n',
            "glue.toml: databases.orders.max_size: Expected `int` >= 1",
        ),
        (
            "[databases]\norders = 5\n",
            "glue.toml: databases.orders.url: Expected `str`, got `int`",
        ),
        (
            "[databases.orders]\nmax_size = 2\n",
            "glue.toml: databases.orders: Object missing required field `url`",
        ),
        (
            '[databases.orders]\nurl = "sqlite:///a.db"\npool_size = 2\n',
            "glue.toml: databases.orders.pool_size: unknown key (known: url, "
            "min_size, max_size, acquire_timeout, lock_timeout, statement_timeout)",
        ),
        ('databases = "sqlite:///a.db"\n', "glue.toml: databases: expected a table"),
        (
            "[srve]\nport = 1\n",
            "glue.toml: srve: unknown key (known: app, databases, pool, logging, "
            "serve)",
        ),
        (
            "[serve]\nprot = 1\n",
            "glue.toml: serve.prot: unknown key (known: host, port, workers, reload)",
        ),
        (
            "[pool]\nacquire_timeout = 0\n",
            "glue.toml: pool.acquire_timeout: Expected `float` > 0.0",
        ),
        (
            '[logging]\nlevel = "loud"\n',
            "glue.toml: logging.level: expected one of DEBUG, INFO, WARNING, ERROR, "
            "CRITICAL, in any case",
        ),
        ("serve = 1\n", "glue.toml: serve: Expected `object`, got `int`"),
    ],
)
def test_a_bad_value_in_the_file(text: str, message: str) -> None:
    assert fails(glue_toml=text) == message


def test_toml_that_does_not_parse() -> None:
    message = fails(glue_toml="[serve\nport = 1\n")
    assert message.startswith("glue.toml: not valid TOML: ")
    assert "line 1" in message


def test_a_bad_value_in_pyproject_is_named_by_its_key_there() -> None:
    assert fails(pyproject="[tool.glue.serve]\nport = -1\n") == (
        "pyproject.toml: tool.glue.serve.port: Expected `int` >= 0"
    )
    assert fails(pyproject='[tool]\nglue = "shop:app"\n') == (
        "pyproject.toml: tool.glue: expected a table"
    )


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        (
            {"GLUE_SERVE__PORT": "eighty"},
            "GLUE_SERVE__PORT='eighty': serve.port: Expected `int`, got `str`",
        ),
        (
            {"GLUE_POOL__MAX_SIZE": "lots"},
            "GLUE_POOL__MAX_SIZE='lots': pool.max_size: Expected `int`, got `str`",
        ),
        (
            {"GLUE_SERVE__RELOAD": "maybe"},
            "GLUE_SERVE__RELOAD='maybe': serve.reload: Expected `bool`, got `str`",
        ),
        (
            {"GLUE_SERVE__PORTS": "1"},
            "GLUE_SERVE__PORTS='1': serve.ports: unknown key (known: host, port, "
            "workers, reload)",
        ),
        (
            {"GLUE_DATABASES__ORDERS__MAX_SIZE": "3"},
            "GLUE_DATABASES__ORDERS__MAX_SIZE: databases.orders: Object missing "
            "required field `url`",
        ),
        (
            {"GLUE_DATABASES__ORDERS": "postgresql://app:secret@db/o?max_size=x"},
            "GLUE_DATABASES__ORDERS: databases.orders.url: max_size='x' in the "
            "URL's query: Expected `int`, got `str`",
        ),
        (
            {"GLUE_LOGGING__LEVEL": "loud"},
            "GLUE_LOGGING__LEVEL='loud': logging.level: expected one of DEBUG, INFO, "
            "WARNING, ERROR, CRITICAL, in any case",
        ),
        (
            {"GLUE_POOL____MAX_SIZE": "1"},
            "GLUE_POOL____MAX_SIZE: an empty key in the name: separate keys with "
            "one __",
        ),
        ({"GLUE_SERVE": "x"}, "GLUE_SERVE='x': serve: Expected `object`, got `str`"),
    ],
)
def test_a_bad_variable(environ: dict[str, str], message: str) -> None:
    assert fails(environ=environ) == message


def test_a_password_never_shows_in_an_error() -> None:
    message = fails(
        environ={"GLUE_DATABASES__ORDERS": "postgresql://app:secret@db/o?max_size=0"}
    )
    assert "secret" not in message
    assert message.startswith("GLUE_DATABASES__ORDERS: databases.orders.url: ")


def test_a_bad_flag() -> None:
    assert fails(flags={"serve.port": "x"}) == (
        "command line: serve.port: Expected `int`, got `str`"
    )


def test_the_layer_that_set_the_bad_value_is_named() -> None:
    message = fails(
        glue_toml="[serve]\nport = 8000\n", environ={"GLUE_SERVE__PORT": "-5"}
    )
    assert message == "GLUE_SERVE__PORT='-5': serve.port: Expected `int` >= 0"


def test_a_file_named_but_missing(folder: Path) -> None:
    with pytest.raises(ConfigurationError) as caught:
        load(folder / "prod.toml", environ={})
    assert str(caught.value) == f"{folder / 'prod.toml'}: no such configuration file"


def test_a_file_that_cannot_be_read(folder: Path) -> None:
    (folder / "glue.toml").write_bytes(b'app = "\xff"\n')
    with pytest.raises(ConfigurationError, match=r"^glue\.toml: not valid TOML"):
        load(environ={})


def test_a_pyproject_named_explicitly_needs_a_glue_table(folder: Path) -> None:
    (folder / "pyproject.toml").write_text('[project]\nname = "shop"\n')
    with pytest.raises(ConfigurationError) as caught:
        load("pyproject.toml", environ={})
    assert str(caught.value) == "pyproject.toml: no [tool.glue] table"
