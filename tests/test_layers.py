"""Each part of glue imports only the parts below it (DEVELOPERS.md, "Layout"),
and only the dialects and the connections tell databases apart.

Imports under ``if TYPE_CHECKING:`` are annotations only and may name any layer.
``glue/sql/dialects`` is a part of its own, below the connections that name
their dialect objects, though its folder sits in ``glue/sql``.
"""

from __future__ import annotations

import ast
from pathlib import Path

import glue

# Top to bottom; parts on one line are siblings and may not import each other.
LAYERS = [
    ["cli", "testing"],
    ["http"],
    ["config"],
    ["domain", "compat"],
    ["outbox"],
    ["services"],
    ["context", "ids"],
    ["work"],
    ["planning"],
    ["sql"],
    ["state", "query", "connections"],
    ["sql.dialects"],
    ["schema"],
    ["entities"],
    ["errors", "typing", "log"],
]
RANK = {part: rank for rank, parts in enumerate(LAYERS) for part in parts}
ROOT = Path(glue.__file__).parent
SUBPARTS = {("sql", "dialects")}


def _part(names: list[str]) -> str:
    """The part a module (its path inside glue, as names) belongs to."""
    if tuple(names[:2]) in SUBPARTS:
        return ".".join(names[:2])
    return names[0].removesuffix(".py")


def _runtime_imports(tree: ast.Module) -> list[ast.ImportFrom]:
    found: list[ast.ImportFrom] = []

    def visit(nodes: list[ast.stmt]) -> None:
        for node in nodes:
            if isinstance(node, ast.If) and ast.unparse(node.test).endswith(
                "TYPE_CHECKING"
            ):
                visit(node.orelse)
                continue
            if isinstance(node, ast.ImportFrom):
                found.append(node)
            for field in ("body", "orelse", "finalbody", "handlers"):
                children = getattr(node, field, None)
                if isinstance(children, list):
                    visit([c for c in children if isinstance(c, ast.stmt)])

    visit(tree.body)
    return found


def _imported_part(path: Path, node: ast.ImportFrom) -> str | None:
    if node.level == 0:
        module = node.module or ""
        return _part(module.split(".")[1:]) if module.startswith("glue.") else None
    package = list(path.relative_to(ROOT).parts[:-1])
    base = package[: len(package) - (node.level - 1)]
    target = base + (node.module.split(".") if node.module else [])
    if target == ["sql"]:
        target.append(node.names[0].name)  # from ..sql import dialects
    if target:
        return _part(target)
    return node.names[0].name


def test_parts_import_only_the_parts_below_them() -> None:
    upward = []
    for path in sorted(ROOT.rglob("*.py")):
        part = _part(list(path.relative_to(ROOT).parts))
        if part not in RANK:
            continue  # __init__, __main__ and testing sit above every part
        for node in _runtime_imports(ast.parse(path.read_text())):
            target = _imported_part(path, node)
            if target in RANK and target != part and RANK[target] <= RANK[part]:
                upward.append(f"{path.relative_to(ROOT)} imports glue.{target}")
    assert upward == []


def test_every_part_has_a_layer() -> None:
    parts = {
        p.name.removesuffix(".py")
        for p in ROOT.iterdir()
        if (p.is_dir() and (p / "__init__.py").exists()) or p.suffix == ".py"
    }
    assert parts - {"__init__", "__main__", "testing"} <= set(RANK)


# Where databases may be told apart: each dialect knows its own, each connection
# module its driver.
TELLERS = ("sql/dialects/", "connections/")
NAMES = frozenset({"sqlite", "postgres", "postgresql"})
DIALECT_OBJECTS = frozenset({"SQLITE", "POSTGRES", "SqliteDialect", "PostgresDialect"})


def _says_which_database(node: ast.expr) -> bool:
    """A database's name, a dialect object, or an expression naming a dialect
    (``dialect``, ``conn.dialect``, ``pool.dialect.name``)."""
    if isinstance(node, ast.Constant):
        return isinstance(node.value, str) and node.value.lower() in NAMES
    if isinstance(node, ast.Attribute) and node.attr == "name":
        node = node.value
    if isinstance(node, ast.Name):
        return node.id == "dialect" or node.id in DIALECT_OBJECTS
    return isinstance(node, ast.Attribute) and node.attr in {"dialect", "dialect_name"}


