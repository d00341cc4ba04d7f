"""The nested sweep checks cotangents as the first-order one does: with dispatch's one
checker. Before, at second order an rrule's cotangent of the wrong shape was broadcast
into the shadow: a silently wrong derivative."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import activerules as ar


@ar.primitive
def bad_scale(x: Any) -> Any:
    return 2.0 * x


@ar.rrule(bad_scale)
def _bad_scale(x: Any) -> Any:
    return 2.0 * x, lambda g: (2.0 * g.sum(),)  # wrong: a number for an array argument


@ar.primitive
def pair_scale(x: Any) -> Any:
    return 2.0 * x


@ar.rrule(pair_scale)
def _pair_scale(x: Any) -> Any:
    return 2.0 * x, lambda g: (2.0 * g, None)  # wrong: two cotangents for one argument


def _second_order(fn: Any) -> Any:
    def inner(x: Any) -> Any:
        return ar.gradient(lambda y: (fn(y) * x).sum(), np.ones(3))
    return ar.gradient(lambda x: (inner(x) ** 2).sum(), np.ones(3))


@pytest.mark.parametrize("order", [1, 2])
def test_a_cotangent_of_the_wrong_shape_is_refused(order: int) -> None:
    with pytest.raises(ar.RuleError, match="_bad_scale|bad_scale") as e:
        if order == 1:
            ar.gradient(lambda x: bad_scale(x).sum(), np.ones(3))
        else:
            _second_order(bad_scale)
    assert "shape" in str(e.value)


@pytest.mark.parametrize("order", [1, 2])
def test_a_wrong_number_of_cotangents_is_refused(order: int) -> None:
    with pytest.raises(ar.RuleError, match="2 cotangents|1 cotangent"):
        if order == 1:
            ar.gradient(lambda x: pair_scale(x).sum(), np.ones(3))
        else:
            _second_order(pair_scale)
