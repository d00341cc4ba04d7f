"""Rules built by ``_util.activity_rule`` (``multiply``, ``divide``, the products) are
registered ``atomic=True``: both cotangents are formed before either shadow is written,
so a partial that raises leaves every shadow as it was."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import activerules as ar
from activerules.rules._util import activity_rule


def _boom(g: Any, a: Any) -> Any:
    raise FloatingPointError("b's partial failed")


def test_a_failing_second_partial_leaves_the_first_shadow_alone() -> None:
    impl = activity_rule(np.multiply, lambda g, b: g * b, _boom)
    x, w = np.array([1.0, 2.0]), np.array([3.0, 4.0])
    dx, dw = np.array([0.5, 0.5]), np.array([0.25, 0.25])
    acts = (ar.Duplicated, ar.Duplicated)
    _, reverse = impl(ar.RevConfig(acts), ar.Duplicated(x, dx), ar.Duplicated(w, dw))
    with pytest.raises(FloatingPointError):
        reverse(np.ones(2))
    np.testing.assert_array_equal(dx, [0.5, 0.5])
    np.testing.assert_array_equal(dw, [0.25, 0.25])


@pytest.mark.parametrize("fn", [np.multiply, np.divide, np.matmul, np.dot, np.outer, np.kron],
                         ids=lambda f: f.__name__)
def test_activity_rules_are_registered_atomic(fn: Any) -> None:
    entries = [e for e in ar.registry.entries(fn) if e.form == "rule"]
    assert entries and all(e.atomic for e in entries)


def test_matmul_gradient_through_shadows_that_hold_cotangents() -> None:
    """A and B are Duplicated with shadows already holding values: the atomic rule adds
    into them directly (no scratch) and the sums are right."""
    rng = np.random.default_rng(3)
    A, B = rng.standard_normal((5, 4)), rng.standard_normal((4, 3))
    dA, dB = np.full_like(A, 0.5), np.full_like(B, -0.25)
    ar.autodiff(lambda a, b: np.tanh(a @ b).sum() + (a * 2.0).sum(), ar.Duplicated(A, dA), ar.Duplicated(B, dB))
    T = 1 - np.tanh(A @ B) ** 2
    np.testing.assert_allclose(dA, 0.5 + T @ B.T + 2.0, rtol=1e-12)
    np.testing.assert_allclose(dB, -0.25 + A.T @ T, rtol=1e-12)
