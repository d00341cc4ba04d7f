"""Rules for NumPy's elementwise functions (ufuncs and a few array functions).

The unary and binary ufuncs are tables of derivative formulas; one factory
per table turns an entry into a registered rule.  A formula names the values
it reads as its parameters (``x``/``y`` for unary, ``g``/``a``/``b``/``y`` for
binary partials) so the rule's reverse closure captures exactly those.

Conventions
-----------
* Complex (ChainRules/PyTorch): for a real loss, the cotangent of
  ``z = a + ib`` is ``dL/da + i dL/db``; a holomorphic ``y = f(z)`` pulls back
  ``zbar = conj(f'(z)) * ybar``.  ``abs``, ``angle``, ``real``, ``imag``,
  ``conj`` and complex ``sign`` are non-holomorphic and follow the same
  definition (e.g. ``abs``: ``zbar = ybar * z / |z|``).
* Ties in ``maximum``/``minimum``/``fmax``/``fmin`` split the cotangent
  evenly (half to each side), which is also what a central finite difference
  measures.  With a NaN operand ``fmax``/``fmin`` send the cotangent to the
  number, ``maximum``/``minimum`` to neither (as JAX; the output is NaN).
* Piecewise-constant functions with float output (``floor``, ``ceil``,
  ``rint``, ``trunc``, ``round``, ``fix``, ``floor_divide``, real ``sign``)
  have zero derivative but stay on the tape, so their outputs remain tracked
  arrays that may be mutated; ``abs``/``sign`` at 0 take derivative 0
  (PyTorch's convention; JAX takes slope 1 for ``abs``).
* Non-differentiable points where the engines disagree take 0, as PyTorch:
  ``hypot(0, 0)`` (the vector-norm convention), ``arctan2(0, 0)`` (JAX: NaN)
  and ``d/dx power(x, 0)`` at ``x = 0`` (``x**0 = 1`` is constant; also
  ``float_power``).  ``logaddexp``/``logaddexp2`` where the result is
  infinite (both operands ``-inf``, or one ``+inf``) take the limit from
  finite values: 1/2 each for equal operands, all to the ``+inf`` (JAX,
  PyTorch: NaN).  An infinite slope stays infinite (``sqrt``, ``cbrt``,
  ``log``, ``power(x, 0.5)`` at 0, as JAX).  ``sinc``'s slope near 0 is its
  series (the quotient cancels: JAX and PyTorch are 36% off at ``x = 1e-8``).
* ``multiply.at`` is exact with zero factors (products of the other factors).
* ``clip`` at a bound (``a == lo`` or ``a == hi``) passes the cotangent to ``a``,
  as ``torch.clamp`` does (JAX splits it between ``a`` and the bound).
* ``where=``: the cotangent is selected by the mask after the formula
  (:func:`._util.masked`), so an invalid derivative where the output was not
  written (``sqrt`` of a negative, ``1/0``) contributes 0, not NaN.
* Functions with boolean or integer output are in :mod:`.inactive`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ..activity import Active, Annotation, Const
from ..dispatch import Sample, rrule, rule, thunk
from ..engine.donation import donated
from ._util import (
    accumulate,
    activity_rule,
    bind,
    conj,
    explicit_out,
    fit,
    formula,
    into,
    like,
    masked,
    nones,
    partial_pickers,
    picker,
    reads,
    times,
)

S = Sample

# Sample inputs by domain: real line, positive, open unit interval, > 1.
_R = np.array([-1.3, -0.4, 0.25, 0.8, 1.7])
_R2 = np.array([[-0.6, 0.3, 1.1], [0.9, -1.4, 0.45]])
_P = np.array([0.3, 0.7, 1.2, 2.5])
_P2 = np.array([[0.4, 1.3, 2.1], [0.9, 0.6, 1.7]])
_U = np.array([-0.8, -0.35, 0.1, 0.6])
_G = np.array([1.3, 1.9, 2.6, 4.0])
_C = np.array([0.7 + 0.4j, -0.5 + 0.9j, 1.2 - 0.3j])


def _samples(base: np.ndarray, twod: np.ndarray | None = None, complex_: bool = False) -> list[Any]:
    """Standard samples for a unary function on one domain."""
    out = [S(base), S(base.astype(np.float32))]
    if twod is not None:
        out.append(S(twod))
    if complex_:
        out.append(S(_C))
    return out


_REAL, _POS = _samples(_R, _R2), _samples(_P, _P2)
_REALC, _POSC, _UNITC, _GT1C = (
    _samples(_R, _R2, True), _samples(_P, _P2, True), _samples(_U, None, True), _samples(_G, None, True))


#: the ufunc keywords the elementwise rules implement (``out=`` is the engine's): ``where=``
#: masks the cotangent (:func:`._util.masked`), ``dtype=`` computes in that type (the
#: cotangent is cast back to the input's); casting=, order=, subok= and signature= are
#: refused (see :mod:`activerules.dispatch.params`)
_UFUNC_PARAMS = "where dtype"


def _name(impl: Callable[..., Any], fn: Any, kind: str, maths: str = "zero derivative") -> None:
    impl.__name__ = impl.__qualname__ = f"_{fn.__name__}_{kind}"
    impl.__doc__ = f"``np.{fn.__name__}``: {maths} (from the derivative table)."


# --------------------------------------------------------------------------- unary
# In-place steps for the formulas below.  Each takes a temporary the formula itself
# just made (never a value it read) and works in its buffer: on large arrays a fresh
# buffer costs a pass of page faults, and NumPy's own temporary elision reuses a
# temporary for ``t + 1``, ``t * c`` or ``-t`` but not for ``1 - t``, ``1 / t`` or a
# ufunc call.  Anything but a float or complex ndarray is computed out of place.
def _in_place(t: Any) -> bool:
    return type(t) is np.ndarray and t.dtype.kind in "fc"


def _one_minus(t: Any) -> Any:
    """``1 - t``."""
    return np.subtract(1, t, out=t) if _in_place(t) else 1 - t


def _recip(t: Any) -> Any:
    """``1 / t``."""
    return np.divide(1, t, out=t) if _in_place(t) else 1 / t


def _rsqrt(t: Any) -> Any:
    """``1 / sqrt(t)``."""
    return np.divide(1, np.sqrt(t, out=t), out=t) if _in_place(t) else 1 / np.sqrt(t)


def _sinc_slope(x: Any, y: Any) -> Any:
    """``(cos(pi x) - sinc(x)) / x``; near 0, where that cancels, its series
    ``-(pi^2 x / 3) (1 - (pi x)^2 / 10)`` (relative error < 1e-10 either side of ``|x| = 3e-3``)."""
    small = np.abs(x) < 3e-3
    with np.errstate(divide="ignore", invalid="ignore"):
        d = (np.cos(np.pi * x) - y) / np.where(small, 1, x)
    if np.any(small):
        d = np.where(small, -(np.pi ** 2 / 3) * x * (1 - (np.pi * x) ** 2 / 10), d)
    return d


# dy/dx as a formula of x and/or y (or of nothing, for a constant slope);
# holomorphic for the complex-capable entries.
_LN2, _LN10 = np.log(2.0), np.log(10.0)
_UNARY: dict[Any, tuple[Callable[..., Any], list[Any]]] = {
    np.negative: (lambda: -1.0, _REALC),
    np.positive: (lambda: 1.0, _REALC),
    np.square: (lambda x: 2 * x, _REALC),
    np.sqrt: (lambda y: 0.5 / y, _POSC),
    np.cbrt: (lambda y: _recip(3 * y * y), _POS),
    np.reciprocal: (lambda y: -y * y, _POSC),
    np.exp: (lambda y: y, _REALC),
    np.exp2: (lambda y: y * _LN2, _REALC),
    np.expm1: (lambda y: y + 1, _REALC),
    np.log: (lambda x: 1 / x, _POSC),
    np.log2: (lambda x: _recip(x * _LN2), _POSC),
    np.log10: (lambda x: _recip(x * _LN10), _POSC),
    np.log1p: (lambda x: _recip(1 + x), _POSC),
    np.sin: (lambda x: np.cos(x), _REALC),
    np.cos: (lambda x: -np.sin(x), _REALC),
    np.tan: (lambda y: 1 + y * y, _UNITC),
    np.arcsin: (lambda x: _rsqrt(_one_minus(x * x)), _UNITC),
    np.arccos: (lambda x: -_rsqrt(_one_minus(x * x)), _UNITC),
    np.arctan: (lambda x: _recip(1 + x * x), _REALC),
    np.sinh: (lambda x: np.cosh(x), _REALC),
    np.cosh: (lambda x: np.sinh(x), _REALC),
    np.tanh: (lambda y: _one_minus(y * y), _REALC),
    np.arcsinh: (lambda x: _rsqrt(x * x + 1), _REALC),
    np.arccosh: (lambda x: 1 / (np.sqrt(x - 1) * np.sqrt(x + 1)), _GT1C),
    np.arctanh: (lambda x: _recip(_one_minus(x * x)), _UNITC),
    np.deg2rad: (lambda: np.pi / 180, _REAL),
    np.radians: (lambda: np.pi / 180, _REAL),
    np.rad2deg: (lambda: 180 / np.pi, _REAL),
    np.degrees: (lambda: 180 / np.pi, _REAL),
    np.fabs: (lambda x: np.sign(x), _REAL),
    np.sinc: (lambda x, y: _sinc_slope(x, y), _REALC),
}


def _unary(fn: Any, deriv: Callable[..., Any], samples: list[Any]) -> None:
    """Register ``fn``'s rrule: ``xbar = ybar * conj(deriv)``, capturing only what ``deriv`` reads."""
    pick = picker(reads(deriv), ("x", "y"))

    def impl(x: Any, **kw: Any) -> tuple[Any, Callable[[Any], tuple[Any]]]:
        y = fn(x, **explicit_out(fn, kw)) if kw else fn(x)
        kept = pick((x, y))
        tx = like(x)

        def pullback(g: Any) -> tuple[Any]:
            if "where" in kw:
                return (fit(masked(kw, lambda: g * conj(deriv(*kept))), tx),)
            if donated(g) and g.shape == tx.shape and g.dtype == tx.dtype:
                done = into(g, lambda gb, *kb: gb * conj(deriv(*kb)), kept)
                if done is not None:
                    return (done,)
            return (times(g, deriv(*kept), tx, kept, conjugate=True),)

        return y, pullback

    _name(impl, fn, "rrule", f"xbar = ybar * conj({formula(deriv)})")
    rrule(fn, samples=samples, params=_UFUNC_PARAMS if isinstance(fn, np.ufunc) else ())(impl)  # sinc: none


