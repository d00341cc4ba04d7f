"""Rules for NumPy's reductions and scans.

Most reductions are one table: ``xbar = restore(ybar) * weight`` where
``weight`` is the local derivative of the reduction, written as a formula of
the values it names (``a`` input, ``y`` output broadcast back to ``a``'s
shape, ``m`` the mean, ``n`` the count per group, ``d`` the ddof, ``axis``).

Conventions
-----------
* Ties in ``max``/``min`` (and ``nanmax``, ``maximum.reduce``, ...) split the
  cotangent evenly among the tied elements (JAX's convention); so do the
  running extrema (``maximum.accumulate``, ``fmin.accumulate``, ...), each
  output's among the elements of its prefix equal to it.
* ``prod`` and ``cumprod`` (``multiply.accumulate``, ``nancumprod``,
  ``cumulative_prod``) handle zero entries exactly (products of the other
  elements, as JAX); ``cumprod`` divides only before a lane's first zero.
* Complex inputs follow the ChainRules convention (see :mod:`.elementwise`).
* Vector norms (``linalg.norm``, ``vector_norm``, the Frobenius norm) at 0
  have cotangent 0 (the subgradient of least norm, as PyTorch), and so do
  zero entries of a ``0 < ord < 1`` norm, where the slope is infinite.  The
  matrix 2-norm (``-2``) averages ``u v^H`` over tied largest (smallest)
  singular values, as PyTorch (``I/n`` at the zero matrix).
* ``std``/``nanstd`` at zero spread (one element, all values equal) have
  cotangent 0, as PyTorch (JAX: NaN); ``var`` is differentiable there (0).
* ``nanvar``/``nanstd`` of a slice with no degrees of freedom left (its count
  of numbers ``<= ddof``; NumPy: NaN) have cotangent 0 there, as JAX.
* ``logaddexp.reduce``/``logaddexp2.reduce`` where the result is infinite
  (all ``-inf``, or some ``+inf``) split the cotangent evenly among the
  elements equal to it: the limit from finite values (JAX, PyTorch: NaN).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np

from ..dispatch import Sample, add_samples, rrule, thunk
from ._util import (
    bind,
    conj,
    cotangent_dtype,
    fit,
    formula,
    like,
    nones,
    normalize_axis_tuple,
    reads,
    restore_axes,
    unbroadcast,
)
from .elementwise import _BINARY, _safe_div

S = Sample

_X23 = np.array([[0.5, -1.2, 2.0], [1.5, 0.3, -0.7]])
_X234 = np.linspace(-1.0, 1.3, 24).reshape(2, 3, 4) ** 3 + 0.1
_C23 = _X23 + 1j * _X23[::-1]
_AXES = [S(_X23), S(_X23, axis=1), S(_X23, 0), S(_X23, axis=0, keepdims=True),
         S(_X234, axis=(0, 2)), S(_X23.astype(np.float32), axis=1)]
_NAN = np.array([[0.5, np.nan, 2.0], [1.5, 0.3, np.nan]])


def _H(x: Any) -> Any:
    return conj(np.swapaxes(x, -1, -2))


def _axes(axis: Any, ndim: int) -> tuple[int, ...]:
    """The reduced axes; none for a 0-d input (``ufunc.reduce`` takes its default ``axis=0`` there)."""
    return tuple(range(ndim)) if axis is None or ndim == 0 else normalize_axis_tuple(axis, ndim)


def _ties(a: Any, y: Any, axis: Any) -> Any:
    """Selection weights of max/min: 1/k on each of the k elements equal to the result."""
    eq = a == y
    return eq / np.sum(eq, axis=axis, keepdims=True)


def _others(a: Any, axis: Any) -> Any:
    """Product of the *other* elements of each reduced group (exact with zeros)."""
    if a.size == 0:  # no elements, no weights (the reshapes below cannot infer an axis of an empty array)
        return np.zeros_like(a)
    axes = _axes(axis, a.ndim)
    k = len(axes)
    moved = np.moveaxis(a, axes, tuple(range(a.ndim - k, a.ndim)))
    flat = moved.reshape(moved.shape[: a.ndim - k] + (int(np.prod(moved.shape[a.ndim - k:])),))  # not -1: may be empty
    ones = np.ones(flat.shape[:-1] + (1,), flat.dtype)
    n = flat.shape[-1]  # (an empty group has no others: slice the leading 1 away)
    left = np.cumprod(np.concatenate([ones, flat[..., :-1]], axis=-1), axis=-1)[..., :n]
    right = np.cumprod(np.concatenate([ones, flat[..., :0:-1]], axis=-1), axis=-1)[..., ::-1][..., :n]
    return np.moveaxis((left * right).reshape(moved.shape), tuple(range(a.ndim - k, a.ndim)), axes)


def _softmax(exp: Callable[..., Any], a: Any, y: Any, axis: Any) -> Any:
    """``exp(a - y)``, the weights of ``y = logaddexp.reduce(a)`` (``exp2`` for base 2); where
    ``y`` is infinite (all ``-inf``, or some ``+inf``), the limit from finite values: the
    cotangent split evenly among the elements equal to ``y`` (as ``max``'s ties)."""
    with np.errstate(invalid="ignore"):
        w = exp(a - y)
    inf = np.isinf(y)
    return np.where(inf, _ties(a, y, axis), w) if np.any(inf) else w


def _per_dof(num: Any, n: Any, d: Any) -> Any:
    """``num / (n - d)``, 0 where no degrees of freedom are left (``n - d <= 0``: NumPy's
    nanvar/nanstd give NaN there, JAX's cotangent is 0)."""
    dof = n - d
    ok = dof > 0
    if np.all(ok):
        return num / dof
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(ok, num / np.where(ok, dof, 1), 0)


# weight formulas, by what they read: a, y (broadcast), m (mean), n (count), d (ddof), axis
_REDUCE: dict[Callable[..., Any], tuple[Callable[..., Any], list[Any]]] = {
    np.sum: (lambda: 1.0, [*_AXES, S(_C23, axis=0)]),
    np.nansum: (lambda: 1.0, [S(_NAN), S(_NAN, axis=1)]),
    np.mean: (lambda n: 1.0 / n, [*_AXES, S(_C23, axis=1)]),
    np.nanmean: (lambda n: 1.0 / n, [S(_NAN), S(_NAN, axis=0)]),
    np.prod: (lambda a, axis: conj(_others(a, axis)),
              [*_AXES, S(np.array([[0.5, 0.0, 2.0], [0.0, 0.0, 3.0]]), axis=1), S(_C23)]),
    np.max: (lambda a, y, axis: _ties(a, y, axis), [*_AXES, S(np.array([[1.0, 3.0, 3.0], [2.0, 0.5, 2.0]]), axis=1)]),
    np.amax: (lambda a, y, axis: _ties(a, y, axis), _AXES),
    np.min: (lambda a, y, axis: _ties(a, y, axis), [*_AXES, S(np.array([[1.0, 1.0, 3.0], [2.0, 2.5, 2.0]]), axis=1)]),
    np.amin: (lambda a, y, axis: _ties(a, y, axis), _AXES),
    np.nanmax: (lambda a, y, axis: _ties(a, y, axis), [S(_NAN, axis=1)]),
    np.nanmin: (lambda a, y, axis: _ties(a, y, axis), [S(_NAN, axis=1)]),
    np.var: (lambda a, m, n, d: 2.0 * (a - m) / (n - d), [*_AXES, S(_X23, axis=1, ddof=1), S(_C23, axis=0)]),
    np.std: (lambda a, y, m, n, d: _safe_div(a - m, (n - d) * y), [*_AXES, S(_X23, axis=1, ddof=1), S(_C23)]),
    np.ptp: (lambda a, axis: _ties(a, np.max(a, axis, keepdims=True), axis) - _ties(a, np.min(a, axis, keepdims=True), axis),
             [S(_X23), S(_X23, axis=1), S(_X234, 0, keepdims=True)]),
    np.nanvar: (lambda a, m, n, d: 2.0 * _per_dof(a - m, n, d), [S(_NAN, axis=1), S(_NAN, ddof=1)]),
    np.nanstd: (lambda a, y, m, n, d: _per_dof(_safe_div(a - m, y), n, d), [S(_NAN, axis=1), S(_NAN, ddof=1)]),
    np.logaddexp.reduce: (lambda a, y, axis: _softmax(np.exp, a, y, axis), [S(_X23), S(_X23, axis=1), S(_X234 * 300, None)]),
    np.logaddexp2.reduce: (lambda a, y, axis: _softmax(np.exp2, a, y, axis), [S(_X23), S(_X234, axis=(0, 2)), S(_X23 * 900, 1)]),
}
_UFUNC_REDUCE: dict[Callable[..., Any], Callable[..., Any]] = {
    np.add.reduce: np.sum, np.multiply.reduce: np.prod, np.maximum.reduce: np.max, np.minimum.reduce: np.min,
    np.fmax.reduce: np.nanmax, np.fmin.reduce: np.nanmin,  # NaNs skipped
}
_NANFUNCS = (np.nansum, np.nanmean, np.nanmax, np.nanmin, np.nanvar, np.nanstd)
_MEANS: dict[Callable[..., Any], Callable[..., Any]] = {np.nanvar: np.nanmean, np.nanstd: np.nanmean}


def _where(p: dict[str, Any]) -> dict[str, Any]:
    return {} if p.get("where") is None else {"where": p["where"]}


def _reduction(fn: Callable[..., Any], weight: Callable[..., Any], like_fn: Callable[..., Any]) -> Callable[..., Any]:
    """An rrule ``xbar = restore(ybar) * weight * mask`` for a reduction ``fn``.

    ``like_fn`` is the NumPy function whose semantics ``fn`` shares
    (``np.add.reduce`` behaves as ``np.sum``, with its own default axis).
    """
    names = reads(weight)
    nan = like_fn in _NANFUNCS
    slope = None if names else weight()  # a constant weight (sum, mean's 1/n is not): evaluated once

    def impl(a: Any, *pos: Any, **kw: Any) -> tuple[Any, Callable[[Any], tuple[Any, ...]]]:
        y = fn(a, *pos, **kw)
        p = bind(fn, 1, a, *pos, **kw)
        a = np.asarray(a)
        axis, keep = p["axis"], bool(p.get("keepdims"))
        mask = True if p.get("where") is None else p["where"]
        if nan:
            mask = mask & ~np.isnan(a)
        ta, shape = like(a), a.shape
        # keep only what the weight formula reads
        src = (np.where(mask, a, 0) if nan else a) if "a" in names else None
        mean = _MEANS.get(like_fn, np.mean)(a, axis=axis, keepdims=True, **_where(p)) if "m" in names else None
        out = y if "y" in names else None
        del a

        def local_weight() -> Any:
            env: dict[str, Any] = {"axis": axis, "d": p.get("correction") or p.get("ddof") or 0, "a": src, "m": mean}
            if "y" in names:
                env["y"] = restore_axes(out, shape, axis, keep)
            if "n" in names:
                env["n"] = np.sum(np.broadcast_to(mask, shape), axis=axis, keepdims=True)
            return weight(**{k: env[k] for k in names})

        def pullback(g: Any) -> tuple[Any, ...]:
            spread = restore_axes(g, shape, axis, keep)
            # a slope of 1 (sum): a plain copy fills the fresh buffer about twice as fast as `* 1.0`
            cot = spread.copy() if slope == 1.0 else spread * (slope if slope is not None else local_weight())
            if mask is not True:
                cot = np.where(mask, cot, 0)
            return (fit(cot, ta), *nones(pos))

        return y, pullback

    impl.__name__ = impl.__qualname__ = f"_{getattr(fn, '__name__', 'reduce')}_rrule"
    impl.__doc__ = f"xbar = restore(ybar) * {formula(weight)} (from the reduction table)."
    return impl


# The parameters each reduction's rule implements (see activerules.dispatch.params): the
# others (dtype=, initial= of a product or an extremum, mean=, ...) are refused by name.
_AK = "axis keepdims"
_REDUCE_PARAMS: dict[Any, str] = {
    np.sum: "axis keepdims where initial dtype", np.mean: "axis keepdims where dtype",
    np.nansum: "axis keepdims dtype", np.nanmean: "axis keepdims dtype", np.nanmax: "axis keepdims",
    np.nanmin: "axis keepdims", np.prod: "axis keepdims dtype",
    np.var: "axis keepdims ddof correction where dtype", np.std: "axis keepdims ddof correction where dtype",
    np.nanvar: "axis keepdims ddof", np.nanstd: "axis keepdims ddof",
    np.logaddexp.reduce: "axis keepdims", np.logaddexp2.reduce: "axis keepdims", np.add.reduce: "axis keepdims where",
}
for _fn, (_w, _s) in _REDUCE.items():
    rrule(_fn, samples=_s, params=_REDUCE_PARAMS.get(_fn, _AK))(_reduction(_fn, _w, _fn))
_MASK = np.array([[True, False, True], [True, True, False]])
add_samples(np.sum, S(_X23, axis=1, where=_MASK), S(_X23, initial=2.5))
add_samples(np.add.reduce, S(_X23, axis=1, where=_MASK))
add_samples(np.mean, S(_X23, axis=1, where=_MASK))
for _fn in (np.var, np.std):
    add_samples(_fn, S(_X23, axis=1, where=_MASK), S(_X23, axis=0, correction=1))
for _fn in (np.nansum, np.nanmean, np.nanmax, np.nanmin, np.nanvar, np.nanstd):
    add_samples(_fn, S(_NAN, axis=1, keepdims=True))
for _fn in (np.logaddexp.reduce, np.logaddexp2.reduce):
    add_samples(_fn, S(_X23, axis=0, keepdims=True))
for _fn in (np.sum, np.mean, np.nansum, np.nanmean, np.prod, np.var, np.std):  # dtype=: computed in that type
    add_samples(_fn, S(_X23.astype(np.float32), axis=1, dtype=np.float64))
for _fn, _like in _UFUNC_REDUCE.items():
    rrule(_fn, params=_REDUCE_PARAMS.get(_fn, _AK), samples=[S(_X23), S(_X23, axis=1), S(_X234, None), S(_X23, 1, keepdims=True),
                        *([S(_NAN, axis=1)] if _like in _NANFUNCS else [])])(_reduction(_fn, _REDUCE[_like][0], _like))


# ------------------------------------------------- folds and segmented reductions
def _fold(ufunc: np.ufunc) -> Callable[..., Any]:
    """rrule for ``ufunc.reduce`` of a non-reorderable ``ufunc`` (subtract, divide, power).

    NumPy folds left along the one axis, ``x_k = ufunc(x_{k-1}, a_k)`` (``x_0`` is
    ``initial`` or the first element); the fold is replayed and swept backwards with
    the partials of the elementwise table (``elementwise._BINARY``): the first operand's
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


# ------------------------------------------------------------------------ scans
def _rev_cumsum(g: Any, axis: int) -> Any:
    return np.flip(np.cumsum(np.flip(g, axis), axis), axis)


def _cumprod_cotangent(g: Any, x: Any, y: Any, axis: int) -> Any:
    """``xbar_k = sum_{j >= k} g_j prod_{i <= j, i != k} x_i`` for ``y = cumprod(x)`` along ``axis``
    (pass ``conj(x)``, ``conj(y)`` for complex), exact with zero entries.

    Before a lane's first zero ``xbar_k = revcumsum(g y)_k / x_k`` (``y`` vanishes from
    the first zero on); at the first zero ``z``, ``xbar_z = prod(x_{<z}) sum_{j >= z} g_j
    prod_{z < i <= j} x_i``; after it, 0 (every product holds ``x_z``). The extra scans run
    only when there is a zero."""
    zero = x == 0
    with np.errstate(divide="ignore", invalid="ignore"):
        cot = _rev_cumsum(g * y, axis) / x
    if not np.any(zero):
        return cot
    seen = np.cumsum(zero, axis) > 0  # at or after the lane's first zero
    first = zero & (np.cumsum(zero, axis) == 1)
    head = np.prod(np.where(seen, 1, x), axis=axis, keepdims=True)  # prod(x_{<z})
    tail = np.cumprod(np.where(seen & ~first, x, 1), axis)  # prod_{z < i <= j} x_i
    at_first = head * np.sum(np.where(seen, g * tail, 0), axis=axis, keepdims=True)
    return np.where(seen, np.where(first, at_first, 0), cot)


def _scan(fn: Any, cumprod: bool, nan: bool = False) -> Callable[..., Any]:
    """rrule for cumsum-like (``cumprod=False``) or cumprod-like scans along one axis
    (``nan``: NaNs count as 0 for sums, 1 for products, and get no cotangent)."""

    def impl(a: Any, *pos: Any, **kw: Any) -> tuple[Any, Callable[[Any], tuple[Any, ...]]]:
        y = fn(a, *pos, **kw)
        p = bind(fn, 1, a, *pos, **kw)
        axis, initial = p["axis"], bool(p.get("include_initial"))
        a = np.asarray(a)
        ta = like(a)
        ax = 0 if axis is None else axis
        src: Any = (np.where(np.isnan(a), 1, a) if nan else a) if cumprod else None
        valid = ~np.isnan(a) if nan else None
        out: Any = y if cumprod else None
        shape: tuple[int, ...] = y.shape if not initial else a.shape if axis is not None else (a.size,)
        del a

        def pullback(g: Any) -> tuple[Any, ...]:
            if initial:  # drop the leading identity element's cotangent (and output)
                g = np.take(g, np.arange(1, np.shape(g)[ax]), axis=ax)
            if cumprod:
                yc = conj(np.take(out, np.arange(1, out.shape[ax]), axis=ax) if initial else out)
                cot = _cumprod_cotangent(np.reshape(g, shape), conj(np.reshape(src, shape)), np.reshape(yc, shape), ax)
            else:
                cot = _rev_cumsum(np.reshape(g, shape), ax)
            if valid is not None:
                cot = np.where(np.reshape(valid, shape), cot, 0)
            return (fit(np.reshape(cot, ta.shape), ta), *nones(pos))

        return y, pullback

    impl.__name__ = impl.__qualname__ = f"_{getattr(fn, '__name__', 'accumulate')}_rrule"
    impl.__doc__ = ("reversed cumulative sum of ybar" + (" * y, divided by x" if cumprod else "")
                    + " (from the scan table).")
    return impl


_SCAN_SAMPLES = [S(_X23), S(_X23, axis=1), S(_X23, 0), S(_X234 + 2.0, axis=2), S(_C23, axis=0)]
_SCANS: list[tuple[Any, bool, bool, list[Any]]] = [
    (np.cumsum, False, False, _SCAN_SAMPLES), (np.cumprod, True, False, _SCAN_SAMPLES),
    (np.add.accumulate, False, False, _SCAN_SAMPLES[1:]), (np.multiply.accumulate, True, False, _SCAN_SAMPLES[1:]),
    (np.nancumsum, False, True, [S(_NAN), S(_NAN, axis=1)]), (np.nancumprod, True, True, [S(_NAN), S(_NAN, 0)]),
]
if hasattr(np, "cumulative_sum"):  # NumPy >= 2.1
    _CUMULATIVE = [S(_X23[0]), S(_X23, axis=1), S(_X23, axis=0, include_initial=True), S(_C23[0], include_initial=True)]
    _SCANS += [(np.cumulative_sum, False, False, _CUMULATIVE), (np.cumulative_prod, True, False, _CUMULATIVE)]
_CUMULATIVE_FNS = [getattr(np, n) for n in ("cumulative_sum", "cumulative_prod") if hasattr(np, n)]
for _fn, _prod, _nan, _samples in _SCANS:
    rrule(_fn, samples=_samples, params="axis include_initial" if _fn in _CUMULATIVE_FNS else
          "axis dtype" if _fn in (np.cumsum, np.cumprod) else "axis")(_scan(_fn, _prod, _nan))
    if _fn in (np.cumsum, np.cumprod):
        add_samples(_fn, S(_X23.astype(np.float32), 1, np.complex128))


# ------------------------------------------------------------ running extrema
def _restart_cumsum(v: Any, starts: Any, axis: int) -> Any:
    """Cumulative sum of ``v`` along ``axis``, restarting at each True of ``starts``."""
    c = np.cumsum(v, axis)
    idx = np.arange(v.shape[axis]).reshape((-1,) + (1,) * (v.ndim - 1 - axis))
    first = np.maximum.accumulate(np.where(starts, idx, 0), axis)  # the current run's start
    return c - np.take_along_axis(c - v, first, axis)


def _same(u: Any, v: Any) -> Any:
    """``u == v``, with NaN equal to NaN."""
    return (u == v) | (np.isnan(u) & np.isnan(v))


def _running(fn: Any) -> Callable[..., Any]:
    """rrule for a running max/min (``maximum.accumulate``, ...) along one axis.

    The output is constant on runs that start where it changes; within a run,
    output ``i`` is the maximum of the run's elements equal to it up to ``i``,
    so its cotangent is split evenly among them (as for ``max``).
    """

    def impl(a: Any, *pos: Any, **kw: Any) -> tuple[Any, Callable[[Any], tuple[Any, ...]]]:
        y = fn(a, *pos, **kw)
        a = np.asarray(a)
        axis = normalize_axis_tuple(bind(fn, 1, a, *pos, **kw)["axis"], a.ndim)[0]
        hit = _same(a, y)  # the elements that set (or tie) the running extremum
        rest, prev = (slice(None),) * axis + (slice(1, None),), (slice(None),) * axis + (slice(-1),)
        starts = np.ones_like(hit)  # where a run of equal outputs starts
        starts[rest] = ~_same(y[rest], y[prev])
        ends = np.roll(starts, -1, axis)  # the last element of each run (starts[0] is True)
        share = 1.0 / _restart_cumsum(hit, starts, axis)  # 1 / ties so far in the run
        ta = like(a)
        del a

        def pullback(g: Any) -> tuple[Any, ...]:
            back = np.flip(_restart_cumsum(np.flip(g * share, axis), np.flip(ends, axis), axis), axis)
            return (fit(np.where(hit, back, 0), ta), *nones(pos))

        return y, pullback

    impl.__name__ = impl.__qualname__ = f"_{fn.__self__.__name__}_accumulate_rrule"
    impl.__doc__ = "abar_j = [a_j ties y_i] * sum over i >= j in a_j's run of ybar_i / (ties so far) (running extremum)."
    return impl


_TIES = np.array([1.0, 3.0, 2.0, 3.0, 0.5, 4.0, 4.0])  # two-way ties, where central differences split evenly
_RUNNING = [S(_X23), S(_X23, axis=1), S(_X234, axis=2), S(_X23.astype(np.float32), 1), S(_TIES), S(-_TIES)]
_SKIPPED_NANS = [S(np.array([1.0, np.nan, 0.5, 2.0, np.nan, 1.5]))]  # fmax/fmin skip NaNs: no cotangent
_RUNNING_EXTREMA: list[tuple[Any, list[Any]]] = [
    (np.maximum.accumulate, []), (np.minimum.accumulate, []),
    (np.fmax.accumulate, _SKIPPED_NANS), (np.fmin.accumulate, _SKIPPED_NANS),
]
for _fn, _more in _RUNNING_EXTREMA:
    rrule(_fn, samples=_RUNNING + _more, params="axis")(_running(_fn))


# -------------------------------------------------------------------- quantiles
def _quantile(fn: Any, scale: float, fixed_q: float | None = None) -> Callable[..., Any]:
    """rrule for ``quantile``/``percentile``/``median`` (``method="linear"``): the cotangent
    goes to the two order statistics each quantile interpolates, with weights ``1-t, t``."""

    def impl(a: Any, *pos: Any, **kw: Any) -> tuple[Any, Callable[[Any], tuple[Any, ...]]]:
        y = fn(a, *pos, **kw)
        p = bind(fn, 1, a, *pos, **kw)
        a = np.asarray(a)
        axis, keep = p["axis"], bool(p.get("keepdims"))
        q = np.asarray(fixed_q if fixed_q is not None else p["q"], float) / scale
        moved = np.reshape(a, (-1,)) if axis is None else np.moveaxis(a, axis, -1)
        order = np.argsort(moved, axis=-1, kind="stable")
        n = moved.shape[-1]
        ta = like(a)
        method = p.get("method") or "linear"
        values = np.take_along_axis(moved, order, -1) if fixed_q is None else None
        tq = like(pos[0]) if fixed_q is None and pos else None
        del a, moved

        def pullback(g: Any) -> tuple[Any, ...]:
            if method != "linear" or p.get("weights") is not None:
                raise NotImplementedError(f"{fn.__name__}: only method='linear' without weights is differentiable")
            gq = np.reshape(g, q.shape + y.shape[q.ndim:])
            if keep:  # drop the kept axes: back to the reduced shape
                axes = tuple(range(ta.ndim)) if axis is None else normalize_axis_tuple(axis, ta.ndim)
                gq = np.squeeze(gq, tuple(q.ndim + i for i in axes))
            sorted_cot = np.zeros(order.shape, np.result_type(g, ta))
            for idx in (np.ndindex(q.shape) if n else ()):  # an empty input: an empty cotangent
                v = q[idx] * (n - 1)
                lo = int(np.floor(v))
                hi, t = min(lo + 1, n - 1), v - lo
                sorted_cot[..., lo] += (1 - t) * gq[idx]
                sorted_cot[..., hi] += t * gq[idx]
            cot = np.zeros_like(sorted_cot)
            np.put_along_axis(cot, order, sorted_cot, -1)
            cot = np.reshape(cot, ta.shape) if axis is None else np.moveaxis(cot, -1, axis)
            rest: list[Any] = list(nones(pos))
            if tq is not None:  # d quantile / d q: the slope between the two order statistics
                rest[0] = thunk(lambda: fit(_q_cotangent(q, gq, values, n) / scale, tq))
            return (fit(cot, ta), *rest)

        return y, pullback

    impl.__name__ = impl.__qualname__ = f"_{fn.__name__}_rrule"
    impl.__doc__ = "the cotangent split between the two order statistics each quantile interpolates (method='linear')."
    return impl


def _q_cotangent(q: Any, gq: Any, values: Any, n: int) -> Any:
    out = np.zeros(q.shape, np.result_type(gq, float))
    for idx in (np.ndindex(q.shape) if n else ()):
        lo = int(np.floor(q[idx] * (n - 1)))
        hi = min(lo + 1, n - 1)
        out[idx] = np.sum(gq[idx] * (values[..., hi] - values[..., lo])) * (n - 1)
    return out


_ODD = np.array([[0.5, -1.2, 2.0, 0.9, -0.3], [1.5, 0.3, -0.7, 2.2, 0.1]])
# method= other than linear, weights= and overwrite_input= are refused
rrule(np.median, params=_AK, samples=[S(_ODD), S(_ODD, axis=1), S(_X23, axis=1), S(_X234, axis=0, keepdims=True)])(
    _quantile(np.median, 1.0, 0.5))
rrule(np.quantile, params=_AK, samples=[S(_ODD, 0.3), S(_ODD, np.array([0.1, 0.55, 0.9]), axis=1), S(_X234, 0.75, 2, keepdims=True)])(
    _quantile(np.quantile, 1.0))
rrule(np.percentile, params=_AK, samples=[S(_ODD, 30.0), S(_ODD, [10.0, 95.0], axis=0),
                                          S(_X234, 75.0, 2, keepdims=True)])(_quantile(np.percentile, 100.0))


# ----------------------------------------------------------------------- others
@rrule(np.average, samples=[S(_X23), S(_X23, axis=1), S(_X23, 1, np.array([0.2, 0.5, 1.3])),
                            S(_X23, weights=np.abs(_X23) + 0.1), S(_X23, None, np.abs(_X23) + 0.1),
                            S(_X23, 1, np.array([0.2, 0.5, 1.3]), keepdims=True)],
       params="axis keepdims", differentiates="weights")  # returned=True (a tuple) is refused
def _average(a: Any, *pos: Any, **kw: Any) -> tuple[Any, Callable[[Any], tuple[Any, ...]]]:
    """``average``: ``abar = g w / sum w``, ``wbar = g (a - y) / sum w`` (an active ``weights=``
    reaches the rule by position: the engine binds it)."""
    y = np.average(a, *pos, **kw)
    p = bind(np.average, 1, a, *pos, **kw)
    a = np.asarray(a)
    axis, weights, keep = p["axis"], p["weights"], bool(p["keepdims"])
    w = np.ones_like(a) if weights is None else np.asarray(weights)
    if w.shape != a.shape:
        shape = [1] * a.ndim
        shape[normalize_axis_tuple(axis, a.ndim)[0]] = w.size
        w = w.reshape(shape)
    sw = np.sum(np.broadcast_to(w, a.shape), axis=axis, keepdims=True)

    def pullback(g: Any) -> tuple[Any, ...]:
        gs = restore_axes(g, a.shape, axis, keep) / sw
        rest: list[Any] = list(nones(pos))
        if len(pos) >= 2 and weights is not None:
            wbar = unbroadcast(gs * (a - restore_axes(y, a.shape, axis, keep)), w.shape)
            rest[1] = thunk(lambda: fit(np.reshape(wbar, np.shape(weights)), weights))
        return (fit(gs * w, a), *rest)

    return y, pullback


@rrule(np.diff, samples=[S(np.arange(6.0) ** 2), S(_X234, axis=1), S(_X234, 2, 0),
                            S(_X23, prepend=0.5, append=np.array([[1.0], [2.0]])),
                            S(_X23, 1, 1, np.array([[0.5], [1.0]]), np.array([[2.0, 0.1], [-1.0, 0.3]])),
                            S(np.arange(6.0) ** 2, 2, 0, 0.5, 1.5)], params="n axis", differentiates="prepend append")
def _diff(a: Any, *pos: Any, **kw: Any) -> tuple[Any, Callable[[Any], tuple[Any, ...]]]:
    """``diff``: the transpose of the difference operator applied ``n`` times, to
    ``prepend``/``append``/``a`` joined; ``prepend``/``append`` passed by position (the
    engine binds active ones there) get their parts of that cotangent."""
    y = np.diff(a, *pos, **kw)
    p = bind(np.diff, 1, a, *pos, **kw)
    a = np.asarray(a)
    ax = normalize_axis_tuple(p["axis"], a.ndim)[0]
    pre, app = p["prepend"], p["append"]
    # (with n=0 NumPy returns ``a`` itself, without prepend/append)
    start = 0 if pre is None or p["n"] == 0 else (np.shape(pre)[ax] if np.ndim(pre) == a.ndim else 1)
    widths = [(0, 0)] * a.ndim
    ta, tpre, tapp = like(a), like(pre), like(app)
    del a

    def pullback(g: Any) -> tuple[Any, ...]:
        for _ in range(p["n"]):
            widths[ax] = (1, 0)
            lo = np.pad(g, widths)
            widths[ax] = (0, 1)
            g = lo - np.pad(g, widths)
        end = start + ta.shape[ax]
        rest: list[Any] = list(nones(pos))
        if len(pos) > 2 and pre is not None:  # a scalar was broadcast: fit sums its part
            rest[2] = fit(np.take(g, np.arange(start), axis=ax), tpre)
        if len(pos) > 3 and app is not None:
            rest[3] = fit(np.take(g, np.arange(end, g.shape[ax]), axis=ax), tapp)
        return (fit(np.take(g, np.arange(start, end), axis=ax), ta), *rest)

    return y, pullback


def _taps(n: int, spacing: Any, edge_order: int) -> tuple[list[Any], list[Any]]:
    """``np.gradient`` along one axis of length ``n`` as ``out[i] = sum_t w[t][i] * f[c[t][i]]``.

    Each output reads at most three neighbouring inputs (``i-1..i+1``; ``0..2`` and
    ``n-3..n-1`` at the edges), whose positions differ modulo 3; so three probes,
    the gradients of the indicators of ``j % 3 == r``, give every coefficient, for
    any spacing (scalar or coordinates) and edge order, exactly as NumPy computes it.
    """
    k = min(3, n)
    lo = np.clip(np.arange(n) - 1, 0, n - k)
    cols = [lo + t for t in range(k)]
    probes = np.stack([np.gradient((np.arange(n) % 3 == r).astype(float), spacing,
                                   edge_order=edge_order)  # type: ignore[call-overload]
                       for r in range(3)])
    return cols, [probes[c % 3, np.arange(n)] for c in cols]


_G = np.array([0.5, -1.2, 2.0, 0.9, -0.3, 1.1])


@rrule(np.gradient, samples=[
    S(_G), S(_G, 0.5), S(_G, edge_order=2), S(_X234), S(_X234, 0.5, 2.0, 0.25), S(_X234, 0.3, axis=(0, 2)),
    S(_X234, axis=-1, edge_order=2), S(_G, np.array([0, 1, 3, 4, 7, 8])), S(_X23, np.array([0, 2]), np.array([0, 1, 3]),
    edge_order=1), S(_G[:3], np.array([0, 1, 3]), edge_order=2), S(_C23, axis=1), S(_X23.astype(np.float32), 2.0),
    S(_G[:2])], params="axis edge_order")
def _gradient(f: Any, *varargs: Any, **kw: Any) -> tuple[Any, Callable[[Any], tuple[Any, ...]]]:
    """``gradient``: fbar = each axis' 3-tap stencil transposed; hbar = -Re <g, y> / h; coordinates constant.

    Linear in ``f``: the stencils are read off ``np.gradient`` itself (:func:`_taps`), so
    every spacing form and ``edge_order`` is covered. A scalar spacing ``h`` scales its
    outputs by ``1/h``. Coordinate arrays get no derivative: a float one that is
    differentiated raises ``NotImplementedError`` in the reverse pass."""
    y = np.gradient(f, *varargs, **kw)
    f = np.asarray(f)
    axis, edge_order = kw.get("axis"), kw.get("edge_order", 1)
    axes = _axes(axis, f.ndim)
    spacing = list(varargs) if len(varargs) == len(axes) else [varargs[0] if varargs else 1.0] * len(axes)
    which = list(range(len(varargs))) if len(varargs) == len(axes) else [0] * len(axes)  # axis -> vararg
    stencils = [_taps(f.shape[ax], h, edge_order) for ax, h in zip(axes, spacing)]
    outs = [y] if len(axes) == 1 else list(y)
    tf = like(f)
    del f

    def pullback(g: Any) -> tuple[Any, ...]:
        gs = [g] if len(axes) == 1 else list(g)
        rest = [None if cotangent_dtype(h) is None else thunk(_no_coordinates) if np.ndim(h) else
                thunk(partial(_spacing_cotangent, h, [(gi, yi) for gi, yi, i in zip(gs, outs, which) if i == j]))
                for j, h in enumerate(varargs)]
        return (thunk(partial(_stencils_transposed, gs, axes, stencils, tf)), *rest)

    return y, pullback


def _stencils_transposed(gs: list[Any], axes: tuple[int, ...], stencils: list[Any], tf: Any) -> Any:
    """The cotangent of ``gradient``'s ``f``: each axis' stencil (:func:`_taps`) transposed,
    applied to that axis' output cotangent, summed."""
    cot = np.zeros(tf.shape, np.result_type(tf, *[gi for gi in gs if gi is not None]))
    for ax, (cols, weights), gi in zip(axes, stencils, gs):
        if gi is None:
            continue
        gm, cm = np.moveaxis(np.asarray(gi), ax, 0), np.moveaxis(cot, ax, 0)  # cm: a view of cot
        lanes = (-1,) + (1,) * (gm.ndim - 1)
        for c, w in zip(cols, weights):
            np.add.at(cm, c, w.reshape(lanes) * gm)  # np.add.at: the edge rows repeat columns
    return fit(cot, tf)


