"""The shop as a ready App: ``glue dispatch --app domains.shop.app:make_app ...``.

:func:`make_app` composes the shop's three domains, customers, inventory and
orders, each with its own database, talking only through events that subscribers
deliver (see :mod:`domains.shop.orders` for the saga of an order). It builds the
App on the databases given, or on those of the configuration
(:mod:`glue.config`): the one the ``glue`` command passes it, or else
``glue.config.load()``'s. So they come from ``glue.toml`` (``[databases]``), from
the environment, or from the defaults below:

==============================  ===============================================
variable                        what it holds
==============================  ===============================================
``GLUE_DATABASES__CUSTOMERS``   the customers' database
``GLUE_DATABASES__INVENTORY``   the inventory's database: stock, reservations
``GLUE_DATABASES__ORDERS``      the orders' database: orders, known customers
``GLUE_DATABASES__DEFAULT``     the database of every domain whose own the
                                configuration does not name
==============================  ===============================================

When the configuration names no database at all, the shop uses three SQLite
files in the working directory: ``customers.sqlite``, ``inventory.sqlite`` and
``orders.sqlite``. One URL as ``default`` puts all three domains in one
database. The tables are created when the app opens, if they do not exist yet.

Subscribers run in this process after each commit when every database is
SQLite (``delivery="auto"``); on PostgreSQL, ``glue worker --app
domains.shop.app:make_app`` processes run them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from glue import App
from glue.config import load

from .customers import make_customers
from .inventory import make_inventory
from .orders import make_orders
from .tables import CUSTOMERS_DATABASE, INVENTORY_DATABASE, ORDERS_DATABASE

if TYPE_CHECKING:
    from collections.abc import Mapping

    from glue.config import Config
    from glue.work import RetryPolicy

__all__ = [
    "CUSTOMERS_DATABASE_ENV",
    "DATABASE_ENV",
    "DEFAULT_DATABASES",
    "INVENTORY_DATABASE_ENV",
    "ORDERS_DATABASE_ENV",
    "make_app",
]

DATABASE_ENV = "GLUE_DATABASES__DEFAULT"
"""The environment variable naming the default database's URL."""

CUSTOMERS_DATABASE_ENV = "GLUE_DATABASES__CUSTOMERS"
"""The environment variable naming the customers' database's URL."""

INVENTORY_DATABASE_ENV = "GLUE_DATABASES__INVENTORY"
"""The environment variable naming the inventory's database's URL."""

ORDERS_DATABASE_ENV = "GLUE_DATABASES__ORDERS"
"""The environment variable naming the orders' database's URL."""

DEFAULT_DATABASES = {
    name: f"sqlite:///{name}.sqlite"
    for name in (CUSTOMERS_DATABASE, INVENTORY_DATABASE, ORDERS_DATABASE)
}
"""The databases when the configuration names none: a file per domain."""


def make_app(
    databases: Mapping[str, Any] | None = None,
    *,
    config: Config | None = None,
    create_tables: bool = True,
    delivery: Literal["auto", "in-process", "workers"] = "auto",
    retry: RetryPolicy | None = None,
) -> App:
    """Build the shop's App, not yet open (open it with ``async with``).

    Args:
        databases: database name → URL (or a table with ``url`` and pool
            options): ``"customers"``, ``"inventory"`` and ``"orders"``, and
            ``"default"`` for those not named; the configuration's when None.
        config: the configuration to read the databases from; when None,
            ``glue.config.load()`` reads it.
        create_tables: create the shop's missing tables when the app opens.
        delivery: who runs the subscribers (see :class:`glue.App`).
        retry: how commands without their own policy retry a conflict.

    Returns:
        An App with the domains ``customers``, ``inventory`` and ``orders``.

    Raises:
        glue.ConfigurationError: the configuration cannot be read.
    """
    if databases is None:
        config = config or load()
        options = config.pool.given()
        databases = config.databases or {
            name: {"url": url, **options} for name, url in DEFAULT_DATABASES.items()
        }
    return App(
        [make_customers(), make_inventory(), make_orders()],
        databases=databases,
        create_tables=create_tables,
        retry=retry,
        delivery=delivery,
    )
