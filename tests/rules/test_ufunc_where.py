"""``where=`` on a ufunc: the derivative formula may be infinite or NaN where
the mask is False (``sqrt`` of a negative, ``1/0``); the rule must select the
masked cotangent, not multiply a zero cotangent by it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from engine_helpers import assert_gradient_matches_fd

X = np.array([-1.0, 0.5, -2.0, 3.0, 0.0, 1.7])  # each mask is constant near every entry
W = np.arange(1.0, 7.0)  # weights, so each entry's cotangent differs


def _into_zeros(call: Callable[[Any, Any], Any]) -> Callable[[Any], Any]:
    """``y = zeros((2, n), like=x); call(x, y)`` (writes into ``y`` through ``out=``), then a weighted sum."""

    def f(x: Any) -> Any:
        y = np.zeros((2, x.size), like=x)
        call(x, y)
        return (y * W).sum()

    return f


PROGRAMS: dict[str, Callable[[Any, Any], Any]] = {
    "sqrt": lambda x, y: np.sqrt(x, out=y[0], where=x > 0.1),
    "log": lambda x, y: np.log(x, out=y[0], where=x > 0.1),
    "arcsin": lambda x, y: np.arcsin(x / 2, out=y[0], where=abs(x) < 1.5),
    "reciprocal": lambda x, y: np.reciprocal(x, out=y[0], where=abs(x) > 0.1),
    "divide_b": lambda x, y: np.divide(np.array([[1.0], [2.0]]), x, out=y, where=abs(x) > 0.1),  # b broadcast
    "divide_a": lambda x, y: np.divide(x, np.where(x > 0, 0.0, 2.0), out=y[0], where=x < -0.1),
    "multiply_inf": lambda x, y: np.multiply(x, np.where(x > 0, 1.5, np.inf), out=y[0], where=x > 0.1),
    "power": lambda x, y: np.power(x, 0.5, out=y[0], where=x > 0.1),
    "arctan2": lambda x, y: np.arctan2(x, x * 0.0, out=y[0], where=abs(x) > 0.1),
    "divmod": lambda x, y: np.divmod(x, np.where(x > 0, 0.7, 0.0), out=(y[0], y[1]), where=x > 0.1),
}


@pytest.mark.filterwarnings("error:'where' used without 'out':UserWarning", "ignore::RuntimeWarning")
@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_gradient_is_finite_and_exact_where_the_mask_is_false(name: str) -> None:
    assert_gradient_matches_fd(_into_zeros(PROGRAMS[name]), X)
