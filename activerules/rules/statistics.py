"""Rules for NumPy's statistics beyond the reduction table: ``median``, ``quantile`` and
``percentile`` (``method="linear"``, no weights), ``average``, ``cov`` and ``corrcoef``
(no ``fweights``/``aweights``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ..dispatch import Sample, rrule, thunk
from ._linalg import _H
from ._util import bind, conj, fit, like, nones, normalize_axis_tuple, restore_axes, unbroadcast
from .reductions import _AK, _C23, _X23, _X234

S = Sample



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
            wbar = unbroadcast(gs * (a - restore_axes(y, a.shape, axis, keep, lanes=False)), w.shape)
            rest[1] = thunk(lambda: fit(np.reshape(wbar, np.shape(weights)), weights))
        return (fit(gs * w, a), *rest)

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
