"""The command line and the configuration (#11): ``glue config`` shows it and its
sources with passwords hidden; ``--app``, databases and logging come from it."""

from __future__ import annotations

import json
import textwrap
from typing import TYPE_CHECKING

import pytest

from domains.shop.app import DATABASE_ENV, ORDERS_DATABASE_ENV

from .conftest import APP, ROOT

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from .conftest import Result

    Glue = Callable[..., Result]

RESTOCK = ("inventory:restock", '{"sku": "APL-001", "quantity": 2}')


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No ``GLUE_`` variable from outside; the repository root as the working
    directory (where ``domains/`` imports from)."""
    monkeypatch.delenv(DATABASE_ENV, raising=False)
    monkeypatch.delenv(ORDERS_DATABASE_ENV, raising=False)
    monkeypatch.chdir(ROOT)


def write(path: Path, text: str) -> str:
    path.write_text(textwrap.dedent(text))
    return str(path)


def test_glue_config_shows_values_and_their_sources(
    clean_env: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, glue: Glue
) -> None:
    config = write(
        tmp_path / "glue.toml",
        """
        app = "domains.shop.app:make_app"
        [databases]
        default = "sqlite:///shop.sqlite"
        [pool]
        max_size = 4
        """,
    )
    monkeypatch.setenv("GLUE_DATABASES__ORDERS", "postgresql://app:s3cret@db/orders")
    monkeypatch.setenv("GLUE_SERVE__PORT", "9000")
    monkeypatch.setenv("GLUE_NOT_A_SETTING", "x")
    done = glue("config", "--config", config, "--log-level", "info")
    assert (done.code, done.err) == (0, "")
    assert "s3cret" not in done.out
    file = f"file {config}"
    rows = [line.split() for line in done.out.splitlines()]
    assert rows == [
        ["app", '"domains.shop.app:make_app"', *file.split()],
        ["databases.default.url", '"sqlite:///shop.sqlite"', *file.split()],
        ["databases.default.max_size", "4", *file.split()],
        ["databases.orders.url", '"postgresql://app@db/orders"', "env",
         "GLUE_DATABASES__ORDERS"],
        ["databases.orders.max_size", "4", *file.split()],
        ["pool.max_size", "4", *file.split()],
        ["logging.level", '"INFO"', "flag", "logging.level"],
        ["logging.json", "false", "default"],
        ["serve.host", '"127.0.0.1"', "default"],
        ["serve.port", "9000", "env", "GLUE_SERVE__PORT"],
        ["serve.workers", "1", "default"],
        ["serve.reload", "false", "default"],
        ["note:", "GLUE_NOT_A_SETTING:", "not", "read:", "names", "no", "setting",
         "(settings:", "app,", "databases,", "pool,", "logging,", "serve)"],
    ]  # fmt: skip


def test_glue_config_as_json_hides_passwords_too(
    clean_env: None, monkeypatch: pytest.MonkeyPatch, glue: Glue
) -> None:
    monkeypatch.setenv(
        "GLUE_DATABASES__ORDERS", "postgresql://app:s3cret@db/orders?password=s3cret"
    )
    done = glue("config", "--json")
    assert done.code == 0, done.err
    assert "s3cret" not in done.out
    document = json.loads(done.out)
    assert document["config"]["databases"] == {
        "orders": {"url": "postgresql://app@db/orders"}
    }
    assert document["sources"]["databases.orders.url"] == "env GLUE_DATABASES__ORDERS"
    assert document["sources"]["serve.port"] == "default"


def test_a_bad_configuration_is_one_line(
    clean_env: None, monkeypatch: pytest.MonkeyPatch, glue: Glue
) -> None:
    monkeypatch.setenv("GLUE_SERVE__PORT", "eighty")
    for argv in (("config",), ("schema", "--app", APP)):
        done = glue(*argv)
        assert (done.code, done.out) == (1, "")
        assert done.err == (
            "glue: GLUE_SERVE__PORT='eighty': serve.port: Expected `int`, got `str`\n"
        )


def test_the_app_and_its_databases_from_a_file(
    clean_env: None, tmp_path: Path, glue: Glue
) -> None:
    config = write(
        tmp_path / "shop.toml",
        f"""
        app = "{APP}"
        [databases]
        default = "sqlite:///{tmp_path / "from-config.sqlite"}"
        """,
    )
    done = glue("dispatch", "--config", config, *RESTOCK)
    assert (done.code, done.out, done.err) == (0, "{}\n", "")
    # The factory was given the configuration of --config: it did not read
    # the working directory's (which names no database) for itself.
    assert (tmp_path / "from-config.sqlite").exists()


def test_a_bad_database_stops_the_command_before_the_app_is_built(
    clean_env: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, glue: Glue
) -> None:
    monkeypatch.setenv("GLUE_APP", APP)
    url = f"sqlite:///{tmp_path / 'shop.sqlite'}?max_size=0"
    monkeypatch.setenv(DATABASE_ENV, url)
    done = glue("dispatch", *RESTOCK)
    assert (done.code, done.out) == (1, "")
    assert done.err == (
        f"glue: {DATABASE_ENV}: databases.default.url: max_size='0' in the URL's "
        "query: Expected `int` >= 1\n"
    )
    assert not (tmp_path / "shop.sqlite").exists()


def test_the_app_flag_wins_over_the_configuration(
    clean_env: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, glue: Glue
) -> None:
    monkeypatch.setenv("GLUE_APP", "no_such_module:app")
    monkeypatch.setenv(DATABASE_ENV, f"sqlite:///{tmp_path / 'shop.sqlite'}")
    assert glue("dispatch", "--app", APP, *RESTOCK).code == 0
    done = glue("dispatch", *RESTOCK)
    assert done.code == 1
    assert done.err.startswith(
        "glue: GLUE_APP 'no_such_module:app': cannot import module 'no_such_module'"
    )


def test_a_bad_app_in_a_file_names_the_file_and_key(
    clean_env: None, tmp_path: Path, glue: Glue
) -> None:
    config = write(tmp_path / "pyproject.toml", '[tool.glue]\napp = "shop"\n')
    done = glue("schema", "--config", config)
    assert done.err == (
        f"glue: {config}: tool.glue.app 'shop': expected MODULE:ATTR, such as "
        "'domains.shop.app:make_app'\n"
    )


def test_logging_from_the_configuration(
    clean_env: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, glue: Glue
) -> None:
    monkeypatch.setenv(DATABASE_ENV, f"sqlite:///{tmp_path / 'shop.sqlite'}")
    quiet = glue("dispatch", "--app", APP, *RESTOCK)
    assert (quiet.code, quiet.err) == (0, "")
    monkeypatch.setenv("GLUE_LOGGING__LEVEL", "debug")
    monkeypatch.setenv("GLUE_LOGGING__JSON", "true")
    loud = glue("dispatch", "--app", APP, *RESTOCK)
    assert loud.code == 0
    records = [json.loads(line) for line in loud.err.splitlines()]
    assert {"event": "dispatched", "command": "inventory:restock"}.items() <= next(
        r for r in records if r["event"] == "dispatched"
    ).items()
    # A flag wins over the environment.
    flagged = glue("dispatch", "--app", APP, "--log-level", "error", *RESTOCK)
    assert (flagged.code, flagged.err) == (0, "")
