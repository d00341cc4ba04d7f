"""Rules for NumPy's scans: cumulative sums and products, running extrema.

Conventions (the others: :mod:`.reductions`)
--------------------------------------------
* ``cumprod`` (``multiply.accumulate``, ``nancumprod``, ``cumulative_prod``)
  handles zero entries exactly (products of the other elements, as JAX); it
  divides only before a lane's first zero.
* The running extrema (``maximum.accumulate``, ``fmin.accumulate``, ...) split
  each output's cotangent evenly among the elements of its prefix equal to it
  (as ``max`` splits it among ties).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ..dispatch import Sample, add_samples, rrule
from ._util import bind, conj, fit, like, nones, normalize_axis_tuple
from .reductions import _C23, _NAN, _X23, _X234

S = Sample


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
