"""Rules for traces and norms: ``trace``, ``linalg.trace``, ``linalg.norm``, ``vector_norm``
and ``matrix_norm``.

Conventions (the others: :mod:`.reductions`)
--------------------------------------------
* Vector norms (``linalg.norm``, ``vector_norm``, the Frobenius norm) at 0
  have cotangent 0 (the subgradient of least norm, as PyTorch), and so do
  zero entries of a ``0 < ord < 1`` norm, where the slope is infinite.  The
  matrix 2-norm (``-2``) averages ``u v^H`` over tied largest (smallest)
  singular values, as PyTorch (``I/n`` at the zero matrix).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ..dispatch import Sample, rrule
from ._util import bind, fit, like, nones, normalize_axis_tuple, restore_axes
from .reductions import _C23, _X23, _X234, _axes, _ties

S = Sample


@rrule(np.trace, samples=[S(_X23), S(np.arange(9.0).reshape(3, 3), 1), S(_X234, 0, 2, 1), S(_C23), S(_X234, -1, 0, 2)],
       params="offset axis1 axis2")
def _trace(a: Any, *pos: Any, **kw: Any) -> tuple[Any, Callable[[Any], tuple[Any, ...]]]:
    """``trace``: the cotangent placed on the (offset) diagonal."""
    y = np.trace(a, *pos, **kw)
    p = bind(np.trace, 1, a, *pos, **kw)
    a = np.asarray(a)
    ax1, ax2 = normalize_axis_tuple((p["axis1"], p["axis2"]), a.ndim)
    eye = np.eye(a.shape[ax1], a.shape[ax2], p["offset"], dtype=a.dtype)
    ta = like(a)

    def pullback(g: Any) -> tuple[Any, ...]:
        cot = np.moveaxis(np.asarray(g)[..., None, None] * eye, (-2, -1), (ax1, ax2))
        return (fit(cot, ta), *nones(pos))

    return y, pullback


if hasattr(np.linalg, "trace"):  # NumPy >= 2.0: over the last two axes

    @rrule(np.linalg.trace, samples=[S(_X23), S(_X234), S(_X234, offset=1), S(_C23, offset=-1)], params="offset")
    def _linalg_trace(x: Any, **kw: Any) -> tuple[Any, Callable[[Any], tuple[Any, ...]]]:
        """``linalg.trace``: ``trace`` over the last two axes."""
        return _trace(x, axis1=-2, axis2=-1, **kw)


# ------------------------------------------------------------------ linalg.norm
def _vector_norm_weight(x: Any, y: Any, ord: Any, axis: Any) -> Any:
    """d||x||_ord / dx (conjugate convention), ``y`` broadcast back to ``x``."""
    ax = np.abs(x)
    sgn = np.where(ax == 0, 0, x / np.where(ax == 0, 1, ax))
    if ord is None or ord == 2:
        return np.where(y == 0, 0, x / np.where(y == 0, 1, y))
    if ord == 1:
        return sgn
    if ord in (np.inf, -np.inf):
        return sgn * _ties(ax, y, axis)
    if ord == 0:
        return np.zeros_like(x)
    with np.errstate(divide="ignore", invalid="ignore"):  # 0 at zero entries (0 * inf for ord < 1)
        return np.where((y == 0) | (ax == 0), 0, sgn * (ax / np.where(y == 0, 1, y)) ** (ord - 1))


def _matrix_norm_weight(x: Any, ord: Any, axes: tuple[int, int]) -> Any:
    """d||X||_ord / dX for a matrix norm over ``axes`` (conjugate convention)."""
    m = np.moveaxis(x, axes, (-2, -1))
    if ord in ("nuc", 2, -2):
        u, s, vh = np.linalg.svd(m, full_matrices=False)
        if ord == "nuc":
            w = u @ vh
        else:  # the extreme singular value's u v^H, averaged over ties (as PyTorch)
            w = (u * _ties(s, s[..., :1] if ord == 2 else s[..., -1:], -1)[..., None, :]) @ vh
    else:
        am = np.abs(m)
        sgn = np.where(am == 0, 0, m / np.where(am == 0, 1, am))
        col = ord in (1, -1)
        sums = np.sum(am, axis=-2 if col else -1, keepdims=True)
        best = np.max(sums, axis=-1 if col else -2, keepdims=True) if ord in (1, np.inf) else \
            np.min(sums, axis=-1 if col else -2, keepdims=True)
        sel = _ties(sums, best, -1 if col else -2)
        w = sgn * sel
    return np.moveaxis(w, (-2, -1), axes)


_M = np.array([[2.0, -1.0, 0.5], [0.3, 1.5, -0.8], [1.0, 0.2, 3.0]])
_M3 = np.stack([_M, _M.T * 0.7 + 0.1])


@rrule(np.linalg.norm, samples=[
    S(_X23), S(_X23, axis=1), S(_X23[0], 1), S(_X23[0], ord=np.inf), S(_X23[0], ord=-np.inf), S(_X23[0], 3),
    S(_X23, 1, axis=0, keepdims=True), S(_X23[0], 0), S(_C23), S(_C23[0], 1),
    S(_M, "fro"), S(_M, "nuc"), S(_M, 2), S(_M, -2), S(_M, 1), S(_M, -1), S(_M, ord=np.inf), S(_M, ord=-np.inf),
    S(_M3, "fro", (1, 2)), S(_M3, "nuc", axis=(2, 1)), S(_M3, 2, axis=(1, 2), keepdims=True)], params="ord axis keepdims")
def _norm(x: Any, *pos: Any, **kw: Any) -> tuple[Any, Callable[[Any], tuple[Any, ...]]]:
    """``linalg.norm``: vector norms (any ``ord``) and matrix norms (fro, nuc, ±1, ±2, ±inf)."""
    y = np.linalg.norm(x, *pos, **kw)
    p = bind(np.linalg.norm, 1, x, *pos, **kw)
    x = np.asarray(x)
    ord, axis, keep = p["ord"], p["axis"], bool(p["keepdims"])
    flat = axis is None and ord is None  # 2-norm of the whole array, whatever its ndim
    axes = None if flat else _axes(axis, x.ndim)
    matrix = axes is not None and len(axes) == 2

    def pullback(g: Any) -> tuple[Any, ...]:
        yb = restore_axes(y, x.shape, axes, keep, lanes=False)
        if matrix and ord not in (None, "fro"):
            w = _matrix_norm_weight(x, ord, (axes[0], axes[1]))  # type: ignore[index]
        else:
            w = _vector_norm_weight(x, yb, 2 if ord == "fro" else ord, axes)
        return (fit(restore_axes(g, x.shape, axes, keep) * w, x), *nones(pos))

    return y, pullback


if hasattr(np.linalg, "vector_norm"):  # NumPy >= 2.0

    @rrule(np.linalg.vector_norm, samples=[S(_X23), S(_X23, axis=1), S(_X234, axis=(0, 2), ord=1),
                                           S(_X23, ord=np.inf), S(_X23, axis=0, keepdims=True, ord=3), S(_C23)],
           params="axis keepdims ord")
    def _vector_norm(x: Any, **kw: Any) -> tuple[Any, Callable[[Any], tuple[Any]]]:
        """``linalg.vector_norm``: the vector-norm weights of ``linalg.norm`` over ``axis`` (all axes by default)."""
        y = np.linalg.vector_norm(x, **kw)
        x = np.asarray(x)
        axis, keep, ord = kw.get("axis"), bool(kw.get("keepdims", False)), kw.get("ord", 2)
        axes = tuple(range(x.ndim)) if axis is None else normalize_axis_tuple(axis, x.ndim)

        def pullback(g: Any) -> tuple[Any]:
            w = _vector_norm_weight(x, restore_axes(y, x.shape, axes, keep, lanes=False), ord, axes)
            return (fit(restore_axes(g, x.shape, axes, keep) * w, x),)

        return y, pullback

    @rrule(np.linalg.matrix_norm, samples=[S(_M), S(_M3, ord="nuc"), S(_M, ord=2), S(_M3, ord=1, keepdims=True),
                                           S(_M, ord=-np.inf), S(_C23)], params="keepdims ord")
    def _matrix_norm(x: Any, **kw: Any) -> tuple[Any, Callable[[Any], tuple[Any]]]:
        """``linalg.matrix_norm``: the matrix-norm weights of ``linalg.norm`` over the last two axes."""
        y = np.linalg.matrix_norm(x, **kw)
        x = np.asarray(x)
        keep, ord = bool(kw.get("keepdims", False)), kw.get("ord", "fro")
        axes = (x.ndim - 2, x.ndim - 1)

        def pullback(g: Any) -> tuple[Any]:
            if ord == "fro":
                w = _vector_norm_weight(x, restore_axes(y, x.shape, axes, keep, lanes=False), 2, axes)
            else:
                w = _matrix_norm_weight(x, ord, axes)
            return (fit(restore_axes(g, x.shape, axes, keep) * w, x),)

        return y, pullback
