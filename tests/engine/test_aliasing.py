"""Sharing and aliasing: escaped stand-ins, views made before a rule captured a
constant or before the call, rrules returning views they keep, the same array
passed twice. Oracles: central finite differences, JAX."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from engine_helpers import fd_grad

import activerules as ar

# -- a stand-in that escapes autodiff is detached afterwards ---------------------------------

ESCAPED: list[Any] = []


def _escapes(x: Any) -> Any:
    ESCAPED.append(x)
    ESCAPED.append(x[1:])
    return (3.0 * x).sum()  # a linear function: nothing pins x


def _escapes_after_writing(x: Any) -> Any:
    x *= 2.0
    return _escapes(x)


@pytest.mark.parametrize("f", [_escapes, _escapes_after_writing])
def test_an_escaped_stand_in_no_longer_writes_into_the_caller_array(f: Any) -> None:
    ESCAPED.clear()
    x, dx = np.array([1.0, 2.0, 3.0]), np.zeros(3)
    ar.autodiff(f, ar.Duplicated(x, dx))
    after = x.copy()
    whole, tail = ESCAPED
    try:
        whole[0] = 100.0
        tail[0] = 200.0
        whole *= 3.0
    except ar.ActiveRulesError as e:  # an error on use that says it escaped is fine too
        assert "escaped" in str(e)
    np.testing.assert_array_equal(x, after)
    ESCAPED.clear()


def test_an_escaped_stand_in_of_a_closure_no_longer_writes() -> None:
    x, dx = np.array([1.0, 2.0, 3.0]), np.zeros(3)
    keep: dict[str, Any] = {}

    def f(x: Any) -> Any:
        keep["setter"] = lambda v: x.__setitem__(0, v)
        return (x * 2.0).sum()

    ar.autodiff(f, ar.Duplicated(x, dx))
    try:
        keep["setter"](-5.0)
    except ar.ActiveRulesError as e:
        assert "escaped" in str(e)
    np.testing.assert_array_equal(x, [1.0, 2.0, 3.0])
    np.testing.assert_allclose(dx, fd_grad(lambda v: (v * 2.0).sum(), np.array([1.0, 2.0, 3.0])))


# -- an rrule whose output is a view of an array its pullback keeps ---------------------------

@ar.primitive
def _exp_view(x: Any) -> Any:
    return np.exp(x)


@ar.rrule(_exp_view)
def _exp_view_rule(x: Any) -> Any:
    y = np.exp(x)
    return y[:], lambda g: (g * y,)  # the output is a view of y, which the pullback reads


@ar.primitive
def _exp_reshaped(x: Any) -> Any:
    return np.exp(x)


@ar.rrule(_exp_reshaped)
def _exp_reshaped_rule(x: Any) -> Any:
    y = np.exp(x).reshape(1, -1)
    return y.reshape(-1), lambda g: (g * y[0],)


def _scaled_in_place(e: Any) -> Any:
    def f(x: Any) -> Any:
        y = e(x)
        y *= 3.0  # written in place after the rule kept its base
        y[0] = y[1] * x[2]
        return (y * x).sum()
    return f


@pytest.mark.parametrize("e", [_exp_view, _exp_reshaped])
def test_writing_into_an_rrule_output_that_views_what_its_pullback_keeps(e: Any) -> None:
    f = _scaled_in_place(e)
    x = np.array([0.3, -0.5, 1.2])
    np.testing.assert_allclose(ar.gradient(f, x.copy()), fd_grad(f, x), rtol=1e-6)
    xa, dx = x.copy(), np.zeros(3)
    ar.autodiff(f, ar.Duplicated(xa, dx))
    np.testing.assert_allclose(dx, fd_grad(f, x), rtol=1e-6)


# -- the same array passed as two Duplicated arguments ----------------------------------------

def _two(a: Any, b: Any) -> Any:
    a *= b  # NumPy: b sees the write, it is the same array
    return (np.sin(a) * b).sum()


def _once(x: Any) -> Any:
    return _two(x, x)


def test_the_same_array_and_shadow_twice_is_one_argument() -> None:
    x0 = np.array([0.3, -0.5, 1.2])
    x, dx = x0.copy(), np.zeros(3)
    ar.autodiff(_two, ar.Duplicated(x, dx), ar.Duplicated(x, dx))
    np.testing.assert_allclose(dx, fd_grad(_once, x0), rtol=1e-6)  # Enzyme: same storage, same shadow
    np.testing.assert_allclose(x, x0 * x0)  # the side effect, once


@pytest.mark.parametrize("second", ["other shadow", "overlapping view"])
def test_the_same_storage_with_another_shadow_raises(second: Any) -> None:
    x, dx = np.array([0.3, -0.5, 1.2, 2.0]), np.zeros(4)
    before = x.copy()
    b = ar.Duplicated(x, np.zeros(4)) if second == "other shadow" else ar.Duplicated(x[1:], dx[1:])
    with pytest.raises(ar.ActivityError, match="argument 1.*argument 0|share memory"):
        ar.autodiff(lambda a, b: (a * b[0]).sum(), ar.Duplicated(x, dx), b)
    np.testing.assert_array_equal(x, before)
    assert x.flags.writeable and not dx.any()


# -- writes through a view made before the engine locked the array ----------------------------

def _right_or_named(run: Any, want: np.ndarray) -> None:
    """``run()`` gives the finite-difference gradient, or raises a MutationError that
    says what to do (copy the array)."""
    try:
        got = run()
    except ar.MutationError as e:
        assert "view" in str(e) and "copy()" in str(e), str(e)
        return
    np.testing.assert_allclose(got, want, rtol=1e-6)


def _constant_written_through_an_earlier_view(x: Any) -> Any:
    c = np.array([1.0, 2.0, 3.0])
    v = c[:]  # made before the rule below captured c
    y = x * c
    v[0] = 100.0  # NumPy: y keeps c's old values
    return (y * y).sum() + (x * v).sum()


def test_a_constant_written_through_a_view_made_before_a_rule_kept_it() -> None:
    f = _constant_written_through_an_earlier_view
    x = np.array([0.3, -0.5, 1.2])
    want = fd_grad(f, x)
    _right_or_named(lambda: ar.gradient(f, x.copy()), want)
    _right_or_named(lambda: ar.vjp(f, x.copy())[1](1.0)[0], want)

    def with_autodiff() -> np.ndarray:
        dx = np.zeros(3)
        ar.autodiff(f, ar.Duplicated(x.copy(), dx))
        return dx
    _right_or_named(with_autodiff, want)


def test_the_callers_array_written_through_a_view_made_before_the_call() -> None:
    x = np.array([0.3, -0.5, 1.2])
    v = x[:]

    def f(a: Any) -> Any:
        y = a * a
        v[0] = 100.0  # writes the caller's x, not the differentiated value
        return (y * a).sum()

    want = fd_grad(f, x.copy())  # f gets copies: the writes through v reach x only
    x[:] = [0.3, -0.5, 1.2]
    _right_or_named(lambda: ar.gradient(f, x), want)
    x[:] = [0.3, -0.5, 1.2]
    _right_or_named(lambda: ar.vjp(f, x)[1](1.0)[0], want)


def test_the_callers_array_written_through_a_view_made_before_autodiff() -> None:
    x = np.array([0.3, -0.5, 1.2])
    v = x[:]

    def f(a: Any) -> Any:
        y = a * a
        v[0] = 100.0  # an untracked write into the differentiated array's memory
        return (y * a).sum()

    dx = np.zeros(3)
    # the write is outside what the engine records: only an error is right
    with pytest.raises(ar.MutationError, match=r"view.*copy\(\)"):
        ar.autodiff(f, ar.Duplicated(x, dx))
    assert not dx.any()


@pytest.mark.parametrize("wrap", [ar.Const, lambda v: v], ids=["Const", "plain"])
def test_a_constant_argument_sharing_memory_with_a_differentiated_one_raises(wrap: Any) -> None:
    def f(a: Any, c: Any) -> Any:
        a *= 2.0  # NumPy: c is a, and sees the write
        return (a * c).sum()

    x, dx = np.array([1.0, 2.0, 3.0]), np.zeros(3)
    with pytest.raises(ar.ActivityError, match="argument 1.*argument 0"):
        ar.autodiff(f, ar.Duplicated(x, dx), wrap(x[::-1]))
    np.testing.assert_array_equal(x, [1.0, 2.0, 3.0])
    assert x.flags.writeable and not dx.any()
