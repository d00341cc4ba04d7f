"""Machinery of the differential oracle tests (``test_oracle.py``): drawing inputs,
running ``ar.vjp`` and an oracle (JAX, HIPS autograd or central finite differences)
on the same call with the same random cotangent, and comparing.

Complex convention: JAX and autograd pull a cotangent back through the transpose of
the linearisation (``ct_z = ct_y * f'(z)`` for a holomorphic ``f``), the library
follows ChainRules (``zbar = conj(f'(z)) * ybar``, see ``activerules/rules/elementwise.py``),
so the library's cotangent is ``conj(oracle_vjp(conj(ybar)))``; on real arrays the two agree.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

import activerules as ar

F64, F32, C128 = np.dtype(np.float64), np.dtype(np.float32), np.dtype(np.complex128)
REAL = (F64, F32)
ALL = (F64, F32, C128)
ONLY64 = (F64,)


@functools.cache
def jax_modules() -> tuple[Any, Any]:
    """``(jax, jax.numpy)`` in double precision, imported once."""
    import jax

    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp

    return jax, jnp


@functools.cache
def autograd_modules() -> tuple[Any, Any]:
    """``(autograd, autograd.numpy)``."""
    import autograd
    import autograd.numpy as anp

    return autograd, anp


# value domains: name -> sampler(rng, shape) of real values; the complex variant adds an
# imaginary part in (-1, 1) (scaled by `imag`) that keeps clear of the branch cuts
def _sym(lo: float, hi: float) -> Callable[[Any, Any], Any]:
    """|x| in (lo, hi) with a random sign: away from 0."""
    return lambda rng, shape: rng.uniform(lo, hi, shape) * rng.choice([-1.0, 1.0], shape)


DOMAINS: dict[str, tuple[Callable[[Any, Any], Any], float]] = {
    "R": (lambda rng, shape: rng.uniform(-2.0, 2.0, shape), 1.0),   # the real line (zero included)
    "R0": (_sym(0.2, 2.0), 1.0),                                      # real, away from 0
    "P": (lambda rng, shape: rng.uniform(0.3, 2.5, shape), 0.5),     # positive
    "U": (lambda rng, shape: rng.uniform(-0.8, 0.8, shape), 0.3),    # open unit interval
    "G": (lambda rng, shape: rng.uniform(1.3, 3.0, shape), 0.5),     # > 1
    "T": (lambda rng, shape: rng.uniform(-1.2, 1.2, shape), 0.3),    # tan: away from pi/2
    "W": (lambda rng, shape: rng.uniform(-6.0, 6.0, shape), 1.0),    # wide (phases, remainders)
}


@dataclass
class Call:
    """One generated call: positional ``args`` (float and complex arrays and Python floats
    are differentiated), keyword ``kwargs`` (constants), and ``wrap`` (optional): a builder
    ``wrap(f, xp) -> g`` of the differentiated program from the function ``f`` of engine
    ``xp`` (``numpy`` for the library, ``jax.numpy``/``autograd.numpy`` for the oracle)."""

    args: tuple[Any, ...]
    kwargs: dict[str, Any] = field(default_factory=dict)
    wrap: Callable[[Any, Any], Callable[..., Any]] | None = None
    label: str = ""
    oracle: str | None = None  # overrides the row's oracle for this call


class Draw:
    """What a table entry's generator draws from: hypothesis choices, one dtype and one
    value style per example. Values come from a NumPy generator seeded by a drawn integer
    (drawing element by element costs more than the test)."""

    SHAPES: tuple[tuple[int, ...], ...] = ((3,), (), (1,), (0,), (2, 3), (2, 1, 3))

    def __init__(self, data: Any, dtypes: Sequence[np.dtype[Any]], styles: Sequence[str]) -> None:
        from hypothesis import strategies as st

        self._st, self._data = st, data
        self.dtype = self.pick(list(dtypes))
        self.style = self.pick(list(styles))
        self.rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1), label="seed"))

    def pick(self, options: Sequence[Any]) -> Any:
        """One of ``options`` (the first is the simplest)."""
        return self._data.draw(self._st.sampled_from(list(options)))

    def flag(self) -> bool:
        return bool(self._data.draw(self._st.booleans()))

    def int(self, lo: int, hi: int) -> int:
        return int(self._data.draw(self._st.integers(lo, hi)))

    def shape(self, min_size: int = 0, shapes: Sequence[tuple[int, ...]] | None = None) -> tuple[int, ...]:
        """A shape from ``shapes`` (default :data:`SHAPES`) with at least ``min_size`` elements."""
        return self.pick([s for s in (shapes or self.SHAPES) if int(np.prod(s)) >= min_size])

    def real(self, shape: Sequence[int], dom: str = "R") -> np.ndarray:
        """Real float64 values of ``dom`` (ties and zeros by the example's style)."""
        shape = tuple(shape)
        sampler, _ = DOMAINS[dom]
        x = np.asarray(sampler(self.rng, shape), float)
        if self.style == "ties" and x.size:
            pool = np.asarray(sampler(self.rng, (2,)), float)
            x = self.rng.choice(pool, shape)
        elif self.style == "zeros" and x.size:
            x = np.where(self.rng.random(shape) < 0.4, 0.0, x)
        return x

    def arr(self, shape: Sequence[int], dom: str = "R", dtype: np.dtype[Any] | None = None) -> np.ndarray:
        """An array of the example's dtype (or ``dtype``) with values in ``dom``."""
        dt = np.dtype(dtype or self.dtype)
        x = self.real(shape, dom)
        if dt.kind == "c":
            x = x + 1j * DOMAINS[dom][1] * self.rng.uniform(-1.0, 1.0, np.shape(x))
        return np.asarray(x, dtype=dt)  # an array also for shape () (a complex sum makes a scalar)

    def scalar(self, dom: str = "R") -> float:
        """A Python float (an Active scalar for ``ar.vjp``)."""
        return float(self.real((), dom))

    def mask(self, shape: Sequence[int]) -> np.ndarray:
        return self.rng.random(tuple(shape)) < 0.6


@dataclass(frozen=True)
class Spec:
    """One row of the oracle table.

    ``gen`` draws a :class:`Call`; ``oracle`` is ``"jax"``, ``"autograd"`` or ``"fd"``;
    ``ref`` is the oracle's function (default: the same name in ``jax.numpy`` or
    ``autograd.numpy``; unused by ``"fd"``, which differentiates the NumPy function);
    ``dtypes`` the input dtypes drawn; ``styles`` the value styles (``rand``, ``ties``,
    ``zeros``); ``keywords`` the keywords ``gen`` varies (for the reader); ``tol`` the
    relative tolerance in float64, ``tol32`` with float32 inputs."""

    gen: Callable[[Draw], Call]
    oracle: str = "jax"
    ref: Any = None
    dtypes: tuple[np.dtype[Any], ...] = REAL
    styles: tuple[str, ...] = ("rand",)
    keywords: tuple[str, ...] = ()
    tol: float = 1e-9
    tol32: float = 2e-4


# ------------------------------------------------------------------ running a call
def differentiated(a: Any) -> bool:
    """Whether ``ar.vjp`` differentiates the argument ``a`` (float/complex arrays, Python floats)."""
    if type(a) is float or type(a) is complex:
        return True
    return isinstance(a, np.ndarray) and a.dtype.kind in "fc"


def leaves(y: Any) -> list[Any]:
    """The arrays of a (possibly nested tuple/list) output."""
    if isinstance(y, (tuple, list)):
        return [leaf for item in y for leaf in leaves(item)]
    return [y]


def rebuild(y: Any, it: Any) -> Any:
    """``y``'s tuple/list structure filled from the iterator ``it``."""
    if isinstance(y, (tuple, list)):
        return tuple(rebuild(item, it) for item in y)
    return next(it)


def cotangents(y: Any, rng: Any) -> list[Any]:
    """A random cotangent per output leaf (``None`` for integer and boolean leaves)."""
    out = []
    for leaf in leaves(y):
        a = np.asarray(leaf)
        if a.dtype.kind not in "fc":
            out.append(None)
            continue
        g = rng.standard_normal(a.shape)
        if a.dtype.kind == "c":
            g = g + 1j * rng.standard_normal(a.shape)
        out.append(g.astype(a.dtype) if isinstance(leaf, np.ndarray) else g.astype(a.dtype)[()])
    return out


def program(spec_fn: Any, call: Call, xp: Any) -> Callable[..., Any]:
    """The function of the differentiated arguments only, everything else bound."""
    f = call.wrap(spec_fn, xp) if call.wrap is not None else spec_fn
    diff = [i for i, a in enumerate(call.args) if differentiated(a)]

    def run(*d: Any) -> Any:
        args = list(call.args)
        for i, v in zip(diff, d):
            args[i] = v
        return f(*args, **call.kwargs)

    return run


def widen(a: Any) -> Any:
    """float32 -> float64, complex64 -> complex128 (the oracle runs in double precision)."""
    if isinstance(a, np.ndarray) and a.dtype.kind in "fc":
        return a.astype(np.complex128 if a.dtype.kind == "c" else np.float64)
    return a


def ours(fn: Any, call: Call, rng: Any) -> tuple[Any, list[Any], list[Any]]:
    """``(y, cotangent leaves, argument cotangents)`` from ``ar.vjp``."""
    d = [a for a in call.args if differentiated(a)]
    y, pullback = ar.vjp(program(fn, call, np), *d)
    gs = cotangents(y, rng)
    if isinstance(y, (tuple, list)):
        cots = pullback(rebuild(y, iter(gs)))
    else:
        cots = pullback(gs[0])
    return y, gs, list(cots)


def by_jax(ref: Any, call: Call, gs: list[Any]) -> tuple[Any, list[Any]]:
    """The oracle's ``(y, argument cotangents)`` from ``jax.vjp`` (eager)."""
    jax, jnp = jax_modules()
    wide = Call(tuple(widen(a) for a in call.args), call.kwargs, call.wrap)
    d = [a for a in wide.args if differentiated(a)]
    y, pull = jax.vjp(program(ref, wide, jnp), *d)
    flat, tree = jax.tree.flatten(y)
    assert len(flat) == len(gs), f"oracle returned {len(flat)} outputs, the library {len(gs)}"
    cts = []
    for leaf, g in zip(flat, gs):
        if g is None or not jnp.issubdtype(leaf.dtype, jnp.inexact):
            cts.append(np.zeros(leaf.shape, jax.dtypes.float0) if not jnp.issubdtype(leaf.dtype, jnp.inexact)
                       else jnp.zeros_like(leaf))
        else:
            cts.append(jnp.asarray(np.conj(g), dtype=leaf.dtype))
    cots = pull(jax.tree.unflatten(tree, cts))
    return [np.asarray(v) for v in flat], [np.conj(np.asarray(c)) for c in cots]


def by_autograd(ref: Any, call: Call, gs: list[Any]) -> tuple[Any, list[Any]]:
    """The oracle's ``(y, argument cotangents)`` from HIPS autograd's ``make_vjp``."""
    autograd, anp = autograd_modules()
    wide = Call(tuple(widen(a) for a in call.args), call.kwargs, call.wrap)
    d = tuple(a for a in wide.args if differentiated(a))
    f = program(ref, wide, anp)
    with warnings.catch_warnings():  # a piecewise-constant function (fix): its vjp is 0, as it should be
        warnings.filterwarnings("ignore", "Output seems independent of input", UserWarning)
        pull, y = autograd.make_vjp(lambda t: f(*t))(d)
    ys = leaves(y)
    g = [np.zeros(np.shape(v)) if gi is None else np.conj(gi).astype(np.result_type(v, gi))
         for v, gi in zip(ys, gs)]
    cots = pull(rebuild(y, iter(g)) if isinstance(y, (tuple, list)) else g[0])
    return [np.asarray(v) for v in ys], [np.conj(np.asarray(c)) for c in cots]


def by_differences(fn: Any, call: Call, gs: list[Any], h: float = 1e-6) -> tuple[Any, list[Any]]:
    """Central finite differences of ``L = Re sum(conj(g) * f(x))`` in every real
    coordinate of the differentiated arguments (in double precision)."""
    wide = Call(tuple(widen(a) for a in call.args), call.kwargs, call.wrap)
    d = [a for a in wide.args if differentiated(a)]
    f = program(fn, wide, np)

    def loss(*x: Any) -> float:
        total = 0.0
        for v, g in zip(leaves(f(*x)), gs):
            if g is not None:
                total += float(np.real(np.sum(np.conj(g) * np.asarray(v))))
        return total

    grads = []
    for k, a in enumerate(d):
        arr = np.array(a, dtype=np.result_type(a, float), ndmin=0)
        grad = np.zeros(arr.shape, arr.dtype)
        for unit in ([1.0, 1j] if arr.dtype.kind == "c" else [1.0]):
            for idx in np.ndindex(arr.shape):
                up_x, down_x = arr.copy(), arr.copy()
                up_x[idx] += h * unit
                down_x[idx] -= h * unit
                up = _with(d, k, up_x if isinstance(a, np.ndarray) else up_x[()])
                down = _with(d, k, down_x if isinstance(a, np.ndarray) else down_x[()])
                grad[idx] += unit * (loss(*up) - loss(*down)) / (2 * h)
        grads.append(grad)
    return [np.asarray(v) for v in leaves(f(*d))], grads


def _with(d: list[Any], k: int, v: Any) -> list[Any]:
    out = list(d)
    out[k] = v
    return out


def compare(name: str, y: Any, expected_y: list[Any], got: list[Any], expected: list[Any],
            tol: float, single: bool, tol32: float = 2e-4) -> None:
    """Assert the primal outputs and the cotangents agree (``None`` counts as zero)."""
    rtol = max(tol, tol32) if single else tol
    ys = leaves(y)
    assert len(ys) == len(expected_y), f"{name}: {len(ys)} outputs, oracle {len(expected_y)}"
    for k, (a, b) in enumerate(zip(ys, expected_y)):
        b = np.asarray(b)
        np.testing.assert_allclose(np.asarray(a), b, rtol=rtol, atol=rtol * max(1.0, float(np.max(np.abs(b), initial=0))),
                                   err_msg=f"{name}: primal output {k} differs from the oracle's")
    assert len(got) == len(expected), f"{name}: {len(got)} cotangents, oracle {len(expected)}"
    for k, (a, b) in enumerate(zip(got, expected)):
        b = np.asarray(b)
        a = np.zeros(b.shape, b.dtype) if a is None else np.asarray(a)
        assert a.shape == b.shape, f"{name}: cotangent {k} has shape {a.shape}, oracle {b.shape}"
        if not single:
            assert a.dtype.kind == b.dtype.kind or not np.any(np.imag(b)), \
                f"{name}: cotangent {k} dtype {a.dtype}, oracle {b.dtype}"
        np.testing.assert_allclose(a, b, rtol=rtol, atol=rtol * max(1.0, float(np.max(np.abs(b), initial=0))),
                                   err_msg=f"{name}: cotangent of differentiated argument {k}")
