"""Rules for NumPy's shape, copy and rearrangement functions.

All of these are linear in their array arguments (``unwrap`` up to
piecewise-constant offsets: slope 1).  The cheap ones (views and
simple permutations) have a direct transpose in :data:`_DIRECT`.  Every other
function that only *moves, copies, duplicates or zeroes* elements
(``tile``, ``repeat``, ``take``, ``pad``, ``concatenate``, ``split``, ...) is
differentiated by one generic rule: the function is re-run on an *index map*
(each input element replaced by its 1-based position; 0 means "no source")
and the cotangent is scattered back with ``bincount``.  That rule is exact
for any such function, handles sequence inputs (``concatenate``) and list
outputs (``split``), and keeps nothing of the primal alive.

``sort``/``partition`` differentiate the values through the permutation
(``argsort``/``argpartition``); ties are resolved by the stable sort.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..dispatch import Sample, add_samples, rrule
from ._util import bind, fit, formula, like, nones, normalize_axis_tuple, unbroadcast

S = Sample

_A = np.array([[0.5, -1.2, 2.0], [1.5, 0.3, -0.7]])
_B = np.array([[1.1, 0.4, -0.9], [0.2, -0.6, 1.3]])
_V = np.array([0.7, -1.1, 2.3, 0.4])
_T = np.linspace(-1.0, 1.3, 24).reshape(2, 3, 4)
_Q = np.array([[2.0, -1.0, 0.5], [0.3, 1.5, -0.8], [1.0, 0.2, 3.0]])
_C = _A + 1j * _B


# -------------------------------------------------------------- direct transposes
def _reshape_back(g: Any, a: Any, p: dict[str, Any]) -> Any:
    return np.reshape(g, a.shape, order=p.get("order") or "C")


def _transpose_back(g: Any, a: Any, p: dict[str, Any]) -> Any:
    axes = p["axes"]
    return np.transpose(g) if axes is None else np.transpose(g, np.argsort(normalize_axis_tuple(axes, a.ndim)))


def _neg(shift: Any) -> Any:
    return tuple(-s for s in shift) if isinstance(shift, (tuple, list)) else -shift


# (g, a, p) -> cotangent; ``a`` is a zero-cost stand-in with the input's shape and dtype.
_DIRECT: dict[Callable[..., Any], tuple[Callable[..., Any], list[Any]]] = {
    np.reshape: (_reshape_back, [S(_A, (3, 2)), S(_T, (4, -1)), S(_A, (6,), order="F"), S(_C, -1)]),
    np.ravel: (_reshape_back, [S(_A), S(_T, order="F"), S(_A.astype(np.float32))]),
    np.squeeze: (_reshape_back, [S(_A[None, :, None]), S(_A[None], 0)]),
    np.expand_dims: (_reshape_back, [S(_A, 1), S(_A, axis=(0, 3))]),
    np.atleast_1d: (_reshape_back, [S(_V), S(1.5)]),
    np.atleast_2d: (_reshape_back, [S(_V), S(_A)]),
    np.atleast_3d: (_reshape_back, [S(_V), S(_A)]),
    np.transpose: (_transpose_back, [S(_A), S(_T, (2, 0, 1)), S(_T, axes=(1, 2, 0)), S(_C)]),
    np.swapaxes: (lambda g, a, p: np.swapaxes(g, p["axis1"], p["axis2"]), [S(_T, 0, 2), S(_A, 0, -1)]),
    np.moveaxis: (lambda g, a, p: np.moveaxis(g, p["destination"], p["source"]),
                  [S(_T, 0, -1), S(_T, (0, 1), (2, 0))]),
    np.broadcast_to: (lambda g, a, p: unbroadcast(g, a.shape), [S(_V, (3, 4)), S(_A[:, :1], (4, 2, 3))]),
    np.flip: (lambda g, a, p: np.flip(g, p["axis"]), [S(_A), S(_T, 1), S(_T, axis=(0, 2))]),
    np.fliplr: (lambda g, a, p: np.fliplr(g), [S(_A)]),
    np.flipud: (lambda g, a, p: np.flipud(g), [S(_A), S(_V)]),
    np.roll: (lambda g, a, p: np.roll(g, _neg(p["shift"]), p["axis"]), [S(_V, 1), S(_A, -1, 1), S(_T, (1, 2), (0, 2))]),
    np.rot90: (lambda g, a, p: np.rot90(g, -p["k"], p["axes"]), [S(_A), S(_A, 3), S(_T, 1, (2, 0))]),
    np.tril: (lambda g, a, p: np.tril(g, p["k"]), [S(_Q), S(_Q, -1), S(_T, 1)]),
    np.triu: (lambda g, a, p: np.triu(g, p["k"]), [S(_Q), S(_Q, 1), S(_T, -1)]),
    np.copy: (lambda g, a, p: g, [S(_A), S(_C), S(_A.T, order="C"), S(_A, "F")]),
    np.ascontiguousarray: (lambda g, a, p: g, [S(_A.T)]),
    np.real_if_close: (lambda g, a, p: g, [S(_A)]),
    np.unwrap: (lambda g, a, p: g, [S(np.array([0.0, 1.0, 2.5, 4.0, -2.0, -0.5])), S(_A * 3, period=4.0, axis=0)]),
}
if hasattr(np, "astype"):  # NumPy >= 2.1
    _DIRECT[np.astype] = (lambda g, a, p: g, [S(_A.astype(np.float32), np.float64),
                                              S(_C, np.complex128), S(_A, np.complex128), S(_A, np.float64, copy=False)])
for _mt in (getattr(np, "matrix_transpose", None), getattr(np.linalg, "matrix_transpose", None)):  # NumPy >= 2.0
    if _mt is not None:
        _DIRECT[_mt] = (lambda g, a, p: np.swapaxes(g, -1, -2), [S(_T), S(_A)])


def _direct(fn: Callable[..., Any], back: Callable[..., Any]) -> Callable[..., Any]:
    """rrule for a linear single-array function whose transpose is ``back``."""

    def impl(a: Any, *pos: Any, **kw: Any) -> tuple[Any, Callable[[Any], tuple[Any, ...]]]:
        y = fn(a, *pos, **kw)
        p = bind(fn, 1, a, *pos, **kw)
        ta = like(np.asarray(a)) if np.ndim(a) else a
        return y, lambda g: (fit(back(np.asarray(g), np.asarray(ta), p), ta), *nones(pos))

    impl.__name__ = impl.__qualname__ = f"_{fn.__name__}_rrule"
    impl.__doc__ = f"Linear; its transpose: xbar = {formula(back)} (from the direct table)."
    return impl


# The optional parameters each rule implements (see activerules.dispatch.params), all
# exercised by its samples; any other one (copy=, subok=, dtype=, mode= of
# take, kind= of sort, ...) is refused by name.
_PARAMS: dict[Any, str] = {
    np.reshape: "order", np.ravel: "order", np.squeeze: "axis", np.transpose: "axes", np.flip: "axis",
    np.roll: "axis", np.rot90: "k axes", np.tril: "k", np.triu: "k", np.unwrap: "discont axis period",
    np.repeat: "axis", np.take: "axis mode", np.take_along_axis: "axis", np.pad: "mode constant_values", np.diag: "k",
    np.diagonal: "offset axis1 axis2", np.rollaxis: "start", np.compress: "axis", np.delete: "axis",
    np.append: "axis", np.concatenate: "axis", np.stack: "axis", np.split: "axis", np.array_split: "axis",
    np.meshgrid: "indexing sparse copy", np.diagflat: "k", np.insert: "axis",
    np.sort: "axis", np.partition: "axis", np.copy: "order",
    **{f: "axis" for f in (getattr(np, "unstack", None),) if f is not None},
    **{f: "copy" for f in (getattr(np, "astype", None),) if f is not None},
    **{f: "offset" for f in (getattr(np.linalg, "diagonal", None),) if f is not None},
}

for _fn, (_back, _s) in _DIRECT.items():
    rrule(_fn, samples=_s, params=_PARAMS.get(_fn, ()))(_direct(_fn, _back))


# --------------------------------------------------------- generic gather rule
def _index_map(x: Any, start: int) -> tuple[Any, int]:
    """``x``'s elements numbered ``start, start+1, ...`` in an int array of its shape."""
    n = int(np.size(x))
    return np.arange(start, start + n, dtype=np.intp).reshape(np.shape(x)), start + n


