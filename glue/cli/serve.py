"""``glue serve``: an App's HTTP front under uvicorn.

::

    glue serve --app domains.shop.api:make_api --port 8000
    glue serve --app domains.shop.app:make_app --workers 4

``--app`` names a :class:`glue.http.HttpApp`, or an App (served as
``glue.http.asgi(app)``, without auth), or a factory of either. It is loaded
here first, so a bad ``--app`` fails before any server starts. With one
worker, that object is served; with ``--workers`` above 1 or ``--reload``,
uvicorn starts processes that each load it again (from :func:`app_from_env`).

The options live in one place, :class:`ServeOptions`, which the command line
fills from the configuration (:mod:`glue.config`: defaults, ``[serve]`` in
``glue.toml``, ``GLUE_SERVE__*`` variables, then the flags given).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import msgspec

from ..domain.app import App
from ..errors import ConfigurationError
from ..log import configure
from .loading import load

if TYPE_CHECKING:
    from ..http import HttpApp

__all__ = ["APP_ENV", "ServeOptions", "app_from_env", "load_http_app", "serve"]

APP_ENV = "_GLUE_SERVE_APP"
"""Where ``glue serve`` leaves ``--app`` for the processes uvicorn starts."""

_LEVEL_ENV = "_GLUE_SERVE_LOG_LEVEL"


class ServeOptions(msgspec.Struct, frozen=True, kw_only=True):
    """How ``glue serve`` serves.

    Attributes:
        app: ``MODULE:ATTR`` of the HttpApp, App or factory.
        host: the address to listen on.
        port: the port to listen on.
        workers: how many processes serve.
        reload: restart when a source file changes (development).
        log_level: the lowest level of glue's and uvicorn's logs.
        log_json: log one JSON object per line.
    """

    app: str
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1
    reload: bool = False
    log_level: str = "INFO"
    log_json: bool = False


def load_http_app(spec: str) -> HttpApp:
    """The HttpApp ``spec`` names, or the HttpApp of the App it names.

    Raises:
        glue.ConfigurationError: as for ``--app`` elsewhere; or the http extra
            is not installed.
    """
    try:
        from ..http import HttpApp, asgi
    except ImportError as exc:
        raise ConfigurationError(
            f"glue serve needs the http extra: pip install 'glue-cqrs[http]' ({exc})"
        ) from exc
    target = load(spec, HttpApp, App)
    return target if isinstance(target, HttpApp) else asgi(target)


def app_from_env() -> HttpApp:
    """The factory uvicorn's processes call: the HttpApp ``glue serve`` named."""
    configure(os.environ.get(_LEVEL_ENV, "WARNING"))
    return load_http_app(os.environ[APP_ENV])


def serve(options: ServeOptions) -> None:
    """Serve until interrupted (Ctrl-C, SIGTERM).

    Raises:
        glue.ConfigurationError: a bad ``--app``, checked before serving.
    """
    import uvicorn  # with the http extra; loading the app checked it is there

    http = load_http_app(options.app)
    settings: dict[str, Any] = {
        "host": options.host,
        "port": options.port,
        "log_level": options.log_level.lower(),
    }
    if options.workers > 1 or options.reload:
        os.environ[APP_ENV] = options.app
        os.environ[_LEVEL_ENV] = options.log_level
        uvicorn.run(
            f"{__name__}:app_from_env",
            factory=True,
            workers=options.workers,
            reload=options.reload,
            **settings,
        )
    else:
        uvicorn.run(http, **settings)
