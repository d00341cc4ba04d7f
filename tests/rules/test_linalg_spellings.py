"""NumPy 2's ``np.linalg`` spellings that act on the last two axes
(``diagonal``, ``trace``, ``matrix_transpose``) differentiate like their
``np`` counterparts."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from engine_helpers import assert_gradient_matches_fd

pytestmark = pytest.mark.skipif(not hasattr(np.linalg, "diagonal"), reason="NumPy >= 2.0")

X = np.linspace(-1.0, 1.3, 24).reshape(2, 3, 4) ** 3 + 0.1
W = np.arange(1.0, 25.0).reshape(2, 3, 4)

PROGRAMS: dict[str, Callable[[Any], Any]] = {
    "diagonal": lambda x: (np.linalg.diagonal(x) ** 2).sum(),
    "diagonal_offset": lambda x: (np.linalg.diagonal(x, offset=1) * np.array([1.0, -2.0, 3.0])).sum(),
    "trace": lambda x: (np.linalg.trace(x) * np.array([1.5, -0.5])).sum(),
    "trace_offset": lambda x: (np.linalg.trace(x, offset=-1) ** 2).sum(),
    "matrix_transpose": lambda x: (np.linalg.matrix_transpose(x) * W.transpose(0, 2, 1)).sum(),
}


@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_linalg_spelling_matches_finite_differences(name: str) -> None:
    assert_gradient_matches_fd(PROGRAMS[name], X)
