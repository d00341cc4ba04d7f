"""The ``activerules`` command: exit codes, usage errors, outputs, ``explain``."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from activerules.cli import main

RULES = textwrap.dedent('''
    import numpy as np
    import activerules as ar

    @ar.primitive
    def double(x):
        return 2.0 * x

    @ar.rrule(double, samples=[ar.Sample(np.array([1.0, -2.0]))])
    def _double(x):
        return 2.0 * x, lambda g: (2.0 * g,)
''')

HALF_COVERED = textwrap.dedent('''
    import numpy as np
    import activerules as ar

    @ar.primitive
    def axpy(a, x):
        return a * x

    @ar.rule(axpy, ar.Const, ar.Duplicated, samples=[ar.Sample(2.0, np.array([1.0, 3.0]))])
    def _axpy(cfg, a, x):
        def reverse(g):
            x.dval += a.val * g
        return a.val * x.val, reverse
''')


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A directory with two rule modules: one fully served, one with unresolved combinations."""
    (tmp_path / "cli_demo_clean.py").write_text(RULES)
    (tmp_path / "cli_demo_partial.py").write_text(HALF_COVERED)
    return tmp_path


def run(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``python -m activerules ARGS`` in ``cwd`` (on the import path), as a real process."""
    return subprocess.run([sys.executable, "-m", "activerules", *args], cwd=cwd, capture_output=True,
                          text=True, env={"PYTHONPATH": str(cwd), "PATH": "/usr/bin:/bin"})


def test_clean_module_exits_0_with_text_report(project):
    proc = run(project, "coverage", "cli_demo_clean")
    assert proc.returncode == 0, proc.stderr
    assert "cli_demo_clean.double" in proc.stdout and "numpy." not in proc.stdout
    assert "rrule _double" in proc.stdout
    assert proc.stdout.rstrip().splitlines()[-1].endswith("— OK")


def test_unresolved_combinations_exit_1_unless_not_failed_on(project):
    proc = run(project, "coverage", "cli_demo_partial", "--format", "json")
    assert proc.returncode == 1
    data = json.loads(proc.stdout)
    assert data["ok"] is False and data["problems"] == {"unresolved": data["summary"]["unresolved"]}
    statuses = {tuple(c["activities"]): c["status"]
                for c in data["functions"][0]["signatures"][0]["combinations"]}
    assert statuses[("Const", "Duplicated")] == "exact"
    assert statuses[("Active", "Duplicated")] == "unresolved"
    assert run(project, "coverage", "cli_demo_partial", "--fail-on", "ambiguous").returncode == 0
    assert run(project, "coverage", "cli_demo_clean", "--fail-on", "wasteful").returncode == 0


def test_output_file_and_formats(project):
    for fmt, marker in [("markdown", "| activities |"), ("html", "<!DOCTYPE html>"), ("json", '"schema"')]:
        out = project / f"report.{fmt}"
        proc = run(project, "coverage", "cli_demo_clean", "--format", fmt, "--output", str(out))
        assert proc.returncode == 0, proc.stderr
        assert f"wrote {out}" in proc.stdout and "summary: 1 functions" in proc.stdout
        assert marker in out.read_text(encoding="utf-8")


def test_verify_runs_check_rule(project):
    proc = run(project, "coverage", "cli_demo_clean", "--verify")
    assert proc.returncode == 0, proc.stderr
    assert "verified 4 passed, 0 failed" in proc.stdout
    assert "verify " not in proc.stderr  # no progress line when stderr is not a terminal


def test_explain_prints_rule_steps_cost_and_source(project):
    proc = run(project, "explain", "--module", "cli_demo_clean", "cli_demo_clean.double", "DuplicatedNoNeed")
    assert proc.returncode == 0, proc.stderr
    assert "cli_demo_clean.double(DuplicatedNoNeed) → rrule `_double`" in proc.stdout
    assert "cost 10" in proc.stdout and "cli_demo_clean.py:" in proc.stdout
    proc = run(project, "explain", "-m", "cli_demo_partial", "cli_demo_partial.axpy", "Active", "Duplicated")
    assert proc.returncode == 1 and "unresolved: no rule for cli_demo_partial.axpy(Active, Duplicated)" \
        in proc.stdout


def test_explain_builtin_in_process(capsys):
    assert main(["explain", "numpy.multiply", "Const", "Duplicated"]) == 0
    out = capsys.readouterr().out
    assert "numpy.multiply(Const, Duplicated) → rule `_multiply_rule`" in out
    assert "exact, cost 0" in out and "defined at " in out


@pytest.mark.parametrize("argv, message", [
    (["coverage", "no_such_module_xyz"], "unknown module 'no_such_module_xyz'"),
    (["coverage", "numpy", "--function", "numpy.nope"], "unknown function 'numpy.nope'"),
    (["coverage", "--fail-on", "sometimes"], "unknown condition(s) sometimes"),
    (["coverage", "--format", "pdf"], "invalid choice: 'pdf'"),
    (["explain", "numpy.tanh", "Frozen"], "unknown activity 'Frozen'"),
    (["explain", "numpy.tanh", "Active"], "is not admissible"),
    (["explain", "numpy.nope", "Const"], "unknown function 'numpy.nope'"),
])
def test_usage_errors_exit_2_without_traceback(capsys, argv, message):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_no_command_prints_help_and_exits_2(capsys):
    assert main([]) == 2
    assert "coverage" in capsys.readouterr().err
    assert main(["--help"]) == 0


def test_function_filter_in_process(capsys):
    assert main(["coverage", "--no-plugins", "-f", "numpy.tanh", "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [f["name"] for f in data["functions"]] == ["numpy.tanh"]
