"""Every error glue raises, in one tree.

::

    GlueError
    ├── ConfigurationError            a mistake in how the app was put together
    │   ├── RegistrationError         a bad or duplicate registration on a Domain
    │   ├── HandlerError (TypeError)  a handler that yields or returns the wrong thing
    │   └── UnknownService (AttributeError)  a service path nothing is registered at
    ├── ValidationError (ValueError)  input that does not fit an entity; .errors by path
    │   └── UnsupportedMediaType      a request body that is not JSON (415)
    ├── UnknownCommand (LookupError)  a command name no domain registered
    ├── Unauthenticated (PermissionError)  a credential missing where one is
    │                                 needed, or one that does not verify (401)
    ├── Forbidden (PermissionError)   an actor without a permission, or a domain
    │                                 reaching for a database it did not declare
    ├── PreconditionRequired          a command that needs the etag of the row it
    │                                 changes was sent without one (428)
    ├── NotFound (LookupError)        a required row or parent is missing
    ├── ContextError (RuntimeError)   a context used outside its lifetime
    │   └── SetupError                a resource or middleware that did not set up
    ├── ConcurrencyConflict           a row changed between its read and the
    │   │                             commit; the bus runs the command again (409)
    │   ├── StaleEtag                 a client's etag (If-Match) is not the row's:
    │   │                             stale or made up; never retried (412)
    │   └── LockConflict (OperationalError)  a lock not granted in time, or a
    │                                 deadlock victim: retried like a conflict
    ├── ConnectionError               a database could not be reached or was lost
    │   ├── PoolTimeout (TimeoutError)  no connection free within the acquire timeout
    │   └── PoolClosed                the pool was closed
    ├── TransportError (ConnectionError)  a message broker (NATS) that could not
    │                                 be reached, or refused or lost a message
    ├── DatabaseError                 the database refused a statement
    │   ├── IntegrityError            a constraint was violated
    │   ├── OperationalError          locks, timeouts, disk, the server going away
    │   └── ProgrammingError          bad SQL, an unknown table or column
    ├── SchemaError                   a table schema that cannot be declared or used
    ├── QueryError                    a query that refers to what does not exist
    ├── QueryTimeout (TimeoutError)   a query that ran past its deadline
    ├── CommitError                   a multi-database commit that could not complete
    │   └── CommitInDoubt             not known yet: names each prepared transaction
    └── RenderError                   a renderer failed after its command committed

Messages are built from the arguments; the arguments stay available as attributes.
Keys and values in messages read as a user writes them (`format_key`): ``orders 7
not found``, not ``orders '7' not found`` or ``UUID('...')``. The HTTP statuses
above are those an HTTP front should answer with. This module imports nothing from
glue.
"""

from __future__ import annotations

import builtins
import datetime as dt
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import msgspec

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

__all__ = [
    "CommitError",
    "CommitInDoubt",
    "ConcurrencyConflict",
    "ConfigurationError",
    "ConnectionError",
    "ContextError",
    "DatabaseError",
    "FieldError",
    "Forbidden",
    "GlueError",
    "HandlerError",
    "IntegrityError",
    "LockConflict",
    "NotFound",
    "OperationalError",
    "PoolClosed",
    "PoolTimeout",
    "PreconditionRequired",
    "ProgrammingError",
    "QueryError",
    "QueryTimeout",
    "RegistrationError",
    "RenderError",
    "SchemaError",
    "SetupError",
    "StaleEtag",
    "TransportError",
    "Unauthenticated",
    "UnknownCommand",
    "UnknownService",
    "UnsupportedMediaType",
    "ValidationError",
    "format_key",
]


class GlueError(Exception):
    """The root of every error glue raises."""


class ConfigurationError(GlueError):
    """The app, a domain or a database was configured in a way that cannot work."""


class RegistrationError(ConfigurationError):
    """A registration on a Domain or App is invalid, for example a duplicate name."""


class HandlerError(ConfigurationError, TypeError):
    """A handler broke its contract: it gave something that is not one of its
    domain's events, a second response, or a value where none is allowed."""


class UnknownService(ConfigurationError, AttributeError):
    """A service path (``ctx.dal.orders.get_ordr``) that nothing is registered at.

    Attributes:
        path: the path asked for, as far as it was walked.
    """

    def __init__(self, path: str, message: str) -> None:
        self.path = path
        super().__init__(message)


class FieldError(msgspec.Struct, frozen=True):
    """One bad field of a validated input.

    Attributes:
        path: where the field is, as a JSON path (``$.items[2]``).
        reason: what is wrong with it.
    """

    path: str
    reason: str


class ValidationError(GlueError, ValueError):
    """Input that does not fit an entity.

    Attributes:
        entity: the full name of the entity (``"shop:create-order"``).
        errors: every bad field, by path and reason.
    """

    def __init__(self, entity: str, errors: Sequence[FieldError]) -> None:
        self.entity = entity
        self.errors = list(errors)
        detail = "; ".join(f"{e.path}: {e.reason}" for e in self.errors)
        super().__init__(f"invalid {entity}: {detail}")


