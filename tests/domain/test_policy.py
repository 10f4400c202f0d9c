"""Command policies (E14): the bus refuses an actor without the permissions."""

from __future__ import annotations

import pytest

from glue import Actor, App, Command, Context, Domain, Forbidden


class DeleteOrder(Command):
    order_id: int


def make_app() -> tuple[App, list[int]]:
    ran: list[int] = []
    shop = Domain("shop")

    @shop.command(DeleteOrder, requires={"orders:admin", "orders:write"})
    async def delete(cmd: DeleteOrder, ctx: Context) -> None:
        ran.append(cmd.order_id)

    return App([shop]), ran


async def test_a_dispatch_without_an_actor_is_told_what_it_needs() -> None:
    app, ran = make_app()
    async with app:
        with pytest.raises(Forbidden) as caught:
            await app.bus.dispatch(DeleteOrder(order_id=1))
    assert str(caught.value) == (
        "shop:delete-order needs an actor with permission orders:admin, "
        "orders:write; it was dispatched without one (pass actor=...)"
    )
    assert caught.value.missing == {"orders:admin", "orders:write"}
    assert ran == []


async def test_an_actor_lacking_one_permission_is_refused_naming_it() -> None:
    app, ran = make_app()
    async with app:
        with pytest.raises(Forbidden, match=r"missing permission orders:admin$"):
            await app.bus.dispatch(
                DeleteOrder(order_id=1),
                actor=Actor(id="clerk", permissions=frozenset({"orders:write"})),
            )
        admin = Actor(
            id="root", permissions=frozenset({"orders:admin", "orders:write"})
        )
        await app.bus.dispatch(DeleteOrder(order_id=2), actor=admin)
    assert ran == [2]
