"""The sweep hands cotangents over instead of adding them into fresh zero shadows
(``ann.fresh``): only arrays nothing else can see are adopted, and every gradient
stays what finite differences say."""

from __future__ import annotations

import weakref

import numpy as np
from engine_helpers import fd_grad

import activerules as ar
from activerules.engine import gradient, primitive, vjp

X = np.array([0.3, -1.2, 0.7, 2.0])
Y = np.array([1.1, 0.4, -0.5, 0.9])


@primitive
def plus(x, y):
    """x + y, with a hand-written rule that hands the output cotangent to both."""
    return x + y


@ar.rule(plus, ar.Duplicated, ar.Duplicated)
def _plus_rule(cfg, x, y):
    def reverse(g):
        from activerules.rules._util import accumulate
        accumulate(x, g, x.val)
        accumulate(y, g, y.val)
        return (None, None)
    return x.val + y.val, reverse


def test_one_output_cotangent_is_not_shared_by_two_arguments():
    # plus hands g to x and y: adopted by one, copied for the other, so the later
    # accumulation into x (from w = 3x, recorded first) does not reach y
    def f(x, y):
        w = x * 3.0
        z = plus(x, y) * 1.0  # the * 1.0: z's cotangent is an array the sweep made
        return (w + z).sum()

    gx, gy = gradient(f, X, Y, argnums=(0, 1))
    np.testing.assert_allclose(gx, np.full(4, 4.0))
    np.testing.assert_allclose(gy, np.full(4, 1.0))


KEPT = np.ones(4)


@primitive
def leaky(x):
    """A function whose hand-written rule delivers an array it still holds."""
    return x * 1.0


@ar.rule(leaky, ar.Duplicated)
def _leaky_rule(cfg, x):
    def reverse(g):
        from activerules.rules._util import accumulate
        accumulate(x, KEPT, x.val)  # KEPT is module state: it must never become a shadow
        return (None,)
    return x.val * 1.0, reverse


def test_a_cotangent_the_rule_still_holds_is_copied_not_adopted():
    def f(x):
        a = x * 2.0          # accumulates into x's shadow after leaky's reverse ran
        return (leaky(x) + a).sum()

    before = KEPT.copy()
    np.testing.assert_allclose(gradient(f, X), np.full(4, 3.0))
    np.testing.assert_array_equal(KEPT, before)


@primitive
def scaled(x):
    """x * 1.5, with a hand-written rule that records which array it delivered."""
    return x * 1.5


DELIVERED: list[int] = []


@ar.rule(scaled, ar.Duplicated)
def _scaled_rule(cfg, x):
    def reverse(g):
        from activerules.rules._util import accumulate
        cot = g * 1.5
        DELIVERED.append(id(cot))  # the id only: a reference would (rightly) block adoption
        accumulate(x, cot, x.val)
        return (None,)
    return x.val * 1.5, reverse


def test_a_fresh_cotangent_becomes_the_shadow():
    DELIVERED.clear()
    g = gradient(lambda x: scaled(x).sum(), X)
    np.testing.assert_allclose(g, np.full(4, 1.5))
    assert DELIVERED == [id(g)]  # no zero shadow was allocated-and-added: the cotangent is it


def test_a_pullback_called_twice_gives_the_same_cotangents():
    def f(x, y):
        return x * y + x * 2.0

    _, pullback = vjp(f, X, Y)
    seed = np.array([1.0, -2.0, 0.5, 3.0])
    first = [c.copy() for c in pullback(seed)]
    second = pullback(seed)
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(first[0], seed * (Y + 2.0))


def test_mixed_program_matches_finite_differences():
    def f(x):
        a = np.sin(x) * 2.0
        b = a + x
        c = b * x - a
        d = np.tanh(c) + 0.5
        return (d * b).sum() + (x * x).sum()

    np.testing.assert_allclose(gradient(f, X), fd_grad(f, X), rtol=1e-6, atol=1e-8)


REFS: list = []
SEEN: list = []


@primitive
def early(x):
    return x * 1.0


@primitive
def late(x):
    return x * 1.0


@ar.rrule(early)
def _early_rrule(x):
    def pullback(g):
        SEEN.append(REFS[-1]() is None)  # is what late's reverse kept freed by now?
        return (g,)
    return x * 1.0, pullback


@ar.rrule(late)
def _late_rrule(x):
    kept = np.ones(x.shape)
    REFS.append(weakref.ref(kept))

    def pullback(g):
        return (g * kept,)
    return x * 1.0, pullback


def test_a_single_sweep_frees_what_each_reverse_read_as_it_goes():
    REFS.clear()
    SEEN.clear()
    gradient(lambda x: late(early(x)).sum(), X)
    _, pullback = vjp(lambda x: late(early(x)), X)
    pullback(np.ones(4))
    pullback(np.ones(4))
    assert SEEN == [True, False, False]  # gradient consumed its tape; a vjp keeps it for reuse
