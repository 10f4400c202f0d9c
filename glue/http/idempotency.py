"""``Idempotency-Key``: a retried POST returns the first response and runs nothing.

A client that may have lost a response (a timeout, a dropped connection) sends
its command again with the same ``Idempotency-Key`` header. The first request
that succeeds records the key, with a fingerprint of the command and the
response it got, in the table ``glue_idempotency`` of the domain's database
(the database of the first table the domain declared), in the same transaction
as the command's own writes (the bus's ``before_commit`` hook): the command's
writes and its key commit together or not at all. A retry finds the key and
answers with the recorded response (``Idempotent-Replayed: true``) without
dispatching anything.

- Keys are scoped to the domain and the actor: two clients cannot collide, nor
  read each other's responses. They are stored hashed.
- The same key with a different command or body is refused (422).
- Only a success is recorded: a request that failed changed nothing, and a
  retry with the same key runs the command again.
- Two requests with one key at once: in one process the second waits for the
  first, then answers with its response (or runs, if the first failed). Across
  processes the key's primary key lets exactly one commit; the other's unit of
  work rolls back, and it answers with the winner's response.
- Keys expire after ``ttl`` seconds (24 hours by default): an expired key is
  as good as new. Expired rows are deleted by the requests that carry a key,
  at most once per ``ttl / 24`` per database and process, 500 at a time.
- When the domain renders its response after the commit (a renderer), the
  recorded response is completed right after rendering; a process that dies in
  between leaves the handler's response recorded.

The table is created on first use.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import time
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import anyio
import msgspec

from ..entities.base import Ok
from ..errors import DatabaseError, FieldError, IntegrityError, ValidationError
from ..schema.model import Column, ColumnType, Schema
from ..services.schema import SchemaCommandService
from ..services.writes import DataCommandService
from ..state.identity import Row
from ..state.manager import utcnow
from ..work.flush import select_rows
from ..work.repository import Repository
from ..work.unit import UnitOfWork

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable
    from typing import TypeAlias

    from ..connections.abc import ConnectionPool
    from ..context.context import Context
    from ..entities.base import Response

    BeforeCommit: TypeAlias = Callable[[Context, Response | None], Awaitable[None]]

__all__ = ["KEYS", "IdempotencyKeys", "Recorded"]

KEYS = Schema(
    name="glue_idempotency",
    columns=(
        Column(name="id", type=ColumnType.TEXT),
        Column(name="request", type=ColumnType.TEXT),
        Column(name="response_type", type=ColumnType.TEXT),
        Column(name="response", type=ColumnType.TEXT),
        Column(name="expires_at", type=ColumnType.DATETIME),
    ),
    primary_key=("id",),
    versioned=False,
)
"""The table keys are recorded in: a hash of (domain, actor, key), a hash of the
request, the response's type and JSON, and when the key expires."""

_SWEEP = 500  # expired rows deleted per sweep
_OK = Ok()


class Recorded(msgspec.Struct, frozen=True, kw_only=True):
    """A response recorded under a key.

    Attributes:
        response_type: the response's class, ``module.QualName``.
        response: its JSON.
    """

    response_type: str
    response: bytes


