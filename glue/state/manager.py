"""StateManager: the rows of one unit of work, and every change made to them.

A handler reads rows with :meth:`StateManager.get` and changes them with
:meth:`~StateManager.insert`, :meth:`~StateManager.update`,
:meth:`~StateManager.delete`, :meth:`~StateManager.upsert` or
:meth:`~StateManager.apply` (for the mutation values event handlers yield). The
state manager does no I/O of its own: it reads missing rows through the loader
its unit of work gives it, at most once per row, and leaves writing to the flush,
which takes :meth:`~StateManager.changes`.

For many rows of one table, :meth:`~StateManager.insert_many` and
:meth:`~StateManager.update_many` do the same as the one-row methods in a loop
at a fraction of the cost per row (a bulk load or a batch job should use them).

What the state manager stamps (handlers cannot):

- ``etag``: a new random token when a row is created and the first time a stored
  row changes in the unit; an unchanged row keeps its etag.
- ``created_at`` / ``updated_at`` / ``created_by`` / ``updated_by`` in tables with
  ``audit=True``, from the unit's clock and actor.
- ``deleted_at`` in tables with ``soft_delete=True``, on delete.
"""

from __future__ import annotations

import datetime as dt
import operator
import os
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Final

import msgspec

from ..errors import IntegrityError, NotFound, SchemaError, format_key
from ..schema.model import DELETED_AT, ETAG, Schema
from .facts import SCALARS, TableFacts, facts_of
from .identity import Changeset, IdentityMap, Key, Row, Tracked
from .lock import QuickLock
from .mutations import Delete, Insert, Mutation, Update, Upsert

if TYPE_CHECKING:
    from pyrsistent import PMap

__all__ = ["Clock", "Loader", "StateManager", "new_etag", "normalize_key", "utcnow"]

Clock = Callable[[], dt.datetime]
"""Returns the current time; stamped into audit and soft-delete columns."""

Loader = Callable[[Schema, Sequence[Key]], Awaitable[list[dict[str, Any]]]]
"""Reads the rows of ``keys`` from a table; absent keys are simply left out."""


