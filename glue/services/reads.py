"""`DataQueryService`: answer any query, whether its tables live in one database
or several.

::

    service = DataQueryService(manager, schemas=[customers, orders])
    rows = await service.execute(statement)          # list of dicts
    async with contextlib.aclosing(service.iterate(statement)) as stream:
        async for row in stream:                      # one dict at a time
            ...
    print(await service.explain(statement))          # the plan, as a tree

The AMSDAL Glue way works too::

    Container.services.register(AsyncDataQueryService, AsyncDataQueryService())
    result = await Container.services.get(AsyncDataQueryService).execute(
        query_op=DataQueryOperation(query=statement)
    )
    result.success, result.data[0].data

Tables are routed by schema name through the `ConnectionManager`; schemas not
given up front are read from their database the first time a query names them.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import msgspec

from ..connections.containers import Container
from ..connections.manager import ConnectionManager
from ..errors import ConfigurationError, GlueError, QueryError, SchemaError
from ..planning.executor import PlanExecutor
from ..planning.explain import explain_plan
from ..planning.read import DEFAULT_MAX_KEYS, QueryPlanner
from ..planning.shapes import Shape, Template, shape_of
from ..planning.tasks import Plan
from ..query.model import QueryStatement
from ..schema.model import Column, ColumnType, Schema, check_identifier
from .schema import SchemaQueryService

if TYPE_CHECKING:
    from collections.abc import AsyncGenerator, Iterable

    from ..connections.abc import ConnectionPool

__all__ = [
    "AsyncDataQueryService",
    "Data",
    "DataQueryOperation",
    "DataQueryService",
    "DataResult",
]


_PLAN_CACHE_SIZE = 256
"""Plans kept per service, by statement shape or statement, and routing; the
oldest goes first."""

_Cached = tuple[tuple[tuple[str, int], ...], "Plan | Template | None"]
"""Tables with their pools' ids when planned, and the plan: a template for a
shape (None when the shape's SQL depends on its values)."""


class DataQueryService:
    """Runs queries across the databases of a ConnectionManager.

    Args:
        manager: routes tables to pools; by default the one in
            ``Container.managers`` (see ``init_default_containers``).
        schemas: the tables queries read; others are read from their database
            on first use.
        max_keys: the most join keys passed from one database to another as
            an ``IN`` list.
        timeout: seconds a query may take, unless `execute` says otherwise.
    """

    def __init__(
        self,
        manager: ConnectionManager | None = None,
        schemas: Iterable[Schema] | Mapping[str, Schema] = (),
        *,
        max_keys: int = DEFAULT_MAX_KEYS,
        timeout: float | None = None,
    ) -> None:
        self._manager = manager
        values: Iterable[Schema] = (
            schemas.values() if isinstance(schemas, Mapping) else schemas
        )
        self.schemas: dict[str, Schema] = {s.name: s for s in values}
        self.max_keys = max_keys
        self.timeout = timeout
        self._plans: dict[bytes, _Cached] = {}

    @property
    def manager(self) -> ConnectionManager:
        """The ConnectionManager queries run against."""
        if self._manager is None:
            self._manager = Container.managers.get(ConnectionManager)
        return self._manager

    def register_schema(self, *schemas: Schema) -> None:
        """Make tables known to the planner (replacing any of the same name)."""
        for schema in schemas:
            self.schemas[schema.name] = schema
        self._plans.clear()

    def _pool_of(self, name: str) -> ConnectionPool:
        """The pool of a table no schema was registered for."""
        try:
            return self.manager.get_connection_pool(name)
        except ConfigurationError:
            known = ", ".join(sorted(self.manager.pools)) or "none"
            raise QueryError(
                f"unknown table {name!r}: no schema was registered for it, and no "
                f"database holds it (no pool of its own, no default; databases: "
                f"{known})"
            ) from None

    async def _load(self, statement: QueryStatement) -> None:
        """Read the schemas of tables the statement names and we do not know."""
        for name in sorted(statement.table_names() - self.schemas.keys()):
            try:
                check_identifier(name, "table")
            except SchemaError as exc:
                raise QueryError(str(exc)) from None
            pool = self._pool_of(name)
            try:
                info = await SchemaQueryService(pool).describe(name)
            except SchemaError:
                known = ", ".join(sorted(self.schemas)) or "none"
                raise QueryError(
                    f"unknown table {name!r}: database {pool.name!r} has no such "
                    f"table and no schema was registered (known tables: {known})"
                ) from None
            columns = tuple(
                Column(
                    name=c.name,
                    type=c.type or ColumnType.TEXT,
                    nullable=c.nullable,
                )
                for c in info.columns
            )
            self.schemas[name] = Schema(
                name=name,
                columns=columns,
                primary_key=info.primary_key or (columns[0].name,),
                versioned=False,
            )

    async def plan(self, statement: QueryStatement) -> Plan:
        """Plan a statement without running it.

        Plans are kept (up to 256) and reused while the tables route to the
        same pools and no schema is registered. They are kept by the
        statement's shape when they allow it: the same read with new
        comparison values reuses one plan, the values bound at run time (see
        :mod:`glue.planning.shapes`). A statement is checked against
        the query model when it is first planned (see
        :meth:`QueryStatement.validated`).

        Raises:
            QueryError: a node of the wrong type, or an unknown table, field,
                alias or lookup.
        """
        shape = shape_of(statement)
        if shape is not None:
            template = await self._template(shape)
            if template is not None:
                return template.bind(statement, shape.values)
        return await self._unshaped(statement)

    async def _unshaped(self, statement: QueryStatement) -> Plan:
        """The plan of a statement without a shape, or whose shape has no
        template: kept by the whole statement."""
        # Keyed by the encoded statement, not the statement: Python holds 1, 1.0
        # and True equal, but they are different values to bind; msgpack keeps
        # them apart, and lists inside values need no hashing.
        key = statement.encoded()
        _, cached = self._cached(key)
        if isinstance(cached, Plan):
            return cached
        statement = statement.validated()
        plan = await self._plan(statement)
        self._keep(key, statement, plan)
        return plan

    async def _template(self, shape: Shape) -> Template | None:
        """The template of a statement's shape, planned now on a miss; None when
        its SQL depends on the values."""
        key = b"shape:" + shape.key
        found, cached = self._cached(key)
        if found:
            assert not isinstance(cached, Plan)
            return cached
        statement: QueryStatement | None = None
        template = None
        try:
            statement, sentinels, marks = shape.sentinel_statement()
            plan = await self._plan(statement)
        except (GlueError, msgspec.ValidationError):
            # A sentinel the model or the tables refuse: the statement is
            # planned as it is, and says what is wrong with it.
            pass
        else:
            template = Template.of(plan, sentinels, marks)
        self._keep(key, statement, template)
        return template

    def _cached(self, key: bytes) -> tuple[bool, Plan | Template | None]:
        """Whether something is kept under ``key`` while its tables route as
        they did, and what."""
        cached = self._plans.get(key)
        if cached is None:
            return False, None
        routes, kept = cached
        route = self.manager.get_connection_pool
        for name, pool in routes:
            if id(route(name)) != pool:
                return False, None
        return True, kept

    def _keep(
        self,
        key: bytes,
        statement: QueryStatement | None,
        kept: Plan | Template | None,
    ) -> None:
        names = () if statement is None else tuple(sorted(statement.table_names()))
        manager = self.manager
        routes = tuple((n, id(manager.get_connection_pool(n))) for n in names)
        if key not in self._plans and len(self._plans) >= _PLAN_CACHE_SIZE:
            self._plans.pop(next(iter(self._plans)))
        self._plans[key] = (routes, kept)

    async def _plan(self, statement: QueryStatement) -> Plan:
        """Plan a validated statement, reading the schemas it needs."""
        if not self.schemas.keys() >= statement.table_names():
            await self._load(statement)
        planner = QueryPlanner(self.manager, self.schemas, max_keys=self.max_keys)
        return planner.plan(statement, validated=True)

    async def explain(self, statement: QueryStatement) -> str:
        """The plan of a statement as an indented tree: which part runs on which
        database (with its SQL), and what runs in memory."""
        return explain_plan(await self.plan(statement), self.schemas)

    async def execute(
        self,
        statement: QueryStatement,
        *,
        timeout: float | None = None,
        deadline: float | None = None,
    ) -> list[dict[str, Any]]:
        """Run a query and return its rows, each a dict keyed by output name.

        Args:
            statement: the query.
            timeout: seconds it may take (the service's timeout when None).
            deadline: an ``anyio.current_time()`` it must finish by.

        Raises:
            QueryError: an unknown table, field, alias or lookup, before any SQL
                runs.
            glue.QueryTimeout: it ran too long; everything was cancelled and
                every connection returned.
            glue.DatabaseError: a database refused a statement.
        """
        if timeout is None:
            timeout = self.timeout
        # `plan`, inline: a kept template is found without a coroutine.
        shape = shape_of(statement)
        template = None
        if shape is not None:
            found, template = self._cached(b"shape:" + shape.key)
            if not found:
                template = await self._template(shape)
        if template is not None:
            assert isinstance(template, Template) and shape is not None
            values = shape.values
            if timeout is None and deadline is None and template.direct:
                # The usual read: one statement, nothing to time. What
                # `PlanExecutor.run` does for it, without building its plan.
                pool = self.manager.get_connection_pool(template.route)
                async with pool.acquire() as conn:
                    result = await conn.fetch(
                        template.compiled.sql, template.params(values)
                    )
                decode = template.decode
                rows = result.rows if decode is None else decode(result.rows)
                return _dicts(template.plan.columns)(rows)
            plan = template.bind(statement, values)
        else:
            plan = await self._unshaped(statement)
        executor = PlanExecutor(self.manager, self.schemas)
        rows = await executor.run(plan, timeout=timeout, deadline=deadline)
        return _dicts(tuple(plan.columns))(rows)

    async def iterate(
        self, statement: QueryStatement, *, batch_size: int = 500
    ) -> AsyncGenerator[dict[str, Any], None]:
        """Yield a query's rows one by one without holding the whole result.

        A query on one database streams from its cursor, ``batch_size`` rows at
        a time; one across databases streams its answer after the in-memory
        step. Close the iterator when stopping early (``contextlib.aclosing``)
        so its connection goes back to the pool at once.
        """
        plan = await self.plan(statement)
        names = plan.columns
        executor = PlanExecutor(self.manager, self.schemas)
        async with contextlib.aclosing(
            executor.iterate(plan, batch_size=batch_size, timeout=self.timeout)
        ) as rows:
            async for row in rows:
                yield dict(zip(names, row, strict=True))


@functools.lru_cache(maxsize=_PLAN_CACHE_SIZE)
def _dicts(
    names: tuple[str, ...],
) -> Callable[[list[tuple[Any, ...]]], list[dict[str, Any]]]:
    """A function turning rows into dicts keyed by ``names``, one per column list.

    It is a comprehension with a dict display, ``[{k0: v0, k1: v1} for (v0, v1,)
    in rows]``, three times as fast as ``dict(zip(names, row))`` per row; the
    unpacking refuses a row of another width, as ``zip(strict=True)`` did. Only
    generated identifiers are in its text: the names are bound as values.
    """
    if not names:
        return lambda rows: [{} for _ in rows]
    keys = ", ".join(f"k{i}: v{i}" for i in range(len(names)))
    values = "".join(f"v{i}, " for i in range(len(names)))
    namespace = {f"k{i}": name for i, name in enumerate(names)}
    made: Callable[[list[tuple[Any, ...]]], list[dict[str, Any]]] = eval(
        f"lambda rows: [{{{keys}}} for ({values}) in rows]", namespace
    )
    return made


class DataQueryOperation(msgspec.Struct, frozen=True, kw_only=True):
    """AMSDAL Glue's request to run a query.

    Attributes:
        query: the statement.
        transaction_id: accepted for compatibility; reads do not join one.
        lock_id: accepted for compatibility.
    """

    query: QueryStatement
    transaction_id: str | None = None
    lock_id: str | None = None


class Data(msgspec.Struct, kw_only=True):
    """One row of a result, the AMSDAL Glue way.

    Attributes:
        data: the row, keyed by output name.
        metadata: extra information about the row; None.
    """

    data: dict[str, Any]
    metadata: dict[str, Any] | None = None


class DataResult(msgspec.Struct, kw_only=True):
    """What `AsyncDataQueryService.execute` returns.

    Attributes:
        success: whether the query ran.
        message: why it did not.
        exception: the error, when it did not.
        data: the rows, when it did.
    """

    success: bool
    message: str | None = None
    exception: Exception | None = None
    data: list[Data] | None = None


class AsyncDataQueryService:
    """AMSDAL Glue's query service: errors come back in the result, not raised.

    Args:
        service: the DataQueryService to run queries with; a new one on the
            ConnectionManager of ``Container.managers`` when None.
    """

    def __init__(self, service: DataQueryService | None = None) -> None:
        self.service = service or DataQueryService()

    async def execute(self, query_op: DataQueryOperation) -> DataResult:
        """Run the operation's query.

        Returns:
            ``DataResult(success=True, data=[Data(data=row), ...])``, or
            ``success=False`` with the message and the ``glue.GlueError``.
        """
        try:
            rows = await self.service.execute(query_op.query)
        except GlueError as exc:
            return DataResult(success=False, message=str(exc), exception=exc)
        return DataResult(success=True, data=[Data(data=row) for row in rows])
