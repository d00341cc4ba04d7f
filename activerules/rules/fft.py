"""Rules for ``numpy.fft``.

Every transform is (real-)linear, so its pullback is its adjoint:

* complex transforms (``fft``, ``ifft``, ``fft2``, ``ifft2``, ``fftn``, ``ifftn``):
  the adjoint of a forward transform is the inverse transform with the
  opposite normalisation (``"backward"`` <-> ``"forward"``, ``"ortho"`` stays),
  and vice versa;
* ``rfft*``: the adjoint of "full transform, keep the first ``n//2+1``
  frequencies": zero-pad the cotangent, apply the adjoint, take the real part;
* ``irfft*``: ``abar = c * rfftn(ybar)`` with the opposite normalisation, where
  ``c`` is 2 for the frequencies the Hermitian extension duplicates and 1 for
  the zero (and Nyquist) frequency;
* ``hfft``/``ihfft`` are ``irfft``/``rfft`` composed with a conjugation.

An ``n``/``s`` argument crops or zero-pads the input before the transform; the
pullback crops or zero-pads the cotangent back.  Complex cotangents follow the
ChainRules convention of :mod:`.elementwise`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..dispatch import Sample, add_samples, rrule
from ._util import bind, conj, fit, like, nones, normalize_axis_tuple

S = Sample
F = np.fft

_SWAP: dict[Any, Any] = {None: "forward", "backward": "forward", "forward": "backward", "ortho": "ortho"}

_rng = np.random.default_rng(11)
_X = _rng.standard_normal(6)
_X5 = _rng.standard_normal(5)
_M = _rng.standard_normal((3, 4))
_T = _rng.standard_normal((2, 3, 4))
_Z = _X + 1j * _rng.standard_normal(6)
_ZM = _M + 1j * _rng.standard_normal((3, 4))


def _axes_sizes(p: dict[str, Any], shape: tuple[int, ...]) -> tuple[list[int], list[int] | None]:
    """The transformed axes and the sizes (``n``/``s``) of a call, NumPy's defaults applied."""
    ndim = len(shape)
    if "axis" in p:  # 1-D transforms
        return [normalize_axis_tuple(p["axis"], ndim)[0]], None if p["n"] is None else [p["n"]]
    s, axes = p["s"], p["axes"]
    if axes is None:
        axes = list(range(ndim)) if s is None else list(range(ndim - len(s), ndim))
    return list(normalize_axis_tuple(axes, ndim, allow_duplicate=True)), None if s is None else list(s)


def _crop_pad(a: Any, sizes: Sequence[int], axes: Sequence[int]) -> Any:
    """``a`` cropped or zero-padded to ``sizes`` along ``axes``."""
    for ax, size in zip(axes, sizes):
        cur = a.shape[ax]
        if cur > size:
            a = np.take(a, np.arange(size), axis=ax)
        elif cur < size:
            widths = [(0, 0)] * a.ndim
            widths[ax] = (0, size - cur)
            a = np.pad(a, widths)
    return a


def _hermitian_weights(n: int, m: int, ax: int, ndim: int) -> Any:
    """``c``: 1 for the zero (and, for even ``n``, the Nyquist) frequency, 2 otherwise."""
    c = np.full(m, 2.0)
    c[0] = 1.0
    if n % 2 == 0:
        c[-1] = 1.0
    shape = [1] * ndim
    shape[ax] = m
    return c.reshape(shape)


def _transform(fn: Callable[..., Any], pullback_of: Callable[..., Any]) -> Callable[..., Any]:
    """An rrule for a transform ``fn``; ``pullback_of(g, in_sizes, axes, sizes, norm, shape)``
    computes the cotangent of the (cropped/padded) input."""

    def impl(a: Any, *pos: Any, **kw: Any) -> tuple[Any, Callable[[Any], tuple[Any, ...]]]:
        y = fn(a, *pos, **kw)
        p = bind(fn, 1, a, *pos, **kw)
        ta = like(np.asarray(a))
        axes, sizes = _axes_sizes(p, ta.shape)
        in_sizes = [ta.shape[ax] for ax in axes]
        norm = _SWAP[p["norm"]]

        def pullback(g: Any) -> tuple[Any, ...]:
            cot = pullback_of(np.asarray(g), in_sizes, axes, sizes, norm)
            return (fit(_crop_pad(cot, in_sizes, axes), ta), *nones(pos))

        return y, pullback

    impl.__name__ = impl.__qualname__ = f"_{fn.__name__}_rrule"
    impl.__doc__ = f"``fft.{fn.__name__}``: the adjoint transform (see the module docstring)."
    return impl


def _complex(adjoint: Callable[..., Any]) -> Callable[..., Any]:
    """Pullback of a complex transform: its adjoint over the same axes."""
    return lambda g, in_sizes, axes, sizes, norm: adjoint(g, axes=axes, norm=norm)


def _real_forward(g: Any, in_sizes: list[int], axes: list[int], sizes: list[int] | None, norm: Any) -> Any:
    """Pullback of ``rfftn``-like transforms: zero-pad the half spectrum, adjoint, real part."""
    n = (sizes or in_sizes)[-1]
    full = _crop_pad(g, [n], axes[-1:])
    return np.real(F.ifftn(full, axes=axes, norm=norm))


