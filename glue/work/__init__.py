"""Units of work, their transactions across databases, retries and repositories."""

from __future__ import annotations

from .repository import Repository
from .retry import RetryPolicy, run_with_retry
from .transaction import Transaction, TransactionState, supports_two_phase
from .unit import (
    PoolSource,
    UnitBinding,
    UnitOfWork,
    UnitSource,
    UnitState,
    bind_unit,
    current_unit,
    require_unit,
)

__all__ = [
    "PoolSource",
    "Repository",
    "RetryPolicy",
    "Transaction",
    "TransactionState",
    "UnitBinding",
    "UnitOfWork",
    "UnitSource",
    "UnitState",
    "bind_unit",
    "current_unit",
    "require_unit",
    "run_with_retry",
    "supports_two_phase",
]
