"""check_rule catches what an author gets wrong (oracle: central finite differences)."""

import numpy as np
import pytest

import activerules as ar
from activerules.testing import check_rule


def _reg_with_nan_rule():
    reg = ar.RuleRegistry()

    def f(x):
        return np.sin(x)

    @reg.rrule(f)
    def _f(x):
        return np.sin(x), lambda g: (g * np.cos(x) * np.nan,)   # a NaN cotangent

    return reg, f


def test_nan_cotangent_fails_where_finite_differences_are_finite():
    reg, f = _reg_with_nan_rule()
    with pytest.raises(AssertionError, match="argument 0"):
        check_rule(f, np.array([0.1, 0.7]), registry=reg, activities=[(ar.Duplicated,)])


def test_nan_finite_difference_positions_are_ignored():
    reg = ar.RuleRegistry()

    def f(x):
        return np.sqrt(x)

    @reg.rrule(f)
    def _f(x):
        y = np.sqrt(x)
        return y, lambda g: (np.where(x > 0, g / (2 * np.where(x > 0, y, 1)), np.inf),)

    # at x = 0 the central difference evaluates sqrt(-h): NaN, so that position is not judged
    with np.errstate(invalid="ignore", divide="ignore"):
        check_rule(f, np.array([0.0, 0.5]), registry=reg, activities=[(ar.Duplicated,)])


def test_check_rule_says_a_shadow_was_overwritten_instead_of_accumulated():
    reg = ar.RuleRegistry()

    def f(x):
        return np.sin(x)

    @reg.rule(f, ar.Duplicated)
    def _f(cfg, x):
        def reverse(g):
            x.dval[...] = g * np.cos(x.val)   # = instead of +=
        return np.sin(x.val), reverse

    with pytest.raises(AssertionError, match=r"overwrote it .* instead of accumulating into it \(dval \+= \.\.\.\)"):
        check_rule(f, np.array([0.1, 0.7]), registry=reg, activities=[(ar.Duplicated,)])


def test_no_overwrite_hint_for_a_plainly_wrong_derivative():
    reg = ar.RuleRegistry()

    def f(x):
        return np.sin(x)

    @reg.rule(f, ar.Duplicated)
    def _f(cfg, x):
        def reverse(g):
            x.dval += g * 2.0   # wrong, but accumulated
        return np.sin(x.val), reverse

    with pytest.raises(AssertionError) as info:
        check_rule(f, np.array([0.1, 0.7]), registry=reg, activities=[(ar.Duplicated,)])
    assert "shadow off by" in str(info.value) and "overwrote" not in str(info.value)


def test_check_rule_names_a_reverse_that_writes_a_primal():
    reg = ar.RuleRegistry()

    def f(x):
        return np.sin(x)

    @reg.rule(f, ar.Duplicated)
    def _f(cfg, x):
        def reverse(g):
            x.dval += g * np.cos(x.val)
            x.val[0] = 0.0                   # writes the primal
        return np.sin(x.val), reverse

    # the resolution's guard stops the write (the primal is read-only while reverse runs)
    with pytest.raises(AssertionError, match=r"f\(Duplicated\): RuleError: rule `.*_f` for \(Duplicated\).*"
                                             r"reverse wrote into a primal value.*x\.dval"):
        check_rule(f, np.array([0.1, 0.7]), registry=reg, activities=[(ar.Duplicated,)])
