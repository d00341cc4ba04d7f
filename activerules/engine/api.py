"""The user-facing engine API: ``autodiff``, ``gradient``, ``vjp``, ``primitive``."""

from __future__ import annotations

import contextlib
import ctypes
import functools
import gc
import sys
import threading
import time
from typing import Any, Callable, Iterator, Sequence, TypeVar

import numpy as np

from ..activity import Active, ActiveRulesError, ActivityError, BatchDuplicated, Const, Duplicated
from ..dispatch import MUTATES_MARK, PRIMITIVE_MARK
from .inert import Inert, new_inert
from .outputs import rebuild
from .protocol import constructor, filler
from .recording import record
from .standins import Tracked, TrackedScalar, new_root, new_scalar
from .sweep import sweep
from .tape import Cell, Tape, layout_of
from .tape import _acquire as _lock_array
from .tape import _release as _unlock_array
from .trees import child_path, describe, is_node, items_of, leaves, map_leaves, rebuild_node
from .views import move_to_copy

__all__ = ["autodiff", "gradient", "vjp", "primitive"]

F = TypeVar("F", bound=Callable[..., Any])
_DEFAULT: Any = object()

# Process-wide state shared by the differentiations of all threads, under one lock
# (each entry and exit takes it once): forward passes running (primitives read this
# one number without the lock), and the pause of the cyclic collector: the
# differentiations holding it, whether it was enabled before the first of them, and
# when it last ran (or the pause began).
_guard = threading.Lock()
_running = [0]
_gc_holds: list[Any] = [0, False, 0.0]
#: Seconds the collector may stay paused while differentiations of several threads
#: overlap: past it, the next differentiation to finish runs the collection the
#: collector would have made (else other threads' cyclic garbage grows without bound).
GC_PAUSE_BOUND = 0.1

# np.array, np.asarray, np.asanyarray (and the functions that convert like them, and
# np.shape/np.ndim/np.size, which convert a list) accept sequences holding tracked values
# while a forward pass runs (in any thread): NumPy offers no protocol for that, so the
# module attributes are swapped for converting wrappers and restored after the last.
# np.full and np.full_like, which fill a new array themselves (no dispatch on the fill
# value), are swapped the same way for wrappers that record an active fill value.
_CONSTRUCTORS = ("array", "asarray", "asanyarray", "ascontiguousarray", "asfortranarray", "require",
                 "shape", "ndim", "size")
_FILLERS = ("full", "full_like")
_ORIGINAL = {name: getattr(np, name) for name in _CONSTRUCTORS + _FILLERS}
_WRAPPED = {**{name: constructor(_ORIGINAL[name]) for name in _CONSTRUCTORS},
            **{name: filler(_ORIGINAL[name]) for name in _FILLERS}}


def _gc_pause() -> None:
    with _guard:
        _hold()


def _hold() -> None:
    """Take a hold on the collector's pause (under ``_guard``)."""
    if _gc_holds[0] == 0:
        _gc_holds[1] = gc.isenabled()
        _gc_holds[2] = time.monotonic()
        gc.disable()
    _gc_holds[0] += 1


def _release() -> bool:
    """Drop a hold (under ``_guard``): the collector enabled after the last one; True if
    the pause, held by other differentiations, has lasted past ``GC_PAUSE_BOUND``, and
    the caller is to collect (:func:`_catch_up`, outside the lock)."""
    _gc_holds[0] -= 1
    if not _gc_holds[1]:
        return False
    if _gc_holds[0] == 0:
        gc.enable()
        return False
    now = time.monotonic()
    if now - _gc_holds[2] < GC_PAUSE_BOUND:
        return False
    _gc_holds[2] = now  # one thread collects per period
    return True


def _catch_up() -> None:
    """The collection the paused collector owes: of the oldest generation whose count
    passed its threshold, as the collector itself would choose."""
    counts, limits = gc.get_count(), gc.get_threshold()
    gen = 0
    for g in (1, 2):
        if counts[g] > limits[g]:
            gen = g
    if counts[0] > limits[0] or gen:
        gc.collect(gen)


def _gc_resume() -> None:
    with _guard:
        collect = _release()
    if collect:
        _catch_up()


def _forward_begin() -> None:
    """A forward pass starts: the collector paused (see :func:`no_gc`; resumed by
    :func:`_gc_resume`, possibly after the sweep) and the sequence constructors on."""
    with _guard:
        _hold()
        if _running[0] == 0:
            for name, fn in _WRAPPED.items():
                setattr(np, name, fn)
        _running[0] += 1


