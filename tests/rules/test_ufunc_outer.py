"""``ufunc.outer`` for the binary ufuncs (pairwise differences, products, ...)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from engine_helpers import assert_gradient_matches_fd

X = np.array([0.7, -1.2, 1.5, 0.4, 2.0])


PROGRAMS = {
    "pairwise_distance": lambda x: np.sqrt(np.subtract.outer(x, x) ** 2 + 1.0).sum(),
    "multiply_outer": lambda x: (np.multiply.outer(x[:2], x.reshape(1, 5)) * np.arange(10.0).reshape(2, 1, 5)).sum(),
    "add_outer_2d": lambda x: (np.add.outer(x.reshape(5, 1), x[2:]) ** 3).sum(),
    "maximum_outer": lambda x: (np.maximum.outer(x, 0.5) * np.arange(5.0)).sum(),
    "power_outer": lambda x: np.power.outer(np.abs(x) + 0.5, x[:2]).sum(),
}


@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_outer_matches_finite_differences(name: str) -> None:
    assert_gradient_matches_fd(PROGRAMS[name], X)


def test_outer_of_scalars_gives_scalar_cotangents() -> None:
    from activerules.engine import gradient

    g: Any = gradient(lambda x: np.multiply.outer(x[0], x[1:]).sum(), X)
    np.testing.assert_allclose(g, [X[1:].sum(), X[0], X[0], X[0], X[0]])
