"""Repository: get, list, create, update, delete and query for one table.

A repository is a thin, typed face over the current unit of work's state
manager: every repository used in one unit sees the same rows (one identity
map), and each task's unit of work is its own. Declare one per table::

    class Order(msgspec.Struct):
        id: int
        customer: str
        total: float
        etag: str | None = None

    class OrderRepository(Repository[Order]):
        schema = orders

    async with UnitOfWork(manager):
        repo = OrderRepository()
        order = await repo.create({"id": 7, "customer": "ada", "total": 12.5})
        await repo.update(7, {"total": 13.0})
        paid = await repo.query({"total__gte": 10}, order_by=["-total"], limit=20)

With a msgspec Struct as the type argument, rows come back as that Struct
(extra columns such as ``etag`` are dropped unless the Struct declares them);
with `glue.state.Row` they come back as read-only mappings. The ``schema`` may
be left out when the Struct describes the table (`Schema.from_struct`).

Reads merge the database with the unit's pending changes: rows created in the
unit are listed, rows deleted in it are not, and each row is its newest known
state.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar, get_args, get_origin

import msgspec

from ..errors import ConfigurationError, NotFound, SchemaError
from ..planning.memory import row_test
from ..planning.shapes import SelectCache
from ..query.check import TEXT_LOOKUPS
from ..query.conditions import (
    Condition,
    Conditions,
    Field,
    FieldLookup,
    FieldReference,
    Value,
)
from ..query.model import (
    LimitQuery,
    OrderByQuery,
    OrderDirection,
    QueryStatement,
    SchemaReference,
)
from ..schema.model import DELETED_AT, ETAG, SYSTEM_COLUMNS, Schema
from .unit import UnitOfWork, require_unit

if TYPE_CHECKING:
    import builtins
    from collections.abc import Callable, Mapping, Sequence

    from ..state.identity import Row

__all__ = ["Repository"]

T = TypeVar("T")


class Repository(Generic[T]):
    """The base of a table's repository; subclass it with ``schema`` set.

    Args:
        unit: the unit of work to use; by default the one active in the current
            task when each method runs (`glue.work.current_unit`).
    """

    schema: ClassVar[Schema]
    """The table."""
    model: ClassVar[type[Any] | None] = None
    """The Struct rows are returned as; from the type argument by default."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for base in getattr(cls, "__orig_bases__", ()):
            if get_origin(base) is Repository:
                (argument,) = get_args(base)
                if isinstance(argument, type) and issubclass(argument, msgspec.Struct):
                    cls.model = argument
        if "schema" not in cls.__dict__ and cls.model is not None:
            cls.schema = Schema.from_struct(cls.model)

    def __init__(self, unit: UnitOfWork | None = None) -> None:
        self._unit = unit
        if not isinstance(getattr(type(self), "schema", None), Schema):
            raise ConfigurationError(
                f"{type(self).__name__} has no schema: set `schema = ...` on the "
                "class, or subclass Repository[SomeStruct]"
            )

    @property
    def unit(self) -> UnitOfWork:
        """The unit of work this repository reads and writes through."""
        return self._unit or require_unit()

    async def get(self, key: Any) -> T | None:
        """The row of ``key``, or None if it is missing or soft-deleted."""
        row = await self.unit.state.get(self.schema, key)
        return None if row is None else self._out(row)

    async def require(self, key: Any) -> T:
        """The row of ``key``; `glue.NotFound` naming table and key if missing."""
        return self._out(await self.unit.state.require(self.schema, key))

    async def list(
        self,
        where: Mapping[str, Any] | None = None,
        *,
        order_by: Sequence[str] = (),
        limit: int | None = None,
        offset: int = 0,
    ) -> builtins.list[T]:
        """Rows whose columns equal the values in ``where``.

        Args:
            where: column → value; every one must match.
            order_by: column names, ``-name`` for descending.
            limit: the most rows to return.
            offset: rows to skip first.

        Raises:
            glue.SchemaError: an unknown column, named.
        """
        filters = {f"{column}__eq": value for column, value in (where or {}).items()}
        return await self.query(filters, order_by=order_by, limit=limit, offset=offset)

    async def query(
        self,
        where: Mapping[str, Any] | None = None,
        *,
        order_by: Sequence[str] = (),
        limit: int | None = None,
        offset: int = 0,
    ) -> builtins.list[T]:
        """Rows matching lookups: ``{"total__gte": 10, "status__in": [...]}``.

        A key is a column, optionally followed by ``__`` and a
        :class:`glue.FieldLookup` by its name: ``eq`` (the default), ``neq``
        (or ``ne``), ``gt``, ``gte``, ``lt``, ``lte``, ``in``, ``isnull``,
        ``contains``, ``startswith``, ``endswith`` (each with an ``i`` variant
        that ignores case), ``regex``, ``iregex``.

        The database is read with a `glue.QueryStatement` through the one
        SELECT compiler; rows changed in the unit are tested in memory by the
        same rules (the in-memory step's evaluator).

        Raises:
            glue.SchemaError: an unknown column or lookup, named.
        """
        schema = self.schema
        where_conditions = Conditions(
            *(self._filter(key, value) for key, value in (where or {}).items())
        )
        order = [self._order(name) for name in order_by]
        state = self.unit.state
        pending = [t for t in state.pending if t.schema.name == schema.name]
        fetch = None if limit is None else offset + limit + len(pending)
        statement = QueryStatement(
            table=SchemaReference(name=schema.name),
            where=where_conditions if where_conditions.children else None,
            order_by=[
                OrderByQuery(
                    field=self._field(column),
                    direction=OrderDirection.DESC if descending else OrderDirection.ASC,
                )
                for column, descending in order
            ],
            limit=None if fetch is None else LimitQuery(limit=fetch),
        )
        pool = self.unit.pool_for(schema.name)
        dialect = pool.dialect
        compiled = _SELECTS.compile(dialect, {schema.name: schema}, statement)
        async with self.unit.reading(pool) as conn:
            result = await conn.fetch(compiled.sql, compiled.params)
        # The statement selects every column in the table's order: the table's
        # codec decodes them in one pass.
        rows = state.track(schema, dialect.codec(schema).decode_all(result.rows))
        seen = {id(row) for row in rows}
        for tracked in pending:
            current = tracked.current
            if current is not None and id(current) not in seen:
                rows.append(current)
        test = row_test(where_conditions, {c.name: c.type for c in schema.all_columns})
        matching = [
            row
            for row in rows
            if test(row)
            and not (schema.soft_delete and row.get(DELETED_AT) is not None)
        ]
        for column, descending in reversed(order):
            matching.sort(key=_sorter(column), reverse=descending)
        end = None if limit is None else offset + limit
        return [self._out(row) for row in matching[offset:end]]

    async def create(self, values: Mapping[str, Any] | T) -> T:
        """Create a row from a mapping or a model instance; written at commit."""
        return self._out(await self.unit.state.insert(self.schema, self._in(values)))

    async def update(
        self,
        key: Any,
        changes: Mapping[str, Any] | None = None,
        *,
        etag: str | None = None,
    ) -> T:
        """Merge ``changes`` into a row; or save a whole model instance.

        ``repo.update(7, {"total": 13.0})`` changes columns of row 7.
        ``repo.update(order)`` saves a model instance: its columns become the
        changes, and its ``etag`` field (if it has one) must still be the row's,
        else `glue.StaleEtag`.

        Raises:
            glue.NotFound: the row is missing.
            glue.StaleEtag: ``etag`` is not the row's etag.
        """
        schema = self.schema
        if isinstance(key, msgspec.Struct):
            values = msgspec.structs.asdict(key)
            etag = etag or values.get(ETAG)
            changes = self._in(values)
            key = schema.key_of(changes)
        elif changes is None:
            raise TypeError("update() needs changes, or a model instance to save")
        changes = {c: v for c, v in changes.items() if c not in schema.primary_key}
        row = await self.unit.state.update(schema, key, changes, etag=etag)
        return self._out(row)

    async def delete(self, key: Any, *, etag: str | None = None) -> bool:
        """Delete a row (soft for soft-delete tables); whether one was deleted."""
        return await self.unit.state.delete(self.schema, key, etag=etag)

    async def lock(self, key: Any) -> T:
        """Lock a row for the rest of the unit of work and return it fresh.

        Raises:
            glue.NotFound: the row is missing.
        """
        rows = await self.unit.lock(self.schema, [key])
        if not rows:
            raise NotFound(self.schema.name, key)
        return self._out(rows[0])

    # Internals -------------------------------------------------------------

    def _out(self, row: Row) -> T:
        model = self.model
        if model is None:
            return row  # type: ignore[return-value]  # T is Row when there is no model
        return msgspec.convert(dict(row), model)  # type: ignore[no-any-return]  # model is type[T]

    def _in(self, values: Mapping[str, Any] | Any) -> dict[str, Any]:
        if isinstance(values, msgspec.Struct):
            values = msgspec.structs.asdict(values)
        return {c: v for c, v in values.items() if c not in SYSTEM_COLUMNS}

    def _field(self, column: str) -> FieldReference:
        return FieldReference(table_name=self.schema.name, field=Field(name=column))

    def _filter(self, key: str, value: Any) -> Condition:
        column, _, name = key.partition("__")
        self.schema.column(column)
        lookup = _LOOKUPS.get(name or "eq")
        if lookup is None:
            raise SchemaError(
                f"unknown lookup {name!r} in {key!r} on table {self.schema.name!r} "
                f"(lookups: {', '.join(_LOOKUPS)})"
            )
        # The shapes repositories always took: any iterable for ``in``, a truth
        # for ``isnull``, anything as text for the text lookups.
        if lookup is FieldLookup.IN and not isinstance(value, list | tuple):
            value = list(value)
        elif lookup is FieldLookup.ISNULL:
            value = bool(value)
        elif lookup in TEXT_LOOKUPS:
            value = str(value)
        return Condition(field=self._field(column), lookup=lookup, value=Value(value))

    def _order(self, name: str) -> tuple[str, bool]:
        descending = name.startswith("-")
        column = name.lstrip("-")
        self.schema.column(column)
        return column, descending


_SELECTS = SelectCache()
"""Repository reads compiled by shape: a query with new values compiles once."""

_LOOKUPS: dict[str, FieldLookup] = {
    **{lookup.value: lookup for lookup in FieldLookup},
    "ne": FieldLookup.NEQ,  # the name repositories took before FieldLookup's
}
"""A ``column__lookup`` keyword's lookup, by FieldLookup's names."""


def _sorter(column: str) -> Callable[[Row], tuple[bool, Any]]:
    """A sort key on ``column`` putting NULLs first, as SQLite (and the SQL) do."""

    def key(row: Row) -> tuple[bool, Any]:
        value = row[column]
        return (value is not None, value)

    return key
