"""Logging through structlog: glue's loggers, a default setup, and a level check.

glue never configures structlog on import. Applications do it their own way, or call
:func:`configure` for a sensible default (the ``glue`` command and the examples do).
Hot paths ask :func:`is_enabled` once, when the app starts, so a level that is off
costs nothing per dispatch: no event dict is built and no clock is read.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

import structlog
from structlog.typing import FilteringBoundLogger

__all__ = ["Logger", "configure", "get_logger", "is_enabled"]

Logger = FilteringBoundLogger
"""A structlog bound logger: ``debug``, ``info``, ``warning``, ``error``, ``bind``."""


def get_logger(name: str, **initial: Any) -> Logger:
    """Return a structlog logger named ``name``, with ``initial`` values bound.

    The logger is lazy: it follows structlog's configuration at the time it logs, so
    a module may hold one from import time.

    Args:
        name: the logger's name, such as ``"glue.bus"``.
        **initial: key-value pairs bound to every event it logs.
    """
    logger: Logger = structlog.get_logger(logger_name=name, **initial)
    return logger


def is_enabled(logger: Logger, level: int) -> bool:
    """Whether ``logger`` would emit an event at ``level`` (a :mod:`logging` level).

    Works with structlog's filtering loggers and its stdlib ``BoundLogger``; a logger
    that cannot tell is assumed to log everything.
    """
    check = getattr(logger, "is_enabled_for", None) or getattr(
        logger, "isEnabledFor", None
    )
    return True if check is None else bool(check(level))


def configure(level: int | str = logging.INFO, *, json: bool = False) -> None:
    """Configure structlog for glue's command line and examples.

    Args:
        level: the lowest level logged, as a number or a name (``"DEBUG"``).
        json: render one JSON object per line instead of readable console lines.
    """
    if isinstance(level, str):
        level = logging.getLevelNamesMapping()[level.upper()]
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if json
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso"),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=False,
    )
