"""Higher-order derivatives (issue 11, capability 3): nested differentiations, each with
its own level, no perturbation confusion, Hessian-vector products, gradients of vjp
pullbacks, ``ar.jacobian`` and ``ar.hessian``. Oracles: JAX in float64 and central
differences of ``ar.gradient``; the confusion checks are Siskind & Pearlmutter's."""

from __future__ import annotations

import threading
from typing import Any, Callable, Iterator

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import activerules as ar

X = np.array([0.3, -1.1, 2.0])
A = np.array([[2.0, 0.5, -0.3], [0.1, 1.5, 0.4], [-0.2, 0.3, 1.8]])
V = np.array([0.7, -0.2, 1.3])


@pytest.fixture(autouse=True)
def x64() -> Iterator[None]:
    old = jax.config.jax_enable_x64
    jax.config.update("jax_enable_x64", True)
    yield
    jax.config.update("jax_enable_x64", old)


# --- perturbation confusion (Siskind & Pearlmutter) -----------------------------------------

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


# --- Hessian-vector products and pullbacks ---------------------------------------------------

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


# --- jacobian and hessian --------------------------------------------------------------------

def _inplace(x: Any) -> Any:
    y = x * 1.0
    y[1:] += y[:-1] * x[0]       # an in-place update through views
    v = y[::-1]
    v *= 2.0                     # through a reversed view
    return (y ** 3).sum() + (y[0] * x).sum()


def _jinplace(x: Any) -> Any:
    y = x * 1.0
    y = y.at[1:].add(y[:-1] * x[0])
    y = y * 2.0
    return (y ** 3).sum() + (y[0] * x).sum()


def _setitem(x: Any) -> Any:
    z = np.zeros_like(x)
    z[0] = x[1] * x[2]
    z[1:] = np.sin(x[:-1])
    return (z * x).sum() ** 2


def _jsetitem(x: Any) -> Any:
    z = jnp.zeros_like(x)
    z = z.at[0].set(x[1] * x[2])
    z = z.at[1:].set(jnp.sin(x[:-1]))
    return (z * x).sum() ** 2


#: scalar functions of X: (activerules, jax)
SCALAR: dict[str, tuple[Callable[[Any], Any], Callable[[Any], Any]]] = {
    "elementwise": (lambda x: (np.exp(x) * np.cos(x) + np.tanh(x) / (1 + x ** 2)).sum(),
                    lambda x: (jnp.exp(x) * jnp.cos(x) + jnp.tanh(x) / (1 + x ** 2)).sum()),
    "reductions": (lambda x: np.prod(x + 3) + np.mean(x ** 3) + np.max(x) * np.std(x) + np.linalg.norm(x),
                   lambda x: jnp.prod(x + 3) + jnp.mean(x ** 3) + jnp.max(x) * jnp.std(x) + jnp.linalg.norm(x)),
    "matmul": (lambda x: (np.sin(A @ x) @ (x @ A)) + x @ x, lambda x: (jnp.sin(A @ x) @ (x @ A)) + x @ x),
    "indexing": (lambda x: x[0] * x[2] ** 2 + (x[[2, 0, 2]] * x).sum() ** 2 + (x[1:] * x[:-1]).sum() + np.cumsum(x)[-1] * x[1],
                 lambda x: x[0] * x[2] ** 2 + (x[jnp.array([2, 0, 2])] * x).sum() ** 2 + (x[1:] * x[:-1]).sum()
                 + jnp.cumsum(x)[-1] * x[1]),
    "solve": (lambda x: np.linalg.solve(A + np.diag(x ** 2), x).sum() + np.linalg.det(A * x),
              lambda x: jnp.linalg.solve(A + jnp.diag(x ** 2), x).sum() + jnp.linalg.det(A * x)),
    "in-place and views": (_inplace, _jinplace),
    "setitem": (_setitem, _jsetitem),
    "readme loss": (lambda w: np.sum(np.tanh(w) ** 2), lambda w: jnp.sum(jnp.tanh(w) ** 2)),
    "where and maximum": (lambda x: np.where(x > 0, x ** 3, np.sin(x)).sum() + np.maximum(x, 0.5) @ x,
                          lambda x: jnp.where(x > 0, x ** 3, jnp.sin(x)).sum() + jnp.maximum(x, 0.5) @ x),
    "sort": (lambda x: (np.sort(x ** 3) * np.arange(3.0)).sum() ** 2,
             lambda x: (jnp.sort(x ** 3) * jnp.arange(3.0)).sum() ** 2),
    "stack and concatenate": (lambda x: (np.stack([x, x ** 2]) ** 2).sum() * np.concatenate([x, x[:1]]).sum(),
                              lambda x: (jnp.stack([x, x ** 2]) ** 2).sum() * jnp.concatenate([x, x[:1]]).sum()),
}


