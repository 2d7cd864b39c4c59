"""The layer contract: imports go one way down, with the documented accessors as the only
upward edges, and no import cycle — a function-level import that dodges one counts.

Layers, bottom up: leaves (no levier import) → ``model`` → ``engine`` → ``analysis`` →
``present`` → the command line and the package's front door.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "levier"
LEAVES = {"levier._version", "levier.elementwise", "levier.errors", "levier.names", "levier.progress", "levier.stats", "levier.streams"}
LAYERS = {"model": 1, "engine": 2, "analysis": 3, "present": 4}
TOP = 5
#: The sanctioned upward references: a data object's accessor that imports the drawing or
#: display layer lazily (the pattern of pandas' ``DataFrame.plot``).
ACCESSORS = {
    ("levier.engine.result", "levier.present.plots"),
    ("levier.engine.result", "levier.present.display"),
    ("levier.model.scenario", "levier.present.display"),
    ("levier.analysis.lab", "levier.present.plots"),
    ("levier.analysis.lab", "levier.present.display"),
    ("levier.analysis.tail", "levier.present.plots"),
    ("levier.analysis.tail", "levier.present.display"),
    ("levier.analysis.breakeven", "levier.present.display"),
    ("levier.analysis.breakeven", "levier.present.i18n"),  # its repr writes rates as the command line does
    ("levier.analysis.calibrate", "levier.present.display"),
}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer(module: str) -> int:
    if module in LEAVES:
        return 0
    parts = module.split(".")
    if len(parts) > 1 and parts[1] in LAYERS:
        return LAYERS[parts[1]]
    return TOP


def _type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def imports(path: Path) -> list[tuple[str, bool, int]]:
    """``(imported levier module, at module level, line)`` for every runtime import."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    me = module_name(path)
    found: list[tuple[str, bool, int]] = []

    def visit(node: ast.AST, top: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _type_checking(child):
                continue  # not a runtime import
            if isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    package = me.split(".") if path.name == "__init__.py" else me.split(".")[:-1]
                    package = package[: len(package) - child.level + 1]
                    base = ".".join(package + ([base] if base else []))
                if base == "levier" or base.startswith("levier."):
                    for alias in child.names:
                        candidate = f"{base}.{alias.name}"
                        target = candidate if _is_module(candidate) else base
                        found.append((target, top, child.lineno))
            elif isinstance(child, ast.Import):
                for alias in child.names:
                    if alias.name == "levier" or alias.name.startswith("levier."):
                        found.append((alias.name, top, child.lineno))
            elif isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                visit(child, False)
            else:
                visit(child, top)

    visit(tree, True)
    return found


def _is_module(name: str) -> bool:
    path = PACKAGE.parent.joinpath(*name.split("."))
    return path.with_suffix(".py").exists() or (path / "__init__.py").exists()


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def test_every_module_has_a_layer_and_imports_go_down():
    wrong = []
    for name, path in MODULES.items():
        for target, _, line in imports(path):
            if target == "levier" and name != "levier":
                wrong.append(f"{name}:{line} imports the package's front door (a cycle)")
            elif layer(target) > layer(name) and (name, target) not in ACCESSORS:
                wrong.append(f"{name}:{line} imports {target}, a higher layer")
            elif layer(name) == 0 and target not in ("levier._version",):
                wrong.append(f"{name}:{line} is a leaf but imports {target}")
    assert not wrong, "\n".join(wrong)


def test_no_import_cycle_even_through_function_level_imports():
    graph = {name: {t for t, _, _ in imports(path) if (name, t) not in ACCESSORS and t in MODULES and t != name}
             for name, path in MODULES.items()}
    state: dict[str, int] = {}
    cycles: list[list[str]] = []

    def walk(node: str, stack: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycles.append(stack[stack.index(nxt):] + [nxt])
            elif nxt not in state:
                walk(nxt, stack + [nxt])
        state[node] = 2

    for name in sorted(graph):
        if name not in state:
            walk(name, [name])
    assert not cycles, "import cycles: " + "; ".join(" -> ".join(c) for c in cycles)


def test_no_private_name_is_imported_from_another_module():
    wrong = []
    for name, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("levier"):
                wrong += [f"{name}:{node.lineno} imports {node.module}.{a.name}" for a in node.names
                          if a.name.startswith("_") and a.name != "__version__"]
    assert not wrong, "\n".join(wrong)


def test_the_contract_can_fail():
    # A module of the engine importing the report would be caught: the rule is not vacuous.
    assert layer("levier.engine.paths") < layer("levier.present.report")
    assert ("levier.engine.paths", "levier.present.report") not in ACCESSORS
