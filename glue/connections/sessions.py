"""Which statements leave a PostgreSQL session as they found it.

asyncpg's pool resets every connection it takes back (``SELECT
pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; RESET ALL``): one round trip,
140-220 µs, more than glue spends on a whole one-row unit of work. A checkout
whose statements all leave the session clean needs none of it, so
`PostgresConnection` reads each statement's text with `leaves_session_clean`,
and glue's pool skips the reset only when every one of a checkout's statements
passed, and its other conditions hold (see `glue.connections.postgres`).

A statement passes when its first word is one of `_CLEAN` (queries, writes,
transaction control, DDL on persistent objects, ``SET LOCAL``, two-phase
``PREPARE TRANSACTION 'gid'``, ...), and its text names no function or object
that keeps session state (`_SESSION_STATE`): ``set_config``, session-level
advisory locks, temporary tables. Anything else (``SET``, ``RESET``,
``LISTEN``, ``DECLARE``, ``PREPARE`` of a statement, ``DO``, ``CALL``, an
unknown word) counts as dirty, and the release resets.

The reset undoes session settings, advisory locks, open cursors and listeners;
like asyncpg's pool, it leaves temporary tables and named prepared statements
in place. Those outlive the checkout either way: the code that makes them drops
them (``DROP TABLE``, ``DEALLOCATE``) before giving the connection back.

What the text cannot show, a function or trigger that changes session state
from inside (``PERFORM set_config(..., false)`` in PL/pgSQL, say), goes unseen:
a service that has such functions passes asyncpg's ``reset`` option to the
pool (``reset=None`` resets on every release, as asyncpg's pool does).
"""

from __future__ import annotations

import functools
import re

__all__ = ["leaves_session_clean"]

_CLEAN = frozenset(
    {
        # queries and writes
        "SELECT",
        "INSERT",
        "UPDATE",
        "DELETE",
        "MERGE",
        "WITH",
        "VALUES",
        "TABLE",
        "COPY",
        "SHOW",
        "NOTIFY",
        # transaction control: what is left open is seen at release
        "BEGIN",
        "START",
        "COMMIT",
        "END",
        "ROLLBACK",
        "ABORT",
        "SAVEPOINT",
        "RELEASE",
        "LOCK",
        # DDL and maintenance of persistent objects
        "CREATE",
        "ALTER",
        "DROP",
        "TRUNCATE",
        "COMMENT",
        "GRANT",
        "REVOKE",
        "ANALYZE",
        "VACUUM",
        "REINDEX",
        "CLUSTER",
        "REFRESH",
    }
)
"""First words of statements that keep no session state (but see `_SESSION_STATE`)."""

_CLEAN_SECOND = {"SET": frozenset({"LOCAL", "TRANSACTION", "CONSTRAINTS"})}
"""First words clean only with one of these second words: ``SET LOCAL`` ends with
its transaction, a session ``SET`` does not."""

_SESSION_STATE = re.compile(
    r"set_config|advisory_(?:un)?lock|\btemp(?:orary)?\b|pg_temp", re.IGNORECASE
)
"""Anywhere in a statement: a session GUC set through a function, a session-level
advisory lock (``pg_advisory_xact_lock`` does not match: it ends with its
transaction), a temporary table. A column named ``temp`` matches too: that only
costs a reset."""

_FIRST_WORDS = re.compile(
    r"(?:\s+|--[^\n]*|/\*.*?\*/)*(\w+)(?:\s+(\w+))?(\s*')?", re.DOTALL
)
"""The first two words, and whether a string literal follows them."""


@functools.lru_cache(maxsize=1024)
def leaves_session_clean(sql: str) -> bool:
    """Whether ``sql`` is known to leave no state in the session that runs it.

    Cached: services run the same few statement texts over and over.
    """
    words = _FIRST_WORDS.match(sql)
    if words is None or _SESSION_STATE.search(sql):
        return False
    first = words.group(1).upper()
    if first in _CLEAN:
        return True
    second = (words.group(2) or "").upper()
    if first == "PREPARE":
        # Two-phase commit names its transaction with a string; ``PREPARE
        # transaction AS ...`` makes a statement named "transaction", which
        # outlives the checkout.
        return second == "TRANSACTION" and words.group(3) is not None
    return second in _CLEAN_SECOND.get(first, ())
