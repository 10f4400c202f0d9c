"""Plans as text a person can read: which part runs where, what runs in memory.

::

    plan → name, amount
    └── chain
        ├── sql sql1 on 'customers' (sqlite): SELECT "c"."id" AS "_c0", ...
        ├── sql sql2 on 'orders' (postgres), keys o.customer_id in sql1[0]: ...
        └── memory memory3: join sql1 (c) ⋈ sql2 (o) inner on o.customer_id = c.id
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..errors import QueryError
from ..query.conditions import Condition, Conditions, FieldReference, Value
from ..query.model import SubQueryStatement
from ..sql.query import QueryCompiler
from .tasks import (
    ChainTask,
    GroupTask,
    Input,
    MemoryTask,
    SelectStep,
    SetStep,
    SqlTask,
)

if TYPE_CHECKING:
    from collections.abc import Mapping

    from ..schema.model import Schema
    from .tasks import Plan, Task

__all__ = ["describe_conditions", "explain_plan"]

_OPERATORS = {
    "eq": "=",
    "neq": "<>",
    "gt": ">",
    "gte": ">=",
    "lt": "<",
    "lte": "<=",
}


def explain_plan(plan: Plan, schemas: Mapping[str, Schema] | None = None) -> str:
    """Render a plan as an indented tree.

    Args:
        plan: the plan.
        schemas: when given, each SQL task shows the SQL it runs (with
            placeholders; values are bound at run time).

    Returns:
        the tree, one task per line.
    """
    lines = [f"plan → {', '.join(plan.columns)} (result in {plan.slot})"]
    _render(plan.root, "", True, lines, schemas)
    return "\n".join(lines)


def _render(
    task: Task,
    prefix: str,
    last: bool,
    lines: list[str],
    schemas: Mapping[str, Schema] | None,
) -> None:
    branch = "└── " if last else "├── "
    lines.append(prefix + branch + _label(task, schemas))
    children: tuple[Task, ...] = ()
    if isinstance(task, ChainTask | GroupTask):
        children = task.children
    inner = prefix + ("    " if last else "│   ")
    for number, child in enumerate(children):
        _render(child, inner, number == len(children) - 1, lines, schemas)


def _label(task: Task, schemas: Mapping[str, Schema] | None) -> str:
    match task:
        case ChainTask():
            return "chain (in order)"
        case GroupTask():
            return f"group ({len(task.children)} in parallel)"
        case SqlTask():
            text = f"sql {task.slot} on {task.database!r} ({task.dialect.name})"
            for key_filter in task.key_filters:
                text += (
                    f", only {_field(key_filter.field)} in keys of "
                    f"{key_filter.source}[{key_filter.column}] "
                    f"(if ≤ {key_filter.max_keys})"
                )
            if schemas is not None:
                try:
                    compiled = QueryCompiler(task.dialect, schemas).compile(
                        task.statement
                    )
                except QueryError as exc:
                    return f"{text}: cannot compile ({exc})"
                return f"{text}: {compiled.sql}"
            return f"{text}: {', '.join(task.columns)}"
        case MemoryTask():
            return f"memory {task.slot}: {_step(task.step)}"
    raise QueryError(f"unknown task {task!r}")


def _input(source: Input) -> str:
    return f"{source.slot} ({', '.join(source.refs)})"


def _step(step: SelectStep | SetStep) -> str:
    if isinstance(step, SetStep):
        parts = [step.first]
        parts += [f"{op.value.lower()} {slot}" for op, slot in step.operations]
        text = " ".join(parts)
    else:
        pieces = [f"from {_input(step.first)}"]
        for join in step.joins:
            on = f" on {describe_conditions(join.on)}" if join.on is not None else ""
            pieces.append(
                f"{join.join_type.value.lower()} join {_input(join.input)}{on}"
            )
        if step.where is not None:
            pieces.append(f"where {describe_conditions(step.where)}")
        if step.group_by:
            pieces.append(
                "group by " + ", ".join(_field(g.field) for g in step.group_by)
            )
        if step.aggregations:
            pieces.append(
                "aggregate "
                + ", ".join(
                    f"{a.expression.function.lower()}"
                    f"({_field(a.expression.field) if a.expression.field else '*'})"
                    for a in step.aggregations
                )
            )
        if step.having is not None:
            pieces.append(f"having {describe_conditions(step.having)}")
        if step.distinct:
            pieces.append("distinct")
        if step.distinct_on:
            fields = ", ".join(_field(f) for f in step.distinct_on)
            pieces.append(f"distinct on ({fields})")
        text = ", ".join(pieces)
    if step.order_by:
        text += ", order by " + ", ".join(
            f"{_field(o.field)} {o.direction.value.lower()}" for o in step.order_by
        )
    if step.limit is not None:
        text += f", limit {step.limit.limit} offset {step.limit.offset}"
    return text


def _field(ref: FieldReference) -> str:
    path = ".".join(ref.field.path)
    return f"{ref.table_name}.{path}" if ref.table_name else path


def _operand(value: Any) -> str:
    if isinstance(value, FieldReference):
        return _field(value)
    if isinstance(value, SubQueryStatement):
        return "(subquery)"
    if isinstance(value, Value):
        return repr(value.value)
    return f"{value.function.lower()}(...)"


def describe_conditions(conditions: Conditions) -> str:
    """A condition tree as text: ``o.status = 'paid' AND c.age > 18``."""
    parts = []
    for child in conditions.children:
        if isinstance(child, Conditions):
            parts.append(f"({describe_conditions(child)})")
        else:
            parts.append(_condition(child))
    text = f" {conditions.connector.value} ".join(parts) or (
        "true" if conditions.connector.value == "AND" else "false"
    )
    return f"NOT ({text})" if conditions.negated else text


def _condition(condition: Condition) -> str:
    left = (
        _field(condition.field)
        if isinstance(condition.field, FieldReference)
        else f"{condition.field.function.lower()}(...)"
    )
    lookup = str(condition.lookup)
    operator = _OPERATORS.get(lookup, lookup)
    return f"{left} {operator} {_operand(condition.value)}"