class StateManager:
    """The identity map, mutation log and stamping of one unit of work.

    One state manager belongs to one unit of work (one dispatch); it is never
    shared between concurrent dispatches. Rows it hands out are read-only
    mappings: change them through the methods below.

    Args:
        loader: reads rows the unit has not seen yet; by default nothing is found
            (a state manager over no database).
        actor: who is acting, stamped into ``created_by`` / ``updated_by``.
        clock: the time source for audit and soft-delete columns.
    """

    def __init__(
        self,
        *,
        loader: Loader | None = None,
        actor: str | None = None,
        clock: Clock | None = None,
    ) -> None:
        self._loader: Loader = loader or _load_nothing
        self._actor = actor
        self._clock: Clock = clock or utcnow
        self._map = IdentityMap()
        # Mutations, and (Insert, schema, rows) for each insert_many and
        # (Update, schema, [(key, changes)]) for each update_many, expanded on
        # demand.
        self._log: list[Mutation | tuple[type[Mutation], Schema, list[Any]]] = []
        # Made on first use (most units never read); uncontended, it costs no
        # loop iteration.
        self._load_lock: QuickLock | None = None

    @property
    def actor(self) -> str | None:
        """Who is acting, as stamped into ``created_by`` / ``updated_by``."""
        return self._actor

    def snapshot(self) -> PMap[tuple[str, Key], Tracked]:
        """Every row the unit has seen, by (table, key); it never changes."""
        return self._map.snapshot()

    def tracked(self, schema: Schema, key: Any) -> Tracked | None:
        """What the unit knows of a row, or None if it never saw it."""
        return self._map.get(schema.name, facts_of(schema).key(key))

    @property
    def log(self) -> tuple[Mutation, ...]:
        """Every mutation applied, in order."""
        mutations: list[Mutation] = []
        for entry in self._log:
            if not isinstance(entry, tuple):
                mutations.append(entry)
            elif entry[0] is Insert:
                _, schema, rows = entry
                mutations += [Insert(schema=schema, values=values) for values in rows]
            else:
                _, schema, pairs = entry
                mutations += [
                    Update(schema=schema, key=key, changes=changes)
                    for key, changes in pairs
                ]
        return tuple(mutations)

    @property
    def pending(self) -> tuple[Tracked, ...]:
        """The rows that need a write, in first-change order (see `changes`)."""
        return self._map.pending().rows

    def changes(self) -> Changeset:
        """The rows that need a write, in first-change order: what a flush writes."""
        return self._map.pending()

    def is_dirty(self, schema: Schema, key: Any) -> bool:
        """Whether the row of ``key`` has a change not yet written."""
        tracked = self._map.get(schema.name, facts_of(schema).key(key))
        return tracked is not None and tracked.kind is not None

    def mark_flushed(self, changeset: Changeset) -> None:
        """Record that ``changeset`` was written: its rows are stored as written.

        A row changed again after ``changeset`` was taken stays pending, with a
        new etag for its next write.
        """
        now = self._map
        entries = []
        for flushed in changeset.rows:
            tracked = now.get(flushed.schema.name, flushed.key)
            if tracked is None:
                continue
            written = flushed.current
            if tracked is flushed or tracked.current is written:
                entries.append(
                    Tracked(
                        flushed.schema, flushed.key, written, written, tracked.order
                    )
                )
                continue
            current = tracked.current
            if current is not None and flushed.schema.versioned:
                fresh = _thaw(current)
                fresh[ETAG] = new_etag()
                current = MappingProxyType(fresh)
            entries.append(
                msgspec.structs.replace(
                    tracked, stored=written, current=current, create=False
                )
            )
        now.set_many(entries)

    # Reading ---------------------------------------------------------------

    async def get(self, schema: Schema, key: Any) -> Row | None:
        """Return the newest known state of a row, reading it at most once.

        Args:
            schema: the table.
            key: the primary key: a scalar for a one-column key, else a tuple.

        Returns:
            the row, or None if it does not exist or is soft-deleted.
        """
        info = facts_of(schema)
        tracked = await self._tracked(info, info.key(key))
        current = tracked.current
        if current is None or info.deleted(current):
            return None
        return current

    async def get_many(self, schema: Schema, keys: Iterable[Any]) -> list[Row | None]:
        """Return the rows of ``keys`` in order, reading the unseen ones at once."""
        info = facts_of(schema)
        if info.single:
            wanted = [(k,) if type(k) in SCALARS else info.key(k) for k in keys]
        else:
            wanted = [info.key(key) for key in keys]
        await self._load(info, wanted)
        rows = self._map.currents(schema.name, wanted)
        if info.soft:
            return [None if r is None or info.deleted(r) else r for r in rows]
        return rows

    async def require(self, schema: Schema, key: Any) -> Row:
        """Return a row like `get`, or raise `glue.NotFound` naming table and key."""
        row = await self.get(schema, key)
        if row is None:
            raise NotFound(schema.name, key)
        return row

    def track(self, schema: Schema, rows: Iterable[Mapping[str, Any]]) -> list[Row]:
        """Enter rows read elsewhere (a query) into the identity map.

        Rows the unit already knows keep their newest known state, which is
        returned instead; rows deleted in the unit are left out.

        Returns:
            the newest known state of each row that still exists, in order.
        """
        info = facts_of(schema)
        result: list[Row] = []
        fresh: list[Tracked] = []
        known = self._map
        for values in rows:
            key = info.key_of(values)
            tracked = known.get(schema.name, key)
            if tracked is None:
                row: Row = MappingProxyType(dict(values))
                fresh.append(Tracked(schema, key, row, row))
                if not info.deleted(row):
                    result.append(row)
            elif tracked.current is not None and not info.deleted(tracked.current):
                result.append(tracked.current)
        if fresh:
            self._map.set_many(fresh)
        return result

    # Changing --------------------------------------------------------------

    async def apply(self, mutation: Mutation) -> Row | None:
        """Apply a mutation value, as an event handler yields it.

        Returns:
            the row as it now is (None after a delete).
        """
        match mutation:
            case Insert(schema=schema, values=values):
                return await self.insert(schema, values)
            case Update(schema=schema, key=key, changes=changes, etag=etag):
                return await self.update(schema, key, changes, etag=etag)
            case Delete(schema=schema, key=key, etag=etag):
                await self.delete(schema, key, etag=etag)
                return None
            case Upsert(schema=schema, values=values):
                return await self.upsert(schema, values)
        raise TypeError(f"not a mutation: {mutation!r}")

    async def insert(self, schema: Schema, values: Mapping[str, Any]) -> Row:
        """Create a row; it is written by the next flush.

        Args:
            schema: the table.
            values: the columns, primary key included; left-out columns take
                their defaults.

        Returns:
            the new row, with its etag and audit columns.

        Raises:
            glue.SchemaError: an unknown column, a system column, or a required
                column left out.
            glue.IntegrityError: the unit already holds a row with this key.
        """
        self._log.append(Insert(schema=schema, values=values))
        info = facts_of(schema)
        row = self._new_row(info, values, new_etag(), self._clock())
        key = info.key_of(row)
        self._map.set(self._created(info, key, row, create=False))
        return row

    async def insert_many(
        self, schema: Schema, rows: Iterable[Mapping[str, Any]]
    ) -> list[Row]:
        """Create many rows of one table at once (same rules as `insert`)."""
        info = facts_of(schema)
        batch = list(rows)
        created = self._insert_rows(info, batch)
        if created is None:
            # Keys the unit has seen: resolve each against what it knows.
            return [await self.insert(schema, values) for values in batch]
        return created

    def _insert_rows(
        self, info: TableFacts, batch: list[Mapping[str, Any]]
    ) -> list[Row] | None:
        """`insert_many` of rows whose keys the unit never saw; None (nothing
        done) when some key is known or repeats."""
        schema = info.schema
        name = schema.name
        known = self._map
        defaults, width = info.defaults, len(info.columns)
        now = self._clock()
        if not info.columns.issuperset(set().union(*batch)):
            # Unknown or system columns (checked once per batch): say which,
            # for the first row that is wrong.
            for values in batch:
                self._new_row(info, values, "", now)
        stamps = info.stamps(now, self._actor)
        tags = _etags(len(batch)) if info.versioned else None
        created: list[Row] = []
        append, proxy = created.append, MappingProxyType
        for i, values in enumerate(batch):
            row = {**defaults, **values}
            if len(row) != width:
                # Known columns only, so some required one is missing: say which.
                self._new_row(info, values, "", now)
            if stamps:
                row.update(stamps)
            if tags is not None:
                row[ETAG] = tags[i]
            append(proxy(row))
        if info.single:
            (column,) = schema.primary_key
            keys = [(row[column],) for row in created]
        else:
            keys = [info.key_of(row) for row in created]
        idents = [(name, key) for key in keys]
        if len(set(keys)) < len(keys) or known.knows_any(idents):
            return None
        order = known.next_order
        written = info.all_columns
        known.replace(
            idents,
            [
                Tracked(schema, key, None, row, i, written)
                for i, key, row in zip(
                    range(order, order + len(keys)), keys, created, strict=True
                )
            ],
            idents,
        )
        self._log.append((Insert, schema, batch))
        return created

    async def update(
        self,
        schema: Schema,
        key: Any,
        changes: Mapping[str, Any],
        *,
        etag: str | None = None,
    ) -> Row:
        """Merge ``changes`` into the newest known state of a row.

        Setting columns to the values they already have changes nothing: no
        write, the etag kept.

        Args:
            schema: the table.
            key: the row's primary key.
            changes: the columns to set (not the key, not system columns).
            etag: the etag the caller's copy carries, checked at once if given.

        Returns:
            the row as it now is.

        Raises:
            glue.NotFound: the row does not exist or is soft-deleted.
            glue.StaleEtag: ``etag`` is not the row's etag.
            glue.SchemaError: an unknown, key or system column.
        """
        self._log.append(Update(schema=schema, key=key, changes=changes, etag=etag))
        info = facts_of(schema)
        ident = (key,) if info.single and type(key) in SCALARS else info.key(key)
        tracked = self._map.get(schema.name, ident) or await self._tracked(info, ident)
        current = tracked.current
        if current is None or (info.soft and current.get(DELETED_AT) is not None):
            raise NotFound(schema.name, key)
        if etag is not None:
            _check_etag(tracked, etag)
        if not info.columns.issuperset(changes):
            info.check(changes, "an update")
        diff = {c: v for c, v in changes.items() if current[c] != v}
        if not diff:
            return current
        if not info.primary_key.isdisjoint(diff):
            moved = info.primary_key.intersection(diff)
            raise SchemaError(
                f"an update of {schema.name} {format_key(key)} changes primary key "
                f"column(s) "
                f"{', '.join(sorted(moved))}: delete the row and insert a new one"
            )
        return self._change(info, tracked, diff)

    async def update_many(
        self, schema: Schema, changes: Iterable[tuple[Any, Mapping[str, Any]]]
    ) -> list[Row]:
        """Merge changes into many rows of one table at once: the bulk `update`.

        The same as calling `update` for each ``(key, changes)`` pair in order
        (without an etag), at a fraction of the cost per row: the rows the unit
        has not seen are read in one `get_many`, the etags are drawn in one
        go, and every changed row is stamped with one reading of the clock.
        A key may appear more than once; its changes apply in order.

        Args:
            schema: the table.
            changes: ``(key, changes)`` pairs: the row's primary key and the
                columns to set (not the key, not system columns).

        Returns:
            each row as it now is, in the order of ``changes``.

        Raises:
            glue.NotFound: a row does not exist or is soft-deleted.
            glue.SchemaError: a malformed key (before any row changes), or an
                unknown, key or system column.

        On an error, the rows before the failing pair keep their changes, as
        they would after the same `update` calls in a loop.
        """
        info = facts_of(schema)
        batch = list(changes)
        name = schema.name
        if info.single:
            scalars, normalize = SCALARS, info.key
            keys = [(k,) if type(k) in scalars else normalize(k) for k, _ in batch]
        else:
            keys = [info.key(k) for k, _ in batch]
        if len(set(keys)) < len(keys):
            # A key more than once: each change must see the one before.
            return [await self.update(schema, k, change) for k, change in batch]
        known = self._map
        idents = [(name, key) for key in keys]
        tracks = known.entries(idents)
        # Unseen rows are read through get_many, so what guards reads guards
        # this too (it is called even when every row is known).
        await self.get_many(
            schema, [key for key, t in zip(keys, tracks, strict=True) if t is None]
        )
        # Taken after the await: other tasks of the unit may have changed rows.
        tracks = known.entries(idents)
        return self._update_rows(info, batch, tracks, idents)

    def _update_rows(
        self,
        info: TableFacts,
        batch: list[tuple[Any, Mapping[str, Any]]],
        tracks: list[Tracked | None],
        idents: list[tuple[str, Key]],
    ) -> list[Row]:
        """`update_many`'s loop, over rows the unit knows (absent: None)."""
        schema = info.schema
        name = schema.name
        known = self._map
        columns, soft, audit = info.columns, info.soft, info.audit
        primary_key = info.primary_key
        # When every change sets the same valid, non-key columns (a batch job's
        # usual shape), they are checked here once, and each row compares its
        # values as one tuple.
        names = _uniform(batch)
        if names is not None and (
            not columns.issuperset(names) or not primary_key.isdisjoint(names)
        ):
            names = None
        pick = operator.itemgetter(*names) if names else None
        # (columns kept, as a tuple of flags) -> (columns written, their picker)
        parts: dict[tuple[bool, ...], tuple[tuple[str, ...], Callable[..., Any]]] = {}
        eq = operator.eq
        single = names is not None and len(names) == 1
        tags = _etags(len(batch)) if info.versioned else None
        now = self._clock() if audit else None
        actor = self._actor
        unions = info.changed
        # What an UPDATE writes, by (columns before, columns set, stamps).
        shapes = info.shapes
        stamp_etag: tuple[str, ...] = _ETAG_ONLY if tags is not None else ()
        stamp_all = (*stamp_etag, "updated_at", "updated_by")
        stamp_audit = ("updated_at", "updated_by")
        proxy = MappingProxyType
        next_order = known.next_order
        result: list[Row] = []
        changed: list[tuple[str, Key]] = []
        entries: list[Tracked] = []
        first: list[tuple[str, Key]] = []
        done = 0
        try:
            for (key, change), tracked, ident in zip(
                batch, tracks, idents, strict=True
            ):
                current = None if tracked is None else tracked.current
                if current is None or (soft and current.get(DELETED_AT) is not None):
                    raise NotFound(name, key)
                assert tracked is not None
                if names is not None and pick is not None:
                    new, old = pick(change), pick(current)
                    # (A tuple compares its items by identity first: map(eq)
                    # makes sure, as the loop below would.)
                    if new == old and (single or False not in map(eq, new, old)):
                        result.append(current)
                        done += 1
                        continue
                    row = current.copy() if type(current) is proxy else dict(current)
                    if not single and True in map(eq, new, old):
                        # Some columns keep their value: write only the others,
                        # picked as the batch's earlier rows with the same
                        # columns kept picked them.
                        same = tuple(map(eq, new, old))
                        part = parts.get(same)
                        if part is None:
                            part = parts[same] = _part(names, same)
                        written, take = part
                        if len(written) == 1:
                            row[written[0]] = take(new)
                        else:
                            row.update(zip(written, take(new), strict=True))
                    else:
                        written = names
                        row.update(change)
                else:
                    if not columns.issuperset(change):
                        info.check(change, "an update")
                    diff: Mapping[str, Any] = change
                    for column, value in change.items():
                        if current[column] == value:
                            diff = {c: v for c, v in change.items() if current[c] != v}
                            break
                    if not diff:
                        result.append(current)
                        done += 1
                        continue
                    if not primary_key.isdisjoint(diff):
                        moved = primary_key.intersection(diff)
                        raise SchemaError(
                            f"an update of {name} {format_key(key)} changes primary "
                            f"key column(s) {', '.join(sorted(moved))}: delete the "
                            "row and insert a new one"
                        )
                    written = tuple(diff)
                    row = current.copy() if type(current) is proxy else dict(current)
                    row.update(diff)
                stored = tracked.stored
                stamped: tuple[str, ...] = ()
                if current is stored and tags is not None:
                    row[ETAG] = tags.pop()
                    stamped = stamp_etag
                if audit and stored is not None:
                    row["updated_at"] = now
                    row["updated_by"] = actor
                    stamped = stamp_all if stamped else stamp_audit
                frozen = proxy(row)
                order = tracked.order
                if order < 0:
                    order = next_order
                    next_order += 1
                    first.append(ident)
                entries.append(
                    Tracked(
                        schema,
                        tracked.key,
                        stored,
                        frozen,
                        order,
                        shapes.get((tracked.changed, written, stamped))
                        or unions(tracked.changed, written, stamped),
                        tracked.create,
                    )
                )
                changed.append(ident)
                result.append(frozen)
                done += 1
        except BaseException:
            known.replace(changed, entries, first)
            self._log.append((Update, schema, batch[: done + 1]))
            raise
        known.replace(changed, entries, first)
        self._log.append((Update, schema, batch))
        return result

    async def delete(
        self, schema: Schema, key: Any, *, etag: str | None = None
    ) -> bool:
        """Delete a row: soft for soft-delete tables, hard otherwise.

        Deleting a row that does not exist, or one created in this unit and never
        written, writes nothing.

        Returns:
            whether a row was deleted.

        Raises:
            glue.StaleEtag: ``etag`` is not the row's etag.
        """
        self._log.append(Delete(schema=schema, key=key, etag=etag))
        info = facts_of(schema)
        tracked = await self._tracked(info, info.key(key))
        current = tracked.current
        if current is None or info.deleted(current):
            return False
        _check_etag(tracked, etag)
        if info.soft:
            self._change(info, tracked, {DELETED_AT: self._clock()})
            return True
        order = tracked.order if tracked.order >= 0 else self._map.next_order
        self._map.set(msgspec.structs.replace(tracked, current=None, order=order))
        return True

    async def upsert(self, schema: Schema, values: Mapping[str, Any]) -> Row:
        """Create a row, or merge ``values`` into it when it exists.

        When the row is absent and another unit creates it first, the flush
        raises `glue.ConcurrencyConflict` (retrying then updates it).

        Returns:
            the row as it now is.
        """
        self._log.append(Upsert(schema=schema, values=values))
        info = facts_of(schema)
        info.check(values, "an upsert")
        key = info.key(values)
        tracked = await self._tracked(info, key)
        current = tracked.current
        if current is not None and not info.deleted(current):
            changes = {c: v for c, v in values.items() if c not in info.primary_key}
            diff = {c: v for c, v in changes.items() if current[c] != v}
            return self._change(info, tracked, diff) if diff else current
        row = self._new_row(info, values, new_etag(), self._clock())
        entry = self._created(info, key, row, create=tracked.stored is None)
        self._map.set(entry)
        return row

    # Internals -------------------------------------------------------------

    def _new_row(
        self, info: TableFacts, values: Mapping[str, Any], etag: str, now: dt.datetime
    ) -> Row:
        info.check(values, "an insert")
        row = dict(info.defaults)
        row.update(values)
        if len(row) != len(info.columns):
            missing = sorted(info.required.difference(values))
            raise SchemaError(
                f"an insert into {info.schema.name!r} lacks required column(s) "
                f"{', '.join(map(repr, missing))}"
            )
        if info.versioned:
            row[ETAG] = etag
        if info.audit:
            row["created_at"] = row["updated_at"] = now
            row["created_by"] = row["updated_by"] = self._actor
        if info.soft:
            row[DELETED_AT] = None
        return MappingProxyType(row)

    def _created(
        self, info: TableFacts, key: Key, row: Row, *, create: bool
    ) -> Tracked:
        """The entry for a new row, over whatever the unit knew of its key."""
        name = info.schema.name
        tracked = self._map.get(name, key)
        if tracked is None:
            return Tracked(
                info.schema, key, None, row, self._map.next_order, info.all_columns
            )
        current = tracked.current
        if current is not None and not info.deleted(current):
            raise IntegrityError(
                "unit of work",
                f"{name} {format_key(key)} already exists: update it, or delete it "
                "first",
                table=name,
            )
        order = tracked.order if tracked.order >= 0 else self._map.next_order
        if tracked.stored is None:
            return Tracked(info.schema, key, None, row, order, info.all_columns, create)
        # The key is stored (soft-deleted, or deleted in this unit): replace it.
        return Tracked(info.schema, key, tracked.stored, row, order, info.all_columns)

    def _change(self, info: TableFacts, tracked: Tracked, diff: dict[str, Any]) -> Row:
        current, stored = tracked.current, tracked.stored
        assert current is not None
        row = _thaw(current)
        row.update(diff)
        stamped: tuple[str, ...] = ()
        if current is stored and info.versioned:
            # The first change of a stored row in this unit: a new etag.
            row[ETAG] = new_etag()
            stamped = _ETAG_ONLY
        if info.audit and stored is not None:
            row["updated_at"] = diff.get(DELETED_AT) or self._clock()
            row["updated_by"] = self._actor
            stamped += ("updated_at", "updated_by")
        frozen = MappingProxyType(row)
        order = tracked.order if tracked.order >= 0 else self._map.next_order
        changed = info.changed(tracked.changed, diff.keys(), stamped)
        create = tracked.create
        self._map.set(
            Tracked(tracked.schema, tracked.key, stored, frozen, order, changed, create)
        )
        return frozen

    async def _tracked(self, info: TableFacts, key: Key) -> Tracked:
        tracked = self._map.get(info.schema.name, key)
        if tracked is None:
            await self._load(info, [key])
            tracked = self._map.get(info.schema.name, key)
            assert tracked is not None
        return tracked

    async def _load(self, info: TableFacts, keys: Sequence[Key]) -> None:
        """Read the keys the unit has not seen, once, in one loader call."""
        name, known = info.schema.name, self._map
        if not known.unknown(name, keys):
            return
        if self._load_lock is None:
            self._load_lock = QuickLock()
        async with self._load_lock:
            # Another task may have read some of them while this one waited.
            missing = list(dict.fromkeys(known.unknown(name, keys)))
            if not missing:
                return
            schema = info.schema
            found = await self._loader(schema, missing)
            entries: dict[Key, Tracked] = {}
            if info.single:
                (column,) = schema.primary_key
                for values in found:
                    key = (values[column],)
                    row = MappingProxyType(values)
                    entries[key] = Tracked(schema, key, row, row)
            else:
                for values in found:
                    key = info.key_of(values)
                    row = MappingProxyType(values)
                    entries[key] = Tracked(schema, key, row, row)
            if len(entries) < len(missing):
                for key in missing:
                    if key not in entries:
                        entries[key] = Tracked(schema, key, None, None)
            known.add_read(name, entries)