@pytest.mark.parametrize("name", sorted(SCALAR))
def test_hessian_against_jax(name: str) -> None:
    f, jf = SCALAR[name]
    np.testing.assert_allclose(ar.hessian(f, X.copy()), jax.hessian(jf)(jnp.asarray(X)), rtol=1e-9, atol=1e-11)


@pytest.mark.parametrize("name", sorted(SCALAR))
def test_hessian_against_central_differences_of_the_gradient(name: str) -> None:
    f, _ = SCALAR[name]
    eps = 1e-6
    cols = []
    for i in range(X.size):
        e = np.zeros(X.size)
        e[i] = eps
        cols.append((ar.gradient(f, X + e) - ar.gradient(f, X - e)) / (2 * eps))
    np.testing.assert_allclose(ar.hessian(f, X.copy()), np.stack(cols, axis=1), rtol=1e-5, atol=1e-6)


VECTOR: dict[str, tuple[Callable[[Any], Any], Callable[[Any], Any]]] = {
    "elementwise": (lambda x: np.sin(x) * x, lambda x: jnp.sin(x) * x),
    "matmul": (lambda x: np.tanh(A @ x), lambda x: jnp.tanh(A @ x)),
    "outer": (lambda x: np.outer(x, x ** 2), lambda x: jnp.outer(x, x ** 2)),
    "solve": (lambda x: np.linalg.solve(A, x * x), lambda x: jnp.linalg.solve(A, x * x)),
    "cumprod": (lambda x: np.cumprod(x + 2), lambda x: jnp.cumprod(x + 2)),
    "in-place": (lambda x: _scaled(x), lambda x: jnp.concatenate([x[:1], x[1:] * x[0]])),
}


def _scaled(x: Any) -> Any:
    y = x.copy()
    y[1:] *= x[0]
    return y


@pytest.mark.parametrize("name", sorted(VECTOR))
def test_jacobian_against_jax(name: str) -> None:
    f, jf = VECTOR[name]
    np.testing.assert_allclose(ar.jacobian(f, X.copy()), jax.jacfwd(jf)(jnp.asarray(X)), rtol=1e-10, atol=1e-12)


def test_jacobian_of_a_scalar_function_and_of_a_number() -> None:
    np.testing.assert_allclose(ar.jacobian(lambda x: (x ** 2).sum(), X), 2 * X)
    assert ar.jacobian(np.sin, 0.5) == pytest.approx(np.cos(0.5))
    assert ar.hessian(lambda x: x ** 4, 2.0) == pytest.approx(48.0)


def test_jacobian_and_hessian_with_argnums() -> None:
    h = ar.hessian(lambda a, x: (a * np.sin(x)).sum(), 2.0, X, argnums=1)
    np.testing.assert_allclose(h, np.diag(-2.0 * np.sin(X)), rtol=1e-12, atol=1e-15)


def test_nested_jacobian_of_a_hessian_is_the_third_derivative() -> None:
    t = ar.jacobian(lambda x: ar.hessian(lambda z: (z ** 4).sum() + z[0] * z[1] * z[2], x), X)
    expected = jax.jacfwd(jax.hessian(lambda z: (z ** 4).sum() + z[0] * z[1] * z[2]))(jnp.asarray(X))
    np.testing.assert_allclose(t, expected, rtol=1e-10, atol=1e-12)


