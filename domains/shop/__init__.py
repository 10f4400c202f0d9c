"""The shop: three domains, each an app with its own database, talking by events.

- :mod:`~domains.shop.customers` registers customers (database ``customers``);
- :mod:`~domains.shop.inventory` keeps stock and sets it aside for orders
  (``inventory``);
- :mod:`~domains.shop.orders` takes orders (``orders``).

No domain reads or writes another's tables: an order reserves its stock through
``OrderPlaced``, which the inventory's subscriber answers with
``StockReserved`` or ``StockShort``, and the orders domain knows customers by
the ``CustomerRegistered`` events it kept. ``make_app()`` composes the three on
the databases given or named by the configuration
(``domains.shop.app:make_app`` for the ``glue`` command line); ``python -m
glue demo`` runs them on SQLite files, narrated.
"""

from __future__ import annotations

from .app import make_app
from .customers import make_customers
from .entities import (
    CancelOrder,
    CustomerRegistered,
    OrderCancelled,
    OrderLine,
    OrderPlaced,
    Placed,
    PlaceOrder,
    RegisterCustomer,
    Registered,
    Restock,
    StockChanged,
    StockReserved,
    StockShort,
)
from .inventory import make_inventory
from .orders import make_orders
from .services import CustomerService, OrderService
from .tables import (
    CUSTOMERS,
    KNOWN_CUSTOMERS,
    ORDERS,
    RESERVATIONS,
    STOCK,
    Customer,
    CustomerRepository,
)

__all__ = [
    "CUSTOMERS",
    "KNOWN_CUSTOMERS",
    "ORDERS",
    "RESERVATIONS",
    "STOCK",
    "CancelOrder",
    "Customer",
    "CustomerRegistered",
    "CustomerRepository",
    "CustomerService",
    "OrderCancelled",
    "OrderLine",
    "OrderPlaced",
    "OrderService",
    "PlaceOrder",
    "Placed",
    "RegisterCustomer",
    "Registered",
    "Restock",
    "StockChanged",
    "StockReserved",
    "StockShort",
    "make_app",
    "make_customers",
    "make_inventory",
    "make_orders",
]
