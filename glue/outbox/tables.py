"""The outbox's tables, created on first use in each database that needs them.

In the outbox database of a domain that publishes (the writer's side):

- ``glue_outbox``: one row per event written (the :class:`~glue.outbox.Envelope`);
- ``glue_outbox_aggregates``: each named aggregate's last ``seq``, raised in the
  writer's transaction (its row lock orders concurrent writers of one aggregate);
- ``glue_deliveries``: one row per event and subscriber still to deliver, with
  its attempts, when it may run next, and the lease of the worker running it;
- ``glue_dead_letters``: deliveries that failed every attempt, with the error.

In the home database of a domain that subscribes (the subscriber's side, the
inbox), written in the subscriber's own transaction:

- ``glue_inbox``: each (subscriber, event id) applied;
- ``glue_inbox_aggregates``: per (subscriber, aggregate), the last ``seq`` applied.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import anyio

from ..errors import DatabaseError
from ..schema.model import Column, ColumnType, Index, Schema
from ..services.schema import SchemaCommandService

if TYPE_CHECKING:
    from collections.abc import Sequence

    from ..connections.abc import Connection, ConnectionPool
    from ..sql.dialects import Dialect, Statement

__all__ = [
    "AGGREGATES",
    "DEAD_LETTERS",
    "DELIVERIES",
    "INBOX",
    "INBOX_AGGREGATES",
    "OUTBOX",
    "Tables",
    "claim_sql",
    "next_due_sql",
    "run",
]

_TEXT = ColumnType.TEXT
_INT = ColumnType.INTEGER
_TIME = ColumnType.FLOAT  # seconds since the epoch: compared and sorted in SQL

OUTBOX = Schema(
    name="glue_outbox",
    columns=(
        Column(name="id", type=_TEXT),
        Column(name="domain", type=_TEXT),
        Column(name="event", type=_TEXT),
        Column(name="aggregate", type=_TEXT),
        Column(name="seq", type=_INT),
        Column(name="payload", type=ColumnType.BYTES),
        Column(name="created_at", type=_TIME),
    ),
    primary_key=("id",),
    indexes=(Index(name="glue_outbox_created", columns=("created_at",)),),
    versioned=False,
)
"""One row per event written: the envelope."""

AGGREGATES = Schema(
    name="glue_outbox_aggregates",
    columns=(Column(name="aggregate", type=_TEXT), Column(name="seq", type=_INT)),
    primary_key=("aggregate",),
    versioned=False,
)
"""Each named aggregate's last sequence number."""

DELIVERIES = Schema(
    name="glue_deliveries",
    columns=(
        Column(name="event_id", type=_TEXT),
        Column(name="subscriber", type=_TEXT),
        Column(name="aggregate", type=_TEXT),
        Column(name="seq", type=_INT),
        Column(name="attempts", type=_INT),
        Column(name="available_at", type=_TIME),
        Column(name="leased_until", type=_TIME),
        Column(name="replay", type=ColumnType.BOOLEAN),
        Column(name="error", type=_TEXT, nullable=True),
    ),
    primary_key=("event_id", "subscriber"),
    indexes=(
        Index(name="glue_deliveries_order", columns=("subscriber", "aggregate", "seq")),
        Index(name="glue_deliveries_due", columns=("available_at",)),
    ),
    versioned=False,
)
"""One row per event and subscriber still to deliver."""

DEAD_LETTERS = Schema(
    name="glue_dead_letters",
    columns=(
        Column(name="event_id", type=_TEXT),
        Column(name="subscriber", type=_TEXT),
        Column(name="aggregate", type=_TEXT),
        Column(name="seq", type=_INT),
        Column(name="attempts", type=_INT),
        Column(name="error", type=_TEXT),
        Column(name="failed_at", type=_TIME),
    ),
    primary_key=("event_id", "subscriber"),
    versioned=False,
)
"""Deliveries that failed every attempt, with the last error."""

INBOX = Schema(
    name="glue_inbox",
    columns=(
        Column(name="subscriber", type=_TEXT),
        Column(name="event_id", type=_TEXT),
        Column(name="applied_at", type=_TIME),
    ),
    primary_key=("subscriber", "event_id"),
    versioned=False,
)
"""Each event a subscriber applied."""

INBOX_AGGREGATES = Schema(
    name="glue_inbox_aggregates",
    columns=(
        Column(name="subscriber", type=_TEXT),
        Column(name="aggregate", type=_TEXT),
        Column(name="seq", type=_INT),
    ),
    primary_key=("subscriber", "aggregate"),
    versioned=False,
)
"""Per subscriber and aggregate, the last sequence number applied."""

