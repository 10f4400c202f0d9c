"""Schema services in AMSDAL Glue's shape: an operation in, a result out.

::

    init_default_containers()
    Container.managers.get(ConnectionManager).register_connection_pool(pool)

    queries = Container.services.get(AsyncSchemaQueryService)
    result = await queries.execute(query_op=SchemaQueryOperation(filters=None))
    [table.name for table in result.schemas]

    commands = Container.services.get(AsyncSchemaCommandService)
    result = await commands.execute(
        SchemaCommand(mutations=[RegisterSchema(schema=orders)])
    )

Both work over a `ConnectionManager` (the container's by default) and route each
table by its name, as queries do. Errors come back in the result
(``success=False``, the message and the `glue.GlueError`), not raised.

glue's own `SchemaQueryService` and `SchemaCommandService` work on one database
with one method per change; these add the seed's calling convention on top.
Where AMSDAL Glue's mutations name a table by ``SchemaReference``, glue's that
change a table carry its `Schema`, from which glue builds the statements.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any

import msgspec

from ..connections.containers import Container
from ..connections.manager import ConnectionManager
from ..errors import GlueError, QueryError
from ..query.conditions import Condition, Conditions, FieldLookup, FilterConnector
from ..query.conditions import Value as QueryValue
from ..query.model import SchemaReference
from ..schema.model import Column, Constraint, Index, Schema
from ..sql.dialects import TableInfo
from .schema import SchemaCommandService, SchemaQueryService

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from ..connections.abc import Connection, ConnectionPool

__all__ = [
    "AddConstraint",
    "AddIndex",
    "AddProperty",
    "AsyncSchemaCommandService",
    "AsyncSchemaQueryService",
    "DeleteConstraint",
    "DeleteIndex",
    "DeleteProperty",
    "DeleteSchema",
    "RegisterSchema",
    "SchemaCommand",
    "SchemaMutation",
    "SchemaQueryOperation",
    "SchemaResult",
]


class SchemaQueryOperation(msgspec.Struct, frozen=True, kw_only=True):
    """AMSDAL Glue's request to list tables.

    Attributes:
        filters: conditions on the table's ``name`` (any lookup on text), or
            None for every table.
        transaction_id: accepted for compatibility.
        lock_id: accepted for compatibility.
    """

    filters: Conditions | Condition | None = None
    transaction_id: str | None = None
    lock_id: str | None = None


class SchemaMutation(msgspec.Struct, frozen=True, kw_only=True, tag=True):
    """One change of a `SchemaCommand`."""


class RegisterSchema(SchemaMutation, frozen=True, kw_only=True):
    """Create a table with its key, constraints and indexes.

    Attributes:
        schema: the table.
    """

    schema: Schema


class DeleteSchema(SchemaMutation, frozen=True, kw_only=True):
    """Drop a table, its indexes and its rows.

    Attributes:
        schema_reference: the table, by name.
    """

    schema_reference: SchemaReference


class AddProperty(SchemaMutation, frozen=True, kw_only=True):
    """Add a column (nullable, or with a default).

    Attributes:
        schema: the table as it is.
        property: the new column.
    """

    schema: Schema
    property: Column


class DeleteProperty(SchemaMutation, frozen=True, kw_only=True):
    """Drop a column that no key, index or constraint uses.

    Attributes:
        schema: the table as it is.
        property_name: the column's name.
    """

    schema: Schema
    property_name: str


class AddIndex(SchemaMutation, frozen=True, kw_only=True):
    """Create an index.

    Attributes:
        schema: the table as it is.
        index: the new index.
    """

    schema: Schema
    index: Index


class DeleteIndex(SchemaMutation, frozen=True, kw_only=True):
    """Drop an index by name.

    Attributes:
        schema: the table as it is.
        index_name: the index's name.
    """

    schema: Schema
    index_name: str


class AddConstraint(SchemaMutation, frozen=True, kw_only=True):
    """Add a unique, foreign key or check constraint.

    Attributes:
        schema: the table as it is.
        constraint: the new constraint.
    """

    schema: Schema
    constraint: Constraint


class DeleteConstraint(SchemaMutation, frozen=True, kw_only=True):
    """Drop a constraint by name.

    Attributes:
        schema: the table as it is.
        constraint_name: the constraint's name.
    """

    schema: Schema
    constraint_name: str


_Mutation = (
    RegisterSchema
    | DeleteSchema
    | AddProperty
    | DeleteProperty
    | AddIndex
    | DeleteIndex
    | AddConstraint
    | DeleteConstraint
)


class SchemaCommand(msgspec.Struct, frozen=True, kw_only=True):
    """AMSDAL Glue's request to change tables.

    Attributes:
        mutations: the changes, applied in order.
        transaction_id: accepted for compatibility.
        lock_id: accepted for compatibility.
    """

    mutations: list[_Mutation]
    transaction_id: str | None = None
    lock_id: str | None = None


class SchemaResult(msgspec.Struct, kw_only=True):
    """What the schema services return.

    Attributes:
        success: whether the operation ran.
        message: why it did not.
        exception: the error, when it did not.
        schemas: for a query, each table as its database reports it
            (`glue.sql.dialects.TableInfo`); for a command, per mutation the
            table's new `Schema`, or None for a dropped table.
    """

    success: bool
    message: str | None = None
    exception: Exception | None = None
    schemas: list[TableInfo | Schema | None] | None = None


class AsyncSchemaQueryService:
    """AMSDAL Glue's schema query service: the tables of every database.

    Args:
        manager: where tables live; the one in ``Container.managers`` when None.
    """

    def __init__(self, manager: ConnectionManager | None = None) -> None:
        self._manager = manager

    @property
    def manager(self) -> ConnectionManager:
        """The ConnectionManager whose databases are listed."""
        return self._manager or Container.managers.get(ConnectionManager)

    async def execute(self, query_op: SchemaQueryOperation) -> SchemaResult:
        """List the tables (those ``query_op.filters`` accept), sorted by name.

        A table is listed from the database its name routes to, once.

        Returns:
            ``SchemaResult(success=True, schemas=[TableInfo, ...])``, or
            ``success=False`` with the message and the ``glue.GlueError``.
        """
        try:
            tables = await self._tables(query_op.filters)
        except GlueError as exc:
            return SchemaResult(success=False, message=str(exc), exception=exc)
        return SchemaResult(success=True, schemas=list(tables))

    async def _tables(
        self, filters: Conditions | Condition | None
    ) -> list[TableInfo | Schema | None]:
        manager = self.manager
        found: dict[str, TableInfo] = {}
        for pool in _distinct(manager.pools.values()):
            service = SchemaQueryService(pool)
            for name in await service.tables():
                routed = manager.get_connection_pool(name) is pool
                if routed and name not in found and _accepts(filters, name):
                    found[name] = await service.describe(name)
        return [found[name] for name in sorted(found)]


class AsyncSchemaCommandService:
    """AMSDAL Glue's schema command service: create, change and drop tables.

    The mutations of one command that route to one database run in one
    transaction there: all of them or none. Across databases they commit one
    database after another.

    Args:
        manager: where tables live; the one in ``Container.managers`` when None.
    """

    def __init__(self, manager: ConnectionManager | None = None) -> None:
        self._manager = manager

    @property
    def manager(self) -> ConnectionManager:
        """The ConnectionManager that routes each table to its database."""
        return self._manager or Container.managers.get(ConnectionManager)

    async def execute(self, command: SchemaCommand) -> SchemaResult:
        """Apply the command's mutations in order.

        Returns:
            ``SchemaResult(success=True, schemas=[...])``, one entry per
            mutation (the table's new `Schema`, None after a drop), or
            ``success=False`` with the message and the ``glue.GlueError``; then
            nothing of the command was applied on the database that failed.
        """
        try:
            schemas = await self._apply(command.mutations)
        except GlueError as exc:
            return SchemaResult(success=False, message=str(exc), exception=exc)
        return SchemaResult(success=True, schemas=schemas)

    execute_async = execute
    """AMSDAL Glue's other name for `execute`."""

    async def _apply(
        self, mutations: list[_Mutation]
    ) -> list[TableInfo | Schema | None]:
        manager = self.manager
        results: list[TableInfo | Schema | None] = []
        async with contextlib.AsyncExitStack() as stack:
            connections: dict[int, Connection] = {}
            for mutation in mutations:
                pool = manager.get_connection_pool(_table(mutation))
                conn = connections.get(id(pool))
                if conn is None:
                    conn = await stack.enter_async_context(pool.acquire(write=True))
                    await stack.enter_async_context(conn.transaction())
                    connections[id(pool)] = conn
                results.append(await _run(SchemaCommandService(conn), mutation))
        return results


async def _run(service: SchemaCommandService, mutation: _Mutation) -> Schema | None:
    match mutation:
        case RegisterSchema(schema=schema):
            return await service.create_table(schema)
        case DeleteSchema(schema_reference=reference):
            await service.drop_table(reference.name)
            return None
        case AddProperty(schema=schema, property=column):
            return await service.add_column(schema, column)
        case DeleteProperty(schema=schema, property_name=name):
            return await service.drop_column(schema, name)
        case AddIndex(schema=schema, index=index):
            return await service.add_index(schema, index)
        case DeleteIndex(schema=schema, index_name=name):
            return await service.drop_index(schema, name)
        case AddConstraint(schema=schema, constraint=constraint):
            return await service.add_constraint(schema, constraint)
        case DeleteConstraint(schema=schema, constraint_name=name):
            return await service.drop_constraint(schema, name)


def _table(mutation: _Mutation) -> str:
    if isinstance(mutation, DeleteSchema):
        return mutation.schema_reference.name
    return mutation.schema.name


def _distinct(pools: Iterable[ConnectionPool]) -> list[ConnectionPool]:
    seen: dict[int, ConnectionPool] = {}
    for pool in pools:
        seen.setdefault(id(pool), pool)
    return list(seen.values())


# Filters on a table's name: the lookups that make sense on text.
_TEXT_LOOKUPS: dict[FieldLookup, Callable[[str, Any], bool]] = {
    FieldLookup.EQ: lambda name, value: name == value,
    FieldLookup.NEQ: lambda name, value: name != value,
    FieldLookup.IN: lambda name, value: name in value,
    FieldLookup.CONTAINS: lambda name, value: value in name,
    FieldLookup.ICONTAINS: lambda name, value: value.lower() in name.lower(),
    FieldLookup.STARTSWITH: lambda name, value: name.startswith(value),
    FieldLookup.ISTARTSWITH: lambda name, value: name.lower().startswith(value.lower()),
    FieldLookup.ENDSWITH: lambda name, value: name.endswith(value),
    FieldLookup.IENDSWITH: lambda name, value: name.lower().endswith(value.lower()),
}


def _accepts(filters: Conditions | Condition | None, name: str) -> bool:
    """Whether the table ``name`` passes ``filters``.

    Raises:
        glue.QueryError: a condition on something other than the name, or with
            a lookup or value that does not apply to text.
    """
    match filters:
        case None:
            return True
        case Conditions(children=children, connector=connector, negated=negated):
            combine = all if connector == FilterConnector.AND else any
            return combine(_accepts(c, name) for c in children) != negated
        case Condition(field=field, lookup=lookup, value=value):
            column = getattr(field, "field", None)
            test = _TEXT_LOOKUPS.get(lookup)
            if getattr(column, "name", None) != "name" or test is None:
                raise QueryError(
                    "schema queries filter on the table's name with "
                    f"{', '.join(_TEXT_LOOKUPS)}; got {lookup} on {field!r}"
                )
            constant = value.value if isinstance(value, QueryValue) else value
            if not isinstance(constant, str | list | tuple):
                raise QueryError(
                    f"a filter on the table's name compares with text, not {value!r}"
                )
            return bool(test(name, constant))
    raise QueryError(f"not a condition: {filters!r}")
