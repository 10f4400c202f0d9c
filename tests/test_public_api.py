"""The public surface: glue.__all__ is pinned, every module's __all__ is honest."""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
import types

import msgspec
import pytest

import glue

PUBLIC = [
    "Actor",
    "App",
    "Bus",
    "Check",
    "Column",
    "ColumnType",
    "Command",
    "CommitError",
    "CommitInDoubt",
    "ConcurrencyConflict",
    "Condition",
    "Conditions",
    "ConfigurationError",
    "ConnectionError",
    "Context",
    "ContextError",
    "Dal",
    "DatabaseError",
    "Delete",
    "Domain",
    "Entity",
    "Event",
    "FieldError",
    "FieldLookup",
    "FieldReference",
    "Forbidden",
    "ForeignKey",
    "GlueError",
    "HandlerError",
    "IdAllocator",
    "Ids",
    "Index",
    "Insert",
    "IntegrityError",
    "LockConflict",
    "Metadata",
    "Mutation",
    "NotFound",
    "Ok",
    "OperationalError",
    "Outcome",
    "PoolClosed",
    "PoolTimeout",
    "PreconditionRequired",
    "ProgrammingError",
    "QueryError",
    "QueryStatement",
    "QueryTimeout",
    "RegistrationError",
    "RenderError",
    "Repository",
    "Response",
    "RetryPolicy",
    "Schema",
    "SchemaError",
    "SchemaReference",
    "Service",
    "Services",
    "SetupError",
    "StaleEtag",
    "StateManager",
    "Transaction",
    "Unauthenticated",
    "Unique",
    "UnitOfWork",
    "UnknownCommand",
    "UnknownService",
    "UnsupportedMediaType",
    "Update",
    "Upsert",
    "ValidationError",
    "current_context",
    "current_unit",
    "new_id",
    "require_context",
    "run_with_retry",
]


# The packages whose modules this test holds to their __all__. Others join as their
# __all__ lists are made to match (sorted case-sensitively, every public name).
CHECKED = (
    "glue.cli",
    "glue.config",
    "glue.connections",
    "glue.context",
    "glue.domain",
    "glue.entities",
    "glue.errors",
    "glue.ids",
    "glue.log",
    "glue.planning",
    "glue.query",
    "glue.schema",
    "glue.services",
    "glue.sql",
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


def test_glue_exports_the_core_only() -> None:
    assert 60 <= len(glue.__all__) <= 80


def test_exported_names_say_glue_in_tracebacks() -> None:
    for name in glue.__all__:
        value = getattr(glue, name)
        if isinstance(value, type) and issubclass(value, msgspec.Struct):
            if value.__struct_fields__:
                # msgspec resolves field annotations in the Struct's own module.
                continue
        if isinstance(value, types.BuiltinMethodType):
            continue  # current_context: the ContextVar's own getter
        assert value.__module__ == "glue", name


@pytest.mark.parametrize("name", sorted(glue._MOVED))
def test_a_moved_name_still_imports_from_glue_with_a_warning(name: str) -> None:
    home = importlib.import_module(glue._MOVED[name])
    with pytest.warns(DeprecationWarning, match=f"import it from {home.__name__}"):
        value = getattr(glue, name)
    assert value is getattr(home, name)
    assert name not in glue.__all__


def test_an_unknown_name_is_no_attribute_of_glue() -> None:
    with pytest.raises(AttributeError, match="no attribute 'Nothing'"):
        glue.Nothing  # noqa: B018


def test_amsdal_glue_names_are_in_glue_compat() -> None:
    import glue.compat
    import glue.connections
    import glue.services

    for name in glue.compat.__all__:
        home = glue.services if hasattr(glue.services, name) else glue.connections
        assert getattr(glue.compat, name) is getattr(home, name), name
    moved = {n for n, home in glue._MOVED.items() if home == "glue.compat"}
    assert moved <= set(glue.compat.__all__)


def test_exported_structs_still_decode() -> None:
    schema = glue.Schema(
        name="orders",
        columns=(glue.Column(name="id", type=glue.ColumnType.INTEGER),),
        primary_key=("id",),
        indexes=(glue.Index(name="by_id", columns=("id",)),),
    )
    assert msgspec.json.decode(msgspec.json.encode(schema), type=glue.Schema) == schema
    statement = glue.QueryStatement(table=glue.SchemaReference(name="orders"))
    encoded = msgspec.json.encode(statement)
    assert msgspec.json.decode(encoded, type=glue.QueryStatement) == statement


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