class UnsupportedMediaType(ValidationError):
    """A request body in a format other than JSON.

    Attributes:
        media_type: the media type the request named (its Content-Type).
    """

    def __init__(self, entity: str, media_type: str) -> None:
        self.media_type = media_type
        named = media_type or "no Content-Type"
        super().__init__(
            entity,
            [FieldError("$", f"expected an application/json body, got {named}")],
        )


class UnknownCommand(GlueError, LookupError):
    """A command name that no domain of the app registered."""

    def __init__(self, name: str, known: Iterable[str] = ()) -> None:
        self.name = name
        self.known = sorted(known)
        hint = f" (known: {', '.join(self.known)})" if self.known else ""
        super().__init__(f"unknown command {name!r}{hint}")


class Forbidden(GlueError, PermissionError):
    """An actor lacks a permission, or a domain reached past what it declared.

    Attributes:
        missing: the permissions or names that were missing.
    """

    def __init__(self, message: str, missing: Iterable[str] = ()) -> None:
        self.missing = frozenset(missing)
        super().__init__(message)


class Unauthenticated(GlueError, PermissionError):
    """A credential is missing where one is needed, or does not verify (a bad
    signature, an expired token): who is asking is not known.

    Attributes:
        scheme: the authentication scheme expected, such as ``"Bearer"``.
    """

    def __init__(self, message: str, scheme: str = "Bearer") -> None:
        self.scheme = scheme
        super().__init__(message)


class PreconditionRequired(GlueError):
    """A command that changes a row the caller read was sent without the
    row's etag (an HTTP If-Match).

    Attributes:
        command: the command's full name.
    """

    def __init__(self, command: str) -> None:
        self.command = command
        super().__init__(
            f"{command} changes a row you read: send its etag (the ETag of the "
            "row, as an If-Match header)"
        )


class NotFound(GlueError, LookupError):
    """A row that must exist does not.

    Attributes:
        table: the table that was searched.
        key: the primary key that was asked for.
    """

    def __init__(self, table: str, key: Any) -> None:
        self.table = table
        self.key = key
        super().__init__(f"{table} {format_key(key)} not found")


class ContextError(GlueError, RuntimeError):
    """A context, resource or middleware used outside its lifetime."""


class SetupError(ContextError):
    """A resource factory or middleware did not set up (it never yielded)."""


class ConcurrencyConflict(GlueError):
    """A row changed between its read and the commit: another unit of work wrote
    it first. Nothing of the unit was written; the bus runs the command again.

    ``except ConcurrencyConflict`` catches `StaleEtag` too.

    Attributes:
        table: the table of the row (None for a `LockConflict` naming none).
        key: its primary key (one value for a one-column key).
        expected: the etag the unit of work held.
    """

    table: str | None

    def __init__(self, table: str, key: Any, expected: str | None = None) -> None:
        self.table = table
        self.key = key
        self.expected = expected
        super().__init__(self._message())

    def _message(self) -> str:
        held = f" (held etag {self.expected})" if self.expected else ""
        return (
            f"{self.table} {format_key(self.key)} changed since it was read{held}; "
            "nothing of the unit of work was written"
        )


class StaleEtag(ConcurrencyConflict):
    """A caller's etag (a client's If-Match) is not the row's current etag: the
    row changed since the client read it, or the etag was never its. Found when
    the etag is checked, before anything is written; running the command again
    cannot help, so the bus does not retry it.

    Attributes:
        table: the table of the row.
        key: its primary key (one value for a one-column key).
        expected: the etag the caller gave.
    """

    def _message(self) -> str:
        return (
            f"{self.table} {format_key(self.key)}: etag {self.expected} is not the "
            "row's current etag (the row changed since it was read, or the etag "
            "is not one of its); read the row again"
        )


class ConnectionError(GlueError, builtins.ConnectionError):
    """A database could not be reached, or a connection to it was lost.

    Attributes:
        database: the name of the database (its schema name or URL without secrets).
    """

    def __init__(self, database: str, reason: str) -> None:
        self.database = database
        self.reason = reason
        super().__init__(f"database {database!r}: {reason}")


class PoolTimeout(ConnectionError, TimeoutError):
    """No connection of a pool became free within its acquire timeout."""


class PoolClosed(ConnectionError):
    """A connection was asked of a pool that is closed."""


class TransportError(GlueError, builtins.ConnectionError):
    """A message broker could not be reached, or refused or lost a message.

    Attributes:
        broker: where the broker was sought (its URL without secrets).
        reason: what went wrong.
    """

    def __init__(self, broker: str, reason: str) -> None:
        self.broker = broker
        self.reason = reason
        super().__init__(f"broker {broker!r}: {reason}")


class DatabaseError(GlueError):
    """The database refused a statement.

    Attributes:
        database: the database that refused it.
        table: the table concerned, when known.
    """

    def __init__(self, database: str, reason: str, table: str | None = None) -> None:
        self.database = database
        self.reason = reason
        self.table = table
        where = f", table {table!r}" if table else ""
        super().__init__(f"database {database!r}{where}: {reason}")


