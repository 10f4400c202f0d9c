"""The shop's commands, events and responses: the language its three domains share.

Each domain handles its own commands; the events are how the domains hear of each
other (a subscriber of one domain takes another's event), so every domain may
import this module and none needs another's tables.
"""

from __future__ import annotations

from typing import Annotated

import msgspec

from glue import Command, Event, Response

__all__ = [
    "CancelOrder",
    "CustomerRegistered",
    "OrderCancelled",
    "OrderLine",
    "OrderPlaced",
    "PlaceOrder",
    "Placed",
    "RegisterCustomer",
    "Registered",
    "Restock",
    "StockChanged",
    "StockReserved",
    "StockShort",
]

Quantity = Annotated[int, msgspec.Meta(gt=0, le=1000)]
Sku = Annotated[str, msgspec.Meta(pattern=r"^[A-Z]{3}-\d{3}$")]


# -- customers ---------------------------------------------------------------------


class RegisterCustomer(Command, forbid_unknown_fields=True):
    """Register a customer by name and email."""

    name: Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
    email: Annotated[str, msgspec.Meta(pattern=r"^[^@\s]+@[^@\s]+$")]


class CustomerRegistered(Event):
    """A customer was registered (the orders domain keeps a copy of it)."""

    customer_id: int
    name: str


class Registered(Response):
    """The id a new customer got."""

    customer_id: int


# -- inventory -----------------------------------------------------------------------


class Restock(Command):
    """Add stock of one article."""

    sku: Sku
    quantity: Quantity


class StockChanged(Event):
    """The stock of an article changed by ``delta``."""

    sku: str
    delta: int


class StockReserved(Event):
    """Every article of an order was set aside for it."""

    order_id: int


class StockShort(Event):
    """An order asked for more than the stock holds: nothing was set aside.

    Attributes:
        order_id: the order.
        skus: the articles short of what it asked.
    """

    order_id: int
    skus: list[str]


# -- orders ---------------------------------------------------------------------------


class OrderLine(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One article of an order."""

    sku: Sku
    quantity: Quantity


class PlaceOrder(Command, name="place-order"):
    """Order articles for a customer."""

    customer_id: int
    lines: Annotated[list[OrderLine], msgspec.Meta(min_length=1)]
    note: str | None = None


class OrderPlaced(Event):
    """An order is pending: the inventory is asked to reserve its articles."""

    order_id: int
    customer_id: int
    lines: list[OrderLine]


class Placed(Response):
    """The placed order's id, how many articles it holds, and (filled in by the
    renderer from the committed order) its status: ``pending`` until the
    inventory answers."""

    order_id: int
    articles: int
    status: str | None = None


class CancelOrder(Command, forbid_unknown_fields=True):
    """Cancel an order (needs the ``orders:admin`` permission)."""

    order_id: int


class OrderCancelled(Event):
    """An order was cancelled: the inventory releases what it set aside."""

    order_id: int
