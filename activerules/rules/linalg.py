"""Rules for NumPy's linear algebra.

Products (``matmul``, ``dot``, ``tensordot``, ``inner``, ``outer``, ``vdot``,
``vecdot``, ``kron``, ``cross``, ``einsum``) and ``linalg.solve`` are activity
rules: a ``Const`` operand's cotangent is never formed, and the reverse
closure keeps only the operands that the other cotangents read (``A @ x``
with ``A`` Const keeps ``A``, not ``x``).  Decompositions are rrules whose
cotangents are thunks where they are expensive.

Conventions
-----------
* Complex: ChainRules' (``zbar = conj(f'(z)) ybar`` for holomorphic ``f``);
  ``vdot``/``vecdot`` conjugate their first argument, as NumPy does.
* ``cholesky``/``eigh``/``eigvalsh`` read one triangle of their input (the
  lower, or the upper for ``upper=True``/``UPLO="U"``); the cotangent lives
  on that triangle, the other is zero, as finite differences see it.
* ``eigh``/``svd``/``qr`` assume distinct eigen/singular values and full
  rank; ``lstsq``/``pinv`` assume full (column) rank.  ``svd`` with
  ``full_matrices=True`` of a non-square matrix and ``qr`` with
  ``mode="complete"`` of a tall matrix raise in the pullback (the extra
  columns are not determined by the input).
* ``eig``/``eigvals`` (general square input) assume distinct eigenvalues and
  raise in the pullback on exactly repeated ones.  ``eig`` differentiates
  NumPy's eigenvectors as returned: unit norm, with LAPACK's phase (the largest
  component real), so any loss gets the finite-difference gradient; a
  phase-invariant loss (``|v|^2``, ``v v^H``) gets the same gradient whatever
  the phase.  A phase-dependent cotangent for eigenvectors without a real
  component (not LAPACK's convention) raises.  For real input LAPACK fixes no
  sign (real eigenvalues) or the sign of the real component (complex pairs) by
  its iteration, which can flip under a tiny perturbation: a sign-dependent
  loss is differentiated with the sign held fixed (its derivative wherever the
  sign is locally constant); sign-invariant losses are unaffected.
"""

from __future__ import annotations

from collections.abc import Callable
from string import ascii_letters
from typing import Any

import numpy as np

from ..activity import Annotation, Const
from ..dispatch import Sample, rrule, rule, thunk
from ._util import accumulate, activity_rule, bind, conj, fit, formula, like, nones, unbroadcast
from .reductions import _others

S = Sample
_R = np.random.default_rng(7)
_A = _R.standard_normal((3, 4))
_B = _R.standard_normal((4, 2))
_V3, _V4 = _R.standard_normal(3), _R.standard_normal(4)
_SQ = _R.standard_normal((3, 3)) + 3 * np.eye(3)
_BATCH = _R.standard_normal((2, 3, 3)) + 3 * np.eye(3)
_SPD = _SQ @ _SQ.T + np.eye(3)
_CSQ = _SQ + 1j * _R.standard_normal((3, 3))
_HPD = _CSQ @ _CSQ.conj().T + np.eye(3)
_TALL = _R.standard_normal((5, 3))
_C34 = _A + 1j * _R.standard_normal((3, 4))


def _mT(x: Any) -> Any:
    return np.swapaxes(x, -1, -2)


def _H(x: Any) -> Any:
    return conj(np.swapaxes(x, -1, -2))


# ---------------------------------------------------------------- products
def _mm_a(g: Any, b: Any, sa: tuple[int, ...]) -> Any:
    """Cotangent of ``a`` in ``a @ b`` (NumPy's 1-D promotion rules)."""
    b = np.asarray(b)
    if b.ndim == 1:
        return g * conj(b) if len(sa) == 1 else np.asarray(g)[..., None] * conj(b)
    if len(sa) == 1:
        return (conj(b) @ np.asarray(g)[..., None])[..., 0]
    return g @ _H(b)


