"""``ctx.dal`` typed: ``Context[ShopDal]``, ``ShopDal`` a Protocol of the domain's
services, lets mypy check every call through it.

``make typecheck`` runs mypy (strict) on this module: the calls marked
``type: ignore[...]`` are the mistakes it must find (an ignore that catches
nothing is an error itself, so the check fails if typing ``ctx.dal`` stops
working). pytest runs the same handlers, to show the Protocol matches the
services at run time.
"""

from __future__ import annotations

from typing import Protocol

import glue


class Greeter(glue.Service):
    async def greet(self, name: str) -> str:
        return f"hello {name}"


class Counter:
    def count(self, word: str) -> int:
        return len(word)


class GreeterDal(Protocol):
    async def greet(self, name: str) -> str: ...


class CounterDal(Protocol):
    async def count(self, word: str) -> int: ...  # every call is awaited


class ShopDal(Protocol):
    @property
    def greeter(self) -> GreeterDal: ...

    @property
    def counter(self) -> CounterDal: ...


class Greet(glue.Command):
    name: str


class Greeted(glue.Response):
    text: str
    letters: int


shop = glue.Domain("shop")
shop.service("greeter", Greeter())
shop.service("counter", Counter())


@shop.command(Greet)
async def greet(cmd: Greet, ctx: glue.Context[ShopDal]) -> Greeted:
    text = await ctx.dal.greeter.greet(cmd.name)
    return Greeted(text=text, letters=await ctx.dal.counter.count(cmd.name))


async def mistakes(ctx: glue.Context[ShopDal]) -> None:
    """Never run: what mypy must refuse."""
    await ctx.dal.greeter.greet(7)  # type: ignore[arg-type]
    letters: str = await ctx.dal.counter.count("x")  # type: ignore[assignment]
    await ctx.dal.billing.pay()  # type: ignore[attr-defined]
    del letters


async def untyped(ctx: glue.Context) -> None:
    """A bare Context keeps ``ctx.dal`` Any: nothing to declare."""
    await ctx.dal.anything.at_all(1)


async def test_a_typed_dal_calls_the_services() -> None:
    async with glue.App([shop]) as app:
        response = await app.bus.dispatch(Greet(name="ada"))
        assert response == Greeted(text="hello ada", letters=3)
        async with app.context(domain="shop") as ctx:
            typed: glue.Context[ShopDal] = ctx
            assert await typed.dal.greeter.greet("bo") == "hello bo"
