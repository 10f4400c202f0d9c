"""Outbox: events written with the unit of work that emitted them.

An App with subscribers has one (``app.outbox``). When a dispatch emits an
event that some subscriber of the App handles, the bus hands it here; the
event is written to ``glue_outbox``, with one ``glue_deliveries`` row per
subscriber, in the unit's own transaction, after the unit's own changes (a
:meth:`glue.work.UnitOfWork.before_commit` hook), on the outbox database of the
emitting domain: ``Domain(outbox="name")``, else the database of the domain's
first declared table, else ``"default"``. So a unit that rolls back publishes
nothing, and one that commits has its events stored, whatever happens to the
process next. On PostgreSQL the same transaction notifies the workers
(``pg_notify('glue_outbox')``, sent at commit).

Each event gets an aggregate and a sequence number: an event whose domain
named its aggregate field (``shop.register(OrderPaid, aggregate="order_id")``)
belongs to ``"{domain}/{field}/{value}"`` (so order 5 and customer 5 are
two aggregates), numbered 1, 2, ... in commit order (the
counter row in ``glue_outbox_aggregates`` is raised in the writer's
transaction; its row lock queues concurrent writers of one aggregate at that
point, at the end of their units); any other event is an aggregate of its own,
number 1. The counter is raised by the statement that writes the events (on
PostgreSQL, one statement: the counter's new value, returned, numbers the rows),
so a unit that only inserts still takes one round trip with its events.
"""

from __future__ import annotations

import time
import weakref
from typing import TYPE_CHECKING, Any, NamedTuple

import msgspec

from ..connections.manager import DEFAULT
from ..errors import ConfigurationError, ContextError
from ..ids import new_id
from ..log import get_logger
from ..sql.dialects import Statement
from .tables import AGGREGATES, DELIVERIES, OUTBOX, Tables, run

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping, Sequence

    from ..connections.abc import ConnectionPool
    from ..connections.manager import ConnectionManager
    from ..entities.base import Event
    from ..schema.model import Schema
    from ..sql.dialects import Dialect
    from ..work.transaction import Transaction
    from ..work.unit import UnitOfWork
    from .subscriber import Subscriber

__all__ = ["CHANNEL", "Outbox", "Publisher"]

_log = get_logger(__name__)

CHANNEL = "glue_outbox"
"""The channel PostgreSQL workers listen on."""


class Publisher:
    """What the outbox knows of one domain: where its events go, and which
    field names each event's aggregate.

    Attributes:
        domain: the domain's name.
        database: the name of its outbox (and inbox) database.
        events: the event classes it registered.
        aggregates: event class → the field naming its aggregate.
    """

    __slots__ = ("aggregates", "database", "domain", "events")

    def __init__(
        self,
        domain: str,
        database: str,
        events: Iterable[type[Event]],
        aggregates: Mapping[type[Event], str],
    ) -> None:
        self.domain = domain
        self.database = database
        self.events = tuple(events)
        self.aggregates = dict(aggregates)


