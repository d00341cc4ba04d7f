"""``np.matvec`` / ``np.vecmat`` (NumPy >= 2.2 gufuncs), batched and broadcast."""

from __future__ import annotations

import numpy as np
import pytest
from engine_helpers import assert_gradient_matches_fd

pytestmark = pytest.mark.skipif(not hasattr(np, "matvec"), reason="NumPy >= 2.2")

X = np.linspace(-1.0, 1.3, 2 * 3 * 4 + 4).reshape(-1) ** 3 + 0.1


def test_matvec_batched_matrix_times_shared_vector() -> None:
    assert_gradient_matches_fd(lambda x: (np.matvec(x[:24].reshape(2, 3, 4), x[24:]) ** 2).sum(), X)


def test_vecmat_shared_vector_times_batched_matrix() -> None:
    assert_gradient_matches_fd(lambda x: (np.vecmat(x[21:24], x[:24].reshape(2, 3, 4)) ** 2).sum(), X)
