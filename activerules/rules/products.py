"""Rules for NumPy's products: ``matmul``, ``dot``, ``tensordot``, ``inner``, ``outer``,
``vdot``, ``vecdot``, ``matvec``/``vecmat``, ``kron``, ``cross``, ``convolve`` and ``correlate``
(one table), ``einsum`` and ``linalg.multi_dot``.

The table's entries and ``einsum`` are activity rules: a ``Const`` operand's cotangent
is never formed, and the reverse closure keeps only the operands that the other
cotangents read (``A @ x`` with ``A`` Const keeps ``A``, not ``x``).

Conventions
-----------
* Complex: ChainRules' (``zbar = conj(f'(z)) ybar`` for holomorphic ``f``);
  ``vdot``/``vecdot`` conjugate their first argument, as NumPy does.
"""

from __future__ import annotations

from collections.abc import Callable
from string import ascii_letters
from typing import Any

import numpy as np

from ..activity import Annotation, Const
from ..dispatch import Sample, rrule, rule
from ._linalg import _A, _B, _BATCH, _C34, _H, _SQ, _V3, _V4
from ._util import accumulate, activity_rule, conj, fit, formula, like, unbroadcast

S = Sample


# ---------------------------------------------------------------- products
def _mm_a(g: Any, b: Any, sa: tuple[int, ...]) -> Any:
    """Cotangent of ``a`` in ``a @ b`` (NumPy's 1-D promotion rules)."""
    b = np.asarray(b)
    if b.ndim == 1:  # (a vector · vector's g is a number, or one per lane: [..., None] serves both)
        return np.asarray(g)[..., None] * conj(b)
    if len(sa) == 1:
        return (conj(b) @ np.asarray(g)[..., None])[..., 0]
    return g @ _H(b)


def _mm_b(g: Any, a: Any, sb: tuple[int, ...]) -> Any:
    """Cotangent of ``b`` in ``a @ b``."""
    a = np.asarray(a)
    if a.ndim == 1:
        return np.asarray(g)[..., None] * conj(a) if len(sb) == 1 else conj(a)[:, None] * np.asarray(g)[..., None, :]
    if len(sb) == 1:
        # a^H g for a matrix a: g @ conj(a), one matrix product however many rows (lanes) g has
        return np.asarray(g) @ conj(a) if a.ndim == 2 else (_H(a) @ np.asarray(g)[..., None])[..., 0]
    return _H(a) @ g


def _td_axes(axes: Any, na: int, nb: int) -> tuple[list[int], list[int]]:
    """``tensordot``'s ``axes`` argument as two lists of non-negative axes."""
    if isinstance(axes, (int, np.integer)):
        return list(range(na - int(axes), na)), list(range(int(axes)))
    ax_a, ax_b = axes
    ax_a = [ax_a] if isinstance(ax_a, (int, np.integer)) else list(ax_a)
    ax_b = [ax_b] if isinstance(ax_b, (int, np.integer)) else list(ax_b)
    return [int(i) % na for i in ax_a], [int(j) % nb for j in ax_b]


def _td_a(g: Any, b: Any, sa: tuple[int, ...], axes: Any) -> Any:
    """Cotangent of ``a`` in ``tensordot(a, b, axes)``."""
    b = np.asarray(b)
    ax_a, ax_b = _td_axes(axes, len(sa), b.ndim)
    fa = [i for i in range(len(sa)) if i not in ax_a]
    fb = [j for j in range(b.ndim) if j not in ax_b]
    r = np.tensordot(g, conj(b), axes=(list(range(len(fa), len(fa) + len(fb))), fb))
    return np.transpose(r, np.argsort(fa + [ax_a[ax_b.index(j)] for j in sorted(ax_b)]))


def _td_b(g: Any, a: Any, sb: tuple[int, ...], axes: Any) -> Any:
    """Cotangent of ``b`` in ``tensordot(a, b, axes)``."""
    a = np.asarray(a)
    ax_a, ax_b = _td_axes(axes, a.ndim, len(sb))
    fa = [i for i in range(a.ndim) if i not in ax_a]
    fb = [j for j in range(len(sb)) if j not in ax_b]
    r = np.tensordot(conj(a), g, axes=(fa, list(range(len(fa)))))
    return np.transpose(r, np.argsort([ax_b[ax_a.index(i)] for i in sorted(ax_a)] + fb))


def _dot_axes(na: int, nb: int) -> Any:
    return ([na - 1], [max(nb - 2, 0)])


def _inner_axes(na: int, nb: int) -> Any:
    return ([na - 1], [nb - 1])


