"""A database and its pool's options: `Database`, `PoolOptions`.

``App(databases=...)``, `ConnectionManager.from_urls` and the configuration
(`glue.config`) take each database in one of three forms::

    "postgresql://app@db/orders?max_size=20"                 # a URL
    {"url": "postgresql://app@db/orders", "max_size": 20}    # a mapping
    Database(url="postgresql://app@db/orders", max_size=20)  # a Database

=====================  =========================================  ==================
option                 what it sets                               when unset
=====================  =========================================  ==================
``min_size``           connections opened when the pool opens     1
``max_size``           the most connections at once               5 on SQLite (one
                                                                  writer), 10 on
                                                                  PostgreSQL
``acquire_timeout``    seconds ``acquire()`` waits for a free     30 (None: as long
                       connection before `glue.PoolTimeout`       as it takes)
``lock_timeout``       seconds a statement waits for a lock:      5 on SQLite, none
                       SQLite's busy timeout, PostgreSQL's        on PostgreSQL
                       ``lock_timeout`` setting
``statement_timeout``  seconds a statement may run: PostgreSQL's  none (SQLite has
                       ``statement_timeout`` setting              none: refused)
=====================  =========================================  ==================

On PostgreSQL a timeout of 0 turns the setting off, as PostgreSQL reads it; on
SQLite a ``lock_timeout`` of 0 gives up at once.

A URL's query may carry the pool's own three, ``min_size``, ``max_size`` and
``acquire_timeout``, as encode's ``databases`` reads them; a `Database` moves
them to its fields. Every other parameter is the driver's: asyncpg reads
``sslmode`` and the like, and sends the rest as server settings in PostgreSQL's
own units (``?statement_timeout=5000`` is 5000 ms); a SQLite URL takes no other.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import msgspec

from ..entities.codec import field_error
from ..errors import ConfigurationError

__all__ = [
    "Database",
    "PoolOptions",
    "QUERY_OPTIONS",
    "database",
    "driver_options",
    "split_query",
]

QUERY_OPTIONS = ("min_size", "max_size", "acquire_timeout")
"""The pool options a database URL's query may carry."""

_Seconds = Annotated[float, msgspec.Meta(ge=0)]


class PoolOptions(
    msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True
):
    """Options of a database's pool; an unset one keeps the pool's default.

    The table in `glue.connections.options` says what each sets and its default.
    Unset (``msgspec.UNSET``, the default) is not None: ``acquire_timeout=None``
    waits as long as it takes.
    """

    min_size: Annotated[int, msgspec.Meta(ge=0)] | msgspec.UnsetType = msgspec.UNSET
    max_size: Annotated[int, msgspec.Meta(ge=1)] | msgspec.UnsetType = msgspec.UNSET
    acquire_timeout: Annotated[float, msgspec.Meta(gt=0)] | msgspec.UnsetType | None = (
        msgspec.UNSET
    )
    lock_timeout: _Seconds | msgspec.UnsetType = msgspec.UNSET
    statement_timeout: _Seconds | msgspec.UnsetType = msgspec.UNSET

    def given(self) -> dict[str, Any]:
        """The options that are set, by name: keywords for `pool_from_url`."""
        return {
            name: value
            for name in PoolOptions.__struct_fields__
            if (value := getattr(self, name)) is not msgspec.UNSET
        }


