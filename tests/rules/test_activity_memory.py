"""The activity rules use the activity: a Const operand's cotangent is never
formed, and the reverse closure keeps only what it reads (the engine's W4
memory target: ``x * c`` with ``c`` Const keeps nothing of ``x`` alive)."""

from __future__ import annotations

import gc
import weakref
from typing import Any

import numpy as np
import pytest

import activerules as ar
from activerules.dispatch.rule_registry import RuleRegistry

REGISTRY: RuleRegistry = ar.registry
ACTIVITY_RULES = [np.multiply, np.divide, np.matmul, np.dot, np.tensordot, np.einsum, np.linalg.solve,
                  np.inner, np.outer, np.kron]


def _forward(fn: Any, anns: list[Any], **kw: Any) -> tuple[Any, Any]:
    acts = tuple(type(a) for a in anns)
    res = REGISTRY.resolve(fn, acts, tuple(type(a.val) for a in anns))
    assert res.entry.form == "rule", f"{fn.__name__} should be served by its activity rule"
    y, reverse = res(ar.RevConfig(acts), *anns, **kw)
    for a in anns:  # what the engine does for rules declaring keeps=()
        a.val = None
    return y, reverse


@pytest.mark.parametrize("fn", ACTIVITY_RULES, ids=lambda f: f.__name__)
def test_reverse_declares_it_reads_no_val(fn: Any) -> None:
    entry = next(e for e in REGISTRY.entries(fn) if e.form == "rule")
    assert entry.keeps == (), "the engine clears ann.val only for rules declaring keeps=()"


def test_multiply_by_const_scalar_keeps_nothing_alive() -> None:
    x = np.linspace(0.0, 1.0, 1000)
    alive = weakref.ref(x)
    ax = ar.Duplicated(x, np.zeros_like(x))
    y, reverse = _forward(np.multiply, [ax, ar.Const(2.5)])
    del x
    gc.collect()
    assert alive() is None, "the reverse closure of x * c keeps x alive"
    assert reverse(np.ones_like(y)) is None
    np.testing.assert_array_equal(ax.dval, np.full(1000, 2.5))


def test_matmul_const_matrix_keeps_only_the_matrix() -> None:
    A, x = np.eye(4) * 3.0, np.arange(4.0)
    keeps_x, keeps_A = weakref.ref(x), weakref.ref(A)
    ax = ar.Duplicated(x, np.zeros(4))
    y, reverse = _forward(np.matmul, [ar.Const(A), ax])
    del A, x
    gc.collect()
    assert keeps_x() is None and keeps_A() is not None
    reverse(np.ones(4))
    np.testing.assert_array_equal(ax.dval, np.full(4, 3.0))


def test_const_operand_cotangent_is_never_formed() -> None:
    """Activity rules hand each cotangent to ``accumulate`` as a callable, evaluated
    only for a non-Const argument."""
    from activerules.rules._util import accumulate

    def boom() -> Any:
        raise AssertionError("formed the cotangent of a Const operand")

    x = np.ones(3)
    assert accumulate(ar.Const(x), boom, x) is None
    d = ar.Duplicated(x, np.zeros(3))
    assert accumulate(d, lambda: np.full(3, 2.0), x) is None
    np.testing.assert_array_equal(d.dval, np.full(3, 2.0))
    assert accumulate(ar.Active(1.5), lambda: 4.0, 1.5) == 4.0


def test_einsum_keeps_only_operands_other_cotangents_read() -> None:
    A, B = np.ones((2, 3)), np.ones((3, 4))
    keeps_A, keeps_B = weakref.ref(A), weakref.ref(B)
    aB = ar.Duplicated(B, np.zeros_like(B))
    y, reverse = _forward(np.einsum, [ar.Const("ij,jk->ik"), ar.Const(A), aB])
    del A, B
    gc.collect()
    assert keeps_A() is not None and keeps_B() is None
    reverse(np.ones((2, 4)))
    np.testing.assert_array_equal(aB.dval, np.full((3, 4), 2.0))
