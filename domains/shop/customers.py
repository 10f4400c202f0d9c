"""The customers domain: who may order, in the ``customers`` database.

``customers:register-customer`` gives a new customer an id from
:class:`glue.Ids` (a block of ids reserved at a time, outside the command's
transaction: commands never wait for each other over ids), inserts the row, and
emits ``CustomerRegistered``, which the orders domain hears through a
subscriber. Nothing else reads the ``customers`` table but queries.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from glue import Context, Domain, Ids

from .entities import CustomerRegistered, RegisterCustomer, Registered
from .tables import CUSTOMERS, CUSTOMERS_DATABASE

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

__all__ = ["make_customers"]


def make_customers() -> Domain:
    """Build the customers domain."""
    customers = Domain("customers")
    customers.table(CUSTOMERS, database=CUSTOMERS_DATABASE)
    # Clients with the permission may list customers, without their emails.
    customers.expose(CUSTOMERS, fields=("id", "name"), requires={"customers:read"})
    customers.register(CustomerRegistered)
    ids = Ids()  # routed like the tables, through each command's unit of work

    @customers.command(RegisterCustomer)
    async def register_customer(
        cmd: RegisterCustomer, ctx: Context
    ) -> AsyncIterator[CustomerRegistered | Registered]:
        customer_id = await ids.next(CUSTOMERS)
        await ctx.state.insert(
            CUSTOMERS, {"id": customer_id, "name": cmd.name, "email": cmd.email}
        )
        yield CustomerRegistered(customer_id=customer_id, name=cmd.name)
        yield Registered(customer_id=customer_id)

    return customers
