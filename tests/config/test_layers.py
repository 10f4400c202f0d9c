"""`glue.config` (#11): defaults, then a file, then the environment, then flags,
each overriding the one below key by key, with where each value came from."""

from __future__ import annotations

import textwrap
from typing import TYPE_CHECKING

import msgspec
import pytest

from glue.config import Config, LoggingConfig, ServeConfig, Source, load, resolve
from glue.connections import Database, PoolOptions

if TYPE_CHECKING:
    from pathlib import Path

DEFAULT = Source("default")


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty working directory."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


def write(folder: Path, text: str, name: str = "glue.toml") -> None:
    (folder / name).write_text(textwrap.dedent(text))


def test_with_no_layer_the_defaults(folder: Path) -> None:
    resolved = resolve(environ={})
    assert resolved.config == Config()
    assert resolved.config.serve == ServeConfig(
        host="127.0.0.1", port=8000, workers=1, reload=False
    )
    assert resolved.sources == {
        "app": DEFAULT,
        "logging.level": DEFAULT,
        "logging.json": DEFAULT,
        "serve.host": DEFAULT,
        "serve.port": DEFAULT,
        "serve.workers": DEFAULT,
        "serve.reload": DEFAULT,
    }
    assert resolved.notes == ()


def test_each_layer_overrides_the_one_below(folder: Path) -> None:
    write(
        folder,
        """
        app = "shop:make_app"
        [serve]
        host = "0.0.0.0"
        port = 8001
        workers = 2
        """,
    )
    environ = {"GLUE_SERVE__PORT": "8002", "GLUE_SERVE__WORKERS": "3"}
    resolved = resolve(environ=environ, flags={"serve.port": 8003, "app": None})
    assert resolved.config.serve == ServeConfig(
        host="0.0.0.0", port=8003, workers=3, reload=False
    )
    assert resolved.config.app == "shop:make_app"  # a None flag sets nothing
    sources = resolved.sources
    assert sources["serve.port"] == Source("flag", "serve.port")
    assert sources["serve.workers"] == Source("env", "GLUE_SERVE__WORKERS")
    assert sources["serve.host"] == Source("file", "glue.toml")
    assert sources["serve.reload"] == DEFAULT
    assert sources["app"] == Source("file", "glue.toml")
    assert [str(sources[key]) for key in ("serve.port", "serve.workers")] == [
        "flag serve.port",
        "env GLUE_SERVE__WORKERS",
    ]


def test_environment_variables_nest_and_read_as_their_setting_s_type(
    folder: Path,
) -> None:
    environ = {
        "GLUE_APP": "shop:make_app",
        "GLUE_DATABASES__ORDERS": "postgresql://app:secret@db/orders",
        "GLUE_DATABASES__ORDERS__MAX_SIZE": "20",
        "GLUE_DATABASES__ORDERS__LOCK_TIMEOUT": "2.5",
        "GLUE_POOL__ACQUIRE_TIMEOUT": "null",
        "GLUE_SERVE__RELOAD": "true",
        "GLUE_LOGGING__JSON": "1",
        "GLUE_LOGGING__LEVEL": "debug",
        "PATH": "/bin",
    }
    config = load(environ=environ)
    assert config.databases == {
        "orders": Database(
            url="postgresql://app:secret@db/orders",
            max_size=20,
            lock_timeout=2.5,
            acquire_timeout=None,
        )
    }
    assert config.pool == PoolOptions(acquire_timeout=None)
    assert config.logging == LoggingConfig(level="DEBUG", json=True)
    assert config.serve.reload is True
    assert config.app == "shop:make_app"


@pytest.mark.parametrize(
    ("text", "value"), [("true", True), ("1", True), ("False", False), ("0", False)]
)
def test_booleans_from_the_environment(folder: Path, text: str, value: bool) -> None:
    assert load(environ={"GLUE_SERVE__RELOAD": text}).serve.reload is value


