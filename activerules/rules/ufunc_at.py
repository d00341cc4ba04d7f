"""Rules for the in-place ``ufunc.at`` of ``add``, ``subtract``, ``multiply``, ``maximum``
and ``minimum`` (activity rules; conventions: :mod:`.elementwise`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ..activity import Active, Annotation, Const
from ..dispatch import Sample, rule
from ._util import accumulate, conj, fit, like
from .elementwise import _A23, _B3

S = Sample


# ------------------------------------------------------------- ufunc.at (in place)
# Enzyme's shadow convention: on entry to reverse, a's shadow is the cotangent of
# a after the call; on exit, of a before it.  A Const a carries no derivative.
def _at_reverse(b: Any, target: Any, bbar: Callable[[Any], Any], tb: Any, scale: Any = None) -> Any:
    """``ufunc.at``'s reverse: ``b``'s cotangent ``bbar(abar)`` from the target's shadow ``abar``
    (zero when the target is Const), then the shadow scaled by ``scale`` (the derivative of
    ``a`` after the call in ``a`` before it; ``None``: 1).  Returns the argument tuple.

    ``b``'s cotangent is computed from ``abar`` before the shadow is scaled and delivered
    after it: when ``b`` is a view of the target (``np.multiply.at(a, i, a[:2])``) its
    shadow is a view of the target's, and it belongs to ``a`` before the call."""
    if target is None or target.dval is None:
        res = fit(np.zeros(()), tb) if isinstance(b, Active) else None
    else:
        abar = np.asarray(target.dval)
        cot = None if isinstance(b, Const) else bbar(abar)
        if isinstance(cot, np.ndarray) and np.may_share_memory(cot, abar):  # a basic index: a view
            cot = cot.copy()
        if scale is not None:
            target.dval *= scale
        res = accumulate(b, cot, tb)
    return None if res is None else (None, None, res)


def _at_values(a: Any, b: Any) -> Any:
    """``b``'s values as ``ufunc.at(a, i, b)`` reads them: NumPy copies a ``b`` that
    overlaps ``a`` before updating, and so must a rule that reads ``b`` afterwards."""
    return b.copy() if isinstance(b, np.ndarray) and np.may_share_memory(a, b) else b


def _at_rule(ufunc: np.ufunc, sign: float) -> Callable[..., Any]:
    """Activity rule for ``ufunc.at(a, indices, b)`` with ``ufunc`` add or subtract.

    ``a[indices] (+|-)= b`` with repeated indices accumulating.  ``a``'s shadow
    (the cotangent of ``a`` after the call) is also the cotangent of ``a`` before
    it, so it is left as is, and ``b`` gathers ``(+|-) abar[indices]`` (summed
    over repeats and broadcasting).
    """

    def impl(cfg: Any, a: Any, indices: Any, b: Any, **kw: Any) -> tuple[None, Callable[[Any], Any]]:
        ufunc.at(a.val, indices.val, b.val, **kw)
        index, tb = indices.val, like(b.val)
        target = a if not isinstance(a, Const) else None
        return None, lambda g: _at_reverse(b, target, lambda abar: sign * abar[index], tb)

    impl.__name__ = impl.__qualname__ = f"_{ufunc.__name__}_at_rule"
    impl.__doc__ = f"a[indices] {'+' if sign > 0 else '-'}= b in place: bbar = {sign:+g} * abar[indices]."
    return impl


_AT = [S(np.ones(5), np.array([0, 1, 1, 3]), np.array([1.0, 2.0, 3.0, 4.0])),
       S(_A23.copy(), (np.array([0, 1, 1]), np.array([2, 0, 0])), 0.5),
       S(np.ones(4), np.array([2, 2, 2]), _B3)]


