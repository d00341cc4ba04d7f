"""Gradients through recorded NumPy calls match central finite differences."""

from __future__ import annotations

import numpy as np
import pytest
from engine_helpers import fd_grad

import activerules as ar
from activerules.engine import autodiff, gradient, vjp

X = np.array([0.3, -1.2, 0.7, 2.0, 0.45, -0.6])

PROGRAMS = {
    "elementwise": lambda x: (np.sin(x) * np.exp(x) / (1.5 + np.cos(x)) - x ** 2).sum(),
    "operators": lambda x: (-x + 2.0 * x - x / 3.0 + 1.0 / (2.0 + x * x) + abs(x) + x ** 3).sum(),
    "reductions": lambda x: np.sum(x * x) * np.mean(x) + x.sum() - np.tanh(x).mean(),
    "matmul": lambda x: (x.reshape(2, 3) @ x.reshape(3, 2)).sum() + np.dot(x, x),
    "transpose": lambda x: (x.reshape(2, 3).T * np.arange(6.0).reshape(3, 2)).sum(),
    "basic_index": lambda x: x[1] * x[4] + (x[1:4] ** 2).sum() + x[::-2].sum() * x[-1],
    "advanced_index": lambda x: (x[[0, 2, 2, 5]] * np.array([1.0, 2.0, 3.0, 4.0])).sum()
    + x[x > 0].sum(),
    "scalar_chain": lambda x: np.sqrt(x[0] * x[0] + 1.0) * np.log(x[3]) + x[2] ** x[3],
    "iteration": lambda x: sum(v * v for v in x) + len(x) * x.mean(),
    "sequences": lambda x: (np.concatenate([x, x[:2] * 2]) ** 2).sum() + (np.stack([x, np.sin(x)]) * 1.5).sum(),
    "where_newaxis": lambda x: np.where(x > 0, x * x, -x).sum() + (x[None, :] * x[:, None]).sum(),
    "ellipsis": lambda x: (x.reshape(2, 3)[..., 0] ** 3).sum(),
    "ufunc_methods": lambda x: np.add.reduce(x * x) + np.multiply.reduce(x[:3]),
    "ufunc_at": lambda x: _add_at(x),
    "write_through_transpose": lambda x: _write_through_transpose(x),
}


def _add_at(x):
    y = np.zeros_like(x)
    np.add.at(y, [0, 0, 2], x[:3])
    return (y * y).sum()


def _write_through_transpose(x):
    m = x.reshape(2, 3) * 1.0
    m.T[0] = m[1, 2] * 2.0
    return (m * m).sum()


@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_gradient_matches_finite_differences(name: str) -> None:
    f = PROGRAMS[name]
    np.testing.assert_allclose(gradient(f, X.copy()), fd_grad(f, X), rtol=1e-6, atol=1e-8)


def test_autodiff_duplicated_accumulates_and_active_scalar_returned() -> None:
    x, dx = X.copy(), np.ones_like(X)
    out = autodiff(lambda x, c: (c * np.sin(x)).sum(), ar.Duplicated(x, dx), ar.Active(2.5))
    np.testing.assert_allclose(dx, 1.0 + 2.5 * np.cos(X))
    assert out[0] is None
    assert out[1] == pytest.approx(np.sin(X).sum())


def test_autodiff_returns_seed_const_and_with_primal() -> None:
    x, dx = X.copy(), np.zeros_like(X)
    derivs, primal = autodiff(lambda x: (x * x).sum(), ar.Duplicated(x, dx),
                              returns=ar.Active(3.0), with_primal=True)
    assert derivs == (None,)
    assert primal == pytest.approx((X * X).sum())
    np.testing.assert_allclose(dx, 6.0 * X)
    dx[:] = 0
    assert autodiff(lambda x: (x * x).sum(), ar.Duplicated(x, dx), returns=ar.Const) == (None,)
    np.testing.assert_allclose(dx, 0.0)


def test_array_result_needs_const_or_vjp() -> None:
    x = X.copy()
    with pytest.raises(ar.ActivityError, match="returns=ar.Const"):
        autodiff(lambda x: x * 2.0, ar.Duplicated(x, np.zeros_like(x)))


def test_const_and_plain_arguments_are_not_differentiated() -> None:
    x, dx = X.copy(), np.zeros_like(X)
    w = np.linspace(0.0, 1.0, X.size)
    out = autodiff(lambda x, w, k: (x * w).sum() * k, ar.Duplicated(x, dx), ar.Const(w), 3)
    assert out == (None, None, None)
    np.testing.assert_allclose(dx, 3 * w)


def test_vjp_pullback_tuple_and_repeated_calls() -> None:
    a, b = X.copy(), 0.7
    y, pullback = vjp(lambda a, b: np.sin(a) * b, a, b)
    np.testing.assert_allclose(y, np.sin(X) * 0.7)
    ybar = np.linspace(1.0, 2.0, X.size)
    for _ in range(2):
        da, db = pullback(ybar)
        np.testing.assert_allclose(da, ybar * np.cos(X) * 0.7)
        assert db == pytest.approx((ybar * np.sin(X)).sum())


def test_gradient_argnums_tuple() -> None:
    f = lambda a, b: (a * b * b).sum()  # noqa: E731
    a, b = X.copy(), X[::-1].copy()
    ga, gb = gradient(f, a, b, argnums=(0, 1))
    np.testing.assert_allclose(ga, b * b)
    np.testing.assert_allclose(gb, 2 * a * b)


