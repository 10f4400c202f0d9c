"""Layered configuration: defaults, then a file, then the environment, then flags.

Each layer sets values key by key (``databases.orders.max_size``) over the ones
below it:

1. **defaults**: those of `Config`;
2. **a file**: ``glue.toml`` in the working directory, or else the ``[tool.glue]``
   table of its ``pyproject.toml``. When both exist, ``glue.toml`` wins and the
   ``pyproject.toml`` table is not read at all (as ruff does with ``ruff.toml``);
3. **the environment**: ``GLUE_`` then the key path, ``__`` between its parts,
   in capitals: ``GLUE_DATABASES__ORDERS=postgresql://...``,
   ``GLUE_POOL__MAX_SIZE=20``, ``GLUE_LOGGING__LEVEL=debug``. Values are text,
   read as the setting's type: ``20``, ``2.5``, ``true``/``false``/``1``/``0``,
   ``null`` for None. A variable whose first part names no setting
   (``GLUE_TEST_POSTGRES_DSN``) is left alone and listed in `Resolved.notes`;
4. **flags**: values the command line gives, by key path.

A database given as a URL is the table ``{url = ...}``, so a layer may change
a database's URL and keep the pool options set below it, or the other way round.
Then ``[pool]`` fills each database's unset pool options.

Every mistake is a `glue.ConfigurationError` naming where the value came from
and its key: ``glue.toml: databases.orders.max_size: Expected `int` >= 1``,
``GLUE_SERVE__PORT=eighty: serve.port: Expected `int`, got `str```.
"""

from __future__ import annotations

import contextlib
import os
import re
import tomllib
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import msgspec

from ..connections.options import Database, PoolOptions
from ..entities.codec import field_error
from ..errors import ConfigurationError
from .settings import LEVELS, Config, LoggingConfig, ServeConfig

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = [
    "CONFIG_FILE",
    "ENV_PREFIX",
    "PYPROJECT",
    "Resolved",
    "Source",
    "load",
    "resolve",
]

CONFIG_FILE = "glue.toml"
"""The configuration file looked for in the working directory."""

PYPROJECT = "pyproject.toml"
"""Read for its ``[tool.glue]`` table when there is no `CONFIG_FILE`."""

ENV_PREFIX = "GLUE_"
"""The prefix of the environment variables that set values."""

_SEPARATOR = "__"
_UNKNOWN = re.compile(r"Object contains unknown field `(.+)`")

_Key = tuple[str, ...]


class Source(msgspec.Struct, frozen=True):
    """Where a value came from.

    Attributes:
        layer: ``"default"``, ``"file"``, ``"env"`` or ``"flag"``.
        name: the file, the variable, or the flag's key path; empty for a
            default.
        prefix: the key path of the file's glue table (``tool.glue`` in
            ``pyproject.toml``); empty elsewhere.
    """

    layer: Literal["default", "file", "env", "flag"]
    name: str = ""
    prefix: str = ""

    def __str__(self) -> str:
        return f"{self.layer} {self.name}".rstrip()


class Resolved(msgspec.Struct, frozen=True, kw_only=True):
    """A configuration and where each of its values came from.

    Attributes:
        config: the configuration.
        sources: key path (``"databases.orders.url"``) → where its value came
            from, for every value set by a layer or by default.
        notes: what was read around it and left: a ``pyproject.toml`` table
            that ``glue.toml`` overrode, variables that name no setting.
    """

    config: Config
    sources: dict[str, Source]
    notes: tuple[str, ...] = ()


def load(
    path: str | os.PathLike[str] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    flags: Mapping[str, object] | None = None,
) -> Config:
    """Read the configuration from its layers; see `resolve`.

    An App factory reads its databases here::

        def make_app(config: Config | None = None) -> App:
            config = config or glue.config.load()
            return App([shop], databases=config.databases)

    Raises:
        glue.ConfigurationError: naming the file or variable and the key.
    """
    return resolve(path, environ=environ, flags=flags).config


