"""Runtime activity (issue 11, capability 1) and one rule for the caller's arrays
(capability 2): docs/engine.md, "Writes into constants" and "The caller's arrays".

Every array argument reaches ``f`` as a stand-in; an undifferentiated one is inert until
an active value is written into it, and is then promoted (Enzyme's Const -> Duplicated
step, at run time). ``f`` runs once: its side effects never repeat. ``gradient`` and
``vjp`` change no caller array; ``autodiff`` leaves every caller array as ``f`` leaves
it (none after an error). Oracles: central finite differences, PyTorch, plain NumPy."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest
import torch
from engine_helpers import fd_grad

import activerules as ar

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "examples"))
import heat_equation as heat  # noqa: E402

X = np.array([0.3, -1.2, 0.7])
C = np.array([0.5, 1.5, -0.5])


def _torch_final_energy(x: Any, p: Any) -> Any:
    """examples/heat_equation.final_energy, written for torch (in place, as there)."""
    x = x.clone()
    dx = torch.zeros_like(x)
    t = 0.0
    for _ in range(heat.STEPS):
        s = t / heat.Tf
        u = p[0] * torch.sin(torch.pi * p[1] * s) + p[2] * s
        new = torch.zeros_like(dx)
        new[1:-1] = x[:-2] - 2 * x[1:-1] + x[2:]
        new[0] = x[1] - x[0]
        new[-1] = x[-2] - x[-1]
        new = new * heat.alpha
        new[0] = new[0] + heat.alpha / (heat.lam * heat.delta_x) * u
        dx = new
        x = x + heat.dt * dx
        t += heat.dt
    return (x * x).sum() * heat.delta_x


def _heat_inputs() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(1)
    x0 = np.sin(np.linspace(0.0, np.pi, heat.N)) + 0.1 * rng.standard_normal(heat.N)
    return x0, np.array([0.8, 1.5, -0.3])


def _counted(f: Callable[..., Any], calls: list[int]) -> Callable[..., Any]:
    def g(*a: Any) -> Any:
        calls.append(1)
        return f(*a)
    return g


def _gradient_once(f: Callable[..., Any], c: np.ndarray, entry: str) -> np.ndarray:
    """d f(x, c) / dx at X by ``entry`` ("gradient", "vjp" or "autodiff"), ``c`` not
    differentiated; checks that f ran once (no run again)."""
    calls: list[int] = []
    g = _counted(f, calls)
    if entry == "gradient":
        got = ar.gradient(g, X.copy(), c)
    elif entry == "vjp":
        got = ar.vjp(g, X.copy(), ar.Const(c))[1](1.0)[0]
    else:
        got = np.zeros(3)
        ar.autodiff(g, ar.Duplicated(X.copy(), got), ar.Const(c))
    assert len(calls) == 1
    return got


def test_heat_simulation_with_respect_to_the_parameters_only() -> None:
    # x (the state) is not differentiated; the simulation writes active values into it
    x0, p0 = _heat_inputs()
    x, p, calls = x0.copy(), p0.copy(), []
    got = ar.gradient(_counted(heat.final_energy, calls), x, p, argnums=1)
    assert len(calls) == 1  # f ran once: no run again, its side effects happen once
    np.testing.assert_array_equal(x, x0)  # functional: the caller's state unchanged
    np.testing.assert_array_equal(p, p0)
    both = ar.gradient(heat.final_energy, x0.copy(), p0.copy(), argnums=(0, 1))[1]
    np.testing.assert_allclose(got, both, rtol=1e-12)
    fd = fd_grad(lambda v: heat.final_energy(x0.copy(), v), p0)
    np.testing.assert_allclose(got, fd, rtol=1e-6)
    pt = torch.tensor(p0, requires_grad=True)
    _torch_final_energy(torch.tensor(x0), pt).backward()
    np.testing.assert_allclose(got, pt.grad.numpy(), rtol=1e-10)


def test_heat_simulation_parameters_only_with_autodiff_leaves_the_state_as_numpy() -> None:
    x0, p0 = _heat_inputs()
    x, dp, calls = x0.copy(), np.zeros(3), []
    ar.autodiff(_counted(heat.final_energy, calls), ar.Const(x), ar.Duplicated(p0.copy(), dp))
    assert len(calls) == 1
    want = x0.copy()
    heat.final_energy(want, p0.copy())
    np.testing.assert_allclose(x, want, rtol=1e-15)  # Enzyme-style: as f left it
    np.testing.assert_allclose(dp, fd_grad(lambda v: heat.final_energy(x0.copy(), v), p0), rtol=1e-6)


def _kept_then_written(x: Any, c: Any) -> Any:
    y = x * c  # multiply's reverse keeps c
    c[0] = 5.0  # then f writes into the undifferentiated input
    return (y * c).sum()


def _reference_kept_then_written(x: np.ndarray) -> np.ndarray:
    return fd_grad(lambda v: _kept_then_written(v, C.copy()), x)


@pytest.mark.parametrize("entry", ["gradient", "vjp", "autodiff", "batch"])
def test_an_input_a_rule_keeps_is_written_later_once(entry: str) -> None:
    c = C.copy()
    want = _reference_kept_then_written(X)
    if entry == "batch":
        calls: list[int] = []
        got, other = np.zeros(3), np.zeros(3)
        ar.autodiff(_counted(_kept_then_written, calls), ar.BatchDuplicated(X.copy(), (got, other)), c,
                    returns=ar.Active((1.0, 2.0)))
        np.testing.assert_allclose(other, 2 * want, rtol=1e-7)
        assert len(calls) == 1
    else:
        got = _gradient_once(_kept_then_written, c, entry)
    np.testing.assert_allclose(got, want, rtol=1e-7)
    if entry in ("gradient", "vjp"):
        np.testing.assert_array_equal(c, C)
    else:
        np.testing.assert_array_equal(c, [5.0, 1.5, -0.5])
    assert c.flags.writeable


def test_a_write_f_catches_itself_behaves_as_numpy() -> None:
    # no read-only array is ever handed to f: code that falls back on a ValueError
    # takes NumPy's path (the old engine's lock made it take the other one)
    def f(x: Any, c: Any) -> Any:
        y = (x * c).sum()
        try:
            c[1] = 10.0
        except ValueError:
            return y
        return y * c[1]

    want = fd_grad(lambda v: f(v, C.copy()), X)
    np.testing.assert_allclose(ar.gradient(f, X.copy(), C.copy()), want, rtol=1e-7)


def _active_into_temporary(x: Any, c: Any) -> Any:
    d = c * 2.0  # computed from the undifferentiated input only
    np.sin(x, out=d)  # an active value written into it
    e = np.zeros_like(c)
    e[1:] = x[:2] * d[:2]
    return (d * e).sum() + (c * x).sum()


@pytest.mark.parametrize("entry", ["gradient", "vjp", "autodiff"])
def test_an_active_value_into_an_array_computed_from_constants_is_promoted(entry: str) -> None:
    c = C.copy()
    want = fd_grad(lambda v: _active_into_temporary(v, C.copy()), X)
    got = _gradient_once(_active_into_temporary, c, entry)
    np.testing.assert_allclose(got, want, rtol=1e-7)
    np.testing.assert_array_equal(c, C)


# -- one rule for the caller's arrays, every entry point ------------------------------------

def _no_mutation(x: Any, c: Any, n: Any) -> Any:
    return (np.sin(x) * c).sum() + float(c[0]) + n[0]


def _writes_const(x: Any, c: Any, n: Any) -> Any:
    y = (x * c).sum()
    c *= 2.0
    n[1] = 7
    return y + (x * c).sum()


def _writes_everything(x: Any, c: Any, n: Any) -> Any:
    y = (x ** 2 * c).sum()
    x[0] = 3.0
    c[2] = x[1] * 2.0  # an active value into the constant
    n += 1
    return y + (x * c).sum() + n[2]


def _ufunc_at_into_const(x: Any, c: Any, n: Any) -> Any:
    y = (x * c).sum()
    np.add.at(c, [0, 0], 1.0)  # ufunc.at ignores the read-only flag: never given a locked array
    np.subtract.at(n, [1], 1)
    return y * c[0]


PROGRAMS = {"none": _no_mutation, "const": _writes_const, "all": _writes_everything,
            "ufunc_at": _ufunc_at_into_const}


def _numpy_after(f: Callable[..., Any]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    x, c, n = X.copy(), C.copy(), np.arange(3)
    f(x, c, n)
    return x, c, n


def _fd_x(f: Callable[..., Any]) -> np.ndarray:
    return fd_grad(lambda v: f(v, C.copy(), np.arange(3)), X)


@pytest.mark.parametrize("prog", sorted(PROGRAMS))
@pytest.mark.parametrize("entry", ["gradient", "vjp"])
def test_gradient_and_vjp_change_no_caller_array(entry: str, prog: str) -> None:
    f, calls = PROGRAMS[prog], []
    x, c, n = X.copy(), C.copy(), np.arange(3)
    if entry == "gradient":
        got = ar.gradient(_counted(f, calls), x, c, n)
    else:
        y, pullback = ar.vjp(_counted(f, calls), x, ar.Const(c), n)
        np.testing.assert_allclose(y, f(X.copy(), C.copy(), np.arange(3)), rtol=1e-14)
        got = pullback(1.0)[0]
        del pullback
    assert len(calls) == 1
    np.testing.assert_allclose(got, _fd_x(f), rtol=1e-7, atol=1e-9)
    for a, b in ((x, X), (c, C), (n, np.arange(3))):
        np.testing.assert_array_equal(a, b)
        assert a.flags.writeable


@pytest.mark.parametrize("prog", sorted(PROGRAMS))
@pytest.mark.parametrize("annotate", ["plain", "Const"])
def test_autodiff_leaves_every_caller_array_as_f_leaves_it(prog: str, annotate: str) -> None:
    f, calls = PROGRAMS[prog], []
    x, dx, c, n = X.copy(), np.zeros(3), C.copy(), np.arange(3)
    wrap = (lambda v: v) if annotate == "plain" else ar.Const
    ar.autodiff(_counted(f, calls), ar.Duplicated(x, dx), wrap(c), wrap(n))
    assert len(calls) == 1
    want_x, want_c, want_n = _numpy_after(f)
    np.testing.assert_array_equal(x, want_x)
    np.testing.assert_allclose(c, want_c, rtol=1e-15)
    np.testing.assert_array_equal(n, want_n)
    np.testing.assert_allclose(dx, _fd_x(f), rtol=1e-7, atol=1e-9)
    assert x.flags.writeable and c.flags.writeable and n.flags.writeable


@pytest.mark.parametrize("entry", ["gradient", "vjp", "autodiff"])
def test_after_an_error_no_caller_array_changed(entry: str) -> None:
    def f(x: Any, c: Any, n: Any) -> Any:
        _writes_everything(x, c, n)
        np.add.at(c, [1], 2.0)
        raise KeyError("boom")

    x, dx, c, n = X.copy(), np.zeros(3), C.copy(), np.arange(3)
    with pytest.raises(KeyError):
        if entry == "gradient":
            ar.gradient(f, x, c, n)
        elif entry == "vjp":
            ar.vjp(f, x, ar.Const(c), n)
        else:
            ar.autodiff(f, ar.Duplicated(x, dx), c, n)
    for a, b in ((x, X), (c, C), (n, np.arange(3)), (dx, np.zeros(3))):
        np.testing.assert_array_equal(a, b)
        assert a.flags.writeable


def test_a_constant_inside_a_container_is_protected_too() -> None:
    def f(x: Any, d: Any) -> Any:
        d["c"][0] = x[1]  # promoted inside the container
        np.add.at(d["c"], [2], 1.0)
        return (d["c"] * x).sum()

    d = {"c": C.copy()}
    want = fd_grad(lambda v: f(v, {"c": C.copy()}), X)
    np.testing.assert_allclose(ar.gradient(f, X.copy(), d), want, rtol=1e-7)
    np.testing.assert_array_equal(d["c"], C)


def _split_whole_piece(x: Any, c: Any) -> Any:
    a, b = np.split(c, [3])  # a is all of c, b empty: both views, as in NumPy
    c[...] = x[::-1] * c  # an active value into c: a sees it
    a[0] += x[0]
    return (a * x).sum() + b.sum()


@pytest.mark.parametrize("entry", ["gradient", "autodiff"])
@pytest.mark.parametrize("which", ["inert", "active"])
def test_a_split_with_an_empty_piece_keeps_views(entry: str, which: str) -> None:
    # the old engine refused writing into the whole piece (KNOWN_BROKEN split_whole_piece)
    def f(x: Any, c: Any) -> Any:
        return _split_whole_piece(x, c if which == "inert" else x * 1.0)

    c = C.copy()
    want = fd_grad(lambda v: f(v, C.copy()), X)
    if entry == "gradient":
        got = ar.gradient(f, X.copy(), c)
        np.testing.assert_array_equal(c, C)
    else:
        got = np.zeros(3)
        ar.autodiff(f, ar.Duplicated(X.copy(), got), c)
        want_c = C.copy()
        f(X.copy(), want_c)
        np.testing.assert_allclose(c, want_c, rtol=1e-15)
    np.testing.assert_allclose(got, want, rtol=1e-7)


C2 = np.array([[0.5, 1.5, -0.5], [2.0, -1.0, 0.25]])


def _into_a_reshaped_copy(x: Any, c: Any) -> Any:
    d = c.T.reshape(-1)  # a copy NumPy makes through a temporary (d.base is set)
    d[0] = x[0]
    np.sin(x[1:], out=d[1:3])
    np.add.at(d, [1, 1], x[1])
    return (d * d).sum()


@pytest.mark.parametrize("entry", ["gradient", "vjp", "autodiff"])
def test_an_active_value_into_a_copy_numpy_made_through_a_temporary(entry: str) -> None:
    c = C2.copy()
    want = fd_grad(lambda v: _into_a_reshaped_copy(v, C2.copy()), X)
    got = _gradient_once(_into_a_reshaped_copy, c, entry)
    np.testing.assert_allclose(got, want, rtol=1e-7)
    np.testing.assert_array_equal(c, C2)  # d is a copy: c is not written, under any entry point
