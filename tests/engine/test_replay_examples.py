"""``ar.replay`` on the repository's examples and benchmark workloads (issue 12, part 1):
the heat equation (one Enzyme-style step, and a whole simulation as
``benchmarks/workloads.heat_problem`` sets it up, on a small grid), the Newton solve with
and without its implicit-function rule, the accurate ``exprel`` rule, the quick start's
primitive with two rules, and W1's chain. Three draws each, bit for bit against the eager
engine (one miss, then hits); the simulation's replayed gradient also against central
differences.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
from engine_helpers import fd_grad
from replay_helpers import check_replay, grad, rng, vjp

import activerules as ar

ROOT = Path(__file__).resolve().parents[2]


def _load(path: Path, name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"replay_{name}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def heat(n: int = 16, steps: int = 25) -> ModuleType:
    """The heat-equation example on ``n`` points and ``steps`` stable Euler steps (the
    globals set as ``benchmarks/workloads.heat_problem`` sets them)."""
    h = _load(ROOT / "examples" / "heat_equation.py", f"heat{n}_{steps}")
    h.N = n
    h.delta_x = 1.0 / n
    h.alpha = h.kappa / h.delta_x ** 2
    h.dt = 0.4 * h.delta_x ** 2 / h.kappa
    h.STEPS = steps
    return h


def _state(k: int, n: int) -> np.ndarray:
    return np.sin(np.linspace(0.0, np.pi, n)) + 0.1 * rng(k, 21).standard_normal(n)


def _params(k: int) -> np.ndarray:
    return np.array([0.8, 1.5, -0.3]) + 0.1 * rng(k, 22).standard_normal(3)


def test_one_heat_step_enzyme_style():
    h = heat()

    def run(fn, d):
        return ar.autodiff(fn, ar.Duplicated(d["dx"], d["d_dx"]), ar.Duplicated(d["x"], d["d_x"]),
                           ar.Duplicated(d["p"], d["d_p"]), ar.Const(0.37), returns=ar.Const)

    def make(k):
        return {"dx": np.zeros(h.N), "d_dx": rng(k, 23).standard_normal(h.N), "x": _state(k, h.N),
                "d_x": np.zeros(h.N), "p": _params(k), "d_p": np.zeros(3)}
    check_replay(h.heat_eq, run, make)


def test_heat_simulation_gradient_and_finite_differences():
    """With respect to ``p`` only, the state ``x`` is undifferentiated data whose elements
    the first step reads (``dx[0] = x[1] - x[0]``): numbers that flow, not a path, so a new
    initial state replays too; and with respect to both."""
    h = heat()
    check_replay(h.final_energy, grad((0, 1)), lambda k: (_state(k, h.N), _params(k)))
    rf = check_replay(h.final_energy, grad(1), lambda k: (_state(k, h.N), _params(k)))
    check_replay(h.final_energy, grad(1), lambda k: (_state(0, h.N), _params(k)))  # the same state: replays
    x0, p0 = _state(5, h.N), _params(5)
    g = ar.gradient(rf, x0, p0, argnums=1)
    np.testing.assert_allclose(g, fd_grad(lambda p: h.final_energy(x0.copy(), p), p0), rtol=1e-6, atol=1e-9)


def test_heat_simulation_autodiff_and_vjp():
    h = heat(12, 15)

    def run(fn, d):
        return ar.autodiff(fn, ar.Duplicated(d["x"], d["d_x"]), ar.Duplicated(d["p"], d["d_p"]))
    check_replay(h.final_energy, run,
                 lambda k: {"x": _state(k, h.N), "d_x": np.zeros(h.N), "p": _params(k), "d_p": np.zeros(3)})
    check_replay(h.final_energy, vjp(), lambda k: ((_state(k, h.N), _params(k)), [1.0, -0.5]))


def test_newton_solve_with_and_without_the_ift_rule():
    m = _load(ROOT / "examples" / "implicit_solve.py", "implicit")

    def make(k):
        return (np.linspace(0.5, 3.0, 8) + 0.05 * rng(k, 24).uniform(size=8),)
    check_replay(m.loss_ift, grad(), make)
    check_replay(m.loss_unrolled, grad(), make)


def test_exprel_rule():
    m = _load(ROOT / "examples" / "custom_exp.py", "custom_exp")

    def loss(x):
        return (m.exprel(x) * x).sum()
    check_replay(loss, grad(), lambda k: (np.array([1e-9, 1e-4, 0.5, 2.0]) * (1 + 0.1 * k),))


def test_quickstart_primitive_with_two_rules():
    m = _load(ROOT / "examples" / "quickstart.py", "quickstart")

    def loss(A, x, s):
        return (m.scale_add(A, x, s) ** 2).sum()

    def make(k):
        r = rng(k, 25)
        return r.normal(size=(2, 2)), r.normal(size=2), 1.5
    for argnums in ((1, 2), (0, 1, 2), 1):  # the Const-A rule and the all-active rrule
        check_replay(loss, grad(argnums), make)


def test_w1_chain():
    w = _load(ROOT / "benchmarks" / "workloads.py", "workloads")
    check_replay(lambda x: w.chain(x, 50), grad(), lambda k: (rng(k, 26).uniform(-1, 1, 16),))
