"""``linalg.eig`` and ``linalg.eigvals`` through the engine against central finite
differences (complex inputs perturbed in both the real and the imaginary part).

Eigenvectors are defined up to a phase; NumPy (LAPACK) makes each unit-norm and its
largest component real. Phase-invariant losses (``|v|^2``, ``v v^H``) are checked on
every kind of input; the rule also differentiates NumPy's phase convention, checked
with a loss that depends on the phase. Repeated eigenvalues raise."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import activerules as ar
from activerules.engine import gradient
from activerules.rules.decompositions import _eig_cotangent

RNG = np.random.default_rng(11)
REAL = RNG.standard_normal((3, 3)) + 3 * np.eye(3)  # one real and a complex pair of eigenvalues
REAL_EIGS = np.linalg.solve(REAL.T, (REAL * np.array([1.0, -2.0, 3.5])).T).T  # eigenvalues 1, -2, 3.5
COMPLEX = REAL + 1j * RNG.standard_normal((3, 3))
BATCH = np.stack([COMPLEX, COMPLEX.T + np.eye(3), 2j * COMPLEX])
WEIGHTS = np.arange(1.0, 10.0).reshape(3, 3)


def fd(f: Callable[[Any], Any], x: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """ChainRules gradient of a real ``f`` by central differences: ``dL/dRe x + i dL/dIm x``."""
    g = np.zeros(x.shape, np.result_type(x, 1.0))
    for i in range(x.size):
        for unit in ((1.0, 1j) if np.iscomplexobj(x) else (1.0,)):
            e = np.zeros_like(x)
            e.flat[i] = eps * unit
            g.flat[i] += unit * (f(x + e) - f(x - e)) / (2 * eps)
    return g


def _vectors(a: Any) -> Any:
    return np.linalg.eig(a).eigenvectors


LOSSES: dict[str, Callable[[Any], Any]] = {
    "abs2": lambda a: (np.abs(_vectors(a)) ** 2 * WEIGHTS).sum(),
    "projector": lambda a: np.real(
        (_vectors(a)[..., :, :1] @ np.conj(np.swapaxes(_vectors(a)[..., :, :1], -1, -2))) * WEIGHTS
    ).sum(),
    "values_and_abs2": lambda a: (np.abs(np.linalg.eig(a).eigenvalues) ** 2).sum()
    + (np.abs(_vectors(a)[..., 1:, :]) ** 3).sum(),
    "eigvals": lambda a: (np.real(np.linalg.eigvals(a)) * np.array([1.0, -2.0, 0.5])).sum()
    + (np.imag(np.linalg.eigvals(a)) ** 2).sum(),
}
INPUTS = {"real_eigs": REAL_EIGS, "real_complex_pair": REAL, "complex": COMPLEX, "batch": BATCH,
          "real_batch": np.stack([REAL, REAL_EIGS])}


@pytest.mark.parametrize("loss", sorted(LOSSES))
@pytest.mark.parametrize("name", sorted(INPUTS))
def test_phase_invariant_losses_match_finite_differences(loss: str, name: str) -> None:
    f, x = LOSSES[loss], INPUTS[name]
    np.testing.assert_allclose(gradient(f, x.copy()), fd(f, x), rtol=1e-6, atol=1e-7)


def test_phase_dependent_loss_follows_numpys_convention() -> None:
    """``Re v`` depends on the phase LAPACK picks; the rule differentiates that choice."""
    f = lambda a: (np.real(_vectors(a)) * WEIGHTS).sum() + (np.imag(_vectors(a)) ** 2).sum()  # noqa: E731
    for x in (COMPLEX, BATCH):
        np.testing.assert_allclose(gradient(f, x.copy()), fd(f, x), rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("fn", [lambda a: np.real(np.linalg.eigvals(a)).sum(),
                                lambda a: (np.abs(_vectors(a)) ** 2 * WEIGHTS).sum()],
                         ids=["eigvals", "eig"])
def test_repeated_eigenvalues_raise(fn: Callable[[Any], Any]) -> None:
    with pytest.raises(ar.RuleError, match="NotImplementedError: .*repeated eigenvalues"):
        gradient(fn, np.diag([1.0, 1.0, 2.0]))


def test_phase_dependent_cotangent_without_the_convention_raises() -> None:
    """Eigenvectors whose phase is not LAPACK's (no real component): a phase-dependent
    cotangent raises, a phase-invariant one is served."""
    w, V = np.linalg.eig(COMPLEX)
    V = V * np.exp(0.3j)
    with pytest.raises(NotImplementedError, match="phase"):
        _eig_cotangent(w, V, None, RNG.standard_normal((3, 3)) + 1j * RNG.standard_normal((3, 3)))
    _eig_cotangent(w, V, None, V * np.array([1.0, 2.0, 3.0]))


def test_check_rule_covers_eig_and_eigvals() -> None:
    """Every activity combination of both rules on a batch of complex matrices."""
    for fn in (np.linalg.eig, np.linalg.eigvals):
        report = ar.testing.check_rule(fn, BATCH)
        assert not report.failed and len(report.passed) == 4


def test_real_input_sign_dependent_loss_holds_the_sign_fixed() -> None:
    """For real input LAPACK's eigenvector signs may flip under a tiny perturbation; the
    gradient is that of the loss with each sign held fixed (aligned with the unperturbed one)."""
    A = np.random.default_rng(4).standard_normal((5, 5))  # real eigenvalues and complex pairs; with the
    # LAPACK tested here a sign flips within the finite-difference step (the test holds either way)
    V0 = _vectors(A)
    weights = np.arange(1.0, 26.0).reshape(5, 5)

    def loss(v: Any) -> Any:
        return (np.real(v) * weights).sum() + (np.imag(v) * weights.T).sum()

    def aligned(a: Any) -> Any:
        v = _vectors(a)
        return loss(v * np.sign(np.real(np.sum(np.conj(V0) * v, axis=-2))))

    np.testing.assert_allclose(gradient(lambda a: loss(_vectors(a)), A.copy()), fd(aligned, A), rtol=1e-6, atol=1e-6)
