"""Rules for NumPy's weighted counts: ``bincount`` and the histograms.

Counts are piecewise constant in the sample data (a sample moving inside its bin
changes nothing), so the data get no cotangent through them; what is
differentiable:

* the **weights**: ``bincount(x, w)[k] = sum_{i: x_i = k} w_i``, so ``wbar_i =
  ybar[x_i]``; a histogram's ``n = sum_i w_i e_bin(i)``, so ``wbar_i = nbar[bin(i)]``
  (0 for a sample outside every bin). Bins follow NumPy: half-open, the last closed.
* the **bin edges**: ``linspace(lo, hi, n + 1)`` from the data's ``min``/``max`` (when
  neither ``range`` nor explicit edges are given, ``lo == hi`` widened by 0.5), so
  their cotangent goes to the extreme samples (ties split evenly, as ``min``/``max``);
  from ``range`` (when differentiable) to it; explicit edge arrays get theirs as is.
* ``density=True``: ``H = n / (V S)`` (``V`` the bin volumes, ``S = sum n``), so
  ``nbar = Hbar / (V S) - sum(Hbar H) / S`` and each bin width ``w`` gets
  ``-sum(Hbar H) / w`` over its slab, which reaches the edges.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ..dispatch import Sample, rrule
from ._util import bind, fit, like

S = Sample

_IDX = np.array([0, 2, 2, 1, 4, 2])
_W = np.array([0.5, -1.2, 2.0, 0.3, 1.1, -0.4])
_X = np.array([0.131, 0.917, 0.412, 0.553, 0.083, 0.771, 0.347])  # off every sample edge
_Y = np.array([1.7, 0.2, 0.9, 1.3, 0.6, 0.4, 1.1])
_XW = np.array([0.6, -1.1, 1.4, 0.3, 2.2, -0.5, 0.9])
_EDGES = np.array([0.0, 0.3, 0.5, 1.0])


def _stand_in(v: Any) -> Any:
    """A shape-and-dtype stand-in (lists element-wise; numbers stand for themselves)."""
    if isinstance(v, (list, tuple)):
        return [_stand_in(e) for e in v]
    return like(np.asarray(v)) if np.ndim(v) else v


def _fit_like(cot: Any, template: Any) -> Any:
    """``cot`` fitted to ``template``: a list of per-element cotangents for a list."""
    if cot is None:
        return None
    if isinstance(template, list):
        return [fit(c, t) for c, t in zip(cot, template)]
    return fit(cot, template)


@rrule(np.bincount, params="minlength", differentiates="weights", samples=[S(_IDX, _W), S(_IDX, _W, 7), S(_IDX[:3], _W[:3].astype(np.float32))])
def _bincount(x: Any, *pos: Any, **kw: Any) -> tuple[Any, Callable[[Any], tuple[Any, ...]]]:
    """``bincount(x, weights)``: ``wbar_i = ybar[x_i]`` (the weights passed positionally are differentiable)."""
    y = np.bincount(x, *pos, **kw)
    idx = np.asarray(x)
    tw = _stand_in(pos[0]) if pos else None

    def pullback(g: Any) -> tuple[Any, ...]:
        if not pos or pos[0] is None:  # no weights: integer counts
            return (None, *((None,) * len(pos)))
        return (None, fit(np.asarray(g)[idx], tw), *((None,) * (len(pos) - 1)))

    return y, pullback


# ------------------------------------------------------------------ histograms
class _Dim:
    """One dimension of a histogram: its sample column, its edges and where they come from."""

    __slots__ = ("col", "edges", "source", "flat")

    def __init__(self, col: np.ndarray, edges: np.ndarray, bins: Any, rng: Any) -> None:
        self.col, self.edges = col, np.asarray(edges)
        explicit = not isinstance(bins, str) and np.ndim(bins) > 0
        self.source = "bins" if explicit else "range" if rng is not None else "data"
        # NumPy's bins: searchsorted right, the last edge closed; outside: -1
        c = np.searchsorted(self.edges, col, side="right")
        c[col == self.edges[-1]] -= 1
        self.flat = np.where((c >= 1) & (c <= len(self.edges) - 1), c - 1, -1)

    def ends_bar(self, ebar: np.ndarray) -> tuple[Any, Any]:
        """(lobar, hibar) of ``edges = linspace(lo, hi, n + 1)``."""
        t = np.arange(len(self.edges)) / (len(self.edges) - 1)
        return np.sum(ebar * (1 - t)), np.sum(ebar * t)

    def data_bar(self, ebar: np.ndarray) -> np.ndarray:
        """The column's cotangent from its data-driven edges: to its min and max (ties split)."""
        lo, hi = self.ends_bar(ebar)
        at_lo, at_hi = self.col == self.col.min(), self.col == self.col.max()
        return lo * at_lo / at_lo.sum() + hi * at_hi / at_hi.sum()


