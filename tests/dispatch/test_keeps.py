"""``keeps=``: a rule declares which argument values its reverse reads; the engine
clears the others after the forward, and check_rule runs each combination the same
way, so a rule that passes check_rule works in the engine (oracle: d/dx sin = cos)."""

import numpy as np
import pytest

import activerules as ar
from activerules.testing import check_rule

X = np.linspace(0.1, 1.0, 4)


def _cos_of(a):
    return np.cos(a.val)  # reads the value through a helper, out of the rule's own code


def _sin_with_helper(**keeps):
    """A fresh primitive sin whose rule's reverse reads ``x.val`` through ``_cos_of``."""
    @ar.primitive
    def f(x):
        return np.sin(x)

    @ar.rule(f, ar.Duplicated, **keeps)
    def _sin_rule(cfg, x):
        def reverse(g):
            x.dval += g * _cos_of(x)
        return np.sin(x.val), reverse

    return f


def test_a_rule_reading_val_through_a_helper_works_in_check_rule_and_the_engine():
    # failed before: the bytecode scan saw no `val` in the rule, the engine cleared x.val
    f = _sin_with_helper()
    check_rule(f, X, activities=[(ar.Duplicated,)])
    np.testing.assert_allclose(ar.gradient(lambda x: f(x).sum(), X), np.cos(X), rtol=1e-12)


def test_keeps_nothing_while_reading_val_fails_check_rule_naming_rule_function_activities_and_fix():
    f = _sin_with_helper(keeps=())
    with pytest.raises(AssertionError) as info:
        check_rule(f, X, activities=[(ar.Duplicated,)])
    msg = str(info.value)
    for part in ("_sin_rule", "f(Duplicated)", "argument(s) 0", "keeps=()", "add their positions to keeps="):
        assert part in msg, (part, msg)
    with pytest.raises(ar.RuleError, match="_sin_rule"):  # and the engine fails as check_rule said
        ar.gradient(lambda x: f(x).sum(), X)


def test_keeps_the_positions_the_reverse_reads():
    @ar.primitive
    def g(x, y):
        return x * y

    @ar.rule(g, ar.Duplicated, ar.Duplicated, keeps=(1,))  # dx needs y; dy needs x: not kept
    def _g(cfg, x, y):
        def reverse(d):
            x.dval += d * y.val
            y.dval += d * x.val
        return x.val * y.val, reverse

    with pytest.raises(AssertionError, match=r"argument\(s\) 0,.*keeps=\(1,\)"):
        check_rule(g, X, X[::-1].copy(), activities=[(ar.Duplicated, ar.Duplicated)])


@pytest.mark.parametrize("keeps", [0, (-1,), (2,), ("x",)])
def test_keeps_must_be_argument_positions(keeps):
    @ar.primitive
    def h(x):
        return x

    with pytest.raises(ar.RegistrationError, match="keeps="):
        ar.rule(h, ar.Duplicated, keeps=keeps)


def _locked_by(op):
    """Whether recording ``op(y, c)`` (y tracked) makes the tape keep the inert array ``c``
    (computed from a constant argument): a later write into it is then copied first
    (copy-on-write; issue 11: a plain constant is given to the rule as a copy, so its
    read-only flag no longer tells)."""
    from activerules.engine.views import stats

    seen = []

    def f(x, k):
        y = x * 2.0
        c = k * 1.0
        op(y, c)
        before = stats["cow_copies"]
        c[0] = 0.0
        seen.append(stats["cow_copies"] > before)
        return (y * x).sum()

    ar.gradient(f, np.ones(3), np.linspace(1.0, 2.0, 3))
    return seen[0]


def _setitem(y, c):
    y[:] = c


def _add_at(y, c):
    np.add.at(y, np.arange(3), c)


@pytest.mark.parametrize("op", [_setitem, np.copyto, _add_at], ids=lambda f: f.__name__)
def test_built_in_rules_that_read_no_value_keep_none(op):
    # as the bytecode scan decided before keeps=: their rules declare keeps=()
    assert not _locked_by(op)


def test_a_rule_that_needs_a_value_keeps_it():
    assert _locked_by(lambda y, c: y * c)  # d(y * c)/dy = c: kept
