"""Units of work, their transactions across databases (and their recovery),
retries and repositories."""

from __future__ import annotations

from .commit import supports_two_phase
from .recovery import PreparedTransaction, find_prepared, recover_prepared
from .repository import Repository
from .retry import RetryPolicy, run_with_retry
from .transaction import LOCK_TIMEOUT, Transaction, TransactionState
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
    "LOCK_TIMEOUT",
    "PoolSource",
    "PreparedTransaction",
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
    "find_prepared",
    "recover_prepared",
    "require_unit",
    "run_with_retry",
    "supports_two_phase",
]
