"""Built-in rules at edge values: zeros, ties, infinities, one element, empty arrays.

Oracles: JAX in float64 where its gradient is finite and well defined, PyTorch where the
engines disagree at a non-differentiable point and we follow it (the conventions are in
the rules modules' docstrings and ``docs/numpy-coverage.md``), central finite differences
where the function is smooth, and JAX at nearby finite points for limits at infinities.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from engine_helpers import fd_grad
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import activerules as ar

jax = pytest.importorskip("jax")
jnp = pytest.importorskip("jax.numpy")
torch = pytest.importorskip("torch")
jax.config.update("jax_enable_x64", True)

_FEW = settings(max_examples=20, deadline=None)


def _ar(f: Callable[..., Any], *args: Any) -> tuple[np.ndarray, ...]:
    """The engine's gradient of the scalar ``f`` in every argument."""
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        got = ar.gradient(f, *[np.array(a, dtype=float) for a in args], argnums=tuple(range(len(args))))
    return tuple(np.asarray(g, dtype=float) for g in got)


def _jax(f: Callable[..., Any], *args: Any) -> tuple[np.ndarray, ...]:
    got = jax.grad(f, argnums=tuple(range(len(args))))(*[jnp.asarray(a, dtype=float) for a in args])
    return tuple(np.asarray(g) for g in got)


def _torch(f: Callable[..., Any], *args: Any) -> tuple[np.ndarray, ...]:
    ts = [torch.tensor(np.asarray(a, dtype=float), requires_grad=True) for a in args]
    f(*ts).backward()
    return tuple(np.zeros(np.shape(a)) if t.grad is None else t.grad.numpy() for a, t in zip(args, ts))


def _same(got: tuple[np.ndarray, ...], want: tuple[np.ndarray, ...]) -> None:
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-9, atol=1e-12)


_SHAPES = hnp.array_shapes(min_dims=1, max_dims=2, min_side=0, max_side=5)


def _with_zeros(shape: Any = _SHAPES) -> Any:
    """Float arrays in which zeros (and repeats) are common."""
    values = st.one_of(st.sampled_from([0.0, 0.0, 1.0, -2.0, 0.5]), st.floats(-3, 3, allow_subnormal=False))
    return hnp.arrays(np.float64, shape, elements=values)


# ----------------------------------------------------------------- cumprod and friends
def _axis_of(x: np.ndarray, data: Any) -> int | None:
    return data.draw(st.sampled_from([None, *range(x.ndim)]))


def _fd(f: Callable[[np.ndarray], Any], x: np.ndarray) -> tuple[np.ndarray]:
    """Central differences: exact up to rounding for the multilinear products here (``prod``,
    ``cumprod``), so they serve as the oracle over many shapes (JAX compiles per shape)."""
    return (fd_grad(lambda v: float(f(v)), x, eps=1e-3),)


def _close(got: tuple[np.ndarray, ...], want: tuple[np.ndarray, ...]) -> None:
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-7, atol=1e-9)


def test_cumprod_with_zero_entries_matches_jax() -> None:
    x = np.array([[2.0, 0.0, 3.0, 4.0, 0.0], [0.0, 0.0, 1.5, -1.0, 2.0], [1.0, 2.0, 3.0, 0.5, 0.0]])
    w = np.cos(np.arange(15.0)).reshape(3, 5)
    for axis in (0, 1):
        _same(_ar(lambda v: np.sum(w * np.cumprod(v, axis=axis)), x),
              _jax(lambda v: jnp.sum(w * jnp.cumprod(v, axis=axis)), x))


@_FEW
@given(_with_zeros(), st.data())
def test_cumprod_with_zero_entries_matches_finite_differences(x: np.ndarray, data: Any) -> None:
    axis = _axis_of(x, data)
    w = np.cos(np.arange(x.size)).reshape(x.shape) if axis is not None else np.cos(np.arange(x.size))
    _close(_ar(lambda v: np.sum(w * np.cumprod(v, axis=axis)), x), _fd(lambda v: np.sum(w * np.cumprod(v, axis=axis)), x))


