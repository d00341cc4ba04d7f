"""``np.multiply.at``: ``a[indices] *= b`` in place, repeated indices multiplying."""

from __future__ import annotations

from typing import Any

import numpy as np
from engine_helpers import assert_gradient_matches_fd

X = np.array([0.7, -1.2, 1.5, 0.4, 2.0, 1.3, -0.8, 0.6, 1.1])
W = np.arange(1.0, 6.0)


def test_multiply_at_with_repeated_indices_matches_finite_differences() -> None:
    def f(x: Any) -> Any:
        y = x[:5] * 1.0  # a fresh array that receives active values
        np.multiply.at(y, np.array([0, 1, 1, 3, 1]), x[4:])
        return (y * W).sum() + (x[4:] ** 2).sum()

    assert_gradient_matches_fd(f, X)


def test_multiply_at_into_a_zeroed_buffer_and_by_a_broadcast_factor() -> None:
    def f(x: Any) -> Any:
        y = np.zeros((2, 3), like=x)
        y[...] = x[:6].reshape(2, 3)
        np.multiply.at(y, (np.array([0, 1, 1]), np.array([2, 0, 0])), x[6])
        return (y ** 2 * W[:3]).sum()

    assert_gradient_matches_fd(f, X)


def test_maximum_and_minimum_at_send_the_cotangent_to_the_winner() -> None:
    def f(x: Any) -> Any:
        y = x[:5] * 1.0
        np.maximum.at(y, np.array([0, 1, 1, 3]), x[5:])  # 1 receives two candidates
        np.minimum.at(y, np.array([2, 2, 4]), x[5:8] - 1.0)
        return (y * W).sum()

    assert_gradient_matches_fd(f, X)
