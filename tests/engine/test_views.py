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


def _meshgrid(x: Any) -> Any:
    u, v = np.meshgrid(x, x[:2])
    return (u ** 2 * v).sum()


CALLER_ARRAY_VIEWS = {
    "broadcast_arrays": lambda x: np.broadcast_arrays(x, x[:, None])[1].sum() ** 2,
    "meshgrid": _meshgrid,
}


@pytest.mark.filterwarnings("ignore:future versions will not create a writeable array:FutureWarning")
@pytest.mark.parametrize("name", sorted(CALLER_ARRAY_VIEWS))
def test_functions_making_views_of_the_caller_s_array_writable(name: str) -> None:
    # NumPy makes these views writable; the caller's array is locked read-only meanwhile
    assert_gradient_matches_fd(CALLER_ARRAY_VIEWS[name], X)