@_FEW
@given(_with_zeros(), st.data())
def test_multiply_accumulate_and_cumulative_prod_with_zeros_match_finite_differences(x: np.ndarray, data: Any) -> None:
    axis = data.draw(st.sampled_from(range(x.ndim)))
    w = np.cos(np.arange(x.size)).reshape(x.shape)
    want = _fd(lambda v: np.sum(w * np.cumprod(v, axis=axis)), x)
    _close(_ar(lambda v: np.sum(w * np.multiply.accumulate(v, axis=axis)), x), want)
    if hasattr(np, "cumulative_prod"):
        _close(_ar(lambda v: np.sum(w * np.cumulative_prod(v, axis=axis)), x), want)
        wi = np.cos(np.arange(np.cumulative_prod(x, axis=axis, include_initial=True).size))

        def initial(v: Any) -> Any:
            return np.sum(np.cumulative_prod(v, axis=axis, include_initial=True).ravel() * wi)

        _close(_ar(initial, x), _fd(initial, x))


def test_nancumprod_with_zeros_matches_jax() -> None:
    x = np.array([[2.0, 0.0, np.nan, 3.0, 0.0], [0.5, np.nan, 0.0, 4.0, 1.5]])
    w = np.cos(np.arange(10.0)).reshape(2, 5)
    for axis in (None, 0, 1):
        ww = w.ravel() if axis is None else w
        _same(_ar(lambda v: np.sum(ww * np.nancumprod(v, axis=axis)), x),
              _jax(lambda v: jnp.sum(ww * jnp.nancumprod(v, axis=axis)), x))


def test_cumprod_of_zero_d_one_element_and_empty_matches_jax() -> None:
    for x in (np.array(0.0), np.array([0.0]), np.zeros(0), np.zeros((2, 0))):
        _same(_ar(lambda v: np.sum(np.cumprod(v) * 3.0), x), _jax(lambda v: jnp.sum(jnp.cumprod(v) * 3.0), x))


@_FEW
@given(_with_zeros(), st.data())
def test_prod_with_zeros_matches_finite_differences(x: np.ndarray, data: Any) -> None:
    axis = _axis_of(x, data)
    _close(_ar(lambda v: np.sum(np.prod(v, axis=axis) * 1.5), x), _fd(lambda v: np.sum(np.prod(v, axis=axis) * 1.5), x))


def test_prod_with_one_and_two_zeros_matches_jax() -> None:
    x = np.array([[0.0, 2.0, 3.0], [0.0, 2.0, 0.0], [1.5, -2.0, 0.5]])
    for axis in (None, 0, 1):
        _same(_ar(lambda v: np.sum(np.prod(v, axis=axis)), x), _jax(lambda v: jnp.sum(jnp.prod(v, axis=axis)), x))


def test_multiply_at_with_zero_factors_matches_finite_differences() -> None:
    idx = np.array([0, 1, 1, 3, 1, 3])

    def f(x: Any) -> Any:
        y = x[:5] * 1.0
        np.multiply.at(y, idx, x[5:])
        return (y * np.arange(1.0, 6.0)).sum()

    for x in (np.array([0.7, 0.0, 1.5, 0.4, 2.0, 0.0, -0.8, 0.6, 0.0, 1.1, 0.9]),   # one zero factor at 1, one at 3
              np.array([0.7, -1.2, 1.5, 0.4, 2.0, 1.3, 0.0, 0.6, 1.1, 0.0, 0.9])):  # two zeros at 1
        np.testing.assert_allclose(_ar(f, x)[0], fd_grad(f, x), rtol=1e-7, atol=1e-8)


