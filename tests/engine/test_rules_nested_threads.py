"""Broken rules during the sweep, nested differentiation inside rules, threads."""

from __future__ import annotations

import threading

import numpy as np
import pytest

import activerules as ar
from activerules.engine import autodiff, gradient, primitive, vjp

X = np.array([0.3, -1.2, 0.7, 2.0])


@primitive
def _twice_raising(x, y):
    return 2 * x + y


@ar.rule(_twice_raising, ar.Annotation, ar.Annotation)
def _twice_raising_rule(cfg, x, y):
    def reverse(g):
        if isinstance(y, ar.Duplicated):
            y.dval += g            # accumulates into y's shadow first ...
        raise ValueError("boom")   # ... then fails
    return 2 * x.val + y.val, reverse


@primitive
def _bad_shape(x):
    return x * 1.0


@ar.rrule(_bad_shape)
def _bad_shape_rrule(x):
    return x * 1.0, lambda g: (np.ones(x.size + 1),)


def test_rule_raising_in_reverse_names_rule_and_leaves_no_partial_accumulation() -> None:
    x, y = X.copy(), X[::-1].copy()
    dx, dy = np.full(4, 0.5), np.full(4, 0.25)
    with pytest.raises(ar.RuleError, match=r"_twice_raising_rule.*\(Duplicated, Duplicated\).*boom"):
        autodiff(lambda x, y: (_twice_raising(x, y) * x).sum(), ar.Duplicated(x, dx), ar.Duplicated(y, dy))
    np.testing.assert_array_equal(dy, 0.25)  # the partial += into y's shadow was discarded


def test_wrong_shaped_cotangent_raises_rule_error() -> None:
    x, dx = X.copy(), np.full(4, 0.5)
    with pytest.raises(ar.RuleError, match=r"_bad_shape_rrule.*\(Duplicated\).*shape"):
        autodiff(lambda x: _bad_shape(x).sum(), ar.Duplicated(x, dx))
    np.testing.assert_array_equal(dx, 0.5)


# -- nested use: a rule whose reverse takes an inner VJP -------------------------------------

@primitive
def fixed_point(p):
    """Solve x = 0.5 * tanh(x) + p elementwise by iteration."""
    x = np.zeros_like(p)
    for _ in range(100):
        x = 0.5 * np.tanh(x) + p
    return x


def _g(x, p):
    return x - 0.5 * np.tanh(x) - p


@ar.rrule(fixed_point)
def _fixed_point_rrule(p):
    x = fixed_point(p)

    def pullback(xbar):
        # implicit function theorem: pbar = -(dg/dp)^T (dg/dx)^-T xbar, diagonal here
        _, inner = vjp(lambda x: _g(x, p), x)
        (dgdx_diag,) = inner(np.ones_like(x))
        lam = xbar / dgdx_diag
        _, inner_p = vjp(lambda p: _g(x, p), p)
        (pbar,) = inner_p(-lam)
        return (pbar,)

    return x, pullback


def _loss(p):
    return (fixed_point(p) ** 2).sum()


def _loss_unrolled(p):
    x = np.zeros_like(p)
    for _ in range(100):
        x = 0.5 * np.tanh(x) + p
    return (x ** 2).sum()


def test_rule_reverse_may_call_the_engine() -> None:
    np.testing.assert_allclose(gradient(_loss, X.copy()), gradient(_loss_unrolled, X.copy()), rtol=1e-10)


def test_eight_threads_match_serial() -> None:
    inputs = [X * (1 + 0.1 * k) for k in range(8)]

    def work(p):
        q = p.copy()
        q[1:] = q[1:] * q[:-1]
        return (np.sin(_loss(q) * q) + q.mean()).sum()

    serial = [gradient(work, p.copy()) for p in inputs]
    results: list = [None] * 8
    barrier = threading.Barrier(8)

    def run(k):
        barrier.wait()
        for _ in range(5):
            results[k] = gradient(work, inputs[k].copy())

    threads = [threading.Thread(target=run, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for s, r in zip(serial, results):
        np.testing.assert_array_equal(s, r)


FLAKY_CALLS = [0]


@primitive
def flaky(x):
    return x * 1.0


@ar.rrule(flaky)
def _flaky(x):
    def pullback(g):
        FLAKY_CALLS[0] += 1
        if FLAKY_CALLS[0] == 1:
            raise ValueError("only the first time")
        return (g * 1.0,)
    return x * 1.0, pullback


def test_a_pullback_called_again_after_a_rule_error_starts_from_zero():
    FLAKY_CALLS[0] = 0
    x = np.array([0.1, 0.2, -0.4])
    _, pullback = vjp(lambda x: np.sin(x) * 2.0 + flaky(x) * 3.0, x)
    with pytest.raises(ar.RuleError, match="only the first time"):
        pullback(np.ones(3))
    # sin's entry was not reached: the cotangent it was handed must not linger
    np.testing.assert_allclose(pullback(np.ones(3))[0], 2.0 * np.cos(x) + 3.0)
