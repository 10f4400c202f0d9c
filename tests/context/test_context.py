"""C01-C04, deadlines: a context's identity, reach, meta and lifetime."""

from __future__ import annotations

from typing import TYPE_CHECKING

import anyio
import anyio.lowlevel
import pytest

from glue import Context, ContextError, Metadata, current_context, require_context

if TYPE_CHECKING:
    from collections.abc import AsyncIterator


async def test_a_context_is_entered_once() -> None:
    ctx = Context()
    async with ctx:
        pass
    with pytest.raises(ContextError, match="entered once"):
        async with ctx:
            pass


async def test_current_context_finds_the_active_one_anywhere_inside() -> None:
    def deep() -> Context | None:
        return current_context()

    assert current_context() is None
    with pytest.raises(ContextError, match="no active context"):
        require_context()
    async with Context() as ctx:
        assert deep() is ctx
        assert require_context() is ctx
    assert current_context() is None


async def test_child_tasks_inherit_the_context() -> None:
    seen: list[Context | None] = []

    async def child() -> None:
        await anyio.lowlevel.checkpoint()
        seen.append(current_context())

    async with Context() as ctx, anyio.create_task_group() as tg:
        tg.start_soon(child)
        tg.start_soon(child)
    assert seen == [ctx, ctx]


async def test_sibling_tasks_are_isolated() -> None:
    seen: dict[str, tuple[Context, Context | None]] = {}

    async def sibling(name: str) -> None:
        async with Context(request_id=name) as ctx:
            await anyio.sleep(0.01)
            seen[name] = (ctx, current_context())

    async with anyio.create_task_group() as tg:
        tg.start_soon(sibling, "a")
        tg.start_soon(sibling, "b")
    assert all(ctx is found for ctx, found in seen.values())
    assert seen["a"][0] is not seen["b"][0]


async def test_nested_contexts_stack_and_unwind() -> None:
    async with Context(request_id="outer") as outer:
        async with Context(request_id="inner") as inner:
            assert current_context() is inner
        assert current_context() is outer
        with pytest.raises(RuntimeError):
            async with Context(request_id="failing"):
                raise RuntimeError("boom")
        assert current_context() is outer
    assert current_context() is None


async def test_meta_is_read_only() -> None:
    ctx = Context(meta={"tenant": "acme", "empty": ""})
    meta = ctx.meta
    assert isinstance(meta, Metadata)
    assert meta.tenant == "acme" and meta["tenant"] == "acme"
    assert meta.missing is None and meta.get("missing") is None
    assert dict(meta) == {"tenant": "acme", "empty": ""}
    with pytest.raises(ContextError, match="read-only"):
        meta.tenant = "evil"
    with pytest.raises(ContextError, match="read-only"):
        del meta.tenant
    with pytest.raises(TypeError):
        meta["tenant"] = "evil"
    assert meta.require("tenant") == "acme"
    for key in ("missing", "empty"):
        with pytest.raises(ContextError, match=f"meta {key!r} is required"):
            meta.require(key)


async def test_meta_does_not_change_when_the_callers_dict_does() -> None:
    given = {"tenant": "acme"}
    ctx = Context(meta=given)
    given["tenant"] = "other"
    assert ctx.meta.tenant == "acme"


async def test_context_attributes_are_read_only() -> None:
    ctx = Context(actor="ada", request_id="r1", deadline=None)
    assert (ctx.actor, ctx.request_id, ctx.deadline, ctx.domain) == (
        "ada",
        "r1",
        None,
        None,
    )
    for name in ("actor", "request_id", "meta", "deadline", "domain"):
        with pytest.raises(ContextError, match=f"cannot set {name!r}"):
            setattr(ctx, name, "x")


async def test_a_request_id_is_made_up_when_not_given() -> None:
    first, second = Context(), Context()
    assert first.request_id and first.request_id == first.request_id
    assert first.request_id != second.request_id


async def test_emit_needs_a_dispatch() -> None:
    from glue import Event

    class Happened(Event):
        pass

    async with Context() as ctx:
        with pytest.raises(ContextError, match="command handler"):
            ctx.emit(Happened())


async def test_a_deadline_cancels_the_body_with_a_timeout_error() -> None:
    torn_down: list[str] = []

    async def slow(ctx: Context):  # type: ignore[no-untyped-def]  # async generator
        try:
            yield "value"
        except BaseException as exc:
            torn_down.append(type(exc).__name__)
            raise

    ctx = Context(deadline=anyio.current_time() + 0.05, resources={"slow": slow})
    with pytest.raises(TimeoutError):
        async with ctx:
            await ctx.resource("slow")
            await anyio.sleep(5)
    assert torn_down == [anyio.get_cancelled_exc_class().__name__]


async def test_a_deadline_that_does_not_pass_changes_nothing() -> None:
    async with Context(deadline=anyio.current_time() + 10) as ctx:
        assert ctx.deadline is not None
    assert current_context() is None


async def test_repr_names_the_state() -> None:
    ctx = Context(request_id="r1", domain="shop")
    assert repr(ctx) == "<Context r1 domain='shop' new>"
    async with ctx:
        assert "open" in repr(ctx)
    assert "closed" in repr(ctx)


async def test_a_bare_context_has_no_unit_of_work_events_or_services() -> None:
    from glue import UnknownService

    async with Context() as ctx:
        with pytest.raises(ContextError, match="inside a dispatch"):
            _ = ctx.state
        with pytest.raises(ContextError, match="inside a dispatch"):
            _ = ctx.unit
        with pytest.raises(UnknownService, match="no services"):
            _ = ctx.dal
        with pytest.raises(ContextError, match="emit"):
            ctx.emit(None)  # type: ignore[arg-type]  # never reaches a hook


async def test_enter_now_and_exit_now_enter_and_leave_without_awaiting() -> None:
    """Entering and leaving with nothing to await, as the bus does."""
    outer = Context()
    assert outer.enter_now()
    ctx = Context(request_id="r1")
    assert ctx.enter_now()
    assert current_context() is ctx
    with pytest.raises(ContextError, match="entered once"):
        ctx.enter_now()
    assert ctx.exit_now()
    assert current_context() is outer
    assert "closed" in repr(ctx)
    assert outer.exit_now()
    assert current_context() is None


async def test_enter_now_declines_what_must_be_awaited() -> None:
    async def middleware(ctx: Context) -> AsyncIterator[None]:
        yield

    assert not Context(middleware=[middleware]).enter_now()
    assert not Context(deadline=anyio.current_time() + 1).enter_now()
    ctx = Context(resources={"x": _resource})
    assert ctx.enter_now()
    assert await ctx.resource("x") == "x"
    assert not ctx.exit_now()  # a resource to tear down: awaited
    await ctx.__aexit__(None, None, None)
    assert current_context() is None


async def _resource(ctx: Context) -> AsyncIterator[str]:
    yield "x"