# --------------------------------------------------------------------- std and var
def test_std_of_one_element_is_zero_as_torch() -> None:
    for x, kw in ((np.array([1.5]), {}), (np.array(2.0), {}), (np.array([[1.0], [2.0]]), {"axis": 1}),
                  (np.array([[1.0, 3.0]]), {"axis": 0, "keepdims": True})):
        tkw = {"dim": kw["axis"], "keepdim": kw.get("keepdims", False)} if "axis" in kw else {}
        _same(_ar(lambda v: np.sum(np.std(v, **kw)), x), _torch(lambda v: v.std(correction=0, **tkw).sum(), x))
    x = np.array([[np.nan, 1.5, np.nan], [1.0, 2.0, 4.0]])
    got = _ar(lambda v: np.sum(np.nanstd(v, axis=1)), x)[0]
    want = _torch(lambda v: v.std(correction=0), x[1])[0]
    _same((got[0], got[1]), (np.zeros(3), want))


@_FEW
@given(hnp.arrays(np.float64, st.tuples(st.integers(1, 3), st.integers(1, 4)),
                  elements=st.sampled_from([0.0, 1.5, -2.0])), st.sampled_from([0, 1]), st.data())
def test_std_with_all_equal_values_is_zero_as_torch(x: np.ndarray, ddof: int, data: Any) -> None:
    axis = data.draw(st.sampled_from([None, 0, 1]))
    x = np.broadcast_to(x[:, :1], x.shape).copy() if axis == 1 else np.broadcast_to(x[:1], x.shape).copy()
    if axis is None:
        x[...] = x.flat[0]
    n = x.size if axis is None else x.shape[axis]
    if n - ddof <= 0:
        return
    tkw = {} if axis is None else {"dim": axis}
    for np_fn, t_fn in ((np.std, torch.std), (np.var, torch.var)):
        _same(_ar(lambda v: np.sum(np_fn(v, axis=axis, ddof=ddof)), x),
              _torch(lambda v: t_fn(v, correction=ddof, **tkw).sum(), x))


# ------------------------------------------------------------------------- power
def test_power_with_zero_exponent_at_zero_is_zero_as_torch() -> None:
    x, y = np.array([0.0, 0.0, 2.0, 0.0]), np.array([0.0, 2.0, 0.0, 0.5])
    want = _torch(lambda a, b: torch.pow(a, b).sum(), x, y)
    _same(_ar(lambda a, b: np.sum(np.power(a, b)), x, y), want)
    _same(_ar(lambda a, b: np.sum(np.float_power(a, b)), x, y), want)
    _same(_ar(lambda a, b: np.sum(a ** b), x, y), want)
    _same(_ar(lambda a: np.sum(np.power(a, 0.0)), x), _torch(lambda a: torch.pow(a, 0.0).sum(), x))
    _same(_ar(lambda a: np.sum(a ** 0.0), x), _torch(lambda a: torch.pow(a, 0.0).sum(), x))


def test_complex_power_with_zero_exponent_at_zero_is_zero() -> None:
    z = np.array([0.0 + 0.0j, 1.0 + 0.5j])
    got = ar.gradient(lambda v: np.sum(np.real(np.power(v, 0.0 + 0.0j))), z)
    np.testing.assert_array_equal(got, np.zeros(2, complex))


@_FEW
@given(_with_zeros(st.just((5,))), st.sampled_from([0.0, 1.0, 2.0, 3.0, 0.5, 1.5]))
def test_power_at_zero_base_matches_jax_where_finite(x: np.ndarray, p: float) -> None:
    """``x ** p`` and its derivative at ``x = 0`` (JAX's is finite for ``p >= 1`` and 0 for ``p = 0``)."""
    got = _ar(lambda v: np.sum(np.power(np.abs(v) + 0.0 * v, p) + v ** 2.0), x)[0]
    want = _jax(lambda v: jnp.sum(jnp.power(jnp.abs(v) + 0.0 * v, p) + v ** 2.0), x)[0]
    fine = np.isfinite(want) & (x != 0)  # abs at 0 is a convention point
    np.testing.assert_allclose(got[fine], want[fine], rtol=1e-9, atol=1e-12)
    if p in (0.0, 2.0):
        _same(_ar(lambda v: np.sum(np.power(v, p)), x), _torch(lambda v: torch.pow(v, p).sum(), x))


