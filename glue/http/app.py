"""HttpApp: an App's domains as an ASGI application, on Starlette.

::

    api = glue.http.asgi(app)                        # serve it: uvicorn module:api

    fastapi = FastAPI(lifespan=api.lifespan)        # or mount it, sharing
    fastapi.mount("/shop", api)                     # the App's lifespan

Routes:

=================================  ============================================
``POST /{domain}:{command}``       dispatch a command (JSON body); its response
``GET /{domain}/{table}``          rows of an exposed table (:mod:`.reads`)
``GET /{domain}/{table}/{key}``    one row, with its ``ETag``
``POST /query``                    a ``QueryStatement`` (a permission)
``GET /openapi.json``              the OpenAPI 3.1 document (:mod:`.openapi`)
``GET /docs``                      Swagger UI, served offline (:mod:`.docs`)
=================================  ============================================

A command request, in order: the command is found (404), the actor resolved
(``auth=``: 401 for a bad credential), its policy checked (401 without an
actor, 403 naming the missing permission), the body checked (415 if not JSON,
413 if too large), ``If-Match`` read (428 where the command declared
``if_match=True``), the body decoded (422, every bad field by path), then the
command dispatched, with ``Idempotency-Key`` honoured (:mod:`.idempotency`).
The response entity is encoded by msgspec as JSON, unless ``renderers=`` maps
its type to a function giving another Starlette response (a stream, a file).
Every error is a problem detail (:mod:`.problems`).

Every response carries ``X-Request-ID``: the request's own when it sent a
sane one (up to 128 letters, digits and ``._:-``), else a new one. It is the
dispatch's ``request_id`` and is bound (``structlog.contextvars``) to every
log line written while the request runs.

The lifespan opens the App if it is not open yet, and closes it after: a
served HttpApp opens its App itself; a mounted one shares the host's lifespan
(``FastAPI(lifespan=api.lifespan)``, ``Starlette(lifespan=api.lifespan)``,
``Litestar(lifespan=[api.lifespan])``). Until the App is open, requests that
need it get 503.
"""

from __future__ import annotations

import contextlib
import re
import secrets
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeAlias

import msgspec
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Route
from structlog.contextvars import bound_contextvars

from ..domain.app import AppState
from ..domain.policy import Policy
from ..errors import (
    ContextError,
    FieldError,
    Forbidden,
    PreconditionRequired,
    Unauthenticated,
    UnknownCommand,
    UnsupportedMediaType,
    ValidationError,
)
from ..log import get_logger
from .docs import assets, docs_page
from .etags import format_etag, none_match, parse_if_match
from .idempotency import IdempotencyKeys, Recorded
from .openapi import openapi_document
from .problems import is_refusal, problem_response
from .reads import TableReads, decode_statement

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Mapping

    from starlette.types import Message, Receive, Scope, Send

    from ..domain.app import App
    from ..domain.registry import CommandRoute
    from ..entities.base import Response as Entity

__all__ = ["ActorResolver", "HttpApp", "Renderer", "asgi"]

ActorResolver: TypeAlias = Callable[[Request], Awaitable[Any]]
"""``async def resolve(request) -> actor``: who is asking (None: no credential);
raises :class:`glue.Unauthenticated` for a credential that does not verify."""

Renderer: TypeAlias = Callable[[Any, Request], Awaitable[Response]]
"""``async def render(response, request) -> starlette.responses.Response``."""

_log = get_logger(__name__)
_encoder = msgspec.json.Encoder()
_SANE_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
_REQUEST_ID = "glue.request_id"
_JSON = "application/json"


def asgi(app: App, **options: Any) -> HttpApp:
    """An App as an ASGI application: ``api = glue.http.asgi(app)``.

    Args:
        app: the App, open or not.
        **options: see :class:`HttpApp`.
    """
    return HttpApp(app, **options)


