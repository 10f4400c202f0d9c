"""The shop's commands, events and responses."""

from __future__ import annotations

from typing import Annotated

import msgspec

from glue import Command, Event, Response

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
]

Quantity = Annotated[int, msgspec.Meta(gt=0, le=1000)]
Sku = Annotated[str, msgspec.Meta(pattern=r"^[A-Z]{3}-\d{3}$")]


# -- customers ---------------------------------------------------------------------


class RegisterCustomer(Command, forbid_unknown_fields=True):
    """Register a customer by name and email."""

    name: Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
    email: Annotated[str, msgspec.Meta(pattern=r"^[^@\s]+@[^@\s]+$")]


class CustomerRegistered(Event):
    """A customer was registered."""

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
    """An order was accepted; its articles are reserved by the inventory."""

    order_id: int
    customer_id: int
    lines: list[OrderLine]


class OrderAccepted(Response):
    """The placed order's id, how many articles it holds, and (filled in by the
    renderer from the committed order) its status."""

    order_id: int
    articles: int
    status: str | None = None


class CancelOrder(Command, forbid_unknown_fields=True):
    """Cancel an order (needs the ``orders:admin`` permission)."""

    order_id: int


class OrderCancelled(Event):
    """An order was cancelled; its articles go back to stock."""

    order_id: int
    lines: list[OrderLine]