def _real_inverse(g: Any, in_sizes: list[int], axes: list[int], sizes: list[int] | None, norm: Any) -> Any:
    """Pullback of ``irfftn``-like transforms: Hermitian weights times ``rfftn`` of the cotangent."""
    n = sizes[-1] if sizes else 2 * (in_sizes[-1] - 1)
    half = F.rfftn(g, axes=axes, norm=norm)
    return half * _hermitian_weights(n, half.shape[axes[-1]], axes[-1], half.ndim)


_NORMS = [S(_X, norm="ortho"), S(_X, norm="forward")]
_TRANSFORMS: dict[Callable[..., Any], tuple[Callable[..., Any], list[Any]]] = {
    F.fft: (_complex(F.ifftn), [S(_X), S(_Z), S(_X, 4), S(_Z, 9), S(_M, axis=0), *_NORMS]),
    F.ifft: (_complex(F.fftn), [S(_X), S(_Z), S(_Z, 4), S(_M, 7, 0), *_NORMS]),
    F.fft2: (_complex(F.ifftn), [S(_M), S(_ZM), S(_T, (2, 5)), S(_T, axes=(0, 2), norm="ortho")]),
    F.ifft2: (_complex(F.fftn), [S(_ZM), S(_T, (4, 3), (0, 1))]),
    F.fftn: (_complex(F.ifftn), [S(_T), S(_ZM, (2, 6), (0, 1)), S(_T, None, (2,)), S(_T, norm="forward")]),
    F.ifftn: (_complex(F.fftn), [S(_T), S(_ZM, (5, 3), (0, 1))]),
    F.rfft: (_real_forward, [S(_X), S(_X5), S(_X, 5), S(_X, 8), S(_M, axis=0), *_NORMS]),
    F.rfft2: (_real_forward, [S(_M), S(_T, (3, 5))]),
    F.rfftn: (_real_forward, [S(_T), S(_T, (2, 3, 3), (0, 1, 2)), S(_M, norm="ortho")]),
    F.irfft: (_real_inverse, [S(_Z[:4]), S(_Z[:4], 7), S(_Z[:4], 4), S(_ZM, axis=0), S(_Z[:4], norm="ortho"),
                              S(_Z[:4], norm="forward")]),
    F.irfft2: (_real_inverse, [S(_ZM), S(_ZM, (3, 5))]),
    F.irfftn: (_real_inverse, [S(_ZM), S(_ZM[None] * 0.5 + 0.1, (2, 3, 4), (0, 1, 2))]),
}
# every transform implements its size, axes and norm parameters (all exercised by samples)
_ONE_AXIS, _AXES = "n axis norm", "s axes norm"
for _fn, (_pb, _s) in _TRANSFORMS.items():
    rrule(_fn, samples=_s, params=_ONE_AXIS if _fn in (F.fft, F.ifft, F.rfft, F.irfft) else _AXES)(_transform(_fn, _pb))
add_samples(F.ifft2, S(_ZM, norm="forward"))
add_samples(F.ifftn, S(_T, norm="ortho"))
add_samples(F.rfft2, S(_T, axes=(0, 2), norm="ortho"))
add_samples(F.irfft2, S(_ZM[None] * 0.5 + 0.1, axes=(0, 2), norm="forward"))
add_samples(F.irfftn, S(_ZM, norm="ortho"))


def _hfft_pullback(g: Any, in_sizes: list[int], axes: list[int], sizes: list[int] | None, norm: Any) -> Any:
    """``hfft(a) = irfft(conj(a))`` (opposite normalisation): conjugate the irfft cotangent."""
    return conj(_real_inverse(g, in_sizes, axes, sizes, _SWAP[norm]))


def _ihfft_pullback(g: Any, in_sizes: list[int], axes: list[int], sizes: list[int] | None, norm: Any) -> Any:
    """``ihfft(a) = conj(rfft(a))`` (opposite normalisation)."""
    return _real_forward(conj(g), in_sizes, axes, sizes, _SWAP[norm])


rrule(F.hfft, samples=[S(_Z[:4]), S(_Z[:4], 7), S(_Z[:4], norm="ortho"), S(_ZM, axis=0)], params=_ONE_AXIS)(_transform(F.hfft, _hfft_pullback))
rrule(F.ihfft, samples=[S(_X), S(_X5, norm="forward"), S(_M, 5, 0)], params=_ONE_AXIS)(_transform(F.ihfft, _ihfft_pullback))


def _shift(fn: Callable[..., Any], back: Callable[..., Any]) -> Callable[..., Any]:
    """rrule for ``fftshift``/``ifftshift``: a roll, whose transpose is the other shift."""

    def impl(x: Any, *pos: Any, **kw: Any) -> tuple[Any, Callable[[Any], tuple[Any, ...]]]:
        axes = bind(fn, 1, x, *pos, **kw)["axes"]
        tx = like(np.asarray(x))
        return fn(x, *pos, **kw), lambda g: (fit(back(g, axes), tx), *nones(pos))

    impl.__name__ = impl.__qualname__ = f"_{fn.__name__}_rrule"
    impl.__doc__ = f"``fft.{fn.__name__}``: a roll; its transpose is ``fft.{back.__name__}``."
    return impl


rrule(F.fftshift, samples=[S(_X5), S(_T, axes=1), S(_M, (0, 1))], params="axes")(_shift(F.fftshift, F.ifftshift))
rrule(F.ifftshift, samples=[S(_X5), S(_T, axes=(0, 2))], params="axes")(_shift(F.ifftshift, F.fftshift))
