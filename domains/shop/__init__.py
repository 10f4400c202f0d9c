"""The shop: customers, inventory and orders, in SQL databases.

``make_shop()`` builds a fresh :class:`glue.Domain` declaring the shop's tables
(customers and stock in the ``default`` database, orders in ``orders``).
``make_app()`` builds the shop's App on the databases given or named by the
environment (``domains.shop.app:make_app`` for the ``glue`` command line).
``python -m glue demo`` runs it on SQLite files.
"""

from __future__ import annotations

from .app import make_app
from .domain import make_shop
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
    "STOCK",
    "StockChanged",
    "make_app",
    "make_shop",
]
