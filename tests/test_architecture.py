"""The layering of DESIGN.md holds: imports flow one way, bottom to top, and the
package stays ruff- and mypy-clean."""

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


def test_no_bytecode_inspection() -> None:
    """Rules declare what the engine needs (``keeps=``, ``atomic=``): nothing reads their bytecode."""
    banned = ("co_names", "co_consts", "co_code", "import dis", "from dis ")
    found = [f"{p.relative_to(ROOT)}: {b}" for p in sorted(PACKAGE.rglob("*.py"))
             for b in banned if b in p.read_text()]
    assert not found, found
