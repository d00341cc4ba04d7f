"""Views NumPy hands out read-only or aliased, and functions that make views of
the caller's (locked) arrays writable."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from engine_helpers import assert_gradient_matches_fd

X = np.array([0.3, 1.1, 2.0])


def _diagonal_sees_later_writes(x: Any) -> Any:
    A = np.outer(x, x)
    d = np.diagonal(A)  # a read-only view: its shadow must still accumulate
    A[0, 0] = 7.0
    return (d * x).sum() + A.diagonal(1).sum()


READ_ONLY_VIEWS = {
    "diagonal": _diagonal_sees_later_writes,
    "broadcast_to": lambda x: (np.broadcast_to(x, (2, 3)) * np.arange(6.0).reshape(2, 3)).sum(),
    "broadcast_to_column": lambda x: (np.broadcast_to(x[:, None], (3, 2)) ** 2).sum(),
}


@pytest.mark.parametrize("name", sorted(READ_ONLY_VIEWS))
def test_read_only_and_aliased_views(name: str) -> None:
    assert_gradient_matches_fd(READ_ONLY_VIEWS[name], X)
