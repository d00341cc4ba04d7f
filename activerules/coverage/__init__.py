"""The rule coverage inspector.

For every registered function (or those of the named modules), enumerate the
admissible activity combinations of its arguments and classify how the
registry serves each one: **exact** (a rule written for it), **fallback**
(resolved through the lattice, with the steps and their cost; **wasteful** when
a step computes a cotangent that is discarded), **ambiguous** (the tied rules
are listed) or **unresolved**. :func:`verify` checks the combinations that have
sample inputs against finite differences. :func:`render` writes the report as
text, Markdown, JSON (schema in :mod:`activerules.coverage.jsonfmt`) or one
self-contained HTML page.

>>> from activerules.coverage import build_report, render
>>> report = build_report(["numpy"])
>>> print(render(report, "text").splitlines()[-1])       # doctest: +ELLIPSIS
summary: ... functions ...
"""

from __future__ import annotations

from ..plugins import load_plugins
from .explain import explain, explain_data, parse_activity
from .htmlpage import render_html
from .jsonfmt import JSON_SCHEMA_VERSION, render_json, to_dict
from .model import DEFAULT_FAIL_ON, FAIL_CONDITIONS, Combination, CoverageReport, FunctionReport, Signature
from .survey import UsageError, build_report, classify, find_function, inspect_function, select_functions
from .text import MAX_ROWS, render_markdown, render_text
from .verify import verify

__all__ = ["build_report", "render", "verify", "explain", "load_plugins", "UsageError",
           "CoverageReport", "FunctionReport", "Signature", "Combination", "FORMATS",
           "FAIL_CONDITIONS", "DEFAULT_FAIL_ON", "JSON_SCHEMA_VERSION", "MAX_ROWS",
           "select_functions", "find_function", "inspect_function", "classify", "to_dict", "explain_data",
           "parse_activity"]

#: the output formats of :func:`render`
FORMATS = ("text", "markdown", "json", "html")


def render(report: CoverageReport, fmt: str = "text", fail_on: tuple[str, ...] = DEFAULT_FAIL_ON,
           max_rows: int = MAX_ROWS) -> str:
    """The report in one of :data:`FORMATS`; ``fail_on`` decides the verdict shown,
    ``max_rows`` how large a signature may be before only its worst cases are listed.

    >>> report = build_report(names=["numpy.linalg.solve"], plugins=False)
    >>> print(render(report, "text").splitlines()[-1])  # doctest: +ELLIPSIS
    summary: 1 functions (0 inactive), 16 combinations: ... — OK
    """
    if fmt == "json":
        return render_json(report, fail_on)
    renderers = {"text": render_text, "markdown": render_markdown, "html": render_html}
    if fmt not in renderers:
        raise ValueError(f"unknown format {fmt!r}: use one of {', '.join(FORMATS)}")
    return renderers[fmt](report, fail_on, max_rows)
