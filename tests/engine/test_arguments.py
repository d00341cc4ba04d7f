"""A keyword is as good as a position: an active value that reaches NumPy only by
keyword is bound to its parameter before dispatch and differentiated (it used to
recurse until RecursionError, or be refused with "pass it positionally"); an active
value in a keyword-only parameter raises an error naming the function and the
parameter. Oracles: JAX (float64) and central finite differences."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import pytest
from engine_helpers import fd_grad

import activerules as ar

jax = pytest.importorskip("jax")
jax.config.update("jax_enable_x64", True)
jnp = jax.numpy

X = np.array([0.3, 1.7, -0.4, 2.2])
W = np.array([0.5, 1.5, 2.0, 0.7])
M = np.array([[0.5, -1.2, 2.0], [1.5, 0.3, -0.7]])


def _both(f: Callable[..., Any], x: np.ndarray, w: np.ndarray) -> None:
    """The gradient of f in each argument, and in both at once, against finite differences."""
    want_x, want_w = fd_grad(lambda x: f(x, w), x), fd_grad(lambda w: f(x, w), w)
    np.testing.assert_allclose(ar.gradient(lambda w: f(x, w), w.copy()), want_w, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(ar.gradient(lambda x: f(x, w), x.copy()), want_x, rtol=1e-6, atol=1e-9)
    got = ar.gradient(f, x.copy(), w.copy(), argnums=(0, 1))
    np.testing.assert_allclose(got[0], want_x, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(got[1], want_w, rtol=1e-6, atol=1e-9)


def test_average_weights_by_keyword() -> None:
    _both(lambda x, w: np.average(x, weights=w), X, W)
    jf = jax.grad(lambda x, w: jnp.average(x, weights=w), argnums=(0, 1))
    for got, want in zip(ar.gradient(lambda x, w: np.average(x, weights=w), X.copy(), W.copy(), argnums=(0, 1)),
                         jf(X, W)):
        np.testing.assert_allclose(got, want, rtol=1e-10)


def test_average_weights_by_keyword_with_axis() -> None:
    w3 = np.array([0.2, 0.5, 1.3])
    _both(lambda x, w: np.sum(np.average(x, axis=1, weights=w) ** 2), M, w3)


def test_interp_fp_by_keyword() -> None:
    xp = np.array([-1.0, 0.0, 1.0, 2.5])
    _both(lambda x, fp: np.sum(np.interp(x, xp, fp=fp) ** 2), X, W)


def test_interp_left_right_by_keyword_or_position() -> None:
    """Active left=/right= (bound to their positions) get the cotangent of the outputs
    outside the knots; positional ones used to raise NotImplementedError."""
    xs = np.array([-2.0, 0.3, 1.1, 3.5, -1.5])
    xp = np.array([-1.0, 0.0, 1.0, 2.5])
    f_kw = lambda w: np.sum(np.interp(xs, xp, w, left=w[0] * 3.0, right=w[1] - 1.0) * W[0] ** np.arange(5))  # noqa: E731
    f_pos = lambda w: np.sum(np.interp(xs, xp, w, w[2], w[3]) * np.arange(1.0, 6.0))  # noqa: E731
    for f in (f_kw, f_pos):
        np.testing.assert_allclose(ar.gradient(f, W.copy()), fd_grad(f, W), rtol=1e-6, atol=1e-9)


def test_dot_arguments_by_keyword() -> None:
    _both(lambda x, w: np.dot(a=x, b=w), X, W)
    _both(lambda x, w: np.dot(b=w, a=x), X, W)
    _both(lambda x, w: np.dot(x, b=w), X, W)  # a constant required argument by keyword, too


def test_sum_array_by_keyword() -> None:
    np.testing.assert_allclose(ar.gradient(lambda x: np.sum(a=x ** 2), X.copy()), 2 * X)


@pytest.mark.parametrize("spelling", ["a_min", "min"])
def test_clip_bound_by_keyword(spelling: str) -> None:
    if spelling == "min" and np.lib.NumpyVersion(np.__version__) < "2.1.0":
        pytest.skip("np.clip's min= spelling is NumPy >= 2.1")
    lo = np.array([0.5, 1.9, 0.0, 1.9])  # selected at the first and third entries

    def f(lo: Any) -> Any:
        kw = {spelling: lo, "a_max" if spelling == "a_min" else "max": 2.0}
        return np.sum(np.clip(X, **kw) * W)

    np.testing.assert_allclose(ar.gradient(f, lo.copy()), fd_grad(f, lo), rtol=1e-7, atol=1e-9)


def test_active_value_in_a_parameter_the_rule_does_not_differentiate_is_refused_by_name() -> None:
    """np.sum's rule implements initial= as a constant: an active one (by keyword, bound
    to its position, or by position) is refused, not given a zero cotangent."""
    with pytest.raises(ar.ParameterError, match=r"numpy\.sum: an active value was passed as 'initial'"):
        ar.gradient(lambda x: np.sum(x, initial=x[0]), X.copy())
    with pytest.raises(ar.ParameterError, match=r"numpy\.sum: an active value was passed as 'initial'"):
        ar.gradient(lambda x: np.sum(x, None, None, None, False, x[0]), X.copy())
    with pytest.raises(ar.ParameterError, match=r"numpy\.nan_to_num: an active value was passed as 'nan'"):
        ar.gradient(lambda x: np.sum(np.nan_to_num(x, nan=x[0])), X.copy())


def test_active_value_in_a_keyword_only_parameter_is_refused_by_name() -> None:
    with pytest.raises(ar.ParameterError, match=r"numpy\.multiply: an active value was passed as where="):
        ar.gradient(lambda x: np.sum(np.multiply(X, 2.0, where=x)), X.copy())


def test_a_default_filled_in_by_the_binding_is_not_refused() -> None:
    """np.sum(a=x, keepdims=True, initial=...) binds a only; np.nansum(x, initial=w) fills
    keepdims (which nansum's rule does not implement) with NumPy's <no value>, its default:
    the error is about initial."""
    np.testing.assert_allclose(ar.gradient(lambda x: np.sum(a=x, keepdims=True, initial=1.0)[0], X.copy()),
                               np.ones_like(X))
    with pytest.raises(ar.ParameterError, match=r"numpy\.nansum: an active value was passed as 'initial'"):
        ar.gradient(lambda x: np.nansum(x, initial=x[0]), X.copy())


def test_diff_prepend_and_append_by_keyword_or_position() -> None:
    """An active prepend/append (by keyword: bound to its position) gets its cotangent; it
    used to get none when passed by position (a silent zero)."""
    f_kw = lambda x: np.sum(np.diff(x[1:], prepend=x[:1], append=x[0] * 2.0) ** 2 * W[:4])  # noqa: E731
    f_pos = lambda x: np.sum(np.diff(x[1:], 1, -1, x[:1]) ** 2 * W[:3])  # noqa: E731
    for f in (f_kw, f_pos):
        np.testing.assert_allclose(ar.gradient(f, X.copy()), fd_grad(f, X), rtol=1e-6, atol=1e-9)


def test_keyword_binding_keeps_the_other_keywords() -> None:
    """np.average(x, weights=w, keepdims=True): weights moves to its position, keepdims stays."""
    w3 = np.array([0.2, 0.5, 1.3])
    _both(lambda x, w: np.sum(np.average(x, axis=1, weights=w, keepdims=True) ** 2), M, w3)


def test_adapters_refuse_a_parameter_the_rule_does_not_implement() -> None:
    """The engine adapters run rules through the same check (here HIPS autograd)."""
    autograd = pytest.importorskip("autograd")
    from activerules.adapters.autograd import to_autograd

    aprod = to_autograd(np.prod)
    with pytest.raises(ar.ParameterError, match=r"numpy\.prod: the parameter 'initial'"):
        autograd.grad(lambda x: aprod(x, initial=2.0))(X.copy())


def test_a_positional_parameter_is_checked_by_value_at_each_call() -> None:
    """The plan is cached per argument types: nan_to_num(x, True) (copy's default) is
    accepted, nan_to_num(x, False) (in place, which the rule does not do) refused, in
    either order."""
    x = np.array([1.0, 2.0, np.nan])
    for _ in range(2):
        np.testing.assert_array_equal(ar.gradient(lambda x: np.sum(np.nan_to_num(x, True)), x.copy()), [1, 1, 0])
        with pytest.raises(ar.ParameterError, match=r"numpy\.nan_to_num: the parameter 'copy' .*\(copy=False\)"):
            ar.gradient(lambda x: np.sum(np.nan_to_num(x, False)), x.copy())
