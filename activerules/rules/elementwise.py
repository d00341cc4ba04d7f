"""Rules for NumPy's unary ufuncs; the conventions of every elementwise rule.

The elementwise rules are four modules: the unary ufuncs (here), the binary
ufuncs and their ``outer`` (:mod:`.binary`), other elementwise array functions
(:mod:`.pointwise`: ``clip``, ``where``, ``interp``...) and the in-place
``ufunc.at`` (:mod:`.ufunc_at`).  The unary and binary ufuncs are tables of
derivative formulas; one factory per table turns an entry into a registered rule.  A formula names the values
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

from ..dispatch import Sample, rrule
from ..engine.donation import donated
from ._util import conj, explicit_out, fit, formula, into, like, masked, picker, reads, times

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


# samples shared with the other elementwise modules
_A23 = np.array([[0.4, -1.2, 0.9], [1.5, 0.3, -0.7]])
_B3 = np.array([1.1, -0.6, 0.8])


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
    rrule(fn, samples=samples, params=_UFUNC_PARAMS if isinstance(fn, np.ufunc) else (),  # sinc: none
          batched=True)(impl)


for _fn, (_d, _s) in _UNARY.items():
    _unary(_fn, _d, _s)


# Piecewise constant, float output: zero derivative everywhere it exists.
def _zero(fn: Callable[..., Any], samples: list[Any], params: str = _UFUNC_PARAMS) -> None:
    """Register ``fn`` with an rrule whose pullback is zero for every argument (whatever
    its ``params``: ``where=``, ``round``'s ``decimals``)."""

    def impl(*args: Any, **kw: Any) -> tuple[Any, Callable[[Any], tuple[None, ...]]]:
        return fn(*args, **explicit_out(fn, kw)), lambda g: (None,) * len(args)

    _name(impl, fn, "rrule")
    rrule(fn, samples=samples, params=params if isinstance(fn, np.ufunc) or params != _UFUNC_PARAMS else (),
          batched=True)(impl)


_ZERO_SAMPLES = [S(_R * 1.7), S(_R2 * 2.3)]
_PIECEWISE_CONSTANT: tuple[Any, ...] = (np.floor, np.ceil, np.rint, np.trunc, np.fix, np.round, np.around)
for _pc in _PIECEWISE_CONSTANT:
    if _pc in (np.round, np.around):
        _zero(_pc, [*_ZERO_SAMPLES, S(_R2 * 2.3, 1), S(_R * 17.3, decimals=-1)], "decimals")
    else:
        _zero(_pc, _ZERO_SAMPLES)
_zero(np.floor_divide, [S(_P * 3.1, _P * 0.9 + 0.05)])


@rrule(np.absolute, samples=[*_REALC, S(np.array([[-2.0, 0.5], [1.5, -0.1]]))], params=_UFUNC_PARAMS, batched=True)
def _absolute(x: Any, **kw: Any) -> tuple[Any, Callable[[Any], tuple[Any]]]:
    """``|x|``: ``sign(x)`` for real, ``z/|z|`` for complex (0 at 0)."""
    y = np.absolute(x, **explicit_out(np.absolute, kw))

    def pullback(g: Any) -> tuple[Any]:
        with np.errstate(invalid="ignore", divide="ignore"):
            d = x / np.where(y == 0, 1, y)
        return (fit(masked(kw, np.multiply, g, d), x),)

    return y, pullback


@rrule(np.sign, samples=[S(_R), S(_C)], params=_UFUNC_PARAMS, batched=True)
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


@rrule(np.conjugate, samples=[S(_C), S(_R)], params=_UFUNC_PARAMS, batched=True)
def _conjugate(x: Any, **kw: Any) -> tuple[Any, Callable[[Any], tuple[Any]]]:
    """``conj``: ``zbar = conj(ybar)``."""
    tx = like(x)
    return np.conjugate(x, **explicit_out(np.conjugate, kw)), lambda g: (fit(masked(kw, conj, g), tx),)


@rrule(np.real, samples=[S(_C), S(_R)], params=(), batched=True)
def _real(x: Any) -> tuple[Any, Callable[[Any], tuple[Any]]]:
    """``real``: ``zbar = Re(ybar)`` (a real cotangent, embedded in complex for complex ``z``)."""
    tx = like(x)
    return np.real(x), lambda g: (fit(np.real(g), tx),)


@rrule(np.imag, samples=[S(_C)], params=(), batched=True)
def _imag(x: Any) -> tuple[Any, Callable[[Any], tuple[Any]]]:
    """``imag``: ``zbar = i Re(ybar)``; zero for real ``x``."""
    tx = like(x)
    return np.imag(x), lambda g: (fit(1j * np.real(g), tx) if np.iscomplexobj(tx) else None,)


@rrule(np.angle, samples=[S(_C), S(_C, deg=True)], params="deg", batched=True)
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
       params="nan posinf neginf", batched=True)  # copy=False (in place) refused
def _nan_to_num(x: Any, *rest: Any, **kw: Any) -> tuple[Any, Callable[[Any], tuple[Any, ...]]]:
    """``nan_to_num``: cotangent passes where ``x`` was finite, zero where it was replaced.
    ``rest``: ``copy``, ``nan``... given by position, each with a None cotangent (one per
    argument); copy=False is refused before (params=)."""
    kw.pop("copy", None)
    y = np.nan_to_num(x, True, *rest[1:], **kw)
    finite = np.isfinite(x)
    tx = like(x)
    return y, lambda g: (fit(np.where(finite, g, 0), tx), *(None,) * len(rest))
