"""Logging: glue's loggers, handed to the standard library, and a default setup.

Every glue module logs through its own structlog logger, named after the module
(``glue.domain.bus``, ``glue.connections.pool``, ...), and each record goes to
:mod:`logging` under that name. So the standard configuration an application
already has governs glue: ``logging.getLogger("glue")`` sets the level, handlers
and filters of all of it. glue configures nothing on import and never writes to
stdout; left unconfigured, the standard library's default applies: nothing below
WARNING, and warnings and errors on stderr.

A record's message reads ``event key=value ...``; each field is also an attribute
of the record (as ``extra=`` would set it), for JSON formatters and structlog's
``ExtraAdder``. Values bound with ``structlog.contextvars`` are included.

Hot paths ask :func:`is_enabled` once, when the app opens, so a level that is off
costs nothing per dispatch. Everywhere else a disabled level costs one call to
the standard logger's cached ``isEnabledFor``.

The ``glue`` command and the examples call :func:`configure` for readable lines
(or JSON) on stderr.
"""

from __future__ import annotations

import logging
import sys
from typing import TYPE_CHECKING, Any

import structlog
from structlog.contextvars import merge_contextvars

if TYPE_CHECKING:
    from collections.abc import Mapping

    from structlog.typing import EventDict

__all__ = ["Logger", "configure", "get_logger", "is_enabled"]

# LogRecord's own attributes: a field by one of these names is renamed
# ``<name>_`` in the record's attributes (the message keeps its name).
_RESERVED = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


class _Message:
    """A record's message: rendered as ``event key=value ...`` only if a handler
    formats it; :func:`configure`'s formatter reads the parts."""

    __slots__ = ("event", "fields")

    def __init__(self, event: str, fields: Mapping[str, Any]) -> None:
        self.event = event
        self.fields = fields

    def __str__(self) -> str:
        parts = [self.event]
        parts.extend(f"{key}={_text(value)}" for key, value in self.fields.items())
        return " ".join(parts)


def _text(value: object) -> str:
    """``value`` for a ``key=value`` pair: quoted when it would not read as one."""
    text = value if isinstance(value, str) else repr(value)
    if not text or any(c.isspace() or c in '"=' for c in text):
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return text


def _to_record(
    _logger: Any, _method: str, event_dict: EventDict
) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """The last processor: the arguments for ``logging.Logger.log``."""
    event = str(event_dict.pop("event", ""))
    options: dict[str, Any] = {}
    for key in ("exc_info", "stack_info"):
        if key in event_dict:
            options[key] = event_dict.pop(key)
    options["extra"] = {
        (f"{key}_" if key in _RESERVED else key): value
        for key, value in event_dict.items()
    }
    return (_Message(event, event_dict),), options


_PROCESSORS = (merge_contextvars, _to_record)


class Logger(structlog.BoundLoggerBase):
    """A structlog logger that hands its events to a standard library logger.

    Get one with :func:`get_logger`. Its level is the standard logger's
    effective level; an event below it is dropped before anything is built.
    """

    _logger: logging.Logger

    def debug(self, event: str, **fields: Any) -> None:
        """Log ``event`` with ``fields`` at DEBUG."""
        if self._logger.isEnabledFor(logging.DEBUG):
            self._emit(logging.DEBUG, "debug", event, fields)

    def info(self, event: str, **fields: Any) -> None:
        """Log ``event`` with ``fields`` at INFO."""
        if self._logger.isEnabledFor(logging.INFO):
            self._emit(logging.INFO, "info", event, fields)

    def warning(self, event: str, **fields: Any) -> None:
        """Log ``event`` with ``fields`` at WARNING."""
        if self._logger.isEnabledFor(logging.WARNING):
            self._emit(logging.WARNING, "warning", event, fields)

    def error(self, event: str, **fields: Any) -> None:
        """Log ``event`` with ``fields`` at ERROR."""
        if self._logger.isEnabledFor(logging.ERROR):
            self._emit(logging.ERROR, "error", event, fields)

    def is_enabled_for(self, level: int) -> bool:
        """Whether an event at ``level`` (a :mod:`logging` level) would be logged."""
        return self._logger.isEnabledFor(level)

    def _emit(
        self, level: int, method: str, event: str, fields: dict[str, Any]
    ) -> None:
        try:
            args, options = self._process_event(method, event, fields)
        except structlog.DropEvent:
            return
        # Skip this method and the level method, so the record names glue's
        # caller (file, line, function).
        self._logger.log(level, *args, stacklevel=3, **options)


def get_logger(name: str, **initial: Any) -> Logger:
    """Return the logger for module ``name``, with ``initial`` values bound.

    Args:
        name: the module's ``__name__`` (``"glue.domain.bus"``); the standard
            logger of that name receives the records.
        **initial: key-value pairs bound to every event it logs.
    """
    return Logger(logging.getLogger(name), processors=_PROCESSORS, context=initial)


def is_enabled(logger: Logger, level: int) -> bool:
    """Whether ``logger`` would log an event at ``level`` (a :mod:`logging` level).

    Follows the standard logger's effective level at the time of the call.
    """
    return logger.is_enabled_for(level)


_handler: logging.Handler | None = None


def configure(level: int | str = logging.INFO, *, json: bool = False) -> None:
    """Log to stderr, one readable line (or JSON object) per record.

    glue's records are logged from ``level`` up; every other logger's from
    WARNING up (or ``level``, if higher), so drivers' debug chatter stays out.
    Calling it again replaces the previous setup. structlog is configured to
    hand its events to the same handler, so an application's own structlog
    loggers log the same way.

    Args:
        level: the lowest level logged, as a number or a name (``"DEBUG"``).
        json: render one JSON object per line instead of readable console lines.
    """
    global _handler
    if isinstance(level, str):
        level = logging.getLevelNamesMapping()[level.upper()]
    renderers: list[Any] = (
        [structlog.processors.format_exc_info, structlog.processors.JSONRenderer()]
        if json
        else [structlog.dev.ConsoleRenderer(colors=False)]
    )
    stamp = structlog.processors.TimeStamper(fmt="iso")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[
                _unpack,
                structlog.stdlib.add_log_level,
                structlog.stdlib.add_logger_name,
                stamp,
            ],
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                *renderers,
            ],
        )
    )
    root = logging.getLogger()
    if _handler is not None:
        root.removeHandler(_handler)
    root.addHandler(handler)
    _handler = handler
    root.setLevel(max(level, logging.WARNING))
    logging.getLogger("glue").setLevel(level)
    structlog.configure(
        processors=[
            merge_contextvars,
            structlog.stdlib.filter_by_level,
            structlog.stdlib.add_log_level,
            structlog.stdlib.add_logger_name,
            stamp,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        wrapper_class=structlog.stdlib.BoundLogger,
        logger_factory=structlog.stdlib.LoggerFactory(),
        cache_logger_on_first_use=False,
    )


def _unpack(_logger: Any, _method: str, event_dict: EventDict) -> EventDict:
    """In :func:`configure`'s formatter: a glue record's event and fields, apart."""
    record = event_dict.get("_record")
    message = getattr(record, "msg", None)
    if isinstance(message, _Message):
        event_dict.update(message.fields)
        event_dict["event"] = message.event
    return event_dict