# -------------------------------------------------------- hypot, arctan2, logaddexp at 0 / inf
def test_hypot_at_origin_is_the_norm_convention() -> None:
    """``hypot(0, 0)`` = ``norm([0, 0])``: cotangent 0, as PyTorch's vector norm at 0."""
    a, b = np.array([0.0, 3.0]), np.array([0.0, 4.0])
    want = _torch(lambda u, v: torch.linalg.vector_norm(torch.stack([u, v]), dim=0).sum(), a, b)
    _same(_ar(lambda u, v: np.sum(np.hypot(u, v)), a, b), want)


def test_arctan2_at_origin_is_zero_as_torch() -> None:
    a, b = np.array([0.0, 1.0, 0.0]), np.array([0.0, 2.0, -1.0])
    _same(_ar(lambda u, v: np.sum(np.arctan2(u, v)), a, b), _torch(lambda u, v: torch.atan2(u, v).sum(), a, b))


@pytest.mark.parametrize(("np_fn", "j_fn"), [(np.logaddexp, jnp.logaddexp), (np.logaddexp2, jnp.logaddexp2)])
def test_logaddexp_at_infinities_is_the_limit(np_fn: Any, j_fn: Any) -> None:
    """Both ``-inf`` (or both ``+inf``): the limit along ``a = b`` (1/2 each); one ``+inf``: all to it.
    The oracle is JAX at large finite values (``exp(-1000)`` underflows to 0)."""
    inf, big = np.inf, 1e3
    a, b = np.array([-inf, inf, inf, -inf, 0.5]), np.array([-inf, inf, 2.0, 3.0, -inf])
    a_lim, b_lim = np.array([-big, big, big, -big, 0.5]), np.array([-big, big, 2.0, 3.0, -big])
    _same(_ar(lambda u, v: np.sum(np_fn(u, v)), a, b), _jax(lambda u, v: jnp.sum(j_fn(u, v)), a_lim, b_lim))


def test_logaddexp_reduce_at_infinities_is_the_limit() -> None:
    inf = np.inf
    x = np.array([[-inf, -inf, -inf], [inf, 1.0, inf], [-inf, 0.0, 1.0]])
    lim = np.where(np.isinf(x), np.sign(x) * 1e3, x)
    lse = jax.scipy.special.logsumexp
    _same(_ar(lambda v: np.sum(np.logaddexp.reduce(v, axis=1)), x), _jax(lambda v: jnp.sum(lse(v, axis=1)), lim))
    _same(_ar(lambda v: np.sum(np.logaddexp2.reduce(v, axis=1)), x),
          _jax(lambda v: jnp.sum(lse(v * np.log(2), axis=1) / np.log(2)), lim))


# ----------------------------------------------------------------------- norms at 0
@pytest.mark.parametrize("ord", [0.5, 0.25, -1])
def test_vector_norm_below_one_at_zero_entries_as_torch(ord: float) -> None:
    for x in (np.array([0.0, 2.0, -1.0]), np.array([0.0, 0.0, 1.5])):
        want = _torch(lambda v: torch.linalg.vector_norm(v, ord), x)
        _same(_ar(lambda v: np.linalg.norm(v, ord), x), want)
        if hasattr(np.linalg, "vector_norm"):
            _same(_ar(lambda v: np.linalg.vector_norm(v, ord=ord), x), want)


@pytest.mark.parametrize("ord", [2, -2])
def test_matrix_two_norm_splits_tied_singular_values_as_torch(ord: int) -> None:
    for m in (np.zeros((2, 2)), np.eye(3) * 2.0, np.diag([3.0, 3.0, 1.0]), np.diag([1.0, 2.0, 1.0])):
        _same(_ar(lambda v: np.linalg.norm(v, ord), m), _torch(lambda v: torch.linalg.matrix_norm(v, ord), m))


def test_vector_norms_at_zero_are_zero_as_torch() -> None:
    for ord in (None, 1, 2, 3, np.inf, -np.inf):
        x = np.zeros(3)
        _same(_ar(lambda v: np.linalg.norm(v, ord), x), _torch(lambda v: torch.linalg.vector_norm(v, ord or 2), x))


