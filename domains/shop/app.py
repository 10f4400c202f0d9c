"""The shop as a ready App: ``glue dispatch --app domains.shop.app:make_app ...``.

:func:`make_app` builds the shop's :class:`glue.App` on the databases given, or,
called with no arguments (as the ``glue`` command line calls a factory), on the
databases named by the environment:

=========================  ======================================================
variable                   what it holds
=========================  ======================================================
``SHOP_DATABASE_URL``      the default database: customers and stock
                           (``sqlite:///shop.sqlite`` when unset, a file in the
                           working directory)
``SHOP_ORDERS_DATABASE_URL``  the orders database; when unset, orders live in the
                           default database too
=========================  ======================================================

The tables are created when the app opens, if they do not exist yet.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from glue import App

from .domain import make_shop

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = [
    "DATABASE_ENV",
    "DEFAULT_DATABASE",
    "ORDERS_DATABASE_ENV",
    "databases_from_env",
    "make_app",
]

DATABASE_ENV = "SHOP_DATABASE_URL"
"""The environment variable naming the default database's URL."""

ORDERS_DATABASE_ENV = "SHOP_ORDERS_DATABASE_URL"
"""The environment variable naming the orders database's URL (optional)."""

DEFAULT_DATABASE = "sqlite:///shop.sqlite"
"""The default database when the environment names none."""


def make_app(
    databases: Mapping[str, str] | None = None, *, create_tables: bool = True
) -> App:
    """Build the shop's App, not yet open (open it with ``async with``).

    Args:
        databases: database name → URL, ``"default"`` required and ``"orders"``
            optional; read from the environment when None (see the module).
        create_tables: create the shop's missing tables when the app opens.

    Returns:
        An App with the one domain ``shop``.
    """
    if databases is None:
        databases = databases_from_env()
    return App([make_shop()], databases=databases, create_tables=create_tables)


def databases_from_env(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The shop's database URLs named by the environment.

    Args:
        environ: the variables to read; ``os.environ`` when None.

    Returns:
        ``{"default": ...}``, with ``"orders"`` when its variable is set.
    """
    env = os.environ if environ is None else environ
    databases = {"default": env.get(DATABASE_ENV) or DEFAULT_DATABASE}
    orders = env.get(ORDERS_DATABASE_ENV)
    if orders:
        databases["orders"] = orders
    return databases