def resolve(
    path: str | os.PathLike[str] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    flags: Mapping[str, object] | None = None,
) -> Resolved:
    """Read the configuration from its layers, and where each value came from.

    Args:
        path: the file to read, which must exist (a ``pyproject.toml`` is read
            for its ``[tool.glue]`` table); by default ``glue.toml`` or else
            ``pyproject.toml`` in the working directory, when there is one.
        environ: the environment; ``os.environ`` when None.
        flags: key path → value from the command line (``{"app": ...,
            "logging.level": ...}``); a None value sets nothing.

    Raises:
        glue.ConfigurationError: an unreadable file, TOML that does not parse,
            an unknown key, or a value that does not fit; the message names the
            file, variable or flag, and the key path.
    """
    notes: list[str] = []
    layers = [_leaves(msgspec.to_builtins(Config()), (), Source("default"))]
    file = _file(path, notes)
    if file is not None:
        layers.append(file)
    layers.append(_environment(os.environ if environ is None else environ, notes))
    layers.append(
        {
            tuple(key.split(".")): (value, Source("flag", key))
            for key, value in (flags or {}).items()
            if value is not None
        }
    )
    merged: dict[str, Any] = {}
    sources: dict[_Key, Source] = {}
    for layer in layers:
        for key, (value, source) in layer.items():
            _set(merged, sources, _normal(key), value, source)
    _fill_pools(merged, sources)
    config = _convert(merged, sources)
    return Resolved(
        config=config,
        sources={".".join(key): source for key, source in sources.items()},
        notes=tuple(notes),
    )


def _file(
    path: str | os.PathLike[str] | None, notes: list[str]
) -> dict[_Key, tuple[Any, Source]] | None:
    """The file layer: the file named, or the one found in the working directory."""
    if path is None:
        found = Path(CONFIG_FILE)
        if not found.is_file():
            found = Path(PYPROJECT)
            if not found.is_file():
                return None
        elif Path(PYPROJECT).is_file():
            with contextlib.suppress(ConfigurationError):  # not read: no error
                if _glue_table(Path(PYPROJECT)) is not None:
                    notes.append(
                        f"{PYPROJECT}: [tool.glue] not read: {CONFIG_FILE} is "
                        "there, and wins"
                    )
    else:
        found = Path(path)
        if not found.is_file():
            raise ConfigurationError(f"{found}: no such configuration file")
    if found.name != PYPROJECT:
        return _leaves(_read(found), (), Source("file", str(found)))
    table = _glue_table(found)
    if table is None:
        if path is not None:
            raise ConfigurationError(f"{found}: no [tool.glue] table")
        return None
    return _leaves(table, (), Source("file", str(found), prefix="tool.glue"))


def _glue_table(path: Path) -> dict[str, Any] | None:
    """The ``[tool.glue]`` table of a ``pyproject.toml``, if it has one."""
    tool = _read(path).get("tool", {})
    table = tool.get("glue") if isinstance(tool, dict) else None
    if table is not None and not isinstance(table, dict):
        raise ConfigurationError(f"{path}: tool.glue: expected a table")
    return table


def _read(path: Path) -> dict[str, Any]:
    """The TOML document in ``path``."""
    try:
        with path.open("rb") as stream:
            return tomllib.load(stream)
    except OSError as exc:
        raise ConfigurationError(f"{path}: cannot read it ({exc.strerror})") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigurationError(f"{path}: not valid TOML: {exc}") from None


def _environment(
    environ: Mapping[str, str], notes: list[str]
) -> dict[_Key, tuple[Any, Source]]:
    """The environment layer: every ``GLUE_`` variable that names a setting."""
    known = Config.__struct_fields__
    layer: dict[_Key, tuple[Any, Source]] = {}
    for name in sorted(environ):
        if not name.startswith(ENV_PREFIX):
            continue
        key = tuple(name[len(ENV_PREFIX) :].lower().split(_SEPARATOR))
        if key[0] not in known:
            notes.append(
                f"{name}: not read: names no setting (settings: {', '.join(known)})"
            )
            continue
        if not all(key):
            raise ConfigurationError(
                f"{name}: an empty key in the name: separate keys with one {_SEPARATOR}"
            )
        layer[key] = (environ[name], Source("env", name))
    return layer


def _leaves(
    table: Mapping[str, Any], key: _Key, source: Source
) -> dict[_Key, tuple[Any, Source]]:
    """Every value of ``table`` that is not a table, by key path."""
    found: dict[_Key, tuple[Any, Source]] = {}
    for name, value in table.items():
        if isinstance(value, dict):
            found.update(_leaves(value, (*key, name), source))
        else:
            found[(*key, name)] = (value, source)
    return found


def _normal(key: _Key) -> _Key:
    """A database given as a URL is the table ``{url = ...}``."""
    return (*key, "url") if len(key) == 2 and key[0] == "databases" else key


def _set(
    merged: dict[str, Any],
    sources: dict[_Key, Source],
    key: _Key,
    value: Any,
    source: Source,
) -> None:
    """Set ``key`` to ``value``, over whatever a lower layer set there."""
    table = merged
    for depth, part in enumerate(key[:-1]):
        below = table.get(part)
        if not isinstance(below, dict):
            _forget(sources, key[: depth + 1])
            below = table[part] = {}
        table = below
    if isinstance(table.get(key[-1]), dict):
        _forget(sources, key)
    table[key[-1]] = value
    sources[key] = source


