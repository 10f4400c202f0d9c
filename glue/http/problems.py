"""Errors as RFC 9457 problem details: one table from error type to status.

Every error a request meets becomes an ``application/problem+json`` body::

    {"type": "about:blank", "title": "Unprocessable Content", "status": 422,
     "detail": "invalid shop:place-order: ...", "error": "ValidationError",
     "request_id": "4f1c2a9be0d3a871",
     "errors": [{"path": "$.lines[0].sku", "reason": "Expected `str` ..."}]}

The status is looked up along the error's MRO in :data:`STATUS`, so a subclass
answers as its nearest listed base (`glue.StaleEtag` 412 before
`glue.ConcurrencyConflict` 409). ``error`` names the glue error's class, for
clients to branch on. An error that is not listed, or not glue's, is a 500 whose
body says only that it failed and under which request id: the traceback goes to
glue's logger (``glue.http``), never to the client.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

import msgspec
from starlette.exceptions import HTTPException
from starlette.responses import Response

from ..errors import (
    ConcurrencyConflict,
    ConnectionError,
    FieldError,
    Forbidden,
    GlueError,
    IntegrityError,
    NotFound,
    PreconditionRequired,
    QueryError,
    QueryTimeout,
    StaleEtag,
    Unauthenticated,
    UnknownCommand,
    UnsupportedMediaType,
    ValidationError,
)

__all__ = [
    "MEDIA_TYPE",
    "STATUS",
    "Problem",
    "is_refusal",
    "problem_response",
    "status_of",
]

STATUS: dict[type[BaseException], int] = {
    UnsupportedMediaType: 415,
    ValidationError: 422,
    QueryError: 400,
    Unauthenticated: 401,
    Forbidden: 403,
    UnknownCommand: 404,
    NotFound: 404,
    StaleEtag: 412,
    ConcurrencyConflict: 409,
    IntegrityError: 409,
    PreconditionRequired: 428,
    ConnectionError: 503,
    QueryTimeout: 504,
}
"""Error type → HTTP status; a type not listed (nor any of its bases) is a 500."""

MEDIA_TYPE = "application/problem+json"
"""The media type of every error response."""


class Problem(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """An RFC 9457 problem detail, with glue's extension members.

    Attributes:
        type: ``about:blank``: the status says what kind of problem it is.
        title: the status's reason phrase.
        status: the HTTP status.
        detail: what went wrong, for a person.
        request_id: the request's id, as in its ``X-Request-ID``.
        error: the glue error's class name (``"StaleEtag"``).
        errors: every bad field, by JSON path (422, 415).
        missing: the permissions the actor lacks (403).
    """

    type: str = "about:blank"
    title: str
    status: int
    detail: str | None = None
    request_id: str | None = None
    error: str | None = None
    errors: list[FieldError] | None = None
    missing: list[str] | None = None


_encoder = msgspec.json.Encoder()


def status_of(exc: BaseException) -> int:
    """The HTTP status of an error: the first of its classes in :data:`STATUS`,
    an HTTPException's own, or 500."""
    if isinstance(exc, HTTPException):
        return exc.status_code
    for kind in type(exc).__mro__:
        status = STATUS.get(kind)
        if status is not None:
            return status
    return 500


def problem_response(exc: BaseException, request_id: str | None) -> Response:
    """The problem-details response for ``exc``.

    Args:
        exc: the error; a 500 says nothing of it.
        request_id: the request's id, given in the body.
    """
    status = status_of(exc)
    fields: dict[str, Any] = {}
    headers: dict[str, str] = {}
    if isinstance(exc, HTTPException):
        detail = exc.detail
        headers.update(exc.headers or {})
    elif status >= 500 and not isinstance(exc, (ConnectionError, QueryTimeout)):
        detail = (
            "the server failed to answer this request; quote its request id "
            f"{request_id} when you report it"
        )
    else:
        detail = str(exc)
        fields["error"] = type(exc).__name__
    if isinstance(exc, ValidationError):
        fields["errors"] = exc.errors
    elif isinstance(exc, Forbidden) and exc.missing:
        fields["missing"] = sorted(exc.missing)
    elif isinstance(exc, Unauthenticated):
        headers["WWW-Authenticate"] = exc.scheme
    problem = Problem(
        title=HTTPStatus(status).phrase,
        status=status,
        detail=detail,
        request_id=request_id,
        **fields,
    )
    return Response(
        _encoder.encode(problem), status, headers=headers, media_type=MEDIA_TYPE
    )


def is_refusal(exc: BaseException) -> bool:
    """Whether ``exc`` is an answer to give (an HTTPException, or a glue error
    with a status below 500), not a failure to log."""
    if isinstance(exc, HTTPException):
        return True
    return isinstance(exc, GlueError) and status_of(exc) < 500