class HttpApp:
    """An App's commands, exposed tables, OpenAPI document and docs on HTTP.

    Args:
        app: the App, open or not (the lifespan opens it if needed).
        auth: ``async def resolve(request) -> actor``: who is asking, from a
            Bearer token, a cookie, anything; None when the request carries no
            credential; raises :class:`glue.Unauthenticated` for a bad one.
            Without it, every request is anonymous.
        renderers: response type → ``async def render(response, request)``
            returning a Starlette response, for responses that are not JSON.
        query_permission: the permission ``POST /query`` needs; None to not
            serve it.
        docs: serve ``/docs``.
        title: the API's title in the OpenAPI document.
        version: the API's version there.
        idempotency_ttl: seconds an ``Idempotency-Key`` holds.
        max_limit: the largest page a read may ask for.
        max_body: the largest request body, in bytes (413 above it).
    """

    def __init__(
        self,
        app: App,
        *,
        auth: ActorResolver | None = None,
        renderers: Mapping[type[Entity], Renderer] | None = None,
        query_permission: str | None = "glue:query",
        docs: bool = True,
        title: str = "glue",
        version: str = "0.1.0",
        idempotency_ttl: float = 86400.0,
        max_limit: int = 1000,
        max_body: int = 1 << 20,
    ) -> None:
        self.app = app
        self.auth = auth
        self.title = title
        self.version = version
        self.max_body = max_body
        self.query_permission = query_permission
        self._renderers = dict(renderers or {})
        self._replayable = {
            f"{kind.__module__}.{kind.__qualname__}": kind for kind in self._renderers
        }
        self._commands = app.registry.commands
        self._reads = {
            f"{name}/{table}": TableReads(app, name, exposure, max_limit=max_limit)
            for name, scope in app.registry.domains.items()
            for table, exposure in scope.exposed.items()
        }
        self._query_policy = (
            None
            if query_permission is None
            else Policy("POST /query", {query_permission})
        )
        self._keys = IdempotencyKeys(ttl=idempotency_ttl)
        self._openapi: bytes | None = None
        routes: list[BaseRoute] = [
            Route("/openapi.json", self._openapi_json, methods=["GET"])
        ]
        if docs:
            routes += [Route("/docs", self._docs, methods=["GET"]), assets()]
        if query_permission is not None:
            routes.append(Route("/query", self._query, methods=["POST"]))
        routes += [
            Route("/{domain}/{table}", self._list, methods=["GET"]),
            Route("/{domain}/{table}/{key}", self._row, methods=["GET"]),
            Route("/{name}", _Commands(self), methods=["POST"]),
        ]
        self._asgi = Starlette(
            routes=routes,
            lifespan=lambda _: self.lifespan(),
            exception_handlers={HTTPException: self._refused},
        )

    def __repr__(self) -> str:
        return f"<HttpApp {self.app!r}>"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one ASGI connection (or the lifespan)."""
        if scope["type"] != "http":
            await self._asgi(scope, receive, send)
            return
        given = _header(scope, b"x-request-id")
        rid = given if given and _SANE_ID.fullmatch(given) else secrets.token_hex(8)
        scope[_REQUEST_ID] = rid
        with bound_contextvars(request_id=rid):
            if scope["method"] == "POST":
                # A known command skips Starlette's middleware and router: the
                # hot path, and 20 µs a request.
                route = self._commands.get(_route_path(scope)[1:])
                if route is not None:
                    answer = await self.command(route, route.full_name, scope, receive)
                    await _send(answer, rid, scope, receive, send)
                    return
            header = (b"x-request-id", rid.encode())

            async def send_with_id(message: Message) -> None:
                if message["type"] == "http.response.start":
                    message["headers"] = [*message.get("headers", ()), header]
                await send(message)

            await self._asgi(scope, receive, send_with_id)

    @contextlib.asynccontextmanager
    async def lifespan(self, host: object = None) -> AsyncIterator[None]:
        """Open the App for as long as the server runs, unless it is open
        already; give it to a host framework's ``lifespan=``.

        Args:
            host: the host application (ignored; frameworks pass it).
        """
        if self.app.state is AppState.NEW:
            async with self.app:
                yield
        else:
            yield

    def openapi(self) -> dict[str, Any]:
        """The OpenAPI 3.1 document served at ``/openapi.json``."""
        return openapi_document(
            self.app,
            list(self._reads.values()),
            title=self.title,
            version=self.version,
            secured=self.auth is not None,
            query_permission=self.query_permission,
        )

    # -- commands -------------------------------------------------------------------

    async def command(
        self, route: CommandRoute | None, name: str, scope: Scope, receive: Receive
    ) -> Response | bytes:
        """The answer to ``POST /{name}``: the response's JSON, or a Starlette
        response (a problem, a renderer's, a replay)."""
        rid: str = scope[_REQUEST_ID]
        actor: Any = None
        try:
            self._require_open()
            if route is None:
                raise UnknownCommand(name, self._commands)
            request = Request(scope, receive)
            if self.auth is not None:
                actor = await self.auth(request)
            if route.policy is not None:
                route.policy.check(actor)
            headers = dict(scope["headers"])
            body = await self._body(receive, headers.get(b"content-type"), name)
            if_match = parse_if_match(_text(headers.get(b"if-match")))
            if route.if_match and if_match is None:
                raise PreconditionRequired(name)
            command = self.app.decode(name, body)
            meta = None if if_match is None else {"if_match": if_match}
            key = _text(headers.get(b"idempotency-key"))
            if key is None:
                response = await self.app.bus.dispatch(
                    command, actor=actor, request_id=rid, meta=meta
                )
            else:
                answer = await self._idempotent(route, command, key, actor, rid, meta)
                if isinstance(answer, Recorded):
                    return await self._replay(answer, request)
                response = answer
            renderer = self._renderers.get(type(response))
            if renderer is not None:
                return await renderer(response, request)
            return _encoder.encode(response)
        except Exception as exc:
            policy = None if route is None else route.policy
            return self._problem(exc, rid, actor, policy)

    async def _idempotent(
        self,
        route: CommandRoute,
        command: Any,
        key: str,
        actor: Any,
        rid: str,
        meta: Mapping[str, Any] | None,
    ) -> Entity | Recorded:
        if not 0 < len(key) <= 255 or not key.isprintable():
            raise ValidationError(
                route.full_name,
                [
                    FieldError(
                        "Idempotency-Key", "expected 1 to 255 printable characters"
                    )
                ],
            )
        try:
            tables = route.scope.tables
            pool = self.app.connections.get_connection_pool(next(iter(tables), None))
        except ContextError:
            raise ValidationError(
                route.full_name,
                [
                    FieldError(
                        "Idempotency-Key", "this app has no database to keep keys"
                    )
                ],
            ) from None
        keys = self._keys
        return await keys.run(
            pool,
            keys.scope(route.scope.name, actor, key),
            keys.fingerprint(route.full_name, _encoder.encode(command)),
            route.full_name,
            lambda record: self.app.bus.dispatch(
                command, actor=actor, request_id=rid, meta=meta, before_commit=record
            ),
        )

    async def _replay(self, recorded: Recorded, request: Request) -> Response:
        kind = self._replayable.get(recorded.response_type)
        if kind is None:
            answer = Response(recorded.response, media_type=_JSON)
        else:
            entity = msgspec.json.decode(recorded.response, type=kind)
            answer = await self._renderers[kind](entity, request)
        answer.headers["Idempotent-Replayed"] = "true"
        return answer

    async def _body(
        self, receive: Receive, content_type: bytes | None, entity: str
    ) -> bytes:
        """The request's JSON body (``{}`` when empty), within ``max_body``.

        Raises:
            glue.UnsupportedMediaType: a body that is not JSON.
            HTTPException: 413, a body larger than ``max_body``.
        """
        body = b""
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise HTTPException(400, "the client went away")
            body += message.get("body", b"")
            more = message.get("more_body", False)
            if len(body) > self.max_body:
                raise HTTPException(
                    413, f"the body is larger than {self.max_body} bytes"
                )
        if not body:
            return b"{}"
        media = (_text(content_type) or "").partition(";")[0].strip().lower()
        if media != _JSON and not media.endswith("+json"):
            raise UnsupportedMediaType(entity, media)
        return body

    # -- reads ------------------------------------------------------------------------

    async def _list(self, request: Request) -> Response:
        return await self._read(request, None)

    async def _row(self, request: Request) -> Response:
        return await self._read(request, request.path_params["key"])

    async def _read(self, request: Request, key: str | None) -> Response:
        rid: str = request.scope[_REQUEST_ID]
        actor: Any = None
        reads: TableReads | None = None
        try:
            self._require_open()
            params = request.path_params
            reads = self._reads.get(f"{params['domain']}/{params['table']}")
            if reads is None:
                raise HTTPException(
                    404, f"no exposed table at /{params['domain']}/{params['table']}"
                )
            if self.auth is not None:
                actor = await self.auth(request)
            reads.check(actor)
            if key is None:
                page = await reads.page(request.query_params)
                return Response(_encoder.encode(page), media_type=_JSON)
            row, etag = await reads.row(key)
            headers = {} if etag is None else {"ETag": format_etag(etag)}
            if etag is not None and none_match(
                request.headers.get("if-none-match"), etag
            ):
                return Response(status_code=304, headers=headers)
            return Response(_encoder.encode(row), headers=headers, media_type=_JSON)
        except Exception as exc:
            policy = None if reads is None else reads.policy
            return self._problem(exc, rid, actor, policy)

    async def _query(self, request: Request) -> Response:
        rid: str = request.scope[_REQUEST_ID]
        actor: Any = None
        try:
            self._require_open()
            if self.auth is not None:
                actor = await self.auth(request)
            assert self._query_policy is not None
            self._query_policy.check(actor)
            content_type = request.headers.get("content-type", "").encode("latin-1")
            body = await self._body(request.receive, content_type, "query statement")
            statement = decode_statement(body)
            rows = await self.app.query(statement)
            return Response(_encoder.encode({"items": rows}), media_type=_JSON)
        except Exception as exc:
            return self._problem(exc, rid, actor, self._query_policy)

    # -- documents -----------------------------------------------------------------

    async def _openapi_json(self, request: Request) -> Response:
        if self._openapi is None:
            self._openapi = _encoder.encode(self.openapi())
        return Response(self._openapi, media_type=_JSON)

    async def _docs(self, request: Request) -> Response:
        root = request.scope.get("root_path", "")
        return HTMLResponse(docs_page(self.title, root))

    # -- errors ----------------------------------------------------------------------

    def _require_open(self) -> None:
        if self.app.state is not AppState.OPEN:
            raise HTTPException(
                503,
                "the App is not open: serve this HttpApp, or give its lifespan to "
                "the host (FastAPI(lifespan=api.lifespan))",
            )

    def _problem(
        self, exc: Exception, rid: str, actor: Any, policy: Policy | None
    ) -> Response:
        """The problem response for ``exc``; a 500 is logged with its traceback."""
        if (
            isinstance(exc, Forbidden)
            and actor is None
            and policy is not None
            and exc.missing <= policy.requires
        ):
            needs = ", ".join(sorted(policy.requires))
            exc = Unauthenticated(
                f"{policy.command} needs an authenticated actor with permission "
                f"{needs}: send credentials"
            )
        if not is_refusal(exc):
            _log.error("request failed", error=repr(exc), exc_info=exc)
        return problem_response(exc, rid)

    async def _refused(self, request: Request, exc: Exception) -> Response:
        """Starlette's own refusals (404 no route, 405 method) as problems."""
        return problem_response(exc, request.scope.get(_REQUEST_ID))


class _Commands:
    """The ASGI endpoint of ``POST /{name}`` for names no command has (a known
    command never gets here: :meth:`HttpApp.__call__` serves it first)."""

    __slots__ = ("_http",)

    def __init__(self, http: HttpApp) -> None:
        self._http = http

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        name = scope["path_params"]["name"]
        answer = await self._http.command(None, name, scope, receive)
        if isinstance(answer, bytes):
            answer = Response(answer, media_type=_JSON)
        await answer(scope, receive, send)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return None


def _text(value: bytes | None) -> str | None:
    return None if value is None else value.decode("latin-1")


def _route_path(scope: Scope) -> str:
    """The path below where the app is mounted."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    return path[len(root) :] if root and path.startswith(root) else path


async def _send(
    answer: Response | bytes, rid: str, scope: Scope, receive: Receive, send: Send
) -> None:
    """Send a command's answer, with the request's id."""
    if isinstance(answer, bytes):
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(answer)).encode()),
                    (b"x-request-id", rid.encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": answer})
        return
    answer.headers["x-request-id"] = rid
    await answer(scope, receive, send)
