"""Each part of glue imports only the parts below it (DEVELOPERS.md, "Layout").

Imports under ``if TYPE_CHECKING:`` are annotations only and may name any layer.
"""

from __future__ import annotations

import ast
from pathlib import Path

import glue

# Top to bottom; parts on one line are siblings and may not import each other.
LAYERS = [
    ["cli"],
    ["http"],
    ["config"],
    ["domain"],
    ["services"],
    ["context", "ids"],
    ["work"],
    ["planning"],
    ["sql"],
    ["state", "query", "connections"],
    ["schema"],
    ["entities"],
    ["errors", "typing", "log"],
]
RANK = {part: rank for rank, parts in enumerate(LAYERS) for part in parts}
ROOT = Path(glue.__file__).parent


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
        return module.split(".")[1] if module.startswith("glue.") else None
    package = list(path.relative_to(ROOT).parts[:-1])
    base = package[: len(package) - (node.level - 1)]
    target = base + (node.module.split(".") if node.module else [])
    if target:
        return target[0].removesuffix(".py")
    return node.names[0].name


def test_parts_import_only_the_parts_below_them() -> None:
    upward = []
    for path in sorted(ROOT.rglob("*.py")):
        part = path.relative_to(ROOT).parts[0].removesuffix(".py")
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
