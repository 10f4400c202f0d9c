"""``--app MODULE:ATTR``: find the App the command line works on.

``ATTR`` names an :class:`glue.App` instance, or a callable that returns one (a
factory, as uvicorn's ``--factory`` takes), called with no arguments, or with
the configuration (:class:`glue.config.Config`) as ``config=`` when it has a
parameter of that name. ``ATTR`` may be a dotted path inside the module
(``domains.shop.app:make_app``, ``service:apps.main``). The current directory
comes first on ``sys.path``, so a project's own modules import as they would in
``python -c``.

Every mistake here (no colon, a module that does not import, a missing
attribute, a factory that fails or returns something else) is a
:class:`glue.ConfigurationError` naming the value, where it was given (``--app``,
``glue.toml: app``, ``GLUE_APP``), and what went wrong.
"""

from __future__ import annotations

import importlib
import inspect
import os
import sys
from typing import TYPE_CHECKING, Any

from ..domain.app import App
from ..errors import ConfigurationError

if TYPE_CHECKING:
    from collections.abc import Callable
    from types import ModuleType

    from ..config import Config

__all__ = ["import_from_cwd", "load", "load_app"]


def import_from_cwd(name: str) -> ModuleType:
    """Import module ``name`` with the current directory first on ``sys.path``,
    as ``python -m`` does."""
    cwd = os.getcwd()
    if cwd not in sys.path:
        sys.path.insert(0, cwd)
    return importlib.import_module(name)


def load_app(spec: str, *, origin: str = "--app", config: Config | None = None) -> App:
    """Import the App that ``spec`` (``MODULE:ATTR``) names, building it with
    the factory when ``ATTR`` names one.

    Args:
        spec: ``"package.module:attribute"``; the attribute may be dotted.
        origin: where ``spec`` was given, for messages.
        config: the configuration, for a factory with a ``config`` parameter.

    Returns:
        The App, not yet open.

    Raises:
        glue.ConfigurationError: the value is malformed, the module does not
            import, the attribute is missing, or it is neither an App nor a
            factory returning one.
    """
    app: App = load(spec, App, origin=origin, config=config)
    return app


def load(
    spec: str, *kinds: type, origin: str = "--app", config: Config | None = None
) -> Any:
    """Import what ``spec`` (``MODULE:ATTR``) names: an instance of one of
    ``kinds``, or a factory that returns one (given ``config`` when it has a
    ``config`` parameter).

    Raises:
        glue.ConfigurationError: as :func:`load_app` says.
    """
    module_name, colon, attribute = spec.partition(":")
    if not colon or not module_name or not attribute:
        raise ConfigurationError(
            f"{origin} {spec!r}: expected MODULE:ATTR, such as "
            "'domains.shop.app:make_app'"
        )
    try:
        module = import_from_cwd(module_name)
    except ImportError as exc:
        raise ConfigurationError(
            f"{origin} {spec!r}: cannot import module {module_name!r} ({exc}); "
            "run glue from the folder the module is found from"
        ) from exc
    except Exception as exc:
        raise ConfigurationError(
            f"{origin} {spec!r}: importing {module_name!r} raised "
            f"{type(exc).__name__}: {exc}"
        ) from exc
    target: object = module
    for part in attribute.split("."):
        try:
            target = getattr(target, part)
        except AttributeError:
            raise ConfigurationError(
                f"{origin} {spec!r}: module {module_name!r} has no attribute "
                f"{attribute!r}"
            ) from None
    wanted = " or ".join(f"an {kind.__name__}" for kind in kinds)
    if isinstance(target, kinds):
        return target
    if not callable(target):
        raise ConfigurationError(
            f"{origin} {spec!r}: {attribute!r} is a {type(target).__name__}, "
            f"neither {wanted} nor a factory returning one"
        )
    try:
        built = target(config=config) if _takes_config(target, config) else target()
    except Exception as exc:
        raise ConfigurationError(
            f"{origin} {spec!r}: calling {attribute}() raised "
            f"{type(exc).__name__}: {exc}"
        ) from exc
    if not isinstance(built, kinds):
        raise ConfigurationError(
            f"{origin} {spec!r}: {attribute}() returned a {type(built).__name__}, "
            f"not {wanted}"
        )
    return built


def _takes_config(factory: Callable[..., object], config: Config | None) -> bool:
    """Whether ``factory`` has a parameter ``config`` to pass it by name."""
    if config is None:
        return False
    try:
        parameters = inspect.signature(factory).parameters
    except (TypeError, ValueError):  # no signature to read: a builtin, say
        return False
    parameter = parameters.get("config")
    return parameter is not None and parameter.kind in (
        inspect.Parameter.POSITIONAL_OR_KEYWORD,
        inspect.Parameter.KEYWORD_ONLY,
    )