def _spacing_cotangent(h: Any, pairs: list[tuple[Any, Any]]) -> Any:
    """The cotangent of a scalar spacing ``h``: the outputs it divides scale as ``1/h``."""
    return fit(-sum(np.real(np.vdot(g, y)) for g, y in pairs if g is not None) / h, h)


def _no_coordinates() -> Any:
    raise NotImplementedError("gradient: no derivative with respect to coordinate arrays (varargs); "
                              "pass them as constants (plain arrays)")


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
        yb = restore_axes(y, x.shape, axes, keep)
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
            w = _vector_norm_weight(x, restore_axes(y, x.shape, axes, keep), ord, axes)
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
                w = _vector_norm_weight(x, restore_axes(y, x.shape, axes, keep), 2, axes)
            else:
                w = _matrix_norm_weight(x, ord, axes)
            return (fit(restore_axes(g, x.shape, axes, keep) * w, x),)

        return y, pullback


# ------------------------------------------------------------------ statistics
def _observations(m: Any, y: Any, rowvar: bool) -> Any:
    """The variables-by-observations matrix ``np.cov`` builds from ``m`` (and ``y``)."""
    X = np.atleast_2d(np.asarray(m))
    if not rowvar and X.shape[0] != 1:
        X = X.T
    if y is not None:
        Y = np.atleast_2d(np.asarray(y))
        X = np.concatenate([X, Y.T if not rowvar and Y.shape[0] != 1 else Y], axis=0)
    return X