# -------------------------------------------------------------------- det singular
@pytest.mark.parametrize("m", [np.array([[1.0, 2.0], [2.0, 4.0]]), np.zeros((3, 3)),
                               np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [7.0, 8.0, 9.0]]),
                               np.stack([np.eye(2), np.array([[0.0, 1.0], [0.0, 0.0]])])])
def test_det_of_a_singular_matrix_matches_jax(m: np.ndarray) -> None:
    _same(_ar(lambda v: np.sum(np.linalg.det(v)), m), _jax(lambda v: jnp.sum(jnp.linalg.det(v)), m))


def test_det_of_a_complex_singular_matrix_matches_finite_differences() -> None:
    m = np.array([[1 + 1j, 2 - 0.5j, 0.3j], [1 + 1j, 2 - 0.5j, 0.3j], [0.5, -1j, 2.0]])  # exactly singular
    with pytest.raises(np.linalg.LinAlgError):
        np.linalg.inv(m)
    ar.testing.check_rule(np.linalg.det, m)


# ----------------------------------------------------- elementwise audit against JAX
_UNARY = [(np.sqrt, jnp.sqrt), (np.cbrt, jnp.cbrt), (np.exp, jnp.exp), (np.log, jnp.log), (np.sin, jnp.sin),
          (np.tanh, jnp.tanh), (np.arcsin, jnp.arcsin), (np.arctan, jnp.arctan), (np.sinc, jnp.sinc),
          (np.square, jnp.square), (np.reciprocal, jnp.reciprocal), (np.expm1, jnp.expm1), (np.log1p, jnp.log1p),
          (np.arcsinh, jnp.arcsinh), (np.arctanh, jnp.arctanh), (np.exp2, jnp.exp2), (np.log2, jnp.log2),
          (np.sign, jnp.sign)]


@settings(max_examples=40, deadline=None)
@given(st.sampled_from(_UNARY), hnp.arrays(np.float64, st.sampled_from([0, 6]), elements=st.one_of(
    st.sampled_from([0.0, -0.0, 1.0, -1.0, 0.5]), st.floats(-2, 2).filter(lambda v: abs(v) > 1e-3))))
def test_unary_at_edge_values_matches_jax_where_finite(fns: Any, x: np.ndarray) -> None:
    """(Tiny nonzero inputs are left out: JAX's ``sinc`` derivative is wrong there, 2e39 at 8e-56.)"""
    np_fn, j_fn = fns
    got = _ar(lambda v: np.sum(np_fn(v) * 0.0 + np_fn(v)), x)[0]  # a zero cotangent path too
    want = np.asarray(jax.grad(lambda v: jnp.sum(j_fn(v)))(jnp.asarray(x)))
    fine = np.isfinite(want)
    np.testing.assert_allclose(got[fine], want[fine], rtol=1e-9, atol=1e-12)


def test_sinc_slope_near_zero_is_accurate() -> None:
    """``(cos(pi x) - sinc(x)) / x`` cancels near 0 (JAX and PyTorch: 36% off at 1e-8); the
    oracle is mpmath's derivative in 50 digits."""
    mpmath = pytest.importorskip("mpmath")
    mpmath.mp.dps = 50
    x = np.array([1e-8, -3e-6, 1e-4, 2.5e-3, 3.1e-3, 0.2, 0.0])
    got = _ar(lambda v: np.sum(np.sinc(v)), x)[0]
    want = [float(mpmath.diff(lambda t: mpmath.sin(mpmath.pi * t) / (mpmath.pi * t) if t else 1, mpmath.mpf(v)))
            for v in x]
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-300)


def test_abs_and_sign_at_zero_are_zero_as_torch() -> None:
    x = np.array([0.0, -0.0, 1.5, -2.0])
    for np_fn, t_fn in ((np.abs, torch.abs), (np.fabs, torch.abs), (np.sign, torch.sign)):
        _same(_ar(lambda v: np.sum(np_fn(v) * np.arange(1.0, 5.0)), x),
              _torch(lambda v: (t_fn(v) * torch.arange(1.0, 5.0, dtype=torch.float64)).sum(), x))


