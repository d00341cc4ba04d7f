"""Derivative formulas that work in the buffers of their own temporaries (``_one_minus``,
``_recip``, ``_rsqrt``, ``times``) give the textbook cotangent and never write into
what they read: the primal, the output they keep, or the output cotangent ``g``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import activerules as ar

# d/dx by the textbook, evaluated out of place
TEXTBOOK: dict[Any, Callable[[Any], Any]] = {
    np.tanh: lambda x: 1 - np.tanh(x) ** 2,
    np.arcsin: lambda x: 1 / np.sqrt(1 - x ** 2),
    np.arccos: lambda x: -1 / np.sqrt(1 - x ** 2),
    np.arctan: lambda x: 1 / (1 + x ** 2),
    np.arcsinh: lambda x: 1 / np.sqrt(x ** 2 + 1),
    np.arctanh: lambda x: 1 / (1 - x ** 2),
    np.cbrt: lambda x: 1 / (3 * np.cbrt(x) ** 2),
    np.log2: lambda x: 1 / (x * np.log(2.0)),
    np.log10: lambda x: 1 / (x * np.log(10.0)),
    np.log1p: lambda x: 1 / (1 + x),
    np.sin: np.cos,
    np.square: lambda x: 2 * x,
}
REAL_ONLY = (np.cbrt,)


def _pullback(fn: Any, x: np.ndarray, g: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``fn``'s output and the cotangent of ``x`` for output cotangent ``g``, through the registry."""
    res = ar.registry.resolve(fn, (ar.Duplicated,), (np.ndarray,))
    ax = ar.Duplicated(x, np.zeros_like(x))
    y, reverse = res(ar.RevConfig((ar.Duplicated,)), ax)
    reverse(g)
    return y, ax.dval


CASES = [pytest.param(fn, dtype, id=f"{fn.__name__}-{np.dtype(dtype).name}")
         for fn in TEXTBOOK for dtype in (np.float64, np.float32, np.complex128)
         if not (fn in REAL_ONLY and np.dtype(dtype).kind == "c")]


@pytest.mark.parametrize("fn, dtype", CASES)
def test_formula_matches_textbook_and_leaves_its_inputs_alone(fn: Any, dtype: Any) -> None:
    rng = np.random.default_rng(1)
    n = 40_000  # large enough for NumPy's temporary elision (256 KB) to be in play too
    x = rng.uniform(0.1, 0.9, n).astype(dtype)
    g = rng.uniform(-1.0, 1.0, n).astype(dtype)
    if np.dtype(dtype).kind == "c":
        x = x + 0.3j * x[::-1]
        g = g - 0.7j * g[::-1]
    x0, g0 = x.copy(), g.copy()
    y, xbar = _pullback(fn, x, g)
    y0 = y.copy()
    _, xbar_again = _pullback(fn, x, g)  # a second reverse sees the same values
    np.testing.assert_array_equal(x, x0)
    np.testing.assert_array_equal(g, g0)
    np.testing.assert_array_equal(y, y0)
    np.testing.assert_array_equal(xbar_again, xbar)
    assert xbar.dtype == x.dtype
    expected = g0.astype(np.complex128 if np.dtype(dtype).kind == "c" else np.float64) * np.conj(
        TEXTBOOK[fn](x0.astype(np.complex128 if np.dtype(dtype).kind == "c" else np.float64)))
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(xbar, expected, rtol=tol, atol=tol)


def test_reverse_reads_kept_output_twice_unchanged() -> None:
    """``tanh``'s reverse reads its kept output ``y``; running it twice (a ``vjp`` pulled
    back twice) must see the same ``y`` both times."""
    x = np.linspace(-2.0, 2.0, 50_000)
    y, pullback = ar.vjp(lambda v: np.tanh(v), x)
    g = np.ones_like(x)
    first = pullback(g)[0].copy()
    second = pullback(g)[0]
    np.testing.assert_array_equal(first, second)
    np.testing.assert_array_equal(g, 1.0)
    np.testing.assert_allclose(first, 1 - np.tanh(x) ** 2, rtol=1e-12)