def _contract(axes_of: Callable[[int, int], Any]) -> tuple[Callable[..., Any], Callable[..., Any]]:
    """Partials of a ``tensordot``-like product (``dot``, ``inner``); 0-d operands multiply."""

    def da(g: Any, b: Any, sa: tuple[int, ...]) -> Any:
        if len(sa) == 0 or np.ndim(b) == 0:
            return g * conj(b)
        return _td_a(g, b, sa, axes_of(len(sa), np.ndim(b)))

    def db(g: Any, a: Any, sb: tuple[int, ...]) -> Any:
        if len(sb) == 0 or np.ndim(a) == 0:
            return g * conj(a)
        return _td_b(g, a, sb, axes_of(np.ndim(a), len(sb)))

    return da, db


def _kron_split(g: Any, sa: tuple[int, ...], sb: tuple[int, ...]) -> tuple[Any, int]:
    nd = max(len(sa), len(sb))
    a_ = (1,) * (nd - len(sa)) + tuple(sa)
    b_ = (1,) * (nd - len(sb)) + tuple(sb)
    return np.reshape(g, [d for pair in zip(a_, b_) for d in pair]), nd


def _kron_a(g: Any, b: Any, sa: tuple[int, ...]) -> Any:
    G, nd = _kron_split(g, sa, np.shape(b))
    b_ = np.reshape(conj(b), (1,) * (nd - np.ndim(b)) + np.shape(b))
    return np.reshape(np.tensordot(G, b_, axes=(list(range(1, 2 * nd, 2)), list(range(nd)))), sa)


def _kron_b(g: Any, a: Any, sb: tuple[int, ...]) -> Any:
    G, nd = _kron_split(g, np.shape(a), sb)
    a_ = np.reshape(conj(a), (1,) * (nd - np.ndim(a)) + np.shape(a))
    return np.reshape(np.tensordot(a_, G, axes=(list(range(nd)), list(range(0, 2 * nd, 2)))), sb)


def _vecdot_g(g: Any, p: dict[str, Any]) -> Any:
    return np.expand_dims(g, -1 if p.get("axis") is None else p["axis"])


def _cross_axes(p: dict[str, Any]) -> tuple[int, int, int]:
    """``cross``'s ``axisa``, ``axisb``, ``axisc`` (``axis`` overrides all three, as in NumPy;
    ``linalg.cross`` has only ``axis``)."""
    if p.get("axis") is not None:
        return (p["axis"],) * 3
    return p.get("axisa", -1), p.get("axisb", -1), p.get("axisc", -1)


def _cross_cot(g: Any, other: Any, shape: tuple[int, ...], p: dict[str, Any], first: bool) -> Any:
    """Cotangent of one operand of ``cross``: ``abar = conj(b) x ybar``, ``bbar = ybar x conj(a)``.

    Computed on 3-vectors along the last axis: the operands' vector axes (``axisa``/``axisb``)
    and the output's (``axisc``) are moved last; a 2-vector is a 3-vector with a zero third
    component (its cotangent is the first two components), and two 2-vectors give the third
    component only, a scalar per pair (``axisc`` ignored, as NumPy does)."""
    axa, axb, axc = _cross_axes(p)
    mine = np.moveaxis(np.empty(shape, dtype=bool), axa if first else axb, -1).shape  # the operand, vector axis last
    o = np.moveaxis(np.asarray(other), axb if first else axa, -1)
    n_mine, n_other = mine[-1], o.shape[-1]
    if n_mine == 2 and n_other == 2:  # the output is the z component: the cotangent of (0, 0, ybar)
        g3 = np.stack([np.zeros_like(g), np.zeros_like(g), g], axis=-1)
    else:
        g3 = np.moveaxis(np.asarray(g), axc, -1)
    if n_other == 2:
        o = np.concatenate([o, np.zeros_like(o[..., :1])], axis=-1)
    cot = np.cross(conj(o), g3) if first else np.cross(g3, conj(o))
    return np.moveaxis(unbroadcast(cot[..., :n_mine], mine), -1, axa if first else axb)