def _others_at(a: Any, index: Any, b: Any) -> Any:
    """For ``np.multiply.at(a, index, b)`` (``a`` before the call): for each factor ``b_k``
    (broadcast to ``a[index]``), the product of every other factor its element receives,
    ``a`` itself included. Exact with zeros (as JAX's ``prod``): the product of the
    non-zero factors and the count of zero ones per element, ``b_k`` taken out of both."""
    bb = np.broadcast_to(b, np.shape(a[index]))
    zb = bb == 0
    nonzero = np.where(a == 0, 1, a).astype(np.result_type(a, b))
    zeros = (a == 0).astype(np.intp)
    np.multiply.at(nonzero, index, np.where(zb, 1, bb))
    np.add.at(zeros, index, zb)
    return np.where(zeros[index] - zb == 0, nonzero[index] / np.where(zb, 1, bb), 0)


@rule(np.multiply.at, Annotation, Const, Annotation, differentiates="b", keeps=(),
      samples=[*_AT, S(_A23 * 1.5, (np.array([1, 1, 0]), np.array([2, 2, 0])), np.array([0.7, -1.3, 2.1])),
               S(np.array([1.5, 0.0, 2.0]), np.array([0, 0, 2, 1, 1]), np.array([0.0, 1.3, -0.7, 0.0, 0.4])),
               S(np.ones(5), np.array([0, 1, 1, 3, 1]), np.array([0.0, 2.0, 0.0, 0.0, 3.0]))])
def _multiply_at(cfg: Any, a: Any, indices: Any, b: Any, **kw: Any) -> tuple[None, Callable[[Any], Any]]:
    """``a[indices] *= b`` in place: ``abar *= conj(P)``, ``bbar = abar[indices] * conj(others)``.

    ``P`` is the product of the factors each element received (repeats multiply);
    ``others`` for a factor the product of its element's value before the call and its
    other factors, computed without division by a zero factor (exact with zeros).
    """
    index = indices.val
    bv = _at_values(a.val, b.val)
    target = a if not isinstance(a, Const) else None
    product = others = None
    if target is not None:
        product = np.ones_like(a.val)
        np.multiply.at(product, index, bv)
        if not isinstance(b, Const):
            others = _others_at(a.val, index, bv)
    np.multiply.at(a.val, index, bv, **kw)
    tb = like(bv)

    return None, lambda g: _at_reverse(b, target, lambda abar: abar[index] * conj(others), tb, conj(product))


def _extremum_at(ufunc: np.ufunc) -> Callable[..., Any]:
    """Activity rule for ``ufunc.at(a, indices, b)`` with ``ufunc`` maximum or minimum.

    Each element of ``a`` ends as the extremum of its old value and the values
    of ``b`` it received; its cotangent goes to the winner, split evenly among
    ties (as in ``max``).  ``a``'s shadow is scaled by its own share, ``b`` gathers
    ``abar[indices]`` times its shares.
    """

    def impl(cfg: Any, a: Any, indices: Any, b: Any, **kw: Any) -> tuple[None, Callable[[Any], Any]]:
        index = indices.val
        bv = _at_values(a.val, b.val)
        tb = like(bv)
        target = a if not isinstance(a, Const) else None
        before = np.array(a.val, copy=True) if target is not None else None
        ufunc.at(a.val, index, bv, **kw)
        share_a = share_b = None
        if target is not None:
            kept = before == a.val
            won = np.broadcast_to(bv, np.shape(a.val[index])) == a.val[index]
            ties = kept.astype(float)
            np.add.at(ties, index, won)
            share_a, share_b = kept / ties, won / ties[index]
        del before
        return None, lambda g: _at_reverse(b, target, lambda abar: abar[index] * share_b, tb, share_a)

    impl.__name__ = impl.__qualname__ = f"_{ufunc.__name__}_at_rule"
    impl.__doc__ = f"a[indices] = {ufunc.__name__}(a[indices], b) in place: the winner's cotangent, ties split evenly."
    return impl


_AT_RULES: list[tuple[Any, Callable[..., Any]]] = [
    (np.add.at, _at_rule(np.add, 1.0)), (np.subtract.at, _at_rule(np.subtract, -1.0)),
    (np.maximum.at, _extremum_at(np.maximum)), (np.minimum.at, _extremum_at(np.minimum)),
]
for _fn, _rule in _AT_RULES:
    rule(_fn, Annotation, Const, Annotation, samples=_AT, differentiates="b", keeps=())(_rule)
