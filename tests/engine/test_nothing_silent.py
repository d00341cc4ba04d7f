"""Nothing silent (issue 10): every public entry point, every kind of argument and
every kind of output gives either a derivative equal to central finite differences or
an ``ar.ActiveRulesError`` naming the argument or output: never ``None`` where a
derivative exists, never zeros where it is not zero."""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

import numpy as np
import pytest

import activerules as ar
from activerules.engine.trees import is_node, items_of, leaves, map_leaves


class P(NamedTuple):
    a: Any
    b: Any


ARR = np.array([0.3, -1.1, 2.0])
ARGS: dict[str, Any] = {
    "float64 array": ARR,
    "float32 array": ARR.astype(np.float32),
    "complex array": ARR + 1j * np.array([0.5, 0.2, -0.7]),
    "0-d array": np.array(0.7),
    "python float": 0.7,
    "int": 3,
    "bool": True,
    "str": "s",
    "None": None,
    "int array": np.arange(3),
    "dict": {"a": ARR, "b": 0.7},
    "list": [ARR, 0.7],
    "tuple": (ARR, 0.7),
    "namedtuple": P(ARR, 0.7),
    "nested": {"a": [P(ARR, (0.7, np.array(1.3)))], "b": ARR[:2] * 1j},
    "int in a dict": {"a": ARR, "n": 3},
}


def _differentiable(v: Any) -> bool:
    return (isinstance(v, np.ndarray) and v.dtype.kind in "fc") or (
        isinstance(v, (float, complex)) and not isinstance(v, bool))


def scalarize(p: Any) -> Any:
    """A real scalar depending on every float or complex leaf of ``p`` (and on integers)."""
    total: Any = 0.0
    for leaf in leaves(p):
        if isinstance(leaf, (str, type(None))):
            continue
        if isinstance(leaf, (int, np.integer)) or (isinstance(leaf, np.ndarray) and leaf.dtype.kind in "bi"):
            total = total + np.sum(leaf) * 0.5
        else:
            total = total + np.sum(np.abs(np.sin(leaf)) ** 2) + np.sum(np.real(leaf)) * 0.3
    return total


def fd_tree(f: Callable[[Any], Any], p: Any, eps: float = 1e-6) -> Any:
    """Central differences of the real scalar ``f`` at ``p`` per float or complex leaf
    (ChainRules' convention for complex leaves: dL/da + i dL/db), in float64."""
    p64 = map_leaves(lambda v, _: v.astype(np.result_type(v, np.float64))
                     if isinstance(v, np.ndarray) and v.dtype.kind in "fc" else v, p, "")

    def at(path_leaf: Any, delta: Any) -> Any:
        return f(map_leaves(lambda v, path: v + delta if path == path_leaf else v, p64, ""))

    def leaf_grad(v: Any, path: str) -> Any:
        if not _differentiable(v):
            return None
        g = np.zeros(np.shape(v), np.result_type(v))
        for i in range(max(np.size(v), 1)):
            for unit in ((1.0, 1j) if np.iscomplexobj(v) else (1.0,)):
                e = np.zeros(np.shape(v), np.result_type(v))
                e.flat[i] = unit * eps
                d = e if np.ndim(v) else e[()]
                g.flat[i] += unit * (at(path, d) - at(path, -d)) / (2 * eps)
        return g if np.ndim(v) else g[()]

    return map_leaves(leaf_grad, p64, "")


def assert_tree_close(ours: Any, oracle: Any, rtol: float) -> None:
    """Same structure; a None exactly where the oracle has None; values close."""
    if is_node(oracle):
        assert type(ours) is type(oracle), (ours, oracle)
        for (_, o), (_, e) in zip(items_of(oracle), items_of(ours)):
            assert_tree_close(e, o, rtol)
        return
    if oracle is None:
        assert ours is None
        return
    assert ours is not None
    np.testing.assert_allclose(ours, oracle, rtol=rtol, atol=1e-6)


def _rtol(p: Any) -> float:
    return 2e-3 if any(getattr(v, "dtype", None) == np.float32 for v in leaves(p)) else 1e-6


@pytest.mark.parametrize("kind", sorted(ARGS))
@pytest.mark.parametrize("argnums", [0, -1, (0,)])
def test_gradient_of_every_argument_kind(kind: str, argnums: Any) -> None:
    p = ARGS[kind]
    if all(_differentiable(v) for v in leaves(p)):
        g = ar.gradient(scalarize, p, argnums=argnums)
        assert_tree_close(g if isinstance(argnums, int) else g[0], fd_tree(scalarize, p), _rtol(p))
    else:
        with pytest.raises(ar.ActivityError, match="gradient: argument 0"):
            ar.gradient(scalarize, p, argnums=argnums)


@pytest.mark.parametrize("kind", sorted(ARGS))
def test_vjp_of_every_argument_kind(kind: str) -> None:
    p = ARGS[kind]
    y, pullback = ar.vjp(lambda p, s: scalarize(p) * s, p, 1.5)
    assert y == pytest.approx(scalarize(p) * 1.5, rel=1e-5)
    g, gs = pullback(2.0)
    assert_tree_close(g, fd_tree(lambda q: scalarize(q) * 3.0, p), _rtol(p))
    assert gs == pytest.approx(2.0 * scalarize(p), rel=1e-5)


