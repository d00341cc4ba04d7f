"""Rules for linear solves, inverses and determinants: ``linalg.solve`` (an activity rule:
``Abar`` is never formed for a Const ``A``), ``inv``, ``pinv``, ``lstsq``, ``det``, ``slogdet``
and ``matrix_power``.

Conventions
-----------
* Complex: as in :mod:`.products`.
* ``lstsq``/``pinv`` assume full (column) rank.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ..activity import Annotation, Const
from ..dispatch import Sample, rrule, rule, thunk
from ._linalg import _A, _B, _B5, _B52, _B232, _BATCH, _C34, _CSQ, _H, _SQ, _TALL, _V3, _mT, _seq
from ._util import accumulate, conj, fit, like, nones
from .reductions import _others

S = Sample


# ------------------------------------------------------------------ solve
@rule(np.linalg.solve, Annotation, Annotation, params=(), keeps=(), batched=True, samples=[
    S(_SQ, _V3), S(_SQ, _B[:3]), S(_BATCH, _V3), S(_BATCH, _B232), S(_CSQ, _V3 + 1j)])
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


@rrule(np.linalg.lstsq, samples=[S(_TALL, _B5), S(_TALL, _B52),
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
