"""The shop on HTTP: ``glue serve --app domains.shop.api:make_api``.

:func:`make_api` serves the shop's App (:func:`domains.shop.app.make_app`,
databases from the environment) with the shop's signed tokens
(:mod:`domains.shop.auth`) as a Bearer header or a ``shop_token`` cookie. Needs
``glue-cqrs[http]``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import glue.http

from .app import make_app
from .auth import tokens_from_env

if TYPE_CHECKING:
    from glue import App

__all__ = ["TOKEN_COOKIE", "make_api"]

TOKEN_COOKIE = "shop_token"
"""The cookie a browser may carry its token in."""


def make_api(app: App | None = None) -> glue.http.HttpApp:
    """The shop's HTTP front.

    Args:
        app: the shop's App; :func:`~domains.shop.app.make_app` with the
            databases the environment names when None.
    """
    tokens = tokens_from_env()
    return glue.http.asgi(
        make_app() if app is None else app,
        auth=glue.http.bearer(tokens.verify, cookie=TOKEN_COOKIE),
        title="shop",
    )
