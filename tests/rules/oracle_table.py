"""The oracle table: every built-in NumPy rule -> input strategy, keywords varied,
oracle, tolerance (see ``test_oracle.py``; the machinery is in ``oracle_engine.py``).

A generator ``gen(d)`` draws one :class:`Call` from a :class:`Draw` ``d``; inputs keep
clear of the points where a function is not differentiable (ties of max/min/sort,
``abs`` at 0, ``clip`` at its bounds, ...); the conventions chosen at those points are
tested separately in ``test_oracle.py`` against the engine whose convention we follow.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from oracle_engine import ALL, C128, F32, F64, ONLY64, REAL, Call, Draw, Spec

# --------------------------------------------------------------------------- ufuncs
# broadcasting pairs of shapes: equal, scalar-array, prepended axes, stretched axes, empty
PAIRS: tuple[tuple[tuple[int, ...], tuple[int, ...]], ...] = (
    ((3,), (3,)), ((), ()), ((2, 3), (3,)), ((2, 1), (1, 3)), ((1,), ()), ((0,), (0,)), ((), (2, 3)), ((0, 3), (1, 3)))


def _where_unary(m: Any) -> Callable[[Any, Any], Callable[..., Any]]:
    """The ``out=``/``where=`` form of a unary ufunc: ``x`` where ``m``, else ``o``."""
    def wrap(f: Any, xp: Any) -> Callable[..., Any]:
        if xp is np:
            return lambda x, o: f(x, out=o.copy(), where=m)
        return lambda x, o: xp.where(m, f(x), o)
    return wrap


def _where_binary(m: Any) -> Callable[[Any, Any], Callable[..., Any]]:
    def wrap(f: Any, xp: Any) -> Callable[..., Any]:
        if xp is np:
            return lambda a, b, o: f(a, b, out=o.copy(), where=m)
        return lambda a, b, o: xp.where(m, f(a, b), o)
    return wrap


def unary(dom: str = "R") -> Callable[[Draw], Call]:
    """``f(x)`` on a drawn shape, or its ``out=``/``where=`` form."""
    def gen(d: Draw) -> Call:
        shape = d.shape()
        x = d.arr(shape, dom)
        if d.flag():
            return Call((x, d.arr(shape, dom)), wrap=_where_unary(d.mask(shape)), label="where")
        return Call((x,))
    return gen


def binary(da: str = "R", db: str = "R", scalar: bool = True, where: bool = True) -> Callable[[Draw], Call]:
    """``f(a, b)`` on broadcasting shapes (or a Python float operand), or the ``where=`` form."""
    def gen(d: Draw) -> Call:
        sa, sb = d.pick(PAIRS)
        if d.flag():
            sa, sb = sb, sa
        a: Any = d.arr(sa, da)
        b: Any = d.arr(sb, db)
        if scalar and d.int(0, 3) == 0:
            a, b = (d.scalar(da), b) if d.flag() else (a, d.scalar(db))
        if where and d.int(0, 3) == 0:
            shape = np.broadcast_shapes(np.shape(a), np.shape(b))
            return Call((a, b, d.arr(shape, "R")), wrap=_where_binary(d.mask(shape)), label="where")
        return Call((a, b))
    return gen


def outer(da: str = "R", db: str = "R") -> Callable[[Draw], Call]:
    def gen(d: Draw) -> Call:
        return Call((d.arr(d.shape(), da), d.arr(d.shape(), db)))
    return gen


def outer_ref(name: str) -> Callable[..., Any]:
    """``jnp.<name>`` applied as ``np.<name>.outer``: ``b.ndim`` axes appended to ``a``."""
    def ref(a: Any, b: Any) -> Any:
        from oracle_engine import jax_modules
        f = getattr(jax_modules()[1], name)
        return f(a.reshape(a.shape + (1,) * b.ndim), b)
    return ref


def ints(d: Draw, shape: Any, lo: int, hi: int) -> np.ndarray:
    return d.rng.integers(lo, hi, shape)


def ufn(gen: Callable[[Draw], Call], dtypes: Any = REAL, **kw: Any) -> Spec:
    return Spec(gen, dtypes=dtypes, **kw)


UNARY: dict[str, tuple[str, Any]] = {
    # name: (domain, dtypes)
    "negative": ("R", ALL), "positive": ("R", ALL), "square": ("R", ALL), "sqrt": ("P", ALL),
    "cbrt": ("P", REAL), "reciprocal": ("P", ALL), "exp": ("R", ALL), "exp2": ("R", ALL),
    "expm1": ("R", ALL), "log": ("P", ALL), "log2": ("P", ALL), "log10": ("P", ALL),
    "log1p": ("P", ALL), "sin": ("R", ALL), "cos": ("R", ALL), "tan": ("T", ALL),
    "arcsin": ("U", ALL), "arccos": ("U", ALL), "arctan": ("R", ALL), "sinh": ("R", ALL),
    "cosh": ("R", ALL), "tanh": ("R", ALL), "arcsinh": ("R", ALL), "arccosh": ("G", ALL),
    "arctanh": ("U", ALL), "deg2rad": ("R", REAL), "radians": ("R", REAL), "rad2deg": ("R", REAL),
    "degrees": ("R", REAL), "fabs": ("R0", REAL), "sinc": ("R0", ALL),
    "floor": ("W", REAL), "ceil": ("W", REAL), "rint": ("W", REAL), "trunc": ("W", REAL),
    "absolute": ("R0", ALL), "sign": ("R0", ALL), "conjugate": ("R", ALL),
}

TABLE: dict[str, Spec] = {}
for _n, (_dom, _dt) in UNARY.items():
    TABLE[_n] = ufn(unary(_dom), _dt, keywords=("out", "where"))

# binary ufuncs: name -> (domain a, domain b, dtypes, oracle)
BINARY: dict[str, tuple[str, str, Any]] = {
    "add": ("R", "R", ALL), "subtract": ("R", "R", ALL), "multiply": ("R", "R", ALL),
    "divide": ("R", "R0", ALL), "power": ("P", "R", ALL), "float_power": ("P", "R", REAL),
    "arctan2": ("R0", "R0", REAL), "hypot": ("R0", "R0", REAL), "logaddexp": ("R", "R", REAL),
    "logaddexp2": ("R", "R", REAL), "maximum": ("R", "R", REAL), "minimum": ("R", "R", REAL),
    "fmax": ("R", "R", REAL), "fmin": ("R", "R", REAL), "remainder": ("W", "R0", REAL),
    "fmod": ("W", "R0", REAL), "copysign": ("R0", "R0", REAL),
}
for _n, (_da, _db, _dt) in BINARY.items():
    TABLE[_n] = ufn(binary(_da, _db), _dt, keywords=("out", "where"))
    TABLE[f"{_n}.outer"] = ufn(outer(_da, _db), _dt, ref=outer_ref(_n))

# Functions with no float-differentiable output (registered inactive).
INACTIVE: set[str] = set("""
greater greater_equal less less_equal equal not_equal logical_and logical_or logical_xor logical_not
isfinite isinf isnan isnat signbit isposinf isneginf isclose allclose array_equal array_equiv iscomplex
isreal iscomplexobj isrealobj isin any all bitwise_and bitwise_or bitwise_xor invert left_shift right_shift
gcd lcm argmax argmin nanargmax nanargmin argsort argpartition lexsort nonzero flatnonzero argwhere
searchsorted digitize count_nonzero bincount unravel_index ravel_multi_index tril_indices_from
triu_indices_from diag_indices_from shape ndim size may_share_memory shares_memory result_type
min_scalar_type zeros_like ones_like empty_like
""".split())

# Known wrong derivatives fixed by another helper: name -> what the main table keeps
# away from (each has a strict-xfail regression test in test_oracle.py).
KNOWN_BROKEN: dict[str, str] = {}


# ------------------------------------------------------------------- reductions
ND = ((2, 3), (3,), (), (1,), (0,), (2, 1, 3), (0, 3))
ND1 = ND[:2] + ND[3:]  # ufunc.reduce's default axis=0 needs an axis


def axis_of(d: Draw, ndim: int, tuples: bool = True, none: bool = True) -> Any:
    """``None``, an axis (negative too) or a tuple of axes of an ``ndim`` array."""
    options: list[Any] = [None] if none or ndim == 0 else []
    options += [k for k in range(-ndim, ndim)]
    if tuples and ndim >= 2:
        options += [(0, ndim - 1), ()]
    return d.pick(options)


def reduce_(dom: str = "R", min_size: int = 0, ddof: bool = False, where: bool = False, nans: bool = False,
            axis_kw: str = "axis", shapes: Any = ND, keepdims: bool = True, tuples: bool = True) -> Callable[[Draw], Call]:
    """``f(x, axis=..., keepdims=..., [ddof=..., where=...])``; ``nans`` puts a NaN in some rows."""
    def gen(d: Draw) -> Call:
        shape = d.shape(min_size, shapes)
        x = d.arr(shape, dom)
        kw: dict[str, Any] = {}
        ax = axis_of(d, len(shape), tuples)
        if ax is not None or d.flag():
            kw[axis_kw] = ax
        if keepdims and d.flag():
            kw["keepdims"] = True
        if ddof and d.flag():
            kw["ddof"] = 1
        if where and d.int(0, 2) == 0 and x.size:
            m = d.mask(shape)
            m.reshape(-1)[0] = True
            kw["where"] = m
        if nans and x.size > 1:
            x.reshape(-1)[d.int(1, x.size - 1)] = np.nan
        return Call((x,), kw)
    return gen






REDUCE: dict[str, tuple[Callable[[Draw], Call], Any]] = {
    "sum": (reduce_(where=True), ALL),
    "nansum": (reduce_(nans=True), REAL),
    "mean": (reduce_(min_size=2, shapes=((2, 3), (3,), (2, 1, 3)), tuples=False), ALL),
    "nanmean": (reduce_(nans=True, min_size=4, shapes=((2, 3), (4,)), tuples=False), REAL),
    "prod": (reduce_("R0"), ALL),
    "max": (reduce_(min_size=1, shapes=((2, 3), (3,), (), (1,), (2, 1, 3)), tuples=False), REAL),
    "amax": (reduce_(min_size=1, shapes=((2, 3), (3,), (), (2, 1, 3)), tuples=False), REAL),
    "min": (reduce_(min_size=1, shapes=((2, 3), (3,), (), (1,), (2, 1, 3)), tuples=False), REAL),
    "amin": (reduce_(min_size=1, shapes=((2, 3), (3,), (), (2, 1, 3)), tuples=False), REAL),
    "nanmax": (reduce_(nans=True, min_size=4, shapes=((2, 4), (4,)), tuples=False), REAL),
    "nanmin": (reduce_(nans=True, min_size=4, shapes=((2, 4), (4,)), tuples=False), REAL),
    "var": (reduce_(min_size=3, ddof=True, shapes=((3, 4), (3,), (2, 3, 4)), tuples=False), ALL),
    "std": (reduce_(min_size=3, ddof=True, shapes=((3, 4), (3,), (2, 3, 4)), tuples=False), ALL),
    "ptp": (reduce_(min_size=1, shapes=((2, 3), (3,), (2, 1, 3)), tuples=False), REAL),
    "nanvar": (reduce_(nans=True, min_size=8, ddof=True, shapes=((2, 4), (8,)), tuples=False), REAL),
    "nanstd": (reduce_(nans=True, min_size=8, ddof=True, shapes=((2, 4), (8,)), tuples=False), REAL),
    "logaddexp.reduce": (reduce_(min_size=1, shapes=((2, 3), (3,), (2, 1, 3)), tuples=False), REAL),
    "logaddexp2.reduce": (reduce_(min_size=1, shapes=((2, 3), (3,), (2, 1, 3)), tuples=False), REAL),
    "add.reduce": (reduce_(shapes=ND1), ALL),
    "multiply.reduce": (reduce_("R0", shapes=ND1), ALL),
    "maximum.reduce": (reduce_(min_size=1, shapes=((2, 3), (3,), (2, 1, 3)), tuples=False), REAL),
    "minimum.reduce": (reduce_(min_size=1, shapes=((2, 3), (3,), (2, 1, 3)), tuples=False), REAL),
    "fmax.reduce": (reduce_(min_size=1, shapes=((2, 3), (3,), (2, 1, 3)), tuples=False), REAL),
    "fmin.reduce": (reduce_(min_size=1, shapes=((2, 3), (3,), (2, 1, 3)), tuples=False), REAL),
}


def _lse_ref(base2: bool) -> Callable[..., Any]:
    def ref(x: Any, axis: Any = 0, keepdims: bool = False) -> Any:
        from oracle_engine import jax_modules
        jax, jnp = jax_modules()
        if base2:
            return jax.nn.logsumexp(x * np.log(2.0), axis=axis, keepdims=keepdims) / np.log(2.0)
        return jax.nn.logsumexp(x, axis=axis, keepdims=keepdims)
    return ref


def _ufunc_reduce_ref(name: str) -> Callable[..., Any]:
    """``jnp.<name>.reduce`` with NumPy's default ``axis=0``."""
    def ref(x: Any, axis: Any = 0, keepdims: bool = False) -> Any:
        from oracle_engine import jax_modules
        jnp = jax_modules()[1]
        f = {"add": jnp.sum, "multiply": jnp.prod, "maximum": jnp.max, "minimum": jnp.min,
             "fmax": jnp.nanmax, "fmin": jnp.nanmin}[name]
        return f(x, axis=axis, keepdims=keepdims)
    return ref


for _n, (_g, _dt) in REDUCE.items():
    _ref: Any = None
    if _n.startswith("logaddexp"):
        _ref = _lse_ref(_n.startswith("logaddexp2"))
    elif _n.endswith(".reduce"):
        _ref = _ufunc_reduce_ref(_n.split(".")[0])
    TABLE[_n] = Spec(_g, dtypes=_dt, ref=_ref, keywords=("axis", "keepdims", "ddof", "where"))