def _comparisons(tree: ast.Module) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(tree):
        suspects: list[ast.expr] = []
        if isinstance(node, ast.Compare):
            suspects = [node.left, *node.comparators]
        elif isinstance(node, ast.Dict):
            suspects = [key for key in node.keys if key is not None]
        elif isinstance(node, ast.Subscript):
            suspects = [node.slice]
        elif isinstance(node, ast.Match):
            suspects = [node.subject]
        elif isinstance(node, ast.MatchValue):
            suspects = [node.value]
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in {"isinstance", "issubclass"}
        ):
            suspects = node.args[1:]
        if any(_says_which_database(s) for s in suspects):
            found.append((suspects[0].lineno, ast.unparse(node).splitlines()[0]))
    return found


def test_only_dialects_and_connections_tell_databases_apart() -> None:
    """No ``dialect == "sqlite"``, ``conn.dialect.name != "postgres"``,
    ``pool.dialect is SQLITE``, ``{"sqlite": ...}[conn.dialect]`` or
    ``isinstance(d, SqliteDialect)`` outside them: ask the dialect object."""
    found = []
    for path in sorted(ROOT.rglob("*.py")):
        where = path.relative_to(ROOT).as_posix()
        if where.startswith(TELLERS):
            continue
        for line, code in _comparisons(ast.parse(path.read_text())):
            found.append(f"{where}:{line}: {code}")
    assert found == []


def test_the_name_check_finds_what_it_forbids() -> None:
    forbidden = [
        'conn.dialect == "sqlite"',
        'dialect != "postgres"',
        'pool.dialect.name in ("sqlite", "postgres")',
        "conn.dialect is SQLITE",
        "_SQL[conn.dialect]",
        '{"sqlite": "?", "postgres": "$1"}',
        "isinstance(dialect, SqliteDialect)",
        'match dialect.name:\n    case "postgres":\n        pass',
    ]
    for code in forbidden:
        assert _comparisons(ast.parse(code)), code
    allowed = [
        "conn.dialect.batched_writes",
        'kind == "check"',
        "dialect.quote(name)",
        'url.startswith("sqlite:")',
    ]
    for code in allowed:
        assert not _comparisons(ast.parse(code)), code


def _private_imports_across_packages(path: Path, tree: ast.Module) -> list[str]:
    """``from <another package> import _name``, as ``file: module._name``."""
    package = list(path.relative_to(ROOT).parts[:-1])
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.ImportFrom):
            continue
        if node.level == 0:
            module = (node.module or "").split(".")
            if module[0] != "glue":
                continue
            target = module[1:]
        else:
            base = package[: len(package) - (node.level - 1)]
            target = base + (node.module.split(".") if node.module else [])
        home = target if (ROOT.joinpath(*target)).is_dir() else target[:-1]
        for alias in node.names:
            private = alias.name.startswith("_") and not alias.name.startswith("__")
            if private and home != package:
                where = path.relative_to(ROOT).as_posix()
                found.append(f"{where}: {'.'.join(['glue', *target])}.{alias.name}")
    return found


def test_no_private_name_is_imported_across_packages() -> None:
    """A leading underscore means "this package's own": another package asks
    for what it needs by a public name."""
    found = []
    for path in sorted(ROOT.rglob("*.py")):
        found += _private_imports_across_packages(path, ast.parse(path.read_text()))
    assert found == []


def test_the_private_import_check_finds_what_it_forbids() -> None:
    bus = ROOT / "domain" / "bus.py"
    forbidden = [
        "from ..context.context import _current",
        "from glue.context.context import _OPEN",
        "from ..context import _x",
    ]
    for code in forbidden:
        assert _private_imports_across_packages(bus, ast.parse(code)), code
    allowed = [
        "from .context import _not_an_event",
        "from . import _x",
        "from ..context.context import Context",
        "from glue.domain.context import _not_an_event",
        "from __future__ import annotations",
    ]
    for code in allowed:
        assert not _private_imports_across_packages(bus, ast.parse(code)), code