def _forget(sources: dict[_Key, Source], key: _Key) -> None:
    """Drop the sources of ``key`` and every key below it: a layer replaced them."""
    for known in [k for k in sources if k[: len(key)] == key]:
        del sources[known]


def _fill_pools(merged: dict[str, Any], sources: dict[_Key, Source]) -> None:
    """Give each database the ``[pool]`` options it does not set itself."""
    pool, databases = merged.get("pool"), merged.get("databases")
    if not (isinstance(pool, dict) and isinstance(databases, dict)):
        return
    for name, options in databases.items():
        if not isinstance(options, dict):
            continue
        for option, value in pool.items():
            if option not in options:
                options[option] = value
                sources[("databases", name, option)] = sources[("pool", option)]


def _convert(merged: dict[str, Any], sources: dict[_Key, Source]) -> Config:
    """Validate the merged values as a `Config`."""
    logging = merged.get("logging")
    if isinstance(logging, dict) and isinstance(level := logging.get("level"), str):
        if level.upper() not in LEVELS:
            reason = f"expected one of {', '.join(LEVELS)}, in any case"
            raise _located(("logging", "level"), reason, level, sources)
        logging["level"] = level.upper()
    databases = merged.pop("databases", {})
    try:
        config = msgspec.convert(merged, Config, strict=False)
    except msgspec.ValidationError as exc:
        raise _error(exc, (), merged, sources) from None
    if not isinstance(databases, dict):
        raise _located(("databases",), "expected a table", databases, sources)
    found = {}
    for name, options in databases.items():
        try:
            found[name] = msgspec.convert(options, Database, strict=False)
        except msgspec.ValidationError as exc:
            raise _error(exc, ("databases", name), options, sources) from None
        except ConfigurationError as exc:  # a pool option in the URL's query
            key = ("databases", name, "url")
            raise _located(key, str(exc), None, sources) from None
    return msgspec.structs.replace(config, databases=found)


def _error(
    exc: msgspec.ValidationError, key: _Key, value: Any, sources: dict[_Key, Source]
) -> ConfigurationError:
    """msgspec's error about ``value``, found at ``key``, located in its layer."""
    error = field_error(exc, "")
    inner = tuple(filter(None, error.path.split(".")))
    reason = error.reason
    if unknown := _UNKNOWN.fullmatch(reason):
        inner = (*inner, unknown.group(1))
        reason = f"unknown key{_choices((*key, *inner))}"
    return _located((*key, *inner), reason, _at(value, inner), sources)


def _located(
    key: _Key, reason: str, value: Any, sources: dict[_Key, Source]
) -> ConfigurationError:
    """``reason`` about ``key``, named by the file, variable or flag that set it."""
    source = _source_of(key, sources)
    shown = ".".join(key)
    match source.layer:
        case "file":
            where = source.name
            shown = ".".join(filter(None, (source.prefix, shown)))
        case "env" if isinstance(value, str) and key[-1] != "url":
            where = f"{source.name}={value!r}"
        case "env":
            where = source.name
        case "flag":
            where = "command line"
        case _:
            where = "default"
    return ConfigurationError(f"{where}: {shown}: {reason}")


def _source_of(key: _Key, sources: dict[_Key, Source]) -> Source:
    """Where ``key`` was set; for a table, where a key in it was set; for a key
    under a value that is no table, where that value was set."""
    if key in sources:
        return sources[key]
    for known, source in sources.items():
        if known[: len(key)] == key:
            return source
    for end in range(len(key) - 1, 0, -1):
        if key[:end] in sources:
            return sources[key[:end]]
    return Source("default")


def _at(value: Any, key: _Key) -> Any:
    """The value under ``key`` inside ``value``, if there is one."""
    for part in key:
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


_TABLES: dict[_Key, type[msgspec.Struct]] = {
    (): Config,
    ("pool",): PoolOptions,
    ("logging",): LoggingConfig,
    ("serve",): ServeConfig,
}


def _choices(key: _Key) -> str:
    """``" (known: ...)"``: the keys of the table that holds ``key``."""
    table = key[:-1]
    struct: type[msgspec.Struct] | None = _TABLES.get(table)
    if len(table) == 2 and table[0] == "databases":
        struct = Database
    if struct is None:
        return ""
    names = sorted(struct.__struct_fields__, key=lambda name: name != "url")
    return f" (known: {', '.join(names)})"
