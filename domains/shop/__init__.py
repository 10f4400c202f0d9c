"""The shop: customers, inventory and orders, in SQL databases.

``make_shop()`` builds a fresh :class:`glue.Domain` declaring the shop's tables
(customers, stock and id sequences in the ``default`` database, orders in
``orders``). ``python -m glue demo`` runs it on SQLite files.
"""

from __future__ import annotations

from .domain import make_shop, next_id
from .entities import (
    CancelOrder,
    CustomerRegistered,
    OrderAccepted,
    OrderCancelled,
    OrderLine,
    OrderPlaced,
    PlaceOrder,
    RegisterCustomer,
    Registered,
    Restock,
    StockChanged,
)
from .services import CustomerService, OrderService
from .tables import (
    CUSTOMERS,
    ORDERS,
    SEQUENCES,
    STOCK,
    Customer,
    CustomerRepository,
)

__all__ = [
    "CUSTOMERS",
    "CancelOrder",
    "Customer",
    "CustomerRegistered",
    "CustomerRepository",
    "CustomerService",
    "ORDERS",
    "OrderAccepted",
    "OrderCancelled",
    "OrderLine",
    "OrderPlaced",
    "OrderService",
    "PlaceOrder",
    "RegisterCustomer",
    "Registered",
    "Restock",
    "SEQUENCES",
    "STOCK",
    "StockChanged",
    "make_shop",
    "next_id",
]
