"""``--app MODULE:ATTR``: find the App the command line works on.

``ATTR`` names an :class:`glue.App` instance, or a callable taking no arguments
that returns one (a factory, as uvicorn's ``--factory`` takes). ``ATTR`` may be a
dotted path inside the module (``domains.shop.app:make_app``,
``service:apps.main``). The current directory comes first on ``sys.path``, so a
project's own modules import as they would in ``python -c``.

Every mistake here (no colon, a module that does not import, a missing
attribute, a factory that fails or returns something else) is a
:class:`glue.ConfigurationError` naming the ``--app`` value and what went wrong.
"""

from __future__ import annotations

import importlib
import os
import sys
from typing import TYPE_CHECKING, Any

from ..domain.app import App
from ..errors import ConfigurationError

if TYPE_CHECKING:
    from types import ModuleType

__all__ = ["import_from_cwd", "load", "load_app"]


def import_from_cwd(name: str) -> ModuleType:
    """Import module ``name`` with the current directory first on ``sys.path``,
    as ``python -m`` does."""
    cwd = os.getcwd()
    if cwd not in sys.path:
        sys.path.insert(0, cwd)
    return importlib.import_module(name)


def load_app(spec: str) -> App:
    """Import the App that ``spec`` (``MODULE:ATTR``) names, building it with
    the factory when ``ATTR`` names one.

    Args:
        spec: ``"package.module:attribute"``; the attribute may be dotted.

    Returns:
        The App, not yet open.

    Raises:
        glue.ConfigurationError: the value is malformed, the module does not
            import, the attribute is missing, or it is neither an App nor a
            factory returning one.
    """
    app: App = load(spec, App)
    return app


def load(spec: str, *kinds: type) -> Any:
    """Import what ``spec`` (``MODULE:ATTR``) names: an instance of one of
    ``kinds``, or a factory taking no arguments that returns one.

    Raises:
        glue.ConfigurationError: as :func:`load_app` says.
    """
    module_name, colon, attribute = spec.partition(":")
    if not colon or not module_name or not attribute:
        raise ConfigurationError(
            f"--app {spec!r}: expected MODULE:ATTR, such as 'domains.shop.app:make_app'"
        )
    try:
        module = import_from_cwd(module_name)
    except ImportError as exc:
        raise ConfigurationError(
            f"--app {spec!r}: cannot import module {module_name!r} ({exc}); "
            "run glue from the folder the module is found from"
        ) from exc
    except Exception as exc:
        raise ConfigurationError(
            f"--app {spec!r}: importing {module_name!r} raised "
            f"{type(exc).__name__}: {exc}"
        ) from exc
    target: object = module
    for part in attribute.split("."):
        try:
            target = getattr(target, part)
        except AttributeError:
            raise ConfigurationError(
                f"--app {spec!r}: module {module_name!r} has no attribute {attribute!r}"
            ) from None
    wanted = " or ".join(f"an {kind.__name__}" for kind in kinds)
    if isinstance(target, kinds):
        return target
    if not callable(target):
        raise ConfigurationError(
            f"--app {spec!r}: {attribute!r} is a {type(target).__name__}, "
            f"neither {wanted} nor a factory returning one"
        )
    try:
        built = target()
    except Exception as exc:
        raise ConfigurationError(
            f"--app {spec!r}: calling {attribute}() raised {type(exc).__name__}: {exc}"
        ) from exc
    if not isinstance(built, kinds):
        raise ConfigurationError(
            f"--app {spec!r}: {attribute}() returned a {type(built).__name__}, "
            f"not {wanted}"
        )
    return built
