"""The shop as a ready App: ``glue dispatch --app domains.shop.app:make_app ...``.

:func:`make_app` builds the shop's :class:`glue.App` on the databases given, or
on those of the configuration (:mod:`glue.config`): the one the ``glue`` command
passes it, or else ``glue.config.load()``'s. So they come from ``glue.toml``
(``[databases]``), from the environment, or from the default below:

=============================  ==================================================
variable                       what it holds
=============================  ==================================================
``GLUE_DATABASES__DEFAULT``    the default database: customers and stock
                               (``sqlite:///shop.sqlite`` when nothing names a
                               database, a file in the working directory)
``GLUE_DATABASES__ORDERS``     the orders database; when unset, orders live in
                               the default database too
=============================  ==================================================

The tables are created when the app opens, if they do not exist yet.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from glue import App
from glue.config import load

from .domain import make_shop

if TYPE_CHECKING:
    from collections.abc import Mapping

    from glue.config import Config

__all__ = ["DATABASE_ENV", "DEFAULT_DATABASE", "ORDERS_DATABASE_ENV", "make_app"]

DATABASE_ENV = "GLUE_DATABASES__DEFAULT"
"""The environment variable naming the default database's URL."""

ORDERS_DATABASE_ENV = "GLUE_DATABASES__ORDERS"
"""The environment variable naming the orders database's URL (optional)."""

DEFAULT_DATABASE = "sqlite:///shop.sqlite"
"""The default database when the configuration names none."""


def make_app(
    databases: Mapping[str, Any] | None = None,
    *,
    config: Config | None = None,
    create_tables: bool = True,
) -> App:
    """Build the shop's App, not yet open (open it with ``async with``).

    Args:
        databases: database name → URL (or a table with ``url`` and pool
            options), ``"default"`` required and ``"orders"`` optional; the
            configuration's when None.
        config: the configuration to read the databases from; when None,
            ``glue.config.load()`` reads it.
        create_tables: create the shop's missing tables when the app opens.

    Returns:
        An App with the one domain ``shop``.

    Raises:
        glue.ConfigurationError: the configuration cannot be read.
    """
    if databases is None:
        config = config or load()
        default = {"url": DEFAULT_DATABASE, **config.pool.given()}
        databases = config.databases or {"default": default}
    return App([make_shop()], databases=databases, create_tables=create_tables)
