"""``np.unwrap`` adds piecewise-constant multiples of the period: slope 1."""

from __future__ import annotations

import numpy as np
from engine_helpers import assert_gradient_matches_fd

X = np.array([0.0, 1.0, 2.5, 4.0, -2.0, -0.5, 0.7])  # one wrap, between 4.0 and -2.0


def test_unwrap_matches_finite_differences() -> None:
    assert_gradient_matches_fd(lambda x: (np.unwrap(x) ** 2).sum(), X)
    assert_gradient_matches_fd(lambda x: (np.unwrap(x.reshape(1, 7) * 2.0, period=7.0, axis=1) ** 3).sum(), X)
