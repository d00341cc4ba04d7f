"""Views and copy-on-write of the stand-ins.

A tracked *root* owns a buffer and a :class:`~.tape.Cell`; views (basic indexing,
``.T``, ``reshape``...) are tracked wrappers on the same root and cell with a *view
function* that derives them from the root, so NumPy's view semantics hold for the
primal and for the shadows alike, and a view needs no tape entry. Copy-on-write: after
each recorded call the engine checks (by reference counts) whether the rule's reverse
kept a reference to an argument's memory; if so, the root is *pinned* (``_pin``)
and the next write through any of its wrappers first moves the root (and all its live
views) to a fresh copy (:func:`prepare_write`), leaving the old buffer untouched for the
reverse sweep. A rule whose reverse reads no primal pins nothing, so nothing is copied.
"""

from __future__ import annotations

import weakref
from typing import Any, Callable

import numpy as np

from ..activity import ActiveRulesError
from . import standins
from .standins import DETACHED, Tracked, _new
from .tape import Tape

__all__ = ["view_of", "prepare_write", "move_to_copy"]

#: counters for tests and benchmarks: copies made by copy-on-write
stats = {"cow_copies": 0, "promotions": 0}  # promotions: see .inert


def _compose(f: Callable[[Any], Any], g: Callable[[Any], Any]) -> Callable[[Any], Any]:
    return lambda s: g(f(s))


def view_of(parent: Tracked, v: Any, op: Callable[[Any], Any]) -> Tracked:
    """The tracked view ``op(parent)`` whose primal is ``v`` (already computed)."""
    root = parent._root
    if root is None:
        root = parent
    t = _new(type(root))  # a view of an inert storage is inert (.inert)
    t._a = v
    t._cell = root._cell
    t._tape = root._tape
    t._root = root
    t._view = op if parent._view is None else _compose(parent._view, op)
    t._views = None
    t._pinned = False
    if root._views is None:
        root._views = []
    elif len(root._views) > 64:
        root._views = [r for r in root._views if r() is not None]
    root._views.append(weakref.ref(t))
    if t._tape.capture is not None:
        t._tape.capture.view(parent._a, v, op)
    return t


def prepare_write(t: Tracked, args: tuple[Any, ...] = ()) -> None:
    """Before the engine writes into ``t`` (in a call with arguments ``args``): if its
    root is pinned (some reverse may read the current buffer), move the root and its
    live views to a copy."""
    root = t._root
    if root is None:
        root = t
    if root._tape.detached:
        _refuse_if_viewed(root, args)
    if not root._pinned:
        return
    if root._pinned == DETACHED:
        raise ActiveRulesError(
            "activerules: this array is the result of a NumPy function that returns a view of "
            "its argument (or the argument itself), which the engine holds as a copy: writing "
            "into it would not reach the argument as it does in NumPy. Write into the argument "
            "(or a view of it made by indexing), or into a .copy() of the result")
    stats["cow_copies"] += 1
    move_to_copy(root)


def move_to_copy(root: Tracked) -> None:
    """Move ``root`` and its live views to a copy of its buffer (the old one is left
    to whoever still reads it)."""
    old = root._a
    new = root._a = old.copy(order="K")
    root._pinned = False
    moved = []
    if root._views:
        alive = []
        for ref in root._views:
            v = ref()
            if v is not None:
                v._a = v._view(new)
                alive.append(ref)
                moved.append(v)
        root._views = alive
    if root._tape.capture is not None:
        root._tape.capture.moved(old, root, moved)


def _note_detached(y: Any, args: tuple[Any, ...], tape: Tape) -> None:
    """Outputs of a call that hold a copy of what NumPy returns as a view of an argument
    (``np.broadcast_arrays``, ``np.real`` of a real array...) would not see a later write
    into that argument, as NumPy's view would: note them with the arguments' roots, so
    that such a write raises while one of them is alive (:func:`_refuse_if_viewed`)."""
    outs = [y] if isinstance(y, Tracked) else [e for e in y if isinstance(e, Tracked)] \
        if isinstance(y, (tuple, list)) else []  # isinstance: inert stand-ins too (.inert)
    deps = [weakref.ref(o) for o in outs if o._pinned == DETACHED]
    if not deps:
        return
    for a in args:
        if isinstance(a, Tracked):
            root = a._root if a._root is not None else a
            tape.detached.setdefault(id(root), (weakref.ref(root), []))[1].extend(deps)


def _refuse_if_viewed(root: Tracked, args: tuple[Any, ...]) -> None:
    """Before a write into ``root``: raise if an output noted by :func:`_note_detached`
    for it is still alive (reading it after the write would give the old values),
    unless it is an argument of the writing call itself, which reads it first
    (``x[...] = np.broadcast_to(x[0], x.shape)``)."""
    detached = root._tape.detached
    rec = detached.get(id(root))
    if rec is None:
        return
    if rec[0]() is not root:  # the id of a root that died, now reused
        del detached[id(root)]
        return
    alive = [d for d in rec[1] if d() is not None]
    if not alive:
        del detached[id(root)]
        return
    if all(any(d() is a for a in args) for d in alive):
        return
    raise ActiveRulesError(
        "activerules: writing into an array while the result of a NumPy function that "
        "returns a view of it (np.broadcast_arrays, np.broadcast_to, np.real of a real "
        "array...) is alive: the engine holds that result as a copy, so it would not see "
        "this write as NumPy's view does. Write before taking the view, or keep a .copy() "
        "of the result and drop the result itself (del)")


def _pin(e: tuple[Any, Any, Any, Any], tape: Tape) -> None:
    """A rule kept a reference to argument ``e``'s memory: pin its root (the next write
    moves it to a copy), or lock it if it is an untracked array."""
    owner = e[2]
    if owner is not None:
        root = owner._root
        r = owner if root is None else root
        r._pinned = r._pinned or True  # DETACHED stays
        if r._cell is None and not r._a.flags.writeable:
            # an inert caller's array (held read-only): a write through a view of it made
            # before the call is caught at the sweep (its values are kept to compare)
            tape.lock(r._a, keep=True)
    else:
        tape.lock(e[1], keep=True)


#: a stand-in held as a copy of what NumPy returns as a view (``np.broadcast_to``) ->
#: NumPy's own view, so that functions of it copy or view as they do in NumPy
#: (stand-ins are unhashable: keyed by id, the entry dropped with the stand-in)
_NUMPY_VIEWS: dict[int, tuple[Any, np.ndarray]] = {}


def _keep_numpy_view(w: Tracked, orig: np.ndarray) -> None:
    k = id(w)
    _NUMPY_VIEWS[k] = (weakref.ref(w, lambda _: _NUMPY_VIEWS.pop(k, None)), orig)


standins.view_of = view_of  # late binding (see standins)
