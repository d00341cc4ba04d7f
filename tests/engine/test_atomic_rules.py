"""Rules registered ``atomic=True`` run on the shadows themselves; other hand-written
rules on scratch buffers, so that a failing rule leaves no partial accumulation."""

from __future__ import annotations

import numpy as np
import pytest

import activerules as ar
from activerules.engine import autodiff, gradient, primitive

X = np.array([0.3, -1.2, 0.7])
SEEN: list[np.ndarray] = []


def _doubling_rule(cfg, x):
    def reverse(g):
        SEEN.append(x.dval.copy())  # what the rule is handed as x's shadow
        x.dval += 2.0 * g
        return None
    return x.val * 2.0, reverse


@primitive
def double_atomic(x):
    return x * 2.0


@primitive
def double_careful(x):
    return x * 2.0


ar.rule(double_atomic, ar.Duplicated, atomic=True)(_doubling_rule)
ar.rule(double_careful, ar.Duplicated)(_doubling_rule)


@pytest.mark.parametrize("double, seen", [(double_atomic, 3.0), (double_careful, 0.0)])
def test_an_atomic_rule_accumulates_into_the_shadow_itself(double, seen):
    # x * 3.0 was recorded after double(x), so its reverse ran first: x's shadow holds 3
    SEEN.clear()
    g = gradient(lambda x: (double(x) + x * 3.0).sum(), X)
    np.testing.assert_allclose(g, np.full(3, 5.0))
    np.testing.assert_array_equal(SEEN[0], np.full(3, seen))  # careful: a zero scratch buffer


@primitive
def fails_atomic(x):
    return x * 1.0


@ar.rule(fails_atomic, ar.Duplicated, atomic=True)
def _fails_atomic(cfg, x):
    def reverse(g):
        raise ValueError("no derivative here")  # before writing anything, as promised
    return x.val * 1.0, reverse


def test_an_atomic_rule_that_raises_leaves_the_shadows_alone():
    x, dx = X.copy(), np.full(3, 0.5)
    with pytest.raises(ar.RuleError, match="_fails_atomic.*reverse raised ValueError: no derivative here"):
        autodiff(lambda x: (fails_atomic(x) + x * 3.0).sum(), ar.Duplicated(x, dx))
    # x * 3.0's reverse ran before the failing rule and added its 3s, but after a failure
    # the caller's shadow is as before the call (issue 10); nothing from the failing rule
    # reached dx either
    np.testing.assert_array_equal(dx, np.full(3, 0.5))


def test_the_registration_records_the_promise():
    entry = ar.registry.resolve(double_atomic, (ar.Duplicated,), (np.ndarray,)).entry
    assert entry.atomic is True
    entry = ar.registry.resolve(double_careful, (ar.Duplicated,), (np.ndarray,)).entry
    assert entry.atomic is False