def _stand_in(v: Any) -> Any:
    """Shape-and-dtype stand-in for an array argument (scalars stand for themselves)."""
    return like(v) if isinstance(v, np.ndarray) else (v if np.ndim(v) == 0 else like(np.asarray(v)))


def _scatter(g: Any, yi: Any, total: int) -> Any:
    """Sum the cotangent ``g`` of each output element into its source slot (0 = none)."""
    if isinstance(yi, (list, tuple)):
        pairs = [(np.ravel(gi), np.ravel(ii)) for gi, ii in zip(g, yi) if gi is not None]
        if not pairs:
            return np.zeros(total)
        gf, idx = np.concatenate([p[0] for p in pairs]), np.concatenate([p[1] for p in pairs])
    else:
        gf, idx = np.ravel(np.broadcast_to(g, np.shape(yi))), np.ravel(yi)
    if np.iscomplexobj(gf):
        return (np.bincount(idx, gf.real, total) + 1j * np.bincount(idx, gf.imag, total))
    return np.bincount(idx, gf, total)


def _gather(fn: Callable[..., Any], arrays: Sequence[int] | None = (0,),
            index_kw: Callable[[dict[str, Any]], dict[str, Any]] | None = None) -> Callable[..., Any]:
    """rrule for a function that only moves/copies/zeroes elements of its arrays.

    ``arrays``: positions of the differentiable array arguments (each an array
    or a sequence of arrays); ``None`` means every positional argument.
    ``index_kw`` rewrites the keywords for the run on index maps (``pad`` in
    constant mode must pad the index map with 0, whatever ``constant_values``).
    """

    def impl(*args: Any, **kw: Any) -> tuple[Any, Callable[[Any], tuple[Any, ...]]]:
        y = fn(*args, **kw)
        slots = range(len(args)) if arrays is None else [i for i in arrays if i < len(args)]
        # Stand-ins with each array's shape and dtype (lists stay lists): nothing of the primal is kept.
        templates = {i: [_stand_in(v) for v in args[i]] if isinstance(args[i], (list, tuple)) else
                     _stand_in(args[i]) for i in slots}
        static = [None if i in templates else v for i, v in enumerate(args)]
        del args

        def pullback(g: Any) -> tuple[Any, ...]:
            call, pos = list(static), 1
            for i, t in templates.items():
                if isinstance(t, list):
                    maps = []
                    for e in t:
                        m, pos = _index_map(e, pos)
                        maps.append(m)
                    call[i] = maps
                else:
                    call[i], pos = _index_map(t, pos)
            flat = _scatter(g, fn(*call, **(index_kw(kw) if index_kw else kw)), pos)
            cots: list[Any] = [None] * len(static)
            pos = 1
            for i, t in templates.items():
                out = []
                for e in t if isinstance(t, list) else [t]:
                    out.append(fit(flat[pos:pos + np.size(e)].reshape(np.shape(e)), e))
                    pos += np.size(e)
                cots[i] = out if isinstance(t, list) else out[0]
            return tuple(cots)

        return y, pullback

    impl.__name__ = impl.__qualname__ = f"_{fn.__name__}_rrule"
    impl.__doc__ = "Moves/copies elements: the cotangent is scattered back through an index map."
    return impl


