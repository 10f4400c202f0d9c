"""Runs plans: SQL tasks on pooled connections, in-memory steps here, groups in
parallel and chains in order; or streams a plan's rows (:meth:`PlanExecutor.iterate`).

A :class:`GroupTask`'s children run in one anyio task group. The first child to
fail cancels its siblings, and that one error reaches the caller as itself (a
:class:`glue.GlueError`), never wrapped in an ExceptionGroup. A timeout or
deadline cancels everything the plan started, every connection goes back to its
pool, and the caller gets :class:`glue.QueryTimeout`.
"""

from __future__ import annotations

import functools
import math
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import anyio
import anyio.to_thread
import msgspec

from ..errors import QueryTimeout
from ..query.conditions import Condition, Conditions, FieldLookup, Value
from ..sql.query import QueryCompiler
from .memory import Row, run_step
from .tasks import ChainTask, GroupTask, MemoryTask, Plan, SqlTask

if TYPE_CHECKING:
    from collections.abc import (
        AsyncGenerator,
        AsyncIterator,
        Awaitable,
        Callable,
        Mapping,
        Sequence,
    )

    from ..connections.abc import Connection
    from ..connections.manager import ConnectionManager
    from ..query.model import QueryStatement
    from ..schema.model import Schema
    from ..sql.query import CompiledQuery
    from .tasks import KeyFilter, Task

__all__ = ["PlanExecutor", "THREAD_THRESHOLD", "run_together"]

THREAD_THRESHOLD = 20_000
"""In-memory steps over more input rows than this run in a worker thread, so
the event loop keeps serving other tasks."""


