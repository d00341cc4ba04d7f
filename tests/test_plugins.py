"""Plugin discovery end to end: the example rule package installed into a temporary
directory (``pip install --target``, offline) and the real ``activerules`` command run
as a subprocess; a broken plugin is reported while the others still load."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import activerules.plugins as plugins

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "plugin_package"

AMBIGUITY = textwrap.dedent('''

    # Two rules of which neither is more specific for (Duplicated, Active): an ambiguity.
    def _tie(cfg, x, scale):
        return scale.val * np.tanh(x.val), lambda ybar: None


    ar.rule(scaled_tanh, ar.Duplicated, ar.Annotation)(_tie)
    ar.rule(scaled_tanh, ar.Annotation, ar.Active)(_tie)
''')


def _command() -> list[str]:
    script = Path(sys.executable).parent / "activerules"
    return [str(script)] if script.exists() else [sys.executable, "-m", "activerules"]


def _install(source: Path, target: Path) -> Path:
    """Install a copy of ``source`` into ``target`` with pip, offline, without touching the example."""
    build = target.parent / (target.name + "-src")
    shutil.copytree(source, build, ignore=shutil.ignore_patterns("build", "*.egg-info"))
    proc = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index",
                           "--no-build-isolation", "--target", str(target), str(build)],
                          capture_output=True, text=True)
    if proc.returncode != 0:  # no setuptools in this environment: lay the package out by hand
        _install_by_hand(build, target)
    return target


def _install_by_hand(source: Path, target: Path) -> None:
    """What pip would install: the package on the path plus a dist-info with the entry points."""
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    meta = tomllib.loads((source / "pyproject.toml").read_text())["project"]
    shutil.copytree(source / "src", target, dirs_exist_ok=True)
    info = target / f"{meta['name']}-{meta['version']}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {meta['name']}\nVersion: {meta['version']}\n")
    groups = meta["entry-points"]
    (info / "entry_points.txt").write_text("".join(
        f"[{group}]\n" + "".join(f"{k} = {v}\n" for k, v in eps.items()) for group, eps in groups.items()))


def _broken_plugin(site: Path) -> Path:
    """A distribution whose entry point names a module that raises on import."""
    site.mkdir(parents=True, exist_ok=True)
    (site / "broken_rules_mod.py").write_text("raise RuntimeError('boom: a bug in the plugin')\n")
    info = site / "broken_rules-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: broken-rules\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[activerules.rules]\nbroken = broken_rules_mod\n")
    return site


def run(cwd: Path, path: list[Path], *args: str) -> subprocess.CompletedProcess[str]:
    # this checkout's activerules first (not whichever copy the environment installed)
    env = {"PYTHONPATH": ":".join(map(str, path + [EXAMPLE.parents[1]])), "PATH": "/usr/bin:/bin"}
    return subprocess.run(_command() + list(args), cwd=cwd, capture_output=True, text=True, env=env)


@pytest.fixture(scope="module")
def sites(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("plugins")
    clean = _install(EXAMPLE, root / "clean")
    ambiguous_src = root / "ambiguous-example"
    shutil.copytree(EXAMPLE, ambiguous_src, ignore=shutil.ignore_patterns("build", "*.egg-info"))
    rules = ambiguous_src / "src" / "smoothops" / "rules.py"
    rules.write_text(rules.read_text() + AMBIGUITY)
    return {"root": root, "clean": clean, "ambiguous": _install(ambiguous_src, root / "ambiguous"),
            "broken": _broken_plugin(root / "broken")}


def test_clean_plugin_is_discovered_and_passes(sites):
    proc = run(sites["root"], [sites["clean"]], "coverage", "smoothops")
    assert proc.returncode == 0, proc.stderr
    assert "smoothops.scaled_tanh" in proc.stdout and "numpy.add" not in proc.stdout
    assert "rule _scaled_tanh_dx" in proc.stdout and "rrule _scaled_tanh_rrule" in proc.stdout
    assert proc.stdout.rstrip().endswith("— OK")

    data = json.loads(run(sites["root"], [sites["clean"]], "coverage", "smoothops", "--format", "json").stdout)
    assert data["plugins"] == {"loaded": ["smoothops"], "failed": []}
    assert [f["name"] for f in data["functions"]] == ["smoothops.scaled_tanh"]
    # exact: the (Duplicated, Const) rule; its NoNeed and batch variants are fallbacks; every
    # combination with an Active scale is served by the lifted rrule
    summary = data["summary"]
    assert (summary["exact"], summary["fallback"], summary["rrule"]) == (1, 3, 5)
    assert summary["combinations"] == 9 and data["ok"]


def test_plugin_appears_in_the_full_report(sites):
    proc = run(sites["root"], [sites["clean"]], "coverage", "--format", "json")
    assert proc.returncode == 0, proc.stderr
    names = {f["name"] for f in json.loads(proc.stdout)["functions"]}
    assert "smoothops.scaled_tanh" in names and "numpy.add" in names


def test_ambiguous_plugin_fails_the_run(sites):
    proc = run(sites["root"], [sites["ambiguous"]], "coverage", "smoothops")
    assert proc.returncode == 1
    assert "ambiguous" in proc.stdout and "tied: rule `_tie`" in proc.stdout
    assert "FAILED: " in proc.stdout.rstrip().splitlines()[-1]
    data = json.loads(run(sites["root"], [sites["ambiguous"]], "coverage", "smoothops",
                          "--format", "json").stdout)
    amb = [c for c in data["functions"][0]["signatures"][0]["combinations"] if c["status"] == "ambiguous"]
    tie = next(c for c in amb if c["activities"] == ["Duplicated", "Active"])
    assert len(tie["candidates"]) == 2 and all(c.startswith("rule `_tie` for") for c in tie["candidates"])
    assert all(len(c["candidates"]) >= 2 and "is ambiguous" in c["message"] for c in amb)
    ok = run(sites["root"], [sites["ambiguous"]], "coverage", "smoothops", "--fail-on", "unresolved")
    assert ok.returncode == 0


def test_broken_plugin_is_reported_and_others_load(sites):
    proc = run(sites["root"], [sites["clean"], sites["broken"]], "coverage", "smoothops", "--format", "json")
    assert proc.returncode == 0, proc.stderr
    assert "plugin 'broken' (broken_rules_mod) failed to import: RuntimeError: boom" in proc.stderr
    data = json.loads(proc.stdout)
    assert data["plugins"]["loaded"] == ["smoothops"]
    assert data["plugins"]["failed"][0]["name"] == "broken"


def test_explain_a_plugin_function(sites):
    proc = run(sites["root"], [sites["clean"]], "explain", "smoothops.scaled_tanh", "BatchDuplicated", "Const")
    assert proc.returncode == 0, proc.stderr
    assert "rule `_scaled_tanh_dx`" in proc.stdout and "reverse once per lane" in proc.stdout
    assert "cost 2" in proc.stdout and "smoothops/rules.py:" in proc.stdout


def test_load_plugins_in_process(monkeypatch, tmp_path):
    _broken_plugin(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.warns(RuntimeWarning, match="plugin 'broken'"):
        report = plugins.load_plugins()
    assert [f.name for f in report.failed] == ["broken"] and "boom" in report.failed[0].error
