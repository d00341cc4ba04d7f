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
from .tape import Cell, Tape
from .tracked import (
    PRIMITIVE_MARK,
    Tracked,
    TrackedScalar,
    constructor,
    move_to_copy,
    new_root,
    new_scalar,
    rebuild,
    record,
)

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
# np.array, np.asarray and np.asanyarray accept sequences holding tracked values while
# a forward pass runs (in any thread): NumPy offers no protocol for that, so the
# module attributes are swapped for converting wrappers and restored after the last.
_CONSTRUCTORS = ("array", "asarray", "asanyarray")
_ORIGINAL = {name: getattr(np, name) for name in _CONSTRUCTORS}
_WRAPPED = {name: constructor(fn) for name, fn in _ORIGINAL.items()}


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
    """Let ``np.array([x[0], 2 * x[1], 3.0])`` record (see ``tracked.construct``),
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
        self.cells: list[Cell | None] = []  # per argument: its cell if differentiated
        self.copy_back: list[tuple[Tracked, np.ndarray, np.ndarray]] = []
        self.shadows: list[Any] = []  # the caller's shadows (autodiff), restored on failure

    def add_array(self, arr: Any, shadow: Any) -> None:
        """A Duplicated argument of :func:`autodiff`: the function's writes reach ``arr``."""
        if not isinstance(arr, np.ndarray) or arr.dtype.kind not in "fc":
            raise ActivityError(f"only float or complex ndarrays can be differentiated as arrays, "
                                f"got {type(arr).__name__}")
        own = _alias(arr)  # writable even after the caller's array is locked below
        # Pinned: the function's first write moves the root to a copy, so the caller's
        # memory keeps its values until the call succeeded (finish writes the final
        # ones): a failure leaves it alone, and a write through a view of it made before
        # the call (which the lock below cannot stop) is caught at the sweep.
        t = new_root(own, self.tape, Cell(arr.shape, arr.dtype, shadow), pinned=True)
        self.shadows.append(shadow)
        self.tape.lock(arr, keep=True)
        self.copy_back.append((t, arr, own))
        self.call_args.append(t)
        self.cells.append(t._cell)

    def add_borrowed(self, arr: np.ndarray) -> None:
        """A float or complex array differentiated functionally (:func:`vjp`): the stand-in's
        buffer is the caller's array itself, locked read-only while the tape lives. Its
        root is pinned, so the engine's first write moves it to a copy, and NumPy makes no
        view of a read-only array writable (``np.broadcast_arrays``, ``np.meshgrid``)."""
        own = arr
        if type(arr) is not np.ndarray:  # a subclass computes as a plain ndarray
            own = arr.view(np.ndarray)
            own.flags.writeable = False
        t = new_root(own, self.tape, Cell(arr.shape, arr.dtype), pinned=True)
        self.tape.lock(arr, keep=True)
        self.call_args.append(t)
        self.cells.append(t._cell)

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
            self.finish(failed=True)
            raise
        _forward_end(resume=not sweep_follows)
        return result

    def finish(self, failed: bool = False) -> None:
        """Unlock the caller's arrays and give them the function's side effects (none
        if the differentiation ``failed``: they keep their values)."""
        self.tape.unlock()
        if not failed:
            for t, arr, own in self.copy_back:
                if t._a is not own:  # the storage moved (copy-on-write): write the final values
                    arr[...] = t._a
        for t, _arr, own in self.copy_back:
            # Held by more than this run (the stand-in or a view of it escaped the function:
            # a global, a closure, the result): detached, its writes must not reach ``arr``.
            if t._a is own and sys.getrefcount(t) > _RUN_REFS:
                move_to_copy(t)
        self.copy_back = []

    def sweep_or_restore(self) -> None:
        """The sweep of :func:`autodiff`; if it fails, the caller's shadows get their
        values from before it back (rules that ran accumulated into them)."""
        saved = [tuple(d.copy() for d in s) if type(s) is tuple else s.copy() for s in self.shadows]
        try:
            self.tape.sweep(consume=True)
        except BaseException:
            for s, old in zip(self.shadows, saved):
                for cur, o in zip(s, old) if type(s) is tuple else ((s, old),):
                    cur[...] = o
            raise


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
    if isinstance(v, (tuple, list)):  # named tuples (an eigh or slogdet result) too
        return rebuild(v, [primal_of(e) for e in v])
    return v