def _forward_end(resume: bool) -> None:
    """A forward pass ended: the constructors restored after the last one, and the
    collector resumed if ``resume`` (else the caller resumes it after the sweep)."""
    with _guard:
        _running[0] -= 1
        if _running[0] == 0:
            for name, fn in _ORIGINAL.items():
                setattr(np, name, fn)
        collect = _release() if resume else False
    if collect:
        _catch_up()


@contextlib.contextmanager
def no_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector while taping or sweeping: a tape is many
    small containers, and full collections over a growing tape cost more than the
    work (the engine itself creates no reference cycles). The engine's own entry
    points call :func:`_gc_pause` / :func:`_gc_resume` directly (no generator per call)."""
    _gc_pause()
    try:
        yield
    finally:
        _gc_resume()


@contextlib.contextmanager
def sequence_constructors() -> Iterator[None]:
    """Let ``np.array([x[0], 2 * x[1], 3.0])`` record (see ``recording.construct``),
    as during a forward pass."""
    _forward_begin()
    try:
        yield
    finally:
        _forward_end(resume=True)


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
            items = [new_scalar(e, self.tape) for e in v]
            self.call_args.append(tuple(items))
            self.cells.append(tuple(e._cell for e in items))
            for k, e in enumerate(items):
                _refuse_integer(e, child_path(where, k))
            return
        self.add_scalar(v)
        _refuse_integer(self.call_args[-1], where)

    def add_scalar(self, v: Any) -> None:
        s = new_scalar(v, self.tape)
        self.call_args.append(s)
        self.cells.append(s._cell)

    def add_const(self, v: Any) -> None:
        self.call_args.append(v)
        self.cells.append(None)

    def forward(self, f: Callable[..., Any], sweep_follows: bool = False) -> Any:
        """Run ``f`` on the stand-ins, recording. ``sweep_follows``: on return the
        collector stays paused for the sweep (the caller resumes it, :func:`_gc_resume`)."""
        _forward_begin()
        try:
            result = f(*self.call_args)
        except BaseException:
            _forward_end(resume=True)
            self.release()
            self.finish(failed=True)
            raise
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


def _refuse_half(v: Any, entry: str, where: str) -> None:
    """The dtype policy for half precision: the engine differentiates float32, float64 and
    complex values only (NumPy would compute float16 in half precision, with derivatives
    too coarse to trust); the adapters compute it in float32 and cast back."""
    if np.asarray(v).dtype == np.float16:
        raise ActivityError(
            f"{entry}: {where} is float16: the engine differentiates float32, float64 and complex "
            "values; pass x.astype(np.float32) (and cast the derivative back if you need float16; "
            "the JAX, PyTorch and autograd adapters do this for you), or ar.Const(x) to keep it constant")


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


def _width(args: Sequence[Any]) -> int:
    widths = {len(a.dvals) for a in args if isinstance(a, BatchDuplicated)}
    if len(widths) > 1:
        raise ActivityError(f"BatchDuplicated arguments of different widths {sorted(widths)}")
    if widths and any(isinstance(a, Duplicated) for a in args):
        raise ActivityError("a call cannot mix Duplicated and BatchDuplicated arguments")
    return widths.pop() if widths else 0


def primal_of(v: Any) -> Any:
    """The primal value of a result: tracked stand-ins unwrapped (copied if a reverse may
    still read their buffer)."""
    t = type(v)
    if t is Tracked:
        root = v._root if v._root is not None else v
        return v._a.copy() if root._pinned else v._a
    if t is TrackedScalar:
        return v._v
    if t is Inert:
        root = v._root if v._root is not None else v
        return v._a.copy() if root._pinned else v._a
    if isinstance(v, (tuple, list)):  # named tuples (an eigh or slogdet result) too
        return rebuild(v, [primal_of(e) for e in v])
    if is_node(v):  # a dict
        return rebuild_node(v, [primal_of(e) for _, e in items_of(v)])
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
    """The error for a stand-in of another differentiation reaching this one."""
    return ActiveRulesError(
        f"{where} is a value of an enclosing differentiation: values from two different "
        "differentiations meet in one call, and nested differentiation of the same values "
        "(higher order) is not supported. A rule may run its own differentiation on the plain "
        "arrays it receives, inside its forward or reverse (examples/implicit_solve.py)")


def _refuse_tracked(v: Any, where: str) -> None:
    """Raise if a stand-in (of an enclosing differentiation) is in ``v``: an argument,
    annotation, container, seed or cotangent given to an entry point."""
    t = type(v)
    if t is np.ndarray or t is float:
        return
    if t is Tracked or t is TrackedScalar:
        raise _nested(where)
    if isinstance(v, (Const, Active, Duplicated, BatchDuplicated)):
        for name, e in vars(v).items():
            _refuse_tracked(e, where if name == "val" else f"the shadow of {where}")
    elif is_node(v):
        for k, e in items_of(v):
            _refuse_tracked(e, child_path(where, k))


def autodiff(f: Callable[..., Any], *args: Any, returns: Any = _DEFAULT,
             with_primal: bool = False, registry: Any = None) -> Any:
    """Reverse-mode derivatives of ``f(*args)`` with Enzyme's calling convention.

    ``args`` are annotated (``Const``, ``Active``, ``Duplicated``,
    ``BatchDuplicated``...; plain values count as Const). Returns a tuple with
    one entry per argument: the derivative for Active arguments, ``None``
    otherwise. A Duplicated shadow holds on entry the cotangent of the
    argument's final value and on exit that of its initial value; every caller
    array (Const and Duplicated alike) ends as ``f`` left it, as plain NumPy
    would leave it, if the call succeeds (none changes if it raises). Every array
    reaches ``f`` as a stand-in, a Const one inert until an active value is
    written into it, which promotes it (runtime activity: the derivative flows
    through it; docs/engine.md, "Writes into constants"); ``f`` runs once. ``returns``: ``ar.Active`` (seed 1.0), ``ar.Active(seed)``
    or ``ar.Const``; by default Active for a scalar result and Const for
    ``None``. An Active return needs one real scalar result (a 0-d array
    included; a complex one only with a complex seed); anything else (a tuple,
    a dict, an integer, a function) raises ``ar.ActivityError``: pass
    ``returns=ar.Const`` and let derivatives flow through the shadows, or use
    :func:`vjp`. ``with_primal=True`` returns ``(derivatives, primal)``.
    ``registry``: the ``ar.RuleRegistry`` whose rules serve the calls (default:
    ``ar.registry``), as for the adapters.

    Containers, as Enzyme takes structs: ``Active((a, b))`` (a tuple of numbers)
    returns a tuple of derivatives; ``Duplicated(params, dparams)``, with
    ``params`` a list, tuple or dict of arrays (a dict may nest lists, tuples and
    dicts) and ``dparams`` shadows in the same structure, passes ``f`` that
    structure of stand-ins and fills each shadow; ``BatchDuplicated(params,
    (dparams1, dparams2))`` takes one such structure per lane. Numbers inside a
    Duplicated container are refused (pass them as their own ``Active``).
    Integers cannot be differentiated: ``Active(np.int64(3))`` and
    ``Duplicated`` of an integer array raise an ``ar.ActivityError`` naming the
    argument.

    >>> import numpy as np, activerules as ar
    >>> x, dx = np.array([1.0, 2.0]), np.zeros(2)
    >>> ar.autodiff(lambda x, c: (c * x * x).sum(), ar.Duplicated(x, dx), ar.Active(3.0))
    (None, np.float64(5.0))
    >>> dx
    array([ 6., 12.])
    >>> ar.autodiff(lambda p: p[0] * p[1], ar.Active((2.0, 5.0)))
    ((np.float64(5.0), np.float64(2.0)),)
    >>> p, dp = {"w": np.array([1.0, 2.0])}, {"w": np.zeros(2)}
    >>> ar.autodiff(lambda p: (p["w"] ** 2).sum(), ar.Duplicated(p, dp))
    (None,)
    >>> dp
    {'w': array([2., 4.])}
    """
    width = _width(args)
    # one pause of the collector for the forward and the sweep
    run = _using(registry, _autodiff_run(args, width))
    result = run.forward(f, sweep_follows=True)
    try:
        failed = True
        try:
            _seed(result, returns, run.tape)
            run.sweep_or_restore()
            failed = False
        finally:
            run.finish(failed)
            run.tape.entries.clear()
    finally:
        _gc_resume()  # the tape is freed first
    derivs = tuple(_derivative(a, c, run.tape.width) for a, c in zip(args, run.cells))
    return (derivs, primal_of(result)) if with_primal else derivs


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
        if type(result) is Tracked and not _zero_d(result, width):
            raise ActivityError("an array result cannot be Active (arrays are mutable): pass "
                                "returns=ar.Const or use ar.vjp")
        _check_scalar_result(result, tape, "autodiff", np.iscomplexobj(seed))
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
        if y._tape is not tape:
            raise _nested(f"{who}: f's result")
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


def vjp(f: Callable[..., Any], *args: Any, registry: Any = None) -> tuple[Any, Callable[[Any], tuple[Any, ...]]]:
    """``y, pullback = vjp(f, *args)``: the primal result and a function mapping an
    output cotangent to a tuple with one cotangent per argument.

    Float and complex arrays and numbers are differentiated, also inside dicts, lists,
    tuples and named tuples (nested): an argument's cotangent has its structure.
    Integers, booleans, strings, ``None``, other values and ``ar.Const(...)``-wrapped
    ones are constant: their cotangent is ``None``. ``f`` may return an array, a
    number or a container of them (``None``, integers and strings inside a container
    are constant outputs); ``ybar`` has the result's structure, ``None`` for a part
    whose cotangent is zero (a constant output must get ``None``), and each leaf its
    output's shape (or one that broadcasts to it, e.g. a number) and no complex dtype
    for a real output: anything else raises ``ar.ActivityError`` naming the output.
    Complex values follow the rules' convention (ChainRules):
    ``pullback(ybar) = conj(J)ᵀ ybar``, which is ``conj(jax_pullback(conj(ybar)))``.
    ``registry``: the ``ar.RuleRegistry`` whose rules serve the calls (default: ``ar.registry``).

    ``vjp`` is functional: no caller array changes, differentiated or not. Every
    array argument reaches ``f`` as a stand-in whose writes go to a copy (made on
    the first write only); an undifferentiated one (integer, ``ar.Const(...)`` and,
    for :func:`gradient`, outside ``argnums``; inside containers too) is inert
    until an active value is written into it, which promotes it (docs/engine.md,
    "Writes into constants"); ``f`` runs once. Containers are rebuilt, so ``f``
    may change a list it is given. The caller's differentiated arrays (and the
    caller's arrays a rule's reverse reads) stay read-only while ``pullback`` is
    alive, so nothing the sweep reads can change under it;
    :func:`gradient` releases them before it returns. An array or number of an
    enclosing differentiation reaching ``vjp`` (as an argument, inside one, as
    a value ``f`` reads, as a cotangent) raises ``ar.ActiveRulesError``: higher
    order is not supported.

    >>> import numpy as np, activerules as ar
    >>> y, pullback = ar.vjp(lambda p: {"s": p["w"] * p["b"]}, {"w": np.ones(2), "b": 3.0})
    >>> pullback({"s": np.array([1.0, 2.0])})
    ({'w': array([3., 6.]), 'b': np.float64(3.0)},)
    """
    run = _using(registry, _vjp_run(args, None))
    result = run.forward(f)
    try:
        if result is None:
            raise ActivityError("vjp: f returned None, so there is no output to pull back; return "
                                "the value (a function that works by mutating its arguments: use "
                                "ar.autodiff with Duplicated arguments)")
        _check_output(result, run.tape, "output")
        if not is_node(result) and _dtype_kind(result) not in "fc":
            raise ActivityError(f"vjp: f returned {_kind(result)}, which has no derivative: "
                                "return a float or complex array or number")
    except BaseException:
        run.tape.unlock()
        raise
    return primal_of(result), _Pullback(run, result)


class _Pullback:
    """The pullback :func:`vjp` returns. The tape's locks are released when it is
    freed (``__del__`` costs less than a ``weakref.finalize`` per call).

    Each call is independent of the others: it starts from zero shadows (a sweep
    leaves cotangents behind in buffers no entry releases, such as the target of
    ``np.add.at``), and calls from several threads are serialised, since they share
    the tape's cells and annotations."""

    __slots__ = ("_run", "_result", "_lock", "_swept", "_busy")

    def __init__(self, run: _Run, result: Any) -> None:
        self._run = run
        self._result = result
        self._lock = threading.RLock()  # reentrant: a call from its own sweep raises, not hangs
        self._swept = False  # the cells hold no cotangent before the first call
        self._busy = False

    def __call__(self, ybar: Any) -> tuple[Any, ...]:
        """The cotangents of ``vjp``'s arguments for the output cotangent ``ybar``."""
        _check_cotangent(self._result, ybar, "output")
        with self._lock:
            if self._busy:
                raise ActiveRulesError("a vjp pullback was called from its own sweep (a rule's "
                                       "reverse calling it): call it after it returned")
            self._busy = True
            _gc_pause()
            try:
                if self._swept:
                    self._run.tape.clear_shadows()
                self._swept = True
                return _sweep(self._run, self._result, ybar)
            finally:
                self._busy = False
                _gc_resume()

    def __del__(self) -> None:
        self._run.tape.unlock()


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
    if t is Tracked or t is TrackedScalar:
        raise _nested(where)
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
        raise _nested(where)
    if isinstance(v, Const):
        return _const_arg(run, v.val, where)
    if is_node(v):
        return rebuild_node(v, [_const_arg(run, e, child_path(where, k)) for k, e in items_of(v)])
    return run.hold(v) if isinstance(v, np.ndarray) else v


