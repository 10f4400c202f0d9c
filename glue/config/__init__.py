"""glue's configuration: defaults, then ``glue.toml``, then ``GLUE_*`` variables,
then command-line flags.

``glue.config.load()`` returns the `Config`; ``glue config`` shows it, and where
each value came from. See `glue.config.loading` for the layers and
`glue.config.settings` for what they hold.
"""

from __future__ import annotations

from .loading import CONFIG_FILE as CONFIG_FILE
from .loading import ENV_PREFIX as ENV_PREFIX
from .loading import PYPROJECT as PYPROJECT
from .loading import Resolved as Resolved
from .loading import Source as Source
from .loading import load as load
from .loading import resolve as resolve
from .settings import LEVELS as LEVELS
from .settings import Config as Config
from .settings import LoggingConfig as LoggingConfig
from .settings import ServeConfig as ServeConfig

__all__ = [
    "CONFIG_FILE",
    "Config",
    "ENV_PREFIX",
    "LEVELS",
    "LoggingConfig",
    "PYPROJECT",
    "Resolved",
    "ServeConfig",
    "Source",
    "load",
    "resolve",
]