_IDX = np.array([2, 0, 2, 1])
_GATHER: dict[Callable[..., Any], tuple[list[Any], Sequence[int] | None]] = {
    np.tile: ([S(_V, 2), S(_A, (2, 1, 3))], (0,)),
    np.repeat: ([S(_V, 2), S(_A, np.array([1, 0, 3]), axis=1), S(_A, 3)], (0,)),
    np.take: ([S(_V, _IDX), S(_A, _IDX[:3], axis=1), S(_T, 5)], (0,)),
    np.take_along_axis: ([S(_A, np.array([[2, 0, 0], [1, 1, 2]]), 1), S(_A, np.array([[1, 0, 1]]), axis=0)], (0,)),
    np.pad: ([S(_A, 1), S(_A, ((0, 1), (2, 0)), constant_values=3.0), S(_A, 2, mode="reflect"),
              S(_V, (1, 3), mode="edge"), S(_A, 1, mode="wrap"), S(_A, (1, 2), mode="symmetric")], (0,)),
    np.diag: ([S(_V), S(_V, 1), S(_Q), S(_Q, -1)], (0,)),
    np.diagonal: ([S(_Q), S(_T, 1, 1, 2), S(_T, axis1=2, axis2=0)], (0,)),
    np.rollaxis: ([S(_T, 2), S(_T, 0, 2)], (0,)),
    np.compress: ([S(np.array([True, False, True]), _A, axis=1)], (1,)),
    np.delete: ([S(_V, 1), S(_A, [0, 2], axis=1)], (0,)),
    np.resize: ([S(_V, (3, 3)), S(_A, 4)], (0,)),
    np.append: ([S(_V, _V[:2]), S(_A, _B, axis=0)], (0, 1)),
    np.concatenate: ([S([_A, _B]), S([_A, _B[:, :2]], axis=1), S([_V, _V[:2] * 2], None), S([_A, _C])], (0,)),
    np.stack: ([S([_A, _B]), S([_A, _B, _A * 2], axis=-1)], (0,)),
    np.hstack: ([S([_A, _B]), S([_V, _V[:2]])], (0,)),
    np.vstack: ([S([_A, _B]), S([_V, _V * 3])], (0,)),
    np.dstack: ([S([_A, _B])], (0,)),
    np.column_stack: ([S([_V, _V[::-1] * 1]), S([_A.T, _B.T])], (0,)),
    np.split: ([S(_V, 2), S(_T, [1, 3], axis=2)], (0,)),
    np.array_split: ([S(_V, 3), S(_A, 2, axis=1)], (0,)),
    np.hsplit: ([S(_A, 3)], (0,)),
    np.vsplit: ([S(_T, 2)], (0,)),
    np.dsplit: ([S(_T, [1])], (0,)),
    np.broadcast_arrays: ([S(_V, _A[:, :1] @ np.ones((1, 4)))], None),
    np.meshgrid: ([S(_V, _A[0]), S(_V, _A[0], indexing="ij")], None),
    np.diagflat: ([S(_V), S(_A, -1)], (0,)),
    np.insert: ([S(_V, 1, 2.5), S(_A, [0, 2], _B[:, :2], axis=1), S(_V, 2, _V[:2] * 3)], (0, 2)),
    np.select: ([S([_V > 0, _V < -1], [_V, _V * 2 + 1], 0.5), S([_A > 0], [_B]),
                 S([_V > 0], [_V * 2], default=0.25), S([_A > 0, _A < -1], [_B, _A], _B[0])], (1, 2)),
    np.choose: ([S(np.array([0, 2, 1, 0]), [_V, _V * 2, _V + 1])], (1,)),
    np.extract: ([S(_A > 0, _A)], (1,)),
}
_INDEX_KW: dict[Callable[..., Any], Callable[[dict[str, Any]], dict[str, Any]]] = {
    np.pad: lambda kw: {**kw, "constant_values": 0} if kw.get("mode", "constant") == "constant" else kw,
    # a default passed by keyword is a constant: on the index maps it means "no source"
    # (a float default would make the map float, which bincount cannot scatter by)
    np.select: lambda kw: {**kw, "default": 0} if "default" in kw else kw,
}
if hasattr(np, "unstack"):  # NumPy >= 2.1
    _GATHER[np.unstack] = ([S(_T), S(_T, axis=2)], (0,))
