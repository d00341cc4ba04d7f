"""Mutation: copy-on-write, views, Enzyme semantics for Duplicated arguments,
untracked writes and the version check."""

from __future__ import annotations

import numpy as np
import pytest
from engine_helpers import fd_grad, scale_inplace

import activerules as ar
from activerules.engine import MutationError, UntrackedWriteError, autodiff, gradient, standins, views

X = np.array([0.3, -1.2, 0.7, 2.0, 0.45])


def test_value_read_by_a_reverse_is_preserved() -> None:
    def f(x):
        y = np.sin(x)
        x *= 2
        return (x * y).sum()

    np.testing.assert_allclose(gradient(f, X.copy()), fd_grad(f, X), rtol=1e-6)


def test_overwrite_then_reuse_chain() -> None:
    def f(x):
        y = np.exp(x)        # reverse reads y
        t = y * x            # reverse reads y and x
        y[1:3] = x[:2] * 3   # overwrite part of y
        x += y               # overwrite x
        return (t * y + x * x).sum()

    np.testing.assert_allclose(gradient(f, X.copy()), fd_grad(f, X), rtol=1e-6)


def test_linear_in_place_updates_copy_nothing() -> None:
    def f(dx, x):
        for _ in range(20):
            dx *= 0.5
            dx[0] = dx[0] + 0.1 * x[1]
            dx[1:] += 0.2 * x[:-1]
            x += 0.01 * dx
        return None

    before = views.stats["cow_copies"]
    dx, x = np.ones(5), X.copy()
    autodiff(f, ar.Duplicated(dx, np.ones(5)), ar.Duplicated(x, np.ones(5)), returns=ar.Const)
    # one copy per argument, at its first write (the caller's array receives the values
    # once the call succeeded), none for the 20 updates
    assert views.stats["cow_copies"] == before + 2


def test_nonlinear_read_then_write_copies_once() -> None:
    before = views.stats["cow_copies"]
    gradient(lambda x: (np.sin(x) * x.__imul__(2.0)).sum(), X.copy())
    assert views.stats["cow_copies"] == before + 1


def test_duplicated_caller_arrays_receive_side_effects_and_enzyme_shadows() -> None:
    def f(u, p):
        v = u[1:]          # a view kept in a variable
        y = np.sin(u)      # pins u
        v *= p[0]          # writes through the view land in u
        u[0] = (y * p).sum()
        return None

    u, p = X.copy(), np.array([1.5, -0.5, 2.0, 0.3, 1.1])
    du, dp = np.linspace(1.0, 2.0, 5), np.zeros(5)
    seed = du.copy()
    autodiff(f, ar.Duplicated(u, du), ar.Duplicated(p, dp), returns=ar.Const)

    def final(u0, p0):
        u0 = u0.copy()
        f(u0, p0)
        return u0

    np.testing.assert_allclose(u, final(X, p))
    # d_u holds the cotangent of u's initial value for the loss seed . u_final
    np.testing.assert_allclose(du, fd_grad(lambda u0: seed @ final(u0, p), X), rtol=1e-6)
    np.testing.assert_allclose(dp, fd_grad(lambda p0: seed @ final(X, p0), p), rtol=1e-6)


def test_reads_through_a_view_see_later_writes_to_its_base() -> None:
    seen = []

    def f(x):
        v = x[2:]
        w = np.cos(x)        # pins x: the next write moves it to a copy
        x[3] = 10.0 * x[0]
        seen.append(float(np.asarray(standins.raw(v))[1]))
        return (v * w[2:]).sum()

    x0 = X.copy()
    g = gradient(f, x0)
    assert seen[0] == pytest.approx(10.0 * X[0])
    np.testing.assert_allclose(g, fd_grad(f, X), rtol=1e-6)
    np.testing.assert_array_equal(x0, X)  # gradient() is functional


def test_setitem_basic_integer_and_advanced_indices() -> None:
    def f(x):
        y = np.zeros_like(x)
        y[0] = x[1] * x[2]
        y[[1, 3]] = x[[4, 0]] ** 2
        y[2:5:2] = np.tanh(x[:2])
        x[x > 0.5] = 0.0
        return (y * y).sum() + (x * x).sum()

    np.testing.assert_allclose(gradient(f, X.copy()), fd_grad(f, X), rtol=1e-6)


def test_active_value_into_untracked_array_raises_with_hint() -> None:
    def scalar_into_buffer(x):
        buf = np.zeros(3)
        buf[0] = x[0]
        return buf.sum()

    def array_into_buffer(x):
        buf = np.zeros(5)
        buf[:] = x
        return buf.sum()

    def out_argument(x):
        buf = np.zeros(5)
        np.sin(x, out=buf)
        return buf.sum()

    for f in (scalar_into_buffer, array_into_buffer, out_argument):
        with pytest.raises(UntrackedWriteError, match=r"np\.zeros_like\(x\).*np\.zeros\(n, like=x\)"):
            gradient(f, X.copy())


_BOUND_ASARRAY = np.asarray  # a library's own binding, taken before any differentiation