class Database(PoolOptions, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A database: its URL and its pool's options (see `PoolOptions`)::

        Database(url="postgresql://app@db/orders", max_size=20, statement_timeout=30)

    Pool options in the URL's query move to the fields, so ``url`` keeps the
    driver's parameters only.

    Attributes:
        url: ``sqlite:///...`` or ``postgresql://...`` (see
            `glue.connections.urls`).

    Raises:
        glue.ConfigurationError: a pool option in the query is no number, or
            disagrees with the same option given beside the URL.
    """

    url: str

    def __post_init__(self) -> None:
        url, from_query = split_query(self.url)
        if not from_query:
            return
        for key, value in from_query.items():
            beside = getattr(self, key)
            if beside is not msgspec.UNSET and beside != value:
                raise ConfigurationError(
                    f"{key}={value!r} in the URL's query disagrees with "
                    f"{key}={beside!r} beside it; give it once"
                )
            msgspec.structs.force_setattr(self, key, value)
        msgspec.structs.force_setattr(self, "url", url)


def database(value: str | Database | Any, *, name: str) -> Database:
    """Read one database as ``App(databases=...)`` takes it.

    Args:
        value: a URL, a mapping with ``url`` and pool options, or a `Database`.
        name: the database's name, for messages.

    Raises:
        glue.ConfigurationError: naming the database and what is wrong: an
            unknown option, a value of the wrong type, a bad query option.
    """
    if isinstance(value, Database):
        return value
    if isinstance(value, str):
        value = {"url": value}
    try:
        found: Database = msgspec.convert(value, Database)
    except msgspec.ValidationError as exc:
        error = field_error(exc, "")
        where = f"{error.path.lstrip('.')}: " if error.path else ""
        raise ConfigurationError(f"database {name!r}: {where}{error.reason}") from None
    except ConfigurationError as exc:
        raise ConfigurationError(f"database {name!r}: url: {exc}") from None
    return found


def split_query(url: str) -> tuple[str, dict[str, Any]]:
    """Split the pool options out of ``url``'s query.

    Returns:
        the URL without them, and their values, validated; a URL that cannot
        be read comes back as it is, for `pool_from_url` to report.

    Raises:
        glue.ConfigurationError: a pool option in the query that is no number
            of the right range.
    """
    if not isinstance(url, str):  # Database(url=...) by hand: msgspec checks none
        raise ConfigurationError(f"url: expected a str, got {type(url).__name__}")
    try:
        parts = urlsplit(url)
    except ValueError:
        return url, {}
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    ours = {key: value for key, value in pairs if key in QUERY_OPTIONS}
    if not ours:
        return url, {}
    try:
        options = msgspec.convert(ours, PoolOptions, strict=False)
    except msgspec.ValidationError as exc:
        error = field_error(exc, "")
        key = error.path.lstrip(".")
        raise ConfigurationError(
            f"{key}={ours[key]!r} in the URL's query: {error.reason}"
        ) from None
    rest = urlencode([(k, v) for k, v in pairs if k not in QUERY_OPTIONS])
    # Not urlunsplit: it writes sqlite:///x.db back as sqlite:/x.db.
    base, _, after = url.partition("?")
    fragment = after.partition("#")[1:]
    return base + ("?" if rest else "") + rest + "".join(fragment), options.given()


def driver_options(
    url: str, name: str | None, options: dict[str, Any]
) -> tuple[str, dict[str, Any]]:
    """What `pool_from_url` builds a pool from: the URL without its pool
    options, and keywords for the pool and its driver, ``lock_timeout`` and
    ``statement_timeout`` made the driver's own settings.

    Raises:
        glue.ConfigurationError: a bad pool option in the query, or one that
            disagrees with ``options``; a statement timeout for SQLite.
    """
    label = f"database {name!r}" if name else "database"
    try:
        url, from_query = split_query(url)
    except ConfigurationError as exc:
        raise ConfigurationError(f"{label}: {exc}") from None
    for key, value in from_query.items():
        if options.setdefault(key, value) != value:
            raise ConfigurationError(
                f"{label}: {key}={value!r} in the URL's query disagrees "
                f"with {key}={options[key]!r}; give it once"
            )
    lock = options.pop("lock_timeout", None)
    statement = options.pop("statement_timeout", None)
    if url.partition(":")[0].lower() == "sqlite":
        if statement is not None:
            raise ConfigurationError(
                f"{label}: SQLite has no statement_timeout; give the "
                "query a timeout (app.query(..., timeout=)) or the dispatch a "
                "deadline instead"
            )
        if lock is not None:
            options["timeout"] = lock  # SQLite's busy timeout
        return url, options
    settings = {"lock_timeout": lock, "statement_timeout": statement}
    if lock is not None or statement is not None:
        options["server_settings"] = {
            **options.get("server_settings", {}),
            **{k: f"{round(v * 1000)}ms" for k, v in settings.items() if v is not None},
        }
    return url, options
