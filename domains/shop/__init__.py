"""The shop: customers, inventory and orders, kept in memory.

``make_shop()`` builds a fresh :class:`glue.Domain` with its own in-memory
:class:`~domains.shop.store.Store`, so two shops (or two test runs) share nothing.
``python -m glue demo`` runs it.
"""

from __future__ import annotations

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
from .store import Store, Transaction

__all__ = [
    "CancelOrder",
    "CustomerRegistered",
    "OrderAccepted",
    "OrderCancelled",
    "OrderLine",
    "OrderPlaced",
    "PlaceOrder",
    "RegisterCustomer",
    "Registered",
    "Restock",
    "StockChanged",
    "Store",
    "Transaction",
    "make_shop",
]