def test_os_environ_by_default(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GLUE_SERVE__PORT", "9000")
    assert load().serve.port == 9000


def test_a_layer_changes_a_url_and_keeps_the_options_set_below(folder: Path) -> None:
    write(
        folder,
        """
        [databases]
        orders = { url = "sqlite:///a.db", max_size = 20 }
        """,
    )
    resolved = resolve(environ={"GLUE_DATABASES__ORDERS": "sqlite:///b.db"})
    assert resolved.config.databases["orders"] == Database(
        url="sqlite:///b.db", max_size=20
    )
    assert resolved.sources["databases.orders.url"] == Source(
        "env", "GLUE_DATABASES__ORDERS"
    )
    assert resolved.sources["databases.orders.max_size"] == Source("file", "glue.toml")


def test_pool_options_fill_what_each_database_leaves_unset(folder: Path) -> None:
    write(
        folder,
        """
        [databases]
        default = "sqlite:///shop.db"
        orders = { url = "sqlite:///orders.db", max_size = 3 }
        [pool]
        max_size = 7
        """,
    )
    resolved = resolve(environ={"GLUE_POOL__ACQUIRE_TIMEOUT": "2"})
    assert resolved.config.databases == {
        "default": Database(url="sqlite:///shop.db", max_size=7, acquire_timeout=2),
        "orders": Database(url="sqlite:///orders.db", max_size=3, acquire_timeout=2),
    }
    assert resolved.config.pool == PoolOptions(max_size=7, acquire_timeout=2)
    sources = resolved.sources
    assert sources["databases.default.max_size"] == Source("file", "glue.toml")
    assert sources["databases.orders.acquire_timeout"] == Source(
        "env", "GLUE_POOL__ACQUIRE_TIMEOUT"
    )


def test_pool_options_in_a_url_s_query(folder: Path) -> None:
    environ = {"GLUE_DATABASES__ORDERS": "sqlite:///orders.db?max_size=4"}
    assert load(environ=environ).databases["orders"] == Database(
        url="sqlite:///orders.db", max_size=4
    )


def test_the_pyproject_table_when_there_is_no_glue_toml(folder: Path) -> None:
    write(
        folder,
        """
        [project]
        name = "shop"
        [tool.glue]
        app = "shop:make_app"
        [tool.glue.serve]
        port = 8100
        """,
        name="pyproject.toml",
    )
    resolved = resolve(environ={})
    assert (resolved.config.app, resolved.config.serve.port) == ("shop:make_app", 8100)
    assert resolved.sources["app"] == Source(
        "file", "pyproject.toml", prefix="tool.glue"
    )
    assert resolved.notes == ()


def test_glue_toml_wins_over_pyproject(folder: Path) -> None:
    write(folder, 'app = "from_glue_toml:app"\n')
    write(
        folder,
        '[tool.glue]\napp = "from_pyproject:app"\n[tool.glue.serve]\nport = 1\n',
        name="pyproject.toml",
    )
    resolved = resolve(environ={})
    assert resolved.config.app == "from_glue_toml:app"
    assert resolved.config.serve.port == 8000  # not merged: one file is read
    assert resolved.notes == (
        "pyproject.toml: [tool.glue] not read: glue.toml is there, and wins",
    )


def test_a_pyproject_without_a_glue_table_is_no_layer(folder: Path) -> None:
    write(folder, '[project]\nname = "shop"\n', name="pyproject.toml")
    assert resolve(environ={}).config == Config()


def test_a_file_named_explicitly(folder: Path) -> None:
    (folder / "deploy").mkdir()
    write(folder, 'app = "here:app"\n')
    write(folder, 'app = "there:app"\n', name="deploy/prod.toml")
    resolved = resolve(folder / "deploy" / "prod.toml", environ={})
    assert resolved.config.app == "there:app"
    assert resolved.sources["app"] == Source("file", str(folder / "deploy/prod.toml"))


def test_variables_that_name_no_setting_are_left_and_noted(folder: Path) -> None:
    environ = {"GLUE_TEST_POSTGRES_DSN": "postgresql://x", "GLUE_DATABSES__A": "b"}
    resolved = resolve(environ=environ)
    assert resolved.config == Config()
    assert resolved.notes == (
        "GLUE_DATABSES__A: not read: names no setting (settings: app, databases, "
        "pool, logging, serve)",
        "GLUE_TEST_POSTGRES_DSN: not read: names no setting (settings: app, "
        "databases, pool, logging, serve)",
    )


def test_the_config_is_frozen(folder: Path) -> None:
    config = load(environ={})
    with pytest.raises(AttributeError):
        config.app = "other:app"  # type: ignore[misc]
    assert msgspec.structs.replace(config, app="other:app").app == "other:app"


def test_a_broken_pyproject_that_glue_toml_overrides_is_no_error(folder: Path) -> None:
    write(folder, 'app = "shop:app"\n')
    write(folder, "[tool.glue\n", name="pyproject.toml")
    resolved = resolve(environ={})
    assert (resolved.config.app, resolved.notes) == ("shop:app", ())
