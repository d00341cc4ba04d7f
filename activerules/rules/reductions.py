"""Rules for NumPy's reductions: ``sum``, ``mean``, ``prod``, ``max``/``min``, ``var``/``std``,
``ptp``, their nan-versions, ``logaddexp.reduce`` and the ``ufunc.reduce`` of the same.

They are one table: ``xbar = restore(ybar) * weight`` where
``weight`` is the local derivative of the reduction, written as a formula of
the values it names (``a`` input, ``y`` output broadcast back to ``a``'s
shape, ``m`` the mean, ``n`` the count per group, ``d`` the ddof, ``axis``).
The other reductions and the scans have modules of their own: :mod:`.folds`
(``subtract``/``divide``/``power.reduce``, ``reduceat``), :mod:`.scans`
(cumulative sums, products and extrema), :mod:`.statistics` (quantiles,
``average``, ``cov``, ``corrcoef``), :mod:`.differences` (``diff``, ``gradient``,
``trapezoid``) and :mod:`.norms` (``trace``, ``linalg.norm``).

Conventions
-----------
* Ties in ``max``/``min`` (and ``nanmax``, ``maximum.reduce``, ...) split the
  cotangent evenly among the tied elements (JAX's convention).
* ``prod`` handles zero entries exactly (products of the other elements, as JAX).
* Complex inputs follow the ChainRules convention (see :mod:`.elementwise`).
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
from typing import Any

import numpy as np

from ..dispatch import Sample, add_samples, rrule
from ._util import bind, conj, fit, formula, like, nones, normalize_axis_tuple, reads, restore_axes
from .binary import _safe_div

S = Sample

_X23 = np.array([[0.5, -1.2, 2.0], [1.5, 0.3, -0.7]])
_X234 = np.linspace(-1.0, 1.3, 24).reshape(2, 3, 4) ** 3 + 0.1
_C23 = _X23 + 1j * _X23[::-1]
_AXES = [S(_X23), S(_X23, axis=1), S(_X23, 0), S(_X23, axis=0, keepdims=True),
         S(_X234, axis=(0, 2)), S(_X23.astype(np.float32), axis=1)]
_NAN = np.array([[0.5, np.nan, 2.0], [1.5, 0.3, np.nan]])


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
                env["y"] = restore_axes(out, shape, axis, keep, lanes=False)  # a primal value
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
    rrule(_fn, samples=_s, params=_REDUCE_PARAMS.get(_fn, _AK), batched=True)(_reduction(_fn, _w, _fn))
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
    rrule(_fn, params=_REDUCE_PARAMS.get(_fn, _AK), batched=True, samples=[S(_X23), S(_X23, axis=1), S(_X234, None), S(_X23, 1, keepdims=True),
                        *([S(_NAN, axis=1)] if _like in _NANFUNCS else [])])(_reduction(_fn, _REDUCE[_like][0], _like))
