"""The per-call machinery of the entry points: the collector and the sequence
constructors restored whatever happens, locks released by ``vjp``'s pullback when it
is freed and by ``autodiff`` when an argument is refused, the output cotangent left
untouched, the buffers over the caller's arrays after collections."""

from __future__ import annotations

import gc
import threading
from typing import Any, Callable, Iterator

import numpy as np
import pytest
from engine_helpers import assert_gradient_matches_fd

import activerules as ar
from activerules.engine import autodiff, forward, gradient, primitive, vjp

X = np.array([0.3, -1.2, 0.7, 2.0])
NP_ARRAY = np.array


@pytest.fixture
def collector_enabled() -> Iterator[None]:
    was = gc.isenabled()
    gc.enable()
    yield
    if was:  # the test may have disabled it
        gc.enable()
    else:
        gc.disable()


def _raising(x: Any) -> Any:
    np.sin(x)
    raise KeyError("in f")


@primitive
def _bad_reverse(x: Any) -> Any:
    return x * 2.0


@ar.rrule(_bad_reverse)
def _bad_reverse_rrule(x: Any) -> Any:
    def pullback(g: Any) -> Any:
        raise ValueError("in the reverse")
    return x * 2.0, pullback


CALLS: dict[str, Callable[[], Any]] = {
    "gradient": lambda: gradient(lambda x: np.sin(x).sum(), X.copy()),
    "vjp": lambda: vjp(np.sin, X.copy())[1](np.ones(4)),
    "autodiff": lambda: autodiff(lambda x: np.sin(x).sum(), ar.Duplicated(X.copy(), np.zeros(4))),
    "gradient, f raises": lambda: gradient(_raising, X.copy()),
    "vjp, f raises": lambda: vjp(_raising, X.copy()),
    "autodiff, f raises": lambda: autodiff(_raising, ar.Duplicated(X.copy(), np.zeros(4)),
                                           returns=ar.Const),
    "gradient, reverse raises": lambda: gradient(lambda x: _bad_reverse(x).sum(), X.copy()),
    "vjp, reverse raises": lambda: vjp(_bad_reverse, X.copy())[1](np.ones(4)),
    "autodiff, reverse raises": lambda: autodiff(lambda x: _bad_reverse(x).sum(),
                                                 ar.Duplicated(X.copy(), np.zeros(4))),
}


@pytest.mark.parametrize("name", sorted(CALLS))
@pytest.mark.parametrize("enabled", [True, False], ids=["gc on", "gc off"])
def test_collector_and_constructors_restored(name: str, enabled: bool,
                                             collector_enabled: None) -> None:
    if not enabled:
        gc.disable()
    try:
        CALLS[name]()
    except (KeyError, ar.RuleError):
        pass
    assert gc.isenabled() is enabled
    assert np.array is NP_ARRAY
    assert forward._running[0] == 0 and forward._gc_holds[0] == 0


def test_constructors_record_during_the_forward_only() -> None:
    g = gradient(lambda x: (np.array([x[0], 2 * x[1]]) ** 2).sum(), X.copy())
    np.testing.assert_allclose(g, [2 * X[0], 8 * X[1], 0.0, 0.0])
    assert np.array is NP_ARRAY


@primitive
def _solve(p: Any) -> Any:
    """The root of x**3 + p*x - 1 (elementwise, p > 0) by Newton's method."""
    x = np.ones_like(p)
    for _ in range(40):
        x = x - (x ** 3 + p * x - 1.0) / (3 * x * x + p)
    return x


def _g(x: Any, p: Any) -> Any:
    return x * x * x + p * x - 1.0


@ar.rrule(_solve)
def _solve_rrule(p: Any) -> Any:
    x = _solve(p)

    def pullback(xbar: Any) -> Any:
        assert gc.isenabled() is False  # the outer sweep still holds the collector
        _, inner = vjp(_g, x, p)
        dgdx, _ = inner(np.ones_like(x))
        _, pbar = inner(-xbar / dgdx)
        return (pbar,)

    return x, pullback


def test_nested_vjp_inside_a_reverse(collector_enabled: None) -> None:
    p = np.linspace(0.5, 3.0, 7)
    assert_gradient_matches_fd(lambda p: (_solve(p) ** 2).sum(), p, rtol=1e-5)
    assert gc.isenabled() and forward._gc_holds[0] == 0
    assert p.flags.writeable


