"""Rules for NumPy's finite differences and integrals: ``diff``, ``gradient`` and ``trapezoid``.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np

from ..dispatch import Sample, rrule, thunk
from ._util import bind, cotangent_dtype, fit, like, nones, normalize_axis_tuple
from .reductions import _C23, _X23, _X234, _axes

S = Sample


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