def _split_observations(Xbar: Any, m: Any, y: Any, rowvar: bool) -> tuple[Any, Any]:
    """Inverse of :func:`_observations` for cotangents: back to ``m``'s and ``y``'s shapes."""
    nm = np.atleast_2d(np.asarray(m)).shape[0 if rowvar or np.ndim(m) < 2 else 1] if np.ndim(m) else 1
    parts = [Xbar[:nm], Xbar[nm:]]
    out: list[Any] = []
    for part, src in zip(parts, (m, y)):
        if src is None:
            out.append(None)
            continue
        if not rowvar and np.ndim(src) == 2 and np.shape(src)[0] != 1:
            part = part.T
        out.append(np.reshape(part, np.shape(src)))
    return out[0], out[1]


def _cov_static(p: dict[str, Any]) -> None:
    if p.get("fweights") is not None or p.get("aweights") is not None:
        raise NotImplementedError("cov/corrcoef: fweights/aweights are not differentiable here")


@rrule(np.cov, samples=[S(_X23), S(_X234[0]), S(_X23, rowvar=False), S(_X23[0], _X23[1]), S(_X23, ddof=0),
                        S(_X23, bias=True), S(_C23)], params="rowvar bias ddof", differentiates="y")  # weights, dtype refused
def _cov(m: Any, *pos: Any, **kw: Any) -> tuple[Any, Callable[[Any], tuple[Any, ...]]]:
    """``cov`` (no weights): ``Xbar = (G + G^H) Xc / (N - ddof)`` on the centred observations."""
    y = np.cov(m, *pos, **kw)
    p = bind(np.cov, 1, m, *pos, **kw)
    X = _observations(m, p["y"], p["rowvar"])
    Xc = X - X.mean(axis=1, keepdims=True)
    n = X.shape[1]
    ddof = p["ddof"] if p["ddof"] is not None else (0 if p["bias"] else 1)
    tm, ty = like(np.asarray(m)), None if p["y"] is None else like(np.asarray(p["y"]))

    def pullback(g: Any) -> tuple[Any, ...]:
        _cov_static(p)
        G = np.reshape(g, (X.shape[0], X.shape[0]))
        mbar, ybar = _split_observations((G + _H(G)) @ Xc / (n - ddof), tm, ty, p["rowvar"])
        rest: list[Any] = list(nones(pos))
        if pos and ty is not None:
            rest[0] = thunk(lambda: fit(ybar, ty))
        return (fit(mbar, tm), *rest)

    return y, pullback


