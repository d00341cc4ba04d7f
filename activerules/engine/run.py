"""One forward pass (:class:`_Run`): the stand-ins the function receives for the caller's
arguments, the caller's arrays held, written back and restored."""

from __future__ import annotations

import ctypes
import sys
from typing import Any, Callable

import numpy as np

from ..activity import ActivityError
from . import levels
from .checks import _kind, _refuse_half
from .forward import _forward_begin, _forward_end
from .inert import Inert, new_inert
from .nested import _enclosing, _plain_shadows, _refuse_enclosing_writes, sweep
from .replay import Replayed
from .replay import forward as replayed_forward
from .standins import Tracked, TrackedScalar, new_root, new_scalar
from .tape import Cell, Tape, layout_of
from .tape import _acquire as _lock_array
from .tape import _release as _unlock_array
from .trees import child_path, is_node, items_of, rebuild_node
from .views import move_to_copy


class _Run:
    """One forward pass: the tape, the stand-ins and where derivatives will land."""

    def __init__(self, width: int) -> None:
        self.tape = Tape(width)
        self.call_args: list[Any] = []
        self.cells: list[Any] = []  # per argument: its cell(s) if differentiated, else None
        self.copy_back: list[tuple[Tracked, np.ndarray, np.ndarray]] = []
        self.shadow_back: list[tuple[np.ndarray, np.ndarray]] = []  # (inner, the caller's shadow)
        # the caller's undifferentiated arrays, read-only while f runs (f gets stand-ins)
        self.held: list[np.ndarray] = []
        # (what f was given for a caller's undifferentiated array, that array): autodiff
        # writes f's final values back when the call succeeds
        self.const_back: list[tuple[Any, np.ndarray]] = []
        self.consts: dict[int, Any] = {}  # id of a caller's constant array -> what f gets for it
        self.shadows: list[Any] = []  # the caller's shadows (autodiff), restored on failure

    def add_array(self, arr: Any, shadow: Any, where: str = "argument", batch: bool = False) -> None:
        """A Duplicated argument of :func:`autodiff`: the function's writes reach ``arr``
        (a list, tuple or dict of arrays, nested: stand-ins in that structure, each with
        its shadow in the shadows' same structure; ``batch``: ``shadow`` is a tuple of lanes)."""
        value = self._duplicated(arr, shadow, where, batch)
        self.call_args.append(value)
        self.cells.append(value._cell if type(value) is Tracked else None)

    def _duplicated(self, arr: Any, shadow: Any, where: str, batch: bool) -> Any:
        if not is_node(arr):
            return self._root(arr, shadow, where)
        return rebuild_node(arr, [
            self._duplicated(a, tuple(lane[k] for lane in shadow) if batch else shadow[k],
                             child_path(where, k), batch)
            for k, a in items_of(arr)])

    def _root(self, arr: Any, shadow: Any, where: str) -> Tracked:
        if not isinstance(arr, np.ndarray) or arr.dtype.kind not in "fc":
            raise ActivityError(f"autodiff: {where} is {_kind(arr)}: only float or complex ndarrays "
                                "can be Duplicated; pass it as Const(x) (or plain)")
        _refuse_half(arr, "autodiff", where)
        own = _alias(arr)  # writable even after the caller's array is locked below
        cell = Cell(arr.shape, arr.dtype, shadow, layout_of(own))
        lanes = shadow if isinstance(shadow, tuple) else (shadow,)
        if not all(cell.fits(d) for d in lanes if isinstance(d, np.ndarray) and d.shape == arr.shape):
            # the sweep needs shadows laid out as the array (views of it must be views of
            # the shadow): it works on such copies, written back into the caller's in finish()
            inner = cell.zeros(len(lanes))
            for z, d in zip(inner, lanes):
                z[...] = d
            cell.shadow = inner if isinstance(shadow, tuple) else inner[0]
            self.shadow_back.extend(zip(inner, lanes))
        # Pinned: the function's first write moves the root to a copy, so the caller's
        # memory keeps its values until the call succeeded (finish writes the final
        # ones): a failure leaves it alone, and a write through a view of it made before
        # the call (which the lock below cannot stop) is caught at the sweep.
        t = new_root(own, self.tape, cell, pinned=True)
        self.shadows.append(shadow)
        self.tape.lock(arr, keep=True)
        self.copy_back.append((t, arr, own))
        return t

    def add_borrowed(self, arr: np.ndarray) -> None:
        t = self.borrowed(arr)
        self.call_args.append(t)
        self.cells.append(t._cell)

    def borrowed(self, arr: np.ndarray) -> Tracked:
        """A float or complex array differentiated functionally (:func:`vjp`): the stand-in's
        buffer is the caller's array itself, locked read-only while the tape lives. Its
        root is pinned, so the engine's first write moves it to a copy, and NumPy makes no
        view of a read-only array writable (``np.broadcast_arrays``, ``np.meshgrid``)."""
        own = arr
        if type(arr) is not np.ndarray:  # a subclass computes as a plain ndarray
            own = arr.view(np.ndarray)
            own.flags.writeable = False
        t = new_root(own, self.tape, Cell(arr.shape, arr.dtype, layout=layout_of(own)), pinned=True)
        self.tape.lock(arr, keep=True)
        return t

    def add_active(self, v: Any, where: str) -> None:
        """An Active argument of :func:`autodiff` (a number or a tuple of numbers)."""
        if isinstance(v, tuple):
            items = [new_scalar(e, self.tape) if type(e) is not TrackedScalar else
                     _enclosing(e, self.tape, where) for e in v]
            self.call_args.append(tuple(items))
            self.cells.append(tuple(e._cell for e in items))
            for k, e in enumerate(items):
                _refuse_integer(e, child_path(where, k))
            return
        self.add_scalar(v)
        _refuse_integer(self.call_args[-1], where)

    def add_scalar(self, v: Any) -> None:
        s = new_scalar(v, self.tape) if type(v) is not TrackedScalar else _enclosing(v, self.tape, "argument")
        self.call_args.append(s)
        self.cells.append(s._cell)

    def add_const(self, v: Any) -> None:
        self.call_args.append(v)
        self.cells.append(None)

    def forward(self, f: Callable[..., Any], sweep_follows: bool = False) -> Any:
        """Run ``f`` on the stand-ins, recording, or replay a recording of it (``f``
        marked by :func:`.replay.replay`). ``sweep_follows``: on return the collector
        stays paused for the sweep (the caller resumes it, :func:`_gc_resume`)."""
        if type(f) is Replayed:
            return replayed_forward(self, f, sweep_follows)
        return self.run_function(f, sweep_follows)

    def run_function(self, f: Callable[..., Any], sweep_follows: bool = False) -> Any:
        """Run ``f`` on the stand-ins, recording (see :meth:`forward`)."""
        _forward_begin()
        levels.enter(self.tape)  # this differentiation's level is open while f runs
        try:
            result = f(*self.call_args)
        except BaseException:
            levels.leave(self.tape)
            _forward_end(resume=True)
            self.release()
            self.finish(failed=True)
            raise
        levels.leave(self.tape)
        _forward_end(resume=not sweep_follows)
        self.release()
        return result

    def hold(self, arr: np.ndarray, write_back: bool = False) -> Any:
        """What ``f`` gets for the caller's undifferentiated array ``arr``: an inert
        stand-in on ``arr`` itself (runtime activity, see :class:`~.tracked.Inert`),
        promoted if an active value is written into it. Its root is pinned, so ``f``'s
        first write moves it to a private copy: ``arr`` keeps its values (held read-only
        meanwhile, so no plain view of it can be written either), which :func:`autodiff`
        (``write_back``) replaces by ``f``'s final ones when the call succeeds. The same
        array given twice is one stand-in, as NumPy has one array."""
        if type(arr) is Inert:  # a constant of an enclosing differentiation: its values
            arr = arr._a
        value = self.consts.get(id(arr))
        if value is not None:
            return value
        if not arr.flags.writeable:  # the caller's own read-only array: a write raises, as in NumPy
            value = arr
        elif type(arr) is np.ndarray and arr.dtype.kind in "biufc":
            _lock_array(arr)
            self.held.append(arr)
            value = new_inert(arr, self.tape, pinned=True)
        else:  # another dtype, or an ndarray subclass (which computes as itself): a private copy
            value = arr.copy()
        if write_back and value is not arr:
            self.const_back.append((value, arr))
        self.consts[id(arr)] = value
        return value

    def release(self) -> None:
        for a in reversed(self.held):
            _unlock_array(a)
        self.held = []

    def finish(self, failed: bool = False) -> None:
        """Unlock the caller's arrays and give them the function's side effects (none
        if the differentiation ``failed``: they keep their values)."""
        self.tape.unlock()
        if not failed and self.tape.nested:
            _refuse_enclosing_writes(self)
        if not failed:
            for v, arr in self.const_back:
                a = v._a if type(v) is Inert or type(v) is Tracked else v  # promoted: Tracked
                if a is not arr:  # f wrote into it (copy-on-write moved it)
                    arr[...] = a
            for t, arr, own in self.copy_back:
                if t._a is not own:  # the storage moved (copy-on-write): write the final values
                    arr[...] = t._a
        self.const_back = []
        for t, _arr, own in self.copy_back:
            # Held by more than this run (the stand-in or a view of it escaped the function:
            # a global, a closure, the result): detached, its writes must not reach ``arr``.
            if t._a is own and sys.getrefcount(t) > _RUN_REFS:
                move_to_copy(t)
        self.copy_back = []
        for inner, dx in self.shadow_back:
            dx[...] = inner
        self.shadow_back = []

    def sweep_or_restore(self) -> None:
        """The sweep of :func:`autodiff`; if it fails, the caller's shadows get their
        values from before it back (rules that ran accumulated into them)."""
        if self.tape.nested and self.shadows:
            raise _plain_shadows()
        saved = [tuple(d.copy() for d in s) if type(s) is tuple else s.copy() for s in self.shadows]
        try:
            sweep(self.tape, consume=True)
        except BaseException:
            for s, old in zip(self.shadows, saved):
                for cur, o in zip(s, old) if type(s) is tuple else ((s, old),):
                    cur[...] = o
            raise


