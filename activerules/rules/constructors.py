"""Rules for NumPy's constructors whose values come from their arguments.

* ``full``/``full_like``: the output is the fill value broadcast to a shape, so the
  fill value's cotangent is the output's summed back to its shape (``full_like``'s
  prototype gives only its shape and dtype: no cotangent).
* ``linspace``: ``y_k = start + t_k (stop - start)`` with ``t_k = k / div`` (``div =
  num - 1`` with ``endpoint``, else ``num``; ``t = 0`` when ``num == 1``), so
  ``startbar = sum_k (1 - t_k) ybar_k`` and ``stopbar = sum_k t_k ybar_k``, summed back
  to each endpoint's shape (arrays of endpoints broadcast; ``axis`` places the new
  axis). ``retstep``'s step ``(stop - start) / div`` adds ``-/+ stepbar / div``; without
  a step (``div <= 0``: ``num == 1`` with ``endpoint``, or ``num == 0``) NumPy returns the
  constant NaN, which depends on neither end, so ``stepbar`` adds nothing (as JAX).
* ``geomspace``: ``y_k = start^(1 - t_k) stop^t_k`` (same signs, or complex with the
  principal branch), so ``startbar = sum_k conj((1 - t_k) y_k / start) ybar_k`` and
  likewise for ``stop``.
* ``logspace``: ``y = base ** u`` with ``u = linspace(start, stop)``:
  ``ubar = conj(log(base) y) ybar`` goes through ``linspace``'s rule and ``basebar =
  sum_k conj(u_k y_k / base) ybar_k`` (``base`` differentiable when passed positionally).

An integer ``dtype`` gives an integer output, which carries no derivative.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ..dispatch import Sample, rrule
from ._util import bind, conj, fit, like, nones

S = Sample

_V = np.array([0.7, -1.1, 2.3])
_P = np.array([0.5, 1.5])
_Q = np.array([2.0, 4.5])


@rrule(np.full, params="dtype", samples=[S((2, 3), 1.5), S((2, 3), _V), S(4, -0.5, np.float64)])
def _full(shape: Any, fill_value: Any, *pos: Any, **kw: Any) -> tuple[Any, Callable[[Any], tuple[Any, ...]]]:
    """``full``: the fill value broadcast: ``fillbar = ybar`` summed back to its shape."""
    y = np.full(shape, fill_value, *pos, **kw)
    tf = like(np.asarray(fill_value)) if np.ndim(fill_value) else fill_value
    return y, lambda g: (None, fit(g, tf), *nones(pos))


@rrule(np.full_like, params="dtype", samples=[S(np.zeros((2, 3)), 1.5), S(np.zeros((2, 3)), _V), S(np.zeros(3), 0.25, np.float64)])
def _full_like(a: Any, fill_value: Any, *pos: Any, **kw: Any) -> tuple[Any, Callable[[Any], tuple[Any, ...]]]:
    """``full_like``: ``fillbar = ybar`` summed back to its shape; the prototype gives only its shape."""
    y = np.full_like(a, fill_value, *pos, **kw)
    tf = like(np.asarray(fill_value)) if np.ndim(fill_value) else fill_value
    return y, lambda g: (None, fit(g, tf), *nones(pos))


def _stand_in(v: Any) -> Any:
    """What ``fit`` needs of an endpoint: its shape and dtype (a number stands for itself)."""
    return like(np.asarray(v)) if np.ndim(v) else v


def _fractions(num: int, endpoint: bool) -> tuple[np.ndarray, int]:
    """``t_k = k / div`` for ``linspace``'s ``num`` points, and ``div`` (0 when ``num == 1``
    with ``endpoint``: NumPy returns ``[start]``)."""
    div = num - 1 if endpoint else num
    t = np.arange(num, dtype=float) / div if div > 0 else np.zeros(num)
    return t, div


def _along(t: np.ndarray, g: Any, axis: int) -> Any:
    """``sum_k t_k g_k`` over the sample axis ``axis`` of ``g``."""
    return np.tensordot(t, np.moveaxis(np.asarray(g), axis, 0), axes=(0, 0))


def _ends(g: Any, t: np.ndarray, axis: int) -> tuple[Any, Any]:
    """The endpoints' cotangents (before they are summed back) from the samples' ``g``."""
    return _along(1.0 - t, g, axis), _along(t, g, axis)


@rrule(np.linspace, params="num endpoint retstep axis", samples=[S(0.5, 2.0, 5), S(-1.0, 3.0, 4, False), S(0.3, 1.2, 1), S(_P, _Q, 3),
                             S(_P, 1.0, 4, axis=1), S(1.5, -0.5, 6, retstep=True),
                             S(_P, _Q, 3, False, True, None, -1)])
def _linspace(start: Any, stop: Any, *pos: Any, **kw: Any) -> tuple[Any, Callable[[Any], tuple[Any, ...]]]:
    """``linspace``: ``startbar = sum_k (1 - t_k) ybar_k``, ``stopbar = sum_k t_k ybar_k`` (``t_k = k / div``)."""
    p = bind(np.linspace, 2, start, stop, *pos, **kw)
    y = np.linspace(start, stop, *pos, **kw)
    t, div = _fractions(int(p["num"]), bool(p["endpoint"]))
    axis, step = int(p["axis"]), bool(p["retstep"])
    ts, te = _stand_in(start), _stand_in(stop)

    def pullback(g: Any) -> tuple[Any, ...]:
        gy, gs = (g if g is not None else (None, None)) if step else (g, None)
        sbar: Any = 0.0
        ebar: Any = 0.0
        if gy is not None:
            sbar, ebar = _ends(gy, t, axis)
        if gs is not None and div > 0:  # step = (stop - start) / div; else NumPy's constant NaN
            d = np.asarray(gs) / div
            sbar, ebar = sbar - d, ebar + d
        return (fit(sbar, ts), fit(ebar, te), *nones(pos))

    return y, pullback


@rrule(np.geomspace, params="num endpoint axis", samples=[S(0.5, 2.0, 5), S(-1.0, -3.0, 4, False), S(_P, _Q, 3), S(_P, _Q, 3, axis=-1),
                              S(1.0 + 1.0j, 2.0 - 0.5j, 4), S(0.7, 1.9, 1)])
def _geomspace(start: Any, stop: Any, *pos: Any, **kw: Any) -> tuple[Any, Callable[[Any], tuple[Any, ...]]]:
    """``geomspace``: ``startbar = sum_k conj((1 - t_k) y_k / start) ybar_k``, likewise ``stop`` with ``t_k``."""
    p = bind(np.geomspace, 2, start, stop, *pos, **kw)
    y = np.geomspace(start, stop, *pos, **kw)
    t, _ = _fractions(int(p["num"]), bool(p["endpoint"]))
    axis, nd = int(p["axis"]), np.broadcast(start, stop).ndim
    ts, te = _stand_in(start), _stand_in(stop)
    s0, s1 = (np.expand_dims(np.array(v, ndmin=nd), axis) for v in (start, stop))  # as NumPy lays them out

    def pullback(g: Any) -> tuple[Any, ...]:
        sbar = _along(1.0 - t, np.asarray(g) * conj(y / s0), axis)
        ebar = _along(t, np.asarray(g) * conj(y / s1), axis)
        return (fit(sbar, ts), fit(ebar, te), *nones(pos))

    return y, pullback


@rrule(np.logspace, params="num endpoint axis", differentiates="base", samples=[S(0.5, 2.0, 5), S(-1.0, 0.5, 4, False, 2.0), S(_P, _Q, 3), S(_P, _Q, 3, True, 3.0),
                             S(0.2, 0.9, 3, True, _Q, axis=-1), S(0.3, 0.6, 1)])
def _logspace(start: Any, stop: Any, *pos: Any, **kw: Any) -> tuple[Any, Callable[[Any], tuple[Any, ...]]]:
    """``logspace``: ``y = base ** u``, ``u = linspace(start, stop)``: ``ubar = conj(log(base) y) ybar`` through
    ``linspace``, ``basebar = sum_k conj(u_k y_k / base) ybar_k``."""
    p = bind(np.logspace, 2, start, stop, *pos, **kw)
    y = np.logspace(start, stop, *pos, **kw)
    num, endpoint, axis, base = int(p["num"]), bool(p["endpoint"]), int(p["axis"]), p["base"]
    t, _ = _fractions(num, endpoint)
    # NumPy's own steps: every argument raised to the broadcast ndim, then the sample axis
    nd = np.broadcast(start, stop, base).ndim
    b = np.expand_dims(np.array(base, ndmin=nd), axis)
    u = np.linspace(np.array(start, ndmin=nd), np.array(stop, ndmin=nd), num, endpoint, axis=axis)
    ts, te, tb = _stand_in(start), _stand_in(stop), _stand_in(base)

    def pullback(g: Any) -> tuple[Any, ...]:
        gy = np.asarray(g) * conj(y)
        sbar, ebar = _ends(gy * conj(np.log(b)), t, axis)
        cots: list[Any] = [fit(sbar, ts), fit(ebar, te), *nones(pos)]
        if len(pos) >= 3:  # base passed positionally: differentiable
            cots[4] = fit(np.sum(gy * conj(u / b), axis=axis), tb)
        return tuple(cots)

    return y, pullback
