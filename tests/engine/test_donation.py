"""Donated output cotangents (``donation.donated``): the sweep lets a rule compute its
cotangent in the output's cotangent buffer when nothing reads that buffer again."""

from __future__ import annotations

import threading

import numpy as np

import activerules as ar
from activerules.engine import donation, gradient, primitive, vjp

N = donation.DONATE_MIN + 123  # large enough to be donated, not a multiple of the block
X = np.linspace(-1.5, 2.0, N)


def chain(x):
    y = np.tanh(np.sin(x) * 1.3 + 0.2)
    return (np.exp(-y) / 1.7).sum()


def chain_grad(x):
    s = np.sin(x) * 1.3 + 0.2
    y = np.tanh(s)
    return -np.exp(-y) / 1.7 * (1 - y * y) * 1.3 * np.cos(x)


def test_donated_outside_an_engine_is_false():
    g = np.ones(N)
    assert not donation.donated(g)
    with donation.donating(g):
        assert donation.donated(g)
        assert not donation.donated(g.copy())
    assert not donation.donated(g)


def test_gradients_through_donated_cotangents(monkeypatch):
    seen = []
    original = donation.donated

    def spy(g):
        answer = original(g)
        seen.append(answer)
        return answer

    # the rules imported the name: count the answers where they ask
    from activerules.rules import _util, elementwise
    monkeypatch.setattr(_util, "donated", spy)
    monkeypatch.setattr(elementwise, "donated", spy)
    np.testing.assert_allclose(gradient(chain, X), chain_grad(X), rtol=1e-12, atol=1e-15)
    assert any(seen)  # some rule wrote its cotangent into a donated buffer


def test_a_rule_called_directly_never_writes_into_g():
    g = np.linspace(0.5, 1.0, N)
    before = g.copy()
    res = ar.registry.resolve(np.sin, (ar.Duplicated,), (np.ndarray,))
    _, pullback = res.entry.impl(X)
    (xbar,) = pullback(g)
    np.testing.assert_array_equal(g, before)
    np.testing.assert_allclose(xbar, g * np.cos(X))


def test_a_pullback_may_be_called_again():
    y, pullback = vjp(lambda x: np.tanh(np.sin(x) * 2.0), X)
    seed = np.cos(X)
    first = pullback(seed)[0].copy()
    np.testing.assert_array_equal(pullback(seed)[0], first)
    np.testing.assert_array_equal(seed, np.cos(X))  # the caller's seed is not written into
    np.testing.assert_allclose(first, seed * (1 - y * y) * 2.0 * np.cos(X), rtol=1e-12)


@primitive
def nested(x):
    return np.sin(x)


STILL_DONATED: list[bool] = []


@ar.rrule(nested)
def _nested(x):
    def pullback(g):
        was = donation.donated(g)
        _, inner = vjp(np.cos, x)  # a differentiation inside a reverse...
        inner(np.ones_like(x))
        STILL_DONATED.append(was and donation.donated(g))  # ...does not take g's donation away
        return (g * np.cos(x),)
    return np.sin(x), pullback


def test_a_nested_differentiation_keeps_the_outer_donation():
    STILL_DONATED.clear()
    g = gradient(lambda x: (nested(x) * 1.5).sum(), X)
    np.testing.assert_allclose(g, 1.5 * np.cos(X))
    assert STILL_DONATED == [True]


def test_threads_get_the_serial_results():
    inputs = [X * (1 + 0.1 * k) for k in range(4)]
    serial = [gradient(chain, x) for x in inputs]
    results: list = [None] * 4

    def work(k):
        for _ in range(3):
            results[k] = gradient(chain, inputs[k])

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for a, b in zip(results, serial):
        np.testing.assert_array_equal(a, b)
