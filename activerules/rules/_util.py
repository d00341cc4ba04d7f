"""Shared helpers for the built-in NumPy rules.

Everything that more than one rule module needs lives here: the one
broadcasting helper (:func:`unbroadcast`), the cotangent dtype policy
(:func:`fit`), the conjugation used by the complex convention (:func:`conj`),
and the activity helpers used by the Enzyme-style rules (:func:`accumulate`).

Complex convention (ChainRules/PyTorch): for a real loss ``L`` and a complex
primal ``z = a + ib`` the cotangent is ``dL/da + i dL/db``.  For a holomorphic
``y = f(z)`` the pullback is ``zbar = conj(f'(z)) * ybar``; non-holomorphic
functions (``abs``, ``real``, ``imag``, ``conj``, ``angle``) follow from the
same definition.  On real inputs the convention is the ordinary gradient.
"""

from __future__ import annotations

import ast
import inspect
import linecache
import operator
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

try:
    from numpy.lib.array_utils import normalize_axis_tuple
except ImportError:  # NumPy < 2
    from numpy.core.numeric import normalize_axis_tuple  # type: ignore[attr-defined,no-redef]

from ..activity import Active, Const
from ..dispatch.lanes import lane_count, lanes_donated
from ..engine.donation import donated

__all__ = [
    "accumulate",
    "activity_rule",
    "masked",
    "conj",
    "cotangent_dtype",
    "explicit_out",
    "fit",
    "formula",
    "into",
    "like",
    "nones",
    "bind",
    "normalize_axis_tuple",
    "picker",
    "reads",
    "restore_axes",
    "times",
    "unbroadcast",
]

# The dtypes that carry a cotangent (floating and complex), for the fast paths.
_INEXACT = frozenset(np.dtype(c) for c in np.typecodes["AllFloat"])


def unbroadcast(cotangent: Any, shape: Sequence[int]) -> Any:
    """Return ``cotangent`` summed (or broadcast) back to ``shape``.

    Axes that broadcasting prepended are summed away and axes that it
    stretched from length 1 are summed with ``keepdims``; a cotangent smaller
    than ``shape`` (a scalar for an array argument) is broadcast up.  ``None``
    (a zero cotangent) passes through. While a reverse runs on stacked lanes
    (:func:`~activerules.dispatch.lanes.lane_count` ``k > 0``) the cotangent's
    leading axis is the lanes' and is kept: the result has shape ``(k, *shape)``.

    >>> unbroadcast(np.ones((2, 3)), (3,))
    array([2., 2., 2.])
    """
    if cotangent is None:
        return None
    if type(cotangent) is np.ndarray and cotangent.shape == shape:  # the common case
        return cotangent
    shape = tuple(shape)
    cot = np.asarray(cotangent)
    if cot.shape == shape:
        return cotangent
    lead = 1 if lane_count() and cot.ndim > len(shape) else 0  # keep the lane axis
    extra = cot.ndim - lead - len(shape)
    if extra > 0:
        cot = cot.sum(axis=tuple(range(lead, lead + extra)))
    stretched = tuple(
        lead + i for i, n in enumerate(shape) if n == 1 and lead + i < cot.ndim and cot.shape[lead + i] != 1
    )
    if stretched:
        cot = cot.sum(axis=stretched, keepdims=True)
    full = cot.shape[:lead] + shape
    if cot.shape != full:
        cot = np.broadcast_to(cot, full)
    return cot


def cotangent_dtype(x: Any) -> np.dtype[Any] | None:
    """The dtype of ``x``'s cotangent, or ``None`` when ``x`` gets none.

    Floating and complex primals keep their own precision (float32 stays
    float32); Python floats and complexes count as float64/complex128;
    integer, boolean and non-numeric primals have no cotangent.
    """
    if isinstance(x, (bool, int, np.integer, np.bool_)):
        return None
    if isinstance(x, (float, complex)):
        return np.result_type(x)
    dt = getattr(x, "dtype", None)
    if dt is None:
        try:
            dt = np.asarray(x).dtype
        except (TypeError, ValueError):
            return None
    if dt.kind in "fc":
        return np.dtype(dt)
    return None