def test_the_caller_array_is_unchanged_by_hessian() -> None:
    x = X.copy()
    ar.hessian(_inplace, x)
    np.testing.assert_array_equal(x, X)
    assert x.flags.writeable


# --- levels: siblings, leaks, threads ---------------------------------------------------------

def test_a_stand_in_of_a_finished_sibling_differentiation_raises() -> None:
    # autograd reuses trace ids: gradient(lambda y: old * y)(2.) gives -1.98 instead of sin(3)
    leaked: list[Any] = []

    def f(x: Any) -> Any:
        leaked.append(np.sin(x))
        return x * 2.0

    ar.gradient(f, 3.0)
    old = leaked[0]
    for g in (lambda y: old * y, lambda y: y * old):
        with pytest.raises(ar.ActiveRulesError, match="finished differentiation"):
            ar.gradient(g, 2.0)


def test_a_stand_in_leaking_out_of_an_inner_call_raises_in_the_outer_one() -> None:
    leaked: list[Any] = []

    def outer(x: Any) -> Any:
        def inner(y: Any) -> Any:
            leaked.append(y * x)
            return y * x
        ar.gradient(inner, 1.5)
        return leaked[0] * x

    with pytest.raises(ar.ActiveRulesError, match="finished differentiation"):
        ar.gradient(outer, 2.0)


def test_sibling_inner_differentiations_each_get_their_own_level() -> None:
    def outer(x: Any) -> Any:
        a = ar.gradient(lambda y: x * y * y, 2.0)     # 4x
        b = ar.gradient(lambda y: x * x * y, 2.0)     # x^2
        return a * b                                   # 4x^3: derivative 12x^2
    assert ar.gradient(outer, 1.5) == pytest.approx(12 * 1.5 ** 2)


def test_hessians_in_threads_match_the_serial_result() -> None:
    f, jf = SCALAR["matmul"]
    expected = np.asarray(jax.hessian(jf)(jnp.asarray(X)))
    results: list[Any] = [None] * 6
    errors: list[BaseException] = []

    def work(k: int) -> None:
        try:
            for _ in range(5):
                results[k] = ar.hessian(f, X + 0.0)
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    for r in results:
        np.testing.assert_allclose(r, expected, rtol=1e-10)


# --- rules that are not twice differentiable ---------------------------------------------------

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


X2 = np.array([[0.3, -1.1, 2.0], [0.5, 0.7, -0.4]])
A2 = np.array([[2.0, 0.5], [0.1, 1.5]])


def _loop(x: Any) -> Any:
    u = x.copy()
    for _ in range(3):
        u[:, 1:] += 0.5 * u[:, :-1] * u[:, 1:]   # in place through overlapping views
    return (u ** 2).sum()


def _jloop(x: Any) -> Any:
    u = x
    for _ in range(3):
        u = u.at[:, 1:].add(0.5 * u[:, :-1] * u[:, 1:])
    return (u ** 2).sum()


MATRIX: dict[str, tuple[Callable[[Any], Any], Callable[[Any], Any]]] = {
    "reshape and T": (lambda x: (x.reshape(3, 2).T * x).sum() ** 2, lambda x: (x.reshape(3, 2).T * x).sum() ** 2),
    "inv": (lambda x: np.linalg.inv(A2 + x[:, :2] @ x[:, :2].T).sum(),
            lambda x: jnp.linalg.inv(A2 + x[:, :2] @ x[:, :2].T).sum()),
    "einsum": (lambda x: np.einsum("ij,kj->", x, x ** 2), lambda x: jnp.einsum("ij,kj->", x, x ** 2)),
    "slogdet": (lambda x: np.linalg.slogdet(A2 + x[:, 1:] * x[:, :2])[1],
                lambda x: jnp.linalg.slogdet(A2 + x[:, 1:] * x[:, :2])[1]),
    "split and concatenate": (
        lambda x: (np.concatenate(np.split(x, 3, axis=1)[::-1], axis=1) * x).sum() ** 2,
        lambda x: (jnp.concatenate(jnp.split(x, 3, axis=1)[::-1], axis=1) * x).sum() ** 2),
    "sort along an axis": (lambda x: (np.sort(x, axis=1) * np.arange(3)).sum() ** 2,
                           lambda x: (jnp.sort(x, axis=1) * jnp.arange(3)).sum() ** 2),
    "var and norm": (lambda x: np.var(x, axis=1).sum() * np.linalg.norm(x, axis=1).prod(),
                     lambda x: jnp.var(x, axis=1).sum() * jnp.linalg.norm(x, axis=1).prod()),
    "in-place loop": (_loop, _jloop),
}