def normalize_key(schema: Schema, key: Any) -> Key:
    """A primary key as a tuple: from a scalar (one-column keys), tuple or row."""
    return facts_of(schema).key(key)


def utcnow() -> dt.datetime:
    """The current time in UTC (the default clock)."""
    return dt.datetime.now(dt.UTC)


def new_etag() -> str:
    """A new opaque etag: 16 random bytes (from ``os.urandom``) as 32 hex digits."""
    try:
        return _ETAG_POOL.pop()
    except IndexError:
        _ETAG_POOL.extend(_etags(_ETAG_BLOCK))
        return _ETAG_POOL.pop()


def _etags(count: int) -> list[str]:
    """``count`` new etags from one ``os.urandom`` call."""
    # hex() puts a space after every 16 bytes, and split() cuts there: the
    # whole list is made in C.
    return os.urandom(16 * count).hex(" ", 16).split()


# Etags drawn a block at a time: one system call per block, not per etag. A
# forked child starts with an empty pool, so no two processes share one.
_ETAG_BLOCK: Final = 256
_ETAG_POOL: list[str] = []
os.register_at_fork(after_in_child=_ETAG_POOL.clear)


def _uniform(batch: list[tuple[Any, Mapping[str, Any]]]) -> tuple[str, ...] | None:
    """The columns every change of ``batch`` sets, when they all set the same
    ones (in any order); else None."""
    if not batch:
        return None
    names = tuple(batch[0][1])
    changes = list(map(operator.itemgetter(1), batch))
    # Each change has as many columns as the union of all: each has them all.
    if set(map(len, changes)) != {len(names)}:
        return None
    return names if len(set().union(*changes)) == len(names) else None


def _part(
    names: tuple[str, ...], same: tuple[bool, ...]
) -> tuple[tuple[str, ...], Callable[[tuple[Any, ...]], Any]]:
    """The columns of ``names`` whose flag in ``same`` is false, and an
    `operator.itemgetter` of their values in a tuple in ``names`` order."""
    kept = [i for i, flag in enumerate(same) if not flag]
    return tuple(names[i] for i in kept), operator.itemgetter(*kept)


def _thaw(row: Row) -> dict[str, Any]:
    """A mutable copy of ``row``: fast for the read-only rows the manager makes."""
    if type(row) is MappingProxyType:
        return row.copy()
    return dict(row)


async def _load_nothing(schema: Schema, keys: Sequence[Key]) -> list[dict[str, Any]]:
    return []


def _check_etag(tracked: Tracked, etag: str | None) -> None:
    if etag is None:
        return
    held = tracked.held_etag
    if held is None and tracked.current is not None:
        held = tracked.current.get(ETAG)
    if etag != held:
        raise tracked.stale(etag)


_ETAG_ONLY: Final = (ETAG,)
