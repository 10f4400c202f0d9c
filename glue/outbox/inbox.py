"""The inbox: a subscriber applies each event once in effect, in order per aggregate.

:func:`deliver` runs one subscriber on one envelope, in a unit of work of the
subscriber's domain. In that unit's transaction, after the handler's own
changes, it records ``(subscriber, event id)`` in ``glue_inbox`` and raises the
subscriber's last ``seq`` of the event's aggregate in ``glue_inbox_aggregates``
from ``seq - 1`` to ``seq``, on the subscriber domain's home database (its
``Domain(outbox=...)``, else the database of its first table). So a delivery is
applied exactly when its changes commit, and:

- an envelope whose ``seq`` is at most the last applied is a duplicate: nothing
  runs (a transport that delivers twice changes nothing);
- one whose ``seq`` is past the next is deferred: an earlier event of its
  aggregate is still on its way; the transport offers it again later;
- two deliveries of one event at once: one commits, the other finds the inbox
  row moved under it, rolls back, and reports a duplicate.

Any transport that delivers at least once therefore gives exactly once in
effect, in order per aggregate. A replay (a dead letter retried) skips the
order check and only asks whether that event was applied; applied, it moves
its aggregate on past it if it was the next (so the later events go on even if
parking it could not let them).

Only the subscriber's own errors count as failed attempts: a database the
delivery needs that cannot be reached (`glue.ConnectionError`), or a commit
whose outcome is unknown (`glue.CommitInDoubt`), is raised to the transport,
which offers the event again later without counting it.
"""

from __future__ import annotations

import enum
import time
from typing import TYPE_CHECKING, Any

import anyio
import msgspec

from ..entities.base import Event
from ..errors import (
    CommitInDoubt,
    ConcurrencyConflict,
    ConnectionError,
    GlueError,
    HandlerError,
    IntegrityError,
)
from ..log import get_logger
from ..state.mutations import Mutation
from .rows import select, select_keys
from .tables import INBOX, INBOX_AGGREGATES, run

if TYPE_CHECKING:
    from collections.abc import Sequence

    from ..connections.abc import Connection, ConnectionPool
    from ..context.context import Context
    from ..domain.app import App
    from ..work.transaction import Transaction
    from ..work.unit import UnitOfWork
    from .envelope import Envelope
    from .subscriber import Subscriber

__all__ = ["Delivered", "Delivery", "deliver", "deliver_many"]

_log = get_logger(__name__)


class Delivery(enum.Enum):
    """What one delivery of an envelope to a subscriber came to."""

    APPLIED = "applied"
    """The subscriber ran and its changes committed with the inbox row."""
    DUPLICATE = "duplicate"
    """Applied before: nothing ran. Acknowledge it."""
    DEFERRED = "deferred"
    """An earlier event of its aggregate is not applied yet (or the
    subscriber's rows kept conflicting): offer it again shortly."""
    FAILED = "failed"
    """The subscriber raised: retry with backoff, then park it."""


class Delivered(msgspec.Struct, frozen=True):
    """The outcome of :func:`deliver`.

    Attributes:
        status: what happened.
        error: for a failure, the error, as text (on a deferral: the
            database error that held it back, see :mod:`glue.outbox.relay`).
    """

    status: Delivery
    error: str | None = None


_UNAVAILABLE = (ConnectionError, CommitInDoubt)
"""Errors that are not the subscriber's: the delivery is offered again later,
not counted as an attempt."""

_APPLIED = Delivered(Delivery.APPLIED)
_DUPLICATE = Delivered(Delivery.DUPLICATE)
_DEFERRED = Delivered(Delivery.DEFERRED)


