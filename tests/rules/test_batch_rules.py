"""The built-in rules' batch forms (``batched=True``: one reverse on stacked lanes) through
``ar.autodiff`` with ``BatchDuplicated``: each lane equals a width-1 run with that lane's
seed, and agrees with JAX in float64 (or central finite differences, for in-place updates
and repeated indices in assignments, whose order JAX leaves unspecified), on hypothesis
inputs and edge shapes (0-d, one element, empty)."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import pytest
from engine_helpers import fd_grad
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import activerules as ar

WIDTH = 4
_IDX = np.array([0, 2, 2, 1, 0])  # repeated positions


def _unary(m: Any, x: Any) -> Any:
    return m.tanh(m.sin(x) * 1.5 + 0.1) + m.exp(-x * x) * m.cos(x)


def _binary(m: Any, x: Any) -> Any:
    c = m.linspace(0.5, 1.5, x.size).reshape(x.shape)
    return (x * c) / (1.0 + x * x) - m.maximum(x, 0.2) ** 2 + m.hypot(x, c)


def _broadcast(m: Any, x: Any) -> Any:  # x (n,) against (2, n) and (2, 1): summed back per lane
    c = m.arange(2.0).reshape(2, 1) + 0.5
    return x * c + m.arctan2(x, c) + x / (c + x * x)


def _reductions(m: Any, x: Any) -> Any:  # x (r, c)
    return m.stack([m.sum(m.exp(x), axis=0), m.mean(x * x, axis=0), m.max(x, axis=0)]) * m.sum(x) \
        + m.mean(x, axis=1, keepdims=True).sum() + m.var(x, axis=0)


def _gather(m: Any, x: Any) -> Any:  # repeated indices; x (n >= 3,)
    return x[_IDX] * x[_IDX[::-1]] + x[1] * x[m.array([True] + [False] * (x.size - 1))].sum()


def _gather_apart(m: Any, x: Any) -> Any:  # advanced indices apart: NumPy moves their axis first
    return m.sin(x[np.array([1, 0, 1]), :, np.array([0, 0, 1])]) * 2.0


def _matmul(m: Any, x: Any) -> Any:  # x (n,)
    a = m.linspace(-1.0, 1.0, 4 * x.size).reshape(4, x.size)
    b = m.linspace(0.5, -0.5, x.size * 3).reshape(x.size, 3)
    return m.concatenate([m.tanh(a @ x), x @ b, (x @ x).reshape(1)])  # matrix·vector, vector·matrix, vector·vector


def _matmul2(m: Any, x: Any) -> Any:  # x (r, c): matrix @ matrix on either side
    a = m.linspace(-1.0, 1.0, 2 * x.shape[0]).reshape(2, x.shape[0])
    b = m.linspace(0.5, -0.5, x.shape[1] * 2).reshape(x.shape[1], 2)
    return (a @ x @ b).ravel()


def _solve(m: Any, x: Any) -> Any:  # x (n,): both operands depend on x
    n = x.size
    mat = m.eye(n) * 3.0 + m.linspace(-0.5, 0.5, n * n).reshape(n, n) + m.diag(x) * 0.2
    return m.linalg.solve(mat, x * x + 1.0)


# (program, shapes) checked against JAX
JAX_PROGRAMS: dict[str, tuple[Callable[..., Any], list[tuple[int, ...]]]] = {
    "unary": (_unary, [(), (1,), (0,), (5,), (2, 3)]),
    "binary": (_binary, [(), (1,), (0,), (4,), (2, 3)]),
    "broadcast": (_broadcast, [(1,), (3,)]),
    "reductions": (_reductions, [(1, 1), (2, 3), (4, 2)]),
    "gather": (_gather, [(3,), (6,)]),
    "gather_apart": (_gather_apart, [(2, 3, 2)]),
    "matmul": (_matmul, [(1,), (3,)]),
    "matmul2": (_matmul2, [(1, 1), (3, 2)]),
    "solve": (_solve, [(1,), (3,)]),
}


def _write(prog: Callable[..., Any]) -> Callable[..., Any]:
    def f(x: Any, out: Any) -> None:
        np.copyto(out, prog(np, x))
    return f


def batch_vjp(prog: Callable[..., Any], x: np.ndarray, seeds: list[np.ndarray]) -> tuple[np.ndarray, ...]:
    """Every lane's VJP of ``prog`` at ``x``, in one width-``len(seeds)`` sweep."""
    lanes = tuple(np.zeros_like(x) for _ in seeds)
    out = np.zeros(np.shape(prog(np, x.copy())))
    ar.autodiff(_write(prog), ar.BatchDuplicated(x.copy(), lanes),
                ar.BatchDuplicated(out, tuple(s.copy() for s in seeds)), returns=ar.Const)
    return lanes


