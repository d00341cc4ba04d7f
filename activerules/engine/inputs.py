"""The arguments of each entry point turned into a :class:`~.run._Run`: annotations
(``autodiff``), positions and containers (``gradient``, ``vjp``)."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from ..activity import Active, ActivityError, BatchDuplicated, Const, Duplicated
from . import levels
from .checks import _kind, _nested, _refuse_half, _refuse_tracked
from .inert import Inert
from .nested import _enclosing
from .run import _Run
from .standins import Tracked, TrackedScalar, new_scalar
from .trees import child_path, is_node, items_of, rebuild_node


def _width(args: Sequence[Any]) -> int:
    widths = {len(a.dvals) for a in args if isinstance(a, BatchDuplicated)}
    if len(widths) > 1:
        raise ActivityError(f"BatchDuplicated arguments of different widths {sorted(widths)}")
    if widths and any(isinstance(a, Duplicated) for a in args):
        raise ActivityError("a call cannot mix Duplicated and BatchDuplicated arguments")
    return widths.pop() if widths else 0


def _autodiff_run(args: Sequence[Any], width: int) -> _Run:
    """The run of :func:`autodiff` before its forward pass: its constant arrays are
    held (:meth:`_Run.hold`), ``f``'s final values written back into them."""
    run = _Run(width)
    try:
        for k, a in enumerate(args):
            where = f"argument {k}"
            _refuse_tracked(a, where)
            if isinstance(a, BatchDuplicated):
                _add_duplicated(run, k, a.val, tuple(a.dvals), where, batch=True)
            elif isinstance(a, Duplicated):
                _add_duplicated(run, k, a.val, a.dval, where)
            elif isinstance(a, Active):
                run.add_active(a.val, where)
            else:
                v = a.val if isinstance(a, Const) else a
                run.add_const(run.hold(v, write_back=True) if isinstance(v, np.ndarray) else v)
        if run.copy_back:
            _refuse_constant_aliases(run)
    except BaseException:
        run.release()  # the arrays of the arguments before the bad one
        run.tape.unlock()
        raise
    return run


def _using(registry: Any, run: _Run) -> _Run:
    """``run`` with its tape resolving rules in ``registry`` (None: the global one)."""
    run.tape.registry = registry
    return run


def _add_duplicated(run: _Run, k: int, arr: Any, shadow: Any, where: str, batch: bool = False) -> None:
    """Argument ``k`` of :func:`autodiff`, an array with its shadow(s). Enzyme's rule, one
    storage has one shadow: the same array with the same shadow as an earlier argument
    is that argument's stand-in again (the function sees one array, as NumPy's call
    does); any other sharing of memory between differentiated arguments raises."""
    if not isinstance(arr, np.ndarray):  # a container of arrays (or a bad argument): add_array says
        run.add_array(arr, shadow, where, batch)
        return
    for j, (t, other, _own) in enumerate(run.copy_back):
        if not np.shares_memory(arr, other):
            continue
        same = run.shadows[j]
        if arr is other and (shadow is same or (type(shadow) is tuple and type(same) is tuple
                                                and all(a is b for a, b in zip(shadow, same)))):
            run.call_args.append(t)
            run.cells.append(t._cell)
            return
        first = run.cells.index(t._cell)
        raise ActivityError(
            f"autodiff: argument {k} shares memory with argument {first} but is not the same array "
            "with the same shadow; one storage has one shadow (Enzyme's rule): pass the same "
            "ar.Duplicated(x, dx) for both, or a copy (x.copy()) for an independent argument")
    run.add_array(arr, shadow, where, batch)