def test_batch_duplicated_fills_every_lane() -> None:
    x = X.copy()
    lanes = (np.zeros_like(x), np.zeros_like(x), np.zeros_like(x))
    seeds = (1.0, 2.0, -1.0)
    autodiff(lambda x: (np.sin(x) * x).sum(), ar.BatchDuplicated(x, lanes), returns=ar.Active(seeds))
    for s, lane in zip(seeds, lanes):
        np.testing.assert_allclose(lane, s * (np.cos(X) * X + np.sin(X)))


def test_read_only_attributes_and_iteration() -> None:
    seen = {}

    def f(x):
        m = x.reshape(2, 3)
        seen.update(shape=m.shape, ndim=m.ndim, dtype=m.dtype, size=m.size, len=len(m),
                    T=m.T.shape)
        return sum((row * row).sum() for row in m)

    np.testing.assert_allclose(gradient(f, X.copy()), 2 * X)
    assert seen == dict(shape=(2, 3), ndim=2, dtype=np.float64, size=6, len=2, T=(3, 2))


def test_control_flow_on_values() -> None:
    def f(x):
        s = x.sum()
        return s * s if s > 0 else -s

    np.testing.assert_allclose(gradient(f, X.copy()), 2 * X.sum() * np.ones_like(X))


def test_ufunc_out_and_like_allocation() -> None:
    def f(x):
        buf = np.zeros_like(x)
        np.multiply(x, x, out=buf)
        z = np.zeros(3, like=x)
        z[0] = x[0]
        z[1:] = buf[1:3]
        return (z * buf[:3]).sum()

    np.testing.assert_allclose(gradient(f, X.copy()), fd_grad(f, X), rtol=1e-6)


def test_primitive_calls_rule_not_body() -> None:
    calls = []

    @ar.engine.primitive
    def cube(x):
        calls.append("body")
        return x ** 3

    @ar.rrule(cube)
    def _cube(x):
        calls.append("rule")
        return x ** 3, lambda g: (3 * g * x ** 2,)

    assert cube(2.0) == 8.0 and calls == ["body"]
    calls.clear()
    np.testing.assert_allclose(gradient(lambda x: cube(x).sum(), X.copy()), 3 * X ** 2)
    assert calls == ["rule"]


def test_primitive_rule_sees_const_argument_as_const() -> None:
    seen = []

    @ar.engine.primitive
    def scale(x, w):
        return x * w

    @ar.rule(scale, ar.Annotation, ar.Annotation)
    def _scale(cfg, x, w):
        seen.append(cfg.activities)
        wv = w.val

        def reverse(g):
            x.dval += g * wv
            return None
        return x.val * w.val, reverse

    w = np.full(X.size, 2.0)
    np.testing.assert_allclose(gradient(lambda x: scale(x, w).sum(), X.copy()), w)
    assert seen == [(ar.Duplicated, ar.Const)]


def test_batch_with_mutation_scalars_and_indexing_matches_lane_by_lane() -> None:
    def f(u, p):
        s = p[0] * np.sin(p[1])          # scalar-only calls: run lane by lane
        u *= 0.5
        u[0] = u[0] + s * u[2]
        u[1:] += p[2] * u[:-1]

    rng = np.random.default_rng(3)
    u0, p0 = rng.standard_normal(6), np.array([0.8, 1.5, -0.3])
    seeds = [rng.standard_normal(6) for _ in range(3)]
    u, p = u0.copy(), p0.copy()
    dus, dps = tuple(s.copy() for s in seeds), tuple(np.zeros(3) for _ in seeds)
    autodiff(f, ar.BatchDuplicated(u, dus), ar.BatchDuplicated(p, dps), returns=ar.Const)
    for k, seed in enumerate(seeds):
        du, dp = seed.copy(), np.zeros(3)
        autodiff(f, ar.Duplicated(u0.copy(), du), ar.Duplicated(p0.copy(), dp), returns=ar.Const)
        np.testing.assert_allclose(dus[k], du)
        np.testing.assert_allclose(dps[k], dp)


def test_vjp_tuple_output_and_constant_result() -> None:
    (y1, y2), pullback = vjp(lambda x: (np.sin(x), (x * x).sum()), X.copy())
    np.testing.assert_allclose(y1, np.sin(X))
    (dx,) = pullback((np.ones_like(X), 2.0))
    np.testing.assert_allclose(dx, np.cos(X) + 4 * X)
    np.testing.assert_array_equal(gradient(lambda x: 3.0, X.copy()), np.zeros_like(X))


def test_mixing_two_differentiations_nests_them() -> None:
    # issue 11 changed the contract: this raised "two different differentiations" before
    def outer(x):
        return (gradient(lambda y: (x * y * y).sum(), X.copy()) * x).sum()  # closes over outer's x

    # outer(x) = sum(2 x^2 X): the gradient is 4 x X
    np.testing.assert_allclose(gradient(outer, X.copy()), 4 * X * X, rtol=1e-12)


def test_caller_arrays_unlocked_after_an_exception() -> None:
    x = X.copy()

    def f(x):
        np.sin(x) * x
        raise KeyError("inside f")

    with pytest.raises(KeyError):
        autodiff(f, ar.Duplicated(x, np.zeros_like(x)))
    assert x.flags.writeable
