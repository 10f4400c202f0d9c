"""The shop's tables, and where they live.

Customers and stock live in the ``default`` database; orders (with their lines)
in the ``orders`` database (the default one too, when the App has no database of
that name). Each database also keeps the id counters of its tables (``glue_ids``,
see :class:`glue.Ids`).
"""

from __future__ import annotations

import msgspec

from glue.schema import Column, ColumnType, Schema
from glue.work import Repository

__all__ = [
    "CUSTOMERS",
    "Customer",
    "CustomerRepository",
    "ORDERS",
    "STOCK",
]

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
STOCK = Schema(
    name="stock",
    columns=(
        Column(name="sku", type=ColumnType.TEXT),
        Column(name="quantity", type=ColumnType.INTEGER),
    ),
    primary_key=("sku",),
)
ORDERS = Schema(
    name="orders",
    columns=(
        Column(name="id", type=ColumnType.INTEGER),
        Column(name="customer_id", type=ColumnType.INTEGER),
        Column(name="status", type=ColumnType.TEXT, default="placed"),
        Column(name="articles", type=ColumnType.INTEGER),
        Column(name="lines", type=ColumnType.JSON),
    ),
    primary_key=("id",),
    audit=True,
)


class Customer(msgspec.Struct, frozen=True, kw_only=True):
    """A customer, as the repository returns it."""

    id: int
    name: str
    email: str


class CustomerRepository(Repository[Customer]):
    """Customers over the dispatch's unit of work."""

    schema = CUSTOMERS