if hasattr(np.linalg, "diagonal"):  # NumPy >= 2.0: over the last two axes
    _GATHER[np.linalg.diagonal] = ([S(_T), S(_Q, offset=1), S(_T, offset=-1)], (0,))

# samples of parameters the rules implement generically (the index maps go through the
# function itself; unwrap only adds multiples of its period)
add_samples(np.unwrap, S(np.array([0.0, 1.0, 2.5, 4.0, -2.0, -0.5]), discont=4.0))
add_samples(np.take, S(_V, np.array([5, -7, 1]), mode="wrap"), S(_A, np.array([[4, -1]]), axis=1, mode="clip"))
add_samples(np.meshgrid, S(_V, _A[0], sparse=True), S(_V, _A[0], indexing="ij", copy=False))
for _fn, (_s, _arrays) in _GATHER.items():
    rrule(_fn, samples=_s, params=_PARAMS.get(_fn, ()), differentiates="default" if _fn is np.select else ())(
        _gather(_fn, _arrays, _INDEX_KW.get(_fn)))


# ----------------------------------------------------------- sort / partition
def _permuted(a: Any, perm: Any, axis: Any) -> tuple[Any, Any]:
    """``a`` rearranged by ``perm`` along ``axis`` (``None``: the flattened array)."""
    if axis is None:
        return np.ravel(a)[perm], -1
    return np.take_along_axis(a, perm, axis), axis


