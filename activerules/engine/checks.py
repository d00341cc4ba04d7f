"""What the entry points check and hand back: the primal of a result, the result and
cotangent checks, seeding the outputs, reading the cotangents."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..activity import Active, ActiveRulesError, ActivityError, BatchDuplicated, Const, Duplicated
from . import levels
from .inert import Inert
from .nested import _plain_shadows, seed
from .outputs import rebuild
from .standins import Tracked, TrackedScalar
from .tape import Cell, Tape
from .trees import child_path, describe, is_node, items_of, map_leaves, rebuild_node

__all__ = ["primal_of"]


_DEFAULT: Any = object()


def _refuse_half(v: Any, entry: str, where: str) -> None:
    """The dtype policy for half precision: the engine differentiates float32, float64 and
    complex values only (NumPy would compute float16 in half precision, with derivatives
    too coarse to trust); the adapters compute it in float32 and cast back."""
    if np.asarray(v).dtype == np.float16:
        raise ActivityError(
            f"{entry}: {where} is float16: the engine differentiates float32, float64 and complex "
            "values; pass x.astype(np.float32) (and cast the derivative back if you need float16; "
            "the JAX, PyTorch and autograd adapters do this for you), or ar.Const(x) to keep it constant")


def primal_of(v: Any, tape: Any = None) -> Any:
    """The primal value of a result: tracked stand-ins unwrapped (copied if a reverse may
    still read their buffer); ``tape``: only its own (an enclosing level's stay as they are).

    >>> import numpy as np
    >>> primal_of((np.ones(2), 3.0, None))
    (array([1., 1.]), 3.0, None)
    """
    t = type(v)
    if tape is not None and (t is Tracked or t is TrackedScalar or t is Inert) and v._tape is not tape:
        return v
    if t is Tracked:
        root = v._root if v._root is not None else v
        return v._a.copy() if root._pinned else v._a
    if t is TrackedScalar:
        return v._v
    if t is Inert:
        root = v._root if v._root is not None else v
        return v._a.copy() if root._pinned else v._a
    if isinstance(v, (tuple, list)):  # named tuples (an eigh or slogdet result) too
        return rebuild(v, [primal_of(e, tape) for e in v])
    if is_node(v):  # a dict
        return rebuild_node(v, [primal_of(e, tape) for _, e in items_of(v)])
    return v


def _kind(v: Any) -> str:
    """What ``v`` is, for error messages."""
    if v is None:
        return "None"
    if is_node(v):
        return f"a {type(v).__name__} {describe(v)}"
    if isinstance(v, np.ndarray):
        return f"an ndarray of dtype {v.dtype}"
    if callable(v):
        return f"a function ({getattr(v, '__qualname__', type(v).__name__)})"
    name = type(v).__name__
    article = "an" if name[0] in "aeiou" else "a"
    return f"{article} {name} ({v!r})" if isinstance(v, (int, str, np.generic)) else f"{article} {name}"


def _dtype_kind(v: Any) -> str:
    """The dtype kind of an array or number (stand-ins included), ``"O"`` for anything else."""
    if type(v) is TrackedScalar:
        return str(v._cell.dtype.kind)
    if isinstance(v, (Tracked, np.ndarray, np.generic)):
        return str(v.dtype.kind)
    if isinstance(v, (int, float, complex)):
        return str(np.result_type(v).kind)
    return "O"


def _nested(where: str) -> ActiveRulesError:
    """The error for a stand-in of a finished differentiation reaching this one."""
    return ActiveRulesError(f"{where}: {levels.escaped().args[0]}")


def _refuse_tracked(v: Any, where: str) -> None:
    """Raise if a stand-in (of an enclosing differentiation) is in ``v``: an argument,
    annotation, container, seed or cotangent given to an entry point."""
    t = type(v)
    if t is np.ndarray or t is float:
        return
    if t is Tracked or t is TrackedScalar:
        if not levels.is_open(v._tape):
            raise _nested(where)
        if "shadow" in where:
            raise _plain_shadows(where)
        return
    if isinstance(v, (Duplicated, BatchDuplicated)) and type(v.val) is Tracked:
        raise ActiveRulesError(
            f"autodiff: {where} is an array of an enclosing differentiation given as Duplicated "
            "(higher order): its shadow would receive values of that differentiation in place. "
            "Use ar.gradient or ar.vjp for the inner differentiation, or pass it as Const(x)")
    if isinstance(v, (Const, Active, Duplicated, BatchDuplicated)):
        for name, e in vars(v).items():
            _refuse_tracked(e, where if name == "val" else f"the shadow of {where}")
    elif is_node(v):
        for k, e in items_of(v):
            _refuse_tracked(e, child_path(where, k))


def _seed(result: Any, returns: Any, tape: Tape) -> None:
    width = tape.width
    if returns is _DEFAULT:
        if result is None:
            return
        if (type(result) is Tracked or isinstance(result, np.ndarray)) and not _zero_d(result, width):
            raise ActivityError("f returned an array: pass returns=ar.Const (derivatives flow "
                                "through Duplicated arguments) or use ar.vjp")
        returns = Active
    if returns is Const or isinstance(returns, Const):
        return
    if returns is Active or isinstance(returns, Active):
        seed = 1.0 if returns is Active else returns.val
        _refuse_tracked(seed, "the seed of returns=ar.Active(seed)")
        if type(seed) is TrackedScalar or type(seed) is Tracked:
            tape.nested = True  # the sweep is recorded by the seed's level
        if type(result) is Tracked and not _zero_d(result, width):
            raise ActivityError("an array result cannot be Active (arrays are mutable): pass "
                                "returns=ar.Const or use ar.vjp")
        _check_scalar_result(result, tape, "autodiff", np.iscomplexobj(seed))
        if (type(result) is Tracked or type(result) is TrackedScalar) and result._tape is not tape:
            return  # an enclosing level's value: a constant of this differentiation, not seeded
        if type(result) is Tracked:  # a 0-d array, seeded as vjp seeds it
            _seed_vjp(result, seed)
        elif type(result) is TrackedScalar:
            if width and not isinstance(seed, tuple):
                seed = (seed,) * width
            result._cell.shadow = seed
        return
    raise ActivityError(f"returns must be ar.Active, ar.Active(seed) or ar.Const, got {returns!r}")


def _zero_d(result: Any, width: int) -> bool:
    """A 0-d array result, which a (non-batch) Active return seeds like a number."""
    return not width and result.shape == ()


def _check_scalar_result(y: Any, tape: Tape, who: str, complex_ok: bool = False) -> None:
    """Raise unless ``y`` is one real scalar of this differentiation (``complex_ok``:
    or a complex one, seeded with a complex cotangent)."""
    t = type(y)
    if t is float:
        return
    if t is TrackedScalar or t is Tracked:
        if y._tape is not tape and not levels.is_open(y._tape):
            raise _nested(f"{who}: f's result")  # an enclosing level's is a constant of this one
        shape, dtype = ((), y._cell.dtype) if t is TrackedScalar else (y.shape, y.dtype)
    elif isinstance(y, (np.ndarray, np.number, int, float, complex)) and not isinstance(y, bool):
        shape, dtype = np.shape(y), np.result_type(y)
    else:
        raise ActivityError(f"{who}: f returned {_kind(y)}; {who} needs one real scalar result: "
                            "return a scalar, or use ar.vjp (one cotangent per output)")
    if shape != ():
        raise ActivityError(f"{who} needs a scalar result, f returned shape {shape}; use ar.vjp")
    if dtype.kind == "c" and not complex_ok:
        raise ActivityError(f"{who}: f returned a complex scalar; {who} needs a real result (as "
                            "jax.grad): use ar.vjp with a complex cotangent, or differentiate a real "
                            "function of it (abs(y) ** 2, y.real)")
    if dtype.kind not in "fc":
        raise ActivityError(f"{who}: f returned {_kind(y)}, which has no derivative; {who} needs "
                            "a real float scalar result")


def _cotangent(c: Any, width: int) -> Any:
    """The cotangent held by ``c``: a cell, ``None`` (not differentiated) or a container of those."""
    if type(c) is Cell:
        return c.shadow if c.shadow is not None else c.zeros(width)
    if c is None:
        return None
    return map_leaves(lambda leaf, _: _cotangent(leaf, width), c, "")


def _derivative(arg: Any, cell: Any, width: int) -> Any:
    if not isinstance(arg, Active) or cell is None:
        return None
    return _cotangent(cell, width)


def _check_output(r: Any, tape: Tape, where: str) -> None:
    """Raise unless every leaf of :func:`vjp`'s result is an array, a number, a string
    or ``None`` (a container's part), the stand-ins of this differentiation."""
    if is_node(r):
        for k, e in items_of(r):
            _check_output(e, tape, child_path(where, k))
        return
    t = type(r)
    if t is Tracked or t is TrackedScalar:
        if r._tape is not tape and not levels.is_open(r._tape):
            raise _nested(f"vjp: {where}")
    elif not (r is None or isinstance(r, (np.ndarray, np.generic, int, float, complex, str))):
        raise ActivityError(f"vjp: {where} is {_kind(r)}, which has no cotangent: return arrays, "
                            "numbers and dicts, lists, tuples or named tuples of them")


def _check_cotangent(r: Any, y: Any, where: str) -> None:
    """Raise unless ``y`` is a cotangent for the output ``r``: the same structure
    (``None`` for a zero part), each leaf of its output's shape, no complex for a real one."""
    if y is None:
        return
    if (type(y) is Tracked or type(y) is TrackedScalar) and not levels.is_open(y._tape):
        raise _nested(f"the cotangent for {where}")
    if is_node(r) or is_node(y):
        if (not is_node(r) or not is_node(y) or isinstance(r, dict) != isinstance(y, dict)
                or len(r) != len(y) or (isinstance(r, dict) and set(r) != set(y))):
            given = describe(y) if is_node(y) else _kind(y)
            raise ActivityError(f"vjp pullback: the cotangent for {where} has structure {given}, "
                                f"the output has structure {describe(r)}: give a cotangent of the "
                                "output's structure (None for a part whose cotangent is zero)")
        for k, e in items_of(r):
            _check_cotangent(e, y[k], child_path(where, k))
        return
    if type(r) is Tracked or type(r) is TrackedScalar:
        shape, dtype = (r.shape, r.dtype) if type(r) is Tracked else ((), r._cell.dtype)
    elif isinstance(r, (np.ndarray, np.generic, int, float, complex)) and not isinstance(r, (bool, np.bool_)):
        shape, dtype = np.shape(r), np.result_type(r)
    else:
        shape, dtype = (), np.dtype(object)
    if dtype.kind not in "fc":
        raise ActivityError(f"vjp pullback: {where} is {_kind(r)}, which has no derivative: "
                            "give None as its cotangent")
    ty = type(y)
    if ty is np.ndarray:  # the common cases without NumPy's slower generic queries
        yshape, ydtype = y.shape, y.dtype
    elif ty is float:
        yshape, ydtype = (), _FLOAT64
    elif isinstance(y, (np.ndarray, np.number, int, float, complex)) and not isinstance(y, bool):
        yshape, ydtype = np.shape(y), np.result_type(y)
    else:
        raise ActivityError(f"vjp pullback: the cotangent for {where} is {_kind(y)}: give an "
                            f"array of shape {shape} (or None)")
    if (yshape != shape and not _broadcasts_to(yshape, shape)) or ydtype.kind not in "iufc":
        raise ActivityError(f"vjp pullback: the cotangent for {where} has shape {yshape} and "
                            f"dtype {ydtype}, the output has shape {shape} and dtype {dtype}: "
                            "give one of the output's shape (or one that broadcasts to it)")
    if ydtype.kind == "c" and dtype.kind != "c":
        raise ActivityError(f"vjp pullback: the cotangent for the real {where} is complex "
                            f"({ydtype}): give a real one")


_FLOAT64 = np.dtype(np.float64)


def _broadcasts_to(given: tuple[int, ...], shape: tuple[int, ...]) -> bool:
    try:
        return np.broadcast_shapes(given, shape) == shape
    except ValueError:
        return False


def _clear_outputs(result: Any) -> None:
    """Zero the shadows of the outputs before they are seeded (an output no entry
    writes, as ``np.zeros_like(x)``, keeps the seed of an earlier call)."""
    t = type(result)
    if t is Tracked or t is TrackedScalar:
        result._cell.shadow = None
    elif is_node(result):
        for _k, r in items_of(result):
            _clear_outputs(r)


def _seed_vjp(result: Any, ybar: Any) -> None:
    """Add ``ybar`` to the shadows of the outputs: outputs may share a storage
    (``(x[:2], x[2:])``, ``np.split(x, 3)``, ``(y, y)``), so their seeds add up."""
    t = type(result)
    if (t is Tracked or t is TrackedScalar) and (type(ybar) is Tracked or type(ybar) is TrackedScalar):
        return seed(result, ybar, result._tape)  # higher order: a cotangent of an enclosing level
    if t is Tracked:
        cell = result._cell
        if (cell.shadow is None and result._view is None and type(ybar) is np.ndarray
                and ybar.shape == cell.shape and ybar.dtype == cell.dtype and cell.fits(ybar)):
            cell.shadow = ybar.copy(order="K")  # the sweep accumulates into it: never the caller's array
            return
        s = cell.ensure(0)
        (result._view(s) if result._view is not None else s)[...] += ybar
    elif t is TrackedScalar:
        if type(ybar) is not float:  # a 0-d array or an integer: a scalar of the output's type
            ybar = result._cell.dtype.type(ybar)
        s = result._cell.shadow
        result._cell.shadow = ybar if s is None else s + ybar
    elif is_node(result):
        for k, r in items_of(result):
            y = ybar[k]
            if y is not None:
                _seed_vjp(r, y)
