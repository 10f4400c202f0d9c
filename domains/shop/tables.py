"""The shop's tables, by the domain (and database) that owns them.

=============  ==============================================  =====================
database       tables                                          owned by
=============  ==============================================  =====================
``customers``  ``customers``                                   the customers domain
``inventory``  ``stock``, ``reservations``                     the inventory domain
``orders``     ``orders``, ``known_customers``                 the orders domain
=============  ==============================================  =====================

No domain touches another's tables: ``known_customers`` is the orders domain's
own copy of the customers it heard of (``CustomerRegistered``), and
``reservations`` records what the inventory set aside for each order. An App
without a database of one of these names keeps its tables in ``default``. Each
database also keeps the id counters of its tables (``glue_ids``, see
:class:`glue.Ids`) and its domain's outbox and inbox (see :mod:`glue.outbox`).
"""

from __future__ import annotations

import msgspec

from glue.schema import Column, ColumnType, Schema
from glue.work import Repository

__all__ = [
    "CUSTOMERS",
    "CUSTOMERS_DATABASE",
    "INVENTORY_DATABASE",
    "KNOWN_CUSTOMERS",
    "ORDERS",
    "ORDERS_DATABASE",
    "RESERVATIONS",
    "STOCK",
    "Customer",
    "CustomerRepository",
]

CUSTOMERS_DATABASE = "customers"
INVENTORY_DATABASE = "inventory"
ORDERS_DATABASE = "orders"

# -- customers ---------------------------------------------------------------------

CUSTOMERS = Schema(
    name="customers",
    columns=(
        Column(name="id", type=ColumnType.INTEGER),
        Column(name="name", type=ColumnType.TEXT),
        Column(name="email", type=ColumnType.TEXT),
    ),
    primary_key=("id",),
    audit=True,
)

# -- inventory -----------------------------------------------------------------------

STOCK = Schema(
    name="stock",
    columns=(
        Column(name="sku", type=ColumnType.TEXT),
        Column(name="quantity", type=ColumnType.INTEGER),
    ),
    primary_key=("sku",),
)
RESERVATIONS = Schema(
    name="reservations",
    columns=(
        Column(name="order_id", type=ColumnType.INTEGER),
        # reserved, short (nothing set aside) or released
        Column(name="status", type=ColumnType.TEXT),
        Column(name="lines", type=ColumnType.JSON),
    ),
    primary_key=("order_id",),
)

# -- orders ---------------------------------------------------------------------------

ORDERS = Schema(
    name="orders",
    columns=(
        Column(name="id", type=ColumnType.INTEGER),
        Column(name="customer_id", type=ColumnType.INTEGER),
        # pending, then accepted or rejected (by the inventory's answer), or cancelled
        Column(name="status", type=ColumnType.TEXT, default="pending"),
        Column(name="articles", type=ColumnType.INTEGER),
        Column(name="lines", type=ColumnType.JSON),
    ),
    primary_key=("id",),
    audit=True,
)
KNOWN_CUSTOMERS = Schema(
    name="known_customers",
    columns=(
        Column(name="id", type=ColumnType.INTEGER),
        Column(name="name", type=ColumnType.TEXT),
    ),
    primary_key=("id",),
)


class Customer(msgspec.Struct, frozen=True, kw_only=True):
    """A customer as the orders domain knows it."""

    id: int
    name: str


class CustomerRepository(Repository[Customer]):
    """The orders domain's copy of the customers, over the dispatch's unit of work."""

    schema = KNOWN_CUSTOMERS
