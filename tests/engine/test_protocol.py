"""Array methods of the stand-ins are the NumPy functions of the same meaning,
recorded through the registry."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from engine_helpers import assert_gradient_matches_fd

import activerules as ar
from activerules.engine import UntrackedWriteError, gradient, protocol

X = np.array([0.3, -1.1, 2.0, 0.7, 1.5, -0.4])


def _m(x: Any) -> Any:
    return x.reshape(2, 3)


def _fill(x: Any) -> Any:
    y = np.zeros_like(x)
    y.fill(x[1])
    return (y * x).sum()


def _sort_in_place(x: Any) -> Any:
    y = _m(x) ** 2
    y.sort(axis=0)
    z = x * 2
    z.sort()
    return (y * np.arange(6.0).reshape(2, 3)).sum() + (z * np.arange(6.0)).sum()


def _copy_is_independent(x: Any) -> Any:
    y = x.copy()
    y[0] = 2.0
    return (y * x).sum()


PROGRAMS = {
    "astype_float": lambda x: (x.astype(np.complex128) * x).real.sum() + x[0].astype(np.float64) ** 2,
    "astype_int_has_no_derivative": lambda x: (x * 0.9).astype(int).sum() * x[0] + x.sum(),
    "cumsum_cumprod": lambda x: (x.cumsum() ** 2).sum() + x.cumprod().sum(),
    "trace_prod_ptp": lambda x: np.outer(x, x).trace() + _m(x).prod(axis=0).sum(),
    "max_min_arg": lambda x: _m(x).max(axis=1).sum() - x.min() + x[x.argmax()] * x[x.argmin()],
    "mean_var_std": lambda x: _m(x).mean(1).sum() + x.var() + _m(x).std(axis=0, ddof=1).sum(),
    "dot_clip_round": lambda x: x.dot(x) + _m(x).dot(np.ones(3)).sum() + x.clip(-1, 1).sum() + x.round(2).sum(),
    "conj_real_imag": lambda x: (x.conj() * x).real.sum() + ((x * 1j).imag ** 2).sum() + (x[0] * 2.0).conj(),
    "shapes": lambda x: ((x.flatten() * x.ravel()).sum() + (_m(x).transpose() ** 2).sum()
                         + (_m(x).reshape(3, 2).swapaxes(0, 1)[None].squeeze() ** 3).sum()),
    "take_repeat": lambda x: x.take([0, 0, 3]).sum() + x.repeat(2).sum() ** 2,
    "copy": _copy_is_independent,
    "fill": _fill,
    "sort_in_place": _sort_in_place,
}


@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_methods_match_finite_differences(name: str) -> None:
    assert_gradient_matches_fd(PROGRAMS[name], X)


@pytest.mark.parametrize("method", ["item", "tolist"])
def test_conversion_to_python_numbers_is_refused(method: str) -> None:
    with pytest.raises(UntrackedWriteError, match=rf"x\.{method}\(\) converts"):
        gradient(lambda x: getattr(x, method)(), X.copy())
    with pytest.raises(UntrackedWriteError, match=rf"x\.{method}\(\) converts"):
        gradient(lambda x: getattr(x[0] * 2.0, method)(), X.copy())


def test_a_method_whose_function_has_no_rule_raises_no_rule_error() -> None:
    ediff1d = protocol._method("ediff1d", np.ediff1d)  # a table entry for a function without a rule
    with pytest.raises(ar.NoRuleError, match="ediff1d"):
        gradient(lambda x: ediff1d(x).sum(), X.copy())


def test_numpy_functions_of_undifferentiated_arrays_inside_a_differentiation():
    """An undifferentiated array argument (an inert stand-in) given to an allocation
    function (np.linspace), inside a tuple (np.ravel_multi_index) or negated as a mask
    (~m, np.select) recursed or raised; the gradient is the NumPy value it multiplies."""
    c, idx, m = np.array(2.0), np.array([0, 2]), np.array([True, False])
    np.testing.assert_array_equal(
        ar.gradient(lambda x, c: (x * np.linspace(0, c, 3)).sum(), np.ones(3), c), np.linspace(0, 2.0, 3))
    np.testing.assert_array_equal(
        ar.gradient(lambda x, i: (x * np.ravel_multi_index((i,), (3,))).sum(), np.ones(2), idx),
        np.ravel_multi_index((idx,), (3,)).astype(float))
    np.testing.assert_array_equal(
        ar.gradient(lambda x, m: np.select([m, ~m], [x, 2 * x]).sum(), np.ones(2), m), np.where(m, 1.0, 2.0))