def autodiff(f: Callable[..., Any], *args: Any, returns: Any = _DEFAULT,
             with_primal: bool = False) -> Any:
    """Reverse-mode derivatives of ``f(*args)`` with Enzyme's calling convention.

    ``args`` are annotated (``Const``, ``Active``, ``Duplicated``,
    ``BatchDuplicated``...; plain values count as Const). Returns a tuple with
    one entry per argument: the derivative for Active arguments, ``None``
    otherwise. A Duplicated shadow holds on entry the cotangent of the
    argument's final value and on exit that of its initial value; the caller's
    arrays receive the function's side effects. ``returns``: ``ar.Active``
    (seed 1.0), ``ar.Active(seed)`` or ``ar.Const``; by default Active for a
    scalar result and Const for ``None``. ``with_primal=True`` returns
    ``(derivatives, primal)``.

    >>> import numpy as np, activerules as ar
    >>> x, dx = np.array([1.0, 2.0]), np.zeros(2)
    >>> ar.autodiff(lambda x, c: (c * x * x).sum(), ar.Duplicated(x, dx), ar.Active(3.0))
    (None, 5.0)
    >>> dx
    array([ 6., 12.])
    """
    run = _Run(_width(args))
    try:
        for k, a in enumerate(args):
            if isinstance(a, BatchDuplicated):
                _add_duplicated(run, k, a.val, tuple(a.dvals))
            elif isinstance(a, Duplicated):
                _add_duplicated(run, k, a.val, a.dval)
            elif isinstance(a, Active):
                run.add_scalar(a.val)
            else:
                run.add_const(a.val if isinstance(a, Const) else a)
        if run.copy_back:
            _refuse_constant_aliases(run)
    except BaseException:
        run.tape.unlock()  # the arrays of the arguments before the bad one
        raise
    result = run.forward(f, sweep_follows=True)  # one pause of the collector for both
    try:
        failed = True
        try:
            _seed(result, returns, run.tape.width)
            run.sweep_or_restore()
            failed = False
        finally:
            run.finish(failed)
            run.tape.entries.clear()
    finally:
        _gc_resume()  # the tape is freed first
    derivs = tuple(_derivative(a, c, run.tape.width) for a, c in zip(args, run.cells))
    return (derivs, primal_of(result)) if with_primal else derivs


def _add_duplicated(run: _Run, k: int, arr: Any, shadow: Any) -> None:
    """Argument ``k`` of :func:`autodiff`, an array with its shadow(s). Enzyme's rule, one
    storage has one shadow: the same array with the same shadow as an earlier argument
    is that argument's stand-in again (the function sees one array, as NumPy's call
    does); any other sharing of memory between differentiated arguments raises."""
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
    run.add_array(arr, shadow)


def _refuse_constant_aliases(run: _Run) -> None:
    """A constant array argument of :func:`autodiff` must not share memory with a
    differentiated one: the function writes into a copy of the latter (the constant
    would not see the writes it sees in NumPy), and its derivative would be dropped."""
    for k, c in enumerate(run.call_args):
        if not isinstance(c, np.ndarray):
            continue
        for t, arr, _own in run.copy_back:
            if np.shares_memory(c, arr):
                raise ActivityError(
                    f"autodiff: argument {k} (constant) shares memory with argument "
                    f"{run.cells.index(t._cell)} (differentiated); pass the array once, or a copy "
                    "(x.copy()) as the constant")


def _seed(result: Any, returns: Any, width: int) -> None:
    if returns is _DEFAULT:
        if result is None:
            return
        if type(result) is Tracked or isinstance(result, np.ndarray):
            raise ActivityError("f returned an array: pass returns=ar.Const (derivatives flow "
                                "through Duplicated arguments) or use ar.vjp")
        returns = Active
    if returns is Const or isinstance(returns, Const):
        return
    if returns is Active or isinstance(returns, Active):
        seed = 1.0 if returns is Active else returns.val
        if type(result) is Tracked:
            raise ActivityError("an array result cannot be Active (arrays are mutable): pass "
                                "returns=ar.Const or use ar.vjp")
        if type(result) is TrackedScalar:
            if width and not isinstance(seed, tuple):
                seed = (seed,) * width
            result._cell.shadow = seed
        return
    raise ActivityError(f"returns must be ar.Active, ar.Active(seed) or ar.Const, got {returns!r}")


def _derivative(arg: Any, cell: Cell | None, width: int) -> Any:
    if not isinstance(arg, Active) or cell is None:
        return None
    s = cell.shadow
    if s is None:
        s = cell.zeros(width)
    return s


