"""The query planner: a QueryStatement becomes a plan of SQL and in-memory tasks.

Every table is routed to a pool by its schema name through the
:class:`~glue.connections.ConnectionManager`. Then:

- **One database**: the whole statement is one :class:`SqlTask` (pushed down).
- **Several**: the statement is split into *units*, one subquery per database
  (tables of one database joined there when the join allows it), each with the
  conditions that read only its tables and only the columns needed above. The
  units run in parallel (a :class:`GroupTask`), then one :class:`MemoryTask`
  joins them and does what could not be pushed down: conditions across
  databases, grouping, having, distinct (and DISTINCT ON), ordering, limit and
  offset (a limit is never pushed below a join across databases).
- **Small sides**: a unit with a filter runs first; a unit joined to it by an
  equality (or restricted by ``IN (subquery)``) then reads only the rows whose
  key is among the keys returned (a :class:`KeyFilter`, an ``IN`` list), unless
  there are more than ``max_keys`` of them.
- Subqueries and set operations whose parts live in different databases are
  planned recursively; their results feed the in-memory step. A correlated
  subquery must live in the database of the table it refers to.

Filters are pushed below outer joins only where that keeps the result: a
WHERE condition into a table never padded with NULLs, an ON condition into the
joined table of an INNER or LEFT join.
"""

from __future__ import annotations

import dataclasses
import itertools
from typing import TYPE_CHECKING

import msgspec

from ..errors import QueryError
from ..query.check import OutputColumn, StatementChecker
from ..query.conditions import (
    Condition,
    Conditions,
    Field,
    FieldLookup,
    FieldReference,
    FieldReferenceAliased,
    Value,
)
from ..query.model import (
    AnnotationQuery,
    GroupByQuery,
    JoinQuery,
    JoinType,
    OrderByQuery,
    QueryStatement,
    SchemaReference,
    SubQueryStatement,
    ValueAnnotation,
)
from ..sql.query import QueryCompiler
from .tasks import (
    ChainTask,
    GroupTask,
    Input,
    InputColumn,
    JoinStep,
    KeyFilter,
    MemoryTask,
    Plan,
    SelectStep,
    SetStep,
    SqlTask,
    SubqueryInput,
    Task,
)

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from ..connections.abc import ConnectionPool
    from ..connections.manager import ConnectionManager
    from ..schema.model import ColumnType, Schema

__all__ = ["DEFAULT_MAX_KEYS", "QueryPlanner"]

DEFAULT_MAX_KEYS = 5000
"""The most join keys passed from one database to another as an ``IN`` list."""

_Key = tuple[str, tuple[str, ...]]
"""A column of the statement: (table alias, field path)."""

_ANNOTATION = "@annotation"


@dataclasses.dataclass
class _Source:
    """A table or subquery of the FROM / JOIN list."""

    index: int
    ref: str
    node: SchemaReference | SubQueryStatement
    pool: ConnectionPool | None
    route: str
    columns: list[tuple[str, ColumnType | None]]


@dataclasses.dataclass
class _Unit:
    """Sources read together by one task."""

    sources: list[_Source]
    pool: ConnectionPool | None
    joined_outer: bool = False
    nullable: bool = False
    pushed: list[Condition | Conditions] = dataclasses.field(default_factory=list)
    annotations: list[SubQueryStatement] = dataclasses.field(default_factory=list)
    needed: dict[_Key, Field] = dataclasses.field(default_factory=dict)
    slot: str = ""
    columns: tuple[OutputColumn, ...] = ()
    inputs: list[InputColumn] = dataclasses.field(default_factory=list)
    task: Task | None = None
    statement: QueryStatement | None = None

    @property
    def refs(self) -> frozenset[str]:
        return frozenset(s.ref for s in self.sources)


@dataclasses.dataclass(frozen=True)
class _Edge:
    """Keys that may flow from one result to a unit's statement."""

    sender: int  # unit index, or -1 - n for the n-th subquery
    sender_key: _Key
    receiver: int
    receiver_field: FieldReference