class PlanExecutor:
    """Runs plans against the pools of a ConnectionManager.

    Args:
        manager: routes each SQL task to its pool.
        schemas: the tables statements may read, for compiling a task whose
            key filters change its statement at run time.
    """

    def __init__(
        self, manager: ConnectionManager, schemas: Mapping[str, Schema]
    ) -> None:
        self.manager = manager
        self.schemas = schemas

    async def run(
        self,
        plan: Plan,
        *,
        timeout: float | None = None,
        deadline: float | None = None,
    ) -> list[Row]:
        """Run a plan and return its result rows (tuples in column order).

        Args:
            plan: the plan.
            timeout: seconds the whole query may take.
            deadline: an ``anyio.current_time()`` the query must finish by.

        Raises:
            glue.QueryTimeout: the timeout or deadline passed; everything was
                cancelled and every connection returned.
            glue.GlueError: the first task that failed, its siblings cancelled.
        """
        limit = math.inf if deadline is None else deadline
        wanted = "its deadline"
        if timeout is not None and anyio.current_time() + timeout < limit:
            limit = anyio.current_time() + timeout
            wanted = f"{timeout:g} s"
        results: dict[str, list[Row]] = {}
        if limit == math.inf:  # nothing to time: no cancel scope to pay for
            root = plan.root
            if isinstance(root, SqlTask) and root.slot == plan.slot:
                return await self.fetch(root, results)  # one query, the usual plan
            await self._run(root, results)
            return results[plan.slot]
        with anyio.CancelScope(deadline=limit) as scope:
            await self._run(plan.root, results)
        if scope.cancelled_caught:
            raise QueryTimeout(
                f"the query ran past {wanted}; everything it started was cancelled"
            )
        return results[plan.slot]

    async def _run(self, task: Task, results: dict[str, list[Row]]) -> None:
        match task:
            case SqlTask():
                results[task.slot] = await self.fetch(task, results)
            case MemoryTask():
                size = sum(len(rows) for rows in results.values())
                if size > THREAD_THRESHOLD:
                    rows = await anyio.to_thread.run_sync(
                        run_step, task.step, dict(results), abandon_on_cancel=True
                    )
                else:
                    rows = run_step(task.step, results)
                results[task.slot] = rows
            case ChainTask():
                for child in task.children:
                    await self._run(child, results)
            case GroupTask():
                await self._group(task, results)

    async def _group(self, task: GroupTask, results: dict[str, list[Row]]) -> None:
        await run_together(
            [functools.partial(self._run, child, results) for child in task.children]
        )

    async def iterate(
        self,
        plan: Plan,
        *,
        batch_size: int = 500,
        timeout: float | None = None,
        deadline: float | None = None,
    ) -> AsyncGenerator[tuple[Any, ...], None]:
        """Yield a plan's result rows one by one.

        A plan that is one SQL task streams from its cursor, ``batch_size`` rows
        at a time (``timeout`` and ``deadline`` do not apply: the reader sets
        the pace); any other runs as :meth:`run` does, then yields its answer.
        Close the iterator when stopping early (``contextlib.aclosing``) so its
        connection goes back to the pool at once.
        """
        root = plan.root
        if not isinstance(root, SqlTask):
            for row in await self.run(plan, timeout=timeout, deadline=deadline):
                yield row
            return
        compiled = self.compile(root, {})
        if compiled is None:
            return
        async with (
            self._connection(root) as conn,
            conn.iterate(
                compiled.sql, compiled.params, batch_size=batch_size
            ) as stream,
        ):
            batch: list[tuple[Any, ...]] = []
            async for row in stream:
                batch.append(row)
                if len(batch) >= batch_size:
                    for item in compiled.decode_rows(batch):
                        yield item
                    batch = []
            for item in compiled.decode_rows(batch):
                yield item

    def statement_of(
        self, task: SqlTask, results: Mapping[str, list[Row]]
    ) -> QueryStatement | None:
        """The task's statement with its key filters applied, or None when a
        filter has no keys (nothing can match)."""
        statement = task.statement
        extra: list[Condition] = []
        for key_filter in task.key_filters:
            keys = _keys(key_filter, results)
            if not keys:
                return None
            if len(keys) <= key_filter.max_keys:
                extra.append(
                    Condition(
                        field=key_filter.field, lookup=FieldLookup.IN, value=Value(keys)
                    )
                )
        if extra:
            where = (
                Conditions(*extra)
                if statement.where is None
                else Conditions(statement.where, *extra)
            )
            statement = msgspec.structs.replace(statement, where=where)
        return statement

    def compile(
        self, task: SqlTask, results: Mapping[str, list[Row]]
    ) -> CompiledQuery | None:
        """The task's SQL: compiled when planned, or now with its key filters
        applied (None when a filter has no keys: nothing can match)."""
        if task.compiled is not None:
            return task.compiled
        statement = self.statement_of(task, results)
        if statement is None:
            return None
        # The planner checked the statement; key filters only add IN lists on
        # fields it already names.
        compiler = QueryCompiler(task.dialect, self.schemas)
        return compiler.compile(statement, checked=True)

    async def fetch(self, task: SqlTask, results: Mapping[str, list[Row]]) -> list[Row]:
        """Run one SQL task and return its decoded rows."""
        compiled = self.compile(task, results)
        if compiled is None:
            return []
        pool = self.manager.get_connection_pool(task.route)
        async with pool.acquire() as conn:
            result = await conn.fetch(compiled.sql, compiled.params)
        # Rows come as tuples already: copied only to convert values.
        return compiled.decode_tuples(result.rows)

    @asynccontextmanager
    async def _connection(self, task: SqlTask) -> AsyncIterator[Connection]:
        pool = self.manager.get_connection_pool(task.route)
        async with pool.acquire() as conn:
            yield conn


def _keys(key_filter: KeyFilter, results: Mapping[str, list[Row]]) -> list[Any]:
    column = key_filter.column
    found = {row[column] for row in results[key_filter.source]}
    found.discard(None)
    try:
        return sorted(found)
    except TypeError:
        return list(found)


async def run_together(calls: Sequence[Callable[[], Awaitable[object]]]) -> None:
    """Run ``calls`` concurrently, in one task group; the first to fail cancels
    the others, and its error reaches the caller alone, never wrapped in an
    ExceptionGroup (cancellation from outside passes through as itself).

    Raises:
        Exception: the first error a call raised.
    """
    failures: list[Exception] = []

    async def guarded(call: Callable[[], Awaitable[object]]) -> None:
        try:
            await call()
        except Exception as exc:
            if not failures:
                failures.append(exc)
            group.cancel_scope.cancel()

    async with anyio.create_task_group() as group:
        for call in calls:
            group.start_soon(guarded, call)
    if failures:
        raise failures[0]