class IdempotencyKeys:
    """Records and replays idempotent requests (see the module).

    Args:
        ttl: how long a key holds, in seconds.
    """

    def __init__(self, *, ttl: float = 86400.0) -> None:
        self.ttl = ttl
        self._ready: set[int] = set()
        self._setup = anyio.Lock()
        self._swept: dict[int, float] = {}
        self._waiting: dict[str, tuple[anyio.Lock, int]] = {}

    @staticmethod
    def scope(domain: str, actor: Any, key: str) -> str:
        """The stored id of a client's key: a hash of domain, actor and key."""
        who = "" if actor is None else str(getattr(actor, "id", actor))
        return hashlib.sha256(f"{domain}\0{who}\0{key}".encode()).hexdigest()

    @staticmethod
    def fingerprint(command: str, body: bytes) -> str:
        """A hash of the command's name and its canonical JSON."""
        return hashlib.sha256(command.encode() + b"\0" + body).hexdigest()

    async def run(
        self,
        pool: ConnectionPool,
        ident: str,
        request: str,
        command: str,
        dispatch: Callable[[BeforeCommit], Awaitable[Response]],
    ) -> Response | Recorded:
        """Answer an idempotent request: the recorded response, or the
        response of a dispatch that records it.

        Args:
            pool: the domain's database.
            ident: the key's stored id (:meth:`scope`).
            request: the request's fingerprint (:meth:`fingerprint`).
            command: the command's full name, for errors.
            dispatch: dispatches the command with a ``before_commit`` hook.

        Raises:
            glue.ValidationError: the key was used for another request.
        """
        await self._prepare(pool)
        async with self._one_at_a_time(ident):
            found = await self._find(pool, ident, request, command)
            if found is not None:
                return found
            expires = utcnow() + dt.timedelta(seconds=self.ttl)
            recorded: list[Response] = []

            async def record(ctx: Context, response: Response | None) -> None:
                recorded[:] = [_OK if response is None else response]
                row = _row(ident, request, recorded[0], expires)
                writes = DataCommandService(lambda _: pool)
                await writes.insert(KEYS, [row], transaction=ctx.unit.transaction)

            try:
                response = await dispatch(record)
            except IntegrityError:
                # Another process recorded the key first: its answer stands.
                found = await self._find(pool, ident, request, command)
                if found is None:
                    raise
                return found
            if recorded and recorded[0] is not response:
                # A renderer gave another response after the commit.
                changes = _row(ident, request, response, expires)
                await DataCommandService(lambda _: pool).update(KEYS, ident, changes)
            return response

    # -- internals ---------------------------------------------------------------

    @asynccontextmanager
    async def _one_at_a_time(self, ident: str) -> AsyncIterator[None]:
        """Let one request of a key run at a time in this process."""
        lock, users = self._waiting.get(ident) or (anyio.Lock(), 0)
        self._waiting[ident] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._waiting[ident]
            if users == 1:
                del self._waiting[ident]
            else:
                self._waiting[ident] = (lock, users - 1)

    async def _prepare(self, pool: ConnectionPool) -> None:
        """Create the table on first use, and sweep expired keys when due."""
        if id(pool) not in self._ready:
            async with self._setup:
                if id(pool) not in self._ready:
                    service = SchemaCommandService(pool)
                    try:
                        await service.create_table(KEYS, if_not_exists=True)
                    except DatabaseError:
                        # Two processes creating it at once on PostgreSQL: the
                        # later fails once the first committed; now it exists.
                        await service.create_table(KEYS, if_not_exists=True)
                    self._ready.add(id(pool))
        now = time.monotonic()
        if now - self._swept.get(id(pool), -self.ttl) >= self.ttl / 24:
            self._swept[id(pool)] = now
            await self._sweep(pool)

    async def _sweep(self, pool: ConnectionPool) -> None:
        """Delete up to 500 expired keys."""
        async with UnitOfWork(lambda _: pool) as unit:
            expired = await _Keys(unit).query(
                {"expires_at__lt": utcnow()}, limit=_SWEEP
            )
            for row in expired:
                await unit.state.delete(KEYS, row["id"])

    async def _find(
        self, pool: ConnectionPool, ident: str, request: str, command: str
    ) -> Recorded | None:
        """The response recorded under the key, if it has not expired.

        Raises:
            glue.ValidationError: the key was recorded for another request.
        """
        async with pool.acquire() as conn:
            rows = await select_rows(conn, KEYS, [(ident,)])
        if not rows:
            return None
        row = rows[0]
        if row["expires_at"] <= utcnow():
            await DataCommandService(lambda _: pool).delete(KEYS, ident)
            return None
        if row["request"] != request:
            raise ValidationError(
                command,
                [
                    FieldError(
                        "Idempotency-Key",
                        "this key was used for another request: use a new key "
                        "for each command",
                    )
                ],
            )
        return Recorded(
            response_type=row["response_type"], response=row["response"].encode()
        )


def _row(
    ident: str, request: str, response: Response, expires: dt.datetime
) -> dict[str, Any]:
    kind = type(response)
    return {
        "id": ident,
        "request": request,
        "response_type": f"{kind.__module__}.{kind.__qualname__}",
        "response": msgspec.json.encode(response).decode(),
        "expires_at": expires,
    }


class _Keys(Repository[Row]):
    """The recorded keys, read by lookups."""

    schema = KEYS