class IntegrityError(DatabaseError):
    """A constraint (unique, foreign key, not null, check) was violated."""


class OperationalError(DatabaseError):
    """The database could not run the statement: locked, timed out, out of space."""


class ProgrammingError(DatabaseError):
    """The statement itself was wrong: bad SQL, an unknown table or column."""


class LockConflict(ConcurrencyConflict, OperationalError):
    """A lock was not granted in time, or the database broke a deadlock with us.

    Another transaction held what this one waited for: a row (PostgreSQL's
    ``lock_timeout``, a deadlock, a serialization failure), a SQLite database's
    write lock (its busy timeout), or a write connection that a unit of work
    waited for while holding another database's (a cycle across databases no
    server can see). Nothing of the transaction was written; like any
    `ConcurrencyConflict`, the bus runs the command again.

    Attributes:
        database: the database whose lock was not granted.
        table: the table concerned, when known.
    """

    def __init__(self, database: str, reason: str, table: str | None = None) -> None:
        self.database = database
        self.reason = reason
        self.table = table
        self.key = None
        self.expected = None
        where = f", table {table!r}" if table else ""
        Exception.__init__(
            self,
            f"database {database!r}{where}: {reason}; nothing of the transaction "
            "was written",
        )


class SchemaError(GlueError):
    """A table schema that cannot be declared, created or used as written."""


class QueryError(GlueError):
    """A query that names an unknown table, field or lookup, or cannot be planned."""


class QueryTimeout(GlueError, TimeoutError):
    """A query ran past its deadline; everything it started was cancelled."""


class CommitError(GlueError):
    """A unit of work spanning databases could not commit everywhere.

    Attributes:
        committed: the databases that did commit before the failure.
        failed: the database whose commit failed.
    """

    def __init__(self, failed: str, committed: Iterable[str], reason: str) -> None:
        self.failed = failed
        self.committed = sorted(committed)
        self.reason = reason
        done = ", ".join(self.committed) or "none"
        super().__init__(
            f"commit failed on {failed!r} ({reason}); already committed: {done}"
        )


def format_key(value: Any) -> str:
    """A key or value the way a user writes it, for messages.

    ``7`` → ``7``, ``"7"`` → ``7``, ``UUID(...)`` → ``3f2a...``, a datetime in ISO
    8601, a one-column key tuple ``(7,)`` → ``7``, a composite key → ``(7, 2)``, a
    row → ``(id=7, line=2)``. Text is quoted only when it would not read as one
    word (empty, or with spaces).
    """
    if isinstance(value, str):
        return value if value and not _spaced(value) else repr(value)
    if isinstance(value, tuple | list):
        if isinstance(value, tuple) and len(value) == 1:
            return format_key(value[0])
        return f"({', '.join(map(format_key, value))})"
    if isinstance(value, Mapping):
        parts = (f"{k}={format_key(v)}" for k, v in value.items())
        return f"({', '.join(parts)})"
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, bytes):
        return repr(value)
    return str(value)


def _spaced(text: str) -> bool:
    return not text.isprintable() or any(ch.isspace() for ch in text)


class CommitInDoubt(CommitError):
    """A commit whose outcome is not known yet, everywhere: do not run it again.

    The connection was lost while a database committed (its reply never came),
    or databases stay prepared (two-phase commit) after the unit decided.
    ``decision`` says what is known: ``"commit"`` when the unit's decision to
    commit is recorded (its prepared transactions will be committed by glue's
    recovery: the next App start, or ``glue transactions recover``), None when
    nobody knows yet whether it committed.

    Attributes:
        decision: ``"commit"``, or None when undecided or unknown.
        prepared: (database, transaction id) of each prepared transaction left
            on a server, holding its locks until it is finished.
    """

    def __init__(
        self,
        failed: str,
        committed: Iterable[str],
        reason: str,
        *,
        decision: str | None = None,
        prepared: Iterable[tuple[str, str]] = (),
    ) -> None:
        self.failed = failed
        self.committed = sorted(committed)
        self.reason = reason
        self.decision = decision
        self.prepared = tuple(prepared)
        done = ", ".join(self.committed) or "none"
        left = "".join(
            f"; prepared transaction {gid!r} is left in database {database!r}"
            for database, gid in self.prepared
        )
        known = (
            "the unit decided to commit: glue's recovery finishes it"
            if decision == "commit"
            else "whether it committed is not known"
        )
        GlueError.__init__(
            self,
            f"commit in doubt on {failed!r} ({reason}); {known}; committed: "
            f"{done}{left}. Do not run it again",
        )


class RenderError(GlueError):
    """A response renderer failed after its command had committed.

    The command's writes stay; only the rendering failed.

    Attributes:
        command: the full name of the command (``"shop:place-order"``).
        response: the handler's response, committed, before rendering.
    """

    def __init__(self, command: str, response: Any, reason: str) -> None:
        self.command = command
        self.response = response
        super().__init__(
            f"the renderer of {command} failed after the command committed (its "
            f"writes stay): {reason}"
        )
