"""Every author mistake is named: the rule, the activity tuple and the fix (issue 13).

These go through a resolution (what the adapters and ``check_rule`` call)."""

import numpy as np
import pytest

import activerules as ar
from activerules.activity import RuleError

X = np.array([0.2, 0.5, 0.9])


def sine(x):
    return np.sin(x)


def _run(reg, acts=(ar.Duplicated,)):
    res = reg.resolve(sine, acts, (np.ndarray,))
    dx = np.zeros(3)
    y, reverse = res(ar.RevConfig(acts), ar.Duplicated(X.copy(), dx))
    return reverse(np.ones(3))


def _label(form):
    return rf"{form} `.*` .*serving .*sine\(Duplicated\)"


def test_rrule_returning_only_the_output():
    reg = ar.RuleRegistry()
    reg.rrule(sine)(lambda x: np.sin(x))
    with pytest.raises(RuleError, match=_label("rrule") + r".*pair \(output, pullback\).*return y, pullback"):
        _run(reg)


def test_rule_returning_only_the_output():
    reg = ar.RuleRegistry()
    reg.rule(sine, ar.Duplicated)(lambda cfg, x: np.sin(x.val))
    with pytest.raises(RuleError, match=_label("rule") + r".*pair \(output, reverse\).*return y, reverse"):
        _run(reg)


def test_pullback_returning_a_bare_array():
    reg = ar.RuleRegistry()
    reg.rrule(sine)(lambda x: (np.sin(x), lambda g: g * np.cos(x)))
    with pytest.raises(RuleError, match=_label("rrule") + r".*got a bare ndarray; wrap it: `return \(dx,\)`"):
        _run(reg)


def test_active_reverse_returning_a_bare_number():
    reg = ar.RuleRegistry()

    def scale(x, s):
        return s * x

    reg.rule(scale, ar.Const, ar.Active)(lambda cfg, x, s: (s.val * x.val, lambda g: float(g @ x.val)))
    res = reg.resolve(scale, (ar.Const, ar.Active), (np.ndarray, float))
    _, reverse = res(ar.RevConfig(res.activities), ar.Const(X), ar.Active(2.0))
    with pytest.raises(RuleError, match=r"scale\(Const, Active\).*tuple of 2.*bare float.*one entry per argument"):
        reverse(np.ones(3))


def test_cotangent_of_the_wrong_shape_or_dtype():
    reg = ar.RuleRegistry()
    reg.rrule(sine)(lambda x: (np.sin(x), lambda g: (np.cos(x)[:2],)))
    with pytest.raises(RuleError, match=_label("rrule") + r".*shape \(2,\).*shape \(3,\).*exact shape"):
        _run(reg)
    reg = ar.RuleRegistry()
    reg.rrule(sine)(lambda x: (np.sin(x), lambda g: ((g * np.cos(x)).astype(complex),)))
    with pytest.raises(RuleError, match=_label("rrule") + r".*dtype complex128.*float64.*astype"):
        _run(reg)


def test_check_rule_reports_the_mistake_by_name():
    reg = ar.RuleRegistry()
    reg.rrule(sine)(lambda x: np.sin(x))
    with pytest.raises(AssertionError, match=r"RuleError: .*return y, pullback"):
        ar.testing.check_rule(sine, X, registry=reg)


def test_reverse_writing_a_primal_is_named_and_the_primal_left_writeable():
    reg = ar.RuleRegistry()

    @reg.rule(sine, ar.Duplicated)
    def _sine(cfg, x):
        def reverse(g):
            x.dval += g * np.cos(x.val)
            x.val[0] = 0.0          # writes the primal
        return np.sin(x.val), reverse

    res = reg.resolve(sine, (ar.Duplicated,), (np.ndarray,))
    x = X.copy()
    _, reverse = res(ar.RevConfig((ar.Duplicated,)), ar.Duplicated(x, np.zeros(3)))
    with pytest.raises(RuleError, match=_label("rule") + r": reverse wrote into a primal value.*x\.dval"):
        reverse(np.ones(3))
    assert x.flags.writeable and np.array_equal(x, X)
