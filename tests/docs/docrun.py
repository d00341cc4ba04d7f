"""Run the documentation: the ```python blocks of a Markdown file, and the docstring
examples of modules. Run as a script (a fresh process, so nothing the examples
register leaks into the test session); prints one JSON list of failures.

    python tests/docs/docrun.py markdown README.md
    python tests/docs/docrun.py doctest activerules.dispatch activerules.testing
"""

from __future__ import annotations

import contextlib
import doctest
import importlib
import io
import json
import re
import sys
import traceback
from pathlib import Path

FENCE = re.compile(r"^```python\n(.*?)^```", re.S | re.M)
FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


def markdown_blocks(path: Path) -> list[tuple[int, str]]:
    """Every ```python block of the file, with its first line number."""
    text = path.read_text(encoding="utf-8")
    return [(text.count("\n", 0, m.start()) + 2, m.group(1)) for m in FENCE.finditer(text)]


def run_markdown(path: Path) -> list[str]:
    """Run the blocks in order in one namespace; a block written as a doctest
    (``>>>`` lines) has its shown outputs compared."""
    namespace: dict[str, object] = {"__name__": f"doc_{path.stem.replace('-', '_')}"}
    failures = []
    for line, code in markdown_blocks(path):
        where = f"{path.name}:{line}"
        if ">>> " in code:
            test = doctest.DocTestParser().get_doctest(code, namespace, where, str(path), line - 1)
            out = io.StringIO()
            result = doctest.DocTestRunner(optionflags=FLAGS).run(test, out=out.write, clear_globs=False)
            if result.failed:
                failures.append(f"{where}: {out.getvalue()}")
            continue
        try:
            with contextlib.redirect_stdout(io.StringIO()):
                exec(compile(code, where, "exec"), namespace)
        except Exception:
            failures.append(f"{where}: {traceback.format_exc(limit=-3)}")
    return failures


def run_doctests(modules: list[str]) -> list[str]:
    """The docstring examples of each module (its own globals, as doctest.testmod)."""
    failures = []
    for name in modules:
        module = importlib.import_module(name)
        for test in doctest.DocTestFinder().find(module, name):
            if not test.examples:
                continue
            out = io.StringIO()
            if doctest.DocTestRunner(optionflags=FLAGS).run(test, out=out.write).failed:
                failures.append(f"{test.name}: {out.getvalue()}")
    return failures


if __name__ == "__main__":
    mode, *targets = sys.argv[1:]
    if mode == "markdown":
        found = [f for t in targets for f in run_markdown(Path(t))]
    else:
        found = run_doctests(targets)
    print(json.dumps(found))