def _check_output(r: Any, tape: Tape, where: str) -> None:
    """Raise unless every leaf of :func:`vjp`'s result is an array, a number, a string
    or ``None`` (a container's part), the stand-ins of this differentiation."""
    if is_node(r):
        for k, e in items_of(r):
            _check_output(e, tape, child_path(where, k))
        return
    t = type(r)
    if t is Tracked or t is TrackedScalar:
        if r._tape is not tape:
            raise _nested(f"vjp: {where}")
    elif not (r is None or isinstance(r, (np.ndarray, np.generic, int, float, complex, str))):
        raise ActivityError(f"vjp: {where} is {_kind(r)}, which has no cotangent: return arrays, "
                            "numbers and dicts, lists, tuples or named tuples of them")


def _check_cotangent(r: Any, y: Any, where: str) -> None:
    """Raise unless ``y`` is a cotangent for the output ``r``: the same structure
    (``None`` for a zero part), each leaf of its output's shape, no complex for a real one."""
    if y is None:
        return
    if type(y) is Tracked or type(y) is TrackedScalar:
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


def _sweep(run: _Run, result: Any, ybar: Any, consume: bool = False) -> tuple[Any, ...]:
    """The sweep of :func:`vjp`'s pullback for the output cotangent ``ybar``
    (``consume``: the only sweep, see :func:`.sweep.sweep`), the collector paused."""
    for c in run.cells:
        if type(c) is Cell:
            c.shadow = None
        elif c is not None:
            for leaf in leaves(c):
                if leaf is not None:
                    leaf.shadow = None
    _clear_outputs(result)
    _seed_vjp(result, ybar)
    sweep(run.tape, consume)
    return tuple(_cotangent(c, 0) for c in run.cells)


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