@rrule(np.corrcoef, samples=[S(_X23 + np.array([[0.0, 0.4, 0.0], [0.0, 0.0, 0.3]])), S(_X234[0]), S(_X23[0], _X23[1] ** 2),
                             S(_X234[1], rowvar=False)], params="rowvar",
       differentiates="y")
def _corrcoef(x: Any, *pos: Any, **kw: Any) -> tuple[Any, Callable[[Any], tuple[Any, ...]]]:
    """``corrcoef``: ``R = C / (s s^T)``, ``s = sqrt(diag C)``, chained through ``cov``'s pullback."""
    R = np.corrcoef(x, *pos, **kw)
    p = bind(np.corrcoef, 1, x, *pos, **kw)
    X = _observations(x, p["y"], p["rowvar"])
    Xc = X - X.mean(axis=1, keepdims=True)
    C = Xc @ _H(Xc) / (X.shape[1] - 1)
    s = np.sqrt(np.real(np.diagonal(C)))
    tx, ty = like(np.asarray(x)), None if p["y"] is None else like(np.asarray(p["y"]))

    def pullback(g: Any) -> tuple[Any, ...]:
        G = np.reshape(g, C.shape)
        Cbar = G / np.outer(s, s)
        sbar = -np.real(np.sum(conj(G) * R, axis=1) + np.sum(conj(G) * R, axis=0)) / s
        Cbar = Cbar + np.diag(sbar / (2 * s))
        xbar, ybar = _split_observations((Cbar + _H(Cbar)) @ Xc / (X.shape[1] - 1), tx, ty, p["rowvar"])
        rest: list[Any] = list(nones(pos))
        if pos and ty is not None:
            rest[0] = thunk(lambda: fit(ybar, ty))
        return (fit(xbar, tx), *rest)

    return R, pullback