def test_maximum_minimum_ties_and_nans_match_jax() -> None:
    a, b = np.array([1.0, 2.0, np.nan, 0.0, 3.0]), np.array([1.0, 0.5, 1.0, 0.0, np.nan])
    for np_fn, j_fn in ((np.maximum, jnp.maximum), (np.minimum, jnp.minimum)):
        _same(_ar(lambda u, v: np.sum(np_fn(u, v)), a, b), _jax(lambda u, v: jnp.sum(j_fn(u, v)), a, b))


@pytest.mark.parametrize("ord", [1, -1, np.inf, -np.inf, "fro", "nuc", 2, -2])
def test_matrix_norms_at_zero_as_torch(ord: Any) -> None:
    m = np.zeros((2, 3))
    _same(_ar(lambda v: np.linalg.norm(v, ord), m), _torch(lambda v: torch.linalg.matrix_norm(v, ord), m))


_BINARY = [(np.divide, jnp.divide), (np.power, jnp.power), (np.float_power, jnp.float_power),
           (np.arctan2, jnp.arctan2), (np.hypot, jnp.hypot), (np.logaddexp, jnp.logaddexp),
           (np.maximum, jnp.maximum), (np.fmin, jnp.fmin), (np.copysign, jnp.copysign), (np.multiply, jnp.multiply),
           (np.subtract, jnp.subtract), (np.remainder, jnp.remainder)]
_EDGE = st.one_of(st.sampled_from([0.0, 1.0, -1.0, 2.0, 0.5]), st.floats(-3, 3).filter(lambda v: abs(v) > 1e-3))


@settings(max_examples=40, deadline=None)
@given(st.sampled_from(_BINARY), hnp.arrays(np.float64, 4, elements=_EDGE), hnp.arrays(np.float64, 4, elements=_EDGE))
def test_binary_at_edge_values_matches_jax_where_defined(fns: Any, a: np.ndarray, b: np.ndarray) -> None:
    """Where JAX's partials are finite and the point is not one of the chosen conventions
    (a tie, the origin of ``hypot``/``arctan2``, ``b = 0`` in ``power``'s base partial)."""
    np_fn, j_fn = fns
    got = _ar(lambda u, v: np.sum(np_fn(u, v)), a, b)
    want = _jax(lambda u, v: jnp.sum(j_fn(u, v)), a, b)
    chosen = (a == b) | ((a == 0) & (b == 0)) | (b == 0) | (a == 0) & (np_fn is np.copysign)
    with np.errstate(all="ignore"):
        defined = np.isfinite(np_fn(a, b))
        if np_fn is np.remainder:  # the divisor's partial: NumPy's quotient, not floor(a / b) (below)
            chosen |= np.floor_divide(a, b) != np.floor(a / b)
    for g, w in zip(got, want):
        fine = np.isfinite(w) & ~chosen & defined
        np.testing.assert_allclose(g[fine], w[fine], rtol=1e-9, atol=1e-12)


def test_remainder_divisor_partial_is_numpys_quotient() -> None:
    """Where ``a / b`` rounds up to an integer NumPy's quotient is one less than JAX's
    ``floor(a / b)``: the divisor's partial follows NumPy's value (documented choice)."""
    a, b = np.array([1.0, 7.0]), np.array([0.01, 0.1])
    assert np.all(np.floor_divide(a, b) != np.floor(a / b))  # the draws are such points
    got = _ar(lambda u, v: np.sum(np.remainder(u, v)), a, b)[1]
    np.testing.assert_array_equal(got, -np.floor_divide(a, b))


@pytest.mark.parametrize("fn", [np.multiply.reduce, np.subtract.reduce, np.divide.reduce, np.power.reduce],
                         ids=lambda f: f.__self__.__name__)
def test_ufunc_reduce_of_a_zero_d_array_is_the_identity_as_jax(fn: Any) -> None:
    """NumPy reduces a 0-d array over its default ``axis=0`` to the array itself."""
    for x in (np.array(1.5), np.array(0.0)):
        _same(_ar(lambda v: fn(v) * 2.0, x), _jax(lambda v: jnp.prod(v) * 2.0, x))


