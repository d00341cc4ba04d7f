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


# -- batch forms: each lane against finite differences and the width-1 rule -----------------

def _scale_registry(reverse_of):
    """``scale(a, x) = a * x`` in a private registry: a correct width-1 rule, and a batch form
    (``batched=True``) whose reverse is ``reverse_of(a, x)``."""
    reg = ar.RuleRegistry()

    def scale(a, x):
        return a * x

    @reg.rule(scale, ar.Active, ar.Duplicated)
    def _scale(cfg, a, x):
        av, xv = a.val, x.val

        def reverse(g):
            x.dval += av * g
            return ((g * xv).sum(), None)
        return av * xv, reverse

    @reg.rule(scale, ar.Active, ar.BatchDuplicated)
    def _scale_lanes(cfg, a, x):
        return a.val * x.val, reverse_of(a, x)

    return reg, scale


def test_check_rule_passes_a_correct_batch_rule():
    def reverse_of(a, x):
        def reverse(gs):
            for d, g in zip(x.dvals, gs):
                d += a.val * g
            return (tuple((g * x.val).sum() for g in gs), None)
        return reverse

    reg, scale = _scale_registry(reverse_of)
    report = check_rule(scale, 1.5, np.array([0.5, -1.0, 2.0]), registry=reg,
                        activities=[(ar.Active, ar.BatchDuplicated)])
    assert report.passed == [f"{__name__}._scale_registry.<locals>.scale(Active, BatchDuplicated)"]


def test_check_rule_catches_a_batch_rule_that_mixes_lanes_and_names_it():
    def reverse_of(a, x):
        def reverse(gs):  # wrong: every lane's Active cotangent is the sum over all lanes
            for d, g in zip(x.dvals, gs):
                d += a.val * g
            total = sum((g * x.val).sum() for g in gs)
            return ((total,) * len(gs), None)
        return reverse

    reg, scale = _scale_registry(reverse_of)
    with pytest.raises(AssertionError) as e:
        check_rule(scale, 1.5, np.array([0.5, -1.0, 2.0]), registry=reg,
                   activities=[(ar.Active, ar.BatchDuplicated)])
    msg = str(e.value)
    assert "scale(Active, BatchDuplicated)" in msg                  # the function and activity tuple
    assert "rule `_scale_registry.<locals>._scale_lanes`" in msg     # the rule
    assert "argument 0 (Active)" in msg and "differs from the width-1 rule" in msg


def test_check_rule_catches_a_stacked_rule_that_sums_over_the_lane_axis():
    reg = ar.RuleRegistry()

    def scale(a, x):
        return a * x

    @reg.rule(scale, ar.Annotation, ar.Annotation, batched=True)  # a false promise
    def _scale(cfg, a, x):
        av, xv = a.val, x.val

        def reverse(g):
            if not isinstance(x, ar.Const):
                x.dval += av * g
            # wrong on stacked lanes: sums the lane axis too (right for one lane)
            return ((g * xv).sum() if isinstance(a, ar.Active) else None, None)
        return av * xv, reverse

    x = np.array([0.5, -1.0, 2.0])
    check_rule(scale, 1.5, x, registry=reg, activities=[(ar.Active, ar.Duplicated)])  # width 1: right
    with pytest.raises(AssertionError) as e:
        check_rule(scale, 1.5, x, registry=reg, activities=[(ar.Active, ar.BatchDuplicated)])
    msg = str(e.value)
    assert "scale(Active, BatchDuplicated)" in msg and "._scale` for (Annotation, Annotation)" in msg
    assert "on stacked lanes" in msg
    assert "argument 0" in msg