def fit(cotangent: Any, x: Any) -> Any:
    """Shape and cast ``cotangent`` into a valid cotangent for primal ``x``.

    Sums broadcast axes away (:func:`unbroadcast`), takes the real part for a
    real ``x`` and casts to ``x``'s precision.  Returns ``None`` for a zero
    cotangent or a primal that has none (integer, boolean).  A scalar primal
    gets a NumPy scalar, an array primal an array.
    """
    t = type(cotangent)
    if t is np.ndarray:  # fast path: already an array of x's shape and (inexact) dtype
        if type(x) is np.ndarray and cotangent.shape == x.shape and cotangent.dtype == x.dtype \
                and x.dtype in _INEXACT:
            return cotangent
    elif t is np.float64 or t is float:  # fast path: a real scalar for a real scalar
        tx = type(x)
        if tx is float or tx is np.float64:
            return np.float64(cotangent)
    elif cotangent is None:
        return None
    dt = cotangent_dtype(x)
    if dt is None:
        return None
    cot = unbroadcast(cotangent, np.shape(x))
    if dt.kind == "f" and np.iscomplexobj(cot):
        cot = np.real(cot)
    cot = np.asarray(cot, dtype=dt)
    if not isinstance(x, np.ndarray):
        return cot[()] if hasattr(type(cot), "__getitem__") else cot  # a number stand-in: itself
    return cot


def conj(a: Any) -> Any:
    """Complex conjugate of ``a``, or ``a`` itself (no copy) when it is real."""
    t = type(a)
    if t is np.ndarray:
        return np.conj(a) if a.dtype.kind == "c" else a
    if t is float or t is np.float64:
        return a
    return np.conj(a) if np.iscomplexobj(a) else a


def times(g: Any, d: Any, template: Any, kept: tuple[Any, ...] = (), conjugate: bool = False) -> Any:
    """``fit(g * d, template)`` (``g * conj(d)`` with ``conjugate``): the cotangent ``g``
    times a local derivative ``d``.

    When ``d`` is a fresh array (not one of the ``kept`` values the formula
    read) of ``g``'s shape and dtype, the conjugate and the product are taken in
    ``d``'s buffer: no allocation (a fresh buffer costs a pass of page faults).
    """
    # (a formula's fresh result is writable: only constants and views could be read-only)
    if type(d) is np.ndarray and type(g) is np.ndarray and d.shape == g.shape and d.dtype == g.dtype \
            and d.base is None:
        for k in kept:
            if d is k:
                break
        else:
            if conjugate and d.dtype.kind == "c":
                np.conjugate(d, out=d)
            return fit(np.multiply(d, g, out=d), template)
    elif lanes_donated(g) and np.result_type(g, d) == g.dtype and np.broadcast_shapes(g.shape, np.shape(d)) == g.shape:
        # stacked lanes (k, *shape) times a lane-free d: in g's buffer (the engine gave it away)
        return fit(np.multiply(g, conj(d) if conjugate else d, out=g), template)
    return fit(g * (conj(d) if conjugate else d), template)


_BLOCK = 1 << 14  # elements per block in into(): a formula's temporaries stay in cache


def into(g: np.ndarray, formula: Callable[..., Any], kept: Sequence[Any]) -> np.ndarray | None:
    """``formula(g, *kept)`` written into ``g``'s own buffer, block by block, when the
    engine donated ``g`` (:func:`~activerules.engine.donation.donated`); ``None`` otherwise.

    The formula is elementwise; ``kept`` holds arrays shaped like ``g`` (read a block
    at a time) and scalars. Each block's temporaries are small, so the cotangent
    costs no fresh whole-size buffer (each of which is a pass of page faults).
    """
    lanes = lanes_donated(g)  # stacked lanes (k, *shape): each lane in turn, kept arrays (*shape)
    if not (lanes or donated(g)) or not g.flags.c_contiguous:
        return None
    shape = g.shape[1:] if lanes else g.shape
    for k in kept:
        if type(k) is np.ndarray and (k.shape != shape or not k.flags.c_contiguous):
            return None
    parts = [k.reshape(-1) if type(k) is np.ndarray else k for k in kept]
    for flat in g.reshape(len(g) if lanes else 1, -1):
        for i in range(0, flat.size, _BLOCK):
            block = slice(i, i + _BLOCK)
            flat[block] = formula(flat[block], *[p[block] if type(p) is np.ndarray else p for p in parts])
    return g


