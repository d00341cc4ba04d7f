"""Rules for the ``ufunc.reduce`` of the non-reorderable ufuncs (``subtract``, ``divide``,
``power``: the left fold replayed) and for ``ufunc.reduceat`` (each segment weighted as in
the table of :mod:`.reductions`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ..dispatch import Sample, rrule
from ._util import bind, fit, formula, like, nones, normalize_axis_tuple, reads
from .binary import _BINARY
from .reductions import _C23, _REDUCE, _X23, _X234, _axes

S = Sample


# ------------------------------------------------- folds and segmented reductions
def _fold(ufunc: np.ufunc) -> Callable[..., Any]:
    """rrule for ``ufunc.reduce`` of a non-reorderable ``ufunc`` (subtract, divide, power).

    NumPy folds left along the one axis, ``x_k = ufunc(x_{k-1}, a_k)`` (``x_0`` is
    ``initial`` or the first element); the fold is replayed and swept backwards with
    the partials of the elementwise table (``binary._BINARY``): the first operand's
    partial carries the cotangent down the chain, the second's gives ``abar_k``.
    ``where=`` skips elements (``x_k = x_{k-1}``); ``initial`` is static.
    """
    da, db = _BINARY[ufunc]
    fn = ufunc.reduce
    # besides the cotangent g, what each partial reads: a (x_{k-1}), b (a_k), y (x_k)
    partials = (da, db, reads(da)[1:], reads(db)[1:])

    def impl(a: Any, *pos: Any, **kw: Any) -> tuple[Any, Callable[[Any], tuple[Any, ...]]]:
        y = fn(a, *pos, **kw)
        p = bind(fn, 1, a, *pos, **kw)
        a = np.asarray(a)
        ta = like(a)
        axes = _axes(p["axis"], a.ndim)  # NumPy has refused more than one axis
        if not axes:  # axis=(): each element is its own fold, y = a
            return y, lambda g: (fit(g, ta), *nones(pos))
        src = np.moveaxis(a, axes[0], -1)
        where = p.get("where")
        mask = None if where is None else np.moveaxis(np.broadcast_to(where, a.shape), axes[0], -1)
        initial = p.get("initial")
        x = src[..., 0] if initial is None else np.full(src.shape[:-1], initial, np.asarray(y).dtype)
        steps, x = _fold_steps(ufunc, src, mask, x, 0 if initial is not None else 1)
        _check_fold(ufunc, x, y)
        del a

        def pullback(g: Any) -> tuple[Any, ...]:
            cot, gx = _unfold(partials, g, src, mask, steps, ta)
            if initial is None:
                cot[..., 0] += gx
            return (fit(np.moveaxis(cot, -1, axes[0]), ta), *nones(pos))

        return y, pullback

    impl.__name__ = impl.__qualname__ = f"_{ufunc.__name__}_reduce_rrule"
    impl.__doc__ = (f"``{ufunc.__name__}.reduce``: the left fold replayed and swept backwards with "
                    f"{ufunc.__name__}'s partials (from the elementwise table); a NumPy result that is "
                    "not that fold raises.")
    return impl


_Step = tuple[int, Any, Any]   # (k, x_{k-1}, x_k before the where= select)


def _fold_steps(ufunc: np.ufunc, src: np.ndarray, mask: np.ndarray | None, x: Any,
                start: int) -> tuple[list[_Step], Any]:
    """NumPy's left fold of ``ufunc`` along the last axis of ``src``, replayed from ``x``
    at element ``start`` (``mask``: the ``where=`` flags): its steps and its result."""
    steps = []
    with np.errstate(all="ignore"):
        for k in range(start, src.shape[-1]):
            new = ufunc(x, src[..., k])
            steps.append((k, x, new))
            x = new if mask is None else np.where(mask[..., k], new, x)
    return steps, x


def _check_fold(ufunc: np.ufunc, x: Any, y: Any) -> None:
    """Refuse NumPy's result ``y`` when it is not the replayed left fold ``x``."""
    if not np.allclose(x, np.reshape(y, x.shape), rtol=1e-4, atol=0, equal_nan=True):
        # NumPy 2.4's float power.reduce returns a[0] ** a[-1] for three or more elements
        raise NotImplementedError(
            f"{ufunc.__name__}.reduce: NumPy's result differs from the left fold "
            f"{ufunc.__name__}(...{ufunc.__name__}(a[0], a[1])..., a[-1]) that this rule differentiates "
            "(a NumPy bug); reduce step by step with the ufunc itself instead")


def _unfold(partials: tuple[Any, Any, tuple[str, ...], tuple[str, ...]], g: Any, src: np.ndarray,
            mask: np.ndarray | None, steps: list[_Step], ta: Any) -> tuple[np.ndarray, Any]:
    """The fold's ``steps`` swept backwards from the output cotangent ``g`` with the
    ufunc's ``partials`` (``da``, ``db`` and what each reads): the cotangent of each
    element of ``src`` (last axis), and the one left over for ``x_0``."""
    da, db, read_a, read_b = partials
    gx = np.reshape(g, src.shape[:-1])  # the cotangent of the current x_k
    cot = np.zeros(src.shape, np.result_type(gx, ta))
    with np.errstate(all="ignore"):
        for k, prev, new in reversed(steps):
            env = {"a": prev, "b": src[..., k], "y": new}
            gb = db(gx, *[env[n] for n in read_b])
            ga = da(gx, *[env[n] for n in read_a])
            if mask is None:
                cot[..., k], gx = gb, ga
            else:  # a skipped element: no cotangent, x passes through
                cot[..., k], gx = np.where(mask[..., k], gb, 0), np.where(mask[..., k], ga, gx)
    return cot, gx


