"""Views NumPy hands out read-only or aliased, and functions that make views of
the caller's (locked) arrays writable."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from engine_helpers import assert_gradient_matches_fd, fd_grad

import activerules as ar
from activerules.engine import gradient

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


def _write_into_split_and_flip(x: Any) -> Any:
    y = np.exp(np.concatenate([x, x]))
    parts = np.split(y, 3)
    parts[0][0] = 2.0  # a view: the write reaches y
    a, b = np.array_split(y, 2)
    y[1] = 7.0  # and a, b see it
    f = np.flip(y)
    f[1] = x[0] * 3
    r = np.rot90(y.reshape(2, 3))
    r[0, 0] = x[1]
    np.atleast_3d(y)[0, 2, 0] = x[2] ** 2
    return (y ** 2).sum() + (a * b).sum() + parts[2].sum() + f.sum()


def test_splitting_flipping_and_atleast_3d_give_views() -> None:
    assert_gradient_matches_fd(_write_into_split_and_flip, X)


def _write_into_broadcast_arrays_result(x: Any) -> Any:
    y = np.sin(x)
    a, _ = np.broadcast_arrays(y, x)  # NumPy returns y itself
    a[0] = 5.0
    return (y * x).sum()


def _write_into_real_of_real(x: Any) -> Any:
    y = np.sin(x)
    r = np.real(y)  # NumPy returns y itself
    r[0] = 1.0
    return (y * r).sum()


@pytest.mark.parametrize("f", [_write_into_broadcast_arrays_result, _write_into_real_of_real],
                         ids=lambda f: f.__name__)
def test_writing_into_a_copy_of_what_numpy_returns_as_a_view_is_refused(f: Any) -> None:
    with pytest.raises(ar.ActiveRulesError, match="returns a view of its argument"):
        gradient(f, X.copy())
    np.testing.assert_allclose(  # reading it is fine
        gradient(lambda x: (np.real(np.sin(x)) * np.broadcast_arrays(x, x)[0]).sum(), X.copy()),
        np.cos(X) * X + np.sin(X))


def _broadcast_then_write(x, drop):
    a, b = np.broadcast_arrays(x, x[:, None])  # NumPy: views of x; the engine: copies
    s = (a * b).sum()
    if drop:
        del a, b
    x[0] = 10.0  # a NumPy view would see this write; a copy would not
    return s + (x * x).sum() if drop else (a * b).sum()


def test_writing_while_a_copied_view_is_alive_raises():
    with pytest.raises(ar.ActiveRulesError, match="writing into an array while the result of a "
                                                  "NumPy function that returns a view of it"):
        gradient(lambda x: _broadcast_then_write(x, drop=False), X.copy())


def test_writing_after_the_copied_view_is_dropped_is_right():
    f = lambda x: _broadcast_then_write(x, drop=True)  # noqa: E731
    np.testing.assert_allclose(gradient(f, X.copy()), fd_grad(f, X), rtol=1e-6, atol=1e-8)


def test_writing_a_copied_view_into_its_own_base_is_right():
    def f(x):
        x[...] = np.broadcast_to(x[:1], x.shape)  # read first, then written: as in NumPy
        return (x * np.arange(1.0, 4.0)).sum()

    np.testing.assert_allclose(gradient(f, X.copy()), fd_grad(f, X), rtol=1e-6, atol=1e-8)
