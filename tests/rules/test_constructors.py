"""Constructors with active values: ``full``/``full_like`` (the fill value),
``linspace``/``geomspace``/``logspace`` (the endpoints, arrays of them, ``base``) and
``select`` (the choices and the default), through the engine against JAX (float64)."""

from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from engine_helpers import fd_grad

import activerules as ar

jax.config.update("jax_enable_x64", True)

X = np.array([0.7, 1.3, 2.1, 0.4, -0.9, 1.6])
PLAIN = np.zeros((2, 3))


def _w(shape: tuple[int, ...]) -> np.ndarray:
    return np.cos(np.arange(int(np.prod(shape)), dtype=float) + 0.3).reshape(shape)


def _loss(xp: Any, y: Any) -> Any:
    """A weighted sum of squares, so every output element carries its own cotangent."""
    return xp.sum(y ** 2 * _w(np.shape(y)))


Program = Callable[[Any, Any], Any]

CASES: dict[str, Program] = {
    "full_scalar": lambda xp, x: _loss(xp, xp.full((2, 3), x[0])),
    "full_array": lambda xp, x: _loss(xp, xp.full((2, 3), x[:3])),
    "full_with_dtype": lambda xp, x: _loss(xp, xp.full(4, x[1], np.float64)),
    "full_like_tracked": lambda xp, x: _loss(xp, xp.full_like(x, x[1]) * x),
    "full_like_plain": lambda xp, x: _loss(xp, xp.full_like(PLAIN, x[2])),
    "linspace": lambda xp, x: _loss(xp, xp.linspace(x[0], x[1], 5)),
    "linspace_constant_start": lambda xp, x: _loss(xp, xp.linspace(0.0, x[3], 4)),
    "linspace_no_endpoint": lambda xp, x: _loss(xp, xp.linspace(x[0], x[4], 4, endpoint=False)),
    "linspace_num_1": lambda xp, x: _loss(xp, xp.linspace(x[0], x[1], 1)),
    "linspace_num_2": lambda xp, x: _loss(xp, xp.linspace(x[2], x[1], 2)),
    "linspace_arrays_axis_1": lambda xp, x: _loss(xp, xp.linspace(x[:2], x[2:4], 3, axis=1)),
    "linspace_arrays_axis_neg": lambda xp, x: _loss(xp, xp.linspace(x[:3], x[3], 4, axis=-1)),
    "linspace_retstep": lambda xp, x: (lambda r: _loss(xp, r[0]) + 3.0 * r[1] ** 2)(
        xp.linspace(x[0], x[5], 6, retstep=True)),
    "linspace_retstep_no_endpoint": lambda xp, x: (lambda r: _loss(xp, r[0]) + r[1] ** 3)(
        xp.linspace(x[1], x[3], 3, endpoint=False, retstep=True)),
    "linspace_num_1_retstep_unused_step": lambda xp, x: _loss(xp, xp.linspace(x[0], x[1], 1, retstep=True)[0]),
    "geomspace": lambda xp, x: _loss(xp, xp.geomspace(x[0], x[2], 5)),
    "geomspace_negative": lambda xp, x: _loss(xp, xp.geomspace(-x[1], -x[5], 4, endpoint=False)),
    "geomspace_arrays": lambda xp, x: _loss(xp, xp.geomspace(x[:2], x[2:4], 3, axis=1)),
    "logspace": lambda xp, x: _loss(xp, xp.logspace(x[0], x[1], 4)),
    "logspace_base_keyword": lambda xp, x: _loss(xp, xp.logspace(x[3], x[4], 5, endpoint=False, base=2.0)),
    "logspace_active_base": lambda xp, x: _loss(xp, xp.logspace(x[0], x[3], 4, True, x[1])),
    "logspace_arrays": lambda xp, x: _loss(xp, xp.logspace(x[:2], x[2:4], 3, axis=-1)),
    "select_default_keyword": lambda xp, x: _loss(xp, xp.select([x > 0.5], [x * 2.0], default=0.0)),
    "select_default_active": lambda xp, x: _loss(xp, xp.select([x > 1.0, x < 0.0], [x * 2.0, x ** 2], x[3])),
    "select_default_array": lambda xp, x: _loss(xp, xp.select([x > 1.0], [x], x[::-1] * 3.0)),
}


def _jax_grad(program: Program) -> np.ndarray:
    return np.asarray(jax.grad(lambda x: program(jnp, x))(jnp.asarray(X)))


@pytest.mark.parametrize("name", list(CASES))
def test_gradient_matches_jax(name: str) -> None:
    program = CASES[name]
    expected = _jax_grad(program)
    np.testing.assert_allclose(fd_grad(lambda x: program(np, x), X), expected, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(ar.gradient(lambda x: program(np, x), X.copy()), expected,
                               rtol=1e-10, atol=1e-12)


def test_linspace_values_and_step_are_numpys() -> None:
    """The engine's forward returns NumPy's own values (its last point is ``stop`` exactly)."""
    def f(x: Any) -> Any:
        y, step = np.linspace(x[0], x[1], 7, retstep=True)
        assert np.array_equal(ar.engine.standins.raw(y), np.linspace(X[0], X[1], 7))
        assert ar.engine.standins.raw(step) == np.linspace(X[0], X[1], 7, retstep=True)[1]
        return np.sum(y) + step
    ar.gradient(f, X.copy())