def _bins_of(dims: list[_Dim], shape: tuple[int, ...]) -> np.ndarray:
    """Each sample's flat bin index in a histogram of ``shape`` (-1: outside)."""
    flat = np.ravel_multi_index(tuple(np.maximum(d.flat, 0) for d in dims), shape) if dims else np.zeros(0)
    outside = np.zeros(len(dims[0].flat), bool)
    for d in dims:
        outside |= d.flat < 0
    return np.where(outside, -1, flat)


def _pull(dims: list[_Dim], hist: np.ndarray, total: Any, density: Any, gh: Any,
          ges: list[Any]) -> tuple[Any, list[Any]]:
    """(nbar per bin, edges' cotangent per dimension) from the output cotangents;
    ``total``: ``S``, the sum of the (weighted) counts."""
    ebars = [np.zeros(len(d.edges)) if ge is None else np.array(ge, dtype=float) for d, ge in zip(dims, ges)]
    if gh is None:
        return None, ebars
    gh = np.asarray(gh)
    if not density:
        return gh, ebars
    vol = np.ones(hist.shape)
    for k, d in enumerate(dims):
        vol = vol * np.diff(d.edges).reshape([-1 if j == k else 1 for j in range(len(dims))])
    ghh = gh * hist
    nbar = (gh / vol - np.sum(ghh)) / total
    for k, d in enumerate(dims):
        wbar = -np.sum(ghh, axis=tuple(j for j in range(len(dims)) if j != k)) / np.diff(d.edges)
        ebars[k][1:] += wbar
        ebars[k][:-1] -= wbar
    return nbar, ebars


def _weights_bar(nbar: Any, where: np.ndarray) -> Any:
    """Each sample's weight cotangent: its bin's ``nbar`` (0 outside every bin)."""
    if nbar is None:
        return None
    flat = np.ravel(nbar)
    return np.where(where >= 0, flat[np.maximum(where, 0)], 0.0)


def _per_dim(value: Any, d: int, n: int) -> Any:
    """Dimension ``d``'s entry of a per-dimension argument (``bins``, ``range``) given for
    ``n`` dimensions: a scalar/str/None applies to all."""
    if isinstance(value, (list, tuple)):
        return value[d]
    if value is None or isinstance(value, str) or np.ndim(value) == 0:
        return value
    return value[d]


def _assemble(per_dim: list[Any], template: Any, shared: bool) -> Any:
    """The cotangent of a per-dimension argument from its dimensions' parts."""
    if template is None or not per_dim:
        return None
    if shared:  # one edge array for every dimension (histogram2d's single array)
        return fit(sum(per_dim), template)
    if isinstance(template, list):
        return [fit(c, t) for c, t in zip(per_dim, template)]
    return fit(np.stack(per_dim), template)