for _fn, (_d, _s) in _UNARY.items():
    _unary(_fn, _d, _s)


# Piecewise constant, float output: zero derivative everywhere it exists.
def _zero(fn: Callable[..., Any], samples: list[Any], params: str = _UFUNC_PARAMS) -> None:
    """Register ``fn`` with an rrule whose pullback is zero for every argument (whatever
    its ``params``: ``where=``, ``round``'s ``decimals``)."""

    def impl(*args: Any, **kw: Any) -> tuple[Any, Callable[[Any], tuple[None, ...]]]:
        return fn(*args, **explicit_out(fn, kw)), lambda g: (None,) * len(args)

    _name(impl, fn, "rrule")
    rrule(fn, samples=samples, params=params if isinstance(fn, np.ufunc) or params != _UFUNC_PARAMS else ())(impl)


_ZERO_SAMPLES = [S(_R * 1.7), S(_R2 * 2.3)]
_PIECEWISE_CONSTANT: tuple[Any, ...] = (np.floor, np.ceil, np.rint, np.trunc, np.fix, np.round, np.around)
for _pc in _PIECEWISE_CONSTANT:
    if _pc in (np.round, np.around):
        _zero(_pc, [*_ZERO_SAMPLES, S(_R2 * 2.3, 1), S(_R * 17.3, decimals=-1)], "decimals")
    else:
        _zero(_pc, _ZERO_SAMPLES)