def test_pullback_leaves_the_output_cotangent_alone_and_repeats() -> None:
    ybar = np.array([1.0, -2.0, 0.5, 3.0])
    y, pullback = vjp(lambda x: np.sin(x) * x, X.copy())
    first = pullback(ybar)[0].copy()
    second = pullback(ybar)[0]
    np.testing.assert_array_equal(ybar, [1.0, -2.0, 0.5, 3.0])
    np.testing.assert_allclose(first, ybar * (np.cos(X) * X + np.sin(X)))
    np.testing.assert_array_equal(second, first)
    # a seed that broadcasts, and one of another dtype, as before
    np.testing.assert_allclose(pullback(2.0)[0], 2 * (np.cos(X) * X + np.sin(X)))
    np.testing.assert_allclose(pullback(ybar.astype(np.float32))[0], first, rtol=1e-6)


def test_pullback_releases_locks_when_freed() -> None:
    x, w = X.copy(), np.ones(4)
    _, pullback = vjp(lambda x: x * w, x)
    assert not x.flags.writeable and w.flags.writeable  # a plain constant is copied, never locked
    del pullback
    assert x.flags.writeable and w.flags.writeable
    _, pullback = vjp(lambda x: x * w, x)
    cycle: list[Any] = [pullback]
    cycle.append(cycle)
    del pullback, cycle
    assert not x.flags.writeable  # held by the cycle until a collection
    gc.collect()
    assert x.flags.writeable and w.flags.writeable


def test_autodiff_releases_the_locks_of_arguments_before_a_refused_one() -> None:
    x = X.copy()
    with pytest.raises(ar.ActivityError, match="only float or complex"):
        autodiff(lambda a, b: (a * b).sum(), ar.Duplicated(x, np.zeros(4)),
                 ar.Duplicated(np.arange(4), np.zeros(4, int)))
    assert x.flags.writeable


def test_buffers_over_caller_arrays_of_many_sizes_across_collections() -> None:
    for n in range(1, 300):  # more sizes than the engine keeps buffer types for
        x = np.linspace(0.1, 1.0, n)
        gc.collect()
        g = gradient(lambda x: (np.meshgrid(x, x[:1])[0] ** 2).sum(), x)
        np.testing.assert_allclose(g, 2 * x)
        assert x.flags.writeable


def test_threads_share_the_process_state(collector_enabled: None) -> None:
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for _ in range(50):
                g = gradient(lambda x: (np.array([x[0], x[1]]) * x[:2]).sum(), X.copy())
                np.testing.assert_allclose(g, [2 * X[0], 2 * X[1], 0.0, 0.0])
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert gc.isenabled() and np.array is NP_ARRAY
    assert forward._running[0] == 0 and forward._gc_holds[0] == 0


def _writes_into_its_argument(x: Any) -> Any:
    x[0] = 5.0
    x += 1.0
    np.sin(x, out=x)
    v = x[1:]
    v *= 2.0
    return (x * x).sum() + (np.broadcast_arrays(x, x[:2, None])[0] ** 2).sum()


def test_functional_calls_write_into_a_copy_of_the_caller_s_array() -> None:
    x = X.copy()
    assert_gradient_matches_fd(_writes_into_its_argument, x, rtol=1e-5)
    y, pullback = vjp(_writes_into_its_argument, x)
    np.testing.assert_allclose(y, _writes_into_its_argument(X.copy()))
    pullback(1.0)
    np.testing.assert_array_equal(x, X)
    del pullback
    assert x.flags.writeable


class _Sub(np.ndarray):
    pass


def test_subclass_and_read_only_arguments() -> None:
    x = X.copy().view(_Sub)
    np.testing.assert_allclose(gradient(lambda x: (x * x).sum(), x), 2 * X)
    assert type(x) is _Sub and x.flags.writeable
    r = X.copy()
    r.flags.writeable = False
    np.testing.assert_allclose(gradient(lambda x: (np.meshgrid(x, x)[0] * x).sum(), r), 8 * X)
    assert not r.flags.writeable