@pytest.mark.parametrize("fn", [np.median, lambda v: np.median(v, axis=-1)])
def test_median_of_empty_arrays_has_an_empty_gradient(fn: Any) -> None:
    """(NumPy's median of nothing is NaN; ``quantile``/``percentile`` of nothing raise in NumPy.)"""
    for x in (np.zeros(0), np.zeros((2, 0))):
        got = _ar(lambda v: np.sum(fn(v)), x)[0]
        assert got.shape == x.shape
        np.testing.assert_array_equal(got, fd_grad(lambda v: 0.0, x))


def test_trapezoid_over_fewer_than_two_points_has_a_zero_gradient() -> None:
    trapezoid = getattr(np, "trapezoid", None) or getattr(np, "trapz")  # noqa: B009
    for x in (np.zeros((3, 0)), np.array([[0.5], [2.0]]), np.array([1.5])):
        got = _ar(lambda v: np.sum(trapezoid(v) * 2.0), x)[0]
        np.testing.assert_array_equal(got, fd_grad(lambda v: float(np.sum(trapezoid(v) * 2.0)), x))


def test_infinite_slopes_at_zero_stay_infinite_as_jax() -> None:
    x = np.array([0.0, 1.0])
    for np_fn, j_fn in ((np.sqrt, jnp.sqrt), (np.cbrt, jnp.cbrt), (np.log, jnp.log), (np.reciprocal, jnp.reciprocal),
                        (lambda v: np.power(v, 0.5), lambda v: jnp.power(v, 0.5))):
        got, want = _ar(lambda v: np.sum(np_fn(v)), x)[0], _jax(lambda v: jnp.sum(j_fn(v)), x)[0]
        assert np.isinf(got[0]) and got[0] == want[0]
        _same((got[1:],), (want[1:],))


# ------------------------------------------------------------------ linspace's step
@pytest.mark.parametrize(("num", "endpoint"), [(1, True), (0, True), (0, False), (1, False), (3, True)])
@pytest.mark.parametrize("ends", [(0.3, 1.7), (np.array([0.3, -1.0]), np.array([1.7, 2.5]))])
def test_linspace_step_without_a_step_passes_no_cotangent_as_jax(num: int, endpoint: bool, ends: Any) -> None:
    """With ``num=1`` and ``endpoint`` (or ``num=0``) NumPy's step is the constant NaN: a cotangent
    for it used to turn both ends' cotangents into NaN; JAX (and now the rule) adds nothing."""
    kw = {"num": num, "endpoint": endpoint, "retstep": True}
    (y, step), pullback = ar.vjp(lambda s, e: np.linspace(s, e, **kw), *ends)
    g = (np.cos(np.arange(np.size(y)) + 0.5).reshape(np.shape(y)), np.full(np.shape(step), 0.7))
    _, pull = jax.vjp(lambda s, e: jnp.linspace(s, e, **kw), *ends)
    _same(tuple(pullback(g)), tuple(np.asarray(v) for v in pull(g)))


@pytest.mark.parametrize("n, m", [(2, 3), (4, 5), (2, 5), (1, 3), (3, 2), (3, 4)])
def test_correlate_same_with_a_shorter_first_argument_matches_jax(n: int, m: int) -> None:
    """``np.correlate(a, v, "same")`` with ``len(a) < len(v)``: NumPy computes the swapped,
    reversed correlation, whose window starts one later for an even ``len(a)``; the
    cotangents were shifted there (found by the long oracle run)."""
    rng = np.random.default_rng(n * 10 + m)
    a, v = rng.normal(size=n), rng.normal(size=m)
    g = rng.normal(size=np.correlate(a, v, "same").shape)
    _, pullback = ar.vjp(lambda a, v: np.correlate(a, v, "same"), a, v)
    _, jax_pullback = jax.vjp(lambda a, v: jnp.correlate(a, v, "same"), a, v)
    for got, want in zip(pullback(g), jax_pullback(g)):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
