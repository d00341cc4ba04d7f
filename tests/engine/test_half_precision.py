"""The dtype policy for half precision: the engine refuses to differentiate float16
values, naming the argument and saying what to do (the adapters compute them in
float32 and cast back: tests/adapters/test_dtypes.py); before, NumPy computed the
derivative in float16 without a word."""

from __future__ import annotations

import numpy as np
import pytest

import activerules as ar

X16 = np.array([0.5, 1.25, -2.0], dtype=np.float16)


def _loss(x):
    return np.sin(x).sum()


@pytest.mark.parametrize("request_", ["gradient", "vjp", "autodiff", "autodiff Active", "gradient dict"])
def test_float16_is_refused_with_the_fix(request_):
    with pytest.raises(ar.ActivityError, match=r"float16.*astype\(np\.float32\)"):
        if request_ == "gradient":
            ar.gradient(_loss, X16)
        elif request_ == "vjp":
            ar.vjp(np.sin, X16)
        elif request_ == "autodiff":
            ar.autodiff(_loss, ar.Duplicated(X16.copy(), np.zeros_like(X16)))
        elif request_ == "autodiff Active":
            ar.autodiff(lambda s: s * 2.0, ar.Active(np.float16(1.5)))
        else:
            ar.gradient(lambda p: _loss(p["w"]), {"w": X16})


def test_float16_constant_is_fine_and_float32_matches_finite_differences():
    """What the message says to do works: float32 in, and a float16 constant."""
    x32 = X16.astype(np.float32)
    g = ar.gradient(lambda x, c: (np.sin(x) * c).sum(), x32, X16)
    h = 1e-3
    fd = [(np.sin(x32 + h * e) - np.sin(x32 - h * e)).sum() / (2 * h) for e in np.eye(3, dtype=np.float32)]
    np.testing.assert_allclose(g / X16.astype(np.float32), fd, rtol=1e-3)
