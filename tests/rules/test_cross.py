"""``np.cross`` and ``np.linalg.cross`` with every axis keyword and 2-vectors, against JAX.

The VJP of ``cross`` must honour ``axisa``/``axisb``/``axisc``/``axis`` (and 2-vector
operands, padded with a zero third component): before, the rule always differentiated
``cross`` over the last axis.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pytest
from engine_helpers import fd_grad
from hypothesis import given, settings
from hypothesis import strategies as st

import activerules as ar

jax = pytest.importorskip("jax")
jnp = pytest.importorskip("jax.numpy")
jax.config.update("jax_enable_x64", True)

_RNG = np.random.default_rng(11)


def _both(a: np.ndarray, b: np.ndarray, w: np.ndarray, kw: dict[str, Any], fn: Any = np.cross) -> None:
    """The engine's gradients of ``sum(w * cross(a, b, **kw))`` in ``a`` and ``b`` equal JAX's."""
    jkw = dict(kw)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # NumPy 2 deprecates 2-vector cross
        got = ar.gradient(lambda a_, b_: np.sum(w * fn(a_, b_, **kw)), a.copy(), b.copy(), argnums=(0, 1))
    want = jax.grad(lambda a_, b_: jnp.sum(w * jnp.cross(a_, b_, **jkw)), argnums=(0, 1))(a, b)
    for g, e in zip(got, want):
        np.testing.assert_allclose(g, np.asarray(e), rtol=1e-10, atol=1e-12)


def _out_shape(a: np.ndarray, b: np.ndarray, kw: dict[str, Any]) -> tuple[int, ...]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return np.shape(np.cross(a, b, **kw))


CASES = [
    ((3, 4), (3, 4), {"axis": 0}),
    ((3, 4), (3, 4), {"axisa": 0, "axisb": 0}),
    ((3, 4), (4, 3), {"axisa": 0, "axisb": -1}),
    ((3, 4), (4, 3), {"axisa": 0, "axisb": 1, "axisc": 0}),
    ((2, 3, 5), (5, 3), {"axisa": 1, "axisc": 0}),
    ((5, 3, 2), (3,), {"axisa": 1, "axisc": 1}),
    ((4, 2), (4, 3), {}),                       # a 2-vector with a 3-vector
    ((2, 4), (4, 3), {"axisa": 0}),
    ((4, 2), (4, 2), {}),                       # two 2-vectors: a scalar z component
    ((2, 4), (2, 4), {"axis": 0}),
    ((4, 3), (4, 2), {"axisc": 0}),
]


@pytest.mark.parametrize("sa,sb,kw", CASES, ids=[str(c[2]) + str(c[:2]) for c in CASES])
def test_cross_keywords_match_jax(sa: tuple[int, ...], sb: tuple[int, ...], kw: dict[str, Any]) -> None:
    a, b = _RNG.standard_normal(sa), _RNG.standard_normal(sb)
    w = _RNG.standard_normal(_out_shape(a, b, kw))
    _both(a, b, w, kw)


@pytest.mark.skipif(not hasattr(np.linalg, "cross"), reason="NumPy >= 2.0")
@pytest.mark.parametrize("axis", [0, 1, -1, -2])
def test_linalg_cross_axis_matches_jax(axis: int) -> None:
    a, b = _RNG.standard_normal((3, 3)), _RNG.standard_normal((3, 3))
    w = _RNG.standard_normal((3, 3))
    _both(a, b, w, {"axis": axis}, fn=np.linalg.cross)


def test_cross_positional_axes_match_jax() -> None:
    a, b = _RNG.standard_normal((3, 4)), _RNG.standard_normal((4, 3))
    w = _RNG.standard_normal((4, 3))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        got = ar.gradient(lambda a_, b_: np.sum(w * np.cross(a_, b_, 0, 1, 1)), a.copy(), b.copy(), argnums=(0, 1))
    want = jax.grad(lambda a_, b_: jnp.sum(w * jnp.cross(a_, b_, 0, 1, 1)), argnums=(0, 1))(a, b)
    for g, e in zip(got, want):
        np.testing.assert_allclose(g, np.asarray(e), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("args,kw", [
    ((_RNG.standard_normal((3, 4)), _RNG.standard_normal((3, 4))), {"axis": 0}),
    ((_RNG.standard_normal((3, 2)), _RNG.standard_normal((2, 3))), {"axisa": 0, "axisb": 1, "axisc": 0}),
    ((_RNG.standard_normal((2, 2)), _RNG.standard_normal((2, 2))), {"axisb": 0}),
    ((_RNG.standard_normal((4, 2)), _RNG.standard_normal((3, 4))), {"axisb": 0, "axisc": 0}),
    ((_RNG.standard_normal((3, 3)) + 1j * _RNG.standard_normal((3, 3)), _RNG.standard_normal(3)), {"axisa": 0}),
])
def test_cross_check_rule_every_activity(args: tuple[Any, ...], kw: dict[str, Any]) -> None:
    """Every activity combination of the rule against finite differences (complex included)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        ar.testing.check_rule(np.cross, *args, **kw)


@settings(max_examples=25, deadline=None)
@given(st.integers(2, 3), st.integers(2, 3), st.integers(1, 3), st.integers(0, 1), st.integers(0, 1),
       st.integers(0, 1), st.integers(0, 10**6))
def test_cross_property_vs_finite_differences(na: int, nb: int, batch: int, axa: int, axb: int, axc: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    a = np.moveaxis(rng.standard_normal((batch, na)), -1, axa)
    b = np.moveaxis(rng.standard_normal((batch, nb)), -1, axb)
    kw = {"axisa": axa, "axisb": axb, "axisc": axc}
    a, b = np.ascontiguousarray(a), np.ascontiguousarray(b)
    w = rng.standard_normal(_out_shape(a, b, kw))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        got = ar.gradient(lambda a_, b_: np.sum(w * np.cross(a_, b_, **kw)), a.copy(), b.copy(), argnums=(0, 1))
        # bilinear: central differences are exact up to rounding (JAX would compile per shape)
        want = (fd_grad(lambda v: float(np.sum(w * np.cross(v, b, **kw))), a, eps=1e-3),
                fd_grad(lambda v: float(np.sum(w * np.cross(a, v, **kw))), b, eps=1e-3))
    for g, e in zip(got, want):
        np.testing.assert_allclose(g, e, rtol=1e-8, atol=1e-10)