class QueryPlanner:
    """Turns statements into plans, for the pools of one ConnectionManager.

    Args:
        manager: routes schema names to pools.
        schemas: every table a statement may read, by name.
        max_keys: the most keys passed from one database to another as an
            ``IN`` list; above it, the other side is read without them.
    """

    def __init__(
        self,
        manager: ConnectionManager,
        schemas: Mapping[str, Schema],
        *,
        max_keys: int = DEFAULT_MAX_KEYS,
    ) -> None:
        self.manager = manager
        self.schemas = schemas
        self.checker = StatementChecker(schemas)
        self.max_keys = max_keys
        self._slots = itertools.count(1)

    # -- entry ------------------------------------------------------------------

    def plan(self, statement: QueryStatement, *, validated: bool = False) -> Plan:
        """Plan ``statement``.

        Args:
            statement: the query.
            validated: it comes from :meth:`QueryStatement.validated` already;
                otherwise it is checked against the query model first.

        Raises:
            QueryError: a node of the wrong type, an unknown table, field, alias
                or lookup (checked before anything runs), or a correlated
                subquery across databases.
            glue.ConfigurationError: a table has no pool and there is no default.
        """
        if not validated:
            statement = statement.validated()
        columns = self._columns(statement)
        task, slot = self._plan(statement, columns)
        return Plan(root=task, slot=slot, columns=tuple(c.name for c in columns))

    # -- helpers ------------------------------------------------------------------

    def _slot(self, kind: str) -> str:
        return f"{kind}{next(self._slots)}"

    def _columns(self, statement: QueryStatement) -> tuple[OutputColumn, ...]:
        """Check a statement; its output columns."""
        return self.checker.check(statement)

    def _outputs(self, statement: QueryStatement) -> tuple[str, ...]:
        return tuple(c.name for c in self._columns(statement))

    def _pool(self, name: str) -> ConnectionPool:
        return self.manager.get_connection_pool(name)

    def _home(self, statement: QueryStatement) -> ConnectionPool | None:
        """The one pool every table of the statement lives in, if there is one."""
        pools = {id(p): p for p in map(self._pool, statement.table_names())}
        return next(iter(pools.values())) if len(pools) == 1 else None

    def _sql(
        self,
        statement: QueryStatement,
        pool: ConnectionPool,
        key_filters: Sequence[KeyFilter] = (),
        slot: str | None = None,
        columns: tuple[OutputColumn, ...] | None = None,
    ) -> SqlTask:
        """One statement on one pool, compiled now unless key filters will
        change it when it runs; ``columns`` are given when it was checked."""
        compiled = None
        if not key_filters:
            compiler = QueryCompiler(pool.dialect, self.schemas)
            compiled = compiler.compile(statement, checked=columns is not None)
            columns = compiled.columns
        elif columns is None:
            columns = self._columns(statement)
        return SqlTask(
            slot=slot or self._slot("sql"),
            route=sorted(statement.table_names())[0],
            database=pool.name,
            dialect=pool.dialect,
            statement=statement,
            key_filters=tuple(key_filters),
            columns=tuple(c.name for c in columns),
            compiled=compiled,
        )

    def _plan(
        self, statement: QueryStatement, columns: tuple[OutputColumn, ...] | None = None
    ) -> tuple[Task, str]:
        """Plan a statement; ``columns`` are given when it was checked."""
        home = self._home(statement)
        if home is not None:
            task = self._sql(statement, home, columns=columns)
            return task, task.slot
        if columns is None:
            columns = self._columns(statement)
        outputs = tuple(c.name for c in columns)
        if statement.set_operations:
            return self._plan_set(statement, outputs)
        return _SelectPlanner(self, statement, outputs).plan()

    # -- set operations -------------------------------------------------------------

    def _plan_set(
        self, statement: QueryStatement, outputs: tuple[str, ...]
    ) -> tuple[Task, str]:
        core = msgspec.structs.replace(
            statement, set_operations=(), order_by=(), limit=None
        )
        parts = [core, *(op.query for op in statement.set_operations)]
        planned = [self._plan(part) for part in parts]
        order_by = []
        for order in statement.order_by:
            name = statement.order_output_name(order)
            order_by.append(
                OrderByQuery(
                    field=FieldReference.of("", name), direction=order.direction
                )
            )
        step = SetStep(
            first=planned[0][1],
            operations=tuple(
                (op.operator, slot)
                for op, (_, slot) in zip(
                    statement.set_operations, planned[1:], strict=True
                )
            ),
            order_by=tuple(order_by),
            limit=statement.limit,
            outputs=outputs,
        )
        memory = MemoryTask(slot=self._slot("set"), step=step)
        return ChainTask(
            children=(_group([t for t, _ in planned]), memory)
        ), memory.slot


