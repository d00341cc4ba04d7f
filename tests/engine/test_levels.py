"""Levels (engine/levels.py): every differentiation has its own; a stand-in of a finished
differentiation (leaked, a sibling's, another thread's) raises instead of joining
another one (autograd's reused trace ids give wrong numbers); threads keep their own."""

from __future__ import annotations

import threading
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from engine_helpers import A3 as A
from engine_helpers import X3 as X

import activerules as ar

pytestmark = pytest.mark.usefixtures("x64")  # JAX in float64 (conftest.py)


def test_a_stand_in_of_a_finished_sibling_differentiation_raises() -> None:
    # autograd reuses trace ids: gradient(lambda y: old * y)(2.) gives -1.98 instead of sin(3)
    leaked: list[Any] = []

    def f(x: Any) -> Any:
        leaked.append(np.sin(x))
        return x * 2.0

    ar.gradient(f, 3.0)
    old = leaked[0]
    for g in (lambda y: old * y, lambda y: y * old):
        with pytest.raises(ar.ActiveRulesError, match="finished differentiation"):
            ar.gradient(g, 2.0)


def test_a_stand_in_leaking_out_of_an_inner_call_raises_in_the_outer_one() -> None:
    leaked: list[Any] = []

    def outer(x: Any) -> Any:
        def inner(y: Any) -> Any:
            leaked.append(y * x)
            return y * x
        ar.gradient(inner, 1.5)
        return leaked[0] * x

    with pytest.raises(ar.ActiveRulesError, match="finished differentiation"):
        ar.gradient(outer, 2.0)


def test_sibling_inner_differentiations_each_get_their_own_level() -> None:
    def outer(x: Any) -> Any:
        a = ar.gradient(lambda y: x * y * y, 2.0)     # 4x
        b = ar.gradient(lambda y: x * x * y, 2.0)     # x^2
        return a * b                                   # 4x^3: derivative 12x^2
    assert ar.gradient(outer, 1.5) == pytest.approx(12 * 1.5 ** 2)


def test_hessians_in_threads_match_the_serial_result() -> None:
    def f(x: Any) -> Any:
        return np.sin(A @ x) @ (x @ A) + x @ x

    def jf(x: Any) -> Any:
        return jnp.sin(A @ x) @ (x @ A) + x @ x

    expected = np.asarray(jax.hessian(jf)(jnp.asarray(X)))
    results: list[Any] = [None] * 6
    errors: list[BaseException] = []

    def work(k: int) -> None:
        try:
            for _ in range(5):
                results[k] = ar.hessian(f, X + 0.0)
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    for r in results:
        np.testing.assert_allclose(r, expected, rtol=1e-10)


def test_a_pullback_taken_inside_a_differentiation_and_called_after_it_raises() -> None:
    kept: list[Any] = []

    def f(x: Any) -> Any:
        y, pullback = ar.vjp(lambda z: z * x, 2.0)   # closes over the outer stand-in x
        kept.append(pullback)
        return y

    assert ar.gradient(f, 3.0) == pytest.approx(2.0)
    with pytest.raises(ar.ActiveRulesError, match="after that differentiation finished"):
        kept[0](1.0)


def test_a_stand_in_of_another_thread_does_not_join_this_thread_s_differentiation() -> None:
    ready, done = threading.Event(), threading.Event()
    box: list[Any] = []

    def other(x: Any) -> Any:
        box.append(x * 2.0)
        ready.set()
        done.wait(10)
        return x * 1.0

    t = threading.Thread(target=lambda: ar.gradient(other, 1.0))
    t.start()
    ready.wait(10)
    try:
        with pytest.raises(ar.ActiveRulesError, match="another thread"):
            ar.gradient(lambda y: y * box[0], 2.0)
    finally:
        done.set()
        t.join()
