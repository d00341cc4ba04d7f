"""The inspector never says OK about something it did not check (issue 13)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np

import activerules as ar
from activerules.coverage import build_report, render, verify
from activerules.coverage.text import summary_line

ROOT = Path(__file__).resolve().parents[2]


def tri(x, y, z):
    return x * y + z


def scaled(x, s):
    return s * np.tanh(x)


def counted(x: np.ndarray, n: int) -> np.ndarray:
    return x * n


def varargs_only(*args):
    return args[0]


def _combo(report, *names):
    return next(c for f in report.functions for c in f.combinations if c.names == names)


def _tie_registry() -> ar.RuleRegistry:
    reg = ar.RuleRegistry()

    def _rule(cfg, x, y, z):
        return x.val * y.val + z.val, lambda g: None

    reg.rule(tri, ar.Duplicated, ar.Const, ar.Duplicated)(_rule)   # no samples, no hints
    reg.rule(tri, ar.Const, ar.Duplicated, ar.Duplicated)(_rule)
    return reg


def test_a_tie_between_unparametrised_patterns_is_found_without_samples():
    report = build_report(names=[f"{__name__}.tri"], plugins=False, reg=_tie_registry())
    (f,) = report.functions
    assert [s.kinds for s in f.signatures] == [("array", "array", "array")]
    assert f.signatures[0].kinds_from == "patterns"
    assert _combo(report, "Const", "Const", "Duplicated").status == "ambiguous"
    assert "ambiguous" in report.problems()
    assert not summary_line(report).endswith("OK")


def test_positions_nothing_tells_are_enumerated_under_each_kind():
    reg = ar.RuleRegistry()
    reg.rule(scaled, ar.Duplicated, ar.Annotation)(lambda cfg, x, s: (s.val * np.tanh(x.val), lambda g: None))
    (f,) = build_report(names=[f"{__name__}.scaled"], plugins=False, reg=reg).functions
    assert sorted(s.kinds for s in f.signatures) == [("array", "array"), ("array", "scalar")]
    assert {s.kinds_from for s in f.signatures} == {"patterns+enumerated"}
    assert f.combinations and not f.unknown


def test_a_function_that_cannot_be_enumerated_is_unknown_and_fails_by_default():
    reg = ar.RuleRegistry()
    reg.rrule(varargs_only)(lambda *a: (a[0], lambda g: (g,) + (None,) * (len(a) - 1)))
    report = build_report(names=[f"{__name__}.varargs_only"], plugins=False, reg=reg)
    assert report.functions[0].unknown and report.counts()["combinations"] == 0
    assert report.problems() == {"unknown": 1}
    line = summary_line(report)
    assert "OK" not in line and "1 unknown" in line
    assert json.loads(render(report, "json"))["functions"][0]["unknown"] is True


def test_zero_combinations_is_never_ok():
    reg = ar.RuleRegistry()
    reg.inactive(counted)
    report = build_report(names=[f"{__name__}.counted"], plugins=False, reg=reg)
    assert report.counts()["combinations"] == 0
    assert "OK" not in summary_line(report)


def _rrule_registry(thunked: bool) -> ar.RuleRegistry:
    reg = ar.RuleRegistry()

    @reg.rrule(scaled)
    def _scaled(x, s):
        t = np.tanh(x)
        dx = (lambda g: ar.thunk(lambda: g * s * (1 - t * t))) if thunked else (lambda g: g * s * (1 - t * t))
        return s * t, lambda g: (dx(g), float(np.sum(g * t)))

    return reg


def test_rrule_is_its_own_class_and_wasteful_only_when_a_const_cotangent_is_formed():
    lazy = build_report(names=[f"{__name__}.scaled"], plugins=False, reg=_rrule_registry(True))
    eager = build_report(names=[f"{__name__}.scaled"], plugins=False, reg=_rrule_registry(False))
    for report in (lazy, eager):
        assert _combo(report, "Duplicated", "Active").status == "rrule"
        assert report.counts()["exact"] == 0
    assert not _combo(lazy, "Const", "Active").wasteful          # x's cotangent is a thunk: never formed
    assert _combo(eager, "Const", "Active").wasteful             # formed and dropped
    assert "arg 0 is computed and dropped" in _combo(eager, "Const", "Active").steps[0]
    assert _combo(lazy, "Duplicated", "Const").wasteful          # s's cotangent is a float, formed


def test_verify_without_samples_generates_inputs_or_reports_unverified():
    reg = _rrule_registry(True)
    reg.rrule(counted)(lambda x, n: (x * n, lambda g: (g * n, None)))
    report = build_report(names=[f"{__name__}.scaled", f"{__name__}.counted"], plugins=False, reg=reg)
    verify(report, reg)
    scaled_f, counted_f = sorted(report.functions, key=lambda f: f.name != f"{__name__}.scaled")
    assert {c.verified for c in scaled_f.combinations} == {"passed"}
    assert all("generated inputs" in c.verify_message for c in scaled_f.combinations)
    # counted's n is an int: no input can be generated for it, so nothing is claimed
    assert {c.verified for c in counted_f.combinations} == {"unverified"}
    assert report.problems()["unverified"] == len(counted_f.combinations)


def test_verify_fails_a_wrong_rule_found_on_generated_inputs():
    reg = ar.RuleRegistry()
    reg.rrule(scaled)(lambda x, s: (s * np.tanh(x), lambda g: (g * s, float(np.sum(g)))))  # wrong
    report = build_report(names=[f"{__name__}.scaled"], plugins=False, reg=reg)
    verify(report, reg)
    assert report.problems()["failed"] == len(report.functions[0].combinations)


def _plugin(tmp_path: Path, name: str, extra: str = "") -> Path:
    (tmp_path / f"{name}.py").write_text(textwrap.dedent('''
        import numpy as np
        import activerules as ar

        @ar.primitive
        def soft(x, s):
            return s * np.tanh(x)

        @ar.primitive
        def forgotten(x):
            return x

        @ar.rrule(soft)
        def _soft(x, s):
            t = np.tanh(x)
            return s * t, lambda g: (ar.thunk(lambda: g * s * (1 - t * t)), float(np.sum(g * t)))
    ''') + textwrap.dedent(extra))
    return tmp_path


def _run(site: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {"PYTHONPATH": f"{site}:{ROOT}", "PATH": "/usr/bin:/bin"}
    return subprocess.run([sys.executable, "-m", "activerules", *args, "--no-plugins"],
                          capture_output=True, text=True, env=env, cwd=site)


def test_a_primitive_with_no_rule_is_listed_as_unresolved(tmp_path):
    proc = _run(_plugin(tmp_path, "plug_forgot"), "coverage", "plug_forgot", "--format", "json")
    assert proc.returncode == 1, proc.stderr
    data = json.loads(proc.stdout)
    forgotten = next(f for f in data["functions"] if f["name"].endswith("forgotten"))
    statuses = {c["status"] for s in forgotten["signatures"] for c in s["combinations"]}
    assert statuses == {"unresolved"} and "no rule registered" in forgotten["note"]


def test_a_correct_plugin_without_samples_or_annotations_passes_verify(tmp_path):
    site = _plugin(tmp_path, "plug_ok", "\nar.rrule(forgotten)(lambda x: (x, lambda g: (g,)))\n")
    proc = _run(site, "coverage", "plug_ok", "--verify")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    last = proc.stdout.splitlines()[-1]
    assert last.endswith("OK") and "0 failed, 0 unverified" in last and "13 passed" in last
    # soft(x, s): s's kind is told by the rrule's pullback (a number), no (array, array) guess
    assert "(array, scalar) from rrule" in proc.stdout and "(array, array)" not in proc.stdout


def test_explain_checks_the_number_of_activities_and_speaks_json(capsys):
    from activerules.cli import main

    assert main(["explain", "numpy.linalg.solve", "Const"]) == 2
    assert "takes 2 positional argument(s), 1 activities given" in capsys.readouterr().err
    assert main(["explain", "numpy.linalg.solve", "Const", "Duplicated", "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["activities"] == ["Const", "Duplicated"] and data["status"] in ("exact", "fallback", "rrule")
    assert data["source"] and data["cost"] is not None


def test_cli_fails_on_a_tie_in_a_plugin_without_samples_or_annotations(tmp_path):
    site = _plugin(tmp_path, "plug_tie", '''
        @ar.primitive
        def tri(x, y, z):
            return x * y + z

        def _tri(cfg, x, y, z):
            return x.val * y.val + z.val, lambda g: None

        ar.rule(tri, ar.Duplicated, ar.Const, ar.Duplicated)(_tri)
        ar.rule(tri, ar.Const, ar.Duplicated, ar.Duplicated)(_tri)
        ar.rrule(forgotten)(lambda x: (x, lambda g: (g,)))
    ''')
    proc = _run(site, "coverage", "plug_tie")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "(Const, Const, Duplicated)" in proc.stdout and "ambiguous" in proc.stdout
    assert "ambiguous" in proc.stdout.splitlines()[-1].split("FAILED: ")[1]