def restore_axes(g: Any, shape: Sequence[int], axis: Any = None, keepdims: bool = False,
                 lanes: bool = True) -> Any:
    """Broadcast a reduction's cotangent ``g`` back to the input ``shape``.

    ``axis`` and ``keepdims`` are the reduction's arguments; the reduced axes
    are re-inserted (when not kept) and ``g`` is broadcast (read-only view).
    On stacked lanes (:func:`~activerules.dispatch.lanes.lane_count`) ``g``'s
    leading axis is the lanes', kept in front: the result is ``(k, *shape)``;
    ``lanes=False`` for a primal value (it has no lane axis).
    """
    shape = tuple(shape)
    g = np.asarray(g)
    k = lane_count() if lanes else 0
    full = (k, *shape) if k else shape
    if g.ndim == (1 if k else 0):  # a full reduction: nothing to re-insert but the axes
        return np.broadcast_to(g.reshape(g.shape + (1,) * len(shape)), full)
    if not keepdims and len(full) != g.ndim:
        if axis is None:
            axes: tuple[int, ...] = tuple(range(len(shape)))
        else:
            axes = normalize_axis_tuple(axis, len(shape))
        g = np.expand_dims(g, tuple(a + 1 for a in axes) if k else axes)
    return np.broadcast_to(g, full)


def accumulate(arg: Any, cotangent: Callable[[], Any] | Any, primal: Any) -> Any:
    """Deliver a cotangent to an annotated argument of an Enzyme-style rule.

    ``arg`` is the annotation, ``primal`` the argument's value (passed
    separately so reverse closures need not read ``arg.val``).  ``cotangent``
    may be a zero-argument callable, evaluated only when ``arg`` is not
    ``Const``.  A ``Duplicated`` shadow is accumulated in place (``+=``) and
    ``None`` returned; an ``Active`` argument gets its cotangent returned.
    """
    state = _state(arg)
    if state == _CONST:
        return None
    return _deliver(state, arg, cotangent() if callable(cotangent) else cotangent, primal)


def _deliver(state: int, arg: Any, cotangent: Any, primal: Any) -> Any:
    """:func:`accumulate` for a non-Const ``arg`` whose state is known."""
    return _hand(state, arg, fit(cotangent, primal))


def _hand(state: int, arg: Any, cot: Any) -> Any:
    """:func:`_deliver` for a cotangent already fitted to the primal."""
    if state == _ACTIVE:
        return cot
    if cot is not None:
        if arg.fresh:  # the engine's zero shadow: hand the cotangent over
            arg._dval = cot  # the slot behind the dval property (activity.set_shadow)
        else:
            arg.dval += cot
    return None


_CONST, _ACTIVE, _SHADOWED = 0, 1, 2
_STATES: dict[type, int] = {}


def _state(arg: Any) -> int:
    """Const, Active or shadowed, by the annotation's class (cached: the
    annotations' parametric ``isinstance`` costs a microsecond)."""
    t = type(arg)
    state = _STATES.get(t)
    if state is None:
        state = _STATES[t] = _CONST if issubclass(t, Const) else _ACTIVE if issubclass(t, Active) else _SHADOWED
    return state


_TEMPLATES: dict[tuple[tuple[int, ...], np.dtype[Any]], np.ndarray] = {}


def like(v: Any) -> Any:
    """A zero-cost stand-in with ``v``'s shape and dtype, for :func:`fit`.

    Reverse closures keep this instead of the primal when they need only its
    shape and dtype, so the engine has nothing to preserve. The stand-ins are
    read-only zero-stride arrays, cached per shape and dtype.
    """
    if isinstance(v, np.ndarray):
        key = (v.shape, v.dtype)
        t = _TEMPLATES.get(key)
        if t is None:
            if len(_TEMPLATES) >= 512:  # shapes vary without bound in long sessions
                _TEMPLATES.clear()
            t = _TEMPLATES[key] = np.broadcast_to(np.zeros((), v.dtype), v.shape)
        return t
    return v


def reads(formula: Callable[..., Any]) -> tuple[str, ...]:
    """The parameter names of a derivative formula, i.e. the values it reads.

    The rule factories use this to capture exactly those values in a
    reverse closure.
    """
    return tuple(inspect.signature(formula).parameters)


_NOVALUE = getattr(np, "_NoValue", object())
_SIGNATURES: dict[Any, inspect.Signature] = {}
_DEFAULTS: dict[tuple[Any, int], dict[str, Any]] = {}