def _histogram_dd(cols: list[np.ndarray], bins: Any, rng: Any, density: Any, weights: Any,
                  hist: np.ndarray, edges: list[np.ndarray], shared: bool = False) -> Callable[..., Any]:
    """The shared reverse of the histograms: a function of (Hbar, [edgesbar per dim]) returning
    (column cotangents, bins cotangent, range cotangent, weights cotangent)."""
    n = len(cols)
    dims = [_Dim(c, e, bins if shared else _per_dim(bins, k, n), _per_dim(rng, k, n))
            for k, (c, e) in enumerate(zip(cols, edges))]
    where = _bins_of(dims, hist.shape)
    w = np.ones(len(where)) if weights is None else np.ravel(weights)
    total = np.sum(w[where >= 0])
    tb = _stand_in(bins) if any(d.source == "bins" for d in dims) and _differentiable(bins) else None
    tr = _stand_in(rng) if _differentiable(rng) else None

    def reverse(gh: Any, ges: list[Any]) -> tuple[list[Any], Any, Any, Any]:
        nbar, ebars = _pull(dims, hist, total, density, gh, ges)
        colbars = [d.data_bar(e) if d.source == "data" else np.zeros(len(d.col)) for d, e in zip(dims, ebars)]
        binsbar = _assemble([e for d, e in zip(dims, ebars) if d.source == "bins"], tb, shared)
        rangebar = None
        if tr is not None:
            ends = [np.array(d.ends_bar(e)) for d, e in zip(dims, ebars)]
            rangebar = _fit_like(ends[0] if np.ndim(rng) == 1 and n == 1 else np.stack(ends), tr)
        return colbars, binsbar, rangebar, _weights_bar(nbar, where)

    return reverse


def _differentiable(v: Any) -> bool:
    """Whether a ``bins``/``range`` argument can carry a cotangent (float arrays, lists of them)."""
    if isinstance(v, list):
        return any(_differentiable(e) for e in v)
    return isinstance(v, np.ndarray) and v.dtype.kind in "fc"


def _outputs(g: Any, n: int) -> list[Any]:
    """A multi-output cotangent as a list of ``n`` entries (``None`` for zero)."""
    return [None] * n if g is None else list(g)


_H1 = [S(_X, 4), S(_X, 3, None, False, _XW), S(_X, 3, None, True, _XW), S(_X, _EDGES, None, True, _XW),
       S(_X, 2, np.array([0.0, 1.0]), True), S(_X.reshape(7, 1), _EDGES, None, False, _XW.reshape(7, 1))]


@rrule(np.histogram, params="density", differentiates="bins range weights", samples=_H1)
def _histogram(a: Any, *pos: Any, **kw: Any) -> tuple[Any, Callable[[Any], tuple[Any, ...]]]:
    """``histogram``: ``wbar_i = nbar[bin(i)]``; edges from the data's min/max (or ``range``, or ``bins``)."""
    p = bind(np.histogram, 1, a, *pos, **kw)
    hist, edges = np.histogram(a, *pos, **kw)
    weights = p["weights"]
    reverse = _histogram_dd([np.ravel(a)], p["bins"], p["range"], p["density"], weights, hist, [edges], shared=True)
    ta, tw = _stand_in(a), _stand_in(weights)

    def pullback(g: Any) -> tuple[Any, ...]:
        gh, ge = _outputs(g, 2)
        colbars, binsbar, rangebar, wbar = reverse(gh, [ge])
        return (fit(colbars[0].reshape(np.shape(a)), ta), binsbar, rangebar, None,
                None if weights is None else fit(np.reshape(wbar, np.shape(weights)), tw))[:1 + len(pos)]

    return (hist, edges), pullback


def _columns(sample: Any) -> list[np.ndarray]:
    """``histogramdd``'s sample as its columns, as NumPy reads it: an (N, D) array, or a
    sequence of D arrays (a 1-D array: one dimension)."""
    if isinstance(sample, (list, tuple)):
        return [np.ravel(np.asarray(c)) for c in sample]
    arr = np.asarray(sample)
    arr = arr if arr.ndim == 2 else np.atleast_2d(arr).T
    return [arr[:, k] for k in range(arr.shape[1])]


def _sample_bar(colbars: list[np.ndarray], sample: Any, template: Any) -> Any:
    if isinstance(sample, (list, tuple)):
        return [fit(c.reshape(np.shape(s)), t) for c, s, t in zip(colbars, sample, template)]
    return fit(np.stack(colbars, axis=1).reshape(np.shape(sample)), template)


_DD = np.stack([_X, _Y], axis=1)


@rrule(np.histogramdd, params="density", differentiates="bins range weights", samples=[S(_DD, 3), S(_DD, (2, 3), None, True, _XW), S([_X, _Y], 2, None, False, _XW),
                                S(_DD, [_EDGES, np.array([0.0, 1.0, 2.0])], None, True, _XW),
                                S(_DD, 2, np.array([[0.0, 1.0], [0.0, 2.0]]), True)])