def _conv_start(n: int, m: int, mode: str, flipped: bool = False) -> int:
    """Where ``convolve(.., mode)``'s output starts inside the full convolution.
    ``flipped``: ``correlate`` with a shorter first argument, which NumPy computes as the
    reversed correlation of the swapped arguments: its "same" window starts one later
    for an even ``n``."""
    if mode == "same" and flipped:
        return n - 1 - (n - 1) // 2
    return {"full": 0, "same": (min(n, m) - 1) // 2, "valid": min(n, m) - 1}[mode]


def _full(g: Any, n: int, m: int, mode: str, correlate: bool = False) -> Any:
    """The output cotangent of a ``mode`` convolution (``correlate``: correlation) of
    lengths ``n`` and ``m`` embedded in the full-length one."""
    out = np.zeros(n + m - 1, np.result_type(g, float))
    start = _conv_start(n, m, mode, correlate and n < m)
    out[start:start + np.size(g)] = g
    return out


_DOT = _contract(_dot_axes)
_INNER = _contract(_inner_axes)
_PRODUCTS: dict[Callable[..., Any], tuple[Callable[..., Any], Callable[..., Any], list[Any]]] = {
    np.matmul: (_mm_a, _mm_b, [S(_A, _B), S(_A, _V4), S(_V3, _A), S(_V4, _V4), S(_BATCH, _SQ), S(_SQ, _BATCH[:, :, :2]),
                               S(_C34, _B), S(_A.astype(np.float32), _B.astype(np.float32))]),
    np.dot: (*_DOT, [S(_A, _B), S(_A, _V4), S(_V4, _B), S(_V4, _V4), S(2.5, _A), S(_BATCH, _SQ), S(_C34, _V4)]),
    np.inner: (*_INNER, [S(_A, _B.T), S(_V4, _V4), S(_A, _V4), S(_BATCH, _SQ), S(1.5, _V3)]),
    np.outer: (lambda g, b, sa: np.reshape(g @ conj(np.ravel(b)), sa),
               lambda g, a, sb: np.reshape(conj(np.ravel(a)) @ g, sb), [S(_V3, _V4), S(_SQ, _V4), S(_C34[0], _V3)]),
    np.vdot: (lambda g, b, sa: np.reshape(conj(g) * np.ravel(b), sa),
              lambda g, a, sb: np.reshape(g * np.ravel(a), sb), [S(_V4, _V4[::-1]), S(_SQ, _BATCH[0]), S(_C34, _A)]),
    np.tensordot: (lambda g, b, sa, p: _td_a(g, b, sa, p["axes"]), lambda g, a, sb, p: _td_b(g, a, sb, p["axes"]),
                   [S(_BATCH, _SQ), S(_A, _B, 1), S(_BATCH, _BATCH[:, :, :2], axes=([0, 2], [0, 1])),
                    S(_A, _A.T, axes=([1, 0], [0, 1])), S(_V3, _V4, 0)]),
    np.kron: (_kron_a, _kron_b, [S(_SQ, _B), S(_V3, _B), S(_V3, _V4), S(_C34[:2, :2], _SQ)]),
    np.cross: (lambda g, b, sa, p: _cross_cot(g, b, sa, p, True), lambda g, a, sb, p: _cross_cot(g, a, sb, p, False),
               [S(_V3, _V3[::-1]), S(_SQ, _V3), S(_BATCH, _SQ), S(_SQ, _SQ.T, axis=0),
                S(_A[:2], _A, axisa=0, axisb=0, axisc=0), S(_B, _A.T[:, :3], axisa=1, axisc=0)]),
    np.convolve: (lambda g, b, sa, sb, p: np.correlate(_full(g, sa[0], sb[0], p["mode"]), b, "valid"),
                  lambda g, a, sa, sb, p: np.correlate(_full(g, sa[0], sb[0], p["mode"]), a, "valid"),
                  [S(_V4, _V3), S(_V3, _V4 * 2, "same"), S(_V4, _V3, mode="valid"), S(np.arange(5.0), _V4, "same"),
                   S(_C34[0], _V3)]),
    np.correlate: (lambda g, b, sa, sb, p: np.correlate(_full(g, sa[0], sb[0], p["mode"], True), conj(b)[::-1], "valid"),
                   lambda g, a, sa, sb, p: conj(np.correlate(_full(g, sa[0], sb[0], p["mode"], True), a, "valid"))[::-1],
                   [S(_V4, _V3), S(_V4, _V3, "full"), S(_V3, _V4, "same"), S(_C34[0], _V3 + 1j)]),
}
if hasattr(np, "vecdot"):  # NumPy >= 2.0: conjugates its first argument
    _PRODUCTS[np.vecdot] = (lambda g, b, p: _vecdot_g(conj(g), p) * b, lambda g, a, p: _vecdot_g(g, p) * a,
                            [S(_A, _A[::-1]), S(_A, _V4), S(_C34, _C34[::-1]), S(_A, _A[::-1], axis=0)])
if hasattr(np, "matvec"):  # NumPy >= 2.2; vecmat conjugates its vector, as vecdot does
    _PRODUCTS[np.matvec] = (lambda g, b: g[..., :, None] * conj(b)[..., None, :],
                            lambda g, a: np.matvec(_H(a), g),
                            [S(_A, _V4), S(np.stack([_A, 2 * _A]), _V4), S(_C34, _V4 + 1j), S(_SQ, _BATCH[:, 0])])
    _PRODUCTS[np.vecmat] = (lambda g, b: np.matvec(b, conj(g)),
                            lambda g, a: a[..., :, None] * g[..., None, :],
                            [S(_V3, _A), S(_V3, np.stack([_A, 2 * _A])), S(_V3 + 1j, _C34), S(_BATCH[:, 0], _SQ)])
# NumPy 2's ``np.linalg`` spellings are distinct functions with narrower signatures.
_LINALG_SAMPLES = {"matmul": [S(_A, _B), S(_BATCH, _SQ)], "vecdot": [S(_A, _A[::-1])],
                   "outer": [S(_V3, _V4)], "tensordot": [S(_BATCH, _SQ), S(_A, _B, axes=1)],
                   "cross": [S(_V3, _V3[::-1]), S(_BATCH, _SQ), S(_SQ, _SQ.T, axis=0)]}
for _alias, _samples in _LINALG_SAMPLES.items():
    _np_fn, _la_fn = getattr(np, _alias, None), getattr(np.linalg, _alias, None)
    if _la_fn is not None and _la_fn is not _np_fn and _np_fn in _PRODUCTS:
        _PRODUCTS[_la_fn] = (*_PRODUCTS[_np_fn][:2], _samples)

# the parameters the product rules implement (exercised by their samples); the others (a
# ufunc's where=/axes=/dtype=) are refused by name
_PRODUCT_PARAMS: dict[Any, str] = {
    np.tensordot: "axes", np.convolve: "mode", np.correlate: "mode", np.cross: "axisa axisb axisc axis",
    **{f: "axis" for f in (getattr(np, "vecdot", None),) if f is not None},
    **{f: "axes" for f in (getattr(np.linalg, "tensordot", None),) if f is not None},
    **{f: "axis" for f in (getattr(np.linalg, "cross", None),) if f is not None},
}
# the products whose partials broadcast over a leading lane axis (batched=True: a batch
# request runs them once on stacked lanes, see dispatch.lanes.stacked)
_LANE_PRODUCTS = {np.matmul, getattr(np.linalg, "matmul", np.matmul)}
for _fn, (_da, _db, _s) in _PRODUCTS.items():
    _impl = activity_rule(_fn, _da, _db)
    _impl.__name__ = _impl.__qualname__ = f"_{_fn.__name__}_rule"
    _impl.__doc__ = f"abar = {formula(_da)}; bbar = {formula(_db)} (from the product table)."
    rule(_fn, Annotation, Annotation, varargs=Const, samples=_s, atomic=True, params=_PRODUCT_PARAMS.get(_fn, ()), keeps=(),
         batched=_fn in _LANE_PRODUCTS)(_impl)


# ------------------------------------------------------------------ einsum
def _einsum_explicit(subscripts: str, shapes: list[tuple[int, ...]]) -> tuple[list[str], str]:
    """Operand and output subscripts with ``...`` expanded and the output made explicit."""
    spec = subscripts.replace(" ", "")
    ins, out = spec.split("->") if "->" in spec else (spec, None)
    operands = ins.split(",")
    free = [c for c in ascii_letters if c not in spec]
    n_ell = max([len(s) - len(sub.replace("...", "")) for sub, s in zip(operands, shapes) if "..." in sub],
                default=0)
    ell = "".join(free[:n_ell])
    expanded = []
    for sub, shape in zip(operands, shapes):
        if "..." in sub:
            k = len(shape) - len(sub.replace("...", ""))
            sub = sub.replace("...", ell[n_ell - k:])
        expanded.append(sub)
    if out is None:
        joined = "".join(expanded)
        out = ell + "".join(sorted(c for c in set(joined) if joined.count(c) == 1 and c not in ell))
    else:
        out = out.replace("...", ell)
    return expanded, out


def _einsum_cotangent(k: int, subs: list[str], out: str, g: Any, ops: list[Any], shape: tuple[int, ...],
                      **kw: Any) -> Any:
    """Cotangent of operand ``k`` of ``einsum(subs -> out, *ops)``."""
    mine = subs[k]
    target = "".join(dict.fromkeys(mine))  # unique letters, first-appearance order
    others = [s for j, s in enumerate(subs) if j != k]
    avail = set(out).union(*others) if others else set(out)
    sizes = dict(zip(mine, shape))
    kept = "".join(c for c in target if c in avail)
    r = np.einsum(",".join([out, *others]) + "->" + kept, g, *[conj(o) for j, o in enumerate(ops) if j != k], **kw)
    r = np.reshape(r, [r.shape[kept.index(c)] if c in kept else 1 for c in target])  # type: ignore[arg-type]
    r = np.broadcast_to(r, [sizes[c] if c not in kept else r.shape[i] for i, c in enumerate(target)])
    # letters of size 1 here that broadcast against larger ones elsewhere
    r = np.sum(r, axis=tuple(i for i, c in enumerate(target) if sizes[c] == 1 and r.shape[i] != 1), keepdims=True)
    if len(target) == len(mine):
        return r
    full = np.zeros(shape, r.dtype)
    np.einsum(mine + "->" + target, full)[...] = r  # the (writeable) diagonal view
    return full


@rule(np.einsum, Const, varargs=Annotation, keeps=(), samples=[
    S("ij,jk->ik", _A, _B), S("ij,jk", _A, _B), S("ii->i", _SQ), S("ii", _SQ), S("ij->", _A), S("ij,ij->i", _A, _A[::-1]),
    S("bij,bjk->bik", _BATCH, _BATCH), S("...ij,...jk->...ik", _BATCH, _SQ), S("i,j,k->ijk", _V3, _V4, _V3),
    S("ij,j->i", _C34, _V4), S("ij,kl->ijkl", _SQ, _B), S("ijk->kj", _BATCH), S("ij,ij", _A, _A),
    S("ij,jk,kl->il", _A, _B, _B.T, optimize=True)], params="optimize")  # dtype=, order=, casting= refused
def _einsum(cfg: Any, subscripts: Any, *operands: Any, **kw: Any) -> tuple[Any, Callable[[Any], Any]]:
    """``einsum`` (string subscripts, any number of operands, ``...``, repeated indices).

    Operand ``j``'s value is kept only if another operand is not Const; each
    cotangent is one ``einsum`` of the output cotangent with the other operands.
    """
    spec, vals = subscripts.val, [o.val for o in operands]
    y = np.einsum(spec, *vals, **kw)
    shapes = [np.shape(v) for v in vals]
    subs, out = _einsum_explicit(spec, shapes)
    active = [not isinstance(o, Const) for o in operands]
    kept = [v if sum(active) - active[j] > 0 else None for j, v in enumerate(vals)]
    templates = [like(v) for v in vals]
    del vals

    def reverse(g: Any) -> Any:
        def cotangent(j: int) -> Callable[[], Any]:
            return lambda: _einsum_cotangent(j, subs, out, g, kept, shapes[j], **kw)

        res = [accumulate(o, cotangent(j), templates[j]) for j, o in enumerate(operands)]
        return None if all(r is None for r in res) else (None, *res)

    return y, reverse


@rrule(np.linalg.multi_dot, samples=[S([_A, _B, _B.T]), S([_V3, _A, _B]), S([_A, _B, _B[0]]), S([_V3, _SQ, _V3 * 2])],
       params=())
def _multi_dot(arrays: Any, **kw: Any) -> tuple[Any, Callable[[Any], tuple[Any]]]:
    """``multi_dot``: ``Abar_i = (A_0..A_{i-1})^H G (A_{i+1}..A_k)^H`` (1-D ends as row/column)."""
    y = np.linalg.multi_dot(arrays, **kw)
    mats = [np.asarray(m) for m in arrays]
    first, last = mats[0].ndim == 1, mats[-1].ndim == 1
    mats2 = [m[None, :] if i == 0 and first else m[:, None] if i == len(mats) - 1 and last else m
             for i, m in enumerate(mats)]
    templates = [like(m) for m in mats]
    del mats

    def pullback(g: Any) -> tuple[Any]:
        G = np.reshape(g, (mats2[0].shape[0], mats2[-1].shape[1]))
        left = [np.eye(mats2[0].shape[0])]
        for m in mats2[:-1]:
            left.append(left[-1] @ m)
        right = [np.eye(mats2[-1].shape[1])]
        for m in mats2[:0:-1]:
            right.append(m @ right[-1])
        right = right[::-1]
        cots = [fit(np.reshape(_H(left[i]) @ G @ _H(right[i]), t.shape), t) for i, t in enumerate(templates)]
        return (cots,)

    return y, pullback
