"""``glue transactions list`` and ``glue transactions recover``.

Two-phase commit can leave prepared transactions on a PostgreSQL server when a
process dies or a server restarts at the wrong moment; they hold their locks
until someone finishes them. An App finishes every one it can decide when it
opens. These commands do it on demand, without opening the App (its databases
only): ``list`` shows each one with its unit's decision, changing nothing;
``recover`` commits or rolls back each as its unit decided (see
:mod:`glue.work.recovery`) and exits with status 1 when one is left.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..connections.manager import ConnectionManager
from ..errors import ConfigurationError, GlueError
from ..work.recovery import find_prepared, recover_prepared
from .commands import format_table

if TYPE_CHECKING:
    from ..domain.app import App
    from ..work.recovery import PreparedTransaction

__all__ = ["run_transactions"]


async def run_transactions(app: App, *, recover: bool) -> None:
    """List glue's prepared transactions in the app's databases, or finish them.

    Raises:
        glue.ConfigurationError: the app has no databases.
        glue.GlueError: a database could not be read, or (``recover``) a
            prepared transaction is left: the message says which and why.
    """
    databases = app.databases
    if databases is None:
        raise ConfigurationError("this App has no databases: nothing to recover")
    manager = (
        databases
        if isinstance(databases, ConnectionManager)
        else ConnectionManager.from_urls(databases)
    )
    async with manager:
        pools = manager.pools.values()
        found = await (recover_prepared(pools) if recover else find_prepared(pools))
    if not found:
        print("no prepared transaction left by glue")
        return
    print(format_table([_row(t, recover=recover) for t in found]))
    left = [t for t in found if recover and t.outcome.startswith("left")]
    if left:
        raise GlueError(
            f"{len(left)} prepared transaction(s) left: "
            + "; ".join(f"{t.gid} in {t.database} ({t.outcome})" for t in left)
        )


def _row(found: PreparedTransaction, *, recover: bool) -> dict[str, object]:
    row: dict[str, object] = {
        "database": found.database,
        "transaction": found.gid,
        "prepared at": found.prepared_at,
        "coordinator": found.coordinator or "unknown",
        "decision": found.decision or "none yet",
    }
    if recover:
        row["outcome"] = found.outcome
    return row
