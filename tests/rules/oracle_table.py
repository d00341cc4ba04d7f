"""The oracle table: every built-in NumPy rule -> input strategy, keywords varied,
oracle, tolerance (see ``test_oracle.py``; the machinery is in ``oracle_engine.py``).

A generator ``gen(d)`` draws one :class:`Call` from a :class:`Draw` ``d``; inputs keep
clear of the points where a function is not differentiable (ties of max/min/sort,
``abs`` at 0, ``clip`` at its bounds, ...); the conventions chosen at those points are
tested separately in ``test_oracle.py`` against the engine whose convention we follow.
"""

from __future__ import annotations

import dataclasses
import operator
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
    "degrees": ("R", REAL), "fabs": ("R0", REAL),
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
searchsorted digitize count_nonzero unravel_index ravel_multi_index tril_indices_from
triu_indices_from diag_indices_from shape ndim size may_share_memory shares_memory result_type
min_scalar_type zeros_like ones_like empty_like
""".split())

# Known wrong derivatives fixed by another helper: name -> what the main table keeps
# away from (each has a strict-xfail regression test in test_oracle.py). Empty: every
# row tests the whole function.
KNOWN_BROKEN: dict[str, str] = {}
# rows with nothing left to test until the fix: their main test is a strict xfail
WHOLLY_BROKEN: set[str] = set()


def _jnp() -> Any:
    from oracle_engine import jax_modules
    return jax_modules()[1]


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


def one_number(call: Call) -> Call:
    """``nanstd``'s ``call`` sent to central differences where a slice holds one number and
    ``ddof`` is 0: std at zero spread has derivative 0 by the documented convention (as
    PyTorch; JAX gives NaN), which central differences reproduce (std over one number is 0
    whatever the number)."""
    x, kw = call.args[0], call.kwargs
    if kw.get("ddof", 0) == 0 and np.any(np.sum(~np.isnan(x), axis=kw.get("axis")) == 1):
        call.oracle, call.label = "fd", "one number"
    return call


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
    "nanstd": (lambda d: one_number(reduce_(nans=True, min_size=8, ddof=True, shapes=((2, 4), (8,)),
                                            tuples=False)(d)), REAL),
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


def complex_by(oracle: str, gen: Callable[[Draw], Call]) -> Callable[[Draw], Call]:
    """``gen`` whose complex calls go to another oracle (JAX's derivative differs there)."""
    def g(d: Draw) -> Call:
        call = gen(d)
        if d.dtype.kind == "c":
            call.oracle = oracle
        return call
    return g


# JAX differentiates complex sign as a constant (zero); z/|z| is not
TABLE["sinc"] = Spec(lambda d: Call((d.arr(d.shape(), "R0"),)), dtypes=ALL)  # not a ufunc: no out/where
TABLE["sign"] = Spec(complex_by("fd", unary("R0")), dtypes=ALL, keywords=("out", "where"))


# -------------------------------------------------------- other elementwise functions
def one(dom: str = "R", shapes: Any = None, min_size: int = 0,
        kw: Callable[[Draw], dict[str, Any]] | None = None) -> Callable[[Draw], Call]:
    """``f(x, **kw(d))`` on a drawn shape."""
    def gen(d: Draw) -> Call:
        return Call((d.arr(d.shape(min_size, shapes), dom),), kw(d) if kw else {})
    return gen


def with_ints(dom: str = "R", lo: int = -3, hi: int = 4) -> Callable[[Draw], Call]:
    """``f(x, n)`` with an integer array ``n`` broadcasting against ``x``."""
    def gen(d: Draw) -> Call:
        sa, sb = d.pick(PAIRS)
        return Call((d.arr(sa, dom), ints(d, sb, lo, hi)))
    return gen


def heavi(d: Draw) -> Call:
    sa, sb = d.pick(PAIRS)
    x = d.arr(sa, "R0")
    if x.size:  # the step itself: x == 0 selects the second argument
        x.reshape(-1)[0] = 0.0
    return Call((x, d.arr(sb, "R")))


def heavi_outer(d: Draw) -> Call:
    x = d.arr(d.shape(), "R0")
    if x.size:
        x.reshape(-1)[0] = 0.0
    return Call((x, d.arr(d.shape(), "R")))


def ints_outer(d: Draw) -> Call:
    return Call((d.arr(d.shape(), "R"), ints(d, d.shape(), -3, 4)))


TABLE.update({
    "fix": Spec(one("W"), oracle="autograd"),  # jax.numpy has no fix
    "round": Spec(one("W", kw=lambda d: d.pick([{}, {"decimals": 1}, {"decimals": -1}]))),
    "around": Spec(one("W", kw=lambda d: d.pick([{}, {"decimals": 2}])), ref="round"),
    "floor_divide": Spec(binary("W", "R0", where=False)),
    "angle": Spec(one("R0", kw=lambda d: d.pick([{}, {"deg": True}])), dtypes=ALL),
    "real": Spec(one(), dtypes=ALL),
    "imag": Spec(one(), dtypes=ALL),
    "nan_to_num": Spec(one(), dtypes=ALL),
    "heaviside": Spec(heavi),
    "heaviside.outer": Spec(heavi_outer, ref=outer_ref("heaviside")),
    "ldexp": Spec(with_ints()),
    "ldexp.outer": Spec(ints_outer, ref=outer_ref("ldexp")),
})


def clip_gen(d: Draw) -> Call:
    """``clip(x, lo, hi)`` with array, scalar or missing bounds (lo < hi, x off the bounds)."""
    sa, sb = d.pick(PAIRS)
    x = d.arr(sa, "W")
    lo: Any = -d.arr(sb, "P")
    hi: Any = d.arr(sb, "P")
    form = d.pick(["both", "lo", "hi", "keywords"])
    if form == "lo":
        return Call((x, lo, None))
    if form == "hi":
        return Call((x, None, hi))
    if form == "keywords":
        return Call((x,), {"a_min": -0.5, "a_max": 1.0})
    return Call((x, lo, hi))


def clip_ref(x: Any, lo: Any = None, hi: Any = None, a_min: Any = None, a_max: Any = None) -> Any:
    from oracle_engine import jax_modules
    jnp = jax_modules()[1]
    return jnp.clip(x, a_min if lo is None else lo, a_max if hi is None else hi)


def where_gen(d: Draw) -> Call:
    sa, sb = d.pick(PAIRS)
    shape = np.broadcast_shapes(sa, sb)
    return Call((d.mask(d.pick([shape, sb])), d.arr(sa), d.arr(sb)))


def interp_gen(d: Draw) -> Call:
    n = d.int(2, 5)
    xp = np.cumsum(d.rng.uniform(0.3, 1.0, n)) - 1.0
    left = d.pick([{}, {"left": -1.5, "right": 2.5}])
    x = d.rng.uniform(xp[0] - 0.8, xp[-1] + 0.8, d.shape(shapes=((4,), (), (2, 3), (0,))))
    return Call((x.astype(d.dtype), xp.astype(d.dtype), d.arr((n,))), left)


def polyval_gen(d: Draw) -> Call:
    return Call((d.arr((d.int(1, 4),), "R", F64 if d.dtype == F32 else d.dtype), d.arr(d.shape())))


def at_gen(dom: str) -> Callable[[Draw], Call]:
    """``ufunc.at(a, idx, b)`` on a copy of ``a``, with repeated indices."""
    def gen(d: Draw) -> Call:
        n = d.int(1, 4)
        idx = d.rng.integers(0, n, d.int(0, 5))
        b = d.arr(d.pick([idx.shape, ()]), dom)
        return Call((d.arr((n,), dom), idx, b))
    return gen


def at_wrap(name: str, method: str, negate: bool = False) -> Callable[[Any, Any], Callable[..., Any]]:
    def wrap(f: Any, xp: Any) -> Callable[..., Any]:
        if xp is np:
            def run(a: Any, idx: Any, b: Any) -> Any:
                out = a.copy()
                getattr(np, name).at(out, idx, b)
                return out
            return run
        return lambda a, idx, b: getattr(a.at[idx], method)(-b if negate else b)
    return wrap


def at_spec(name: str, method: str, dom: str, negate: bool = False, oracle: str = "jax") -> Spec:
    g = at_gen(dom)

    def gen(d: Draw) -> Call:
        call = g(d)
        call.wrap = at_wrap(name, method, negate)
        return call
    return Spec(gen, keywords=("repeated indices",), oracle=oracle)


TABLE.update({
    "clip": Spec(clip_gen, keywords=("a_min", "a_max", "None bounds"), ref=clip_ref),
    "where": Spec(where_gen),
    "modf": Spec(one("W")),
    "divmod": Spec(binary("W", "R0", where=False)),
    "interp": Spec(interp_gen, keywords=("left", "right")),
    "polyval": Spec(polyval_gen, dtypes=ALL),
    "add.at": at_spec("add", "add", "R"),
    "subtract.at": at_spec("subtract", "add", "R", negate=True),
    # JAX differentiates scatter-multiply only with unique indices
    "multiply.at": at_spec("multiply", "multiply", "R0", oracle="fd"),
    "maximum.at": at_spec("maximum", "max", "R"),
    "minimum.at": at_spec("minimum", "min", "R"),
})


# ------------------------------------------------------------------------- scans
SCAN_SHAPES = ((2, 3), (4,), (1,), (0,), (2, 1, 3), (0, 3))


def scan(dom: str = "R", nans: bool = False, include_initial: bool = False, axis_needed: bool = False,
         shapes: Any = SCAN_SHAPES) -> Callable[[Draw], Call]:
    """``f(x[, axis])`` (and ``include_initial``); ``nans`` puts a NaN in the array."""
    def gen(d: Draw) -> Call:
        shape = d.shape(shapes=shapes)
        x = d.arr(shape, dom)
        kw: dict[str, Any] = {}
        if len(shape) > 1 or axis_needed or d.flag():
            kw["axis"] = d.pick(list(range(-len(shape), len(shape))))
        if include_initial and d.flag():
            kw["include_initial"] = True
        if nans and x.size > 1:
            x.reshape(-1)[d.int(0, x.size - 1)] = np.nan
        return Call((x,), kw)
    return gen


def fold_ref(op: str) -> Callable[..., Any]:
    """NumPy's left fold ``ufunc.reduce`` written with ``jax.numpy``."""
    def ref(x: Any, axis: Any = 0, keepdims: bool = False, initial: Any = None) -> Any:
        from oracle_engine import jax_modules
        jnp = jax_modules()[1]
        f = getattr(jnp, op)
        moved = jnp.moveaxis(x, axis, 0)
        acc = moved[0] if initial is None else f(initial, moved[0])
        for k in range(1, moved.shape[0]):
            acc = f(acc, moved[k])
        return jnp.expand_dims(acc, axis) if keepdims else acc
    return ref


def fold_gen(dom: str, max_len: int) -> Callable[[Draw], Call]:
    def gen(d: Draw) -> Call:
        n = d.int(1, max_len)
        shape = d.pick([(n,), (2, n), (n, 2)])
        axis = d.pick([k for k in range(len(shape)) if shape[k] == n])
        kw: dict[str, Any] = {"axis": axis}
        if d.flag():
            kw["keepdims"] = True
        if n < max_len and d.flag():  # (power's real folds are right for two operands only)
            kw["initial"] = 1.5
        return Call((d.arr(shape, dom),), kw)
    return gen


def reduceat_gen(dom: str) -> Callable[[Draw], Call]:
    """``ufunc.reduceat(x, indices, axis)``: increasing and decreasing (single-element) segments."""
    def gen(d: Draw) -> Call:
        n = d.int(1, 5)
        shape = d.pick([(n,), (2, n)])
        idx = np.sort(d.rng.integers(0, n, d.int(1, 4)))
        if d.flag():
            idx = idx[::-1].copy()
        return Call((d.arr(shape, dom), idx), {"axis": len(shape) - 1})
    return gen


def _running_ref(op: str) -> Callable[..., Any]:
    def ref(x: Any, axis: int = 0) -> Any:
        from oracle_engine import jax_modules
        return getattr(jax_modules()[1], op).accumulate(x, axis=axis)
    return ref


TABLE.update({
    "cumsum": Spec(scan(), dtypes=ALL, keywords=("axis",)),
    "cumprod": Spec(scan("R0"), dtypes=ALL, keywords=("axis",)),
    "add.accumulate": Spec(scan(axis_needed=True), dtypes=ALL, keywords=("axis",)),
    "multiply.accumulate": Spec(scan("R0", axis_needed=True), dtypes=ALL, keywords=("axis",)),
    "nancumsum": Spec(scan(nans=True), keywords=("axis",)),
    "nancumprod": Spec(scan("R0", nans=True), keywords=("axis",)),
    "cumulative_sum": Spec(scan(include_initial=True), dtypes=ALL, keywords=("axis", "include_initial")),
    "cumulative_prod": Spec(scan("R0", include_initial=True), dtypes=ALL, keywords=("axis", "include_initial")),
    "maximum.accumulate": Spec(scan(axis_needed=True), keywords=("axis",)),
    "minimum.accumulate": Spec(scan(axis_needed=True), keywords=("axis",)),
    "fmax.accumulate": Spec(scan(axis_needed=True), ref=_running_ref("maximum"), keywords=("axis",)),
    "fmin.accumulate": Spec(scan(axis_needed=True), ref=_running_ref("minimum"), keywords=("axis",)),
    "subtract.reduce": Spec(fold_gen("R", 4), dtypes=ALL, ref=fold_ref("subtract"), keywords=("axis", "keepdims", "initial")),
    "divide.reduce": Spec(fold_gen("R0", 4), dtypes=ALL, ref=fold_ref("divide"), keywords=("axis", "keepdims", "initial")),
    "power.reduce": Spec(fold_gen("P", 2), dtypes=REAL, ref=fold_ref("power"), keywords=("axis", "keepdims", "initial")),
    "add.reduceat": Spec(reduceat_gen("R"), dtypes=ALL, keywords=("axis",)),
    "multiply.reduceat": Spec(reduceat_gen("R0"), dtypes=ALL, keywords=("axis",)),
    "maximum.reduceat": Spec(reduceat_gen("R"), keywords=("axis",)),
    "minimum.reduceat": Spec(reduceat_gen("R"), keywords=("axis",)),
})


# ---------------------------------------------------------------- other reductions
def quantile_gen(kind: str) -> Callable[[Draw], Call]:
    """``median``/``quantile``/``percentile`` (method linear), ``q`` a scalar or an array."""
    def gen(d: Draw) -> Call:
        shape = d.shape(1, ((5,), (2, 4), (1,), (2, 3, 3)))
        x = d.arr(shape, "R")
        kw: dict[str, Any] = {}
        ax = axis_of(d, len(shape), tuples=False)
        if ax is not None:
            kw["axis"] = ax
        if d.flag():
            kw["keepdims"] = True
        if kind == "median":
            return Call((x,), kw)
        q: Any = d.rng.uniform(0.05, 0.95, d.pick([(), (3,)]))
        q = q * 100 if kind == "percentile" else q
        if d.flag():  # q by keyword: a constant
            return Call((x,), {**kw, "q": q})
        return Call((x, q), kw)
    return gen


def average_gen(d: Draw) -> Call:
    shape = d.shape(1, ((2, 3), (4,), (2, 1, 3)))
    x = d.arr(shape)
    form = d.pick(["plain", "axis", "weights", "weights-keyword"])
    if form == "plain":
        return Call((x,))
    ax = d.pick(list(range(len(shape))))
    if form == "axis":
        return Call((x, ax), {"keepdims": d.flag()})
    w = d.arr((shape[ax],), "P")
    if form == "weights":
        return Call((x, ax, w))
    return Call((x,), {"axis": ax, "weights": d.arr(shape, "P").astype(np.float64)})


def diff_gen(d: Draw) -> Call:
    shape = d.shape(1, ((5,), (2, 4), (3, 1, 4), (2,)))
    x = d.arr(shape)
    ax = d.pick(list(range(-len(shape), len(shape))))
    kw: dict[str, Any] = {"n": d.int(0, 2), "axis": ax}
    if d.flag():
        pshape = list(shape)
        pshape[ax] = 1
        kw["prepend"] = d.pick([0.5, d.arr(pshape, dtype=F64)])
        kw["append"] = d.arr(pshape, dtype=F64)
    return Call((x,), kw)


def gradient_gen(d: Draw) -> Call:
    """``gradient`` with scalar spacings; jax.numpy lacks ``edge_order``: those go to differences."""
    shape = d.pick([(4,), (3, 4), (2, 3, 3), (2,)])
    x = d.arr(shape)
    kw: dict[str, Any] = {}
    if min(shape) >= 3 and d.flag():
        kw["edge_order"] = 2
    if len(shape) > 1 and d.flag():
        kw["axis"] = d.pick(list(range(-len(shape), len(shape))))
        call = Call((x, d.scalar("P")), kw)
    else:
        call = Call((x, *([d.scalar("P") for _ in shape] if d.flag() else [])), kw)
    call.oracle = "fd" if "edge_order" in kw else None
    return call


def trace_gen(d: Draw) -> Call:
    shape = d.pick([(3, 3), (2, 3), (2, 3, 4), (0, 2)])
    kw: dict[str, Any] = {}
    if d.flag():
        kw["offset"] = d.int(-1, 1)
    if len(shape) == 3 and d.flag():
        kw["axis1"], kw["axis2"] = d.pick([(0, 2), (2, 1)])
    return Call((d.arr(shape),), kw)


def linalg_trace_gen(d: Draw) -> Call:
    kw = {"offset": d.int(-1, 1)} if d.flag() else {}
    return Call((d.arr(d.pick([(3, 3), (2, 3), (2, 3, 4)])),), kw)


def norm_gen(d: Draw) -> Call:
    """``linalg.norm``: vector and matrix ``ord``s, ``axis``, ``keepdims``."""
    if d.flag():  # vectors
        shape = d.pick([(4,), (2, 3)])
        kw: dict[str, Any] = {"ord": d.pick([None, 1, 2, 3, np.inf, -np.inf, 0.5])}
        if len(shape) == 2:
            kw["axis"] = d.pick([0, 1, -1])
    else:
        shape = d.pick([(3, 3), (2, 3), (2, 3, 3)])
        kw = {"ord": d.pick([None, "fro", "nuc", 1, -1, 2, -2, np.inf, -np.inf])}
        if len(shape) == 3:
            kw["axis"] = d.pick([(1, 2), (2, 1)])
        elif kw["ord"] is None:
            kw.pop("ord")
    if d.flag():
        kw["keepdims"] = True
    return Call((d.arr(shape, "R0"),), kw)


def vector_norm_gen(d: Draw) -> Call:
    shape = d.pick([(4,), (2, 3), (2, 3, 2)])
    kw: dict[str, Any] = {"ord": d.pick([2, 1, 3, np.inf, -np.inf, 0.5])}
    kw["axis"] = axis_of(d, len(shape))
    if kw["axis"] == ():
        kw["axis"] = None
    if d.flag():
        kw["keepdims"] = True
    return Call((d.arr(shape, "R0"),), kw)


def matrix_norm_gen(d: Draw) -> Call:
    shape = d.pick([(3, 3), (2, 3), (2, 3, 3)])
    kw: dict[str, Any] = {"ord": d.pick(["fro", "nuc", 1, -1, 2, -2, np.inf, -np.inf])}
    if d.flag():
        kw["keepdims"] = True
    return Call((d.arr(shape, "R0"),), kw)


def cov_gen(d: Draw) -> Call:
    shape = d.pick([(2, 4), (3, 5), (4,)])
    kw: dict[str, Any] = {}
    form = d.pick(["plain", "rowvar", "ddof", "bias", "y"])
    if form == "rowvar":
        kw["rowvar"] = False
    elif form == "ddof":
        kw["ddof"] = d.int(0, 2)
    elif form == "bias":
        kw["bias"] = True
    if form == "y":
        return Call((d.arr(shape), d.arr(shape)))
    return Call((d.arr(shape),), kw)


def corrcoef_gen(d: Draw) -> Call:
    shape = d.pick([(2, 4), (3, 5)])
    if d.flag():
        return Call((d.arr(shape), d.arr(shape)))
    return Call((d.arr(shape),), {"rowvar": False} if d.flag() else {})


def trapezoid_gen(d: Draw) -> Call:
    shape = d.pick([(2, 3), (4,), (2, 3, 4)])
    y = d.arr(shape)
    ax = d.pick(list(range(-len(shape), len(shape))))
    form = d.pick(["dx", "x", "x-full"])
    if form == "dx":
        return Call((y,), {"dx": d.scalar("P"), "axis": ax})
    if form == "x":
        return Call((y, np.cumsum(d.arr((shape[ax],), "P"))), {"axis": ax})
    return Call((y, np.cumsum(d.arr(shape, "P"), axis=ax)), {"axis": ax})


def _quantile_ref(kind: str) -> Callable[..., Any]:
    def ref(x: Any, *q: Any, **kw: Any) -> Any:
        from oracle_engine import jax_modules
        return getattr(jax_modules()[1], kind)(x, *q, **kw)
    return ref


TABLE.update({
    "median": Spec(quantile_gen("median"), keywords=("axis", "keepdims")),
    "quantile": Spec(quantile_gen("quantile"), keywords=("axis", "keepdims"), tol=1e-8),
    "percentile": Spec(quantile_gen("percentile"), keywords=("axis", "keepdims"), tol=1e-8),
    "average": Spec(average_gen, keywords=("axis", "weights", "keepdims")),
    "diff": Spec(diff_gen, dtypes=ALL, keywords=("n", "axis", "prepend", "append")),
    "gradient": Spec(gradient_gen, dtypes=ALL, keywords=("spacing", "axis", "edge_order")),
    "trace": Spec(trace_gen, dtypes=ALL, keywords=("offset", "axis1", "axis2")),
    "linalg.trace": Spec(linalg_trace_gen, dtypes=ALL, keywords=("offset",)),
    "linalg.norm": Spec(norm_gen, dtypes=ALL, keywords=("ord", "axis", "keepdims"), tol=1e-7),
    "linalg.vector_norm": Spec(vector_norm_gen, dtypes=ALL, keywords=("ord", "axis", "keepdims"), tol=1e-7),
    "linalg.matrix_norm": Spec(matrix_norm_gen, dtypes=ALL, keywords=("ord", "keepdims"), tol=1e-7),
    "cov": Spec(cov_gen, dtypes=ALL, keywords=("rowvar", "ddof", "bias", "y")),
    "corrcoef": Spec(corrcoef_gen, keywords=("rowvar", "y"), tol=1e-7),
    "trapezoid": Spec(trapezoid_gen, keywords=("x", "dx", "axis")),
})


# ---------------------------------------------------------- shapes and rearrangements
def arr_with(shapes: Any, rest: Callable[[Draw, tuple[int, ...]], tuple[tuple[Any, ...], dict[str, Any]]],
             dom: str = "R") -> Callable[[Draw], Call]:
    """``f(x, *args, **kw)`` with ``(args, kw) = rest(d, x.shape)``."""
    def gen(d: Draw) -> Call:
        shape = d.pick(shapes)
        args, kw = rest(d, shape)
        return Call((d.arr(shape, dom), *args), kw)
    return gen


def nothing(d: Draw, shape: tuple[int, ...]) -> tuple[tuple[Any, ...], dict[str, Any]]:
    return (), {}


def seq(min_n: int, shapes: Callable[[Draw, int], list[tuple[int, ...]]],
        kw: Callable[[Draw], dict[str, Any]] | None = None) -> Callable[[Draw], Call]:
    """``f([x1, x2, ...], **kw)``: the arrays of the list are differentiated."""
    def gen(d: Draw) -> Call:
        arrs = tuple(d.arr(s) for s in shapes(d, d.int(min_n, 3)))
        return Call(arrs, kw(d) if kw else {}, wrap=lambda f, xp: lambda *a, **k: f(list(a), **k))
    return gen


S23 = ((2, 3), (3,), (), (1,), (0,), (2, 1, 3), (0, 3))
S2 = ((2, 3), (3, 3), (2, 1, 3), (0, 3), (3, 1))


def _perm(d: Draw, n: int) -> tuple[int, ...]:
    return tuple(int(i) for i in d.rng.permutation(n))


def _reshape(d: Draw, shape: tuple[int, ...]) -> Any:
    n = int(np.prod(shape))
    target = d.pick([(n,), (-1,), (1, n), (n, 1, 1)])
    return (target,), ({"order": "F"} if d.flag() else {})


def _same_axis(d: Draw, shape: tuple[int, ...]) -> int:
    return int(d.pick(list(range(-len(shape), len(shape)))))


def _stack_shapes(d: Draw, n: int) -> list[tuple[int, ...]]:
    return [d.pick([(2, 3), (3,), (), (0, 3)])] * n


def _concat_shapes(d: Draw, n: int) -> list[tuple[int, ...]]:
    base = d.pick([(2, 3), (3, 2), (0, 2)])
    return [(d.int(0, 2),) + base[1:] for _ in range(n)]


def _hcat_shapes(d: Draw, n: int) -> list[tuple[int, ...]]:
    if d.flag():
        return [(d.int(0, 3),) for _ in range(n)]
    return [(2, d.int(0, 2)) for _ in range(n)]


def _split(d: Draw, shape: tuple[int, ...]) -> Any:
    ax = d.pick([k for k in range(len(shape))])
    if d.flag():
        sections = [k for k in range(1, 4) if shape[ax] % k == 0]
        return (d.pick(sections),), {"axis": ax}
    return (sorted(int(i) for i in d.rng.integers(0, shape[ax] + 1, 2)),), {"axis": ax}


def _pad(d: Draw, shape: tuple[int, ...]) -> Any:
    mode = d.pick(["constant", "reflect", "edge", "wrap", "symmetric"])
    width = d.pick([1, (1, 2), tuple((d.int(0, 2), d.int(0, 2)) for _ in shape)])
    kw: dict[str, Any] = {"mode": mode}
    if mode == "constant" and d.flag():
        kw["constant_values"] = 3.0
    return (width,), kw


def _insert(d: Draw) -> Call:
    shape = d.pick([(4,), (2, 3)])
    x = d.arr(shape)
    if len(shape) == 1:
        at = d.pick([1, np.array([0, 2]), 4])
        vals: Any = d.arr(np.shape(at)) if np.ndim(at) else d.scalar()
        return Call((x, at, vals))
    return Call((x, np.array([0, 2]), d.arr((2, 2))), {"axis": 1})


def _select(d: Draw) -> Call:
    shape = d.pick([(4,), (2, 3)])
    n = d.int(1, 3)
    conds = [d.mask(shape) for _ in range(n)]
    choices = tuple(d.arr(shape) for _ in range(n))

    def wrap(f: Any, xp: Any) -> Callable[..., Any]:
        return lambda *a: f(conds, list(a[:-1]), a[-1])
    return Call((*choices, d.scalar()), wrap=wrap)


def _choose(d: Draw) -> Call:
    n = d.int(1, 3)
    shape = d.pick([(4,), (2, 3)])
    idx = d.rng.integers(0, n, shape)
    choices = tuple(d.arr(shape) for _ in range(n))
    return Call(choices, wrap=lambda f, xp: lambda *a: f(idx, list(a)))


def _take(d: Draw, shape: tuple[int, ...]) -> Any:
    if d.flag() or len(shape) == 0:
        return (d.rng.integers(0, max(1, int(np.prod(shape))), d.pick([(4,), (), (2, 2)])),), {}
    ax = d.pick(list(range(len(shape))))
    return (d.rng.integers(0, shape[ax], 3),), {"axis": ax}


def _take_along(d: Draw, shape: tuple[int, ...]) -> Any:
    ax = d.pick(list(range(len(shape))))
    ishape = list(shape)
    ishape[ax] = 4
    return (d.rng.integers(0, shape[ax], ishape),), {"axis": ax}


def _diag(d: Draw, shape: tuple[int, ...]) -> Any:
    return ((d.int(-1, 1),) if d.flag() else ()), {}


def _rot90(d: Draw, shape: tuple[int, ...]) -> Any:
    return (d.int(-1, 3),), ({"axes": (1, 0)} if d.flag() else {})


def _roll(d: Draw, shape: tuple[int, ...]) -> Any:
    if d.flag() or not shape:
        return (d.int(-4, 4),), {}
    return ((d.int(-2, 2), 1), (0, -1)), {} if len(shape) > 1 else ((d.int(-2, 2),), {"axis": 0})


def _astype(d: Draw, shape: tuple[int, ...]) -> Any:
    return (d.pick([np.float64, np.complex128, np.float32]),), {}


TABLE.update({
    "reshape": Spec(arr_with(S23, _reshape), dtypes=ALL, keywords=("order",)),
    "ravel": Spec(arr_with(S23, lambda d, s: ((), {"order": d.pick(["C", "F"])})), dtypes=ALL, keywords=("order",)),
    "squeeze": Spec(arr_with(((1, 3, 1), (1,), (2, 1)), lambda d, s: ((), {"axis": d.pick([None, s.index(1)])}))),
    "expand_dims": Spec(arr_with(S23, lambda d, s: ((d.pick([0, -1, (0, 1)]),), {}))),
    "atleast_1d": Spec(arr_with(S23, nothing)),
    "atleast_2d": Spec(arr_with(S23, nothing)),
    "atleast_3d": Spec(arr_with(S23, nothing)),
    "transpose": Spec(arr_with(S23, lambda d, s: ((_perm(d, len(s)),) if d.flag() else (), {})), dtypes=ALL,
                      keywords=("axes",)),
    "swapaxes": Spec(arr_with(S2, lambda d, s: ((0, d.pick([-1, 1])), {}))),
    "moveaxis": Spec(arr_with(S2, lambda d, s: ((0, d.pick([-1, 1])), {}))),
    "broadcast_to": Spec(arr_with(((3,), (), (1, 3)), lambda d, s: ((d.pick([(2, 3), (0, 3), (2, 2, 3)]),), {}))),
    "flip": Spec(arr_with(S2, lambda d, s: ((), {"axis": d.pick([None, 0, -1, (0, 1)])})), keywords=("axis",)),
    "fliplr": Spec(arr_with(S2, nothing)),
    "flipud": Spec(arr_with(S23[:1] + S23[1:2], nothing)),
    "roll": Spec(arr_with(S2, _roll), keywords=("shift", "axis")),
    "rot90": Spec(arr_with(S2, _rot90), keywords=("k", "axes")),
    "tril": Spec(arr_with(S2, lambda d, s: ((d.int(-1, 1),), {})), keywords=("k",)),
    "triu": Spec(arr_with(S2, lambda d, s: ((d.int(-1, 1),), {})), keywords=("k",)),
    "copy": Spec(arr_with(S23, nothing), dtypes=ALL),
    # jax.numpy has no ascontiguousarray: NumPy's is at least 1-d
    "ascontiguousarray": Spec(arr_with(S23, nothing), dtypes=ALL, ref=lambda x: _jnp().atleast_1d(x)),
    "real_if_close": Spec(arr_with(S23, nothing), oracle="fd"),  # jax.numpy has no real_if_close
    "unwrap": Spec(arr_with(((5,), (2, 4)), lambda d, s: ((), d.pick([{}, {"period": 4.0, "axis": 0}])), "W"),
                   keywords=("period", "axis")),
    "astype": Spec(arr_with(S23, _astype), dtypes=ALL),
    "matrix_transpose": Spec(arr_with(S2, nothing), dtypes=ALL),
    "linalg.matrix_transpose": Spec(arr_with(S2, nothing), dtypes=ALL, ref="matrix_transpose"),
    "tile": Spec(arr_with(S23, lambda d, s: ((d.pick([2, (2, 1), (1, 2, 1)]),), {}))),
    "repeat": Spec(arr_with(((3,), (2, 3)), lambda d, s: (
        (d.int(0, 3),), {}) if d.flag() else ((d.rng.integers(0, 3, s[-1]),), {"axis": -1})), keywords=("axis",)),
    "take": Spec(arr_with(((3,), (2, 3), (2, 1, 3)), _take), keywords=("axis",)),
    "take_along_axis": Spec(arr_with(((3,), (2, 3)), _take_along), keywords=("axis",)),
    "pad": Spec(arr_with(((2, 3), (3,)), _pad), keywords=("mode", "constant_values")),
    "diag": Spec(arr_with(((3,), (3, 3), (2, 3)), _diag), keywords=("k",)),
    "diagonal": Spec(arr_with(((3, 3), (2, 3, 4)), lambda d, s: ((), {"offset": d.int(-1, 1)})), keywords=("offset",)),
    "linalg.diagonal": Spec(arr_with(((3, 3), (2, 3, 4)), lambda d, s: ((), {"offset": d.int(-1, 1)})),
                            keywords=("offset",)),
    "rollaxis": Spec(arr_with(((2, 3, 4),), lambda d, s: ((d.int(0, 2), d.int(0, 3)), {}))),
    "compress": Spec(lambda d: (lambda m: Call((d.arr((2, 3)),), {}, wrap=lambda f, xp: lambda a: f(
        m, a, axis=1)))(d.mask((3,))), keywords=("axis",)),
    "delete": Spec(arr_with(((4,), (2, 3)), lambda d, s: (
        ((1,), {}) if len(s) == 1 else ((np.array([0, 2]),), {"axis": 1}))), keywords=("axis",)),
    "resize": Spec(arr_with(((4,), (2, 3)), lambda d, s: ((d.pick([(3, 3), 7, (2,)]),), {}))),
    "append": Spec(lambda d: Call((d.arr((2, 3)), d.arr((1, 3))), {"axis": 0}) if d.flag() else Call(
        (d.arr((3,)), d.arr(d.shape()))), keywords=("axis",)),
    "concatenate": Spec(seq(1, _concat_shapes, lambda d: {"axis": 0}), dtypes=ALL, keywords=("axis",)),
    "stack": Spec(seq(1, _stack_shapes, lambda d: {"axis": d.pick([0, -1])}), keywords=("axis",)),
    "hstack": Spec(seq(1, _hcat_shapes)),
    "vstack": Spec(seq(1, lambda d, n: [(d.int(1, 2), 3) for _ in range(n)])),
    "dstack": Spec(seq(1, lambda d, n: [(2, 3)] * n)),
    "column_stack": Spec(seq(1, lambda d, n: [(3,)] * n)),
    "split": Spec(arr_with(((6,), (2, 6), (3, 2)), _split), keywords=("axis",)),
    "array_split": Spec(arr_with(((5,), (2, 5)), lambda d, s: ((d.int(1, 3),), {"axis": len(s) - 1})),
                        keywords=("axis",)),
    "hsplit": Spec(arr_with(((2, 4),), lambda d, s: ((d.pick([2, [1, 3]]),), {}))),
    "vsplit": Spec(arr_with(((4, 2),), lambda d, s: ((d.pick([2, [1, 3]]),), {}))),
    "dsplit": Spec(arr_with(((2, 2, 4),), lambda d, s: ((d.pick([2, [1]]),), {}))),
    "broadcast_arrays": Spec(lambda d: Call((d.arr((3,)), d.arr(d.pick([(2, 1), (2, 3), ()]))))),
    "meshgrid": Spec(lambda d: Call((d.arr((3,)), d.arr((2,))), d.pick([{}, {"indexing": "ij"}])),
                     keywords=("indexing",)),
    "diagflat": Spec(arr_with(((3,), (2, 2)), lambda d, s: ((d.int(-1, 1),), {})), keywords=("k",)),
    "insert": Spec(_insert, keywords=("axis",)),
    "select": Spec(_select),
    "choose": Spec(_choose),
    "extract": Spec(lambda d: (lambda x, m: Call((x,), wrap=lambda f, xp: lambda a: f(m, a)))(
        *(lambda x: (x, d.mask(x.shape)))(d.arr(d.pick([(2, 3), (4,)]))))),
    "unstack": Spec(arr_with(((2, 3), (2, 3, 2)), lambda d, s: ((), {"axis": d.int(0, len(s) - 1)})),
                    keywords=("axis",)),
    "sort": Spec(arr_with(S23, lambda d, s: ((), {"axis": axis_of(d, len(s), tuples=False)})),
                 keywords=("axis",)),
    # jax.numpy orders the elements within each side of the partition differently
    "partition": Spec(arr_with(((5,), (2, 4)), lambda d, s: ((d.int(0, s[-1] - 1),), {})), oracle="fd"),
})


# ------------------------------------------------------------------------ products
def two(shapes: Any, kw: Callable[[Draw], dict[str, Any]] | None = None,
        db: str = "R") -> Callable[[Draw], Call]:
    """``f(a, b, **kw(d))`` on a drawn pair of shapes."""
    def gen(d: Draw) -> Call:
        sa, sb = d.pick(shapes)
        return Call((d.arr(sa), d.arr(sb, db)), kw(d) if kw else {})
    return gen


MATMUL = (((2, 3), (3, 4)), ((3,), (3, 2)), ((2, 3), (3,)), ((3,), (3,)), ((2, 2, 3), (3, 2)), ((0, 3), (3, 2)),
          ((2, 0), (0, 3)), ((1, 2, 3), (4, 3, 2)))
DOT = (((2, 3), (3, 4)), ((3,), (3,)), ((), (2, 3)), ((2, 3), (3,)), ((2, 2, 3), (3, 2)), ((2, 0), (0, 3)))
INNER = (((2, 3), (4, 3)), ((3,), (3,)), ((), (2, 3)), ((2, 1, 3), (3,)))
OUTER = (((3,), (2,)), ((2, 2), (3,)), ((), (2,)), ((0,), (2,)))
VECDOT = (((2, 3), (3,)), ((3,), (3,)), ((2, 3), (2, 3)), ((1, 3), (2, 3)))
CROSS = (((3,), (3,)), ((2, 3), (3,)), ((2, 3), (2, 3)), ((4, 3), (1, 3)))
TENSORDOT = (((2, 3), (3, 4)), ((2, 3, 4), (3, 4, 2)), ((2, 3), (2, 3)))


def tensordot_gen(d: Draw) -> Call:
    sa, sb = d.pick(TENSORDOT)
    a, b = d.arr(sa), d.arr(sb)
    if sa == (2, 3, 4):
        return Call((a, b), {"axes": d.pick([2, ([1, 2], [0, 1])])})
    if sa == sb:
        return Call((a, b), {"axes": d.pick([2, ([0, 1], [0, 1]), 0])})
    return Call((a, b), {"axes": d.pick([1, ([1], [0])])})


def kron_gen(d: Draw) -> Call:
    return two((((2, 3), (2, 2)), ((3,), (2,)), ((2, 1), (3,)), ((), (2,))))(d)


def conv_gen(d: Draw) -> Call:
    a, b = d.arr((d.int(1, 5),)), d.arr((d.int(1, 4),))
    return Call((a, b), {"mode": d.pick(["full", "valid", "same"])})


def einsum_gen(d: Draw) -> Call:
    spec, shapes = d.pick([("ij,jk->ik", [(2, 3), (3, 4)]), ("ij,jk", [(2, 3), (3, 2)]), ("ii->i", [(3, 3)]),
                           ("ii", [(3, 3)]), ("ij->", [(2, 3)]), ("ij,ij->i", [(2, 3), (2, 3)]),
                           ("bij,bjk->bik", [(2, 2, 3), (2, 3, 2)]), ("...ij,...jk->...ik", [(2, 2, 3), (3, 2)]),
                           ("i,j,k->ijk", [(2,), (3,), (2,)]), ("ij,kl->ijkl", [(2, 2), (3, 2)]),
                           ("ijk->kj", [(2, 3, 2)]), ("i,i", [(3,), (3,)]), ("ij,j->i", [(0, 3), (3,)])])
    arrs = tuple(d.arr(s) for s in shapes)
    return Call(arrs, wrap=lambda f, xp: lambda *a: f(spec, *a))


def multi_dot_gen(d: Draw) -> Call:
    shapes = d.pick([[(2, 3), (3, 4), (4, 2)], [(3,), (3, 2), (2,)], [(2, 3), (3, 2)], [(3,), (3, 3), (3, 2), (2,)]])
    return Call(tuple(d.arr(s) for s in shapes), wrap=lambda f, xp: lambda *a: f(list(a)))


TABLE.update({
    "matmul": Spec(two(MATMUL), dtypes=ALL, tol=1e-8),
    "linalg.matmul": Spec(two(MATMUL[:3]), dtypes=ALL, tol=1e-8),
    "dot": Spec(two(DOT), dtypes=ALL, tol=1e-8),
    "inner": Spec(two(INNER), dtypes=ALL, tol=1e-8),
    "outer": Spec(two(OUTER), dtypes=ALL),
    "linalg.outer": Spec(two(OUTER[:1]), dtypes=ALL),
    "vdot": Spec(two((((3,), (3,)), ((2, 3), (3, 2)), ((2, 2), (4,)))), dtypes=ALL, tol=1e-8),
    "vecdot": Spec(two(VECDOT, lambda d: d.pick([{}, {"axis": -1}])), dtypes=ALL, tol=1e-8, keywords=("axis",)),
    "linalg.vecdot": Spec(two(VECDOT), dtypes=ALL, tol=1e-8),
    "matvec": Spec(two((((2, 3), (3,)), ((2, 2, 3), (3,)), ((2, 3), (4, 3)))), dtypes=ALL, tol=1e-8),
    "vecmat": Spec(two((((2,), (2, 3)), ((2,), (4, 2, 3)), ((4, 2), (2, 3)))), dtypes=ALL, tol=1e-8),
    "tensordot": Spec(tensordot_gen, dtypes=ALL, tol=1e-8, keywords=("axes",)),
    "linalg.tensordot": Spec(tensordot_gen, dtypes=ALL, tol=1e-8, keywords=("axes",)),
    "kron": Spec(kron_gen, dtypes=ALL),
    # (np.cross's axisa/axisb/axisc/axis keywords are another helper's fix: default axes only)
    "cross": Spec(two(CROSS), dtypes=ALL),
    "linalg.cross": Spec(two(CROSS[:4]), dtypes=ALL),
    "convolve": Spec(conv_gen, dtypes=ALL, keywords=("mode",)),
    "correlate": Spec(conv_gen, dtypes=ALL, keywords=("mode",)),
    "einsum": Spec(einsum_gen, dtypes=ALL, tol=1e-8),
    "linalg.multi_dot": Spec(multi_dot_gen, dtypes=ALL, tol=1e-8),
})


# ------------------------------------------------------------------ linear algebra
def well_conditioned(d: Draw, shape: tuple[int, ...]) -> np.ndarray:
    """A square (batch of) matrix away from singular: random plus 3 on the diagonal."""
    a = d.arr(shape)
    return np.asarray(a + 3 * np.eye(shape[-1], dtype=a.dtype), dtype=a.dtype)


def spd(d: Draw, shape: tuple[int, ...]) -> np.ndarray:
    """Symmetric (Hermitian) positive definite with distinct eigenvalues."""
    a = d.arr(shape)
    n = shape[-1]
    h = a @ np.conj(np.swapaxes(a, -1, -2)) + np.diag(np.arange(1.0, n + 1) * 1.5)
    return np.asarray(h, dtype=a.dtype)


SQUARE = ((3, 3), (2, 2), (1, 1), (2, 3, 3))


def square(make: Callable[[Draw, tuple[int, ...]], np.ndarray], shapes: Any = SQUARE,
           kw: Callable[[Draw], dict[str, Any]] | None = None) -> Callable[[Draw], Call]:
    def gen(d: Draw) -> Call:
        return Call((make(d, d.pick(shapes)),), kw(d) if kw else {})
    return gen


def solve_gen(d: Draw) -> Call:
    n = d.int(1, 3)
    a = well_conditioned(d, d.pick([(n, n), (2, n, n)]))
    b = d.arr(d.pick([(n,), (n, 2), a.shape[:-1] + (2,)]) if a.ndim == 3 else d.pick([(n,), (n, 2)]))
    return Call((a, b))


def matrix_power_gen(d: Draw) -> Call:
    k = d.int(-2, 3)
    return Call((well_conditioned(d, d.pick(SQUARE)) / 3, k))


def full_rank(d: Draw) -> np.ndarray:
    shape = d.pick([(3, 2), (2, 3), (3, 3), (2, 3, 2)])
    a = d.arr(shape)
    m, n = shape[-2:]
    k = min(m, n)
    return np.asarray(a + 2 * np.eye(m, n, dtype=a.dtype), dtype=a.dtype) if k else a


def lstsq_gen(d: Draw) -> Call:
    """``lstsq``: the solution, the residuals (tall ``a`` only: NumPy returns none for a
    square one, JAX a zero) and the singular values."""
    a = d.arr(d.pick([(4, 2), (3, 3), (5, 3)]))
    a = np.asarray(a + 2 * np.eye(*a.shape, dtype=a.dtype), dtype=a.dtype)
    b = d.arr(d.pick([(a.shape[0],), (a.shape[0], 2)]))
    tall = a.shape[0] > a.shape[1]

    def wrap(f: Any, xp: Any) -> Callable[..., Any]:
        def run(a: Any, b: Any, **kw: Any) -> Any:
            x, res, _, sv = f(a, b, **kw)
            return (x, res, sv) if tall else (x, sv)
        return run
    return Call((a, b), {"rcond": None}, wrap=wrap)


def svd_wrap(compute_uv: bool) -> Callable[[Any, Any], Callable[..., Any]]:
    """``svd`` with each singular pair's sign fixed by ``u[0, k]`` (a constant of the primal)."""
    def wrap(f: Any, xp: Any) -> Callable[..., Any]:
        def run(a: Any) -> Any:
            if not compute_uv:
                return f(a, compute_uv=False)
            u, s, vh = f(a, full_matrices=False)
            sign = _constant(xp, xp.sign(xp.real(u[..., :1, :])))
            return u * sign, s, vh * xp.swapaxes(sign, -1, -2)
        return run
    return wrap


def qr_wrap(mode: str) -> Callable[[Any, Any], Callable[..., Any]]:
    """``qr`` with the signs fixed by ``diag(R)`` (a constant of the primal)."""
    def wrap(f: Any, xp: Any) -> Callable[..., Any]:
        def run(a: Any) -> Any:
            q, r = f(a)
            sign = _constant(xp, xp.sign(xp.real(xp.diagonal(r, axis1=-2, axis2=-1))))
            if mode == "r":
                return r * sign[..., :, None]
            return q * sign[..., None, :], r * sign[..., :, None]
        return run
    return wrap


def eigh_wrap(f: Any, xp: Any) -> Callable[..., Any]:
    """``eigh`` with each eigenvector's sign fixed by its first component."""
    def run(a: Any, **kw: Any) -> Any:
        w, v = f(a, **kw)
        return w, v * _constant(xp, xp.sign(v[..., :1, :]))
    return run


def _constant(xp: Any, v: Any) -> Any:
    """``v`` with no derivative: JAX's stop_gradient, NumPy's sign is already piecewise constant."""
    if xp is np:
        return v
    from oracle_engine import jax_modules
    return jax_modules()[0].lax.stop_gradient(v)


def svd_gen(d: Draw) -> Call:
    a = full_rank(d)
    uv = d.flag()
    return Call((a,), wrap=svd_wrap(uv), label=f"compute_uv={uv}")


def qr_gen(d: Draw) -> Call:
    a = d.arr(d.pick([(3, 2), (3, 3), (2, 3, 2)]))
    a = np.asarray(a + 2 * np.eye(*a.shape[-2:], dtype=a.dtype), dtype=a.dtype)
    mode = d.pick(["reduced", "r"])
    return Call((a,), wrap=qr_wrap(mode), label=mode)


def eig_real(d: Draw, shape: tuple[int, ...]) -> np.ndarray:
    """Real eigenvalues well apart: a similarity transform of a diagonal."""
    n = shape[-1]
    p = well_conditioned(d, shape)
    lam = np.arange(1.0, n + 1) * 1.3 - 2.0
    return np.asarray(p @ (lam[:, None] * np.linalg.inv(p)), dtype=p.dtype)


def uplo(key: str) -> Callable[[Draw], dict[str, Any]]:
    return lambda d: d.pick([{}, {key: "U" if key == "UPLO" else True}])


def eigh_gen(d: Draw) -> Call:
    return Call((spd(d, d.pick(SQUARE)),), uplo("UPLO")(d), wrap=eigh_wrap)


TABLE.update({
    "linalg.solve": Spec(solve_gen, dtypes=ALL, tol=1e-8),
    "linalg.inv": Spec(square(well_conditioned), dtypes=ALL, tol=1e-8),
    "linalg.det": Spec(square(well_conditioned), dtypes=ALL, tol=1e-8),
    "linalg.slogdet": Spec(square(well_conditioned), dtypes=ALL, tol=1e-8),
    "linalg.pinv": Spec(lambda d: Call((full_rank(d),)), dtypes=ALL, tol=1e-7),
    # JAX symmetrises the cotangent of cholesky/eigh/eigvalsh; NumPy reads one triangle,
    # so its derivative lives on that triangle (as finite differences see it)
    "linalg.cholesky": Spec(square(spd, kw=uplo("upper")), oracle="fd", dtypes=ALL, keywords=("upper",)),
    "linalg.eigh": Spec(eigh_gen, oracle="fd", keywords=("UPLO",)),
    "linalg.eigvalsh": Spec(square(spd, kw=uplo("UPLO")), oracle="fd", dtypes=ALL, keywords=("UPLO",)),
    # JAX has no eigenvector derivative for a general matrix
    "linalg.eig": Spec(square(eig_real, ((3, 3), (2, 2), (2, 3, 3))), oracle="fd", dtypes=ONLY64),
    "linalg.eigvals": Spec(square(eig_real, ((3, 3), (2, 2), (2, 3, 3))), dtypes=REAL, tol=1e-7),
    "linalg.svd": Spec(svd_gen, dtypes=REAL, tol=1e-7, keywords=("compute_uv", "full_matrices=False")),
    "linalg.qr": Spec(qr_gen, dtypes=ALL, tol=1e-7, keywords=("mode",)),
    "linalg.lstsq": Spec(lstsq_gen, tol=1e-7, tol32=5e-3),  # (float32 normal equations lose digits)
    "linalg.svdvals": Spec(lambda d: Call((full_rank(d),)), dtypes=ALL, tol=1e-7),
    "linalg.matrix_power": Spec(matrix_power_gen, dtypes=ALL, tol=1e-8),
})


# ------------------------------------------------------------------------------ fft
def fft_gen(ndim: int, real_input: bool, axes_kw: str, hermitian_out: bool = False) -> Callable[[Draw], Call]:
    """``fft``-family calls: ``n``/``s`` crop or pad, ``axis``/``axes``, ``norm``."""
    def gen(d: Draw) -> Call:
        shape = d.pick([(5,), (4,), (2, 5), (3, 4), (2, 3, 4)] if ndim == 1 else [(3, 4), (2, 5), (2, 3, 4)])
        dt = F64 if real_input else C128
        if d.dtype == F32:
            dt = F32 if real_input else np.dtype(np.complex64)
        x = d.arr(shape, dtype=dt)
        kw: dict[str, Any] = {}
        if d.flag():
            kw["norm"] = d.pick(["ortho", "forward", "backward"])
        if ndim == 1:
            if d.flag():
                kw["axis"] = d.pick(list(range(-len(shape), len(shape))))
            if d.flag():
                kw["n"] = d.int(2, 7)
        elif d.flag():
            axes = d.pick([(0, 1), (-1, 0)] + ([(0, 2), (0, 1, 2)] if len(shape) == 3 and ndim > 2 else []))
            axes = axes if ndim > 2 else axes[:2]
            kw["axes"] = axes
            if d.flag():
                kw["s"] = tuple(d.int(2, 6) for _ in axes)
        return Call((x,), kw)
    return gen


def shift_gen(d: Draw) -> Call:
    shape = d.pick([(5,), (4,), (2, 3)])
    return Call((d.arr(shape),), {"axes": d.pick([None, 0, -1])} if d.flag() else {})


FFT = {"fft": (1, False), "ifft": (1, False), "fft2": (2, False), "ifft2": (2, False), "fftn": (3, False),
       "ifftn": (3, False), "rfft": (1, True), "rfft2": (2, True), "rfftn": (3, True), "irfft": (1, False),
       "irfft2": (2, False), "irfftn": (3, False), "hfft": (1, False), "ihfft": (1, True)}
for _n, (_nd, _real) in FFT.items():
    TABLE[f"fft.{_n}"] = Spec(fft_gen(_nd, _real, "axis" if _nd == 1 else "axes"), dtypes=REAL, tol=1e-8,
                              keywords=("n", "s", "axis", "axes", "norm"))
TABLE["fft.fftshift"] = Spec(shift_gen, dtypes=ALL, keywords=("axes",))
TABLE["fft.ifftshift"] = Spec(shift_gen, dtypes=ALL, keywords=("axes",))


# ------------------------------------------------------------------------- indexing
def index_of(d: Draw, shape: tuple[int, ...], repeats: bool) -> Any:
    """An index of a (3, 4) array: integers, slices, fancy (with repeats), masks, None, Ellipsis."""
    options: list[Any] = [
        (1, slice(None)), (slice(None, None, -1), 2), (0, 1), (Ellipsis, 1), (None, 1),
        (np.array([2, 0, 1]),), (np.array([0, 2]), np.array([3, 1])), (slice(1, 3), np.array([0, 3])),
        d.rng.random(shape) < 0.5, (d.rng.random(shape[0]) < 0.5, slice(None)),
    ]
    if repeats:
        options += [(np.array([1, 1, 0, 1]),), (np.array([0, 2, 0]), np.array([3, 3, 3]))]
    return d.pick(options)


def _has_repeats(index: Any) -> bool:
    parts = index if isinstance(index, tuple) else (index,)
    arrays = [p for p in parts if isinstance(p, np.ndarray) and p.dtype.kind == "i"]
    if not arrays:
        return False
    flat = np.ravel_multi_index(np.broadcast_arrays(*arrays), [5] * len(arrays)) if len(arrays) > 1 else arrays[0]
    return len(np.unique(flat)) < np.size(flat)


def getitem_gen(d: Draw) -> Call:
    index = index_of(d, (3, 4), repeats=True)
    return Call((d.arr((3, 4)),), wrap=lambda f, xp: lambda x: x[index])


def setitem_gen(d: Draw) -> Call:
    """``y = x.copy(); y[index] = v``; with repeated indices NumPy keeps the last write, JAX
    promises none: those calls go to finite differences."""
    x = d.arr((3, 4))
    index = index_of(d, (3, 4), repeats=True)
    target = np.shape(x[index])
    v: Any = d.arr(d.pick([target, target[-1:] if target else (), ()]))

    def wrap(f: Any, xp: Any) -> Callable[..., Any]:
        if xp is np:
            def run(x: Any, v: Any) -> Any:
                y = x.copy()
                y[index] = v
                return y
            return run
        return lambda x, v: x.at[index].set(v)
    return Call((x, v), wrap=wrap, oracle="fd" if _has_repeats(index) else None)


def copyto_gen(d: Draw) -> Call:
    dst = d.arr((2, 3))
    src = d.arr(d.pick([(2, 3), (3,), ()]))
    mask = d.mask((2, 3)) if d.flag() else True

    def wrap(f: Any, xp: Any) -> Callable[..., Any]:
        if xp is np:
            def run(dst: Any, src: Any) -> Any:
                y = dst.copy()
                np.copyto(y, src, where=mask)
                return y
            return run
        return lambda dst, src: xp.where(mask, src, dst)
    return Call((dst, src), wrap=wrap)


TABLE.update({
    # (the programs index with x[...] and x.at[...] themselves: ref is unused)
    "getitem": Spec(getitem_gen, ref=operator.getitem, dtypes=ALL, keywords=("int", "slice", "fancy", "mask", "None", "Ellipsis")),
    "setitem": Spec(setitem_gen, ref=operator.setitem, dtypes=ALL, keywords=("int", "slice", "fancy (repeated)", "mask")),
    "copyto": Spec(copyto_gen, ref=np.copyto, dtypes=ALL, keywords=("where",)),
})


# ------------------------------------------------- constructors with active values, histograms
def _end(d: Draw, shape: tuple[int, ...], dom: str = "R") -> Any:
    """An endpoint: a Python float (shape ``()``) or an array."""
    return d.scalar(dom) if shape == () else d.arr(shape, dom)


def full_gen(d: Draw) -> Call:
    """``full(shape, v)`` / ``full_like(proto, v)``: a scalar or a broadcast row as the fill value."""
    v = _end(d, d.pick([(), (3,)]))
    return Call((v,), wrap=lambda f, xp: lambda v: f((2, 3), v))  # f looked up late: see test_oracle.check


def full_like_gen(d: Draw) -> Call:
    proto = d.arr((2, 3))
    return Call((proto, _end(d, d.pick([(), (3,)]))))


def spaced(dom: str, base: bool = False, retstep: bool = False) -> Callable[[Draw], Call]:
    """``linspace``/``geomspace``/``logspace(start, stop, num, endpoint=, axis=, [retstep=])``,
    endpoints numbers or arrays, ``num=1`` too; ``base`` draws logspace's base (active)."""
    def gen(d: Draw) -> Call:
        shape = d.pick([(), (2,)])
        neg = dom == "P" and d.flag()  # geomspace: both ends negative
        ends = [(-1.0 if neg else 1.0) * _end(d, shape, dom) for _ in range(2)]
        kw: dict[str, Any] = {"num": d.pick([4, 1, 5]), "endpoint": d.flag()}
        if shape:
            kw["axis"] = d.pick([0, -1])
        if retstep and d.flag():
            kw["retstep"] = True
        # an array base only along axis 0: jnp.logspace broadcasts it against the samples as laid
        # out (NumPy puts it on the sample axis), so the two agree only there
        b = d.arr(shape, "G") if shape and kw["axis"] == 0 else d.scalar("G")
        args = tuple(ends) + ((b,) if base else ())
        if base:
            return Call(args, wrap=lambda f, xp: lambda s, e, b: f(s, e, base=b, **kw))
        return Call(args, kw)
    return gen


def _hist_data(d: Draw, n: int = 7, dims: int = 1) -> np.ndarray:
    """Samples with distinct values, away from each other (a tie at the min/max splits)."""
    return d.arr((n, dims) if dims > 1 else (n,), "U", dtype=F64)


def _bins(d: Draw, dims: int) -> tuple[Any, bool]:
    """``bins``: a count, or sorted edge arrays (active) spanning the samples."""
    if d.flag():
        return d.int(1, 4), False
    # equal lengths per dimension: the engine converts a list of active edge arrays of different
    # lengths with np.asarray (ValueError, reported), NumPy takes it as a sequence
    k = d.int(0, 2)
    edges = [np.sort(np.concatenate([[-0.9, 0.9], d.rng.uniform(-0.7, 0.7, k)])) for _ in range(dims)]
    return (edges[0] if dims == 1 else edges), True


def histogram_gen(d: Draw) -> Call:
    """``histogram(a, bins, range=, weights=, density=)``: data active (edges from its min/max),
    weights active, edge arrays active; ``range`` constant (JAX takes it as a static)."""
    a = _hist_data(d)
    bins, edges = _bins(d, 1)
    kw: dict[str, Any] = {"density": d.flag()}
    if not edges and d.flag():
        kw["range"] = (-1.0, 1.0)
    w = d.arr(a.shape, "P" if kw["density"] else "R", dtype=F64) if d.flag() else None
    if edges:
        return Call((a, bins, w), wrap=lambda f, xp: lambda a, b, w: f(a, b, weights=w, **kw))
    return Call((a, w), wrap=lambda f, xp: lambda a, w: f(a, bins, weights=w, **kw))


def histogramdd_gen(d: Draw, two: bool = False) -> Call:
    """``histogramdd(sample, bins, weights=, density=)`` (``two``: ``histogram2d(x, y, ...)``)."""
    sample = _hist_data(d, dims=2)
    bins, edges = _bins(d, 2)
    if not edges and d.flag():
        bins = [d.int(1, 3), d.int(1, 3)]
    kw: dict[str, Any] = {"density": d.flag()}
    w = d.arr((7,), "P" if kw["density"] else "R", dtype=F64) if d.flag() else None
    cols = (sample[:, 0].copy(), sample[:, 1].copy()) if two else (sample,)

    def wrap(f: Any, xp: Any) -> Callable[..., Any]:
        def run(*args: Any) -> Any:
            data, rest = args[:len(cols)], args[len(cols):]
            b = list(rest[:2]) if edges else bins
            return f(*data, b, weights=rest[-1], **kw)
        return run
    return Call((*cols, *(bins if edges else ()), w), wrap=wrap)


def bincount_gen(d: Draw) -> Call:
    """``bincount(x, weights, minlength=)``: the weights active (repeated and missing bins)."""
    x = d.rng.integers(0, 4, d.pick([6, 1]))  # (no samples: NumPy returns int64 even with weights)
    kw = {"minlength": d.pick([0, 6])}
    return Call((d.arr(x.shape),), wrap=lambda f, xp: lambda w: f(x, w, **kw))


def histogram_bin_edges_gen(d: Draw) -> Call:
    """``histogram_bin_edges(a, bins, range=)``: edges from the data's min/max, or ``range``."""
    a = _hist_data(d)
    n = d.int(1, 4)
    kw = {"range": (-1.0, 1.0)} if d.flag() else {}
    return Call((a,), wrap=lambda f, xp: lambda a: f(a, n, **kw))


TABLE.update({
    "bincount": Spec(bincount_gen, keywords=("weights", "minlength")),
    "full": Spec(full_gen, dtypes=ALL),
    "full_like": Spec(full_like_gen, dtypes=ALL),
    "linspace": Spec(spaced("R", retstep=True), keywords=("num", "endpoint", "axis", "retstep")),
    "geomspace": Spec(spaced("P"), keywords=("num", "endpoint", "axis")),
    "logspace": Spec(spaced("U", base=True), keywords=("num", "endpoint", "axis", "base")),
    "histogram": Spec(histogram_gen, dtypes=ONLY64, keywords=("bins", "range", "weights", "density")),
    "histogram2d": Spec(lambda d: histogramdd_gen(d, two=True), dtypes=ONLY64, keywords=("bins", "weights", "density")),
    "histogramdd": Spec(histogramdd_gen, dtypes=ONLY64, keywords=("bins", "weights", "density")),
    "histogram_bin_edges": Spec(histogram_bin_edges_gen, dtypes=ONLY64, keywords=("bins", "range")),
})


# Rows smooth at ties and zeros also draw inputs with repeated values and with zeros.
SMOOTH_AT_TIES_AND_ZEROS = """
negative positive square exp sin cos tanh add subtract multiply add.outer subtract.outer multiply.outer
sum mean add.reduce cumsum add.accumulate cumulative_sum nancumsum diff trace matmul dot inner outer vdot
tensordot einsum kron reshape ravel transpose flip roll tile repeat take pad concatenate stack getitem setitem
copyto where fft.fft fft.rfft fft.fftshift
""".split()
for _n in SMOOTH_AT_TIES_AND_ZEROS:
    TABLE[_n] = dataclasses.replace(TABLE[_n], styles=("rand", "ties", "zeros"))
