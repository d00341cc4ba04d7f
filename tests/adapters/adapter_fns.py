"""Functions with registered rules, shared by the adapter tests, with call counters.

* ``matvec(A, x)``: an rrule whose cotangents are thunks, a specialised
  ``(Duplicated, Const)`` rule, and a batch rule for ``(Const, BatchDuplicated)``;
* ``axpy_(y, a, x)``: a mutating primitive, ``y += a * x`` (one rule for all activities);
* ``scaled_tanh(a, x)``: a function of a scalar and an array (rrule only);
* ``polar(x, y)``: a tuple output ``(r, theta)`` (rrule only).

Each comes with a NumPy reference and central finite differences.
"""

from __future__ import annotations

from collections import Counter, namedtuple
from typing import Any, Callable

import numpy as np

import activerules as ar
from activerules.engine import primitive

CALLS: Counter[str] = Counter()


@primitive
def matvec(A: np.ndarray, x: np.ndarray) -> np.ndarray:
    CALLS["matvec"] += 1               # the primal itself (rules do not call it)
    return A @ x


@ar.rrule(matvec)
def _matvec_rrule(A: np.ndarray, x: np.ndarray) -> Any:
    CALLS["matvec.rrule"] += 1

    def pullback(g: np.ndarray) -> Any:
        def dA() -> np.ndarray:
            CALLS["matvec.thunk_A"] += 1
            return np.outer(g, x)

        def dx() -> np.ndarray:
            CALLS["matvec.thunk_x"] += 1
            return A.T @ g

        return ar.thunk(dA), ar.thunk(dx)

    return A @ x, pullback


@ar.rule(matvec, ar.Duplicated, ar.Const)
def _matvec_dup_const(cfg: ar.RevConfig, A: Any, x: Any) -> Any:
    CALLS["matvec.dup_const"] += 1
    xv = x.val

    def reverse(g: np.ndarray) -> None:
        A.dval += np.outer(g, xv)

    return A.val @ xv, reverse


@ar.rule(matvec, ar.Const, ar.BatchDuplicated)
def _matvec_batch(cfg: ar.RevConfig, A: Any, x: Any) -> Any:
    CALLS["matvec.batch"] += 1
    Av = A.val

    def reverse(gs: tuple[np.ndarray, ...]) -> None:
        G = Av.T @ np.stack(gs, axis=1)          # all lanes in one product
        for k, dx in enumerate(x.dvals):
            dx += G[:, k]

    return Av @ x.val, reverse


@primitive(mutates=(0,))
def axpy_(y: np.ndarray, a: float, x: np.ndarray) -> None:
    y += a * x


@ar.rule(axpy_, ar.Annotation, ar.Annotation, ar.Annotation)
def _axpy_rule(cfg: ar.RevConfig, y: Any, a: Any, x: Any) -> Any:
    CALLS["axpy.rule"] += 1
    av, xv = a.val, np.array(x.val, copy=True)
    y.val[...] += av * xv

    def reverse(_: Any) -> Any:
        ybar = y.dval                          # cotangent of y after = of y before (identity in y)
        da = float(np.vdot(ybar, xv)) if isinstance(a, ar.Active) else None
        if isinstance(x, ar.Duplicated):
            x.dval += av * ybar
        return (None, da, None)

    return None, reverse


@primitive
def scaled_tanh(a: float, x: np.ndarray) -> np.ndarray:
    return np.tanh(a * x)


@ar.rrule(scaled_tanh)
def _scaled_tanh(a: float, x: np.ndarray) -> Any:
    CALLS["scaled_tanh.rrule"] += 1
    y = np.tanh(a * x)

    def pullback(g: np.ndarray) -> Any:
        s = g * (1 - y * y)
        return ar.thunk(lambda: float(np.vdot(s, x))), ar.thunk(lambda: a * s)

    return y, pullback