_TRAPZ: Any = getattr(np, "trapezoid", None) or getattr(np, "trapz")  # noqa: B009  (NumPy < 2)


@rrule(_TRAPZ, samples=[S(_X23), S(_X23, np.array([0.0, 0.4, 1.5])), S(_X23, dx=0.3, axis=0), S(_X23, None, 0.5),
                        S(_X234, _X234 + np.arange(4.0), axis=2), S(_X23[0], _X23[1] * 0.1 + np.arange(3.0))],
       params="axis", differentiates="x dx")
def _trapezoid(y: Any, *pos: Any, **kw: Any) -> tuple[Any, Callable[[Any], tuple[Any, ...]]]:
    """``trapezoid``: ``ybar_i = g (d_{i-1} + d_i) / 2`` with ``d = diff(x)``; ``xbar`` and ``dxbar``
    from the same sum."""
    out = _TRAPZ(y, *pos, **kw)
    p = bind(_TRAPZ, 1, y, *pos, **kw)
    ya = np.asarray(y)
    ax = normalize_axis_tuple(p["axis"], ya.ndim)[0]
    x, dx = p["x"], p["dx"]
    if ya.shape[ax] < 2:  # no interval: the integral is 0 whatever the inputs
        t0 = like(ya)
        return out, lambda g: (fit(np.zeros(t0.shape, t0.dtype), t0), *nones(pos))
    if x is None:
        d = np.full(ya.shape[ax] - 1, float(dx))
    else:
        d = np.diff(np.asarray(x), axis=-1 if np.ndim(x) == 1 else ax)
    shape = [1] * ya.ndim
    if np.ndim(d) == 1:
        shape[ax] = -1
        d = np.reshape(d, shape)
    ty, tx = like(ya), None if x is None else like(np.asarray(x))

    def pullback(g: Any) -> tuple[Any, ...]:
        gb = np.expand_dims(g, ax)
        zero = np.zeros_like(np.take(d * 0, [0], axis=ax))
        w = (np.concatenate([zero, d], axis=ax) + np.concatenate([d, zero], axis=ax)) / 2
        ybar = gb * w
        rest: list[Any] = list(nones(pos))
        mids = (np.take(ya, np.arange(1, ya.shape[ax]), axis=ax) + np.take(ya, np.arange(ya.shape[ax] - 1), axis=ax)) / 2
        if x is not None and pos:
            z = np.zeros_like(np.take(mids, [0], axis=ax))
            xfull = gb * (np.concatenate([z, mids], axis=ax) - np.concatenate([mids, z], axis=ax))
            if np.ndim(x) == 1 and ya.ndim > 1:
                xfull = np.moveaxis(xfull, ax, -1).reshape(-1, np.shape(x)[0]).sum(axis=0)
            rest[0] = thunk(lambda: fit(xfull, tx))
        if x is None and len(pos) >= 2:
            rest[1] = thunk(lambda: fit(np.sum(gb * mids), float(dx)))
        return (fit(ybar, ty), *rest)

    return out, pullback