def _refuse_integer(s: TrackedScalar, where: str) -> None:
    if s._cell.dtype.kind not in "fc":
        raise ActivityError(f"autodiff: {where} is Active({s._v!r}), {_kind(s._v)}, which has "
                            "no derivative: pass it as Const(x) (or plain), or as a float")
    _refuse_half(s._v, "autodiff", where)


#: References to a caller's stand-in in :meth:`_Run.finish` when nothing else holds it:
#: ``call_args``, the ``copy_back`` tuple, the loop variable and getrefcount's argument.
_RUN_REFS = 4


def _alias(arr: np.ndarray) -> np.ndarray:
    """A writable array on ``arr``'s memory. When ``arr`` is C-contiguous it is made
    on a ctypes buffer over that memory (which keeps ``arr`` alive), so ``arr`` is
    not among its bases: once ``arr`` is locked read-only, NumPy still lets views of
    the alias be made writable (``np.broadcast_arrays``, ``np.meshgrid``). NumPy
    would unwrap a memoryview back to ``arr``."""
    if arr.flags.c_contiguous and arr.flags.writeable and arr.size:
        memory: Any = _buffer_type(arr.nbytes).from_buffer(arr)
        return np.ndarray(arr.shape, arr.dtype, buffer=memory)
    return arr.view()


_BUFFER_TYPES: dict[int, Any] = {}


def _buffer_type(nbytes: int) -> Any:
    """``ctypes.c_byte * nbytes``, kept alive here. ctypes caches its array types only
    through weak references, and a type is a reference cycle: without this every
    ``gc.collect()`` frees it and the next differentiation builds it again (30-100 µs)."""
    t = _BUFFER_TYPES.get(nbytes)
    if t is None:
        if len(_BUFFER_TYPES) >= 256:  # sizes vary without bound in long sessions
            _BUFFER_TYPES.clear()
        t = _BUFFER_TYPES[nbytes] = ctypes.c_byte * nbytes
    return t
