"""The inactive list hides no derivative, and what left it has real rules.

Every function declared inactive is probed on float inputs (each array argument
that accepts floats gets floats): a central difference along a random direction of
every float input must leave every float output unchanged. A function with a
float output that depends on a float input (``bincount``'s weights) fails the probe,
as the probe's own test shows. The rules that replaced such declarations
(``bincount``, the histograms) are checked through the engine against JAX.
"""

from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from engine_helpers import fd_grad

import activerules as ar

jax.config.update("jax_enable_x64", True)

_rng = np.random.default_rng(7)
F = _rng.uniform(-2.0, 2.0, 6)
F2 = _rng.uniform(-2.0, 2.0, 6)
M = _rng.uniform(-2.0, 2.0, (3, 3))
I6 = np.array([3, 0, 5, 2, 2, 1])
I6b = np.array([1, 4, 2, 3, 0, 7])

Call = tuple[tuple[Any, ...], dict[str, Any]]
A = Callable[[], Call]


def _a(*args: Any, **kwargs: Any) -> A:
    return lambda: (args, kwargs)


# One call per function, floats wherever the function accepts them.
INPUTS: dict[str, A] = {
    **{n: _a(F, F2) for n in ("greater", "greater_equal", "less", "less_equal", "equal", "not_equal",
                              "logical_and", "logical_or", "logical_xor", "isclose", "allclose",
                              "array_equal", "array_equiv", "isin", "may_share_memory", "shares_memory",
                              "result_type")},
    **{n: _a(F) for n in ("logical_not", "isfinite", "isinf", "isnan", "signbit", "isposinf", "isneginf",
                          "iscomplex", "isreal", "iscomplexobj", "isrealobj", "any", "all", "argmax", "argmin",
                          "nanargmax", "nanargmin", "argsort", "nonzero", "flatnonzero", "argwhere",
                          "count_nonzero", "shape", "ndim", "size", "zeros_like", "ones_like", "empty_like")},
    "isnat": _a(np.array(["2020-01-01", "NaT"], dtype="M8[D]")),  # datetimes only
    **{n: _a(I6, I6b) for n in ("bitwise_and", "bitwise_or", "bitwise_xor", "left_shift", "right_shift",
                                "gcd", "lcm")},  # integers only
    "invert": _a(I6),
    "argpartition": _a(F, 2),
    "lexsort": _a((F, F2)),
    "searchsorted": _a(np.sort(F), F2),
    "digitize": _a(F2, np.sort(F)),
    "bincount": _a(I6, F),  # not inactive any more: kept so the probe's own test can use it
    "unravel_index": _a(I6, (2, 4)),
    "ravel_multi_index": _a((I6 % 3, I6b % 3), (3, 3)),
    "tril_indices_from": _a(M), "triu_indices_from": _a(M), "diag_indices_from": _a(M),
    "min_scalar_type": _a(F[0]),
}
#: functions whose float output is not a function of the values at all (uninitialised memory)
NOT_VALUES = {"empty_like"}


def _float_outputs(y: Any) -> list[np.ndarray]:
    if isinstance(y, (tuple, list)):
        return [p for e in y for p in _float_outputs(e)]
    if isinstance(y, (np.ndarray, np.generic, float, complex)) and np.asarray(y).dtype.kind in "fc":
        return [np.asarray(y)]
    return []


def _shift(v: Any, d: Any, h: float) -> Any:
    if isinstance(v, np.ndarray) and v.dtype.kind in "fc":
        return v + h * d
    if isinstance(v, (np.floating, float)):
        return v + h * d
    if isinstance(v, tuple):
        return tuple(_shift(e, de, h) for e, de in zip(v, d))
    return v


def _direction(v: Any, rng: np.random.Generator) -> Any:
    if isinstance(v, tuple):
        return tuple(_direction(e, rng) for e in v)
    return rng.standard_normal(np.shape(v))


def derivative_of(fn: Any, args: tuple[Any, ...], kwargs: dict[str, Any], seed: int = 0) -> float:
    """The largest central difference of ``fn``'s float outputs along a random direction of
    all its float inputs (0.0 for a function with no derivative there)."""
    rng = np.random.default_rng(seed)
    dirs = [_direction(a, rng) for a in args]
    kdirs = {k: _direction(v, rng) for k, v in kwargs.items()}
    h = 1e-6
    plus = fn(*[_shift(a, d, h) for a, d in zip(args, dirs)], **{k: _shift(v, kdirs[k], h) for k, v in kwargs.items()})
    minus = fn(*[_shift(a, d, -h) for a, d in zip(args, dirs)], **{k: _shift(v, kdirs[k], -h) for k, v in kwargs.items()})
    worst = 0.0
    for p, m in zip(_float_outputs(plus), _float_outputs(minus)):
        if p.size:
            worst = max(worst, float(np.max(np.abs(p - m))) / (2 * h))
    return worst


INACTIVE = [fn for fn in ar.registry.functions() if ar.registry.is_inactive(fn)]


def _name(fn: Any) -> str:
    return getattr(fn, "__name__", repr(fn))


def test_every_inactive_function_has_probe_inputs() -> None:
    missing = [_name(fn) for fn in INACTIVE if _name(fn) not in INPUTS]
    assert not missing, f"add probe inputs (floats wherever accepted) to INPUTS for: {missing}"


