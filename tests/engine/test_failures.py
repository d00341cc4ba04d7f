"""Failures: a rule that rebinds its shadow, or raises midway in the sweep, never
leaves a wrong derivative behind, and nothing of the caller's changes.
Oracle: central finite differences."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import activerules as ar
from activerules.testing import check_rule

# -- item: rebinding dval instead of accumulating in place ------------------------------------

def _rebinding_rule(fn: Any, style: str) -> None:
    @ar.rule(fn, ar.Annotation, ar.Annotation)
    def _r(cfg: Any, a: Any, b: Any) -> Any:
        y = a.val * b.val

        def reverse(g: Any) -> Any:
            for p, q in ((a, b), (b, a)):
                if not isinstance(p, ar.Const):
                    if style == "assign":
                        p.dval = g * q.val
                    else:
                        p.dval = p.dval + g * q.val
            return None
        return y, reverse


@pytest.mark.parametrize("style", ["assign", "add"])
def test_rebinding_dval_raises_a_rule_error(style: str) -> None:
    @ar.primitive
    def mul(a: Any, b: Any) -> Any:
        return a * b

    _rebinding_rule(mul, style)
    x = np.array([1.0, 2.0, 3.0])
    for f in (lambda x: (mul(x, x * 2.0) + x).sum(), lambda x: (x + mul(x * 2.0, x)).sum()):
        with pytest.raises(ar.RuleError, match=r"dval \+="):
            ar.gradient(f, x)


def test_check_rule_fails_a_rebinding_rule() -> None:
    @ar.primitive
    def mul2(a: Any, b: Any) -> Any:
        return a * b

    _rebinding_rule(mul2, "add")
    with pytest.raises(AssertionError, match="dval"):
        check_rule(mul2, np.array([1.0, 2.0]), np.array([3.0, 4.0]),
                   activities=[(ar.Duplicated, ar.Duplicated)])


def test_accumulating_in_place_is_fine_and_annotate_fills_in() -> None:
    ann = ar.Duplicated(np.ones(2), np.zeros(2))
    d = ann.dval
    ann.dval += 1.0  # the same buffer: allowed
    assert ann.dval is d and (d == 1.0).all()
    with pytest.raises(ar.RuleError, match=r"dval \+="):
        ann.dval = np.zeros(2)
    b = ar.BatchDuplicated(np.ones(2), (np.zeros(2),))
    with pytest.raises(ar.RuleError, match=r"dvals"):
        b.dvals = (np.ones(2),)


# -- item: a rule raising midway in the sweep leaves the caller's buffers alone --------------

class _Boom(Exception):
    pass


@ar.primitive
def _fragile(a: Any) -> Any:
    return a * 2.0


@ar.rrule(_fragile)
def _fragile_rule(a: Any) -> Any:
    def pullback(g: Any) -> Any:
        raise _Boom("reverse fails")
    return a * 2.0, pullback


def _writes_then_fails_in_reverse(x: Any, y: Any) -> Any:
    x[0] = x[1] * y[0]  # a side effect on the caller's x
    z = _fragile(np.sin(x) * y)  # fails in the sweep after the rules below ran
    y *= 3.0
    return (z * y).sum() + (x * x).sum()


def _writes_then_fails_in_forward(x: Any, y: Any) -> Any:
    x[0] = x[1] * y[0]
    y[1:] = np.cos(x[1:])
    raise _Boom("forward fails")


@pytest.mark.parametrize("f", [_writes_then_fails_in_reverse, _writes_then_fails_in_forward])
def test_failure_leaves_caller_arrays_and_shadows_as_before(f: Any) -> None:
    x, y = np.array([0.5, 1.5, -2.0]), np.array([1.0, 2.0, 3.0])
    dx, dy = np.array([0.1, 0.2, 0.3]), np.array([-1.0, 0.0, 1.0])
    before = [a.copy() for a in (x, y, dx, dy)]
    with pytest.raises((ar.RuleError, _Boom)):
        ar.autodiff(f, ar.Duplicated(x, dx), ar.Duplicated(y, dy))
    for a, b in zip((x, y, dx, dy), before):
        np.testing.assert_array_equal(a, b)
    assert all(a.flags.writeable for a in (x, y, dx, dy))


def test_failure_in_a_batch_leaves_the_shadows_as_before() -> None:
    x, y = np.array([0.5, 1.5, -2.0]), np.array([1.0, 2.0, 3.0])
    dxs = (np.ones(3), np.arange(3.0))
    dys = (np.zeros(3), np.ones(3))
    before = [a.copy() for a in (x, y, *dxs, *dys)]
    with pytest.raises((ar.RuleError, _Boom)):
        ar.autodiff(_writes_then_fails_in_reverse, ar.BatchDuplicated(x, dxs), ar.BatchDuplicated(y, dys))
    for a, b in zip((x, y, *dxs, *dys), before):
        np.testing.assert_array_equal(a, b)
