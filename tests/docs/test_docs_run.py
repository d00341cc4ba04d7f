"""The documentation runs: every ```python block of README.md and docs/*.md, and every
docstring example of the package, executed with the outputs they show compared.

docs/engine.md and the engine's docstrings are another part's (the engine's): their
examples run in test_engine_documentation_runs, apart."""

from __future__ import annotations

import json
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import activerules

ROOT = Path(__file__).resolve().parents[2]
RUNNER = Path(__file__).with_name("docrun.py")
ENGINE_DOCS = {"engine.md"}
MARKDOWN = sorted(p.relative_to(ROOT).as_posix() for p in [ROOT / "README.md", *ROOT.glob("docs/*.md")]
                  if p.name not in ENGINE_DOCS)
MODULES = ["activerules"] + sorted(m.name for m in pkgutil.walk_packages(activerules.__path__, "activerules."))
ENGINE_MODULES = [m for m in MODULES if m.startswith("activerules.engine")]


def _run(mode: str, *targets: str) -> list[str]:
    proc = subprocess.run([sys.executable, str(RUNNER), mode, *targets], cwd=ROOT, capture_output=True,
                          text=True, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_runner_finds_blocks_and_reports_a_wrong_output(tmp_path):
    sys.path.insert(0, str(RUNNER.parent))
    try:
        from docrun import markdown_blocks, run_markdown
    finally:
        sys.path.remove(str(RUNNER.parent))

    doc = tmp_path / "doc.md"
    doc.write_text("x\n\n```python\n>>> 1 + 1\n3\n```\n\n```python\nraise ValueError('boom')\n```\n")
    assert [line for line, _ in markdown_blocks(doc)] == [4, 9]
    failures = run_markdown(doc)
    assert len(failures) == 2 and "Expected:\n    3" in failures[0] and "boom" in failures[1]


@pytest.mark.parametrize("path", MARKDOWN)
def test_markdown_python_blocks_run(path):
    assert _run("markdown", path) == []


def test_docstring_examples_run():
    assert _run("doctest", *[m for m in MODULES if m not in ENGINE_MODULES]) == []


@pytest.mark.parametrize("target", ["docs/engine.md", *ENGINE_MODULES])
def test_engine_documentation_runs(target):
    mode = "markdown" if target.endswith(".md") else "doctest"
    assert _run(mode, target) == []


def _public(module):
    import inspect

    for name in module.__all__:
        obj = getattr(module, name)  # the adapters' names import their engine (the test extras)
        if inspect.isclass(obj) or inspect.isroutine(obj):
            yield f"{module.__name__}.{name}", obj


def test_every_public_name_has_an_example():
    import inspect

    import activerules.adapters
    import activerules.coverage
    import activerules.dispatch
    import activerules.dispatch.lanes
    import activerules.dispatch.lifting
    import activerules.engine
    import activerules.testing

    modules = (activerules, activerules.testing, activerules.coverage, activerules.dispatch,
               activerules.engine, activerules.adapters, activerules.dispatch.lifting, activerules.dispatch.lanes)
    missing = sorted({name for m in modules for name, obj in _public(m)
                      if ">>>" not in (inspect.getdoc(obj) or "")})
    assert missing == []