@pytest.mark.parametrize("name", sorted(MATRIX))
def test_hessian_of_a_matrix_argument_against_jax(name: str) -> None:
    f, jf = MATRIX[name]
    h = ar.hessian(f, X2.copy())
    assert h.shape == X2.shape + X2.shape
    np.testing.assert_allclose(h, jax.hessian(jf)(jnp.asarray(X2)), rtol=1e-9, atol=1e-11)


def test_a_pullback_differentiated_once_still_works_at_first_order() -> None:
    _, pullback = ar.vjp(lambda z: np.tanh(A @ z) * z, X)
    g = ar.gradient(lambda w: (pullback(w)[0] ** 2).sum(), V)     # its sweep recorded by gradient
    _, jpull = jax.vjp(lambda z: jnp.tanh(A @ z) * z, X)
    np.testing.assert_allclose(g, jax.grad(lambda w: (jpull(w)[0] ** 2).sum())(V), rtol=1e-10)
    np.testing.assert_allclose(pullback(V)[0], jpull(V)[0], rtol=1e-12)  # then a plain call


def test_jacobian_of_an_integer_argument_raises() -> None:
    with pytest.raises(ar.ActivityError, match="jacobian"):
        ar.jacobian(lambda n: n * 2.0, np.arange(3))


@pytest.mark.parametrize("x", [np.array([0.5, 0.0, 2.0, -1.5]), np.array([0.0, 3.0, 0.0, 2.0]),
                               np.array([0.7, -1.2, 2.0, 0.4])], ids=["one zero", "two zeros", "no zero"])
def test_cumprod_and_prod_are_exact_at_second_order_with_zeros(x: np.ndarray) -> None:
    # the first-order cotangent divides by x before a zero and masks after it: not
    # differentiable again (PyTorch's cumprod_backward lesson); JAX's scan is exact
    for f, jf in [(lambda z: (np.cumprod(z) * np.arange(1.0, 5.0)).sum(),
                   lambda z: (jnp.cumprod(z) * jnp.arange(1.0, 5.0)).sum()),
                  (lambda z: np.prod(z) * z[1] + np.cumprod(z[::-1])[-2] ** 2,
                   lambda z: jnp.prod(z) * z[1] + jnp.cumprod(z[::-1])[-2] ** 2)]:
        np.testing.assert_allclose(ar.hessian(f, x.copy()), jax.hessian(jf)(jnp.asarray(x)),
                                   rtol=1e-10, atol=1e-12)


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


def test_a_pullback_taken_inside_a_differentiation_and_called_after_it_raises() -> None:
    kept: list[Any] = []

    def f(x: Any) -> Any:
        y, pullback = ar.vjp(lambda z: z * x, 2.0)   # closes over the outer stand-in x
        kept.append(pullback)
        return y

    assert ar.gradient(f, 3.0) == pytest.approx(2.0)
    with pytest.raises(ar.ActiveRulesError, match="after that differentiation finished"):
        kept[0](1.0)


def test_a_stand_in_of_another_thread_does_not_join_this_thread_s_differentiation() -> None:
    ready, done = threading.Event(), threading.Event()
    box: list[Any] = []

    def other(x: Any) -> Any:
        box.append(x * 2.0)
        ready.set()
        done.wait(10)
        return x * 1.0

    t = threading.Thread(target=lambda: ar.gradient(other, 1.0))
    t.start()
    ready.wait(10)
    try:
        with pytest.raises(ar.ActiveRulesError, match="another thread"):
            ar.gradient(lambda y: y * box[0], 2.0)
    finally:
        done.set()
        t.join()
