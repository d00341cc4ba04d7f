"""A rule's outputs as stand-ins: a root with its own cell per float array or number.

An output that NumPy returns as a view of an argument gets storage of its own, noted so
that a later write into the argument raises while it is alive (:func:`.views._note_detached`);
an output the rule keeps a reference to is pinned (copy-on-write, :mod:`.views`).
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np

from ..activity import ActiveRulesError
from .standins import DETACHED, Tracked, _new, new_root, new_scalar
from .tape import Cell, Tape, layout_of
from .views import _keep_numpy_view, _note_detached

__all__ = ["rebuild"]

_rc = sys.getrefcount


def _new_output(y: np.ndarray, arrays: list[Any], args: tuple[Any, ...], tape: Tape) -> Tracked:
    """A stand-in for a float array a rule returned that is no view (the common case):
    a root with its own cell, pinned if the rule kept a reference to it."""
    detached = False
    for e in arrays:
        if y is e[1]:  # the rule returned its argument itself: give the output its own storage
            y = y.copy(order="K")
            detached = True
            break
    out = _new(Cell)
    out.shadow = None
    out.shape = y.shape
    out.dtype = y.dtype
    out.layout = None if y.flags.c_contiguous else layout_of(y)
    w = _new(Tracked)
    # > 3: the rule kept the output (beyond record's y, this function's y, getrefcount's)
    w._pinned = DETACHED if detached else _rc(y) > 3
    w._a = y
    w._cell = out
    w._tape = tape
    w._root = w._view = w._views = None
    if detached:
        _note_detached(w, args, tape)
    return w


def _wrap_output(y: Any, label: str, args: tuple[Any, ...], vals: list[Any], tape: Tape) -> tuple[Any, Any]:
    """Any other output of a rule, wrapped by :func:`_wrap`: (cells or None, output)."""
    try:
        out, y = _wrap(y, tape, vals, 4)  # 4: record's y, this function's, _wrap's, getrefcount's
    except _Untrackable as e:
        raise ActiveRulesError(
            f"{label}: the output holds a {e.args[0]} the engine cannot track; a derivative "
            "through it would be lost (return ndarrays, numbers, or tuples/lists of them)") from None
    if out is not None:
        _note_detached(y, args, tape)
    return out, y


def _held_by(y: Any, v: Any) -> int:
    """References to ``v`` held by the output ``y`` (itself, or as a view's base)."""
    t = type(y)
    if t is np.ndarray:
        return (y is v) + (y.base is v)
    if isinstance(y, (tuple, list)):
        return sum(_held_by(e, v) for e in y)
    return 0


def _shares_memory(y: np.ndarray, args: list[Any]) -> bool:
    """Whether ``y`` may share memory with an argument's value (a sequence's elements
    included)."""
    for v in args:
        if isinstance(v, np.ndarray):
            if np.may_share_memory(y, v):
                return True
        elif type(v) is list:  # a sequence of arrays
            if any(isinstance(e, np.ndarray) and np.may_share_memory(y, e) for e in v):
                return True
    return False


class _Untrackable(Exception):
    """A rule's output holds a value :func:`_wrap` cannot track (args: its type name)."""


def _inert(y: Any) -> bool:
    """Whether ``y`` is an output part that carries no derivative (None, integers,
    booleans, strings, non-float arrays)."""
    if y is None or isinstance(y, (bool, int, str, bytes, np.integer, np.bool_)):
        return True
    return isinstance(y, np.ndarray) and y.dtype.kind not in "fcO"


def rebuild(seq: Any, items: Any) -> Any:
    """A tuple or list of the same type as ``seq`` (named tuples included) holding ``items``."""
    t = type(seq)
    if t is tuple or t is list:
        return t(items)
    if isinstance(seq, tuple) and hasattr(t, "_fields"):  # a named tuple: slogdet, eigh, svd, qr...
        return t(*items)
    return t(items)


def _wrap(y: Any, tape: Tape, args: list[Any], refs: int = 3) -> tuple[Any, Any]:
    """Tracked stand-ins for a rule's output: (cells or None, wrapped output).
    ``refs``: the references to ``y`` the engine itself holds here."""
    t = type(y)
    if t is np.ndarray:
        if y.dtype.kind not in "fc":
            return None, y
        pinned: int = False
        orig = None
        if _shares_memory(y, args):  # a view of an argument, or one itself: its own storage
            orig, y = y, y.copy(order="K")
            pinned = DETACHED
        elif _rc(y) > refs or y.base is not None:
            # beyond the engine's own references the rule kept it, or it is a view of an
            # array the rule may keep (its pullback reads it): a write first copies
            pinned = True
        w = new_root(y, tape, pinned=pinned)
        if orig is not None:
            _keep_numpy_view(w, orig)
        return w._cell, w
    if t is float or t is complex or isinstance(y, np.inexact):
        s = new_scalar(y, tape)
        return s._cell, s
    if isinstance(y, (tuple, list)):  # named tuples (slogdet, eigh, svd, qr) and lists (split)
        cells, outs = [], []
        for e in y:
            c, w = _wrap(e, tape, args, 4)
            cells.append(c)
            outs.append(w)
        if all(c is None for c in cells):
            return None, y
        return cells, rebuild(y, outs)
    if _inert(y):
        return None, y
    raise _Untrackable(type(y).__name__ if not isinstance(y, np.ndarray) else
                       f"{type(y).__name__} of dtype {y.dtype}")