_POS23 = np.abs(_X23) * 0.5 + 0.6  # bases and exponents where power is smooth
_FOLDS: dict[np.ufunc, list[Any]] = {
    np.subtract: [S(_X23), S(_X23, axis=1), S(_X234, 2, keepdims=True), S(_C23, axis=1),
                  S(_X23.astype(np.float32), 1), S(_X23, 1, initial=1.5, where=np.array([True, False, True]))],
    np.divide: [S(_X23, axis=()), S(_X23, axis=1), S(_X234, 2, keepdims=True), S(_C23, axis=1),
                S(_X23.astype(np.float32), 1), S(_X23, 1, initial=1.5, where=np.array([True, False, True]))],
    # real: two elements per fold (see _check_fold); complex folds longer chains right
    np.power: [S(_POS23), S(_POS23[:, :2], axis=1), S(np.abs(_X234[..., :2]) + 0.5, 2, keepdims=True),
               S(_POS23 + 0.3j * _X23, axis=1), S(_POS23.astype(np.float32)),
               S(_POS23[:, :2], 1, initial=1.5, where=np.array([True, False]))],
}
for _u, _s in _FOLDS.items():
    rrule(_u.reduce, samples=_s, params="axis keepdims initial where")(_fold(_u))


def _segments(indices: Any, n: int) -> list[tuple[int, int]]:
    """The ``[lo, hi)`` slice each output of ``reduceat`` reduces: up to the next index,
    or the one element at ``lo`` when the next index is not larger; the last to the end."""
    idx = [int(i) for i in np.ravel(indices)]
    return [(lo, nxt if lo < nxt else lo + 1) for lo, nxt in zip(idx, idx[1:] + [n])]


def _segmented(fn: Any, weight: Callable[..., Any]) -> Callable[..., Any]:
    """rrule for ``ufunc.reduceat``: each segment gets its output's cotangent times the
    weight of the matching reduction in the table (``a`` the segment, ``y`` its output)."""
    names = reads(weight)

    def impl(a: Any, *pos: Any, **kw: Any) -> tuple[Any, Callable[[Any], tuple[Any, ...]]]:
        y = fn(a, *pos, **kw)
        p = bind(fn, 1, a, *pos, **kw)
        a = np.asarray(a)
        ta = like(a)
        ax = normalize_axis_tuple(p["axis"], a.ndim)[0]
        src = np.moveaxis(a, ax, -1)
        out = np.moveaxis(y, ax, -1) if "y" in names else None
        segments = _segments(p["indices"], src.shape[-1])
        del a

        def pullback(g: Any) -> tuple[Any, ...]:
            gm = np.moveaxis(np.asarray(g), ax, -1)
            cot = np.zeros(src.shape, np.result_type(gm, ta))
            for i, (lo, hi) in enumerate(segments):
                env = {"a": src[..., lo:hi], "y": None if out is None else out[..., i:i + 1], "axis": -1}
                cot[..., lo:hi] += gm[..., i:i + 1] * weight(**{k: env[k] for k in names})
            return (fit(np.moveaxis(cot, -1, ax), ta), *nones(pos))

        return y, pullback

    impl.__name__ = impl.__qualname__ = f"_{fn.__self__.__name__}_reduceat_rrule"
    impl.__doc__ = (f"``{fn.__self__.__name__}.reduceat``: per segment, "
                    f"restore(ybar_i) * {formula(weight)} (from the reduction table).")
    return impl


_SEGS = np.array([0, 2, 2, 1, 4])  # a plain segment, a repeated index (one element), a step back
_RUN = np.array([0.5, -1.2, 2.0, 2.0, 0.9, -0.3, 1.1])
_REDUCEAT: dict[Any, tuple[Callable[..., Any], list[Any]]] = {
    np.add.reduceat: (np.sum, [S(_RUN, _SEGS), S(_X234, [0, 2], axis=2), S(_C23, [0, 1], 1),
                               S(_X23.astype(np.float32), [1, 0], axis=0)]),
    np.multiply.reduceat: (np.prod, [S(_RUN, _SEGS), S(np.array([[0.5, 0.0, 2.0, 0.0], [1.5, 0.3, 0.0, 1.1]]), [0, 2], 1),
                                     S(_C23, [0, 2], 1)]),
    np.maximum.reduceat: (np.max, [S(_RUN, _SEGS), S(_X234, [1, 3], 2), S(_RUN.astype(np.float32), [3, 0])]),
    np.minimum.reduceat: (np.min, [S(_RUN, _SEGS), S(-_X234, [0, 1], axis=1)]),
}
for _fn, (_like, _s) in _REDUCEAT.items():
    rrule(_fn, samples=_s, params="axis")(_segmented(_fn, _REDUCE[_like][0]))