def _mm_b(g: Any, a: Any, sb: tuple[int, ...]) -> Any:
    """Cotangent of ``b`` in ``a @ b``."""
    a = np.asarray(a)
    if a.ndim == 1:
        return g * conj(a) if len(sb) == 1 else conj(a)[:, None] * np.asarray(g)[..., None, :]
    if len(sb) == 1:
        return (_H(a) @ np.asarray(g)[..., None])[..., 0]
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


def _conv_start(n: int, m: int, mode: str) -> int:
    """Where ``convolve(.., mode)``'s output starts inside the full convolution."""
    return {"full": 0, "same": (min(n, m) - 1) // 2, "valid": min(n, m) - 1}[mode]


def _full(g: Any, n: int, m: int, mode: str) -> Any:
    """The output cotangent of a ``mode`` convolution embedded in the full-length one."""
    out = np.zeros(n + m - 1, np.result_type(g, float))
    start = _conv_start(n, m, mode)
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
    np.correlate: (lambda g, b, sa, sb, p: np.correlate(_full(g, sa[0], sb[0], p["mode"]), conj(b)[::-1], "valid"),
                   lambda g, a, sa, sb, p: conj(np.correlate(_full(g, sa[0], sb[0], p["mode"]), a, "valid"))[::-1],
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
for _fn, (_da, _db, _s) in _PRODUCTS.items():
    _impl = activity_rule(_fn, _da, _db)
    _impl.__name__ = _impl.__qualname__ = f"_{_fn.__name__}_rule"
    _impl.__doc__ = f"abar = {formula(_da)}; bbar = {formula(_db)} (from the product table)."
    rule(_fn, Annotation, Annotation, varargs=Const, samples=_s, atomic=True, params=_PRODUCT_PARAMS.get(_fn, ()), keeps=())(_impl)


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


# ------------------------------------------------------------------ solve
@rule(np.linalg.solve, Annotation, Annotation, params=(), keeps=(), samples=[
    S(_SQ, _V3), S(_SQ, _B[:3]), S(_BATCH, _V3), S(_BATCH, _R.standard_normal((2, 3, 2))), S(_CSQ, _V3 + 1j)])
def _solve(cfg: Any, A: Any, b: Any) -> tuple[Any, Callable[[Any], Any]]:
    """``solve(A, b)``: ``bbar = solve(A^H, xbar)``, ``Abar = -bbar x^H``; ``x`` is kept only
    when ``A`` is differentiated, and ``Abar`` is never formed for a Const ``A``."""
    Av, bv = A.val, b.val
    x = np.linalg.solve(Av, bv)
    vec = np.ndim(bv) == 1
    xk = None if isinstance(A, Const) else x
    ta, tb = like(Av), like(bv)

    def reverse(g: Any) -> Any:
        bbar = np.linalg.solve(_H(Av), g[..., None])[..., 0] if vec else np.linalg.solve(_H(Av), g)
        def abar() -> Any:
            return -(bbar[..., None] * conj(xk)[..., None, :]) if vec else -(bbar @ _H(xk))

        res = (accumulate(A, abar, ta), accumulate(b, bbar, tb))
        return None if all(r is None for r in res) else res

    return x, reverse


# ----------------------------------------------------------- decompositions
def _triangle(S_: Any, upper: bool) -> Any:
    """Cotangent of a function that reads one triangle of a Hermitian input,
    given its cotangent ``S_`` as a function of the full (Hermitian) matrix."""
    M = S_ + _H(S_)
    half = np.einsum("...ii->...i", M) / 2
    T = np.triu(M) if upper else np.tril(M)
    idx = np.arange(M.shape[-1])
    T[..., idx, idx] -= half
    return T


def _seq(g: Any, n: int) -> list[Any]:
    """A multi-output cotangent as a list of ``n`` entries (``None`` for zero)."""
    return [None] * n if g is None else list(g)


@rrule(np.linalg.inv, samples=[S(_SQ), S(_BATCH), S(_CSQ), S(_SQ.astype(np.float32))], params=())
def _inv(a: Any) -> tuple[Any, Callable[[Any], tuple[Any]]]:
    """``inv``: ``Abar = -Y^H g Y^H``."""
    y = np.linalg.inv(a)
    ta = like(a)
    return y, lambda g: (fit(-(_H(y) @ g @ _H(y)), ta),)


def _cofactor(a: Any, det: Any) -> Any:
    """The cofactor matrix ``d det(A) / dA`` (``det(A) inv(A)^T``), also of a singular ``A``.

    An exactly singular one goes through the SVD ``A = U S V^H``: ``det(U) det(V^H)
    conj(U diag(prod_{j != i} s_j) V^H)`` (products of the other singular values, exact with zeros)."""
    try:
        return np.asarray(det)[..., None, None] * _mT(np.linalg.inv(a))
    except np.linalg.LinAlgError:
        u, s, vh = np.linalg.svd(a)
        phase = np.linalg.det(u) * np.linalg.det(vh)
        return np.asarray(phase)[..., None, None] * conj((u * _others(s, -1)[..., None, :]) @ vh)


@rrule(np.linalg.det, samples=[S(_SQ), S(_BATCH), S(_CSQ), S(np.array([[1.0, 2.0], [2.0, 4.0]])),
                               S(np.stack([_SQ, np.zeros((3, 3))]))], params=())
def _det(a: Any) -> tuple[Any, Callable[[Any], tuple[Any]]]:
    """``det``: ``Abar = g conj(cofactor(A))``, ``cofactor = det inv(A)^T``; for a singular ``A``
    from the SVD (products of the other singular values), as JAX."""
    y = np.linalg.det(a)
    return y, lambda g: (fit(np.asarray(g)[..., None, None] * conj(_cofactor(a, y)), a),)


@rrule(np.linalg.slogdet, samples=[S(_SQ), S(_BATCH), S(-_SQ), S(_CSQ)], params=())
def _slogdet(a: Any) -> tuple[Any, Callable[[Any], tuple[Any]]]:
    """``slogdet``: ``Abar = glogdet inv(A)^H`` (+ the phase term of a complex sign)."""
    y = np.linalg.slogdet(a)

    def pullback(g: Any) -> tuple[Any]:
        gs, gl = _seq(g, 2)
        coef = np.zeros(np.shape(y[1])) if gl is None else np.real(gl)
        if gs is not None and np.iscomplexobj(a):
            coef = coef - 1j * np.imag(conj(gs) * y[0])
        return (fit(np.asarray(coef)[..., None, None] * _H(np.linalg.inv(a)), a),)

    return y, pullback


@rrule(np.linalg.pinv, samples=[S(_A), S(_TALL), S(_BATCH), S(_C34)], params=())  # rcond, rtol, hermitian refused
def _pinv(a: Any, *pos: Any, **kw: Any) -> tuple[Any, Callable[[Any], tuple[Any, ...]]]:
    """``pinv`` (constant rank): ``-P^H g P^H + (I - A P) g^H P P^H + P^H P g^H (I - P A)``."""
    P = np.linalg.pinv(a, *pos, **kw)

    def pullback(g: Any) -> tuple[Any, ...]:
        gH, PH = _H(g), _H(P)
        AP, PA = a @ P, P @ a
        cot = -(PH @ g @ PH) + (gH - AP @ gH) @ P @ PH + PH @ P @ (gH - gH @ PA)
        return (fit(cot, a), *nones(pos))

    return P, pullback


@rrule(np.linalg.cholesky, samples=[S(_SPD), S(_HPD), S(_SPD, upper=True), S(np.stack([_SPD, _SPD + np.eye(3)]))],
       params="upper")
def _cholesky(a: Any, upper: bool = False) -> tuple[Any, Callable[[Any], tuple[Any]]]:
    """``cholesky`` (reads one triangle): ``S = L^-H Phi(L^H Lbar) L^-1`` mapped onto that triangle."""
    y = np.linalg.cholesky(a, upper=upper) if upper else np.linalg.cholesky(a)
    L = _H(y) if upper else y
    ta = like(a)

    def pullback(g: Any) -> tuple[Any]:
        Lbar = _H(g) if upper else g
        P = np.tril(_H(L) @ Lbar)
        idx = np.arange(P.shape[-1])
        P[..., idx, idx] *= 0.5
        Linv = np.linalg.inv(L)
        return (fit(_triangle(_H(Linv) @ P @ Linv, upper), ta),)

    return y, pullback


def _eigh_cotangent(w: Any, V: Any, gw: Any, gV: Any) -> Any:
    """Cotangent w.r.t. the full Hermitian matrix of ``(w, V) = eigh(A)``."""
    inner = np.zeros(V.shape, np.result_type(V, 1.0))
    if gV is not None:
        diff = w[..., None, :] - w[..., :, None]
        with np.errstate(divide="ignore"):
            F = np.where(diff == 0, 0, 1 / np.where(diff == 0, 1, diff))
        inner = inner + F * (_H(V) @ gV)
    if gw is not None:
        idx = np.arange(w.shape[-1])
        inner[..., idx, idx] += gw
    return V @ inner @ _H(V)


@rrule(np.linalg.eigh, samples=[S(_SPD), S(_SPD, UPLO="U"), S(np.stack([_SPD, _SQ + _SQ.T]))], params="UPLO")
def _eigh(a: Any, *given: Any, UPLO: Any = "L") -> tuple[Any, Callable[[Any], tuple[Any, ...]]]:
    """``eigh`` (distinct eigenvalues): ``V (diag(wbar) + F o (V^H Vbar)) V^H`` on the read triangle.
    ``given``: ``UPLO`` by position (its cotangent: None, one per argument)."""
    UPLO = given[0] if given else UPLO
    rest = (None,) * len(given)
    y = np.linalg.eigh(a, UPLO)
    ta = like(a)

    def pullback(g: Any) -> tuple[Any, ...]:
        gw, gV = _seq(g, 2)
        return (fit(_triangle(_eigh_cotangent(y[0], y[1], gw, gV), UPLO == "U"), ta), *rest)

    return y, pullback


@rrule(np.linalg.eigvalsh, samples=[S(_SPD), S(_SPD, UPLO="U"), S(_HPD)], params="UPLO")
def _eigvalsh(a: Any, *given: Any, UPLO: Any = "L") -> tuple[Any, Callable[[Any], tuple[Any, ...]]]:
    """``eigvalsh``: ``V diag(wbar) V^H`` on the read triangle (``given``: ``UPLO`` by position)."""
    UPLO = given[0] if given else UPLO
    rest = (None,) * len(given)
    w, V = np.linalg.eigh(a, UPLO)
    ta = like(a)
    return w, lambda g: (fit(_triangle(_eigh_cotangent(w, V, g, None), UPLO == "U"), ta), *rest)


_REIG = np.linalg.solve(_SQ.T, (_SQ * np.array([1.0, 2.0, 4.0])).T).T  # _SQ diag(1, 2, 4) _SQ^-1


def _eig_phase_rows(V: Any, needed: Any) -> Any:
    """``P`` with row ``j`` = row ``k_j`` of ``V`` over ``V[k_j, j]``, where ``k_j`` is the
    component LAPACK made real in eigenvector ``j`` (the largest one with zero imaginary part).

    ``needed`` marks the eigenvectors whose cotangent depends on the phase; one of them
    without a real component raises (its phase convention is unknown); the rows of the
    others are zero."""
    mag = np.where(np.imag(V) == 0, np.abs(V), -1.0)
    found = np.max(mag, axis=-2) > 0
    if np.any(needed & ~found):
        raise NotImplementedError("linalg.eig: the eigenvector cotangent is not phase-invariant and an "
                                  "eigenvector has no real component (NumPy's phase convention not found)")
    rows = np.take_along_axis(V, np.argmax(mag, axis=-2)[..., :, None], axis=-2)  # V[..., k_j, :]
    pivot = np.where(found, np.einsum("...jj->...j", rows), 1)
    return np.where(found[..., :, None], rows / pivot[..., :, None], 0)


def _eig_gaps(w: Any) -> Any:
    """``w_j - w_i`` (1 on the diagonal); raises on repeated eigenvalues."""
    idx = np.arange(w.shape[-1])
    diff = w[..., None, :] - w[..., :, None]
    diff[..., idx, idx] = 1
    if np.any(diff == 0):
        raise NotImplementedError("linalg.eig/eigvals: repeated eigenvalues (the derivative assumes "
                                  "distinct eigenvalues)")
    return diff


def _eig_cotangent(w: Any, V: Any, gw: Any, gV: Any) -> Any:
    """Cotangent w.r.t. ``A`` of ``(w, V) = eig(A)`` (distinct eigenvalues).

    ``V^-H (diag(wbar) + conj(F) o K) V^H`` with ``F_ij = 1/(w_j - w_i)`` off the diagonal and
    ``K = V^H Vbar - V^H V Re(diag(V^H Vbar)) - i P^H Im(diag(V^H Vbar))``: the second term
    accounts for NumPy's unit-norm eigenvectors, the third for LAPACK's phase (the largest
    component of each eigenvector is real, see :func:`_eig_phase_rows`); it vanishes for a
    phase-invariant loss.
    """
    idx = np.arange(w.shape[-1])
    diff = _eig_gaps(w)
    inner = np.zeros(V.shape, np.result_type(V, w, 1.0))
    if gV is not None:
        VH = _H(V)
        h = np.einsum("...jj->...j", VH @ gV)
        K = VH @ gV - (VH @ V) * np.real(h)[..., None, :]
        if np.iscomplexobj(V) and np.any(np.imag(h) != 0):
            needed = np.abs(np.imag(h)) > 1e3 * np.finfo(V.dtype).eps * np.linalg.norm(gV, axis=-2)
            K = K - 1j * _H(_eig_phase_rows(V, needed)) * np.imag(h)[..., None, :]
        inner = K / conj(diff)
        inner[..., idx, idx] = 0
    if gw is not None:
        inner[..., idx, idx] += gw
    return np.linalg.solve(_H(V), inner @ _H(V))


@rrule(np.linalg.eig, samples=[S(_REIG), S(np.stack([_REIG, _BATCH[0]])), S(_REIG.astype(np.float32)),
                               S(_SQ), S(_CSQ), S(np.stack([_CSQ, _CSQ.T]))], params=())
def _eig(a: Any) -> tuple[Any, Callable[[Any], tuple[Any]]]:
    """``eig`` (distinct eigenvalues): ``V^-H (diag(wbar) + conj(F) o K) V^H`` (see :func:`_eig_cotangent`)."""
    y = np.linalg.eig(a)
    ta = like(a)

    def pullback(g: Any) -> tuple[Any]:
        gw, gV = _seq(g, 2)
        return (fit(_eig_cotangent(y[0], y[1], gw, gV), ta),)

    return y, pullback


@rrule(np.linalg.eigvals, samples=[S(_SQ), S(_BATCH), S(_CSQ), S(_REIG), S(_SQ.astype(np.float32)),
                                   S(_CSQ.astype(np.complex64))], params=())
def _eigvals(a: Any) -> tuple[Any, Callable[[Any], tuple[Any]]]:
    """``eigvals`` (distinct eigenvalues): ``Abar = V^-H diag(wbar) V^H``.

    The output is NumPy's ``eigvals``; the pullback computes ``eig`` and orders its
    eigenvectors like these eigenvalues (nearest match)."""
    w = np.linalg.eigvals(a)

    def pullback(g: Any) -> tuple[Any]:
        _eig_gaps(w)
        w2, V = np.linalg.eig(a)
        order = np.argmin(np.abs(w[..., :, None] - w2[..., None, :]), axis=-1)
        if np.any(np.sort(order, axis=-1) != np.arange(w.shape[-1])):
            raise NotImplementedError("linalg.eigvals: eigenvalues too close to match with eig's")
        V = np.take_along_axis(V, order[..., None, :], axis=-1)
        return (fit(_eig_cotangent(w, V, g, None), a),)

    return w, pullback


def _svd_cotangent(U: Any, s: Any, Vh: Any, gU: Any, gs: Any, gVh: Any) -> Any:
    """Cotangent of ``A`` from those of its reduced SVD (real, distinct singular values)."""
    V = _H(Vh)
    k = s.shape[-1]
    idx = np.arange(k)
    inner = np.zeros(s.shape[:-1] + (k, k), np.result_type(U, 1.0))
    if gs is not None:
        inner[..., idx, idx] += gs
    s2 = s[..., None, :] ** 2 - s[..., :, None] ** 2
    with np.errstate(divide="ignore"):
        F = np.where(s2 == 0, 0, 1 / np.where(s2 == 0, 1, s2))
    cot = 0
    if gU is not None:
        J = _H(U) @ gU
        inner = inner + (F * (J - _H(J))) * s[..., None, :]
        cot = cot + (gU - U @ J) / s[..., None, :] @ Vh
    if gVh is not None:
        gV = _H(gVh)
        K = _H(V) @ gV
        inner = inner + s[..., :, None] * (F * (K - _H(K)))
        cot = cot + (U / s[..., None, :]) @ (_H(gV) - _H(gV) @ V @ Vh)
    return U @ inner @ Vh + cot


@rrule(np.linalg.svd, samples=[S(_A, full_matrices=False), S(_TALL, False), S(_SQ), S(_BATCH),
                               S(_A, compute_uv=False), S(_SPD, hermitian=True)], params="full_matrices compute_uv hermitian")
def _svd(a: Any, *pos: Any, **kw: Any) -> tuple[Any, Callable[[Any], tuple[Any, ...]]]:
    """``svd`` (real, distinct non-zero singular values): the standard reduced-SVD pullback."""
    p = bind(np.linalg.svd, 1, a, *pos, **kw)
    y = np.linalg.svd(a, *pos, **kw)
    if p["compute_uv"]:
        U, s, Vh = y
    else:
        U, s, Vh = np.linalg.svd(a, full_matrices=False, hermitian=p["hermitian"])
    m, n = np.shape(a)[-2:]
    k = min(m, n)
    ta = like(a)
    del a

    def pullback(g: Any) -> tuple[Any, ...]:
        if np.iscomplexobj(ta):
            raise NotImplementedError("svd: complex inputs are not supported by the built-in rule")
        if not p["compute_uv"]:
            cot = _svd_cotangent(U, s, Vh, None, g, None)
        else:
            gU, gs, gVh = _seq(g, 3)
            if m != n and p["full_matrices"]:
                raise NotImplementedError("svd(full_matrices=True) of a non-square matrix: the extra singular "
                                          "vectors are not determined by the input; use full_matrices=False")
            cot = _svd_cotangent(U[..., :k], s, Vh[..., :k, :], gU, gs, gVh)
        if p["hermitian"]:  # computed through eigh, which reads the lower triangle
            cot = _triangle(cot, False)
        return (fit(cot, ta), *nones(pos))

    return y, pullback


@rrule(np.linalg.qr, samples=[S(_TALL), S(_SQ), S(_BATCH), S(_TALL, mode="r"), S(_CSQ), S(_C34.T)], params="mode")
def _qr(a: Any, *given: Any, mode: Any = "reduced") -> tuple[Any, Callable[[Any], tuple[Any, ...]]]:
    """``qr`` (m >= n, full rank): ``Abar = (Qbar + Q copyltu(M)) R^-H``, ``M = R Rbar^H - Qbar^H Q``.
    ``given``: ``mode`` by position (its cotangent: None, one per argument)."""
    mode = given[0] if given else mode
    rest = (None,) * len(given)
    y = np.linalg.qr(a, mode)
    Q, R = (np.linalg.qr(a) if mode == "r" else y)
    m, n = np.shape(a)[-2:]
    ta = like(a)

    def pullback(g: Any) -> tuple[Any, ...]:
        if mode not in ("reduced", "r") and not (mode == "complete" and m == n) or m < n:
            raise NotImplementedError(f"qr(mode={mode!r}) of a {m}x{n} matrix: only m >= n with "
                                      "mode='reduced' or 'r' is differentiable")
        gQ, gR = ([None, g] if mode == "r" else _seq(g, 2))
        gQ = np.zeros_like(Q) if gQ is None else gQ
        gR = np.zeros_like(R) if gR is None else gR
        M = R @ _H(gR) - _H(gQ) @ Q
        low = np.tril(M, -1)
        copyltu = low + _H(low) + np.real(np.einsum("...ii->...i", M))[..., None] * np.eye(n)
        b = gQ + Q @ copyltu
        return (fit(_H(np.linalg.solve(R, _H(b))), ta), *rest)

    return y, pullback


@rrule(np.linalg.lstsq, samples=[S(_TALL, _R.standard_normal(5)), S(_TALL, _R.standard_normal((5, 2))),
                                 S(_SQ, _V3)], params=())  # rcond refused
def _lstsq(a: Any, b: Any, *pos: Any, **kw: Any) -> tuple[Any, Callable[[Any], tuple[Any, ...]]]:
    """``lstsq`` (full column rank): ``z = (A^H A)^-1 xbar``, ``bbar = A z + 2 r resbar``,
    ``Abar = r z^H - A z x^H - 2 r resbar x^H + U diag(sbar) V^H``."""
    y = np.linalg.lstsq(a, b, *pos, **kw)
    x, res = y[0], y[1]

    def pullback(g: Any) -> tuple[Any, ...]:
        gx, gres, _, gs = _seq(g, 4)
        vec = np.ndim(b) == 1
        X, B = (x[:, None], b[:, None]) if vec else (x, b)
        r = B - a @ X
        Abar = np.zeros(np.shape(a), np.result_type(a, b, 1.0))
        bbar = np.zeros(np.shape(B), np.result_type(a, b, 1.0))
        if gx is not None:
            z = np.linalg.solve(_H(a) @ a, gx[:, None] if vec else gx)
            Az = a @ z
            Abar += r @ _H(z) - Az @ _H(X)
            bbar += Az
        if gres is not None and np.size(res):
            Abar -= 2 * (r * gres) @ _H(X)
            bbar += 2 * r * gres
        if gs is not None:
            U, _, Vh = np.linalg.svd(a, full_matrices=False)
            Abar += (U * gs) @ Vh
        return (thunk(lambda: fit(Abar, a)), thunk(lambda: fit(bbar[:, 0] if vec else bbar, b)), *nones(pos))

    return y, pullback


if hasattr(np.linalg, "svdvals"):  # NumPy >= 2.0

    @rrule(np.linalg.svdvals, samples=[S(_A), S(_TALL), S(_BATCH)], params=())
    def _svdvals(a: Any) -> tuple[Any, Callable[[Any], tuple[Any]]]:
        """``svdvals``: ``Abar = U diag(sbar) V^H`` (distinct singular values)."""
        U, s, Vh = np.linalg.svd(a, full_matrices=False)
        ta = like(a)
        return s, lambda g: (fit((U * np.asarray(g)[..., None, :]) @ Vh, ta),)


@rrule(np.linalg.matrix_power, samples=[S(_SQ, 3), S(_BATCH, 2), S(_SQ, 0), S(_SQ, -2), S(_CSQ, 2)], params=())
def _matrix_power(a: Any, n: int) -> tuple[Any, Callable[[Any], tuple[Any, None]]]:
    """``matrix_power``: ``Abar = sum_k (B^H)^k G (B^H)^(n-1-k)`` with ``B = A`` (``inv(A)`` for
    ``n < 0``, chained through ``inv``'s pullback)."""
    y = np.linalg.matrix_power(a, n)
    base = a if n >= 0 else np.linalg.inv(a)
    powers = [np.broadcast_to(np.eye(a.shape[-1], dtype=base.dtype), base.shape)]
    for _ in range(abs(n) - 1):
        powers.append(powers[-1] @ base)
    ta = like(a)

    def pullback(g: Any) -> tuple[Any, None]:
        m = abs(n)
        cot = sum((_H(powers[k]) @ g @ _H(powers[m - 1 - k]) for k in range(m)), np.zeros_like(g))
        if n < 0:
            cot = -(_H(base) @ cot @ _H(base))
        return fit(cot, ta), None

    return y, pullback


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
