"""Stand-ins reproduce NumPy's memory layout wherever a later view or copy depends on
it: copying or sorting a transposed or F-ordered array, then reshaping and writing
into the result, gives NumPy's values and the finite-difference gradient (issue 10)."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import pytest
from engine_helpers import fd_grad

from activerules import Const, Duplicated
from activerules.engine import autodiff, gradient, vjp
from activerules.engine.standins import raw

W = np.array([[0.5, -1.0, 2.0], [1.5, 0.25, -0.75]])

#: functions making an array whose layout decides whether a reshape views or copies it
MAKERS: dict[str, Callable[[Any], Any]] = {
    "x.T (a view)": lambda x: x.T,
    "x (the argument)": lambda x: x,
    "x.T[::-1] (a view)": lambda x: x.T[::-1],
    "x.T.copy()": lambda x: x.T.copy(),
    "x.T.copy('K')": lambda x: x.T.copy(order="K"),
    "x.T.copy('A')": lambda x: x.T.copy(order="A"),
    "x.copy('F')": lambda x: x.copy(order="F"),
    "x[:, ::2].copy()": lambda x: x[:, ::2].copy(),
    "np.copy(x.T)": lambda x: np.copy(x.T),
    "np.copy(x.T, 'C')": lambda x: np.copy(x.T, order="C"),
    "np.array(x.T)": lambda x: np.array(x.T),
    "np.array(x, order='F')": lambda x: np.array(x, order="F"),
    "np.asarray(x.T, order='C')": lambda x: np.asarray(x.T, order="C"),
    "np.ascontiguousarray(x.T)": lambda x: np.ascontiguousarray(x.T),
    "np.asfortranarray(x)": lambda x: np.asfortranarray(x),
    "np.sort(x.T)": lambda x: np.sort(x.T),
    "np.sort(x.T, axis=0)": lambda x: np.sort(x.T, axis=0),
    "np.partition(x.T, 1, axis=0)": lambda x: np.partition(x.T, 1, axis=0),
    "x.T.astype(float64)": lambda x: x.T.astype(np.float64),
    "x.T.astype(float64, order='C')": lambda x: x.T.astype(np.float64, order="C"),
    "x.T.astype(float64, order='F')": lambda x: x.T.astype(np.float64, order="F"),
    "np.sin(x.T)": lambda x: np.sin(x.T),
    "x.T * 2": lambda x: x.T * 2,
    "x.T + x.T": lambda x: x.T + x.T,
    "np.where(x.T > 0, x.T, 0)": lambda x: np.where(x.T > 0, x.T, 0.0),
    "x.T.real": lambda x: x.T.real.copy(order="K"),
    "copy of zeros_like(x.T)": lambda x: _fill_like(np.zeros_like, x),
    "copy of empty_like(x.T)": lambda x: _fill_like(np.empty_like, x),
}


def _fill_like(like: Callable[..., Any], x: Any) -> Any:
    y = like(x.T)
    y[...] = x.T * 3
    return y


def _program(make: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """Make an array, write through a reshape of it (a view or a copy, by layout),
    and read the array: the value depends on which one NumPy made."""
    def f(x: Any) -> Any:
        y = make(x)
        z = y.reshape(-1)
        z[0] = x[0, 0] * 7.0
        z[-1] = 2.0
        return (y * y).sum() + (z * np.arange(z.size)).sum()
    return f


@pytest.mark.parametrize("order", ["C", "F"])
@pytest.mark.parametrize("name", sorted(MAKERS))
def test_layout_then_reshape_and_write_as_numpy(name: str, order: str) -> None:
    make = MAKERS[name]
    x = np.asarray(W, order=order)
    want = make(x.copy(order="K"))
    seen: list[Any] = []

    def record_flags(x: Any) -> Any:
        y = make(x)
        seen.append((raw(y).flags.c_contiguous, raw(y).flags.f_contiguous, y.flags.c_contiguous))
        return (y ** 2).sum()

    gradient(record_flags, x.copy(order="K"))
    assert seen == [(want.flags.c_contiguous, want.flags.f_contiguous, want.flags.c_contiguous)]
    f = _program(make)
    value = f(x.copy(order="K"))
    g = gradient(f, x.copy(order="K"))
    np.testing.assert_allclose(g, fd_grad(f, x.copy(order="K")), rtol=1e-6, atol=1e-6)
    assert vjp(f, x.copy(order="K"))[0] == pytest.approx(value, rel=1e-12)


def _sort_f_then_view(x: Any) -> Any:
    y = np.sort(x.T, axis=0)  # NumPy: F-ordered, so reshape(-1) copies
    z = y.reshape(-1)
    z[0] = 100.0
    return (y * W.T).sum()


def test_sort_of_a_transposed_array_is_f_ordered_as_in_numpy() -> None:
    x = W.copy()
    np.testing.assert_allclose(gradient(_sort_f_then_view, x.copy()), fd_grad(_sort_f_then_view, x))


def _copy_c_then_view(x: Any) -> Any:
    y = x.T.copy()  # the method's default order is 'C': reshape(-1) is a view
    y.reshape(-1)[0] = 100.0
    return (y * W.T).sum()


def test_method_copy_of_a_transposed_array_is_c_ordered_as_in_numpy() -> None:
    x = W.copy()
    np.testing.assert_allclose(gradient(_copy_c_then_view, x.copy()), fd_grad(_copy_c_then_view, x))


def _write_through_reshaped_transpose(x: Any) -> None:
    z = x.T.reshape(-1)  # a view of an F-ordered x: the write reaches x
    z[0] = np.sin(x[1, 1]) * 3.0
    z[3] = x[0, 2] ** 2


@pytest.mark.parametrize("shadow_order", ["C", "F"])
def test_autodiff_shadow_of_another_layout_than_the_array(shadow_order: str) -> None:
    # the shadow of an F-ordered argument, given C-ordered (or F): views of the argument
    # must be views of its shadow for cotangents to land; the caller's dx gets them
    x = np.asfortranarray(W)
    ybar = np.asarray(np.arange(1.0, 7.0).reshape(2, 3), order=shadow_order)
    dx = ybar.copy(order="K")
    xx = x.copy(order="K")
    autodiff(_write_through_reshaped_transpose, Duplicated(xx, dx), returns=Const)

    def loss(x: Any) -> Any:
        _write_through_reshaped_transpose(x)
        return (x * ybar).sum()

    want = x.copy(order="K")
    _write_through_reshaped_transpose(want)
    np.testing.assert_allclose(xx, want)
    np.testing.assert_allclose(dx, fd_grad(loss, x), rtol=1e-6, atol=1e-6)