WRITER_TABLES = (OUTBOX, AGGREGATES, DELIVERIES, DEAD_LETTERS)
READER_TABLES = (INBOX, INBOX_AGGREGATES)


class Tables:
    """Creates the outbox's tables in a database the first time it is used."""

    def __init__(self) -> None:
        self._ready: set[tuple[int, bool]] = set()
        self._lock = anyio.Lock()

    async def writer(self, pool: ConnectionPool) -> None:
        """Make sure the writer's tables exist in ``pool``'s database."""
        await self._create(pool, writer=True)

    async def reader(self, pool: ConnectionPool) -> None:
        """Make sure the inbox's tables exist in ``pool``'s database."""
        await self._create(pool, writer=False)

    async def _create(self, pool: ConnectionPool, *, writer: bool) -> None:
        key = (id(pool), writer)
        if key in self._ready:
            return
        async with self._lock:
            if key in self._ready:
                return
            service = SchemaCommandService(pool)
            for schema in WRITER_TABLES if writer else READER_TABLES:
                try:
                    await service.create_table(schema, if_not_exists=True)
                except DatabaseError:
                    # Two processes creating it at once on PostgreSQL: the
                    # later fails once the first committed; now it exists.
                    await service.create_table(schema, if_not_exists=True)
            self._ready.add(key)


async def run(conn: Connection, statements: Sequence[Statement]) -> int:
    """Run ``statements`` in order through ``conn``, in its transaction: in one
    call where a batch is one step (SQLite), else one at a time (a PostgreSQL
    batch would add a savepoint's two round trips).

    Returns:
        the rows they changed (a ``many`` statement on PostgreSQL counts none).
    """
    if conn.dialect.batched_writes:
        return sum(await conn.batch(statements))
    changed = 0
    for statement in statements:
        if statement.many is not None:
            await conn.execute_many(statement.sql, statement.many)
        else:
            changed += await conn.execute(statement.sql, statement.params)
    return changed


# The earliest delivery left of its subscriber and aggregate (`d`): the rows
# behind it wait for it, however old they are.
_HEAD = (
    "NOT EXISTS (SELECT 1 FROM {table} p WHERE p.subscriber = d.subscriber "
    "AND p.aggregate = d.aggregate AND p.seq < d.seq)"
)


def claim_sql(dialect: Dialect, *, per_aggregate: bool) -> str:
    """The statement leasing due deliveries of ``glue_deliveries``.

    It sets ``leased_until`` of up to a given number of rows that are due
    (``available_at`` passed) and not leased (``leased_until`` passed), oldest
    first, chosen with the dialect's ``skip_locked`` so that relays claiming at
    once never take the same row, and returns their ``event_id, subscriber,
    attempts, replay``. Placeholders: the new lease, now (twice), the number.

    Args:
        dialect: the outbox database's dialect.
        per_aggregate: claim only the earliest delivery left of each
            (subscriber, aggregate) (a relay that runs the subscribers: order
            per aggregate); else every due row (a relay that publishes: the
            inbox orders them again at the other end).
    """
    table = dialect.quote(DELIVERIES.name, "table")
    mark = dialect.placeholder
    head = f"AND {_HEAD.format(table=table)} " if per_aggregate else ""
    return (
        f"UPDATE {table} SET leased_until = {mark(1)} "  # noqa: S608
        "WHERE (event_id, subscriber) IN ("
        f"SELECT d.event_id, d.subscriber FROM {table} d "
        f"WHERE d.available_at <= {mark(2)} AND d.leased_until <= {mark(3)} "
        f"{head}ORDER BY d.available_at LIMIT {mark(4)}{dialect.skip_locked}) "
        "RETURNING event_id, subscriber, attempts, replay"
    )


def next_due_sql(dialect: Dialect, *, per_aggregate: bool) -> str:
    """The query giving when the earliest delivery :func:`claim_sql` could
    claim falls due (NULL: none left), in seconds since the epoch."""
    table = dialect.quote(DELIVERIES.name, "table")
    head = f" WHERE {_HEAD.format(table=table)}" if per_aggregate else ""
    return (
        "SELECT MIN(CASE WHEN d.leased_until > d.available_at "  # noqa: S608
        f"THEN d.leased_until ELSE d.available_at END) FROM {table} d{head}"
    )
