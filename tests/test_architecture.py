"""The architecture holds: imports flow one way, bottom to top (DESIGN.md); no module over
about 500 lines and no function over about 60; no bytecode inspection; ruff- and mypy-clean."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "activerules"

# module (or package prefix) -> the layers of ours it may import
LAYERS = [
    ("activerules.activity", set()),
    ("activerules.dispatch", {"activerules.activity", "activerules.dispatch"}),
    # rules import one engine module: the donation protocol between the sweep and them
    ("activerules.rules", {"activerules.activity", "activerules.dispatch", "activerules.rules",
                           "activerules.engine.donation"}),
    ("activerules.engine", {"activerules.activity", "activerules.dispatch", "activerules.engine"}),
]


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """Every activerules module imported by ``path`` (resolving relative imports)."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target == "activerules":  # ``from .. import activity``: the names are modules
                found.update(f"activerules.{a.name}" for a in node.names)
            elif target.startswith("activerules."):
                found.add(target)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("activerules"))
    return found


def _allowed(importer: str, imported: str) -> bool:
    for prefix, allowed in LAYERS:
        if importer == prefix or importer.startswith(prefix + "."):
            return any(imported == a or imported.startswith(a + ".") for a in allowed)
    return True  # testing, coverage, cli, engine adapters: on top of everything


@pytest.mark.parametrize("path", sorted(PACKAGE.rglob("*.py")), ids=lambda p: str(p.relative_to(ROOT)))
def test_imports_flow_one_way(path: Path) -> None:
    importer = _module_name(path)
    bad = sorted(i for i in _imports(path) if not _allowed(importer, i))
    assert not bad, f"{importer} imports {bad}, against the layering of DESIGN.md"


def test_import_activerules_imports_no_engine_adapter() -> None:
    code = "import sys, activerules; print(sorted(m for m in ('jax', 'torch', 'autograd') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_ruff_clean() -> None:
    proc = subprocess.run([sys.executable, "-m", "ruff", "check", "activerules", "tests", "examples",
                           "benchmarks", "scripts"], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_mypy_clean() -> None:
    proc = subprocess.run([sys.executable, "-m", "mypy", "activerules"], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


# -- size and plainness -------------------------------------------------------------------------

MODULE_LINES = 500     # "no module over about 500 lines"
FUNCTION_LINES = 60    # "no function over about 60 lines"
# Attributes of code objects that reveal what a function does (names it reads, constants,
# bytecode): reading them to guess a rule's intent is what declarations replace. Source
# *locations* (co_firstlineno, co_positions) stay allowed: they point a reader at the code.
BYTECODE_ATTRIBUTES = {"co_code", "co_names", "co_consts", "co_varnames", "co_freevars", "co_cellvars",
                       "co_lines", "co_exceptiontable", "co_lnotab"}
BYTECODE_MODULES = {"dis", "opcode", "bytecode"}
SOURCES = sorted(PACKAGE.rglob("*.py"))


def _ids(p: Path) -> str:
    return str(p.relative_to(ROOT))


@pytest.mark.parametrize("path", SOURCES, ids=_ids)
def test_module_size(path: Path) -> None:
    lines = len(path.read_text().splitlines())
    assert lines <= MODULE_LINES, f"{_ids(path)} has {lines} lines (limit {MODULE_LINES}): split it by responsibility"


@pytest.mark.parametrize("path", SOURCES, ids=_ids)
def test_function_size(path: Path) -> None:
    long = [f"{node.name} ({node.end_lineno - node.lineno + 1} lines, line {node.lineno})"
            for node in ast.walk(ast.parse(path.read_text()))
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
            and (node.end_lineno or node.lineno) - node.lineno + 1 > FUNCTION_LINES]
    assert not long, f"{_ids(path)}: functions over {FUNCTION_LINES} lines: {long}"


def _bytecode_reads(tree: ast.AST) -> list[str]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr in BYTECODE_ATTRIBUTES:
            found.append(f".{node.attr} (line {node.lineno})")
        elif isinstance(node, ast.Constant) and node.value in BYTECODE_ATTRIBUTES:
            found.append(f"{node.value!r} (line {node.lineno})")  # getattr(code, "co_names")
        elif isinstance(node, ast.Import):
            found += [f"import {a.name} (line {node.lineno})" for a in node.names
                      if a.name.split(".")[0] in BYTECODE_MODULES]
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in BYTECODE_MODULES:
            found.append(f"from {node.module} import (line {node.lineno})")
    return found


@pytest.mark.parametrize("path", SOURCES, ids=_ids)
def test_no_bytecode_inspection(path: Path) -> None:
    found = _bytecode_reads(ast.parse(path.read_text()))
    assert not found, f"{_ids(path)} inspects bytecode: {found}; declare the intent instead (e.g. a rule's keeps=)"


@pytest.mark.parametrize("snippet", ["f.__code__.co_names", "getattr(code, 'co_consts')", "import dis",
                                     "from dis import get_instructions"])
def test_bytecode_check_catches(snippet: str) -> None:
    assert _bytecode_reads(ast.parse(snippet))