def one_vjp(prog: Callable[..., Any], x: np.ndarray, seed: np.ndarray) -> np.ndarray:
    dx = np.zeros_like(x)
    out = np.zeros(np.shape(prog(np, x.copy())))
    ar.autodiff(_write(prog), ar.Duplicated(x.copy(), dx), ar.Duplicated(out, seed.copy()), returns=ar.Const)
    return dx


def _seeds(shape: tuple[int, ...], seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.uniform(-1.0, 1.0, shape) for _ in range(WIDTH)]


def _inputs(shape: tuple[int, ...]) -> Any:
    return hnp.arrays(np.float64, shape, elements=st.floats(-1.5, 1.5, allow_subnormal=False))


def _check_lanes(prog: Callable[..., Any], x: np.ndarray, seed: int, oracle: Callable[..., np.ndarray]) -> None:
    seeds = _seeds(np.shape(prog(np, x.copy())), seed)
    lanes = batch_vjp(prog, x, seeds)
    for lane, s in zip(lanes, seeds):
        np.testing.assert_allclose(lane, one_vjp(prog, x, s), rtol=1e-12, atol=1e-13)
        np.testing.assert_allclose(lane, oracle(x, s), rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("name, shape", [(n, s) for n, (_, shapes) in JAX_PROGRAMS.items() for s in shapes])
@settings(max_examples=4, deadline=None, derandomize=True)
@given(data=st.data(), seed=st.integers(0, 2 ** 16))
def test_each_lane_equals_width_1_and_jax(name: str, shape: tuple[int, ...], data: Any, seed: int) -> None:
    from oracle_engine import jax_modules

    jax, jnp = jax_modules()
    prog = JAX_PROGRAMS[name][0]
    x = data.draw(_inputs(shape))

    def oracle(x: np.ndarray, s: np.ndarray) -> np.ndarray:
        _, pullback = jax.vjp(lambda v: prog(jnp, v), jnp.asarray(x))
        return np.asarray(pullback(jnp.asarray(s))[0])

    _check_lanes(prog, x, seed, oracle)


def _scatter(m: Any, x: Any) -> Any:  # assignments with repeated indices, views, in-place updates
    z = x * 1.0
    v = z[1:]                      # a view, updated in place
    v *= 2.0
    z[:2] += x[:2] ** 2            # in place through a slice
    z[[0, 0, 2]] = x[[1, 2, 2]] * 3.0   # repeated position 0: the last write survives
    w = np.zeros_like(z)
    np.copyto(w, np.tanh(z), where=z > 0)
    z[1] = x[0] * x[2]
    return w + z * x


def _fd_oracle(prog: Callable[..., Any]) -> Callable[..., np.ndarray]:
    return lambda x, s: fd_grad(lambda v: float((s * prog(np, v)).sum()), x)


@pytest.mark.parametrize("shape", [(3,), (5,)])
@settings(max_examples=4, deadline=None, derandomize=True)
@given(data=st.data(), seed=st.integers(0, 2 ** 16))
def test_assignments_views_and_in_place_updates(shape: tuple[int, ...], data: Any, seed: int) -> None:
    x = data.draw(_inputs(shape).filter(lambda a: bool(np.all(np.abs(a) > 1e-3))))
    _check_lanes(_scatter, x, seed, _fd_oracle(_scatter))


def test_a_batch_argument_read_through_a_view_of_a_root():
    """The root's lanes are the caller's separate arrays: the stacked rules copy them in and out."""
    x = np.array([[0.3, -0.8, 1.2], [0.5, 0.1, -0.4]])

    def prog(m: Any, x: Any) -> Any:
        return m.sin(x[:, 1:]) * x[::-1, :2]

    seeds = _seeds((2, 2), 7)
    for lane, s in zip(batch_vjp(prog, x, seeds), seeds):
        np.testing.assert_allclose(lane, _fd_oracle(prog)(x, s), rtol=1e-7, atol=1e-9)
        np.testing.assert_allclose(lane, one_vjp(prog, x, s), rtol=1e-12, atol=1e-13)