def gradient(f: Callable[..., Any], *args: Any, argnums: int | tuple[int, ...] = 0,
             holomorphic: bool = False, registry: Any = None) -> Any:
    """The gradient of the real scalar function ``f`` with respect to ``args[argnums]``
    (a tuple of gradients for a tuple ``argnums``; negative positions count from the
    end). Functional like :func:`vjp`.

    An argument may be a float or complex array or number, or a dict, list, tuple or
    named tuple of those (nested): its gradient has the same structure. A leaf with
    no derivative (an integer, a boolean, a string, ``None``...) raises
    ``ar.ActivityError`` naming it, as ``jax.grad`` does; wrap it as ``ar.Const(v)``
    to keep it constant (its gradient is ``None``). ``f`` must return one real
    scalar; a complex, integer or container result raises (use :func:`vjp`). The
    gradient with respect to a complex argument follows the rules' (ChainRules')
    convention, ``conj`` of ``jax.grad``'s. ``argnums`` out of range raises
    ``ar.ActivityError`` naming it. ``holomorphic=True``, as in ``jax.grad``: ``f``
    is a holomorphic function of complex arguments with a complex scalar result,
    and the gradient is its complex derivative ``f'(z)`` (equal to
    ``jax.grad(f, holomorphic=True)``). ``registry``: the ``ar.RuleRegistry`` whose
    rules serve the calls (default: ``ar.registry``).

    >>> import numpy as np, activerules as ar
    >>> ar.gradient(lambda x: (x ** 2).sum(), np.array([1.0, 2.0]))
    array([2., 4.])
    >>> ar.gradient(lambda p, n: (p["w"] ** n).sum() * p["b"], {"w": np.ones(2), "b": 2.0}, 3)
    {'w': array([6., 6.]), 'b': np.float64(2.0)}
    >>> ar.gradient(lambda z: z * z, 1.0 + 2.0j, holomorphic=True)
    np.complex128(2+4j)
    """
    nums = _argnums(argnums, len(args))
    if holomorphic:
        for k in nums:
            _refuse_real(args[k], f"argument {k}")
    # one pause of the collector for the forward and the sweep
    run = _using(registry, _vjp_run(args, nums))
    result = run.forward(f, sweep_follows=True)
    try:
        try:
            _check_scalar_result(result, run.tape, "gradient", holomorphic)
            if holomorphic and _dtype_kind(result) != "c":
                raise ActivityError("gradient(holomorphic=True): f returned a real result; a "
                                    "holomorphic f returns a complex scalar (as jax.grad)")
            cots = _sweep(run, result, 1.0, consume=True)
        finally:
            run.tape.unlock()
            run.tape.entries.clear()
        del run, result
    finally:
        _gc_resume()  # the tape is freed first
    if holomorphic:  # the rules give conj(f'(z)) * 1 (ChainRules), jax.grad f'(z)
        cots = tuple(map_leaves(lambda v, _: v if v is None else np.conj(v), c, "") for c in cots)
    return cots[nums[0]] if isinstance(argnums, int) else tuple(cots[i] for i in nums)