_zero(np.floor_divide, [S(_P * 3.1, _P * 0.9 + 0.05)])


@rrule(np.absolute, samples=[*_REALC, S(np.array([[-2.0, 0.5], [1.5, -0.1]]))], params=_UFUNC_PARAMS)
def _absolute(x: Any, **kw: Any) -> tuple[Any, Callable[[Any], tuple[Any]]]:
    """``|x|``: ``sign(x)`` for real, ``z/|z|`` for complex (0 at 0)."""
    y = np.absolute(x, **explicit_out(np.absolute, kw))

    def pullback(g: Any) -> tuple[Any]:
        with np.errstate(invalid="ignore", divide="ignore"):
            d = x / np.where(y == 0, 1, y)
        return (fit(masked(kw, np.multiply, g, d), x),)

    return y, pullback


@rrule(np.sign, samples=[S(_R), S(_C)], params=_UFUNC_PARAMS)
def _sign(x: Any, **kw: Any) -> tuple[Any, Callable[[Any], tuple[Any]]]:
    """Zero for real ``x``; for complex ``u = z/|z|``: ``(ybar - u Re(conj(u) ybar)) / |z|``."""
    y = np.sign(x, **explicit_out(np.sign, kw))
    if not np.iscomplexobj(x):
        return y, lambda g: (None,)

    def pullback(g: Any) -> tuple[Any]:
        r = np.abs(x)
        safe = np.where(r == 0, 1, r)
        return (fit(masked(kw, lambda: np.where(r == 0, 0, (g - y * np.real(np.conj(y) * g)) / safe)), x),)

    return y, pullback


