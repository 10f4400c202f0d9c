"""Actor resolvers: who is asking, read from a request before dispatch.

An :class:`~glue.http.HttpApp` takes ``auth=``, any ``async def resolve(request)``
returning the actor (an object with ``permissions``, such as
:class:`glue.Actor`), None when the request carries no credential, or raising
:class:`glue.Unauthenticated` (401) for one that does not verify.
:func:`bearer` builds the usual one from a function that verifies a token.
"""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING, Any

from ..errors import Unauthenticated

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from starlette.requests import Request

__all__ = ["bearer"]


def bearer(
    verify: Callable[[str], Any], *, cookie: str | None = None
) -> Callable[[Request], Awaitable[Any]]:
    """An actor resolver for ``Authorization: Bearer <token>`` (or a cookie).

    Args:
        verify: ``verify(token) -> actor`` (or an awaitable of it); raises
            :class:`glue.Unauthenticated` for a token that does not verify.
        cookie: the name of a cookie holding the token, read when the request
            has no Authorization header.

    Returns:
        ``async def resolve(request) -> actor | None``: None for a request
        without a token.
    """

    async def resolve(request: Request) -> Any:
        header = request.headers.get("authorization")
        if header is not None:
            scheme, _, token = header.partition(" ")
            token = token.strip()
            if scheme.lower() != "bearer" or not token:
                raise Unauthenticated(
                    "expected an Authorization header 'Bearer <token>'"
                )
        elif cookie is not None and cookie in request.cookies:
            token = request.cookies[cookie]
        else:
            return None
        actor = verify(token)
        if inspect.isawaitable(actor):
            actor = await actor
        return actor

    return resolve