@pytest.mark.parametrize("fn", INACTIVE, ids=_name)
def test_inactive_function_has_no_derivative(fn: Any) -> None:
    args, kwargs = INPUTS[_name(fn)]()
    if _name(fn) in NOT_VALUES:
        assert all(p.size == 0 or p.dtype.kind in "fc" for p in _float_outputs(fn(*args, **kwargs)))
        return
    assert derivative_of(fn, args, kwargs) == 0.0, (
        f"{_name(fn)} is declared inactive but a float output moves with its float inputs: "
        "give it a rule (activerules/rules) instead")


def test_probe_sees_bincounts_weights() -> None:
    args, kwargs = INPUTS["bincount"]()
    assert derivative_of(np.bincount, args, kwargs) > 0.1
    assert derivative_of(np.histogram, (F,), {"bins": 3, "weights": F2}) > 0.1


def test_weighted_counts_are_not_inactive() -> None:
    for fn in (np.bincount, np.histogram, np.histogram2d, np.histogramdd, np.histogram_bin_edges):
        assert not ar.registry.is_inactive(fn)
        assert ar.registry.has_rules(fn), fn.__name__


# ---------------------------------------------------------------- rules vs JAX
X = np.array([0.131, 0.917, 0.412, 0.553, 0.083, 0.771, 0.347, 0.642])
IDX = np.array([0, 2, 2, 1, 4, 2, 0, 3])
EDGES = np.array([0.0, 0.3, 0.5, 1.0])


def _w(n: int) -> np.ndarray:
    return np.cos(np.arange(n) + 0.4)


def _sq(xp: Any, y: Any) -> Any:
    return xp.sum(y ** 2 * _w(int(np.size(y))).reshape(np.shape(y)))


Program = Callable[[Any, Any], Any]


def _hist(xp: Any, x: Any, *a: Any) -> Any:
    h, e = xp.histogram(*a) if xp is np else xp.histogram(a[0], bins=a[1], range=a[2], density=a[3], weights=a[4])
    return _sq(xp, h) + _sq(xp, e)


def _hist2d(xp: Any, *a: Any) -> Any:
    if xp is np:
        h, ex, ey = np.histogram2d(*a)
    else:
        h, ex, ey = jnp.histogram2d(a[0], a[1], bins=a[2], range=a[3], density=a[4], weights=a[5])
    return _sq(xp, h) + _sq(xp, ex) + _sq(xp, ey)


def _histdd(xp: Any, *a: Any) -> Any:
    if xp is np:
        h, edges = np.histogramdd(*a)
    else:
        h, edges = jnp.histogramdd(a[0], bins=a[1], range=a[2], density=a[3], weights=a[4])
    return _sq(xp, h) + sum(_sq(xp, e) for e in edges)


CASES: dict[str, Program] = {
    "bincount": lambda xp, x: _sq(xp, xp.bincount(IDX, x) if xp is np else xp.bincount(IDX, x, length=5)),
    "bincount_minlength": lambda xp, x: _sq(xp, xp.bincount(IDX[:5], x[:5] * 2.0, 7) if xp is np
                                            else xp.bincount(IDX[:5], x[:5] * 2.0, length=7)),
    "histogram_weights": lambda xp, x: _hist(xp, x, X, 3, None, False, x),
    "histogram_weights_density": lambda xp, x: _hist(xp, x, X, 3, None, True, x ** 2),
    "histogram_data_edges": lambda xp, x: _hist(xp, x, x, 4, None, False, None),
    "histogram_data_edges_density": lambda xp, x: _hist(xp, x, x, 3, None, True, x[::-1] * 1.0),
    "histogram_explicit_edges_density": lambda xp, x: _hist(xp, x, X, EDGES * (x[7] + 0.45), None, True, x),
    "histogram_range": lambda xp, x: _hist(xp, x, x, 2, (0.0, 1.0), True, None),
    "histogram2d": lambda xp, x: _hist2d(xp, x[:4], x[4:], 2, None, True, x[4:][::-1] * 1.0),
    "histogram2d_data": lambda xp, x: _hist2d(xp, x[:4], x[4:] * 2.0, (2, 3), None, False, None),
    "histogramdd": lambda xp, x: _histdd(xp, xp.stack([x[:4], x[4:]], axis=1), 2, None, True, x[:4] * 1.0),
    "histogram_bin_edges": lambda xp, x: _sq(xp, xp.histogram_bin_edges(x, 5)),
}


#: the cases also checked against JAX (its eager histograms are slow: the rest use differences only)
JAX_CASES = ("bincount", "histogram_weights_density", "histogram2d_data")


@pytest.mark.parametrize("name", list(CASES))
def test_gradient_matches_finite_differences(name: str) -> None:
    program = CASES[name]
    expected = fd_grad(lambda x: program(np, x), X)
    np.testing.assert_allclose(ar.gradient(lambda x: program(np, x), X.copy()), expected, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("name", JAX_CASES)
def test_gradient_matches_jax(name: str) -> None:
    program = CASES[name]
    expected = np.asarray(jax.grad(lambda x: program(jnp, x))(jnp.asarray(X)))
    np.testing.assert_allclose(ar.gradient(lambda x: program(np, x), X.copy()), expected, rtol=1e-9, atol=1e-11)


def test_histogramdd_of_a_list_of_columns() -> None:
    """A list of tracked columns is ``histogramdd``'s D arrays (as NumPy reads it), not one array."""
    def f(xp: Any, x: Any) -> Any:
        return _histdd(xp, [x[:4], x[4:]], 2, None, True, x[:4])
    g = ar.gradient(lambda x: f(np, x), X.copy())
    np.testing.assert_allclose(g, fd_grad(lambda x: f(np, x), X), rtol=1e-6, atol=1e-7)
