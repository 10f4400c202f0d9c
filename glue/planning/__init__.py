"""Plans: the tasks queries and writes become, and the executor that runs them."""

from __future__ import annotations

from .executor import PlanExecutor
from .explain import explain_plan
from .read import QueryPlanner
from .tasks import ChainTask, GroupTask, MemoryTask, Plan, SqlTask, Task
from .write import WritePlan, plan_writes

__all__ = [
    "ChainTask",
    "GroupTask",
    "MemoryTask",
    "Plan",
    "PlanExecutor",
    "QueryPlanner",
    "SqlTask",
    "Task",
    "WritePlan",
    "explain_plan",
    "plan_writes",
]