def bind(signature_of: Callable[..., Any], arrays: int, *args: Any, **kwargs: Any) -> dict[str, Any]:
    """The static arguments of a call to ``signature_of``, by name, defaults applied.

    The first ``arrays`` parameters (the differentiated arrays) are left out,
    so a reverse closure that keeps the result keeps no primal alive.
    NumPy's ``<no value>`` defaults read as ``None``.  Rules use this to find
    ``axis``/``keepdims`` whether they were passed by position or keyword.
    """
    defaults_only = len(args) == arrays and not kwargs  # the common call: every static argument defaulted
    if defaults_only:
        cached = _DEFAULTS.get((signature_of, arrays))
        if cached is not None:
            return dict(cached)
    sig = _SIGNATURES.get(signature_of)
    if sig is None:
        sig = _SIGNATURES[signature_of] = inspect.signature(signature_of)
    bound = sig.bind(*args, **kwargs)
    bound.apply_defaults()
    out = dict(bound.arguments)
    for key, param in sig.parameters.items():
        if param.kind is inspect.Parameter.VAR_KEYWORD:
            out.update(out.pop(key, {}))
    skip = list(sig.parameters)[:arrays]
    result = {k: (None if v is _NOVALUE else v) for k, v in out.items() if k not in skip}
    if defaults_only:
        _DEFAULTS[signature_of, arrays] = dict(result)
    return result


def picker(names: Sequence[str], order: Sequence[str]) -> Callable[[tuple[Any, ...]], tuple[Any, ...]]:
    """A function taking the values named ``order`` (a tuple) to those named ``names``.

    The factories use it to pick, at each call, what a formula reads (its
    parameters) from what the rule has, without building a dict per call.
    """
    idx = [order.index(n) for n in names]
    if not idx:
        return lambda vals: ()
    if len(idx) == 1:
        i = idx[0]
        return lambda vals: (vals[i],)
    get = operator.itemgetter(*idx)
    return lambda vals: get(vals)  # type: ignore[no-any-return]


def nones(args: Sequence[Any]) -> tuple[None, ...]:
    """Zero cotangents (``None``) for positional non-differentiable arguments."""
    return (None,) * len(args)


def explicit_out(fn: Any, kw: dict[str, Any]) -> dict[str, Any]:
    """``kw`` for a ufunc call that the engine makes without the caller's ``out=``.

    With ``where=``, NumPy leaves the masked entries of a fresh output uninitialised
    and warns unless ``out=None`` says so: that is intended here, since the engine
    copies only the selected entries into the caller's ``out`` and :func:`masked`
    zeroes the cotangent at the others.
    """
    if "where" in kw and "out" not in kw and isinstance(fn, np.ufunc):
        return {**kw, "out": None if fn.nout == 1 else (None,) * fn.nout}
    return kw


def masked(kw: dict[str, Any], cotangent: Callable[..., Any], *args: Any) -> Any:
    """``cotangent(*args)``, zeroed where a ufunc's ``where=`` mask left the output alone.

    The mask is applied after the derivative formula, as a select: where the
    output was not written the formula may read unwritten or invalid values
    (``sqrt`` of a negative, ``1/0``), and ``0 * inf`` would be NaN.  The
    formula's floating-point warnings at those points are silenced.
    """
    where = kw.get("where", True)
    if where is True:
        return cotangent(*args)
    with np.errstate(all="ignore"):
        cot = cotangent(*args)
    return None if cot is None else np.where(where, cot, 0)


_PARTIAL_READS = ("a", "b", "y", "sa", "sb", "p")


def partial_pickers(da: Callable[..., Any], db: Callable[..., Any],
                    order: Sequence[str]) -> tuple[Callable[..., Any], Callable[..., Any]]:
    """Pickers (:func:`picker`) of what the partials ``da``/``db`` read besides ``g``.

    A partial's first parameter is the output cotangent ``g``; it is called as
    ``da(g, *picked)``.
    """
    pickers = []
    for d in (da, db):
        names = reads(d)
        if names[:1] != ("g",):
            raise TypeError(f"{formula(d)}: a partial's first parameter must be the cotangent g")
        pickers.append(picker(names[1:], order))
    return pickers[0], pickers[1]


