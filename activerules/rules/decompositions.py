"""Rules for NumPy's matrix decompositions: ``cholesky``, ``eigh``, ``eigvalsh``, ``eig``,
``eigvals``, ``svd``, ``svdvals`` and ``qr``; rrules whose cotangents are thunks where
they are expensive.

Conventions
-----------
* Complex: as in :mod:`.products`.
* ``cholesky``/``eigh``/``eigvalsh`` read one triangle of their input (the
  lower, or the upper for ``upper=True``/``UPLO="U"``); the cotangent lives
  on that triangle, the other is zero, as finite differences see it.
* ``eigh``/``svd``/``qr`` assume distinct eigen/singular values and full
  rank.  ``svd`` with
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
from typing import Any

import numpy as np

from ..dispatch import Sample, rrule
from ._linalg import _A, _BATCH, _C34, _CSQ, _H, _HPD, _SPD, _SQ, _TALL, _seq
from ._util import bind, conj, fit, like, nones

S = Sample


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


if hasattr(np.linalg, "svdvals"):  # NumPy >= 2.0

    @rrule(np.linalg.svdvals, samples=[S(_A), S(_TALL), S(_BATCH)], params=())
    def _svdvals(a: Any) -> tuple[Any, Callable[[Any], tuple[Any]]]:
        """``svdvals``: ``Abar = U diag(sbar) V^H`` (distinct singular values)."""
        U, s, Vh = np.linalg.svd(a, full_matrices=False)
        ta = like(a)
        return s, lambda g: (fit((U * np.asarray(g)[..., None, :]) @ Vh, ta),)
