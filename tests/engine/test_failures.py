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