@rrule(np.conjugate, samples=[S(_C), S(_R)], params=_UFUNC_PARAMS)
def _conjugate(x: Any, **kw: Any) -> tuple[Any, Callable[[Any], tuple[Any]]]:
    """``conj``: ``zbar = conj(ybar)``."""
    tx = like(x)
    return np.conjugate(x, **explicit_out(np.conjugate, kw)), lambda g: (fit(masked(kw, conj, g), tx),)


@rrule(np.real, samples=[S(_C), S(_R)], params=())
def _real(x: Any) -> tuple[Any, Callable[[Any], tuple[Any]]]:
    """``real``: ``zbar = Re(ybar)`` (a real cotangent, embedded in complex for complex ``z``)."""
    tx = like(x)
    return np.real(x), lambda g: (fit(np.real(g), tx),)


@rrule(np.imag, samples=[S(_C)], params=())
def _imag(x: Any) -> tuple[Any, Callable[[Any], tuple[Any]]]:
    """``imag``: ``zbar = i Re(ybar)``; zero for real ``x``."""
    tx = like(x)
    return np.imag(x), lambda g: (fit(1j * np.real(g), tx) if np.iscomplexobj(tx) else None,)


@rrule(np.angle, samples=[S(_C), S(_C, deg=True)], params="deg")
def _angle(x: Any, *given: Any, deg: bool = False) -> tuple[Any, Callable[[Any], tuple[Any, ...]]]:
    """``angle``: ``zbar = ybar * i z / |z|^2`` (scaled for ``deg``); zero for real ``x``.
    ``given``: ``deg`` by position (its cotangent: None, one per argument)."""
    deg = given[0] if given else deg
    rest = (None,) * len(given)
    y = np.angle(x, deg=deg)
    if not np.iscomplexobj(x):
        return y, lambda g: (None, *rest)
    scale = 180 / np.pi if deg else 1.0

    def pullback(g: Any) -> tuple[Any, ...]:
        r2 = np.abs(x) ** 2
        return (fit(np.where(r2 == 0, 0, scale * np.real(g) * 1j * x / np.where(r2 == 0, 1, r2)), x), *rest)

    return y, pullback


@rrule(np.nan_to_num, samples=[S(np.array([0.5, 1e-3, -2.0])), S(_C),
                            S(np.array([0.5, np.nan, np.inf, -np.inf, 2.0]), nan=1.5, posinf=4.0, neginf=-3.0)],
       params="nan posinf neginf")  # copy=False (in place) refused
def _nan_to_num(x: Any, *rest: Any, **kw: Any) -> tuple[Any, Callable[[Any], tuple[Any, ...]]]:
    """``nan_to_num``: cotangent passes where ``x`` was finite, zero where it was replaced.
    ``rest``: ``copy``, ``nan``... given by position, each with a None cotangent (one per
    argument); copy=False is refused before (params=)."""
    kw.pop("copy", None)
    y = np.nan_to_num(x, True, *rest[1:], **kw)
    finite = np.isfinite(x)
    tx = like(x)
    return y, lambda g: (fit(np.where(finite, g, 0), tx), *(None,) * len(rest))


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

_A23 = np.array([[0.4, -1.2, 0.9], [1.5, 0.3, -0.7]])
_B3 = np.array([1.1, -0.6, 0.8])
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
        rule(_fn, Annotation, Annotation, samples=_SAMPLES_2[_fn], atomic=True, params=_UFUNC_PARAMS, keeps=())(_rule)
    else:
        _rule = _binary_rrule(_fn, _da, _db)
        _name(_rule, _fn, "rrule", f"abar = {formula(_da)}; bbar = {formula(_db)}")
        rrule(_fn, samples=_SAMPLES_2[_fn], params=_UFUNC_PARAMS)(_rule)
    _rule = _binary_rrule(_fn, _da, _db, outer=True)
    _name(_rule, _fn, "outer_rrule")
    _rule.__doc__ = f"``np.{_fn.__name__}.outer``: as ``np.{_fn.__name__}`` with ``b.ndim`` axes appended to ``a``."
    rrule(_fn.outer, samples=_SAMPLES_2[_fn][:2], params=_UFUNC_PARAMS)(_rule)


