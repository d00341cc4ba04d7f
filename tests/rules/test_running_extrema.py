"""Running maxima and minima (``np.maximum.accumulate`` and kin): each output's
cotangent goes to the elements of its prefix equal to it, split evenly among
ties, as for ``np.max``."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from engine_helpers import assert_gradient_matches_fd

from activerules.engine import gradient

# two-way ties only, where central differences measure the even split
X = np.array([[1.0, 3.0, 2.0, 3.0, 0.5, 4.0], [-1.0, -2.0, -1.0, -3.0, 0.2, -0.4]])
W = np.linspace(0.5, 2.0, X.size).reshape(X.shape)
UFUNCS = [np.maximum, np.minimum, np.fmax, np.fmin]


@pytest.mark.parametrize("axis", [0, 1, -1])
@pytest.mark.parametrize("ufunc", UFUNCS, ids=lambda u: u.__name__)
def test_running_extremum_matches_finite_differences(ufunc: np.ufunc, axis: int) -> None:
    assert_gradient_matches_fd(lambda x: (ufunc.accumulate(x, axis=axis) * W).sum(), X)


def test_fmax_accumulate_skips_nans() -> None:
    x = np.array([1.0, np.nan, 0.5, 2.0, np.nan, 1.5])
    np.testing.assert_allclose(gradient(lambda v: np.fmax.accumulate(v).sum(), x), [3.0, 0.0, 0.0, 3.0, 0.0, 0.0])


@pytest.mark.parametrize("ufunc", [np.maximum, np.minimum], ids=lambda u: u.__name__)
def test_a_three_way_tie_splits_as_the_reduction_does(ufunc: Any) -> None:
    x = np.array([2.0, 2.0, -1.0, 2.0, -5.0]) * (-1.0 if ufunc is np.minimum else 1.0)  # three equal extrema
    np.testing.assert_allclose(gradient(lambda v: ufunc.accumulate(v)[-1], x),
                               gradient(lambda v: ufunc.reduce(v), x))


@pytest.mark.parametrize("ufunc", [np.fmax, np.fmin], ids=lambda u: u.__name__)
def test_fmax_fmin_reduce_skip_nans_as_nanmax_does(ufunc: Any) -> None:
    x = np.array([[1.0, np.nan, 0.5], [np.nan, -2.0, 3.0]])
    assert_gradient_matches_fd(lambda v: (ufunc.reduce(v, axis=1) * np.array([1.5, -2.0])).sum(), x)
    assert_gradient_matches_fd(lambda v: ufunc.reduce(v, axis=None), x)
