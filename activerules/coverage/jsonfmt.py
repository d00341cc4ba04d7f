"""The JSON rendering: a stable, versioned schema for other tools.

The schema is documented field by field in ``docs/coverage.md`` (a test keeps
the two in step). In short: ``{"schema": "activerules.coverage", "version": 1,
..., "summary": {...}, "functions": [{"name", "rules", "signatures": [{"kinds",
"combinations": [{"activities", "returns", "status", "cost", "steps", ...}]}]}]}``.

``returns`` is the activity of the function's return when its output is
differentiated: ``"Active"`` for a scalar output, ``"Duplicated"`` for an array
output (``"BatchDuplicated"`` in a batch request), ``"Const"`` for a
non-differentiable output, ``null`` when no sample output tells. Rules are not
keyed on the return activity, so a ``Const`` return is served by the same
resolution. Fields are only ever added within a version; a removal or change of
meaning bumps ``version``.
"""

from __future__ import annotations

import json
from typing import Any

from .model import DEFAULT_FAIL_ON, Combination, CoverageReport, FunctionReport, Signature

__all__ = ["SCHEMA", "JSON_SCHEMA_VERSION", "to_dict", "render_json"]

SCHEMA = "activerules.coverage"
JSON_SCHEMA_VERSION = 2  # 2: status "rrule", verified "unverified", "unknown"


def _combination(c: Combination) -> dict[str, Any]:
    return {"activities": list(c.names), "returns": c.returns, "status": c.status,
            "wasteful": c.wasteful, "cost": c.cost, "form": c.form, "rule": c.rule,
            "source": c.source, "steps": list(c.steps), "message": c.message,
            "candidates": list(c.candidates), "verified": c.verified,
            "verify_message": c.verify_message}


def _signature(s: Signature) -> dict[str, Any]:
    return {"kinds": list(s.kinds), "kinds_from": s.kinds_from, "output": s.output,
            "samples": len(s.samples), "counts": s.counts(),
            "combinations": [_combination(c) for c in s.combinations]}


def _function(f: FunctionReport) -> dict[str, Any]:
    return {"name": f.name, "inactive": f.inactive, "unknown": f.unknown, "rules": f.entries, "note": f.note,
            "signatures": [_signature(s) for s in f.signatures]}


def to_dict(report: CoverageReport, fail_on: tuple[str, ...] = DEFAULT_FAIL_ON) -> dict[str, Any]:
    """The report as plain data following the schema above.

    >>> from activerules.coverage import build_report
    >>> data = to_dict(build_report(names=["numpy.linalg.solve"], plugins=False))
    >>> data["schema"], data["version"], data["ok"]
    ('activerules.coverage', 2, True)
    """
    from .. import __version__

    problems = report.problems(fail_on)
    return {
        "schema": SCHEMA, "version": JSON_SCHEMA_VERSION, "activerules_version": __version__,
        "modules": report.modules,
        "plugins": {"loaded": report.plugins.loaded,
                    "failed": [{"name": p.name, "value": p.value, "error": p.error}
                               for p in report.plugins.failed]},
        "verified": report.verified, "fail_on": list(fail_on), "problems": problems,
        "ok": not problems, "summary": report.counts(),
        "functions": [_function(f) for f in report.functions],
    }


def render_json(report: CoverageReport, fail_on: tuple[str, ...] = DEFAULT_FAIL_ON) -> str:
    """The report as indented JSON text."""
    return json.dumps(to_dict(report, fail_on), indent=1, ensure_ascii=False) + "\n"
