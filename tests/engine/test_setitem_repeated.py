"""Advanced setitem with a repeated index: NumPy keeps the last write, and so do
the cotangents (the overwritten values get none)."""

import numpy as np

import activerules as ar
from activerules.testing import check_rule


def _fd(f, x, h=1e-6):
    g = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        e = np.zeros_like(x)
        e[i] = h
        g[i] = (f(x + e) - f(x - e)) / (2 * h)
    return g


def overwrite(x):
    y = np.zeros_like(x)
    y[[0, 0, 2]] = x[:3] * np.array([1.0, 10.0, 100.0])
    return (y * y).sum()


def add_repeated(x):
    x = x.copy()
    x[[0, 0, 1]] += x[2]  # buffered: position 0 gets one increment, as in NumPy
    return (x ** 3).sum()


def test_repeated_index_setitem_matches_finite_differences():
    x = np.array([0.5, 1.5, -0.7, 2.0])
    for f in (overwrite, add_repeated):
        np.testing.assert_allclose(ar.gradient(f, x.copy()), _fd(f, x), rtol=1e-7, atol=1e-8)


def test_setitem_rule_with_repeated_index_passes_check_rule():
    import operator
    check_rule(operator.setitem, np.arange(6.0).reshape(2, 3), ([1, 1, 0], [2, 2, 0]), np.array([1.0, 2.0, 3.0]))