class Outbox:
    """The outbox of an App: what to write at commit, and who gets it.

    Args:
        publishers: each domain's :class:`Publisher`, by domain name.
        subscribers: every subscriber of the App.
    """

    def __init__(
        self, publishers: Mapping[str, Publisher], subscribers: Iterable[Subscriber]
    ) -> None:
        self.publishers = dict(publishers)
        self.subscribers: dict[str, Subscriber] = {}
        self.by_event: dict[type[Event], tuple[Subscriber, ...]] = {}
        for subscriber in subscribers:
            if subscriber.name in self.subscribers:
                raise ConfigurationError(
                    f"two subscribers are named {subscriber.name!r}: give one "
                    "another with name="
                )
            self.subscribers[subscriber.name] = subscriber
            for event in subscriber.events:
                self.by_event[event] = (*self.by_event.get(event, ()), subscriber)
        self.tables = Tables()
        self._pools: dict[str, ConnectionPool] | None = None
        self._staged: weakref.WeakKeyDictionary[UnitOfWork, _Staged] = (
            weakref.WeakKeyDictionary()
        )
        self._listeners: list[Callable[[], None]] = []

    @property
    def active(self) -> bool:
        """Whether the App has any subscriber (else nothing is ever written)."""
        return bool(self.subscribers)

    def publishes(self, events: Iterable[type[Event]]) -> bool:
        """Whether any of ``events`` has a subscriber."""
        return any(event in self.by_event for event in events)

    def subscriber(self, which: Subscriber | str) -> Subscriber:
        """A subscriber of the App, by name or as itself.

        Raises:
            glue.ConfigurationError: no subscriber of that name.
        """
        name = which if isinstance(which, str) else which.name
        found = self.subscribers.get(name)
        if found is None:
            known = ", ".join(sorted(self.subscribers)) or "none"
            raise ConfigurationError(
                f"this App has no subscriber {name!r} (its subscribers: {known})"
            )
        return found

    # -- databases -----------------------------------------------------------------

    async def open(self, manager: ConnectionManager) -> None:
        """Find each domain's outbox database and create the tables it needs."""
        pools = manager.pools
        self._pools = {}
        for name, publisher in self.publishers.items():
            pool = pools.get(publisher.database) or pools.get(DEFAULT)
            if pool is None:
                raise ConfigurationError(
                    f"domain {name!r} keeps its outbox in database "
                    f"{publisher.database!r}, which the App does not have "
                    f"(databases: {', '.join(sorted(pools)) or 'none'})"
                )
            self._pools[name] = pool
        for subscriber in self.subscribers.values():
            await self.tables.reader(self.home(subscriber.domain))
        for pool in self.writer_pools():
            await self.tables.writer(pool)

    def close(self) -> None:
        """Forget the pools (the App closes them)."""
        self._pools = None

    def home(self, domain: str) -> ConnectionPool:
        """The outbox (and inbox) database of ``domain``.

        Raises:
            glue.ContextError: the App is not open.
        """
        if self._pools is None:
            raise ContextError(
                "the outbox works while its App is open: `async with App(...)`"
            )
        return self._pools[domain]

    def writer_pools(self) -> list[ConnectionPool]:
        """The databases holding deliveries: those of domains whose events have
        subscribers, each once."""
        found: dict[int, ConnectionPool] = {}
        for name, publisher in self.publishers.items():
            if self.publishes(publisher.events):
                pool = self.home(name)
                found.setdefault(id(pool), pool)
        return list(found.values())

    # -- writing -------------------------------------------------------------------

    def publish(self, unit: UnitOfWork, domain: str, events: Sequence[Event]) -> None:
        """Write ``events`` (those with subscribers) with ``unit`` when it
        commits. The bus calls this once every handler of a dispatch finished."""
        by_event = self.by_event
        wanted = [event for event in events if type(event) in by_event]
        if not wanted:
            return
        staged = self._staged.get(unit)
        if staged is None:
            staged = self._staged[unit] = _Staged(self)
            unit.before_commit(staged.write, inline=staged.inline)
            unit.after_commit(self.wake)
        staged.events.extend((domain, event) for event in wanted)

    def listen(self, wake: Callable[[], None]) -> None:
        """Call ``wake()`` whenever a unit of this process wrote events."""
        self._listeners.append(wake)

    def unlisten(self, wake: Callable[[], None]) -> None:
        """Stop calling ``wake``."""
        self._listeners.remove(wake)

    def wake(self) -> None:
        """Tell this process's listeners that events were written."""
        for wake in self._listeners:
            wake()


class _Staged:
    """The events of one unit of work, written by its before-commit hook (or
    sent with its inserts: :meth:`inline`)."""

    __slots__ = ("events", "outbox")

    def __init__(self, outbox: Outbox) -> None:
        self.outbox = outbox
        self.events: list[tuple[str, Event]] = []

    async def write(self, transaction: Transaction) -> None:
        """Write the events into ``transaction``, grouped by outbox database."""
        outbox = self.outbox
        groups: dict[int, tuple[ConnectionPool, list[tuple[str, Event]]]] = {}
        for domain, event in self.events:
            pool = outbox.home(domain)
            groups.setdefault(id(pool), (pool, []))[1].append((domain, event))
        for pool, events in groups.values():
            conn = await transaction.connection(pool)
            dialect = conn.dialect
            statements = _statements(dialect, outbox, _stamp(outbox, events))
            if not dialect.batched_writes:
                # One statement, one round trip (PostgreSQL).
                statements = dialect.combine(statements)
            await run(conn, statements)

    def inline(self, pool: ConnectionPool) -> list[Statement] | None:
        """The statements writing the events with the unit's inserts on
        ``pool``; None when an event goes elsewhere."""
        outbox = self.outbox
        if any(outbox.home(domain) is not pool for domain, _ in self.events):
            return None
        return _statements(pool.dialect, outbox, _stamp(outbox, self.events))


class _Stamped(NamedTuple):
    """An event with its id, full name and aggregate."""

    id: str
    domain: str
    name: str
    aggregate: str
    named: bool
    event: Event