def _group(tasks: Sequence[Task]) -> Task:
    return tasks[0] if len(tasks) == 1 else GroupTask(children=tuple(tasks))


class _SelectPlanner:
    """Plans one SELECT whose tables live in several databases."""

    def __init__(
        self, planner: QueryPlanner, statement: QueryStatement, outputs: tuple[str, ...]
    ) -> None:
        self.planner = planner
        self.statement = statement
        self.outputs = outputs
        self.sources = [self._source(n, s) for n, s in enumerate(statement.sources())]
        self.joins = [
            msgspec.structs.replace(j, on=self._qualify_all(j.on))
            for j in statement.joins
        ]
        self.subqueries: list[tuple[SubqueryInput, Task]] = []
        self.all_inner = all(j.join_type is JoinType.INNER for j in statement.joins)

    # -- sources and names ----------------------------------------------------------

    def _source(self, index: int, node: SchemaReference | SubQueryStatement) -> _Source:
        planner = self.planner
        if isinstance(node, SchemaReference):
            schema = planner.schemas[node.name]
            return _Source(
                index=index,
                ref=node.ref_name,
                node=node,
                pool=planner._pool(node.name),
                route=node.name,
                columns=[(c.name, c.type) for c in schema.all_columns],
            )
        return _Source(
            index=index,
            ref=node.alias,
            node=node,
            pool=planner._home(node.query),
            route=sorted(node.query.table_names())[0],
            columns=[(c.name, c.type) for c in planner._columns(node.query)],
        )

    def _resolve(self, ref: FieldReference) -> FieldReference:
        """The reference with its table named (the compiler already checked it)."""
        if ref.table_name:
            return ref
        found = [
            s for s in self.sources if any(c == ref.field.name for c, _ in s.columns)
        ]
        if len(found) != 1:
            return ref
        return msgspec.structs.replace(ref, table_name=found[0].ref)

    def _qualify(self, node: Condition | Conditions) -> Condition | Conditions:
        if isinstance(node, Conditions):
            return msgspec.structs.replace(
                node, children=tuple(self._qualify(c) for c in node.children)
            )
        field = node.field
        value = node.value
        if isinstance(field, FieldReference):
            field = self._resolve(field)
        elif field.field is not None:
            field = msgspec.structs.replace(field, field=self._resolve(field.field))
        if isinstance(value, FieldReference):
            value = self._resolve(value)
        return msgspec.structs.replace(node, field=field, value=value)

    def _qualify_all(self, node: Conditions | None) -> Conditions | None:
        if node is None:
            return None
        qualified = self._qualify(node)
        assert isinstance(qualified, Conditions)
        return qualified

    def _free_refs(
        self, statement: QueryStatement, outer: list[set[str]], names: list[set[str]]
    ) -> set[str]:
        """Tables of *this* statement that ``statement`` (a subquery) refers to."""
        own_refs: set[str] = set()
        own_names: set[str] = set()
        for source in statement.sources():
            if isinstance(source, SchemaReference):
                own_refs.add(source.ref_name)
                schema = self.planner.schemas.get(source.name)
                if schema is not None:
                    own_names.update(schema.column_names)
            else:
                own_refs.add(source.alias)
                own_names.update(self.planner._outputs(source.query))
        refs_chain = [own_refs, *outer]
        names_chain = [own_names, *names]
        free: set[str] = set()
        references = list(
            itertools.chain.from_iterable(
                c.field_references() for c in statement.conditions()
            )
        )
        references += list(statement.only or ())
        references += [g.field for g in statement.group_by]
        references += [
            a.expression.field
            for a in statement.aggregations
            if a.expression.field is not None
        ]
        for ref in references:
            if ref.table_name:
                if not any(ref.table_name in level for level in refs_chain):
                    free.add(ref.table_name)
            elif not any(ref.field.name in level for level in names_chain):
                resolved = self._resolve(ref)
                free.add(resolved.table_name or "?")
        for sub in statement.subqueries():
            free |= self._free_refs(sub.query, refs_chain, names_chain)
        for operation in statement.set_operations:
            free |= self._free_refs(operation.query, outer, names)
        return free

    def _refs(self, node: Condition | Conditions) -> set[str]:
        """The tables of this statement a condition reads, subqueries included."""
        refs = {r.table_name or "?" for r in node.field_references()}
        for sub in node.subqueries():
            refs |= self._free_refs(sub.query, [], [])
        return refs

    def _local_to(self, node: Condition | Conditions, unit: _Unit) -> bool:
        """Whether a condition can run inside the unit's own statement."""
        if unit.pool is None:
            return False
        refs = self._refs(node)
        if not refs or not refs <= unit.refs:
            return False
        for sub in node.subqueries():
            if self.planner._home(sub.query) is not unit.pool:
                return False
        return True

    # -- units ------------------------------------------------------------------------

    def _units(self) -> list[_Unit]:
        joins = self.joins
        units: list[_Unit] = []
        if self.all_inner:
            by_pool: dict[int, _Unit] = {}
            for source in self.sources:
                if source.pool is None:
                    units.append(_Unit(sources=[source], pool=None))
                    continue
                unit = by_pool.get(id(source.pool))
                if unit is None:
                    unit = by_pool[id(source.pool)] = _Unit(
                        sources=[], pool=source.pool
                    )
                    units.append(unit)
                unit.sources.append(source)
            return units
        first = self.sources[0]
        prefix = _Unit(sources=[first], pool=first.pool)
        for join, source in zip(joins, self.sources[1:], strict=True):
            if len(prefix.sources) != source.index or first.pool is None:
                break
            if source.pool is not first.pool:
                break
            trial = _Unit(sources=[*prefix.sources, source], pool=first.pool)
            if not all(self._local_to(c, trial) for c in join.on.conjuncts()):
                break
            prefix = trial
        prefix.joined_outer = True
        units.append(prefix)
        units += [
            _Unit(sources=[source], pool=source.pool)
            for source in self.sources[len(prefix.sources) :]
        ]
        # Which units NULL-padding can reach, joining left to right.
        types = [j.join_type for j in joins]
        end = len(prefix.sources) - 1
        later_pads = any(t in (JoinType.RIGHT, JoinType.FULL) for t in types[end:])
        prefix.nullable = later_pads
        for unit in units[1:]:
            position = unit.sources[0].index
            own = types[position - 1]
            after = types[position:]
            unit.nullable = own in (JoinType.LEFT, JoinType.FULL) or any(
                t in (JoinType.RIGHT, JoinType.FULL) for t in after
            )
        return units

    # -- the plan ------------------------------------------------------------

    def plan(self) -> tuple[Task, str]:
        statement = self.statement
        units = self._units()
        unit_of = {s.ref: n for n, unit in enumerate(units) for s in unit.sources}
        memory_where: list[Condition | Conditions] = []
        memory_on: dict[int, list[Condition | Conditions]] = {}
        where = self._qualify_all(statement.where)
        joins = self.joins
        if self.all_inner:
            pending = [c for j in joins for c in j.on.conjuncts()]
            pending += list(where.conjuncts()) if where is not None else []
            for part in pending:
                target = next((u for u in units if self._local_to(part, u)), None)
                if target is not None:
                    target.pushed.append(part)
                    continue
                refs = self._refs(part)
                seen: set[str] = set()
                at = None
                for number, unit in enumerate(units):
                    seen |= unit.refs
                    if refs <= seen:
                        at = number
                        break
                if at is None or at == 0:
                    memory_where.append(part)
                else:
                    memory_on.setdefault(at, []).append(part)
        else:
            prefix_size = len(units[0].sources)
            for number, join in enumerate(joins[prefix_size - 1 :], start=1):
                unit = units[number]
                for part in join.on.conjuncts():
                    if join.join_type in (JoinType.INNER, JoinType.LEFT) and (
                        self._local_to(part, unit)
                    ):
                        unit.pushed.append(part)
                    else:
                        memory_on.setdefault(number, []).append(part)
            for part in where.conjuncts() if where is not None else ():
                target = next((u for u in units if self._local_to(part, u)), None)
                if target is not None and not target.nullable:
                    target.pushed.append(part)
                else:
                    memory_where.append(part)

        having = self._qualify_all(statement.having)
        only = self._selection()
        group_by = tuple(
            GroupByQuery(field=self._resolve(g.field)) for g in statement.group_by
        )
        aggregations = tuple(
            msgspec.structs.replace(
                a,
                expression=msgspec.structs.replace(
                    a.expression, field=self._resolve(a.expression.field)
                ),
            )
            if a.expression.field is not None
            else a
            for a in statement.aggregations
        )
        outputs = set(self.outputs)
        order_by = tuple(
            o
            if (
                not o.field.table_name
                and o.field.field.child is None
                and o.field.field.name in outputs
            )
            else msgspec.structs.replace(o, field=self._resolve(o.field))
            for o in statement.order_by
        )
        for annotation in statement.annotations:
            value = annotation.value
            if isinstance(value, SubQueryStatement):
                self._annotation(value, units)

        distinct_on = tuple(self._resolve(f) for f in statement.distinct_on)

        # Which columns the in-memory step reads, from which unit.
        needed: list[FieldReference] = list(only)
        needed += distinct_on
        needed += [g.field for g in group_by]
        needed += [a.expression.field for a in aggregations if a.expression.field]
        needed += [
            o.field
            for o in order_by
            if o.field.table_name or o.field.field.name not in outputs
        ]
        memory_parts = memory_where + [c for cs in memory_on.values() for c in cs]
        if having is not None:
            memory_parts.append(having)
            for condition in having.walk():
                if not isinstance(condition.field, FieldReference):
                    inner = condition.field.field
                    if inner is not None:
                        needed.append(inner)
        for part in memory_parts:
            needed += list(part.field_references())
        for ref in needed:
            if ref.table_name not in unit_of:
                raise QueryError(
                    f"field {ref.field.name!r} of {ref.table_name!r} cannot be read "
                    "here: name its table"
                )
            units[unit_of[ref.table_name]].needed.setdefault(
                (ref.table_name, ref.field.path), ref.field
            )
        self.subqueries = self._memory_subqueries(
            memory_parts, statement.annotations, units
        )
        for unit in units:
            self._unit_statement(unit)
        edges = self._edges(units, memory_where, memory_on)
        stage_one, stage_two = self._stages(units, edges)
        ready = set(stage_one)
        for number, unit in enumerate(units):
            self._unit_task(
                unit,
                units,
                [
                    e
                    for e in edges
                    if e.receiver == number
                    and number not in ready
                    and (e.sender < 0 or e.sender in ready)
                ],
            )
        step = SelectStep(
            first=self._input(units[0]),
            joins=tuple(
                JoinStep(
                    input=self._input(unit),
                    join_type=(
                        JoinType.INNER
                        if self.all_inner
                        else joins[unit.sources[0].index - 1].join_type
                    ),
                    on=Conditions(*memory_on[n]) if memory_on.get(n) else None,
                )
                for n, unit in enumerate(units[1:], start=1)
            ),
            where=Conditions(*memory_where) if memory_where else None,
            only=only,
            annotations=tuple(statement.annotations),
            aggregations=aggregations,
            group_by=group_by,
            having=having,
            distinct=statement.distinct is True,
            distinct_on=distinct_on,
            order_by=order_by,
            limit=statement.limit,
            subqueries=tuple(s for s, _ in self.subqueries),
            outputs=self.outputs,
        )
        memory = MemoryTask(slot=self.planner._slot("memory"), step=step)
        first = [units[n].task for n in stage_one] + [t for _, t in self.subqueries]
        children: list[Task] = [_group([t for t in first if t is not None])]
        second = [units[n].task for n in stage_two]
        if second:
            children.append(_group([t for t in second if t is not None]))
        children.append(memory)
        return ChainTask(children=tuple(children)), memory.slot

    def _selection(self) -> tuple[FieldReference | FieldReferenceAliased, ...]:
        statement = self.statement
        if statement.only is not None:
            return tuple(self._resolve(item) for item in statement.only)
        if statement.aggregations or statement.group_by:
            return tuple(self._resolve(g.field) for g in statement.group_by)
        selected: list[FieldReference | FieldReferenceAliased] = []
        taken: set[str] = set()
        for source in self.sources:
            for name, _ in source.columns:
                output = name if name not in taken else f"{source.ref}__{name}"
                taken.add(output)
                selected.append(FieldReference.of(source.ref, name).aliased(output))
        return tuple(selected)

    def _annotation(self, value: SubQueryStatement, units: list[_Unit]) -> None:
        """Push a correlated scalar subquery into the unit it refers to."""
        refs = self._free_refs(value.query, [], [])
        if not refs:
            return
        home = self.planner._home(value.query)
        for unit in units:
            if refs <= unit.refs and unit.pool is not None and home is unit.pool:
                if self.statement.aggregations or self.statement.group_by:
                    break
                unit.annotations.append(value)
                return
        raise QueryError(
            f"annotation {value.alias!r}: a correlated subquery must live in the "
            "database of the table it refers to (and not be mixed with grouping)"
        )

    def _memory_subqueries(
        self,
        parts: Sequence[Condition | Conditions],
        annotations: Sequence[AnnotationQuery],
        units: list[_Unit],
    ) -> list[tuple[SubqueryInput, Task]]:
        found: list[SubQueryStatement] = [
            sub for part in parts for sub in part.subqueries()
        ]
        pushed = {id(a) for u in units for a in u.annotations}
        found += [
            a.value
            for a in annotations
            if isinstance(a.value, SubQueryStatement) and id(a.value) not in pushed
        ]
        planned: list[tuple[SubqueryInput, Task]] = []
        for sub in found:
            if any(s.query == sub.query for s, _ in planned):
                continue
            if self._free_refs(sub.query, [], []):
                raise QueryError(
                    "a correlated subquery must live in the database of the table "
                    "it refers to; this one reads "
                    f"{', '.join(sorted(sub.query.table_names()))}"
                )
            task, slot = self.planner._plan(sub.query)
            planned.append((SubqueryInput(query=sub.query, slot=slot), task))
        return planned

    # -- key passing ----------------------------------------------------------------

    def _edges(
        self,
        units: list[_Unit],
        memory_where: list[Condition | Conditions],
        memory_on: dict[int, list[Condition | Conditions]],
    ) -> list[_Edge]:
        unit_of = {s.ref: n for n, unit in enumerate(units) for s in unit.sources}
        edges: list[_Edge] = []

        def equality(
            part: Condition | Conditions,
        ) -> tuple[FieldReference, FieldReference] | None:
            if (
                isinstance(part, Condition)
                and FieldLookup(part.lookup) is FieldLookup.EQ
                and isinstance(part.field, FieldReference)
                and isinstance(part.value, FieldReference)
                and part.field.table_name in unit_of
                and part.value.table_name in unit_of
            ):
                return part.field, part.value
            return None

        def add(sender: FieldReference, receiver: FieldReference) -> None:
            s, r = unit_of[sender.table_name], unit_of[receiver.table_name]
            if s == r or units[r].pool is None:
                return
            key = (sender.table_name, sender.field.path)
            if self._type_of(units[s], key) != self._type_of(
                units[r], (receiver.table_name, receiver.field.path)
            ):
                return
            edges.append(_Edge(s, key, r, receiver))

        both_ways = list(memory_where) if self.all_inner else []
        if self.all_inner:
            both_ways += [c for cs in memory_on.values() for c in cs]
        else:
            for part in memory_where:
                pair = equality(part)
                if pair and not any(
                    units[unit_of[p.table_name]].nullable for p in pair
                ):
                    both_ways.append(part)
            for number, parts in memory_on.items():
                if self.joins[units[number].sources[0].index - 1].join_type not in (
                    JoinType.INNER,
                    JoinType.LEFT,
                ):
                    continue
                for part in parts:
                    pair = equality(part)
                    if pair is None:
                        continue
                    a, b = pair
                    if (
                        unit_of[b.table_name] == number
                        and unit_of[a.table_name] < number
                    ):
                        add(a, b)
                    elif (
                        unit_of[a.table_name] == number
                        and unit_of[b.table_name] < number
                    ):
                        add(b, a)
        for part in both_ways:
            pair = equality(part)
            if pair is not None:
                add(pair[0], pair[1])
                add(pair[1], pair[0])
        restricting = list(memory_where)
        if self.all_inner:
            restricting += [c for cs in memory_on.values() for c in cs]
        for part in restricting:
            if (
                isinstance(part, Condition)
                and FieldLookup(part.lookup) is FieldLookup.IN
                and isinstance(part.value, SubQueryStatement)
                and isinstance(part.field, FieldReference)
                and part.field.table_name in unit_of
                and part.field.field.child is None
            ):
                receiver = unit_of[part.field.table_name]
                unit = units[receiver]
                if unit.nullable or unit.pool is None:
                    continue
                for number, (sub, _) in enumerate(self.subqueries):
                    if sub.query == part.value.query:
                        edges.append(_Edge(-1 - number, ("", ()), receiver, part.field))
        return edges

    def _type_of(self, unit: _Unit, key: _Key) -> ColumnType | None:
        ref, path = key
        if len(path) != 1:
            return None
        for source in unit.sources:
            if source.ref == ref:
                for name, column_type in source.columns:
                    if name == path[0]:
                        return column_type
        return None

    def _stages(
        self, units: list[_Unit], edges: list[_Edge]
    ) -> tuple[list[int], list[int]]:
        """Units that run first, and units that wait for their keys.

        Keys flow from the side likely to be small: a unit with a filter before
        one without; between two alike, the side joined on its primary key (a
        dimension, say customers) before the side holding the reference (the
        orders); else the earlier table. Sides with no filter on either end
        read in parallel: their keys would rarely be few.
        """
        filtered = {n for n, u in enumerate(units) if u.pushed}

        def rank(unit: int, key: _Key) -> tuple[bool, bool, int]:
            return (unit in filtered, self._is_primary(units[unit], key), -unit)

        second: set[int] = set()
        senders: set[int] = set()
        for edge in edges:
            if edge.sender < 0:
                if edge.receiver not in filtered and edge.receiver not in senders:
                    second.add(edge.receiver)
                continue
            if edge.sender in second or edge.receiver in senders:
                continue
            if edge.sender not in filtered and edge.receiver not in filtered:
                continue
            receiver_key = (
                edge.receiver_field.table_name,
                edge.receiver_field.field.path,
            )
            if rank(edge.sender, edge.sender_key) > rank(edge.receiver, receiver_key):
                second.add(edge.receiver)
                senders.add(edge.sender)
        first = [n for n in range(len(units)) if n not in second]
        return first, sorted(second)

    def _is_primary(self, unit: _Unit, key: _Key) -> bool:
        """Whether ``key`` is the whole primary key of its table."""
        ref, path = key
        for source in unit.sources:
            if source.ref == ref and isinstance(source.node, SchemaReference):
                schema = self.planner.schemas[source.node.name]
                return schema.primary_key == path
        return False

    # -- unit tasks ----------------------------------------------------------

    def _unit_statement(self, unit: _Unit) -> None:
        """Build the unit's statement and columns (or plan its subquery)."""
        planner = self.planner
        if unit.pool is None:
            source = unit.sources[0]
            assert isinstance(source.node, SubQueryStatement)
            task, slot = planner._plan(source.node.query)
            unit.task, unit.slot = task, slot
            unit.inputs = [
                InputColumn(ref=source.ref, path=(name,), type=column_type)
                for name, column_type in source.columns
            ]
            return
        unit.slot = planner._slot("sql")
        only = [
            FieldReference(table_name=ref, field=field).aliased(f"_c{n}")
            for n, ((ref, _), field) in enumerate(unit.needed.items())
        ]
        annotations = [
            AnnotationQuery(value=SubQueryStatement(query=a.query, alias=f"_a{n}"))
            for n, a in enumerate(unit.annotations)
        ]
        if not only and not annotations:
            annotations.append(
                AnnotationQuery(value=ValueAnnotation(value=Value(1), alias="_one"))
            )
        first, *rest = unit.sources
        if unit.joined_outer:
            joins = [self.joins[s.index - 1] for s in rest]
        else:
            joins = [JoinQuery(table=s.node, on=Conditions()) for s in rest]
        unit.statement = QueryStatement(
            table=first.node,
            only=only,
            annotations=annotations,
            joins=joins,
            where=Conditions(*unit.pushed) if unit.pushed else None,
        )
        unit.columns = planner._columns(unit.statement)
        inputs = [
            InputColumn(ref=ref, path=path, type=column.type)
            for (ref, path), column in zip(unit.needed, unit.columns, strict=False)
        ]
        for annotation, column in zip(
            unit.annotations, unit.columns[len(unit.needed) :], strict=False
        ):
            inputs.append(
                InputColumn(ref=_ANNOTATION, path=(annotation.alias,), type=column.type)
            )
        unit.inputs = inputs

    def _unit_task(self, unit: _Unit, units: list[_Unit], edges: list[_Edge]) -> None:
        """Build the unit's SQL task, with key filters from ``edges``."""
        if unit.pool is None:
            return
        filters: list[KeyFilter] = []
        for edge in edges:
            if edge.sender < 0:
                slot = self.subqueries[-1 - edge.sender][0].slot
                column = 0
            else:
                sender = units[edge.sender]
                slot = sender.slot
                column = [(c.ref, c.path) for c in sender.inputs].index(edge.sender_key)
            filters.append(
                KeyFilter(
                    source=slot,
                    column=column,
                    field=edge.receiver_field,
                    max_keys=self.planner.max_keys,
                )
            )
        assert unit.statement is not None
        unit.task = self.planner._sql(
            unit.statement, unit.pool, filters, unit.slot, unit.columns
        )

    def _input(self, unit: _Unit) -> Input:
        return Input(
            slot=unit.slot,
            refs=tuple(s.ref for s in unit.sources),
            columns=tuple(unit.inputs),
        )
