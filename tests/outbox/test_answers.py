"""A subscriber answers with events: yielded, they are written to the outbox
with its own unit of work (its changes and inbox row), and reach their own
subscribers after that unit commits; on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from glue import App, Command, Context, Domain, Event
from glue.outbox.status import dead_letters, drain
from glue.schema import Column, ColumnType, Schema
from glue.state import Insert

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

ANSWERS = Schema(
    name="answers",
    columns=(
        Column(name="question", type=ColumnType.INTEGER),
        Column(name="answer", type=ColumnType.INTEGER),
    ),
    primary_key=("question",),
    versioned=False,
)


class Ask(Command):
    question: int


class Asked(Event):
    question: int


class Answered(Event):
    question: int
    answer: int


class Stray(Event):
    question: int


def make_app(url: str, *, stray: bool = False) -> App:
    """``asker`` emits ``Asked``; ``oracle`` answers ``Answered`` (or a
    ``Stray`` it does not register); ``asker`` records the answer."""
    asker = Domain("asker")
    asker.table(ANSWERS)
    asker.register(Asked, Stray)

    @asker.command(Ask)
    async def ask(cmd: Ask, ctx: Context) -> AsyncIterator[Asked]:
        yield Asked(question=cmd.question)

    @asker.subscriber(Answered)
    async def record(evt: Answered, ctx: Context) -> AsyncIterator[Insert]:
        values = {"question": evt.question, "answer": evt.answer}
        yield Insert(schema=ANSWERS, values=values)

    @asker.subscriber(Stray, name="asker.stray")
    async def ignore(evt: Stray, ctx: Context) -> None:
        return None

    oracle = Domain("oracle", outbox="default")
    oracle.register(Answered)

    @oracle.subscriber(Asked, attempts=1)
    async def answer(evt: Asked, ctx: Context) -> AsyncIterator[Event]:
        if stray:
            yield Stray(question=evt.question)
        yield Answered(question=evt.question, answer=evt.question * 2)

    return App(
        [asker, oracle],
        databases={"default": url},
        create_tables=True,
        delivery="in-process",
    )


async def answers(app: App) -> list[tuple[Any, ...]]:
    async with app.connections.get_connection_pool().acquire() as conn:
        rows = await conn.fetch("SELECT question, answer FROM answers ORDER BY 1")
    return list(rows.rows)


async def test_a_subscribers_events_reach_their_subscribers(database_url: str) -> None:
    async with make_app(database_url) as app:
        for question in (1, 2, 3):
            await app.bus.dispatch(Ask(question=question))
        await drain(app)
        assert await answers(app) == [(1, 2), (2, 4), (3, 6)]


async def test_a_subscriber_sends_only_its_domains_events(database_url: str) -> None:
    """An event its domain does not register fails the delivery whole: nothing
    of it is written, and the dead letter says why."""
    async with make_app(database_url, stray=True) as app:
        await app.bus.dispatch(Ask(question=1))
        await drain(app)
        assert await answers(app) == []
        [parked] = await dead_letters(app)
        assert parked.subscriber == "oracle.answer"
        assert "Stray, which domain 'oracle' does not register" in parked.error
