"""``np.logaddexp.reduce`` (logsumexp) and ``np.logaddexp2.reduce``: softmax weights."""

from __future__ import annotations

import numpy as np
import pytest
from engine_helpers import assert_gradient_matches_fd

X = np.array([[0.5, -1.2, 2.0, 700.0], [1.5, 0.3, -0.7, 699.0]])  # large entries: no overflow


@pytest.mark.parametrize("ufunc", [np.logaddexp, np.logaddexp2], ids=lambda u: u.__name__)
@pytest.mark.parametrize("axis", [0, 1, None])
def test_logaddexp_reduce_matches_finite_differences(ufunc: np.ufunc, axis: int | None) -> None:
    assert_gradient_matches_fd(lambda x: (ufunc.reduce(x, axis=axis) * 0.01).sum(), X, rtol=1e-5)