async def deliver(
    app: App, subscriber: Subscriber | str, envelope: Envelope, *, replay: bool = False
) -> Delivered:
    """Deliver ``envelope`` to ``subscriber``, once in effect and in order.

    Transports call this for each message they receive, and acknowledge it
    unless the result is :attr:`Delivery.DEFERRED` or :attr:`Delivery.FAILED`.

    Args:
        app: an open App that has the subscriber.
        subscriber: the subscriber, or its name (``"billing.record_payment"``).
        envelope: the event as the outbox wrote it.
        replay: apply it unless this very event was applied, whatever its
            place in its aggregate's order (a dead letter retried).

    Raises:
        glue.ConfigurationError: the App has no subscriber of that name.
        glue.ContextError: the App is not open.
        glue.ConnectionError: a database the delivery needs cannot be reached
            (nothing was applied; offer the event again later).
        glue.CommitInDoubt: the delivery's commit may or may not have happened
            (offer it again: the inbox finds it applied, or applies it).
    """
    outbox = app.outbox
    found = outbox.subscriber(subscriber)
    pool = outbox.home(found.domain)
    retry = app.registry.retry
    try:
        event = app.registry.codecs[envelope.event].json.decode(envelope.payload)
    except (KeyError, msgspec.MsgspecError) as exc:
        return Delivered(Delivery.FAILED, f"cannot decode {envelope.event}: {exc}")
    attempt = 1
    while True:
        try:
            verdict = await _apply(app, pool, found, envelope, event, replay)
        except (_Moved, ConcurrencyConflict) as exc:
            # Another delivery of it (or of its aggregate) got there first, or
            # the subscriber's own rows changed under it: not its fault.
            if attempt >= retry.attempts:
                _log.debug("delivery deferred by conflicts", error=repr(exc))
                return _DEFERRED
            await anyio.sleep(retry.delay(attempt))
            attempt += 1
            continue
        except _UNAVAILABLE:
            raise
        except Exception as exc:
            _log.info(
                "subscriber failed",
                subscriber=found.name,
                event_name=envelope.event,
                event_id=envelope.id,
                error=repr(exc),
            )
            return Delivered(Delivery.FAILED, _describe(exc))
        return verdict or _APPLIED


async def skip(app: App, subscriber: Subscriber, envelope: Envelope) -> None:
    """Let the events after ``envelope`` in its aggregate through to
    ``subscriber`` without it (it was parked as a dead letter). When the
    database fails, say so: they wait until the dead letter is retried (its
    replay lets them through)."""
    pool = app.outbox.home(subscriber.domain)
    try:
        async with pool.acquire(write=True) as conn, conn.transaction():
            await _advance(conn, subscriber, envelope)
    except GlueError as exc:
        _log.warning(
            "later events of a dead letter's aggregate wait until it is retried",
            subscriber=subscriber.name,
            aggregate=envelope.aggregate,
            event_id=envelope.id,
            error=str(exc),
        )


async def deliver_many(
    app: App, subscriber: Subscriber | str, envelopes: Sequence[Envelope]
) -> list[Delivered]:
    """Deliver ``envelopes`` to ``subscriber`` as :func:`deliver` would, those
    that can go now in one unit of work: one transaction, one commit.

    What :func:`deliver` would find a duplicate or deferred is that, without
    running; the rest (each aggregate's next events, in order) run one after
    another in one unit and commit together with their inbox rows. When that
    unit cannot commit whole (a subscriber raised, conflicts, another delivery
    got there first), it rolls back and each of them goes through
    :func:`deliver` alone, so one bad event never holds back the others.

    Returns:
        what became of each envelope, in the order given.

    Raises:
        glue.ConnectionError, glue.CommitInDoubt: as :func:`deliver`.
    """
    found = app.outbox.subscriber(subscriber)
    pool = app.outbox.home(found.domain)
    results: list[Delivered | None] = [None] * len(envelopes)
    last = await _last_applied(pool, found, {e.aggregate for e in envelopes})
    runnable: list[int] = []
    # Per aggregate, in seq order: seqs at or below the last applied are
    # duplicates, those that follow on run, a gap defers the rest.
    for index in sorted(
        range(len(envelopes)), key=lambda i: (envelopes[i].aggregate, envelopes[i].seq)
    ):
        envelope = envelopes[index]
        before = last.get(envelope.aggregate, 0)
        if envelope.seq <= before:
            results[index] = _DUPLICATE
        elif envelope.seq == before + 1:
            runnable.append(index)
            last[envelope.aggregate] = envelope.seq
        else:
            results[index] = _DEFERRED
    if len(runnable) == 1:
        results[runnable[0]] = await deliver(app, found, envelopes[runnable[0]])
    elif runnable:
        batch = [envelopes[index] for index in runnable]
        try:
            events = [
                app.registry.codecs[e.event].json.decode(e.payload) for e in batch
            ]
            await _apply_many(app, pool, found, batch, events)
        except _UNAVAILABLE:
            raise
        except Exception as exc:
            _log.debug(
                "batch of deliveries falls back to one by one",
                subscriber=found.name,
                error=repr(exc),
            )
            for index in runnable:
                results[index] = await deliver(app, found, envelopes[index])
        else:
            for index in runnable:
                results[index] = _APPLIED
    return [result or _DEFERRED for result in results]


