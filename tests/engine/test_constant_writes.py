"""Writes into arrays that are not differentiated (docs/engine.md, "Writes into constants").

The caller's undifferentiated arrays reach ``f`` as inert stand-ins, protected by
copy-on-write; a plain array a rule keeps is given to it as a copy. A write works once,
``f`` runs once, the reverse sees the values from before it, gradient and vjp change no
caller array, autodiff leaves it as ``f`` does. An active value written into a constant
array promotes it to a stand-in with a scratch shadow (Enzyme's runtime activity).
Oracles: central finite differences and JAX."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from engine_helpers import fd_grad

import activerules as ar

jax.config.update("jax_enable_x64", True)

X = np.array([0.3, -1.2, 0.7])


def _kept_then_written(x: Any) -> Any:
    c = np.ones(3)
    c[1] = 2.0
    y = x @ c  # matmul's reverse reads c
    c += 1.0  # a write into the constant it keeps
    return y * (x * c).sum()


def _jax_kept_then_written(x: Any) -> Any:
    c = jnp.array([1.0, 2.0, 1.0])
    return (x @ c) * (x * (c + 1.0)).sum()


@pytest.mark.parametrize("entry", ["gradient", "vjp", "autodiff", "batch"])
def test_a_constant_a_rule_keeps_can_be_written(entry: str) -> None:
    want = np.asarray(jax.grad(_jax_kept_then_written)(jnp.asarray(X)))
    x = X.copy()
    if entry == "gradient":
        got = ar.gradient(_kept_then_written, x)
    elif entry == "vjp":
        got = ar.vjp(_kept_then_written, x)[1](1.0)[0]
    elif entry == "autodiff":
        got = np.zeros(3)
        ar.autodiff(_kept_then_written, ar.Duplicated(x, got))
    else:
        lanes = (np.zeros(3), np.zeros(3))
        ar.autodiff(_kept_then_written, ar.BatchDuplicated(x, lanes), returns=ar.Active((1.0, 2.0)))
        np.testing.assert_allclose(lanes[1], 2 * want, rtol=1e-12)
        got = lanes[0]
    np.testing.assert_allclose(got, want, rtol=1e-12)
    np.testing.assert_array_equal(x, X)


def _active_into_const(x: Any, c: Any) -> Any:
    c[0] = x[1] * 2.0  # an active value into the caller's constant array
    return (np.sin(c) * x).sum()


@pytest.mark.parametrize("entry", ["gradient", "vjp"])
def test_an_active_value_written_into_a_constant_argument_is_differentiated(entry: str) -> None:
    c = np.array([0.5, 1.5, -0.5])
    want = fd_grad(lambda x: _active_into_const(x, c.copy()), X)
    if entry == "gradient":
        got = ar.gradient(_active_into_const, X.copy(), c)
    else:
        got = ar.vjp(_active_into_const, X.copy(), ar.Const(c))[1](1.0)[0]
    np.testing.assert_allclose(got, want, rtol=1e-7)
    np.testing.assert_array_equal(c, [0.5, 1.5, -0.5])  # functional: the caller's array unchanged
    assert c.flags.writeable


def test_autodiff_leaves_a_promoted_constant_as_f_leaves_it() -> None:
    c, n = np.array([0.5, 1.5, -0.5]), np.arange(3)

    def f(x: Any, c: Any, n: Any) -> Any:
        n[2] = 9  # an integer constant, written back too
        return _active_into_const(x, c)

    want = fd_grad(lambda x: f(x, np.array([0.5, 1.5, -0.5]), np.arange(3)), X)
    dx = np.zeros(3)
    ar.autodiff(f, ar.Duplicated(X.copy(), dx), c, ar.Const(n))
    np.testing.assert_allclose(dx, want, rtol=1e-7)
    np.testing.assert_allclose(c, [2 * X[1], 1.5, -0.5], rtol=1e-15)
    np.testing.assert_array_equal(n, [0, 1, 9])


def test_f_runs_once_when_it_writes_into_a_constant() -> None:
    calls = []

    def pure(x: Any, c: Any) -> Any:
        calls.append(1)
        return (x * c).sum()

    def writes(x: Any, c: Any) -> Any:
        calls.append(1)
        y = (x * c).sum()
        c[0] = 3.0
        return y

    ar.gradient(pure, X.copy(), np.ones(3))
    assert len(calls) == 1
    np.testing.assert_array_equal(ar.gradient(writes, X.copy(), np.ones(3)), np.ones(3))
    assert len(calls) == 2  # issue 11: no run again (it was 3: the first run stopped at the write)


def test_an_active_value_into_a_constant_made_inside_f_names_the_fix() -> None:
    def f(x: Any) -> Any:
        buf = np.zeros(3)
        buf[:2] = x[1:]
        return (buf * x).sum()

    with pytest.raises(ar.UntrackedWriteError, match="zeros_like"):
        ar.gradient(f, X.copy())


@pytest.mark.parametrize("entry", ["gradient", "autodiff"])
def test_one_constant_array_given_twice_is_one_stand_in(entry: str) -> None:
    def f(x: Any, a: Any, b: Any) -> Any:
        a[0] = 4.0  # b is the same array: it sees the write, as in NumPy
        return (x * b).sum()

    c = np.array([1.0, 2.0, 3.0])
    def once(x: Any) -> Any:
        d = np.array([1.0, 2.0, 3.0])
        return f(x, d, d)

    want = fd_grad(once, X)
    if entry == "gradient":
        got = ar.gradient(f, X.copy(), c, c)
        np.testing.assert_array_equal(c, [1.0, 2.0, 3.0])
    else:
        got = np.zeros(3)
        ar.autodiff(f, ar.Duplicated(X.copy(), got), c, c)
        np.testing.assert_array_equal(c, [4.0, 2.0, 3.0])
    np.testing.assert_allclose(got, want, rtol=1e-7)


def test_when_promotion_does_not_help_the_first_error_is_raised() -> None:
    def f(x: Any, c: Any) -> Any:
        k = float(c[0])  # fine on the caller's plain array
        buf = np.zeros(3)
        np.sin(x, out=buf)  # an active value into a constant made inside f: not promoted
        return (buf * x).sum() * k

    with pytest.raises(ar.UntrackedWriteError, match=r"untracked array \(out=\)"):
        ar.gradient(f, X.copy(), np.ones(3))