def _refuse_real(v: Any, where: str) -> None:
    """``gradient(holomorphic=True)`` differentiates complex values only (as jax.grad)."""
    if is_node(v):
        for k, e in items_of(v):
            _refuse_real(e, child_path(where, k))
    elif not isinstance(v, Const) and _dtype_kind(v) != "c":
        raise ActivityError(f"gradient(holomorphic=True): {where} is {_kind(v)}, not complex: a "
                            "holomorphic function takes complex arguments (as jax.grad); pass "
                            "it as a complex value, or differentiate without holomorphic=True")


def _argnums(argnums: Any, n: int) -> tuple[int, ...]:
    """``argnums`` as a tuple of positions in ``range(n)``, or an error naming it."""
    nums = (argnums,) if isinstance(argnums, int) else argnums
    if not isinstance(nums, (tuple, list)) or any(isinstance(i, bool) or not isinstance(i, int)
                                                  for i in nums):
        raise ActivityError(f"gradient: argnums={argnums!r} must be an int or a tuple of ints")
    bad = [i for i in nums if not -n <= i < n]
    if bad:
        raise ActivityError(f"gradient: argnums={argnums!r} is out of range: f was given {n} "
                            f"positional argument(s), positions 0..{n - 1} (or -{n}..-1)")
    return tuple(i % n for i in nums)



