"""vjp pullbacks: seeds of outputs that share storage add up, and a pullback is a
pure function of its cotangent (called again, after a failure, from several threads).
Oracle: JAX (float64)."""

from __future__ import annotations

import threading
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import activerules as ar

jax.config.update("jax_enable_x64", True)

X = np.array([0.5, -1.2, 2.0, 0.3, 1.1, -0.7])


def _jax_vjp(f: Any, x: np.ndarray, ybar: Any) -> np.ndarray:
    _, pb = jax.vjp(f, jnp.asarray(x))
    return np.asarray(pb(ybar)[0])


CASES = [  # (name, numpy function, jax function)
    ("slices", lambda x: (x[:2], x[2:]), lambda x: (x[:2], x[2:])),
    ("array and its view", lambda x: (lambda y: (y, y[1:]))(x * 2.0),
     lambda x: (lambda y: (y, y[1:]))(x * 2.0)),
    ("same array twice", lambda x: (lambda y: (y, y))(np.sin(x)),
     lambda x: (lambda y: (y, y))(jnp.sin(x))),
    ("transpose and view", lambda x: (lambda y: (y.T, y[0]))((x * 1.0).reshape(2, 3)),
     lambda x: (lambda y: (y.T, y[0]))((x * 1.0).reshape(2, 3))),
    ("split", lambda x: tuple(np.split(x, 3)), lambda x: tuple(jnp.split(x, 3))),
    ("array_split", lambda x: tuple(np.array_split(x * x, 4)), lambda x: tuple(jnp.array_split(x * x, 4))),
    ("hsplit", lambda x: tuple(np.hsplit(x, [1, 4])), lambda x: tuple(jnp.hsplit(x, [1, 4]))),
    ("input itself and a view", lambda x: (x, x[::2]), lambda x: (x, x[::2])),
]


@pytest.mark.parametrize("name,f,jf", CASES, ids=[c[0] for c in CASES])
def test_seeds_of_outputs_sharing_storage_add(name: str, f: Any, jf: Any) -> None:
    y, pb = ar.vjp(f, X.copy())
    rng = np.random.default_rng(0)
    ybar = tuple(rng.standard_normal(np.shape(e)) for e in y)
    np.testing.assert_allclose(pb(ybar)[0], _jax_vjp(jf, X, ybar), rtol=1e-12)


def test_seeds_of_a_scalar_returned_twice_add() -> None:
    f = lambda x: (lambda s: (s, s))(np.sum(x * x))  # noqa: E731
    _, pb = ar.vjp(f, X.copy())
    np.testing.assert_allclose(pb((1.0, 2.0))[0],
                               _jax_vjp(lambda x: (jnp.sum(x * x),) * 2, X, (1.0, 2.0)), rtol=1e-12)


def _add_at(x: Any) -> Any:
    b = np.zeros_like(x)
    np.add.at(b, [0, 0, 1, 3], x[:4])
    return b * x


def _jadd_at(x: Any) -> Any:
    return jnp.zeros_like(x).at[jnp.array([0, 0, 1, 3])].add(x[:4]) * x


@pytest.mark.parametrize("f,jf", [(_add_at, _jadd_at), (lambda x: np.cumsum(x * x), lambda x: jnp.cumsum(x * x))])
def test_pullback_called_again_gives_the_jacobian(f: Any, jf: Any) -> None:
    """A Jacobian row by row from one pullback (a mutated buffer used to keep stale cotangents)."""
    _, pb = ar.vjp(f, X.copy())
    rows = np.array([pb(e)[0] for e in np.eye(X.size)])
    np.testing.assert_allclose(rows, np.asarray(jax.jacrev(jf)(jnp.asarray(X))), rtol=1e-12, atol=1e-15)


def test_pullback_after_a_failed_call() -> None:
    _, pb = ar.vjp(_add_at, X.copy())
    pb(np.ones(X.size))
    with pytest.raises((ValueError, TypeError, ar.ActiveRulesError)):
        pb(np.ones(3))  # wrong shape
    with pytest.raises((ValueError, TypeError, ar.ActiveRulesError)):
        pb("not a cotangent")
    e = np.eye(X.size)[1]
    np.testing.assert_allclose(pb(e)[0], _jax_vjp(_jadd_at, X, e), rtol=1e-12)


def test_one_pullback_from_several_threads() -> None:
    f = lambda x: np.tanh(np.cumsum(x * x)) * x  # noqa: E731
    jf = lambda x: jnp.tanh(jnp.cumsum(x * x)) * x  # noqa: E731
    _, pb = ar.vjp(f, X.copy())
    want = np.asarray(jax.jacrev(jf)(jnp.asarray(X)))
    errors: list[Any] = []

    def work(k: int) -> None:
        try:
            for r in range(200):
                i = (k + r) % X.size
                got = pb(np.eye(X.size)[i])[0]
                if not np.allclose(got, want[i], rtol=1e-10, atol=1e-13):
                    errors.append((i, got))
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[:3]


@ar.primitive
def _picky(a: Any) -> Any:
    return a * 3.0


@ar.rrule(_picky)
def _picky_rule(a: Any) -> Any:
    def pullback(g: Any) -> Any:
        if g[0] > 10.0:
            raise ValueError("cotangent too large")
        return (3.0 * g,)
    return a * 3.0, pullback


def test_pullback_after_a_rule_failed_midway() -> None:
    def f(x: Any) -> Any:
        b = np.zeros_like(x)
        np.add.at(b, [0, 1, 1], x[:3])
        return _picky(b * x) + np.sin(b)

    def jf(x: Any) -> Any:
        b = jnp.zeros_like(x).at[jnp.array([0, 1, 1])].add(x[:3])
        return 3.0 * b * x + jnp.sin(b)

    _, pb = ar.vjp(f, X.copy())
    with pytest.raises(ar.RuleError, match="cotangent too large"):
        pb(np.full(X.size, 100.0))
    e = np.linspace(-1.0, 1.0, X.size)
    np.testing.assert_allclose(pb(e)[0], _jax_vjp(jf, X, e), rtol=1e-12)
    np.testing.assert_allclose(pb(e)[0], _jax_vjp(jf, X, e), rtol=1e-12)


def test_a_pullback_called_from_its_own_sweep_raises() -> None:
    box: list[Any] = []

    @ar.primitive
    def calls_back(a: Any) -> Any:
        return a * 1.0

    @ar.rrule(calls_back)
    def _calls_back(a: Any) -> Any:
        return a * 1.0, lambda g: (box[0](g)[0],)

    _, pb = ar.vjp(lambda x: calls_back(x * 2.0), X.copy())
    box.append(pb)
    with pytest.raises(ar.ActiveRulesError, match="its own sweep"):
        pb(np.ones(X.size))
