"""Rules for NumPy's binary ufuncs and their ``outer`` (conventions: :mod:`.elementwise`).

One table gives each ufunc's two partials as formulas of what they read; ``multiply``
and ``divide`` become activity rules, the others rrules.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ..activity import Annotation
from ..dispatch import Sample, rrule, rule, thunk
from ._util import activity_rule, conj, explicit_out, fit, formula, like, masked, partial_pickers
from .elementwise import _A23, _B3, _C, _P, _P2, _R, _UFUNC_PARAMS, _name

S = Sample


# -------------------------------------------------------------------------- binary
# (partial for a, partial for b): each returns the cotangent contribution
# from the output cotangent g, reading only the values it names.
def _select(a: Any, b: Any, y: Any) -> Any:
    """Weight of ``a`` in a max/min-type selection: 1, 0, or 1/2 on a tie."""
    wa, wb = (a == y), (b == y)
    return np.where(wa & wb, 0.5, wa.astype(float))


def _log_base(a: Any) -> Any:
    """``log(a)`` with ``log(0)`` taken as 0 (the ``b`` partial of ``0**b`` is 0)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.log(np.where(a == 0, 1, a))


def _power_a(g: Any, a: Any, b: Any) -> Any:
    """``g * conj(b a^(b-1))``, 0 where ``b == 0`` (``a^0 = 1`` is constant, also at ``a = 0``)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        d = b * np.power(a, b - 1)
    if np.any(np.equal(b, 0)):  # 0 * 0^-1 would be NaN
        d = np.where(np.equal(b, 0), 0, d)
    return g * conj(d)


def _safe_div(num: Any, den: Any) -> Any:
    """``num / den``, 0 where ``den == 0`` (the chosen value at the non-differentiable points
    of ``hypot`` and ``arctan2``, and of ``std`` at zero spread)."""
    zero = np.equal(den, 0)
    if not np.any(zero):
        return num / den
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(zero, 0, num / np.where(zero, 1, den))


def _softmax_weight(exp: Callable[..., Any], a: Any, b: Any, y: Any) -> Any:
    """``exp(a - y)``: ``a``'s weight in ``y = logaddexp(a, b)`` (``exp2`` for ``logaddexp2``).

    Where ``y`` is infinite (both operands ``-inf``, or one ``+inf``) ``a - y`` is NaN or
    ``-inf``; the weight is then the limit from finite values, a tie split as in ``maximum``
    (1/2 each for equal operands, all to the ``+inf``)."""
    with np.errstate(invalid="ignore"):
        w = exp(np.subtract(a, y))
    inf = np.isinf(y)
    return np.where(inf, _select(a, b, y), w) if np.any(inf) else w


_BINARY: dict[np.ufunc, tuple[Callable[..., Any], Callable[..., Any]]] = {
    np.add: (lambda g: g, lambda g: g),
    np.subtract: (lambda g: g, lambda g: -g),
    np.multiply: (lambda g, b: g * conj(b), lambda g, a: g * conj(a)),
    np.divide: (lambda g, b: g / conj(b), lambda g, b, y: -g * conj(y / b)),
    np.power: (_power_a, lambda g, a, y: g * conj(y * _log_base(a))),
    np.float_power: (_power_a, lambda g, a, y: g * conj(y * _log_base(a))),
    np.arctan2: (lambda g, a, b: g * _safe_div(b, a * a + b * b), lambda g, a, b: -g * _safe_div(a, a * a + b * b)),
    np.hypot: (lambda g, a, y: g * _safe_div(a, y), lambda g, b, y: g * _safe_div(b, y)),
    np.logaddexp: (lambda g, a, b, y: g * _softmax_weight(np.exp, a, b, y),
                   lambda g, a, b, y: g * _softmax_weight(np.exp, b, a, y)),
    np.logaddexp2: (lambda g, a, b, y: g * _softmax_weight(np.exp2, a, b, y),
                    lambda g, a, b, y: g * _softmax_weight(np.exp2, b, a, y)),
    np.maximum: (lambda g, a, b, y: g * _select(a, b, y), lambda g, a, b, y: g * _select(b, a, y)),
    np.minimum: (lambda g, a, b, y: g * _select(a, b, y), lambda g, a, b, y: g * _select(b, a, y)),
    np.fmax: (lambda g, a, b, y: g * _select(a, b, y), lambda g, a, b, y: g * _select(b, a, y)),
    np.fmin: (lambda g, a, b, y: g * _select(a, b, y), lambda g, a, b, y: g * _select(b, a, y)),
    np.remainder: (lambda g: g, lambda g, a, b: -g * np.floor_divide(a, b)),
    np.fmod: (lambda g: g, lambda g, a, b: -g * np.trunc(a / b)),
    np.copysign: (lambda g, a, b: g * np.copysign(1.0, a) * np.copysign(1.0, b), lambda g: None),
    np.heaviside: (lambda g: None, lambda g, a: g * (a == 0)),
    np.ldexp: (lambda g, b: g * np.ldexp(1.0, b), lambda g: None),
}

_GENERIC = [S(_R, _R[::-1] * 0.7 + 0.05), S(_A23, _B3), S(_B3, 2.5), S(1.5, _A23),
            S(_A23.astype(np.float32), _B3.astype(np.float32))]
_COMPLEX = [S(_C, _C[::-1]), S(_C, _B3)]
_SAMPLES_2: dict[np.ufunc, list[Any]] = {
    np.add: _GENERIC + _COMPLEX,
    np.subtract: _GENERIC + _COMPLEX,
    np.multiply: _GENERIC + _COMPLEX,
    np.divide: _GENERIC + _COMPLEX,
    np.power: [S(_P, _R[:4]), S(_P2, _B3), S(_P2, 2.0), S(2.0, _R), S(_P, np.array([1, 2, 3, 0])),
               S(np.array([0.0, 0.5]), np.array([2.0, 3.0])), S(_C, 1.7 + 0.2j)],
    np.float_power: [S(_P, _R[:4]), S(_P2, _B3)],
    np.arctan2: _GENERIC,
    np.hypot: _GENERIC,
    np.logaddexp: _GENERIC,
    np.logaddexp2: _GENERIC,
    np.maximum: [*_GENERIC, S(np.array([1.0, 2.0, 3.0]), np.array([1.0, 0.5, 3.5]))],
    np.minimum: [*_GENERIC, S(np.array([1.0, 2.0, 3.0]), np.array([1.0, 0.5, 3.5]))],
    np.fmax: [*_GENERIC, S(np.array([1.0, np.nan, 3.0]), np.array([0.5, 2.0, np.nan]))],
    np.fmin: [*_GENERIC, S(np.array([1.0, np.nan, 3.0]), np.array([0.5, 2.0, np.nan]))],
    np.remainder: [S(np.array([1.3, 2.7, -0.4, 5.2]), np.array([1.0, 1.1, 0.7, 2.3])), S(_A23 * 3, 1.7)],
    np.fmod: [S(np.array([1.3, 2.7, -0.4, 5.2]), np.array([1.0, 1.1, 0.7, 2.3])), S(_A23 * 3, 1.7)],
    np.copysign: [S(_R, _R[::-1]), S(_A23, _B3)],
    np.heaviside: [S(np.array([-1.0, 0.5, 2.0]), np.array([0.5, 0.3, 0.7]))],
    np.ldexp: [S(_R, np.array([0, 1, -2, 3, 2]))],
}


def _binary_rrule(fn: np.ufunc, da: Callable[..., Any], db: Callable[..., Any],
                  outer: bool = False) -> Callable[..., Any]:
    """An rrule from two partial formulas; each cotangent is a thunk (skipped for Const).

    ``outer``: the rule of ``fn.outer``, i.e. of ``fn`` with ``b.ndim`` axes appended to ``a``.
    """
    pick_a, pick_b = partial_pickers(da, db, ("a", "b", "y"))

    def impl(a: Any, b: Any, **kw: Any) -> tuple[Any, Callable[[Any], tuple[Any, Any]]]:
        ta0, shape = None, None
        if outer:
            ta0, shape = like(a), np.shape(a)
            a = np.reshape(a, shape + (1,) * np.ndim(b))
        y = fn(a, b, **explicit_out(fn, kw)) if kw else fn(a, b)
        ka, kb = pick_a((a, b, y)), pick_b((a, b, y))
        ta, tb = like(a), like(b)
        del a, b

        def abar(g: Any) -> Any:
            cot = fit(masked(kw, da, g, *ka), ta)
            return fit(np.reshape(cot, shape), ta0) if outer and cot is not None else cot

        def pullback(g: Any) -> tuple[Any, Any]:
            return (thunk(lambda: abar(g)), thunk(lambda: fit(masked(kw, db, g, *kb), tb)))

        return y, pullback

    return impl


_ACTIVITY_RULES = (np.multiply, np.divide)

for _fn, (_da, _db) in _BINARY.items():
    if _fn in _ACTIVITY_RULES:
        _rule = activity_rule(_fn, _da, _db, elementwise=True)
        _name(_rule, _fn, "rule", f"abar = {formula(_da)}; bbar = {formula(_db)}")
        rule(_fn, Annotation, Annotation, samples=_SAMPLES_2[_fn], atomic=True, params=_UFUNC_PARAMS, keeps=(),
             batched=True)(_rule)
    else:
        _rule = _binary_rrule(_fn, _da, _db)
        _name(_rule, _fn, "rrule", f"abar = {formula(_da)}; bbar = {formula(_db)}")
        rrule(_fn, samples=_SAMPLES_2[_fn], params=_UFUNC_PARAMS, batched=True)(_rule)
    _rule = _binary_rrule(_fn, _da, _db, outer=True)
    _name(_rule, _fn, "outer_rrule")
    _rule.__doc__ = f"``np.{_fn.__name__}.outer``: as ``np.{_fn.__name__}`` with ``b.ndim`` axes appended to ``a``."
    rrule(_fn.outer, samples=_SAMPLES_2[_fn][:2], params=_UFUNC_PARAMS)(_rule)
