"""Higher-order derivatives, engine/nested.py (issue 11, capability 3): nested
differentiations recorded at the deepest level and swept under the enclosing one, no
perturbation confusion (Siskind & Pearlmutter's checks), Hessian-vector products,
gradients of vjp pullbacks, rules differentiated twice or marked once differentiable.
Oracles: JAX in float64 and central differences."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from engine_helpers import A3 as A
from engine_helpers import V3 as V
from engine_helpers import X3 as X

import activerules as ar

pytestmark = pytest.mark.usefixtures("x64")  # JAX in float64 (conftest.py)


def test_the_classic_confusion_check_is_one() -> None:
    # d/dx [x * d/dy (x + y)] = 1; a confused engine gives 2
    assert ar.gradient(lambda x: x * ar.gradient(lambda y: x + y, 1.0), 1.0) == pytest.approx(1.0)


def test_an_outer_value_is_active_inside_the_inner_gradient() -> None:
    # d/dx [x * d/dy (x * y)] = 2x; an outer value taken as a constant gives x
    assert ar.gradient(lambda x: x * ar.gradient(lambda y: x * y, 1.0), 4.0) == pytest.approx(8.0)


def test_an_inner_function_of_the_outer_value_only_has_zero_derivative() -> None:
    # autodidax: g(y) = x, d/dy g = 0, so the outer derivative is 0
    assert ar.gradient(lambda x: x * ar.gradient(lambda y: x, 1.0), 3.0) == pytest.approx(0.0)


def test_second_and_third_derivatives_of_sin() -> None:
    d2 = ar.gradient(lambda x: ar.gradient(np.sin, x), 0.7)
    d3 = ar.gradient(lambda x: ar.gradient(lambda z: ar.gradient(np.sin, z), x), 0.7)
    assert d2 == pytest.approx(-np.sin(0.7), rel=1e-12)
    assert d3 == pytest.approx(-np.cos(0.7), rel=1e-12)


def test_arrays_confusion_checks() -> None:
    def outer(x: Any) -> Any:
        return (x * ar.gradient(lambda y: (x * y).sum(), np.ones(3))).sum()
    np.testing.assert_allclose(ar.gradient(outer, X), 2 * X, rtol=1e-12)


def _f(x: Any) -> Any:
    return (np.sin(x) * x ** 2).sum() + x @ A @ x + np.exp(x[0] * x[2])


def _jf(x: Any) -> Any:
    return (jnp.sin(x) * x ** 2).sum() + x @ A @ x + jnp.exp(x[0] * x[2])


def test_hessian_vector_product() -> None:
    hvp = ar.gradient(lambda x: ar.gradient(_f, x) @ V, X)
    expected = jax.grad(lambda x: jax.grad(_jf)(x) @ V)(X)
    np.testing.assert_allclose(hvp, expected, rtol=1e-10)


def test_gradient_of_a_vjp_pullback_inside_the_function() -> None:
    w = np.array([1.0, -2.0, 0.5])

    def g(x: Any) -> Any:
        _, pullback = ar.vjp(lambda z: np.tanh(A @ z) * z, x)
        return (pullback(w)[0] * V).sum()

    def jg(x: Any) -> Any:
        _, pullback = jax.vjp(lambda z: jnp.tanh(A @ z) * z, x)
        return (pullback(w)[0] * V).sum()

    np.testing.assert_allclose(ar.gradient(g, X), jax.grad(jg)(X), rtol=1e-10)


def test_gradient_of_a_pullback_with_respect_to_the_cotangent() -> None:
    _, pullback = ar.vjp(lambda z: np.tanh(A @ z) * z, X)
    g = ar.gradient(lambda w: (pullback(w)[0] ** 2).sum(), V)
    _, jpull = jax.vjp(lambda z: jnp.tanh(A @ z) * z, X)
    np.testing.assert_allclose(g, jax.grad(lambda w: (jpull(w)[0] ** 2).sum())(V), rtol=1e-10)


def test_vjp_of_a_gradient() -> None:
    y, pullback = ar.vjp(lambda x: ar.gradient(_f, x), X)
    np.testing.assert_allclose(y, jax.grad(_jf)(X), rtol=1e-12)
    np.testing.assert_allclose(pullback(V)[0], jax.hessian(_jf)(X) @ V, rtol=1e-10)


@ar.primitive
def _cube(x: Any) -> Any:
    return x ** 3


@ar.rrule(_cube)
def _cube_rrule(x: Any) -> Any:
    def pullback(g: Any) -> Any:
        return (g * 3 * float(x) ** 2,)       # float(): leaves NumPy, not differentiable again
    return _cube(x), pullback


def test_a_rule_whose_reverse_leaves_numpy_works_once_and_raises_naming_it_twice() -> None:
    assert ar.gradient(_cube, 2.0) == pytest.approx(12.0)
    with pytest.raises(ar.RuleError, match=r"_cube.*second|_cube.*twice") as e:
        ar.gradient(lambda x: ar.gradient(_cube, x), 2.0)
    assert "NumPy" in str(e.value)


@ar.primitive
def _square(x: Any) -> Any:
    return x * x


@ar.rrule(_square)
def _square_rrule(x: Any) -> Any:
    return _square(x), lambda g: (2 * g * x,)    # NumPy on the values: twice differentiable


def test_a_user_rrule_written_in_numpy_is_twice_differentiable() -> None:
    assert ar.gradient(lambda x: ar.gradient(lambda z: _square(z) * z, x), 1.5) == pytest.approx(9.0)
    h = ar.hessian(lambda x: (_square(x) * np.sin(x)).sum(), X)
    expected = jax.hessian(lambda x: (x * x * jnp.sin(x)).sum())(jnp.asarray(X))
    np.testing.assert_allclose(h, expected, rtol=1e-10, atol=1e-12)


@ar.primitive
def _relu(x: Any) -> Any:
    return np.maximum(x, 0.0)


@ar.rrule(_relu)
def _relu_rrule(x: Any) -> Any:
    return _relu(x), ar.once_differentiable(lambda g: (g * (x > 0),))


@ar.primitive
def _scale(x: Any) -> Any:
    return 2.0 * x


@ar.rule(_scale, ar.Duplicated)
def _scale_rule(cfg: Any, x: Any) -> Any:
    @ar.once_differentiable
    def reverse(g: Any) -> Any:
        x.dval += 2.0 * g
        return (None,)
    return 2.0 * x.val, reverse


@pytest.mark.parametrize("fn", [_relu, _scale])
def test_a_reverse_marked_once_differentiable_raises_naming_it_at_second_order(fn: Any) -> None:
    g = ar.gradient(lambda x: (fn(x) * x).sum(), X)
    np.testing.assert_allclose(g, jax.grad(lambda x: (_jax_of(fn)(x) * x).sum())(X), rtol=1e-12)
    with pytest.raises(ar.RuleError, match="once differentiable") as e:
        ar.hessian(lambda x: (fn(x) * x).sum(), X)
    assert "reverse" in str(e.value) or "lambda" in str(e.value)


def _jax_of(fn: Any) -> Any:
    return (lambda x: jnp.maximum(x, 0.0)) if fn is _relu else (lambda x: 2.0 * x)


@ar.primitive
def _triple(x: Any) -> Any:
    return 3.0 * x


@ar.rule(_triple, ar.Duplicated)
def _triple_rule(cfg: Any, x: Any) -> Any:
    def reverse(g: Any) -> Any:
        x.dval += 3.0 * g           # in place into the shadow: recorded at second order
        return (None,)
    return 3.0 * x.val, reverse


def test_a_hand_written_rule_is_twice_differentiable() -> None:
    h = ar.hessian(lambda x: (_triple(np.sin(x)) * x * _triple(x)).sum(), X)
    expected = jax.hessian(lambda x: (3.0 * jnp.sin(x) * x * 3.0 * x).sum())(jnp.asarray(X))
    np.testing.assert_allclose(h, expected, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("f", [lambda x: np.quantile(x, 0.3) ** 3,
                               lambda x: np.interp(0.5, np.array([0.0, 1.0]), x[:2]) ** 3],
                         ids=["quantile", "interp"])
def test_a_built_in_reverse_that_writes_into_a_plain_buffer_raises_naming_the_rule(f: Any) -> None:
    ar.gradient(f, X)  # first order works
    with pytest.raises(ar.RuleError, match=r"(quantile|interp).*(second time)"):
        ar.hessian(f, X)


def test_a_pullback_differentiated_once_still_works_at_first_order() -> None:
    _, pullback = ar.vjp(lambda z: np.tanh(A @ z) * z, X)
    g = ar.gradient(lambda w: (pullback(w)[0] ** 2).sum(), V)     # its sweep recorded by gradient
    _, jpull = jax.vjp(lambda z: jnp.tanh(A @ z) * z, X)
    np.testing.assert_allclose(g, jax.grad(lambda w: (jpull(w)[0] ** 2).sum())(V), rtol=1e-10)
    np.testing.assert_allclose(pullback(V)[0], jpull(V)[0], rtol=1e-12)  # then a plain call


def test_autodiff_inside_a_differentiation() -> None:
    # Active and Const arguments nest; Duplicated shadows (the caller's plain arrays) cannot
    # hold a derivative that depends on the outer differentiation: a named error, no change
    def outer(x: Any) -> Any:
        (d,) = ar.autodiff(lambda a: a * a * x, ar.Active(x))       # d/da (a^2 x) at a = x: 2x^2
        return d * x                                                 # 2x^3: derivative 6x^2
    assert ar.gradient(outer, 1.5) == pytest.approx(6 * 1.5 ** 2)

    da = np.zeros(3)

    def dup(x: Any) -> Any:
        ar.autodiff(lambda a: (a * x).sum(), ar.Duplicated(np.ones(3), da))
        return x.sum()

    def dup_standin_shadow(x: Any) -> Any:
        ar.autodiff(lambda a: (a * x).sum(), ar.Duplicated(np.ones(3), np.zeros_like(x)))
        return x.sum()

    for f in (dup, dup_standin_shadow):
        with pytest.raises(ar.ActiveRulesError, match="autodiff.*enclosing differentiation.*ar.gradient"):
            ar.gradient(f, X)
    np.testing.assert_array_equal(da, np.zeros(3))