# ------------------------------------------------------------- array functions
_LO = np.array([-0.5, 0.0, -2.0, 0.1, -1.0])
_HI = np.array([0.5, 1.0, 0.1, 2.0, 1.5])


_CLIP_SAMPLES = [S(_R, -0.5, 1.0), S(_R, _LO, _HI), S(_A23, None, 0.5), S(_A23, -0.3, None),
                 S(_R, a_min=-0.5, a_max=1.0)]
if np.lib.NumpyVersion(np.__version__) >= "2.1.0":  # the min=/max= spelling
    _CLIP_SAMPLES += [S(_R, max=1.0), S(_A23, min=-0.3), S(_R, min=_LO, max=_HI)]


@rrule(np.clip, samples=_CLIP_SAMPLES, params="a_min a_max min max", differentiates="a_min a_max")
def _clip(a: Any, *pos: Any, **kw: Any) -> tuple[Any, Callable[[Any], tuple[Any, ...]]]:
    """``clip``: the cotangent goes to whichever of ``a``, the lower and the upper bound was selected (``a`` at a bound).

    The bounds may be spelled ``a_min``/``a_max`` or ``min``/``max``; positional ones get a cotangent.
    """
    y = np.clip(a, *pos, **kw)  # NumPy's own checks of the spellings
    p = bind(np.clip, 1, a, *pos, **kw)
    lo = p.get("min") if p["a_min"] is None else p["a_min"]
    hi = p.get("max") if p["a_max"] is None else p["a_max"]
    # NumPy computes minimum(maximum(a, lo), hi): where lo > hi the output is hi, whatever a is
    above = np.zeros(np.shape(y), bool) if hi is None else np.greater(a if lo is None else np.maximum(a, lo), hi)
    below = np.zeros(np.shape(y), bool) if lo is None else np.less(a, lo) & ~above
    ta, tlo, thi = like(a), like(lo), like(hi)

    def pullback(g: Any) -> tuple[Any, ...]:
        def to(selected: Any, template: Any) -> Any:
            return None if template is None else thunk(lambda: fit(masked(kw, np.where, selected, g, 0), template))

        return (to(~(below | above), ta), *(to(below, tlo), to(above, thi), *nones(pos))[: len(pos)])

    return y, pullback


@rrule(np.where, samples=[S(_R > 0, _R, _R * 2), S(np.array([True, False, True]), _A23, 0.5)],
       differentiates="x y")
def _where(condition: Any, *xy: Any) -> tuple[Any, Callable[[Any], tuple[Any, ...]]]:
    """``where(c, x, y)``: the cotangent goes to the selected branch (``c`` gets none)."""
    y = np.where(condition, *xy)
    if not xy:
        return y, lambda g: (None,)
    t1, t2 = like(xy[0]), like(xy[1])
    return y, lambda g: (
        None,
        thunk(lambda: fit(np.where(condition, g, 0), t1)),
        thunk(lambda: fit(np.where(condition, 0, g), t2)),
    )


@rrule(np.modf, samples=[S(_R * 2.3), S(_R2 * 3.1)], params=_UFUNC_PARAMS)
def _modf(x: Any, **kw: Any) -> tuple[Any, Callable[[Any], tuple[Any]]]:
    """``modf``: the fractional part has slope 1, the integral part 0."""
    y = np.modf(x, **explicit_out(np.modf, kw))
    tx = like(x)
    return y, lambda g: (None if g is None or g[0] is None else fit(masked(kw, lambda: g[0]), tx),)


@rrule(np.divmod, samples=[S(np.array([1.3, 2.7, -0.4, 5.2]), np.array([1.0, 1.1, 0.7, 2.3])), S(_A23 * 3, 1.7)],
       params=_UFUNC_PARAMS)
def _divmod(a: Any, b: Any, **kw: Any) -> tuple[Any, Callable[[Any], tuple[Any, Any]]]:
    """``divmod``: the quotient is piecewise constant; the remainder as ``np.remainder``."""
    y = np.divmod(a, b, **explicit_out(np.divmod, kw))
    ta, tb = like(a), like(b)

    def pullback(g: Any) -> tuple[Any, Any]:
        gm = None if g is None else g[1]
        if gm is None:
            return None, None
        return thunk(lambda: fit(masked(kw, lambda: gm), ta)), thunk(lambda: fit(masked(kw, lambda: -gm * y[0]), tb))

    return y, pullback


