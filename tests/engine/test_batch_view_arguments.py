"""A batch request whose rule gets a view and its base as arguments (``z.T + z``):
the resolution path locks the primals while the reverse runs and must unlock the base
before the view (it raised "cannot set WRITEABLE flag to True" as a RuleError; found by
the program fuzzer after the author-mistake checks merged)."""

from __future__ import annotations

import numpy as np
from engine_helpers import fd_grad

import activerules as ar


def _f(x):
    z = x * 1.0
    y = z.T + z
    return (y * y).sum()


def test_batch_with_a_view_and_its_base_as_arguments_matches_finite_differences():
    x = np.array([[1.0, 2.0], [3.0, 4.0]])
    lanes = (np.zeros((2, 2)), np.zeros((2, 2)))
    ar.autodiff(_f, ar.BatchDuplicated(x, lanes), returns=ar.Active((1.0, 2.0)))
    want = fd_grad(_f, x)
    np.testing.assert_allclose(lanes[0], want, rtol=1e-6)
    np.testing.assert_allclose(lanes[1], 2 * want, rtol=1e-6)