def _by_permutation(fn: Callable[..., Any], arg: Callable[..., Any]) -> Callable[..., Any]:
    """rrule for ``sort``-like ``fn`` whose permutation ``arg`` (argsort, argpartition) computes."""

    def impl(a: Any, *pos: Any, **kw: Any) -> tuple[Any, Callable[[Any], tuple[Any, ...]]]:
        p = bind(fn, 1, a, *pos, **kw)
        a = np.asarray(a)
        extra = {k: v for k, v in p.items() if k not in ("a", "axis", "kind", "order", "stable")}
        perm = arg(a, *extra.values(), axis=p["axis"], kind=p.get("kind"))
        y, ax = _permuted(a, perm, p["axis"])
        if p["axis"] is not None and a.ndim > 1 and not a.flags.c_contiguous:
            z = np.empty_like(a)  # NumPy sorts a.copy(order="K"): the same memory layout
            z[...] = y
            y = z
        ta = like(a)

        def pullback(g: Any) -> tuple[Any, ...]:
            if type(g) is not np.ndarray:  # a stand-in (higher order): the inverse permutation,
                cot, _ = _permuted(g, np.argsort(perm, axis=ax), p["axis"])  # differentiable again
                return (fit(np.reshape(cot, a.shape), ta), *nones(pos))
            cot = np.zeros(a.size if p["axis"] is None else a.shape, np.result_type(g, ta))
            np.put_along_axis(cot, perm, g, ax)
            return (fit(cot.reshape(a.shape), ta), *nones(pos))

        return y, pullback

    impl.__name__ = impl.__qualname__ = f"_{fn.__name__}_rrule"
    impl.__doc__ = f"rrule for ``np.{fn.__name__}``: the cotangent un-permuted through ``np.{arg.__name__}``."
    return impl


def _argsort(a: Any, axis: Any, kind: Any) -> Any:
    return np.argsort(a, axis=axis, kind=kind or "stable")


def _argpartition(a: Any, kth: Any, axis: Any, kind: Any) -> Any:
    return np.argpartition(a, kth, axis=axis, kind=kind or "introselect")


rrule(np.sort, samples=[S(_A), S(_A, axis=0), S(_T, None), S(_V)], params=_PARAMS[np.sort])(_by_permutation(np.sort, _argsort))
rrule(np.partition, samples=[S(_V, 2), S(_A, 1, axis=0)], params=_PARAMS[np.partition])(_by_permutation(np.partition, _argpartition))