# -- internals -------------------------------------------------------------------


class _Moved(Exception):
    """The inbox changed under a delivery: look again."""


async def _check(
    conn: Connection, subscriber: Subscriber, envelope: Envelope, replay: bool
) -> Delivered | None:
    """Whether the envelope was applied (or is early); None to apply it now."""
    name = ("subscriber", "eq", subscriber.name)
    if replay:
        found = await select(conn, INBOX, [name, ("event_id", "eq", envelope.id)])
        return _DUPLICATE if found else None
    aggregate = ("aggregate", "eq", envelope.aggregate)
    rows = await select(conn, INBOX_AGGREGATES, [name, aggregate])
    last = rows[0]["seq"] if rows else 0
    if envelope.seq <= last:
        return _DUPLICATE
    if envelope.seq > last + 1:
        return _DEFERRED
    return None


async def _apply(
    app: App,
    pool: ConnectionPool,
    subscriber: Subscriber,
    envelope: Envelope,
    event: Event,
    replay: bool,
) -> Delivered | None:
    """Run the subscriber in a context of its domain whose unit of work reads
    the inbox first (in its own transaction: one connection) and records the
    inbox rows before it commits; the verdict when it did not run."""

    async def record(transaction: Transaction) -> None:
        conn = await transaction.connection(pool)
        dialect = conn.dialect
        row = {
            "subscriber": subscriber.name,
            "event_id": envelope.id,
            "applied_at": time.time(),
        }
        try:
            await run(conn, dialect.insert(INBOX, [row]))
        except IntegrityError:
            raise _Moved from None
        # A replay moves its aggregate on only if it is the next (parking it
        # may have failed to); in order, it must be the next.
        if not await _advance(conn, subscriber, envelope) and not replay:
            raise _Moved

    async with app.context(domain=subscriber.domain, request_id=envelope.id) as ctx:
        unit = ctx.unit
        conn = await unit.transaction.connection(pool)
        verdict = await _check(conn, subscriber, envelope, replay)
        if verdict is not None:
            return verdict  # the unit commits nothing
        unit.before_commit(record)
        await _run(app, subscriber, event, ctx, unit)
    return None


async def _run(
    app: App, subscriber: Subscriber, event: Event, ctx: Context, unit: UnitOfWork
) -> None:
    """Run the subscriber's handler on ``event``: its mutations into ``unit``,
    the events it yields into the outbox with ``unit`` (they leave when, and
    only when, its changes and inbox row commit)."""
    if subscriber.generator:
        answers: list[Event] = []
        generator = subscriber.handler(event, ctx)
        try:
            async for item in generator:
                if isinstance(item, Mutation):
                    await unit.state.apply(item)
                elif isinstance(item, Event):
                    answers.append(_registered(app, subscriber, item))
                else:
                    raise HandlerError(
                        f"subscriber {subscriber.name} yielded {item!r}: "
                        "subscribers yield mutations (Insert, Update, Delete, "
                        "Upsert) and events of their domain"
                    )
        finally:
            with anyio.CancelScope(shield=True):
                await generator.aclose()
        app.outbox.publish(unit, subscriber.domain, answers)
    elif await subscriber.handler(event, ctx) is not None:
        raise HandlerError(
            f"subscriber {subscriber.name} returned a value: subscribers "
            "return None, or yield the mutations and events to apply"
        )


def _registered(app: App, subscriber: Subscriber, event: Event) -> Event:
    """``event``, if the subscriber's domain registers its type."""
    if type(event) not in app.outbox.publishers[subscriber.domain].events:
        raise HandlerError(
            f"subscriber {subscriber.name} yielded {type(event).__qualname__}, "
            f"which domain {subscriber.domain!r} does not register: a subscriber "
            "sends events of its own domain (Domain.register)"
        )
    return event