def activity_rule(fn: Callable[..., Any], da: Callable[..., Any], db: Callable[..., Any],
                  elementwise: bool = False) -> Callable[..., Any]:
    """An Enzyme-style rule for a two-array-argument ``fn`` from its two partials.

    ``da``/``db`` map the output cotangent ``g`` (their first parameter) to the
    cotangent of ``a``/``b``, reading only the values they name among ``a``,
    ``b``, ``y`` (the output), ``sa``/``sb`` (the operands' shapes) and ``p``
    (every argument by name, as :func:`bind` gives them).
    The reverse closure keeps only the values read by the partials of
    arguments that are not ``Const`` (``x * c`` with ``c`` Const keeps ``c``
    alone), and a Const argument's cotangent is never formed.  Further
    positional arguments (axes, ...) arrive as Const and get no cotangent.
    The rule is atomic: register it with ``atomic=True``. ``elementwise``: the
    partials are elementwise formulas, so a single live one may be computed in a
    donated ``g`` (:func:`into`).
    """
    pick_a, pick_b = partial_pickers(da, db, _PARTIAL_READS)
    read = set(reads(da) + reads(db))
    needs_p, needs_shapes = "p" in read, bool(read & {"sa", "sb"})

    def impl(cfg: Any, a: Any, b: Any, *static: Any, **kw: Any) -> tuple[Any, Callable[[Any], Any]]:
        av, bv = a.val, b.val
        sv = [s.val for s in static] if static else ()
        y = fn(av, bv, *sv, **explicit_out(fn, kw)) if sv or kw else fn(av, bv)
        env = (av, bv, y, np.shape(av) if needs_shapes else None, np.shape(bv) if needs_shapes else None,
               bind(fn, 2, av, bv, *sv, **kw) if needs_p else None)
        state_a, state_b = _state(a), _state(b)
        # what each live partial reads, and shape/dtype stand-ins for fit()
        ka, ta = ((), None) if state_a == _CONST else (pick_a(env), like(av))
        kb, tb = ((), None) if state_b == _CONST else (pick_b(env), like(bv))
        del env, av, bv, sv

        def reverse(g: Any) -> Any:
            # both cotangents are formed (and fitted) before either shadow is written: the
            # rule is atomic, so the engine runs it without scratch shadows (see registry.rule)
            ga = gb = None
            if elementwise and not kw and (state_a == _CONST) != (state_b == _CONST):
                # one array argument differentiated, of g's shape: its cotangent is computed in g
                # (on stacked lanes g is (k, *shape): attribute checks first, no call per op)
                t = ta if state_b == _CONST else tb
                lanes = type(t) is np.ndarray and type(g) is np.ndarray and g.ndim == t.ndim + 1 and lanes_donated(g)
                if (lanes or donated(g)) and type(t) is np.ndarray and t.shape == g.shape[lanes:] and t.dtype == g.dtype:
                    ga, gb = (into(g, da, ka), None) if state_b == _CONST else (None, into(g, db, kb))
            if ga is None and gb is None:  # g was not donated
                if kw:
                    ga = None if state_a == _CONST else fit(masked(kw, da, g, *ka), ta)
                    gb = None if state_b == _CONST else fit(masked(kw, db, g, *kb), tb)
                else:
                    ga = None if state_a == _CONST else fit(da(g, *ka), ta)
                    gb = None if state_b == _CONST else fit(db(g, *kb), tb)
            ca = None if state_a == _CONST else _hand(state_a, a, ga)
            cb = None if state_b == _CONST else _hand(state_b, b, gb)
            return None if ca is None and cb is None else (ca, cb, *nones(static))

        return y, reverse

    return impl


def formula(f: Callable[..., Any]) -> str:
    """The source text of a derivative formula: a one-line lambda's body, or a function's name.

    Used in generated docstrings so the coverage table shows each rule's maths.
    """
    if getattr(f, "__name__", "") != "<lambda>":
        return f"{getattr(f, '__name__', f)}(...)"
    code = f.__code__
    positions = getattr(code, "co_positions", None)  # Python >= 3.11
    if positions is None:
        return "<lambda>"
    cols = [p[2] for p in positions() if p[0] == code.co_firstlineno and p[2] is not None]
    line = linecache.getline(code.co_filename, code.co_firstlineno)
    text = line.strip().rstrip(",")
    offset = len(line) - len(line.lstrip()) - 1  # the "{" we wrap the line in
    try:
        tree = ast.parse("{" + text + "}", mode="eval")
    except SyntaxError:
        return "<lambda>"
    for node in ast.walk(tree):
        if isinstance(node, ast.Lambda) and any(node.col_offset + offset <= c < (node.end_col_offset or 0) + offset
                                                  for c in cols[1:] or cols):
            return ast.get_source_segment("{" + text + "}", node.body) or "<lambda>"
    return "<lambda>"
