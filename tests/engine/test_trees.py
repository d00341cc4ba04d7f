"""Containers (dicts, lists, tuples, named tuples, nested) as arguments and results of
``ar.gradient``, ``ar.vjp`` and ``ar.autodiff``, against ``jax.grad`` / ``jax.vjp``
(float64), and the errors for cotangents of the wrong structure, shape or dtype."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import activerules as ar
from activerules.engine.trees import leaves

pytestmark = pytest.mark.usefixtures("x64")  # JAX in float64 (conftest.py)


class Params(NamedTuple):
    w: Any
    b: Any


W = np.array([[0.3, -1.2], [0.8, 0.5]])
B = np.array([0.1, -0.4])
V = np.array([1.5, -0.5])

TREES = {
    "dict": {"w": W, "b": B, "s": 0.7},
    "list": [W, B, 0.7],
    "tuple": (W, B, 0.7),
    "namedtuple": Params(W, B),
    "nested": {"layers": [Params(W, B), (W * 2, {"s": 0.7})], "scale": np.float64(1.3)},
}


def loss(p: Any) -> Any:
    """A scalar depending on every leaf of ``p``."""
    total = 0.0
    for leaf in leaves(p):
        total = total + (np.sin(leaf * V[0]) * leaf).sum()
    return total


def jloss(p: Any) -> Any:
    return sum((jnp.sin(leaf * V[0]) * leaf).sum() for leaf in jax.tree_util.tree_leaves(p))


def assert_same_tree(ours: Any, theirs: Any) -> None:
    assert jax.tree_util.tree_structure(ours) == jax.tree_util.tree_structure(theirs)
    for a, b in zip(jax.tree_util.tree_leaves(ours), jax.tree_util.tree_leaves(theirs)):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("name", sorted(TREES))
def test_gradient_with_respect_to_a_container_has_its_structure(name: str) -> None:
    p = TREES[name]
    assert_same_tree(ar.gradient(loss, p), jax.grad(jloss)(p))


@pytest.mark.parametrize("name", sorted(TREES))
def test_gradient_with_tuple_argnums_over_containers(name: str) -> None:
    p = TREES[name]
    ours = ar.gradient(lambda a, q: loss(a) * loss(q), p, {"v": V}, argnums=(1, 0))
    theirs = jax.grad(lambda a, q: jloss(a) * jloss(q), argnums=(1, 0))(p, {"v": V})
    assert_same_tree(ours, theirs)


@pytest.mark.parametrize("name", sorted(TREES))
def test_vjp_cotangents_per_argument_have_its_structure(name: str) -> None:
    p = TREES[name]
    y, pullback = ar.vjp(lambda q, x: loss(q) * x, p, V)
    jy, jpb = jax.vjp(lambda q, x: jloss(q) * x, p, jnp.asarray(V))
    np.testing.assert_allclose(y, jy, rtol=1e-12)
    ybar = np.array([0.4, -2.0])
    assert_same_tree(pullback(ybar), jpb(ybar))


OUTPUTS = {
    "dict": (lambda x: {"a": np.sin(x), "b": (x * x).sum()},
             lambda x: {"a": jnp.sin(x), "b": (x * x).sum()}),
    "list": (lambda x: [np.sin(x), x[0] * 3.0], lambda x: [jnp.sin(x), x[0] * 3.0]),
    "tuple": (lambda x: (np.sin(x), x[0] * 3.0), lambda x: (jnp.sin(x), x[0] * 3.0)),
    "namedtuple": (lambda x: Params(np.exp(x), x.sum()), lambda x: Params(jnp.exp(x), x.sum())),
    "nested": (lambda x: {"p": [Params(np.exp(x), x.sum())], "q": (np.cos(x),)},
               lambda x: {"p": [Params(jnp.exp(x), x.sum())], "q": (jnp.cos(x),)}),
}


@pytest.mark.parametrize("name", sorted(OUTPUTS))
def test_vjp_of_a_container_result_takes_a_cotangent_of_its_structure(name: str) -> None:
    f, jf = OUTPUTS[name]
    y, pullback = ar.vjp(f, V)
    jy, jpb = jax.vjp(jf, jnp.asarray(V))
    assert_same_tree(y, jy)  # the primal comes back unwrapped, of the same structure
    assert not any(isinstance(e, (ar.engine.Tracked, ar.engine.TrackedScalar)) for e in leaves(y))
    ybar = jax.tree_util.tree_map(lambda e: 0.5 + np.arange(np.size(e)).reshape(np.shape(e)), jy)
    assert_same_tree(pullback(ybar), jpb(ybar))


def test_none_in_a_cotangent_is_a_zero_part() -> None:
    y, pullback = ar.vjp(lambda x: {"a": np.sin(x), "b": x.sum()}, V)
    (g,) = pullback({"a": None, "b": 2.0})
    np.testing.assert_allclose(g, 2.0 * np.ones(2))


def test_constant_leaves_of_a_result_take_none() -> None:
    y, pullback = ar.vjp(lambda x: (np.sin(x), 3, "label", None), V)
    assert y[1:] == (3, "label", None)
    np.testing.assert_allclose(pullback((np.ones(2), None, None, None))[0], np.cos(V))
    with pytest.raises(ar.ActivityError, match=r"output\[1\] is an int \(3\), which has no derivative"):
        pullback((np.ones(2), 1, None, None))


BAD_COTANGENTS = {
    "short tuple": ((np.ones(2),), r"cotangent for output has structure \(\*,\), the output has "
                                   r"structure \(\*, \*\)"),
    "long tuple": ((np.ones(2), 1.0, 1.0), "structure"),
    "list for a dict": ([1.0, 1.0], "structure"),
    "leaf for a tuple": (np.ones(2), "structure"),
    "tuple for a leaf": ((np.ones(2), (1.0, 2.0)), r"output\[1\] has structure"),
    "wrong shape": ((np.ones(3), 1.0), r"output\[0\] has shape \(3,\).*output has shape \(2,\)"),
    "wrong dtype": ((np.ones(2) * 1j, 1.0), r"real output\[0\] is complex"),
    "string": ((np.ones(2), "one"), r"output\[1\] is a str"),
}


@pytest.mark.parametrize("name", sorted(BAD_COTANGENTS))
def test_a_cotangent_of_the_wrong_structure_shape_or_dtype_raises_naming_the_output(name: str) -> None:
    ybar, message = BAD_COTANGENTS[name]
    if name == "list for a dict":
        _, pullback = ar.vjp(lambda x: {0: np.sin(x), 1: x.sum()}, V)
    else:
        _, pullback = ar.vjp(lambda x: (np.sin(x), x.sum()), V)
    with pytest.raises(ar.ActivityError, match=message):
        pullback(ybar)
    good = {0: np.ones(2), 1: 1.0} if name == "list for a dict" else (np.ones(2), 1.0)
    np.testing.assert_allclose(pullback(good)[0], np.cos(V) + 1.0)  # still usable


def test_a_dict_cotangent_with_other_keys_raises() -> None:
    _, pullback = ar.vjp(lambda x: {"a": np.sin(x), "b": x.sum()}, V)
    with pytest.raises(ar.ActivityError, match="structure"):
        pullback({"a": np.ones(2), "c": 1.0})


@pytest.mark.parametrize("result", [lambda x: (np.sin(x), lambda: x), lambda x: {"f": np.sin}],
                         ids=["closure in a tuple", "function in a dict"])
def test_a_function_in_a_result_raises_naming_it(result: Any) -> None:
    with pytest.raises(ar.ActivityError, match=r"vjp: output\[.*\] is a function"):
        ar.vjp(result, V)


@pytest.mark.parametrize("result", [lambda x: None, lambda x: 3, lambda x: "s", lambda x: np.sin],
                         ids=["None", "int", "str", "function"])
def test_a_result_without_derivative_raises_in_vjp(result: Any) -> None:
    with pytest.raises(ar.ActivityError, match="vjp: (f returned|output is a function)"):
        ar.vjp(result, V)


def test_integer_leaves_of_a_differentiated_container_raise_in_gradient_naming_the_path() -> None:
    p = {"w": W, "layers": [B, 3]}
    with pytest.raises(ar.ActivityError, match=r"argument 0\['layers'\]\[1\] is an int \(3\)"):
        ar.gradient(lambda p: (p["w"] * p["layers"][1]).sum(), p)
    with pytest.raises(TypeError):  # as jax.grad
        jax.grad(lambda p: (p["w"] * p["layers"][1]).sum())(p)


def test_const_leaves_of_a_differentiated_container_are_constant() -> None:
    g = ar.gradient(lambda p: (p["w"] ** p["n"]).sum(), {"w": W, "n": ar.Const(3)})
    assert g["n"] is None
    np.testing.assert_allclose(g["w"], jax.grad(lambda w: (w ** 3).sum())(W), rtol=1e-12)


def test_vjp_gives_none_for_integer_leaves() -> None:
    _, pullback = ar.vjp(lambda p: (p["w"] ** p["n"]).sum(), {"w": W, "n": 3})
    (g,) = pullback(1.0)
    assert g["n"] is None
    np.testing.assert_allclose(g["w"], 3 * W ** 2, rtol=1e-12)


def test_autodiff_active_tuple_returns_a_tuple() -> None:
    (g,) = ar.autodiff(lambda p: p[0] * np.sin(p[1]), ar.Active((2.0, 0.5)))
    assert_same_tree(g, jax.grad(lambda p: p[0] * jnp.sin(p[1]))((2.0, 0.5)))


@pytest.mark.parametrize("kind", [list, tuple])
def test_autodiff_duplicated_sequence_of_arrays_fills_each_shadow(kind: type) -> None:
    xs = kind([W.copy(), B.copy()])
    dxs = kind([np.zeros_like(W), np.zeros_like(B)])
    ar.autodiff(lambda p: loss(p), ar.Duplicated(xs, dxs))
    assert_same_tree(list(dxs), list(jax.grad(jloss)(kind([W, B]))))


def test_autodiff_batch_duplicated_sequence_of_arrays() -> None:
    xs = [W.copy(), B.copy()]
    lanes = ([np.zeros_like(W), np.zeros_like(B)], [np.zeros_like(W), np.zeros_like(B)])
    ar.autodiff(lambda p: loss(p), ar.BatchDuplicated(xs, lanes), returns=ar.Active((1.0, 2.0)))
    g = jax.grad(jloss)([W, B])
    assert_same_tree(lanes[0], g)
    assert_same_tree(lanes[1], [2 * e for e in g])


def test_autodiff_duplicated_dict_of_arrays_fills_a_shadow_dict_of_its_structure() -> None:
    p = {"w": W.copy(), "layers": [B.copy(), {"v": V.copy()}]}
    dp = {"w": np.zeros_like(W), "layers": [np.zeros_like(B), {"v": np.zeros_like(V)}]}
    assert ar.autodiff(loss, ar.Duplicated(p, dp)) == (None,)
    assert_same_tree(dp, jax.grad(jloss)({"w": W, "layers": [B, {"v": V}]}))


def test_autodiff_batch_duplicated_dict() -> None:
    lanes = ({"w": np.zeros_like(W)}, {"w": np.zeros_like(W)})
    ar.autodiff(loss, ar.BatchDuplicated({"w": W.copy()}, lanes), returns=ar.Active((1.0, -1.0)))
    g = jax.grad(jloss)({"w": W})
    assert_same_tree(lanes[0], g)
    assert_same_tree(lanes[1], {"w": -g["w"]})


@pytest.mark.parametrize("val, dval, message", [
    ({"w": W, "s": 0.7}, {"w": W * 0, "s": 0.0}, "needs a NumPy array"),
    ({"w": W}, {"v": W * 0}, "the same keys"),
    ({"w": W}, [W * 0], "must be a dict"),
    ({"w": W}, {"w": B * 0}, "shadow has shape"),
])
def test_duplicated_dict_refuses_numbers_and_mismatched_shadows(val: Any, dval: Any, message: str) -> None:
    with pytest.raises(ar.ActivityError, match=message):
        ar.Duplicated(val, dval)
