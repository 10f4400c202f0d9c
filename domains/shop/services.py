"""The orders domain's services: the reads its handlers share, as ``ctx.dal``.

Getters return None when nothing is found; operations that need a missing row
raise :class:`glue.NotFound` (D06). They read through the dispatch's unit of work,
so they see what the dispatch changed so far.
"""

from __future__ import annotations

from typing import Any

from glue import NotFound, Service

from .tables import ORDERS, Customer, CustomerRepository

__all__ = ["CustomerService", "OrderService"]

OPEN = ("pending", "accepted")
"""The statuses of an order that may still be cancelled."""


class CustomerService(Service):
    """The customers the orders domain heard of, through their repository."""

    async def get(self, customer_id: int) -> Customer | None:
        """The customer, or None."""
        return await CustomerRepository(self.ctx.unit).get(customer_id)

    async def require(self, customer_id: int) -> Customer:
        """The customer; `glue.NotFound` when there is none (or the orders
        domain has not heard of it yet)."""
        customer = await self.get(customer_id)
        if customer is None:
            raise NotFound("customers", customer_id)
        return customer


class OrderService(Service):
    """Orders, through the unit of work's state."""

    async def get(self, order_id: int) -> dict[str, Any] | None:
        """The order as a dict, or None."""
        row = await self.ctx.state.get(ORDERS, order_id)
        return None if row is None else dict(row)

    async def require_open(self, order_id: int) -> dict[str, Any]:
        """The order if it is pending or accepted; `glue.NotFound` else."""
        order = await self.get(order_id)
        if order is None or order["status"] not in OPEN:
            raise NotFound("orders", order_id)
        return order
