"""The identity map: each row of a unit of work, as stored and as now known.

Every row a unit of work reads or changes has one :class:`Tracked` entry, keyed by
table and primary key. Entries are immutable and rows are read-only mappings, so
a handler cannot change a cached row behind the state manager's back; a snapshot
of the whole map is a pyrsistent map. (The live map is a plain dict owned by its
state manager: a pyrsistent map on the hot path cost 5-10x more per row.)

An entry compares the row as the database last had it (``stored``) with its
newest known state (``current``); what differs is the write the flush will issue:

============  ============  ==========================================
stored        current       the flush writes
============  ============  ==========================================
None          None          nothing (absent, or created and deleted)
None          a row         INSERT (``create``: only if still absent)
a row         None          DELETE, guarded by the stored etag
a row         another row   UPDATE of ``changed``, guarded by the etag
a row         the same row  nothing (clean)
============  ============  ==========================================
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import msgspec
from pyrsistent import PMap, pmap

from ..errors import ConcurrencyConflict, StaleEtag
from ..schema.model import ETAG, Schema

__all__ = ["Changeset", "IdentityMap", "Key", "Row", "RowKind", "Tracked"]

Row = Mapping[str, Any]
"""A row: column name to value, read-only."""

Key = tuple[Any, ...]
"""A primary key, one value per key column."""


class RowKind(enum.StrEnum):
    """The write a pending row needs."""

    INSERT = "insert"
    """A new row; a duplicate key is an `glue.IntegrityError`."""
    CREATE = "create"
    """A row an upsert found absent: a concurrent creator is a conflict."""
    UPDATE = "update"
    """Changed columns of a stored row, guarded by its etag."""
    DELETE = "delete"
    """A hard delete of a stored row, guarded by its etag."""


class Tracked(msgspec.Struct, frozen=True, gc=False):
    """One row of a unit of work.

    Attributes:
        schema: the row's table.
        key: its primary key.
        stored: the row as the database had it when read, None if absent.
        current: its newest known state, None if absent or hard-deleted.
        order: the position of its first change in the unit, -1 while clean.
        changed: the columns an UPDATE must write.
        create: a new row from an upsert, inserted only if still absent.
    """

    schema: Schema
    key: Key
    stored: Row | None
    current: Row | None
    order: int = -1
    changed: frozenset[str] = frozenset()
    create: bool = False

    @property
    def kind(self) -> RowKind | None:
        """The write this row needs, or None when it needs none."""
        stored, current = self.stored, self.current
        if current is stored:
            return None
        if stored is None:
            if current is None:
                return None
            return RowKind.CREATE if self.create else RowKind.INSERT
        return RowKind.DELETE if current is None else RowKind.UPDATE

    @property
    def held_etag(self) -> str | None:
        """The etag the database should still have: the stored row's."""
        return None if self.stored is None else self.stored.get(ETAG)

    def conflict(self) -> ConcurrencyConflict:
        """The error for this row having changed before the commit: its table,
        its key (a single value for a one-column key) and the held etag."""
        key = self.key[0] if len(self.key) == 1 else self.key
        return ConcurrencyConflict(self.schema.name, key, self.held_etag)

    def stale(self, etag: str) -> StaleEtag:
        """The error for a caller's ``etag`` that is not this row's."""
        key = self.key[0] if len(self.key) == 1 else self.key
        return StaleEtag(self.schema.name, key, etag)


class Changeset(msgspec.Struct, frozen=True):
    """The pending rows of a unit of work, in first-change order.

    Attributes:
        rows: each row that needs a write, in the order it was first changed.
    """

    rows: tuple[Tracked, ...] = ()

    def __len__(self) -> int:
        return len(self.rows)

    def __iter__(self) -> Iterator[Tracked]:
        return iter(self.rows)

    def __bool__(self) -> bool:
        return bool(self.rows)

    def tables(self) -> tuple[str, ...]:
        """The tables written, in first-change order."""
        return tuple(dict.fromkeys(t.schema.name for t in self.rows))


class IdentityMap:
    """The rows of one unit of work, by (table, key), in first-change order.

    It belongs to one state manager, which alone changes it; everything it holds
    is immutable (:class:`Tracked` entries over read-only rows), and
    :meth:`snapshot` returns a pyrsistent map that never changes afterwards.
    """

    __slots__ = ("_changed", "_entries")

    def __init__(self) -> None:
        """Start empty."""
        self._entries: dict[tuple[str, Key], Tracked] = {}
        self._changed: list[tuple[str, Key]] = []

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, table: str, key: Key) -> Tracked | None:
        """The entry of ``key`` in ``table``, or None if the unit never saw it."""
        return self._entries.get((table, key))

    @property
    def next_order(self) -> int:
        """The position the next row changed for the first time gets."""
        return len(self._changed)

    def set(self, tracked: Tracked) -> None:
        """Put ``tracked`` in place of its row's entry."""
        ident = (tracked.schema.name, tracked.key)
        self._entries[ident] = tracked
        if tracked.order == len(self._changed):
            self._changed.append(ident)

    def set_many(self, entries: Iterable[Tracked]) -> None:
        """Put every entry of ``entries`` in place, in order."""
        store = self._entries
        changed = self._changed
        for tracked in entries:
            ident = (tracked.schema.name, tracked.key)
            store[ident] = tracked
            if tracked.order == len(changed):
                changed.append(ident)

    def unknown(self, table: str, keys: Iterable[Key]) -> list[Key]:
        """The keys of ``keys`` that ``table`` has no entry for, in order."""
        entries = self._entries
        return [key for key in keys if (table, key) not in entries]

    def currents(self, table: str, keys: Iterable[Key]) -> list[Row | None]:
        """The newest known state of each key's row (None if absent or unseen)."""
        get = self._entries.get
        return [
            None if (tracked := get((table, key))) is None else tracked.current
            for key in keys
        ]

    def add_read(self, table: str, entries: Mapping[Key, Tracked]) -> None:
        """Add entries for rows just read, unless the map has them meanwhile."""
        store = self._entries
        for key, tracked in entries.items():
            store.setdefault((table, key), tracked)

    def knows_any(self, idents: Iterable[tuple[str, Key]]) -> bool:
        """Whether any of ``idents`` (table, key) has an entry."""
        return not self._entries.keys().isdisjoint(idents)

    def entries(self, idents: Iterable[tuple[str, Key]]) -> list[Tracked | None]:
        """The entry of each (table, key) of ``idents``, None where there is none."""
        get = self._entries.get
        return [get(ident) for ident in idents]

    def replace(
        self,
        idents: list[tuple[str, Key]],
        entries: list[Tracked],
        first: list[tuple[str, Key]],
    ) -> None:
        """Put each ``entries[i]`` in place of the entry of ``idents[i]``.

        ``first`` are the idents changed for the first time, in this order: their
        entries' orders run from `next_order` up.
        """
        self._entries.update(zip(idents, entries, strict=True))
        self._changed.extend(first)

    def snapshot(self) -> PMap[tuple[str, Key], Tracked]:
        """Every entry now, as a persistent map that later changes leave alone."""
        return pmap(self._entries)

    def pending(self) -> Changeset:
        """The rows that need a write, in first-change order."""
        # kind is None exactly when current is stored (both None included).
        return Changeset(
            tuple(
                [
                    tracked
                    for tracked in map(self._entries.__getitem__, self._changed)
                    if tracked.current is not tracked.stored
                ]
            )
        )
