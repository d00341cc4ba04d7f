"""``ufunc.at`` whose values alias the target, with zeros and with repeated indices.

NumPy reads the values ``b`` of ``ufunc.at(a, idx, b)`` as they were before the call even
when ``b`` is a view of ``a`` (it copies an overlapping operand), so the oracles are
central finite differences of the same NumPy program and PyTorch's
``index_add``/``scatter_reduce`` equivalents (which take ``b`` before the update too).
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import pytest
import torch
from engine_helpers import fd_grad

import activerules as ar

X = np.array([0.7, -1.2, 1.5, 0.4, 2.0, 1.3])
W = np.array([1.0, -2.0, 0.5, 3.0, 1.5, -0.7])


def _loss(a: Any) -> Any:
    return (a ** 2 * W[: a.shape[0]]).sum()


def _torch_grad(f: Callable[[Any], Any], x: np.ndarray) -> np.ndarray:
    t = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    f(t).backward()
    assert t.grad is not None
    return t.grad.numpy()


def _tloss(a: Any) -> Any:
    return (a ** 2 * torch.tensor(W[: a.shape[0]])).sum()


I4 = np.array([0, 1])
PERM = np.array([1, 0, 3, 2, 5, 4])
ALL = np.arange(6)
REPEAT = np.array([1, 1, 2])


def _numpy_program(kind: str) -> Callable[[Any], Any]:
    def f(x: Any) -> Any:
        a = x * 1.0  # a fresh array that receives active values
        if kind == "multiply_prefix":
            np.multiply.at(a, I4, a[:2])
        elif kind == "multiply_swap":
            np.multiply.at(a, I4[::-1], a[:2])
        elif kind == "maximum_self":
            np.maximum.at(a, PERM, a)
        elif kind == "minimum_self":
            np.minimum.at(a, PERM, a)
        elif kind == "add_reversed":
            np.add.at(a, ALL, a[::-1])
        elif kind == "subtract_repeat":
            np.subtract.at(a, REPEAT, a[:3])
        elif kind == "multiply_repeat":
            np.multiply.at(a, REPEAT, a[1:4])
        elif kind == "multiply_view_target":  # the target a view, the values another view
            np.multiply.at(a[1:], np.array([0, 2, 2]), a[:3])
        elif kind == "maximum_view_target":
            np.maximum.at(a[2:], np.array([1, 0, 3]), a[:3][::-1])
        return _loss(a)
    return f


def _torch_program(kind: str) -> Callable[[Any], Any]:
    def f(x: Any) -> Any:
        a = x * 1.0
        if kind == "multiply_prefix":
            a = a.scatter_reduce(0, torch.tensor(I4), a[:2].clone(), "prod")
        elif kind == "multiply_swap":
            a = a.scatter_reduce(0, torch.tensor(I4[::-1].copy()), a[:2].clone(), "prod")
        elif kind == "maximum_self":
            a = a.scatter_reduce(0, torch.tensor(PERM), a.clone(), "amax")
        elif kind == "minimum_self":
            a = a.scatter_reduce(0, torch.tensor(PERM), a.clone(), "amin")
        elif kind == "add_reversed":
            a = a.index_add(0, torch.tensor(ALL), a.flip(0))
        elif kind == "subtract_repeat":
            a = a.index_add(0, torch.tensor(REPEAT), -a[:3])
        elif kind == "multiply_repeat":
            a = a.scatter_reduce(0, torch.tensor(REPEAT), a[1:4].clone(), "prod")
        elif kind == "multiply_view_target":
            a = torch.cat([a[:1], a[1:].scatter_reduce(0, torch.tensor([0, 2, 2]), a[:3].clone(), "prod")])
        elif kind == "maximum_view_target":
            a = torch.cat([a[:2], a[2:].scatter_reduce(0, torch.tensor([1, 0, 3]), a[:3].flip(0), "amax")])
        return _tloss(a)
    return f


KINDS = ["multiply_prefix", "multiply_swap", "maximum_self", "minimum_self", "add_reversed",
         "subtract_repeat", "multiply_repeat", "multiply_view_target", "maximum_view_target"]


@pytest.mark.parametrize("kind", KINDS)
def test_aliased_values_match_torch_and_finite_differences(kind: str) -> None:
    f = _numpy_program(kind)
    expected = _torch_grad(_torch_program(kind), X)
    np.testing.assert_allclose(fd_grad(f, X), expected, rtol=1e-6, atol=1e-8)  # the oracles agree
    np.testing.assert_allclose(ar.gradient(f, X.copy()), expected, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("kind", ["multiply_prefix", "maximum_self", "add_reversed"])
def test_aliased_values_under_autodiff(kind: str) -> None:
    f = _numpy_program(kind)

    def g(x: Any, out: Any) -> None:
        out[...] = f(x)

    dx, out, dout = np.zeros_like(X), np.zeros(()), np.ones(())
    ar.autodiff(g, ar.Duplicated(X.copy(), dx), ar.Duplicated(out, dout), returns=ar.Const)
    np.testing.assert_allclose(dx, _torch_grad(_torch_program(kind), X), rtol=1e-9, atol=1e-12)


def _zeros_program(x: Any) -> Any:
    a = x[:4] * 1.0
    b = x[2:] * np.array([0.0, 1.0, 1.0, 0.0])  # two zero factors, one per target group
    np.multiply.at(a, np.array([0, 0, 1, 3]), b)
    return _loss(a)


def _zeros_torch(x: Any) -> Any:
    a = x[:4] * 1.0
    b = x[2:] * torch.tensor([0.0, 1.0, 1.0, 0.0], dtype=torch.float64)
    return _tloss(a.scatter_reduce(0, torch.tensor([0, 0, 1, 3]), b, "prod"))


def test_multiply_at_with_zero_factors_is_exact() -> None:
    g = ar.gradient(_zeros_program, X.copy())
    expected = _torch_grad(_zeros_torch, X)
    np.testing.assert_allclose(fd_grad(_zeros_program, X), expected, rtol=1e-6, atol=1e-8)
    assert np.all(np.isfinite(g))
    np.testing.assert_allclose(g, expected, rtol=1e-9, atol=1e-12)


def test_multiply_at_with_a_zero_target_and_two_zero_factors() -> None:
    def f(x: Any) -> Any:
        a = x[:3] * np.array([0.0, 1.0, 1.0])  # a[0] == 0
        b = x[3:] * np.array([1.0, 0.0, 0.0])  # both factors into a[1] are 0
        np.multiply.at(a, np.array([0, 1, 1]), b)
        return _loss(a)

    def ft(x: Any) -> Any:
        a = x[:3] * torch.tensor([0.0, 1.0, 1.0], dtype=torch.float64)
        b = x[3:] * torch.tensor([1.0, 0.0, 0.0], dtype=torch.float64)
        return _tloss(a.scatter_reduce(0, torch.tensor([0, 1, 1]), b, "prod"))

    expected = _torch_grad(ft, X)
    np.testing.assert_allclose(fd_grad(f, X), expected, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(ar.gradient(f, X.copy()), expected, rtol=1e-9, atol=1e-12)


def test_multiply_at_rule_with_zero_factors_gives_torch_shadows() -> None:
    """The rule alone, called as an engine does (Duplicated target and values)."""
    a0, idx, b0 = np.array([1.5, 0.0, 2.0]), np.array([0, 0, 2, 1, 1]), np.array([0.0, 1.3, -0.7, 0.0, 0.4])
    abar = np.array([0.3, -1.1, 0.8])
    res = ar.registry.resolve(np.multiply.at, (ar.Duplicated, ar.Const, ar.Duplicated),
                              (np.ndarray, np.ndarray, np.ndarray))
    a, da, db = a0.copy(), abar.copy(), np.zeros_like(b0)
    _, reverse = res(ar.RevConfig(res.activities), ar.Duplicated(a, da), ar.Const(idx), ar.Duplicated(b0.copy(), db))
    reverse(None)
    ta = torch.tensor(a0, requires_grad=True)
    tb = torch.tensor(b0, requires_grad=True)
    (ta.scatter_reduce(0, torch.tensor(idx), tb, "prod") * torch.tensor(abar)).sum().backward()
    assert ta.grad is not None and tb.grad is not None
    np.testing.assert_allclose(da, ta.grad.numpy(), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(db, tb.grad.numpy(), rtol=1e-12, atol=1e-15)
