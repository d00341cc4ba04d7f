"""The engine's examples run and print what they claim."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_heat_equation_matches_finite_differences(capsys) -> None:
    assert _load("heat_equation").main() < 1e-6
    assert "finite differences" in capsys.readouterr().out


def test_implicit_solve_same_gradient_as_through_iterations(capsys) -> None:
    assert _load("implicit_solve").main(n=2000) < 1e-10
    assert "IFT speedup" in capsys.readouterr().out


def test_custom_exp_rule_is_accurate_where_tracing_is_not() -> None:
    err_rule, err_traced = _load("custom_exp").main()
    assert err_rule < 1e-12
    assert err_traced > 1.0
