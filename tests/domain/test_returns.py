"""A command's declared response types: ``returns=`` or the handler's return
annotation, checked by the bus at dispatch (#11)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from glue import App, Command, Context, Domain, Event, HandlerError, Ok, Response
from glue.errors import RegistrationError, RenderError

if TYPE_CHECKING:
    from collections.abc import AsyncIterator


class Place(Command):
    n: int = 0


class Placed(Response):
    n: int


class Refused(Response):
    why: str


class Happened(Event):
    n: int


def route(domain: Domain) -> tuple[type[Response], ...]:
    app = App([domain])
    return app.registry.commands[f"{domain.name}:place"].returns


def test_returns_declares_the_response_types() -> None:
    shop = Domain("shop")

    @shop.command(Place, returns=Placed | None)
    async def place(cmd, ctx):  # type: ignore[no-untyped-def]
        return None

    assert route(shop) == (Placed, Ok)


def test_an_annotation_declares_them() -> None:
    shop = Domain("shop")

    @shop.command(Place)
    async def place(cmd: Place, ctx: Context) -> Placed | Refused:
        return Placed(n=1)

    assert route(shop) == (Placed, Refused)


def test_a_generator_annotation_names_its_response_among_events() -> None:
    shop = Domain("shop")
    shop.register(Happened)

    @shop.command(Place)
    async def place(cmd: Place, ctx: Context) -> AsyncIterator[Happened | Placed]:
        yield Happened(n=1)
        yield Placed(n=1)

    # AsyncIterator is imported for type checkers only: it is a wrapper, skipped.
    assert route(shop) == (Placed,)


def test_a_generator_yielding_only_events_gives_ok() -> None:
    shop = Domain("shop")
    shop.register(Happened)

    @shop.command(Place)
    async def place(cmd: Place, ctx: Context) -> AsyncIterator[Happened]:
        yield Happened(n=1)

    assert route(shop) == (Ok,)


def test_none_declares_ok_and_a_missing_annotation_anything() -> None:
    shop = Domain("shop")

    @shop.command(Place)
    async def place(cmd: Place, ctx: Context) -> None:
        return None

    billing = Domain("billing")

    @billing.command(Place)
    async def unannotated(cmd, ctx):  # type: ignore[no-untyped-def]
        return None

    assert route(shop) == (Ok,)
    assert route(billing) == (Response,)


def test_an_annotation_it_cannot_read_declares_nothing() -> None:
    shop = Domain("shop")

    @shop.command(Place)
    async def place(cmd: Place, ctx: Context) -> Unresolvable:  # type: ignore[name-defined]  # noqa: F821
        return None

    assert route(shop) == (Response,)


def test_returns_refuses_what_is_not_a_response() -> None:
    shop = Domain("shop")
    with pytest.raises(RegistrationError, match="returns= takes Response classes"):

        @shop.command(Place, returns=Happened)
        async def place(cmd, ctx):  # type: ignore[no-untyped-def]
            return None


async def test_the_bus_refuses_an_undeclared_response() -> None:
    shop = Domain("shop")

    @shop.command(Place, returns=Placed)
    async def place(cmd: Place, ctx: Context) -> Response | None:
        if cmd.n == 1:
            return Refused(why="no")
        if cmd.n == 2:
            return None
        return Placed(n=cmd.n)

    async with App([shop]) as app:
        assert await app.bus.dispatch(Place(n=3)) == Placed(n=3)
        with pytest.raises(HandlerError, match=r"gave no response; it declared Placed"):
            await app.bus.dispatch(Place(n=2))
        with pytest.raises(HandlerError, match=r"returned Refused\(why='no'\)"):
            await app.bus.dispatch(Place(n=1))


async def test_the_bus_refuses_an_undeclared_yielded_response() -> None:
    shop = Domain("shop")

    @shop.command(Place, returns=Placed)
    async def place(cmd: Place, ctx: Context) -> AsyncIterator[Response]:
        yield Refused(why="no")

    async with App([shop]) as app:
        with pytest.raises(HandlerError, match=r"yielded Refused.*declared Placed"):
            await app.bus.dispatch(Place())


async def test_a_renderer_gives_a_declared_type_too() -> None:
    shop = Domain("shop")

    @shop.command(Place)
    async def place(cmd: Place, ctx: Context) -> Placed:
        return Placed(n=1)

    @shop.renderer(Placed)
    async def render(placed: Placed, ctx: Context) -> Response:
        return Refused(why="rendered")

    async with App([shop]) as app:
        with pytest.raises(RenderError) as caught:
            await app.bus.dispatch(Place())
    assert caught.value.response == Placed(n=1)
    assert isinstance(caught.value.__cause__, HandlerError)
    assert "a Response of a type the command" in str(caught.value.__cause__)