@primitive
def polar(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return np.hypot(x, y), np.arctan2(y, x)


@ar.rrule(polar)
def _polar(x: np.ndarray, y: np.ndarray) -> Any:
    CALLS["polar.rrule"] += 1
    r, t = np.hypot(x, y), np.arctan2(y, x)

    def pullback(cots: tuple[np.ndarray, np.ndarray]) -> Any:
        rbar, tbar = cots
        return (rbar * x / r - tbar * y / r ** 2, rbar * y / r + tbar * x / r ** 2)

    return (r, t), pullback


# -- references ---------------------------------------------------------------------------

def loss_matvec(A: np.ndarray, x: np.ndarray) -> float:
    return float(np.sum(np.sin(A @ x)))


def loss_axpy(y: np.ndarray, a: float, x: np.ndarray) -> float:
    return float(np.sum((y + a * x) ** 2))


def loss_scaled_tanh(a: float, x: np.ndarray) -> float:
    return float(np.sum(np.cos(np.tanh(a * x))))


def loss_polar(x: np.ndarray, y: np.ndarray) -> float:
    return float(np.sum(np.hypot(x, y) ** 2 * np.sin(np.arctan2(y, x))))


def _polar_program(x: np.ndarray, y: np.ndarray) -> Any:
    r, t = polar(x, y)
    return np.sum(r ** 2 * np.sin(t))


def fd_grad(f: Callable[..., float], args: list[Any], i: int, h: float = 1e-6) -> Any:
    """Central finite differences of the scalar ``f`` with respect to ``args[i]``."""
    x = args[i]
    if np.ndim(x) == 0:
        up = list(args)
        dn = list(args)
        up[i], dn[i] = x + h, x - h
        return (f(*up) - f(*dn)) / (2 * h)
    g = np.zeros_like(x, dtype=float)
    for idx in np.ndindex(*np.shape(x)):
        up = [np.array(a, copy=True) if j == i else a for j, a in enumerate(args)]
        dn = [np.array(a, copy=True) if j == i else a for j, a in enumerate(args)]
        up[i][idx] += h
        dn[i][idx] -= h
        g[idx] = (f(*up) - f(*dn)) / (2 * h)
    return g


def inputs(seed: int = 0) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    return {"A": rng.standard_normal((3, 4)), "x": rng.standard_normal(4), "y": rng.standard_normal(4),
            "a": 0.7}


# -- engine references (ar.autodiff on the same primitives), checked against FD ------------

def _axpy_program(y: np.ndarray, a: float, x: np.ndarray) -> Any:
    axpy_(y, a, x)
    return np.sum(y ** 2)


CASES: dict[str, tuple[Callable[..., Any], Callable[..., float], tuple[str, ...]]] = {
    "matvec": (lambda A, x: np.sum(np.sin(matvec(A, x))), loss_matvec, ("A", "x")),
    "axpy": (_axpy_program, loss_axpy, ("y", "a", "x")),
    "scaled_tanh": (lambda a, x: np.sum(np.cos(scaled_tanh(a, x))), loss_scaled_tanh, ("a", "x")),
    "polar": (_polar_program, loss_polar, ("x", "y")),
}


def reference(case: str, args: list[Any]) -> tuple[Any, ...]:
    """Gradients of a case's loss from ``ar.autodiff`` (arrays Duplicated, scalars Active),
    asserted equal to finite differences. Clears the call counters."""
    from activerules.engine import autodiff

    program, loss, _ = CASES[case]
    anns = [ar.Duplicated(np.array(a, copy=True), np.zeros_like(a)) if np.ndim(a) else ar.Active(a)
            for a in args]
    derivs = autodiff(program, *anns)
    grads = [ann.dval if isinstance(ann, ar.Duplicated) else d for ann, d in zip(anns, derivs)]
    for i, g in enumerate(grads):
        np.testing.assert_allclose(g, fd_grad(loss, list(args), i), rtol=1e-6, atol=1e-8)
    CALLS.clear()
    return tuple(grads)


# tree_model(p, xs): a dict and a list in, a namedtuple out (pytree adapters); records what the rule saw
Pair = namedtuple("Pair", "lin sq")
TREES_SEEN = []


@primitive
def tree_model(p, xs):
    lin = p["w"] * xs[0] + p["b"]
    return Pair(lin, lin * xs[1])


@ar.rrule(tree_model)
def _tree_model_rrule(p, xs):
    TREES_SEEN.append((type(p).__name__, type(xs).__name__))
    lin = p["w"] * xs[0] + p["b"]

    def pullback(g):
        glin = g.lin + g.sq * xs[1]
        return {"w": glin * xs[0], "b": glin}, [glin * p["w"], g.sq * lin]

    return Pair(lin, lin * xs[1]), pullback
