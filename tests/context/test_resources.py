"""C05-C11 and E12 (resources): lazy resources, teardown order and errors."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import anyio
import anyio.lowlevel
import pytest

from glue import App, Context, ContextError, Domain, Forbidden, SetupError

if TYPE_CHECKING:
    from collections.abc import AsyncIterator


class Recorder:
    """Factories that record their setup and teardown in one list."""

    def __init__(self) -> None:
        self.log: list[str] = []
        self.setups = 0

    def factory(self, name: str, value: Any = None, *, delay: float = 0) -> Any:
        async def resource(ctx: Context) -> AsyncIterator[Any]:
            self.setups += 1
            if delay:
                await anyio.sleep(delay)
            self.log.append(f"setup {name}")
            try:
                yield name if value is None else value
            except BaseException as exc:
                self.log.append(f"rollback {name}: {type(exc).__name__}")
                raise
            self.log.append(f"commit {name}")

        return resource


async def test_a_resource_is_set_up_lazily_and_once() -> None:
    rec = Recorder()
    ctx = Context(resources={"db": rec.factory("db", value=object())})
    async with ctx:
        assert "db" not in ctx and rec.setups == 0
        first = await ctx.resource("db")
        assert "db" in ctx
        assert await ctx.resource("db") is first
    assert rec.setups == 1
    assert "missing" not in ctx


async def test_racing_tasks_set_a_resource_up_once() -> None:
    rec = Recorder()
    values: list[Any] = []
    ctx = Context(resources={"db": rec.factory("db", value=object(), delay=0.02)})

    async def use() -> None:
        values.append(await ctx.resource("db"))

    async with ctx, anyio.create_task_group() as tg:
        for _ in range(5):
            tg.start_soon(use)
    assert rec.setups == 1
    assert len(values) == 5 and all(v is values[0] for v in values)


async def test_a_resource_before_entry_or_after_exit_raises() -> None:
    rec = Recorder()
    ctx = Context(resources={"db": rec.factory("db")})
    with pytest.raises(ContextError, match="before the context is entered"):
        await ctx.resource("db")
    async with ctx:
        await ctx.resource("db")
    with pytest.raises(ContextError, match="after exit"):
        await ctx.resource("db")


async def test_while_exiting_existing_resources_work_and_new_ones_do_not() -> None:
    seen: list[Any] = []

    async def tx(ctx: Context) -> AsyncIterator[str]:
        yield "tx"

    async def late(ctx: Context) -> AsyncIterator[str]:
        yield "late"

    async def user(ctx: Context) -> AsyncIterator[None]:
        yield
        seen.append(await ctx.resource("tx"))
        try:
            await ctx.resource("late")
        except ContextError as exc:
            seen.append(str(exc))

    ctx = Context(resources={"tx": tx, "late": late}, middleware=[user])
    async with ctx:
        await ctx.resource("tx")
    assert seen == [
        "tx",
        "resource 'late' cannot be set up while the context is exiting",
    ]


async def test_teardown_runs_in_reverse_order_after_all_middleware() -> None:
    rec = Recorder()

    async def mw(ctx: Context) -> AsyncIterator[None]:
        yield
        rec.log.append("middleware exit")

    ctx = Context(
        resources={name: rec.factory(name) for name in ("a", "b", "c")},
        middleware=[mw],
    )
    async with ctx:
        for name in ("b", "a", "c"):
            await ctx.resource(name)
    assert rec.log == [
        "setup b",
        "setup a",
        "setup c",
        "middleware exit",
        "commit c",
        "commit a",
        "commit b",
    ]


async def test_teardown_receives_the_bodys_exception() -> None:
    rec = Recorder()
    ctx = Context(resources={"a": rec.factory("a"), "b": rec.factory("b")})
    with pytest.raises(KeyError):
        async with ctx:
            await ctx.resource("a")
            await ctx.resource("b")
            raise KeyError("boom")
    assert rec.log[-2:] == ["rollback b: KeyError", "rollback a: KeyError"]


async def test_a_factory_that_never_yields_raises_a_setup_error_inside() -> None:
    async def broken(ctx: Context) -> AsyncIterator[None]:
        if ctx.domain is None:
            return  # before yielding
        yield

    ctx = Context(resources={"broken": broken})
    async with ctx:
        with pytest.raises(SetupError, match="'broken' did not set up"):
            await ctx.resource("broken")
        assert "broken" not in ctx


async def test_a_factory_that_fails_to_set_up_raises_inside() -> None:
    async def failing(ctx: Context) -> AsyncIterator[None]:
        if ctx.domain is None:
            raise OSError("no database")
        yield

    ctx = Context(resources={"db": failing})
    async with ctx:
        with pytest.raises(OSError, match="no database"):
            await ctx.resource("db")


async def test_a_factory_that_yields_twice_is_a_teardown_error() -> None:
    rec = Recorder()

    async def twice(ctx: Context) -> AsyncIterator[int]:
        yield 1
        yield 2

    ctx = Context(resources={"twice": twice, "ok": rec.factory("ok")})
    with pytest.raises(ContextError, match="yielded more than once") as info:
        async with ctx:
            await ctx.resource("ok")
            await ctx.resource("twice")
    assert list(ctx.teardown_errors) == [info.value]
    assert rec.log[-1] == "commit ok"


async def test_teardown_errors_are_collected_logged_and_the_rest_still_run(
    caplog: pytest.LogCaptureFixture,
) -> None:
    rec = Recorder()

    def failing(name: str) -> Any:
        async def resource(ctx: Context) -> AsyncIterator[str]:
            yield name
            raise RuntimeError(f"{name} failed")

        return resource

    ctx = Context(
        resources={
            "first": rec.factory("first"),
            "bad1": failing("bad1"),
            "bad2": failing("bad2"),
            "last": rec.factory("last"),
        }
    )
    with pytest.raises(RuntimeError, match="bad2") as info:
        async with ctx:
            for name in ("first", "bad1", "bad2", "last"):
                await ctx.resource(name)
    assert [str(e) for e in ctx.teardown_errors] == ["bad2 failed", "bad1 failed"]
    assert info.value is ctx.teardown_errors[0]
    assert "raised while tearing down resource 'bad2'" in info.value.__notes__
    assert rec.log == ["setup first", "setup last", "commit last", "commit first"]
    failed = [r for r in caplog.records if r.getMessage().startswith("teardown")]
    assert [vars(r)["resource"] for r in failed] == ["bad2", "bad1"]
    assert {(r.name, r.levelno) for r in failed} == {
        ("glue.context.resources", logging.ERROR)
    }


async def test_the_bodys_exception_wins_over_teardown_errors() -> None:
    async def bad(ctx: Context) -> AsyncIterator[None]:
        try:
            yield
        finally:
            raise RuntimeError("teardown failed")

    ctx = Context(resources={"bad": bad})
    with pytest.raises(KeyError):
        async with ctx:
            await ctx.resource("bad")
            raise KeyError("body")
    assert [str(e) for e in ctx.teardown_errors] == ["teardown failed"]


async def test_pooled_checkouts_are_always_returned() -> None:
    pool = {"out": 0, "max": 0}

    async def connection(ctx: Context) -> AsyncIterator[int]:
        pool["out"] += 1
        pool["max"] = max(pool["max"], pool["out"])
        try:
            yield pool["out"]
        finally:
            pool["out"] -= 1

    async def one(fail: bool) -> None:
        ctx = Context(resources={"conn": connection})
        try:
            async with ctx:
                await ctx.resource("conn")
                await anyio.sleep(0.001)
                if fail:
                    raise ValueError("failed unit")
        except ValueError:
            pass

    async with anyio.create_task_group() as tg:
        for i in range(50):
            tg.start_soon(one, i % 3 == 0)
    assert pool["out"] == 0 and pool["max"] > 1


async def test_cancellation_tears_everything_down() -> None:
    rec = Recorder()
    started = anyio.Event()

    async def mw(ctx: Context) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await anyio.lowlevel.checkpoint()  # teardown may await: it is shielded
            rec.log.append("middleware exit")

    async def body() -> None:
        ctx = Context(
            resources={"a": rec.factory("a"), "b": rec.factory("b")}, middleware=[mw]
        )
        async with ctx:
            await ctx.resource("a")
            await ctx.resource("b")
            started.set()
            await anyio.sleep(10)

    async with anyio.create_task_group() as tg:
        tg.start_soon(body)
        await started.wait()
        tg.cancel_scope.cancel()
    cancelled = anyio.get_cancelled_exc_class().__name__
    assert rec.log[-3:] == [
        "middleware exit",
        f"rollback b: {cancelled}",
        f"rollback a: {cancelled}",
    ]


async def test_a_domain_reaches_only_the_resources_it_declared() -> None:
    shop, billing = Domain("shop"), Domain("billing")

    @shop.resource("clock")
    async def clock(ctx: Context) -> AsyncIterator[float]:
        yield 1.0

    @billing.resource
    async def ledger(ctx: Context) -> AsyncIterator[str]:
        yield "ledger"

    async with App([shop, billing]) as app:
        async with app.context(domain="shop") as ctx:
            assert await ctx.resource("clock") == 1.0
            with pytest.raises(Forbidden, match="did not declare resource 'ledger'"):
                await ctx.resource("ledger")
        async with app.context(domain="billing") as ctx:
            assert await ctx.resource("ledger") == "ledger"
            with pytest.raises(Forbidden) as info:
                await ctx.resource("clock")
            assert info.value.missing == {"clock"}
        async with app.context() as ctx:
            with pytest.raises(ContextError, match="no resource named 'clock'"):
                await ctx.resource("clock")
        with pytest.raises(ContextError, match="no domain named 'nope'"):
            app.context(domain="nope")
