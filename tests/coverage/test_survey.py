"""The inspector's enumeration and classification, on a private registry."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from coverage_demo import M, annotated, make_registry, mystery, parametrised, tied

from activerules.coverage import UsageError, build_report, render, to_dict, verify
from activerules.coverage.survey import argument_signatures, find_function, select_functions


@pytest.fixture
def reg():
    return make_registry()


def _function(report, name):
    return next(f for f in report.functions if f.name.endswith("." + name))


def _combo(fr, *names):
    return next(c for c in fr.combinations if c.names == names)


def test_exact_and_fallback_with_steps_and_cost(reg):
    fr = _function(build_report(names=[M + ".scale"], plugins=False, reg=reg), "scale")
    (sig,) = fr.signatures
    assert sig.kinds == ("array", "scalar") and sig.kinds_from == "samples" and sig.output == "array"
    assert len(fr.combinations) == 9  # 5 array states x 2 scalar states, minus all-Const
    exact = _combo(fr, "Duplicated", "Const")
    assert (exact.status, exact.cost, exact.form) == ("exact", 0, "rule")
    assert exact.rule.endswith("_scale_dx") and exact.returns == "Duplicated"
    assert "coverage_demo.py:" in exact.source
    noneed = _combo(fr, "DuplicatedNoNeed", "Const")
    assert noneed.status == "fallback" and noneed.cost == 1 and not noneed.wasteful
    assert "DuplicatedNoNeed → Duplicated" in noneed.steps[0]
    lifted = _combo(fr, "Const", "Active")  # the rrule forms x's cotangent a * g (no thunk): wasteful
    assert lifted.status == "rrule" and lifted.wasteful and lifted.form == "rrule" and lifted.cost == 10
    assert "cotangent of arg 0 is computed and dropped" in lifted.steps[0]
    batch = _combo(fr, "BatchDuplicated", "Const")
    assert batch.returns == "BatchDuplicated" and "once per lane" in batch.steps[0]


def test_ambiguous_lists_candidates_and_unresolved_has_message(reg):
    report = build_report(names=[M + ".tied", M + ".only_dup"], plugins=False, reg=reg)
    amb = _combo(_function(report, "tied"), "Duplicated", "Duplicated")
    assert amb.status == "ambiguous" and len(amb.candidates) == 2
    assert all("_tied_rule" in c for c in amb.candidates)
    assert _combo(_function(report, "tied"), "Const", "Duplicated").status == "exact"
    miss = _combo(_function(report, "only_dup"), "Const", "Duplicated")
    assert miss.status == "unresolved" and "no rule for" in miss.message
    assert report.problems() == {"unresolved": report.counts()["unresolved"],
                                 "ambiguous": report.counts()["ambiguous"]}
    assert report.problems(("wasteful",)) == {}


def test_argument_kinds_from_patterns_annotations_or_unknown(reg):
    (sig,) = argument_signatures(parametrised, reg)
    assert (sig.kinds, sig.kinds_from) == (("array", "scalar"), "patterns")
    (sig,) = argument_signatures(annotated, reg)
    assert (sig.kinds, sig.kinds_from, sig.output) == (("array", "static"), "annotations", "scalar")
    assert argument_signatures(mystery, reg) == []
    report = build_report(names=[M + ".mystery", M + ".annotated",
                                 M + ".shape_of"], plugins=False, reg=reg)
    assert "argument kinds unknown" in _function(report, "mystery").note
    assert _combo(_function(report, "annotated"), "Duplicated", "Const").returns == "Active"
    inactive = _function(report, "shape_of")
    assert inactive.inactive and inactive.combinations == []
    assert report.counts()["unknown"] == 1 and report.counts()["inactive"] == 1


def test_selection_by_module_and_unknown_names(reg):
    assert len(select_functions([M], reg=reg)) == len(reg.functions())
    assert select_functions(["numpy"], reg=reg) == []
    assert find_function(M + ".tied", reg) is tied
    with pytest.raises(UsageError, match="unknown function 'nope.tied'.*did you mean"):
        find_function("nope.tied", reg)
    with pytest.raises(UsageError, match="unknown module 'no_such_module_xyz'"):
        build_report(["no_such_module_xyz"], plugins=False, reg=reg)


def test_builtin_numpy_rules_are_all_reported():
    report = build_report(["numpy"], plugins=False)
    names = {f.name for f in report.functions}
    assert "numpy.add" in names and all(n.startswith("numpy.") for n in names)
    assert report.counts()["combinations"] > 100
    assert report.counts()["unresolved"] == 0 and report.counts()["ambiguous"] == 0


def test_verify_attributes_failures_to_combinations(reg):
    report = build_report(names=[M + ".broken", M + ".scale", M + ".parametrised"],
                          plugins=False, reg=reg)
    verify(report, reg)
    bad = _combo(_function(report, "broken"), "Duplicated", "Const")
    assert bad.verified == "failed" and "Sample(" in bad.verify_message
    assert _combo(_function(report, "broken"), "Const", "Active").verified == "passed"
    assert {c.verified for c in _function(report, "scale").combinations} == {"passed"}
    # no samples: checked on generated inputs
    resolved = [c for c in _function(report, "parametrised").combinations if c.status == "exact"]
    assert resolved and {c.verified for c in resolved} == {"passed"}
    assert all("generated inputs" in c.verify_message for c in resolved)
    # the broken rule also serves the NoNeed and batch (lane by lane) variants of (Duplicated, Const)
    failed = {c.names[0] for c in _function(report, "broken").combinations if c.verified == "failed"}
    assert failed == {"Duplicated", "DuplicatedNoNeed", "BatchDuplicated", "BatchDuplicatedNoNeed"}
    assert report.problems(("failed",)) == {"failed": 4}
    assert "verify FAILED" in render(report, "text")


def test_renderings_agree(reg):
    report = build_report(names=[M + ".scale", M + ".tied"], plugins=False, reg=reg)
    text = render(report, "text")
    assert "(Duplicated, Const)" in text and "exact" in text and "ambiguous" in text
    assert text.rstrip().splitlines()[-1].startswith("summary: 2 functions")
    assert "FAILED: " in text.splitlines()[-1]
    md = render(report, "markdown")
    assert "| activities | return | class | cost | served by | steps |" in md and "**ambiguous**" in md
    data = json.loads(render(report, "json"))
    assert data["schema"] == "activerules.coverage" and data["version"] == 2 and data["ok"] is False
    assert data == to_dict(report)
    combo = data["functions"][0]["signatures"][0]["combinations"][0]
    assert set(combo) >= {"activities", "returns", "status", "wasteful", "cost", "steps", "candidates"}
    html = render(report, "html")
    assert html.startswith("<!DOCTYPE html>") and "http" not in html.split("<body>")[0].replace(
        'http-equiv', '')
    with pytest.raises(ValueError, match="unknown format"):
        render(report, "pdf")


def test_large_spaces_show_counts_and_worst_cases(reg):
    report = build_report(names=[M + ".only_dup"], plugins=False, reg=reg)
    text = render(report, "text", max_rows=4)
    assert "worst " in text and text.count("unresolved  ") >= 1
    lines = [ln for ln in text.splitlines() if ln.startswith("    (")]
    assert len(lines) <= 10 and all("unresolved" in ln for ln in lines[:4])


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_verify_progress_only_on_a_terminal(reg):
    report = build_report(names=[M + ".scale"], plugins=False, reg=reg)
    tty, pipe = _Terminal(), io.StringIO()
    verify(report, reg, stream=tty)
    assert "\rverify 1/1 coverage_demo.scale sample 1" in tty.getvalue()
    assert tty.getvalue().endswith("\r")  # the indicator line is cleared at the end
    verify(report, reg, stream=pipe)
    assert pipe.getvalue() == ""


def _keys(obj, path=""):
    """Every key path of a JSON document, lists collapsed to their first element."""
    if isinstance(obj, dict):
        return {k for key, v in obj.items() for k in {f"{path}{key}"} | _keys(v, f"{path}{key}.")}
    if isinstance(obj, list) and obj:
        return _keys(obj[0], path)
    return set()


def test_documented_json_schema_matches_the_output(reg):
    doc = (Path(__file__).resolve().parents[2] / "docs" / "coverage.md").read_text(encoding="utf-8")
    example = json.loads(doc.split("```json\n", 1)[1].split("```", 1)[0])
    report = build_report(names=[M + ".tied"], plugins=False, reg=reg)
    actual = to_dict(report)
    actual["plugins"]["failed"] = [{"name": "x", "value": "x.rules", "error": "E"}]
    example["problems"] = actual["problems"] = {}  # its keys are the conditions that occur
    assert _keys(example) == _keys(actual)
    assert example["version"] == actual["version"]