def _annotate(p: Any) -> tuple[Any, Callable[[Any], Any]]:
    """``p`` annotated for autodiff, and how to read its derivative from the result."""
    if isinstance(p, np.ndarray) or (isinstance(p, (list, tuple)) and p and
                                      all(isinstance(v, np.ndarray) for v in p)):
        dp = [np.zeros_like(v) for v in p] if isinstance(p, (list, tuple)) else np.zeros_like(p)
        copy = type(p)(v.copy() for v in p) if isinstance(p, (list, tuple)) else p.copy()
        return ar.Duplicated(copy, dp), lambda r: dp
    return ar.Active(p), lambda r: r[0]


@pytest.mark.parametrize("kind", sorted(ARGS))
def test_autodiff_of_every_argument_kind(kind: str) -> None:
    p = ARGS[kind]
    try:
        ann, read = _annotate(p)
    except ar.ActivityError as e:  # the annotation refuses it, naming the type
        assert type(p).__name__ in str(e)
        return
    if isinstance(p, int) and not isinstance(p, bool):  # Active(3) is documented as Active(3.0)
        p = float(p)
    if isinstance(p, np.ndarray) and p.dtype.kind not in "fc":
        with pytest.raises(ar.ActivityError, match="argument 0 is an ndarray of dtype int"):
            ar.autodiff(scalarize, ann)
        return
    assert_tree_close(read(ar.autodiff(scalarize, ann)), fd_tree(scalarize, p), _rtol(p))
    assert ar.autodiff(scalarize, ar.Const(p)) == (None,)  # asked for no derivative


@pytest.mark.parametrize("kind", ["float64 array", "float32 array", "complex array", "0-d array"])
def test_autodiff_batch_duplicated_of_every_array_kind(kind: str) -> None:
    p = ARGS[kind]
    lanes = (np.zeros_like(p), np.zeros_like(p))
    ar.autodiff(scalarize, ar.BatchDuplicated(p.copy(), lanes), returns=ar.Active((1.0, 2.0)))
    g = fd_tree(scalarize, p)
    np.testing.assert_allclose(lanes[0], g, rtol=_rtol(p), atol=1e-6)
    np.testing.assert_allclose(lanes[1], 2 * g, rtol=_rtol(p), atol=1e-6)


OUTS: dict[str, Callable[[Any], Any]] = {
    "array": lambda x: np.sin(x) * x,
    "scalar": lambda x: (np.sin(x) * x).sum(),
    "0-d array": lambda x: np.sin(x).sum(keepdims=True).reshape(()),
    "python float": lambda x: 2.5,
    "tuple": lambda x: (np.sin(x), (x * x).sum()),
    "list": lambda x: [np.sin(x), (x * x).sum()],
    "dict": lambda x: {"s": np.sin(x), "q": (x * x).sum()},
    "namedtuple": lambda x: P(np.sin(x), (x * x).sum()),
    "complex": lambda x: np.exp(1j * x).sum(),
    "None": lambda x: None,
    "int": lambda x: 3,
    "closure": lambda x: (lambda: x),
}
SCALAR_OUTS = {"scalar", "0-d array", "python float"}
VJP_OUTS = SCALAR_OUTS | {"array", "tuple", "list", "dict", "namedtuple", "complex"}


@pytest.mark.parametrize("out", sorted(OUTS))
def test_gradient_of_every_output_kind(out: str) -> None:
    f = OUTS[out]
    if out in SCALAR_OUTS:
        np.testing.assert_allclose(ar.gradient(f, ARR), fd_tree(f, ARR), atol=1e-8)
    else:
        with pytest.raises(ar.ActivityError, match="gradient"):
            ar.gradient(f, ARR)


def _cotangent(y: Any) -> Any:
    return map_leaves(lambda v, _: (0.5 + np.arange(np.size(v)).reshape(np.shape(v))) *
                      ((1 - 0.5j) if np.iscomplexobj(v) else 1.0), y, "")


@pytest.mark.parametrize("out", sorted(OUTS))
def test_vjp_of_every_output_kind(out: str) -> None:
    f = OUTS[out]
    if out not in VJP_OUTS:
        with pytest.raises(ar.ActivityError, match="vjp: (f returned|output)"):
            ar.vjp(f, ARR)
        return
    y, pullback = ar.vjp(f, ARR)
    ybar = _cotangent(y)

    def inner(x: Any) -> Any:  # Re <f(x), ybar>: its gradient is the (ChainRules) cotangent
        return sum(np.real(np.sum(np.conj(a) * b)) for a, b in zip(leaves(f(x)), leaves(ybar)))

    np.testing.assert_allclose(pullback(ybar)[0], fd_tree(inner, ARR), atol=1e-8)


@pytest.mark.parametrize("out", sorted(OUTS))
def test_autodiff_of_every_output_kind(out: str) -> None:
    f, dx = OUTS[out], np.zeros(3)
    if out in SCALAR_OUTS:
        ar.autodiff(f, ar.Duplicated(ARR.copy(), dx))
        np.testing.assert_allclose(dx, fd_tree(f, ARR), atol=1e-8)
    elif out == "None":  # no result: returns=Const (Enzyme), derivatives flow through shadows
        ar.autodiff(f, ar.Duplicated(ARR.copy(), dx))
        assert not dx.any()
        with pytest.raises(ar.ActivityError, match="autodiff: f returned None"):
            ar.autodiff(f, ar.Duplicated(ARR.copy(), dx), returns=ar.Active)
    else:
        with pytest.raises(ar.ActivityError, match="autodiff|returns=ar.Const"):
            ar.autodiff(f, ar.Duplicated(ARR.copy(), dx))
