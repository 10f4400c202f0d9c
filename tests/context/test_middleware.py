"""M01-M06: middleware around a context's body."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import anyio
import pytest

from glue import Context, ContextError, SetupError

if TYPE_CHECKING:
    from collections.abc import AsyncIterator


def recording(log: list[str], name: str) -> Any:
    async def middleware(ctx: Context) -> AsyncIterator[None]:
        log.append(f"enter {name}")
        try:
            yield
        except BaseException as exc:
            log.append(f"{name} saw {exc!r}")
            raise
        log.append(f"exit {name}")

    return middleware


async def test_set_up_in_registration_order_torn_down_in_reverse() -> None:
    log: list[str] = []
    ctx = Context(middleware=[recording(log, "a"), recording(log, "b")])
    async with ctx:
        log.append("body")
    assert log == ["enter a", "enter b", "body", "exit b", "exit a"]


async def test_middleware_that_never_yields_stops_the_body() -> None:
    log: list[str] = []

    async def broken(ctx: Context) -> AsyncIterator[None]:
        log.append("broken")
        if ctx.domain is None:
            return  # before yielding
        yield

    async def tx(ctx: Context) -> AsyncIterator[str]:
        yield "tx"
        log.append("tx committed")

    async def uses_tx(ctx: Context) -> AsyncIterator[None]:
        await ctx.resource("tx")
        yield

    ctx = Context(
        resources={"tx": tx},
        middleware=[recording(log, "outer"), uses_tx, broken],
    )
    with pytest.raises(SetupError, match="returned without yielding"):
        async with ctx:
            log.append("body")  # pragma: no cover - must not run
    assert "body" not in log
    assert log[0:2] == ["enter outer", "broken"]
    assert log[2].startswith("outer saw SetupError")
    assert "tx committed" not in log  # torn down with the error thrown in


async def test_the_bodys_exception_reaches_the_innermost_first() -> None:
    log: list[str] = []
    ctx = Context(middleware=[recording(log, "outer"), recording(log, "inner")])
    with pytest.raises(KeyError):
        async with ctx:
            raise KeyError("body")
    assert log[2:] == ["inner saw KeyError('body')", "outer saw KeyError('body')"]


async def test_a_new_exception_replaces_the_original_everywhere() -> None:
    log: list[str] = []

    async def translate(ctx: Context) -> AsyncIterator[None]:
        try:
            yield
        except KeyError as exc:
            raise LookupError("translated") from exc

    async def tx(ctx: Context) -> AsyncIterator[None]:
        try:
            yield
        except BaseException as exc:
            log.append(f"tx saw {exc!r}")
            raise

    ctx = Context(resources={"tx": tx}, middleware=[recording(log, "outer"), translate])
    with pytest.raises(LookupError, match="translated") as info:
        async with ctx:
            await ctx.resource("tx")
            raise KeyError("body")
    assert isinstance(info.value.__cause__, KeyError)
    assert log[1:] == [
        "outer saw LookupError('translated')",
        "tx saw LookupError('translated')",
    ]


async def test_a_swallowing_middleware_makes_the_context_exit_cleanly() -> None:
    log: list[str] = []

    async def swallow(ctx: Context) -> AsyncIterator[None]:
        try:
            yield
        except KeyError:
            log.append("swallowed")

    async def tx(ctx: Context) -> AsyncIterator[None]:
        yield
        log.append("tx committed")

    ctx = Context(resources={"tx": tx}, middleware=[recording(log, "outer"), swallow])
    async with ctx:
        await ctx.resource("tx")
        raise KeyError("body")
    assert log == ["enter outer", "swallowed", "exit outer", "tx committed"]


async def test_cancellation_cannot_be_swallowed() -> None:
    async def swallow_all(ctx: Context) -> AsyncIterator[None]:
        try:
            yield
        except BaseException:
            pass

    with anyio.move_on_after(0.01) as scope:
        async with Context(middleware=[swallow_all]):
            await anyio.sleep(5)
    assert scope.cancelled_caught


async def test_middleware_can_use_resources() -> None:
    log: list[str] = []

    async def database(ctx: Context) -> AsyncIterator[list[str]]:
        yield log

    async def transaction(ctx: Context) -> AsyncIterator[None]:
        db = await ctx.resource("database")
        db.append("begin")
        try:
            yield
        except Exception:
            db.append("rollback")
            raise
        db.append("commit")

    async with Context(resources={"database": database}, middleware=[transaction]):
        log.append("work")
    with pytest.raises(ValueError):
        async with Context(resources={"database": database}, middleware=[transaction]):
            raise ValueError("bad")
    assert log == ["begin", "work", "commit", "begin", "rollback"]


async def test_middleware_that_yields_twice_is_a_teardown_error() -> None:
    async def twice(ctx: Context) -> AsyncIterator[None]:
        yield
        yield

    ctx = Context(middleware=[twice])
    with pytest.raises(ContextError, match="yielded more than once"):
        async with ctx:
            pass
    assert len(ctx.teardown_errors) == 1


async def test_a_chain_is_built_once_and_reused() -> None:
    from glue.context import MiddlewareChain

    log: list[str] = []
    chain = MiddlewareChain([recording(log, "a")])
    assert len(chain) == 1 and chain
    for _ in range(2):
        async with Context(middleware=chain):
            pass
    assert log == ["enter a", "exit a"] * 2
