"""Property test: binary elementwise rules over random broadcastable shapes and
reductions over random axes, every activity combination against finite differences."""

from __future__ import annotations

from typing import Any

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from activerules.testing import check_rule

BINARY = [np.add, np.subtract, np.multiply, np.divide, np.maximum, np.hypot, np.arctan2, np.logaddexp, np.power]
REDUCTIONS = [np.sum, np.mean, np.prod, np.max, np.var, np.std, np.cumsum]


def _values(shape: tuple[int, ...], seed: int, positive: bool) -> np.ndarray:
    rng = np.random.default_rng(seed)
    v = rng.uniform(0.5, 2.0, shape) if positive else rng.uniform(-2.0, 2.0, shape)
    # keep away from ties and zeros, where the functions are not differentiable
    return v + np.arange(v.size).reshape(shape) * 1e-3 + 0.01


@settings(max_examples=40, deadline=None)
@given(shapes=hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3, max_side=3),
       fn=st.sampled_from(BINARY), seed=st.integers(0, 2**16))
def test_binary_rules_unbroadcast(shapes: Any, fn: Any, seed: int) -> None:
    a_shape, b_shape = shapes.input_shapes
    positive = fn is np.power
    a, b = _values(a_shape, seed, positive), _values(b_shape, seed + 1, positive) * 1.37
    check_rule(fn, a if a_shape else float(a), b if b_shape else float(b))


@settings(max_examples=40, deadline=None)
@given(shape=hnp.array_shapes(min_dims=1, max_dims=3, max_side=4), fn=st.sampled_from(REDUCTIONS),
       data=st.data(), seed=st.integers(0, 2**16))
def test_reductions_over_random_axes(shape: tuple[int, ...], fn: Any, data: Any, seed: int) -> None:
    ndim = len(shape)
    if fn is np.cumsum:
        axis = data.draw(st.one_of(st.none(), st.integers(-ndim, ndim - 1)))
        check_rule(fn, _values(shape, seed, False), axis=axis)
        return
    axis = data.draw(st.one_of(st.none(), st.integers(-ndim, ndim - 1),
                               st.lists(st.integers(0, ndim - 1), min_size=1, max_size=ndim, unique=True).map(tuple)))
    keepdims = data.draw(st.booleans())
    if fn in (np.var, np.std) and int(np.prod([shape[i] for i in np.atleast_1d(axis)]) if axis is not None
                                       else np.prod(shape)) < 2:
        return  # a variance over one element is not differentiable (std) or trivially zero
    check_rule(fn, _values(shape, seed, False), axis=axis, keepdims=keepdims)