def _refuse_constant_aliases(run: _Run) -> None:
    """A constant array argument of :func:`autodiff` must not share memory with a
    differentiated one: the function writes into a copy of the latter (the constant
    would not see the writes it sees in NumPy), and its derivative would be dropped."""
    for k, c in enumerate(run.call_args):
        if type(c) is Tracked or not isinstance(c, np.ndarray):  # a stand-in passes as an ndarray
            continue
        for t, arr, _own in run.copy_back:
            if np.shares_memory(c._a if type(c) is Inert else c, arr):
                raise ActivityError(
                    f"autodiff: argument {k} (constant) shares memory with argument "
                    f"{run.cells.index(t._cell)} (differentiated); pass the array once, or a copy "
                    "(x.copy()) as the constant")


def _vjp_run(args: Sequence[Any], diff: Any) -> _Run:
    """The run of :func:`vjp` before its forward pass (``diff``: the positions to
    differentiate, every other argument constant, a leaf of them that cannot be
    differentiated an error; ``None``: decided per leaf as ``vjp`` says)."""
    run = _Run(0)
    try:
        for k, a in enumerate(args):
            t = type(a)
            if diff is not None and k not in diff:
                run.add_const(_const_arg(run, a, f"argument {k}"))
            elif t is np.ndarray and a.dtype.kind in "fc" and a.dtype.itemsize > 2:  # the common cases first
                run.add_borrowed(a)
            elif t is float or t is complex:
                run.add_scalar(a)
            else:
                value, cells = _input(run, a, f"argument {k}", diff is not None)
                run.call_args.append(value)
                run.cells.append(cells)
    except BaseException:
        run.release()  # the arrays of the arguments before the bad one
        run.tape.unlock()
        raise
    return run


def _input(run: _Run, v: Any, where: str, strict: bool) -> tuple[Any, Any]:
    """What ``f`` receives for ``v`` (a leaf or a container) and the cells of its
    differentiated leaves (``None`` for a constant one), in ``v``'s structure.
    ``strict``: a leaf that cannot be differentiated raises (:func:`gradient`)."""
    if is_node(v):
        pairs = [_input(run, e, child_path(where, k), strict) for k, e in items_of(v)]
        return rebuild_node(v, [p[0] for p in pairs]), rebuild_node(v, [p[1] for p in pairs])
    t = type(v)
    if t is Tracked or t is TrackedScalar:  # an enclosing differentiation's: an active input
        s = _enclosing(v, run.tape, where)
        return s, s._cell
    if isinstance(v, Const):
        return _const_arg(run, v.val, where), None
    if isinstance(v, np.ndarray) and v.dtype.kind in "fc":
        _refuse_half(v, "gradient" if strict else "vjp", where)
        s = run.borrowed(v)
        return s, s._cell
    if isinstance(v, (float, complex, np.inexact)):
        _refuse_half(v, "gradient" if strict else "vjp", where)
        sc = new_scalar(v, run.tape)
        return sc, sc._cell
    if strict:
        raise ActivityError(
            f"gradient: {where} is {_kind(v)}, which has no derivative (only float and complex "
            "arrays and numbers have one, as in jax.grad): leave it out of argnums, or wrap it "
            "as ar.Const(...) to keep it constant inside a differentiated container")
    return _const_arg(run, v, where), None


def _const_arg(run: _Run, v: Any, where: str) -> Any:
    """An undifferentiated argument as ``f`` receives it from :func:`gradient` and
    :func:`vjp` (both functional): its arrays inert stand-ins (:meth:`_Run.hold`), its
    containers rebuilt (``f`` may change them, not the caller's)."""
    t = type(v)
    if t is np.ndarray:
        return run.hold(v)
    if t is float or t is int or v is None:
        return v
    if t is Tracked or t is TrackedScalar:
        if not levels.is_open(v._tape):
            raise _nested(where)
        return v  # an enclosing level's value: a constant of this differentiation
    if isinstance(v, Const):
        return _const_arg(run, v.val, where)
    if is_node(v):
        return rebuild_node(v, [_const_arg(run, e, child_path(where, k)) for k, e in items_of(v)])
    return run.hold(v) if isinstance(v, np.ndarray) else v