async def _last_applied(
    pool: ConnectionPool, subscriber: Subscriber, aggregates: set[str]
) -> dict[str, int]:
    """The subscriber's last applied seq of each of ``aggregates`` (absent: 0)."""
    keys = [(subscriber.name, aggregate) for aggregate in sorted(aggregates)]
    async with pool.acquire() as conn:
        rows = await select_keys(conn, INBOX_AGGREGATES, keys)
    return {row["aggregate"]: row["seq"] for row in rows}


async def _apply_many(
    app: App,
    pool: ConnectionPool,
    subscriber: Subscriber,
    envelopes: list[Envelope],
    events: list[Event],
) -> None:
    """Run the subscriber on each event, in order, in one context of its domain
    whose unit records every inbox row before it commits; raise if it cannot
    commit whole."""
    spans: dict[str, tuple[int, int]] = {}
    for envelope in envelopes:
        first, _ = spans.get(envelope.aggregate, (envelope.seq, envelope.seq))
        spans[envelope.aggregate] = (first, envelope.seq)

    async def record(transaction: Transaction) -> None:
        conn = await transaction.connection(pool)
        now = time.time()
        rows = [
            {"subscriber": subscriber.name, "event_id": e.id, "applied_at": now}
            for e in envelopes
        ]
        dialect = conn.dialect
        await run(conn, dialect.insert(INBOX, rows))
        # The aggregates seen first here start in one statement; each of the
        # others moves on from the seq before its span.
        started = [
            {"subscriber": subscriber.name, "aggregate": aggregate, "seq": last}
            for aggregate, (first, last) in spans.items()
            if first == 1
        ]
        if started:
            statements = dialect.insert(INBOX_AGGREGATES, started, if_absent=True)
            if await run(conn, statements) != len(started):
                raise _Moved
        for aggregate, (first, last) in spans.items():
            if first > 1 and not await _advance_span(
                conn, subscriber, aggregate, first, last
            ):
                raise _Moved

    request_id = envelopes[0].id
    async with app.context(domain=subscriber.domain, request_id=request_id) as ctx:
        unit = ctx.unit
        unit.before_commit(record)
        for event in events:
            await _run(app, subscriber, event, ctx, unit)


async def _advance(
    conn: Connection, subscriber: Subscriber, envelope: Envelope
) -> bool:
    """Raise the subscriber's last seq of the envelope's aggregate from
    ``seq - 1`` to ``seq``; whether it was ``seq - 1``."""
    return await _advance_span(
        conn, subscriber, envelope.aggregate, envelope.seq, envelope.seq
    )


async def _advance_span(
    conn: Connection, subscriber: Subscriber, aggregate: str, first: int, last: int
) -> bool:
    """Raise the subscriber's last seq of ``aggregate`` from ``first - 1`` to
    ``last``; whether it was ``first - 1``."""
    dialect = conn.dialect
    quote = dialect.quote
    table = quote(INBOX_AGGREGATES.name, "table")
    if first == 1:
        sql = dialect.upsert(
            INBOX_AGGREGATES.name,
            ("subscriber", "aggregate", "seq"),
            ("subscriber", "aggregate"),
        )
        params: tuple[Any, ...] = (subscriber.name, aggregate, last)
    else:
        sql = (
            f"UPDATE {table} SET {quote('seq', 'column')} = "  # noqa: S608
            + dialect.number_placeholders(
                [
                    "",
                    f" WHERE {quote('subscriber', 'column')} = ",
                    f" AND {quote('aggregate', 'column')} = ",
                    f" AND {quote('seq', 'column')} = ",
                    "",
                ]
            )
        )
        params = (last, subscriber.name, aggregate, first - 1)
    return bool(await conn.execute(sql, params))


def _describe(exc: BaseException) -> str:
    """An error as the text a dead letter keeps."""
    text = f"{type(exc).__qualname__}: {exc}"
    if not isinstance(exc, GlueError) and exc.__cause__ is not None:
        text += f" (caused by {exc.__cause__!r})"
    return text[:2000]
