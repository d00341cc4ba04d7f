"""``ar.jacobian`` and ``ar.hessian`` (engine/derivatives.py) against ``jax.jacfwd`` /
``jax.hessian`` in float64 and central differences of ``ar.gradient``, on many built-in
rules (elementwise, reductions, matmul, indexing, solve, sort, cumprod with zeros) and
on functions with in-place updates and views."""

from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from engine_helpers import A3 as A
from engine_helpers import X3 as X

import activerules as ar

pytestmark = pytest.mark.usefixtures("x64")  # JAX in float64 (conftest.py)


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
