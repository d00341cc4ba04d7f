"""Shared helpers for the engine tests: central finite differences."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

import activerules as ar


def fd_grad(f: Callable[[np.ndarray], Any], x: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """Central finite-difference gradient of a scalar function of one array;
    ``f`` gets a fresh copy each time, laid out as ``x`` (F stays F), so it may
    mutate its argument."""
    g = np.zeros_like(x)
    for i in range(x.size):
        e = np.zeros_like(x)
        e.flat[i] = eps
        g.flat[i] = (f((x + e).copy(order="K")) - f((x - e).copy(order="K"))) / (2 * eps)
    return g


def assert_gradient_matches_fd(f: Callable[[Any], Any], x: np.ndarray, rtol: float = 1e-6,
                               atol: float = 1e-8) -> None:
    """The engine's gradient of ``f`` at ``x`` equals central finite differences."""
    from activerules.engine import gradient

    np.testing.assert_allclose(gradient(f, x.copy()), fd_grad(f, x), rtol=rtol, atol=atol)


# Inputs shared by the higher-order tests (test_nested, test_levels, test_derivatives).
X3 = np.array([0.3, -1.1, 2.0])
A3 = np.array([[2.0, 0.5, -0.3], [0.1, 1.5, 0.4], [-0.2, 0.3, 1.8]])
V3 = np.array([0.7, -0.2, 1.3])


@ar.primitive(mutates=(0,))
def scale_inplace(x: Any, c: Any) -> None:
    """``x *= c`` as a mutating primitive, served by the hand-written rule below."""
    x *= c


@ar.rule(scale_inplace, ar.Duplicated, ar.Const)
def _scale_inplace_rule(cfg: Any, x: Any, c: Any) -> Any:
    cv = c.val
    x.val[...] *= cv

    def reverse(_: Any) -> None:
        x.dval[...] *= cv  # the cotangent of x after the call -> before it

    return None, reverse