_XP = np.array([-1.0, 0.0, 0.5, 2.0])
_FP = np.array([0.3, -0.2, 1.1, 0.7])


@rrule(np.interp, samples=[S(np.array([-0.5, 0.2, 1.3, 1.9]), _XP, _FP), S(np.array([-2.0, 0.7, 3.0]), _XP, _FP),
                           S(0.35, _XP, _FP), S(np.array([-2.0, 3.0]), _XP, _FP, left=0.0, right=1.0),
                           S(np.array([-2.0, 0.7, 3.0, -1.5]), _XP, _FP, -0.4, 1.7)],
       differentiates="left right")  # period= refused
def _interp(x: Any, xp: Any, fp: Any, *pos: Any, **kw: Any) -> tuple[Any, Callable[[Any], tuple[Any, ...]]]:
    """``interp`` (piecewise linear, no ``period``): cotangents for ``x`` (the slope), ``fp``
    (the interpolation weights), ``xp`` (the knots' effect on the slope) and ``left``/``right``
    by position (the outputs outside the knots; the engine binds active ones there)."""
    y = np.interp(x, xp, fp, *pos, **kw)
    p = bind(np.interp, 3, x, xp, fp, *pos, **kw)
    left, right = p["left"], p["right"]
    xs, xpa, fpa = np.asarray(x, float), np.asarray(xp, float), np.asarray(fp)
    i = np.clip(np.searchsorted(xpa, xs, side="right") - 1, 0, len(xpa) - 2)
    h = xpa[i + 1] - xpa[i]
    t = (xs - xpa[i]) / h
    slope = (fpa[i + 1] - fpa[i]) / h
    inside = (xs >= xpa[0]) & (xs <= xpa[-1])
    below, above = xs < xpa[0], xs > xpa[-1]
    tx, txp, tfp, tl, tr = like(x), like(xp), like(fp), like(left), like(right)

    def pullback(g: Any) -> tuple[Any, ...]:
        if p["period"] is not None:  # refused by the engines (params=); a direct call of the rule
            raise NotImplementedError("interp: no derivative with period=")
        gi = np.where(inside, g, 0)

        def fpbar() -> Any:
            out = np.zeros(len(fpa), np.result_type(g, fpa))
            np.add.at(out, np.ravel(i), np.ravel(gi * (1 - t)))
            np.add.at(out, np.ravel(i) + 1, np.ravel(gi * t))
            if left is None:
                out[0] += np.sum(np.where(below, g, 0))
            if right is None:
                out[-1] += np.sum(np.where(above, g, 0))
            return out

        def xpbar() -> Any:
            out = np.zeros(len(xpa), np.result_type(g, float))
            np.add.at(out, np.ravel(i), np.ravel(np.real(gi * slope * (t - 1))))
            np.add.at(out, np.ravel(i) + 1, np.ravel(np.real(-gi * slope * t)))
            return out

        outside = (thunk(lambda: fit(np.sum(np.where(below, g, 0)), tl)),
                   thunk(lambda: fit(np.sum(np.where(above, g, 0)), tr)), None)
        return (thunk(lambda: fit(gi * slope, tx)), thunk(lambda: fit(xpbar(), txp)),
                thunk(lambda: fit(fpbar(), tfp)), *outside[:len(pos)])

    return y, pullback


@rrule(np.polyval, samples=[S(np.array([0.5, -1.0, 2.0]), _R), S(np.array([1.5, 0.3]), 0.7), S(np.array([2.0]), _R2),
                            S(np.array([0.5, -1.0, 2.0, 0.1]), _C)], params=())
def _polyval(p: Any, x: Any) -> tuple[Any, Callable[[Any], tuple[Any, Any]]]:
    """``polyval``: ``pbar_k = sum(ybar * conj(x)^(n-1-k))``, ``xbar = ybar * conj(p'(x))``."""
    y = np.polyval(p, x)
    tp, tx = like(p), like(x)
    n = len(p)

    def pullback(g: Any) -> tuple[Any, Any]:
        def pbar() -> Any:
            return np.stack([np.sum(g * conj(np.asarray(x)) ** (n - 1 - k)) for k in range(n)])

        return thunk(lambda: fit(pbar(), tp)), thunk(lambda: fit(g * conj(np.polyval(np.polyder(p), x)), tx))

    return y, pullback


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