def _histogramdd(sample: Any, *pos: Any, **kw: Any) -> tuple[Any, Callable[[Any], tuple[Any, ...]]]:
    """``histogramdd``: ``wbar_i = nbar[bin(i)]``; each dimension's edges from its min/max (or ``range``, ``bins``)."""
    p = bind(np.histogramdd, 1, sample, *pos, **kw)
    hist, edges = np.histogramdd(sample, *pos, **kw)
    weights = p["weights"]
    reverse = _histogram_dd(_columns(sample), p["bins"], p["range"], p["density"], weights, hist, list(edges))
    ts, tw = _stand_in(sample), _stand_in(weights)

    def pullback(g: Any) -> tuple[Any, ...]:
        gh, ge = _outputs(g, 2)
        colbars, binsbar, rangebar, wbar = reverse(gh, [None] * len(edges) if ge is None else list(ge))
        return (_sample_bar(colbars, sample, ts), binsbar, rangebar, None,
                None if weights is None else fit(np.reshape(wbar, np.shape(weights)), tw))[:1 + len(pos)]

    return (hist, edges), pullback


@rrule(np.histogram2d, params="density", differentiates="bins range weights", samples=[S(_X, _Y, 3), S(_X, _Y, (2, 3), None, True, _XW), S(_X, _Y, _EDGES, None, False, _XW),
                                S(_X, _Y, [_EDGES, np.array([0.0, 1.0, 2.0])], None, True, _XW),
                                S(_X, _Y, 2, np.array([[0.0, 1.0], [0.0, 2.0]]), True)])
def _histogram2d(x: Any, y: Any, *pos: Any, **kw: Any) -> tuple[Any, Callable[[Any], tuple[Any, ...]]]:
    """``histogram2d``: ``histogramdd`` of ``[x, y]`` (one edge array shared by both, as NumPy)."""
    p = bind(np.histogram2d, 2, x, y, *pos, **kw)
    hist, xe, ye = np.histogram2d(x, y, *pos, **kw)
    bins, weights = p["bins"], p["weights"]
    try:
        shared = len(bins) not in (1, 2)
    except TypeError:
        shared = False
    reverse = _histogram_dd([np.asarray(x), np.asarray(y)], bins, p["range"], p["density"], weights, hist,
                            [xe, ye], shared)
    tx, ty, tw = _stand_in(x), _stand_in(y), _stand_in(weights)

    def pullback(g: Any) -> tuple[Any, ...]:
        gh, gx, gy = _outputs(g, 3)
        colbars, binsbar, rangebar, wbar = reverse(gh, [gx, gy])
        return (fit(colbars[0], tx), fit(colbars[1], ty), binsbar, rangebar, None,
                None if weights is None else fit(wbar, tw))[:2 + len(pos)]

    return (hist, xe, ye), pullback


@rrule(np.histogram_bin_edges, differentiates="bins range", samples=[S(_X, 4), S(_X, 3, np.array([0.0, 2.0])), S(_X, _EDGES)])
def _histogram_bin_edges(a: Any, *pos: Any, **kw: Any) -> tuple[Any, Callable[[Any], tuple[Any, ...]]]:
    """``histogram_bin_edges``: the edges' cotangent to the data's min/max (or to ``range``, ``bins``)."""
    p = bind(np.histogram_bin_edges, 1, a, *pos, **kw)
    edges = np.histogram_bin_edges(a, *pos, **kw)
    bins, rng = p["bins"], p["range"]
    dim = _Dim(np.ravel(a), edges, bins, rng)
    ta, tb, tr = _stand_in(a), _stand_in(bins), _stand_in(rng)

    def pullback(g: Any) -> tuple[Any, ...]:
        ebar = np.asarray(g, dtype=float)
        abar = dim.data_bar(ebar) if dim.source == "data" else np.zeros(dim.col.size)
        return (fit(abar.reshape(np.shape(a)), ta),
                fit(ebar, tb) if dim.source == "bins" and _differentiable(bins) else None,
                fit(np.array(dim.ends_bar(ebar)), tr) if dim.source == "range" and _differentiable(rng) else None,
                None)[:1 + len(pos)]

    return edges, pullback
