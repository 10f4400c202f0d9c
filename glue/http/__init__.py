"""glue on HTTP: an App's domains as an ASGI application (``glue-cqrs[http]``).

::

    import glue.http
    api = glue.http.asgi(app)          # then: uvicorn module:api, or glue serve

See :mod:`glue.http.app` for the routes, :mod:`glue.http.problems` for errors,
:mod:`glue.http.reads` for reads, :mod:`glue.http.idempotency` for
``Idempotency-Key`` and :mod:`glue.http.openapi` for the document. ``import
glue`` never imports this package (nor Starlette).
"""

from __future__ import annotations

from .app import ActorResolver as ActorResolver
from .app import HttpApp as HttpApp
from .app import Renderer as Renderer
from .app import asgi as asgi
from .auth import bearer as bearer
from .problems import STATUS as STATUS
from .problems import Problem as Problem

__all__ = [
    "STATUS",
    "ActorResolver",
    "HttpApp",
    "Problem",
    "Renderer",
    "asgi",
    "bearer",
]
