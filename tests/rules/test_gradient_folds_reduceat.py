"""``np.gradient``, the folds ``subtract/divide/power.reduce`` and ``ufunc.reduceat``
through the engine (small programs against finite differences), and the forms they refuse."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from engine_helpers import assert_gradient_matches_fd

import activerules as ar

X = np.array([[0.5, -1.2, 2.0, 0.9], [1.5, 0.3, -0.7, 1.1], [0.2, 0.8, -0.4, 1.6]])
W = np.linspace(-1.0, 1.0, 12).reshape(3, 4)  # weights, so the loss sees every output


@pytest.mark.parametrize(("args", "kw"), [((), {}), ((0.5, 2.0), {"edge_order": 2}), ((0.3,), {"axis": 1}),
                                          ((np.array([0.0, 1.0, 2.5, 4.0]),), {"axis": -1, "edge_order": 2})])
def test_gradient_through_the_engine(args: tuple[Any, ...], kw: dict[str, Any]) -> None:
    def loss(x: Any) -> Any:
        d = np.gradient(np.sin(x), *args, **kw)
        parts = [d] if not isinstance(d, tuple) else list(d)
        return sum(np.sum(W * p * (k + 1)) for k, p in enumerate(parts))
    assert_gradient_matches_fd(loss, X)


def test_gradient_spacing_is_active() -> None:
    f = np.linspace(0.0, 1.0, 6) ** 3

    def loss(h: Any) -> Any:
        return np.sum(np.gradient(f, h) ** 2)
    eps = 1e-6
    np.testing.assert_allclose(ar.gradient(loss, 0.4), (loss(0.4 + eps) - loss(0.4 - eps)) / (2 * eps), rtol=1e-6)


def test_gradient_active_coordinates_raise() -> None:
    with pytest.raises(NotImplementedError, match="coordinate arrays"):
        ar.gradient(lambda c: np.sum(np.gradient(X, c, axis=1) ** 2), np.array([0.0, 1.0, 2.5, 4.0]))


@pytest.mark.parametrize("ufunc", [np.subtract, np.divide], ids=lambda u: u.__name__)
@pytest.mark.parametrize("axis", [0, 1])
def test_fold_through_the_engine(ufunc: np.ufunc, axis: int) -> None:
    assert_gradient_matches_fd(lambda x: np.sum(np.cos(ufunc.reduce(x * 1.5 + 2.0, axis=axis))), X)


def test_power_fold_through_the_engine() -> None:
    # two elements per fold: NumPy 2.4's float power.reduce is not a left fold for more (below)
    assert_gradient_matches_fd(lambda x: np.sum(np.power.reduce(np.abs(x[:, :2]) + 0.5, axis=1) ** 2), X)


def test_power_fold_differentiates_the_left_fold_or_refuses() -> None:
    a = np.array([2.0, 3.0, 2.0])  # ((2 ** 3) ** 2) = 64
    if np.power.reduce(a) == 64.0:  # a NumPy whose float power.reduce folds left
        _, pullback = ar.vjp(np.power.reduce, a)
        np.testing.assert_allclose(pullback(1.0)[0], [6 * 2.0 ** 5, 2 * 64 * np.log(2.0), 64 * np.log(8.0)])
    else:  # NumPy 2.4 returns a[0] ** a[-1]: no gradient rather than the fold's
        with pytest.raises(NotImplementedError, match="left fold"):
            ar.vjp(np.power.reduce, a)


@pytest.mark.parametrize("ufunc", [np.add, np.multiply, np.maximum, np.minimum], ids=lambda u: u.__name__)
def test_reduceat_through_the_engine(ufunc: np.ufunc) -> None:
    idx = np.array([0, 2, 2, 1])  # a segment, a repeated index (one element), a step back

    def loss(x: Any) -> Any:
        return np.sum(np.sin(ufunc.reduceat(x, idx, axis=1)) * np.arange(1.0, 13.0).reshape(3, 4))
    assert_gradient_matches_fd(loss, X)
