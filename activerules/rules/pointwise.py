"""Rules for NumPy's elementwise array functions beyond the ufunc tables.

``clip``, ``where``, ``modf``, ``divmod``, ``interp`` and ``polyval`` (conventions:
:mod:`.elementwise`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ..dispatch import Sample, rrule, thunk
from ._util import bind, conj, explicit_out, fit, like, masked, nones
from .elementwise import _A23, _C, _R, _R2, _UFUNC_PARAMS

S = Sample


# ------------------------------------------------------------- array functions
_LO = np.array([-0.5, 0.0, -2.0, 0.1, -1.0])
_HI = np.array([0.5, 1.0, 0.1, 2.0, 1.5])


_CLIP_SAMPLES = [S(_R, -0.5, 1.0), S(_R, _LO, _HI), S(_A23, None, 0.5), S(_A23, -0.3, None),
                 S(_R, a_min=-0.5, a_max=1.0)]
if np.lib.NumpyVersion(np.__version__) >= "2.1.0":  # the min=/max= spelling
    _CLIP_SAMPLES += [S(_R, max=1.0), S(_A23, min=-0.3), S(_R, min=_LO, max=_HI)]


@rrule(np.clip, samples=_CLIP_SAMPLES, params="a_min a_max min max", differentiates="a_min a_max")
def _clip(a: Any, *pos: Any, **kw: Any) -> tuple[Any, Callable[[Any], tuple[Any, ...]]]:
    """``clip``: the cotangent goes to whichever of ``a``, the lower and the upper bound was selected (``a`` at a bound).

    The bounds may be spelled ``a_min``/``a_max`` or ``min``/``max``; positional ones get a cotangent.
    """
    y = np.clip(a, *pos, **kw)  # NumPy's own checks of the spellings
    p = bind(np.clip, 1, a, *pos, **kw)
    lo = p.get("min") if p["a_min"] is None else p["a_min"]
    hi = p.get("max") if p["a_max"] is None else p["a_max"]
    # NumPy computes minimum(maximum(a, lo), hi): where lo > hi the output is hi, whatever a is
    above = np.zeros(np.shape(y), bool) if hi is None else np.greater(a if lo is None else np.maximum(a, lo), hi)
    below = np.zeros(np.shape(y), bool) if lo is None else np.less(a, lo) & ~above
    ta, tlo, thi = like(a), like(lo), like(hi)

    def pullback(g: Any) -> tuple[Any, ...]:
        def to(selected: Any, template: Any) -> Any:
            return None if template is None else thunk(lambda: fit(masked(kw, np.where, selected, g, 0), template))

        return (to(~(below | above), ta), *(to(below, tlo), to(above, thi), *nones(pos))[: len(pos)])

    return y, pullback


@rrule(np.where, samples=[S(_R > 0, _R, _R * 2), S(np.array([True, False, True]), _A23, 0.5)],
       differentiates="x y")
def _where(condition: Any, *xy: Any) -> tuple[Any, Callable[[Any], tuple[Any, ...]]]:
    """``where(c, x, y)``: the cotangent goes to the selected branch (``c`` gets none)."""
    y = np.where(condition, *xy)
    if not xy:
        return y, lambda g: (None,)
    t1, t2 = like(xy[0]), like(xy[1])
    return y, lambda g: (
        None,
        thunk(lambda: fit(np.where(condition, g, 0), t1)),
        thunk(lambda: fit(np.where(condition, 0, g), t2)),
    )


@rrule(np.modf, samples=[S(_R * 2.3), S(_R2 * 3.1)], params=_UFUNC_PARAMS)
def _modf(x: Any, **kw: Any) -> tuple[Any, Callable[[Any], tuple[Any]]]:
    """``modf``: the fractional part has slope 1, the integral part 0."""
    y = np.modf(x, **explicit_out(np.modf, kw))
    tx = like(x)
    return y, lambda g: (None if g is None or g[0] is None else fit(masked(kw, lambda: g[0]), tx),)


@rrule(np.divmod, samples=[S(np.array([1.3, 2.7, -0.4, 5.2]), np.array([1.0, 1.1, 0.7, 2.3])), S(_A23 * 3, 1.7)],
       params=_UFUNC_PARAMS)
def _divmod(a: Any, b: Any, **kw: Any) -> tuple[Any, Callable[[Any], tuple[Any, Any]]]:
    """``divmod``: the quotient is piecewise constant; the remainder as ``np.remainder``."""
    y = np.divmod(a, b, **explicit_out(np.divmod, kw))
    ta, tb = like(a), like(b)

    def pullback(g: Any) -> tuple[Any, Any]:
        gm = None if g is None else g[1]
        if gm is None:
            return None, None
        return thunk(lambda: fit(masked(kw, lambda: gm), ta)), thunk(lambda: fit(masked(kw, lambda: -gm * y[0]), tb))

    return y, pullback


_XP = np.array([-1.0, 0.0, 0.5, 2.0])
_FP = np.array([0.3, -0.2, 1.1, 0.7])


@rrule(np.interp, samples=[S(np.array([-0.5, 0.2, 1.3, 1.9]), _XP, _FP), S(np.array([-2.0, 0.7, 3.0]), _XP, _FP),
                           S(0.35, _XP, _FP), S(np.array([-2.0, 3.0]), _XP, _FP, left=0.0, right=1.0),
                           S(np.array([-2.0, 0.7, 3.0, -1.5]), _XP, _FP, -0.4, 1.7)],
       differentiates="left right")  # period= refused
def _interp(x: Any, xp: Any, fp: Any, *pos: Any, **kw: Any) -> tuple[Any, Callable[[Any], tuple[Any, ...]]]:
    """``interp`` (piecewise linear, no ``period``): cotangents for ``x`` (the slope), ``fp``
    (the interpolation weights), ``xp`` (the knots' effect on the slope) and ``left``/``right``
    by position (the outputs outside the knots; the engine binds active ones there)."""
    y = np.interp(x, xp, fp, *pos, **kw)
    p = bind(np.interp, 3, x, xp, fp, *pos, **kw)
    left, right = p["left"], p["right"]
    xs, xpa, fpa = np.asarray(x, float), np.asarray(xp, float), np.asarray(fp)
    i = np.clip(np.searchsorted(xpa, xs, side="right") - 1, 0, len(xpa) - 2)
    h = xpa[i + 1] - xpa[i]
    t = (xs - xpa[i]) / h
    slope = (fpa[i + 1] - fpa[i]) / h
    inside = (xs >= xpa[0]) & (xs <= xpa[-1])
    below, above = xs < xpa[0], xs > xpa[-1]
    tx, txp, tfp, tl, tr = like(x), like(xp), like(fp), like(left), like(right)

    def pullback(g: Any) -> tuple[Any, ...]:
        if p["period"] is not None:  # refused by the engines (params=); a direct call of the rule
            raise NotImplementedError("interp: no derivative with period=")
        gi = np.where(inside, g, 0)

        def fpbar() -> Any:
            out = np.zeros(len(fpa), np.result_type(g, fpa))
            np.add.at(out, np.ravel(i), np.ravel(gi * (1 - t)))
            np.add.at(out, np.ravel(i) + 1, np.ravel(gi * t))
            if left is None:
                out[0] += np.sum(np.where(below, g, 0))
            if right is None:
                out[-1] += np.sum(np.where(above, g, 0))
            return out

        def xpbar() -> Any:
            out = np.zeros(len(xpa), np.result_type(g, float))
            np.add.at(out, np.ravel(i), np.ravel(np.real(gi * slope * (t - 1))))
            np.add.at(out, np.ravel(i) + 1, np.ravel(np.real(-gi * slope * t)))
            return out

        outside = (thunk(lambda: fit(np.sum(np.where(below, g, 0)), tl)),
                   thunk(lambda: fit(np.sum(np.where(above, g, 0)), tr)), None)
        return (thunk(lambda: fit(gi * slope, tx)), thunk(lambda: fit(xpbar(), txp)),
                thunk(lambda: fit(fpbar(), tfp)), *outside[:len(pos)])

    return y, pullback


@rrule(np.polyval, samples=[S(np.array([0.5, -1.0, 2.0]), _R), S(np.array([1.5, 0.3]), 0.7), S(np.array([2.0]), _R2),
                            S(np.array([0.5, -1.0, 2.0, 0.1]), _C)], params=())
def _polyval(p: Any, x: Any) -> tuple[Any, Callable[[Any], tuple[Any, Any]]]:
    """``polyval``: ``pbar_k = sum(ybar * conj(x)^(n-1-k))``, ``xbar = ybar * conj(p'(x))``."""
    y = np.polyval(p, x)
    tp, tx = like(p), like(x)
    n = len(p)

    def pullback(g: Any) -> tuple[Any, Any]:
        def pbar() -> Any:
            return np.stack([np.sum(g * conj(np.asarray(x)) ** (n - 1 - k)) for k in range(n)])

        return thunk(lambda: fit(pbar(), tp)), thunk(lambda: fit(g * conj(np.polyval(np.polyder(p), x)), tx))

    return y, pullback
