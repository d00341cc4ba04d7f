"""``ufunc.outer(..., out=o, where=m)`` leaves ``o`` alone where ``m`` is False, as NumPy does."""

import numpy as np

import activerules as ar


def outer_masked(x):
    o = np.full((3, 3), 7.0) * x[0]          # a tracked buffer with known values
    m = np.tri(3, dtype=bool)                 # lower triangle written, the rest kept
    np.multiply.outer(x, x, out=o, where=m)
    return (o * o).sum()


def test_outer_with_where_keeps_masked_entries_and_gradient():
    x = np.array([0.5, -1.2, 2.0])
    expected = np.full((3, 3), 7.0 * x[0])
    np.multiply.outer(x, x, out=expected, where=np.tri(3, dtype=bool))
    y, pullback = ar.vjp(outer_masked, x.copy())
    np.testing.assert_allclose(y, (expected * expected).sum())
    g = pullback(1.0)[0]
    h = 1e-6
    fd = np.array([(outer_masked(x + h * e) - outer_masked(x - h * e)) / (2 * h) for e in np.eye(3)])
    np.testing.assert_allclose(g, fd, rtol=1e-7)
