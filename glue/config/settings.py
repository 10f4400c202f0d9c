"""What glue's configuration holds: `Config` and its tables, as frozen Structs.

::

    app = "domains.shop.app:make_app"     # the App, or a factory returning one

    [databases]                           # name → URL, or a table: url and pool options
    default = "sqlite:///shop.sqlite"
    orders = { url = "postgresql://app@db/orders", max_size = 20 }

    [pool]                                # pool options for every database
    acquire_timeout = 5

    [logging]
    level = "info"                        # any case; unset: the command's default
    json = false

    [serve]                               # where `glue serve` listens
    host = "127.0.0.1"
    port = 8000
    workers = 1
    reload = false

A database's pool options are those of `glue.connections.PoolOptions`; those of
``[pool]`` apply to every database that does not set its own.
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from ..connections.options import Database, PoolOptions

__all__ = [
    "Config",
    "LEVELS",
    "LoggingConfig",
    "ServeConfig",
]

LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
"""The logging levels, lowest first."""


class LoggingConfig(
    msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True
):
    """``[logging]``: how the ``glue`` command logs (through `glue.log.configure`).

    Attributes:
        level: the lowest level logged, ``"DEBUG"`` to ``"CRITICAL"`` (read in
            any case); None leaves it to the command: ERROR for ``dispatch``,
            ``query``, ``explain`` and ``schema``.
        json: one JSON object per line rather than readable lines.
    """

    level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] | None = None
    json: bool = False


class ServeConfig(
    msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True
):
    """``[serve]``: where and how ``glue serve`` runs the App over HTTP.

    Attributes:
        host: the address to listen on.
        port: the TCP port (0: any free one).
        workers: worker processes.
        reload: restart when the code changes (for development).
    """

    host: str = "127.0.0.1"
    port: Annotated[int, msgspec.Meta(ge=0, le=65535)] = 8000
    workers: Annotated[int, msgspec.Meta(ge=1)] = 1
    reload: bool = False


class Config(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """glue's configuration, as `glue.config.load` resolves it from its layers.

    Attributes:
        app: ``"MODULE:ATTR"``, the App the command line works on (or a factory
            returning one); None when nothing names one.
        databases: database name → `glue.connections.Database`, each with the
            ``[pool]`` options it does not set itself; ready for
            ``App(databases=config.databases)``.
        pool: the pool options every database gets unless it sets its own.
        logging: how the command line logs.
        serve: where ``glue serve`` listens.
    """

    app: str | None = None
    databases: dict[str, Database] = msgspec.field(default_factory=dict)
    pool: PoolOptions = msgspec.field(default_factory=PoolOptions)
    logging: LoggingConfig = msgspec.field(default_factory=LoggingConfig)
    serve: ServeConfig = msgspec.field(default_factory=ServeConfig)