def vjp(f: Callable[..., Any], *args: Any) -> tuple[Any, Callable[[Any], tuple[Any, ...]]]:
    """``y, pullback = vjp(f, *args)``: the primal result and a function mapping an
    output cotangent to a tuple with one cotangent per argument.

    Float arrays and floats are differentiated; integers, other values and
    ``ar.Const(...)``-wrapped arguments are constant (their cotangent is ``None``).
    ``vjp`` is functional: if ``f`` writes into an argument it writes into a
    copy, and the caller's array keeps its value. The differentiated array
    arguments (and the constant arrays a rule's reverse reads) stay read-only
    while ``pullback`` is alive, so nothing the sweep reads can change under it;
    :func:`gradient` releases them before it returns.
    """
    run = _vjp_run(args, None)
    result = run.forward(f)
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
    differentiate, every other argument constant; ``None``: decided per argument as
    ``vjp`` says)."""
    run = _Run(0)
    for k, a in enumerate(args):
        t = type(a)
        if diff is not None and k not in diff:
            run.add_const(a)
        elif t is np.ndarray:  # the common cases first: the parametric isinstance is slow
            if a.dtype.kind in "fc":
                run.add_borrowed(a)
            else:
                run.add_const(a)
        elif t is float or t is complex:
            run.add_scalar(a)
        elif isinstance(a, Const):
            run.add_const(a.val)
        elif isinstance(a, np.ndarray) and a.dtype.kind in "fc":
            run.add_borrowed(a)
        elif isinstance(a, (float, complex, np.inexact)):
            run.add_scalar(a)
        else:
            run.add_const(a)
    return run


def _sweep(run: _Run, result: Any, ybar: Any, consume: bool = False) -> tuple[Any, ...]:
    """The sweep of :func:`vjp`'s pullback for the output cotangent ``ybar``
    (``consume``: the only sweep, see :meth:`Tape.sweep`), the collector paused."""
    for c in run.cells:
        if c is not None:
            c.shadow = None
    _clear_outputs(result)
    _seed_vjp(result, ybar)
    run.tape.sweep(consume)
    return tuple(None if c is None else (c.shadow if c.shadow is not None else c.zeros(0))
                 for c in run.cells)


def _clear_outputs(result: Any) -> None:
    """Zero the shadows of the outputs before they are seeded (an output no entry
    writes, as ``np.zeros_like(x)``, keeps the seed of an earlier call)."""
    t = type(result)
    if t is Tracked or t is TrackedScalar:
        result._cell.shadow = None
    elif isinstance(result, (tuple, list)):
        for r in result:
            _clear_outputs(r)


def _seed_vjp(result: Any, ybar: Any) -> None:
    """Add ``ybar`` to the shadows of the outputs: outputs may share a storage
    (``(x[:2], x[2:])``, ``np.split(x, 3)``, ``(y, y)``), so their seeds add up."""
    t = type(result)
    if t is Tracked:
        cell = result._cell
        if (cell.shadow is None and result._view is None and type(ybar) is np.ndarray
                and ybar.shape == cell.shape and ybar.dtype == cell.dtype):
            cell.shadow = ybar.copy()  # the sweep accumulates into it: never the caller's array
            return
        s = cell.ensure(0)
        (result._view(s) if result._view is not None else s)[...] += ybar
    elif t is TrackedScalar:
        s = result._cell.shadow
        result._cell.shadow = ybar if s is None else s + ybar
    elif isinstance(result, (tuple, list)):
        for r, y in zip(result, ybar):
            if y is not None:
                _seed_vjp(r, y)


def gradient(f: Callable[..., Any], *args: Any, argnums: int | tuple[int, ...] = 0) -> Any:
    """The gradient of the scalar function ``f`` with respect to ``args[argnums]``
    (a tuple of gradients for a tuple ``argnums``). Functional like :func:`vjp`.

    >>> import numpy as np, activerules as ar
    >>> ar.gradient(lambda x: (x ** 2).sum(), np.array([1.0, 2.0]))
    array([2., 4.])
    """
    nums = (argnums,) if isinstance(argnums, int) else tuple(argnums)
    run = _vjp_run(args, nums)
    result = run.forward(f, sweep_follows=True)  # one pause of the collector for both
    try:
        try:
            y = primal_of(result)
            if type(y) is not float and type(y) is not np.float64 and np.ndim(y) != 0:
                raise ActivityError(f"gradient needs a scalar result, f returned shape {np.shape(y)}; "
                                    "use ar.vjp")
            cots = _sweep(run, result, 1.0, consume=True)
        finally:
            run.tape.unlock()
            run.tape.entries.clear()
        del run, result
    finally:
        _gc_resume()  # the tape is freed first
    return cots[nums[0]] if isinstance(argnums, int) else tuple(cots[i] for i in nums)


def primitive(fn: F | None = None, *, mutates: Sequence[int] = ()) -> Any:
    """Mark ``fn`` so the engine calls its registered rule (``ar.rule`` /
    ``ar.rrule`` keyed by the decorated function) instead of tracing its body.
    ``mutates`` lists the positional arguments the function writes into.
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
        return wrapper  # type: ignore[return-value]

    return decorate(fn) if fn is not None else decorate


_TRACKED = (Tracked, TrackedScalar)