def primitive(fn: F | None = None, *, mutates: Sequence[int] = ()) -> Any:
    """Mark ``fn`` so the engine calls its registered rule (``ar.rule`` /
    ``ar.rrule`` keyed by the decorated function) instead of tracing its body.
    ``mutates`` lists the positional arguments the function writes into (its rule
    must then be an ``ar.rule``: ``ar.rrule`` raises ``RegistrationError``).
    Outside a differentiation a call costs one check.

    >>> import numpy as np, activerules as ar
    >>> @ar.primitive
    ... def cube(x):
    ...     return x ** 3
    >>> @ar.rrule(cube)
    ... def _cube(x):
    ...     return cube(x), lambda g: (3 * g * x ** 2,)
    >>> ar.gradient(lambda x: cube(x).sum(), np.array([1.0, 2.0]))
    array([ 3., 12.])
    """
    mut = tuple(mutates)

    def decorate(fn: F) -> F:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if _running[0]:
                for a in args:
                    if type(a) in _TRACKED or (type(a) in (list, tuple) and
                                               any(type(e) in _TRACKED for e in a)):
                        return record(wrapper, args, kwargs, mut)
            return fn(*args, **kwargs)
        setattr(wrapper, PRIMITIVE_MARK, True)
        setattr(wrapper, MUTATES_MARK, mut)  # the registry refuses an rrule for a mutating one
        return wrapper  # type: ignore[return-value]

    return decorate(fn) if fn is not None else decorate


_TRACKED = (Tracked, TrackedScalar)