def test_raw_buffer_of_an_active_array_is_not_available() -> None:
    # np.asarray(x) returns x itself during a differentiation; a conversion the engine
    # does not see (a binding taken at import, x.__array__()) still cannot take the buffer.
    with pytest.raises(UntrackedWriteError, match="converted to a plain ndarray"):
        gradient(lambda x: _BOUND_ASARRAY(x).sum(), X.copy())
    with pytest.raises(UntrackedWriteError, match="converted to a plain ndarray"):
        gradient(lambda x: _BOUND_ASARRAY([x[0], x[1]]).sum(), X.copy())
    with pytest.raises(UntrackedWriteError, match="converted to a plain ndarray"):
        gradient(lambda x: x.__array__().sum(), X.copy())


def test_caller_array_is_read_only_during_the_call() -> None:
    x = X.copy()

    def f(xt):
        y = np.sin(xt)
        x[0] = 5.0  # the caller's own array: an untracked alias
        return y.sum()

    with pytest.raises(ValueError, match="read-only"):
        autodiff(f, ar.Duplicated(x, np.zeros(5)))
    assert x.flags.writeable


def test_version_check_raises_mutation_error() -> None:
    w = np.array([1.0, 1.25, 1.5, 1.75, 2.0])
    w.flags.writeable = False  # a read-only plain array is given to the rule as it is

    def f(x):
        y = (x * w).sum()   # the reverse reads w (Const): w stays locked
        w.flags.writeable = True
        w[0] = 100.0        # a write the engine cannot see
        return y

    with pytest.raises(MutationError, match="modified through an untracked alias"):
        gradient(f, X.copy())


def test_a_plain_array_a_rule_keeps_can_be_written_later() -> None:
    # issue 11: a writable plain array is never locked; the rule keeps its own copy
    w = np.array([1.0, 1.25, 1.5, 1.75, 2.0])

    def f(x):
        y = (x * w).sum()
        w[0] = 100.0
        return y

    np.testing.assert_array_equal(gradient(f, X.copy()), [1.0, 1.25, 1.5, 1.75, 2.0])
    assert w[0] == 100.0 and w.flags.writeable


def test_locks_are_released_and_nested_locks_counted() -> None:
    w = X.copy()  # the argument both pullbacks read
    _, pb1 = ar.engine.vjp(lambda x: x * x, w)
    assert not w.flags.writeable
    _, pb2 = ar.engine.vjp(lambda x: x * x, w)
    del pb1
    assert not w.flags.writeable
    pb2(np.ones(5))
    del pb2
    assert w.flags.writeable


@ar.engine.primitive
def _scaled_square(x, c):
    return c * x * x


@ar.rule(_scaled_square, ar.Annotation, ar.Annotation)
def _scaled_square_rule(cfg, x, c):
    def reverse(g):  # reads x.val at reverse time (DESIGN's closure form)
        if isinstance(x, ar.Duplicated):
            x.dval += 2 * c.val * x.val * g
        return None
    return c.val * x.val * x.val, reverse


def test_rule_reading_val_at_reverse_time_sees_the_value_of_its_call() -> None:
    def f(x):
        y = _scaled_square(x, 1.5)
        x *= 10.0
        return (y * x).sum()

    np.testing.assert_allclose(gradient(f, X.copy()), fd_grad(f, X), rtol=1e-6)


def test_mutating_primitive_declared_with_mutates() -> None:
    def f(x):
        y = np.sin(x)          # pins x: the primitive's write must not change what sin's reverse reads
        scale_inplace(x, 3.0)
        return (x * y).sum()

    np.testing.assert_allclose(gradient(f, X.copy()), fd_grad(f, X), rtol=1e-6)
    x = X.copy()
    autodiff(lambda x: scale_inplace(x[1:], 2.0), ar.Duplicated(x, np.zeros(5)), returns=ar.Const)
    np.testing.assert_allclose(x, np.r_[X[0], 2 * X[1:]])


def test_the_seed_heat_eq_runs_as_written() -> None:
    alpha, lam, delta_x, Tf = 0.5, 2.0, 0.1, 1.0

    def input_signal(s, p):
        return p[0] * np.sin(p[1] * s)

    def heat_eq(dx, x, p, t):
        u = input_signal(t / Tf, p)
        dx *= alpha
        dx[0] = dx[0] + alpha / (lam * delta_x) * u

    dx0, x0, p0, t = np.array([1.0, 2.0, 3.0]), np.array([0.1, 0.2, 0.3]), np.array([1.5, 0.7]), 0.3
    seed = np.array([1.0, 0.5, 0.25])
    dx, x, p = dx0.copy(), x0.copy(), p0.copy()
    d_dx, d_x, d_p = seed.copy(), np.zeros(3), np.zeros(2)
    out = autodiff(heat_eq, ar.Duplicated(dx, d_dx), ar.Duplicated(x, d_x), ar.Duplicated(p, d_p),
                   ar.Const(t), returns=ar.Const)
    assert out == (None, None, None, None)

    def final(dx_, p_):
        dx_ = dx_.copy()
        heat_eq(dx_, x0, p_, t)
        return dx_

    np.testing.assert_allclose(dx, final(dx0, p0))                      # side effects landed
    np.testing.assert_allclose(d_dx, fd_grad(lambda v: seed @ final(v, p0), dx0), rtol=1e-6)
    np.testing.assert_allclose(d_p, fd_grad(lambda v: seed @ final(dx0, v), p0), rtol=1e-6)
    np.testing.assert_array_equal(d_x, 0.0)