def _stamp(outbox: Outbox, events: Sequence[tuple[str, Event]]) -> list[_Stamped]:
    """Give each event its id, full name and aggregate."""
    stamped = []
    for domain, event in events:
        kind = type(event)
        ident = str(new_id())
        field = outbox.publishers[domain].aggregates.get(kind)
        aggregate = (
            ident if field is None else f"{domain}/{field}/{getattr(event, field)}"
        )
        name = f"{domain}:{kind.__entity_name__}"
        stamped.append(
            _Stamped(ident, domain, name, aggregate, field is not None, event)
        )
    return stamped


def _statements(
    dialect: Dialect, outbox: Outbox, stamped: Sequence[_Stamped]
) -> list[Statement]:
    """The statements writing the stamped events: first each named aggregate's
    counter raised by its events (in one order in every unit: two units never
    wait on each other's), then the outbox and delivery rows, then the
    notification. A numbered row reads its ``seq`` from its counter's new value:
    as returned by the counter's statement, where they are combined into one
    (:meth:`~glue.sql.dialects.Dialect.combine` on PostgreSQL), else from the
    counter's row, raised by the statement before."""
    now = time.time()
    counts: dict[str, int] = {}
    for entry in stamped:
        if entry.named:
            counts[entry.aggregate] = counts.get(entry.aggregate, 0) + 1
    statements: list[Statement] = []
    sources: dict[str, str] = {}
    if counts:
        # Where statements run one after another, the counter's row holds the
        # new value; where they are combined, only the returned row does.
        one_by_one = dialect.batched_writes
        table = dialect.quote(AGGREGATES.name, "table")
        raise_sql = dialect.upsert(
            AGGREGATES.name,
            ("aggregate", "seq"),
            ("aggregate",),
            update={"seq": f"{table}.seq + excluded.seq"},
            returning=() if one_by_one else ("aggregate", "seq"),
        )
        for index, aggregate in enumerate(sorted(counts)):
            name = f"glue_seq{index}"
            params = (aggregate, counts[aggregate])
            statements.append(Statement(raise_sql, params, name=name))
            sources[aggregate] = table if one_by_one else name
    rows: list[dict[str, Any]] = []
    deliveries: list[dict[str, Any]] = []
    numbered: list[Statement] = []
    for entry in stamped:
        # A named event's seq is its counter's new value less ``back``.
        back = 0
        if entry.named:
            counts[entry.aggregate] -= 1
            back = counts[entry.aggregate]
        row = {
            "id": entry.id,
            "domain": entry.domain,
            "event": entry.name,
            "aggregate": entry.aggregate,
            "seq": back if entry.named else 1,
            "payload": msgspec.json.encode(entry.event),
            "created_at": now,
        }
        due = [
            {
                "event_id": entry.id,
                "subscriber": subscriber.name,
                "aggregate": entry.aggregate,
                "seq": row["seq"],
                "attempts": 0,
                "available_at": now,
                "leased_until": 0.0,
                "replay": False,
                "error": None,
            }
            for subscriber in outbox.by_event[type(entry.event)]
        ]
        if not entry.named:
            rows.append(row)
            deliveries += due
            continue
        source = sources[entry.aggregate]
        numbered += [
            _numbered(dialect, schema, values, source)
            for schema, values in ((OUTBOX, row), *((DELIVERIES, d) for d in due))
        ]
    statements += numbered
    if rows:
        statements += [
            *dialect.insert(OUTBOX, rows),
            *dialect.insert(DELIVERIES, deliveries),
        ]
    notify = dialect.notify(CHANNEL)
    if notify is not None:
        statements.append(notify)
    return statements


def _numbered(
    dialect: Dialect, schema: Schema, row: dict[str, Any], source: str
) -> Statement:
    """Insert ``row`` into ``schema`` with its ``seq`` read from ``source``
    (the row of its aggregate there, less ``row["seq"]``)."""
    codec = dialect.codec(schema)
    (params,) = codec.encode_rows([row])
    seq = dialect.quote("seq", "column")
    values = [f"n.{seq} - " if name == "seq" else "" for name in codec.names]
    sql = dialect.number_placeholders(
        [
            f"INSERT INTO {dialect.quote(schema.name, 'table')} "
            f"({', '.join(codec.quoted)}) SELECT {values[0]}",
            *(f", {value}" for value in values[1:]),
            f" FROM {source} n WHERE n.{dialect.quote('aggregate', 'column')} = ",
            "",
        ]
    )
    return Statement(sql, (*params, row["aggregate"]))
