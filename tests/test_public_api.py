"""The public surface: glue.__all__ is pinned, every module's __all__ is honest."""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
import types

import pytest

import glue

PUBLIC = [
    "Actor",
    "App",
    "Bus",
    "Command",
    "CommitError",
    "ConcurrencyConflict",
    "ConfigurationError",
    "ConnectionError",
    "Context",
    "ContextError",
    "DatabaseError",
    "Domain",
    "Entity",
    "Event",
    "FieldError",
    "Forbidden",
    "GlueError",
    "HandlerError",
    "IntegrityError",
    "Metadata",
    "NotFound",
    "Ok",
    "OperationalError",
    "Outcome",
    "PoolClosed",
    "PoolTimeout",
    "ProgrammingError",
    "QueryError",
    "QueryTimeout",
    "RegistrationError",
    "Repository",
    "Response",
    "RetryPolicy",
    "SchemaError",
    "Service",
    "SetupError",
    "StateManager",
    "UnitOfWork",
    "UnknownCommand",
    "UnknownService",
    "ValidationError",
    "current_context",
    "current_unit",
    "require_context",
]


# The packages whose modules this test holds to their __all__. Others join as their
# __all__ lists are made to match (sorted case-sensitively, every public name).
CHECKED = (
    "glue.cli",
    "glue.connections",
    "glue.context",
    "glue.domain",
    "glue.entities",
    "glue.errors",
    "glue.log",
    "glue.query",
    "glue.state",
    "glue.typing",
    "glue.work",
)


def modules() -> list[types.ModuleType]:
    names = [
        info.name
        for info in pkgutil.walk_packages(glue.__path__, "glue.")
        if info.name.startswith(CHECKED) and info.name != "glue.__main__"
    ]
    return [glue, *map(importlib.import_module, names)]


def test_glue_exports_exactly_the_public_names_sorted() -> None:
    assert glue.__all__ == PUBLIC
    assert sorted(glue.__all__) == glue.__all__


def test_exported_names_say_glue_in_tracebacks() -> None:
    for name in glue.__all__:
        assert getattr(glue, name).__module__ == "glue", name


def test_public_names_of_the_package_are_all_exported() -> None:
    defined = {
        name
        for name, value in vars(glue).items()
        if not name.startswith("_")
        and not isinstance(value, types.ModuleType)
        and name != "annotations"  # from __future__
    }
    assert defined == set(glue.__all__)


def top_level_names(module: types.ModuleType) -> set[str]:
    """Public names a module defines itself: classes, functions, constants."""
    tree = ast.parse(inspect.getsource(module))
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            value = node.value
            if (
                isinstance(value, ast.Call)
                and isinstance(value.func, ast.Name)
                and value.func.id == "TypeVar"
            ):
                continue
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names.update(t.id for t in targets if isinstance(t, ast.Name))
    return {n for n in names if not n.startswith("_")}


@pytest.mark.parametrize("module", modules(), ids=lambda m: m.__name__)
def test_each_modules_all_matches_what_it_defines(module: types.ModuleType) -> None:
    exported = getattr(module, "__all__", None)
    assert exported is not None, f"{module.__name__} has no __all__"
    assert sorted(exported) == list(exported), f"{module.__name__}.__all__ unsorted"
    for name in exported:
        assert hasattr(module, name), f"{module.__name__}.__all__ lists {name}"
    if not module.__name__.endswith("__init__") and not hasattr(module, "__path__"):
        assert set(exported) == top_level_names(module), module.__name__
