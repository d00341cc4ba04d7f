"""The tape: what a differentiation records (Enzyme's memory model, in Python).

Every tracked storage (an array and all its views) and every tracked scalar
owns one :class:`Cell`: its shadow, allocated lazily (``None`` means zero).
A view's shadow is the same view of its storage's shadow, so writes through
views need no bookkeeping. A recorded call is an :class:`Entry`: the rule's
``reverse``, the annotations it was given, where their shadows live and where
its output's cotangent lives, and the :class:`Mode` the sweep runs it in. The
sweep itself (running the entries backwards) is :func:`.sweep.sweep`.

The :class:`Tape` also makes the untracked arrays a reverse reads read-only
while it lives (:meth:`Tape.lock`), and checks at the sweep that none was
changed behind the engine's back.

>>> import numpy as np
>>> from activerules.engine.tape import Tape
>>> t = Tape()
>>> c = np.ones(3)
>>> t.lock(c, keep=True)
>>> c.flags.writeable
False
>>> t.unlock(); c.flags.writeable
True
"""

from __future__ import annotations

import enum
import threading
from typing import Any, Callable, NoReturn

import numpy as np

from ..activity import ActiveRulesError, RuleError, ShadowRebindError
from ..dispatch.lanes import released_lanes, stacked_rows
from ..dispatch.lifting import returned_pair_message
from .donation import DONATE_MIN, donating

__all__ = ["Cell", "Entry", "Mode", "Tape", "MutationError", "UntrackedWriteError", "lanes_map",
           "layout_of"]


class MutationError(ActiveRulesError, RuntimeError):
    """A value the reverse sweep needs was modified behind the engine's back
    (through an untracked alias such as the caller's own array).

    >>> import numpy as np, activerules as ar
    >>> x = np.array([1.0, 2.0])
    >>> alias = x[:]                          # a view of the caller's array, made beforehand
    >>> def f(a):
    ...     alias[0] = 100.0                  # a write the engine cannot see
    ...     return (a * a).sum()
    >>> try:
    ...     ar.autodiff(f, ar.Duplicated(x, np.zeros(2)))
    ... except ar.MutationError as e:
    ...     print("copy()" in str(e))
    True
    """


class UntrackedWriteError(ActiveRulesError, TypeError):
    """An active value was converted to, or written into, a plain NumPy array.

    >>> import numpy as np, activerules as ar
    >>> def f(x):
    ...     out = np.zeros(2)                 # a plain array: use np.zeros_like(x)
    ...     out[:] = x
    ...     return out.sum()
    >>> try:
    ...     ar.gradient(f, np.ones(2))
    ... except ar.UntrackedWriteError as e:
    ...     print("np.zeros_like(x)" in str(e))
    True
    """


# Arrays made read-only by live tapes: id -> [array, count, was writeable]. Tapes of
# several threads or nested differentiations may lock the same array.
_LOCKS: dict[int, list[Any]] = {}
_LOCKS_GUARD = threading.Lock()


def _acquire(a: np.ndarray) -> None:
    with _LOCKS_GUARD:
        rec = _LOCKS.get(id(a))
        if rec is None:
            flags = a.flags  # a new flags object per access: read it once
            writeable = bool(flags.writeable)
            _LOCKS[id(a)] = [a, 1, writeable]
            if writeable:
                flags.writeable = False
        else:
            rec[1] += 1


def _release(a: np.ndarray) -> None:
    with _LOCKS_GUARD:
        rec = _LOCKS.get(id(a))
        if rec is None:
            return
        rec[1] -= 1
        if rec[1] == 0:
            del _LOCKS[id(a)]
            if rec[2]:
                try:
                    a.flags.writeable = True
                except ValueError:  # its owner is read-only for another reason
                    pass


class Cell:
    """The shadow of one tracked storage (``shape``/``dtype`` of its root) or of
    one tracked scalar (``shape is None``). ``shadow is None`` means zero; in a
    batch differentiation a shadow is a tuple with one entry per lane.

    >>> import numpy as np
    >>> c = Cell((2,), np.dtype(np.float64))
    >>> c.shadow is None, c.ensure(0)
    (True, array([0., 0.]))
    """

    __slots__ = ("shadow", "shape", "dtype", "layout")

    def __init__(self, shape: Any, dtype: Any, shadow: Any = None, layout: Any = None) -> None:
        self.shadow = shadow
        self.shape = shape
        self.dtype = dtype
        # None: C order; else the axes by decreasing stride of the storage (see layout_of).
        # A shadow has its storage's layout, so a view (a reshape) of the storage that
        # is a view of the primal is one of the shadow too, and writes through it land.
        self.layout = layout

    def zeros(self, width: int) -> Any:
        """A zero shadow (a tuple of ``width`` for a batch), laid out as the storage."""
        if self.shape is None:
            z = self.dtype.type(0)
            return z if not width else (z,) * width
        if not width:
            # C order, the common case, without the call
            return np.zeros(self.shape, self.dtype) if self.layout is None else self._zeros()
        # the lanes are the rows of one buffer: a rule registered batched=True then runs on
        # all of them at once, through a view (dispatch.lanes.stacked_view), with no copy
        return stacked_rows(self._zeros(width))

    def _zeros(self, lanes: int = 0) -> np.ndarray:
        """Zeros laid out as the storage; ``lanes``: that many, stacked on a leading axis."""
        perm = self.layout
        if perm is None:
            return np.zeros((lanes, *self.shape) if lanes else self.shape, self.dtype)
        z = np.zeros([lanes] * bool(lanes) + [self.shape[i] for i in perm], self.dtype)
        order = np.argsort(perm)
        return z.transpose([0, *(order + 1)] if lanes else order)

    def fits(self, a: np.ndarray) -> bool:
        """Whether array ``a`` is laid out as this storage's shadow must be."""
        if self.layout is None:
            return a.flags.c_contiguous
        return layout_of(a) == self.layout and (a.flags.c_contiguous or a.flags.f_contiguous
                                                or _compact(a))

    def ensure(self, width: int) -> Any:
        """The shadow, allocated (zero) if it was not yet."""
        s = self.shadow
        if s is None:
            s = self.shadow = self.zeros(width)
        return s


def layout_of(a: np.ndarray) -> Any:
    """None for a C-contiguous array, else its axes by decreasing stride (the order
    ``np.empty_like(a)`` keeps).

    >>> import numpy as np
    >>> layout_of(np.zeros((2, 3))) is None, layout_of(np.zeros((2, 3), order="F"))
    (True, (1, 0))
    """
    if a.flags.c_contiguous:
        return None
    st = a.strides
    return tuple(sorted(range(a.ndim), key=lambda i: -abs(st[i])))


def _compact(a: np.ndarray) -> bool:
    """Whether ``a`` has no gaps (its memory spans exactly its elements)."""
    span = sum((n - 1) * abs(st) for n, st in zip(a.shape, a.strides)) + a.itemsize
    return span == a.size * a.itemsize


def lanes_map(fn: Callable[[Any], Any], shadow: Any, width: int) -> Any:
    """Apply ``fn`` to a shadow, lane by lane in a batch (``width`` lanes; 0: not a batch).

    >>> import numpy as np
    >>> lanes_map(np.negative, np.ones(2), 0)
    array([-1., -1.])
    >>> lanes_map(len, (np.ones(2), np.ones(3)), 2)
    (2, 3)
    """
    return tuple(fn(s) for s in shadow) if width else fn(shadow)


# Kinds of argument binding recorded for a non-Const argument (the ``kind`` of a binding
# ``(index, kind, cell, view)``, see Entry.binds): an array, an Active number, a sequence of arrays.
ARRAY, SCALAR, SEQ = 0, 1, 2


class Mode(enum.Enum):
    """How the sweep runs an entry's reverse. Besides its name, each mode says two things:
    ``direct``: the engine called the rule's implementation itself (no Resolution in
    between), so the sweep makes the registry's check of the cotangents the reverse returns
    (``dispatch.lifting.check_returned``); ``guarded``: the reverse may raise after writing a
    shadow, so it writes into scratch buffers (added in once it succeeded) and the shadows
    of the arguments it mutates are snapshot (restored if it fails).

    >>> Mode.TRUSTED.direct, Mode.TRUSTED.guarded
    (True, False)
    >>> [m.name for m in Mode if m.guarded]
    ['CAREFUL', 'DIRECT']
    """

    #: an rrule's pullback, lifted by the engine itself (lifted.py): every cotangent it
    #: returns is checked before any is added, and a fresh one becomes the shadow without a copy
    LIFTED = ("lifted", False, False)
    #: a call with no array argument inside a batch differentiation (a non-batch request):
    #: its reverse runs once per lane
    LANES = ("lanes", False, False)
    #: through the Resolution (a lifted rrule in a batch or a mutating call: it checks
    #: before it accumulates), on the shadows themselves
    RESOLVED = ("resolved", False, False)
    #: through the Resolution, a hand-written rule (widened or per lane): guarded
    CAREFUL = ("careful", False, True)
    #: a hand-written rule served exactly (no widening, no lanes, not a batch), its forward
    #: called by the engine itself: guarded, and the engine checks the returned cotangents
    DIRECT = ("direct", True, True)
    #: as DIRECT, for a rule registered ``atomic=True`` (its reverse raises, if at all, before
    #: it writes a shadow): run on the shadows themselves, and a large output cotangent is
    #: donated to it (activity.donated)
    TRUSTED = ("trusted", True, False)

    def __init__(self, _value: str, direct: bool, guarded: bool) -> None:
        self.direct = direct
        self.guarded = guarded


# The modes as module names: the sweep and the recorder compare them by identity on the hot path.
LIFTED, LANES, RESOLVED = Mode.LIFTED, Mode.LANES, Mode.RESOLVED
CAREFUL, DIRECT, TRUSTED = Mode.CAREFUL, Mode.DIRECT, Mode.TRUSTED


class Entry:
    """One recorded call, as the sweep runs it backwards.

    ``reverse``: the rule's reverse (the rrule's pullback in mode LIFTED), called with the
    output cotangent; ``anns``: the annotations the rule was given (in mode LIFTED, which has none: the call's argument count);
    ``binds``: a binding ``(index, kind, cell, view)`` per non-Const argument (``kind``:
    ARRAY, SCALAR or SEQ; ``view`` maps the root shadow to the argument's shadow, None for
    the root itself; for SEQ ``cell`` and ``view`` are lists); ``out``: the output's cell,
    a list of cells for several outputs (nested for an output holding a list), or None;
    ``mutates``: the positions of the arguments the call writes into; ``mode``: a
    :class:`Mode`; ``label``: the rule's name for errors.

    An entry is made empty and filled field by field (the recorder's hot path: a call
    to ``__init__`` would double its cost):

    >>> e = Entry()
    >>> e.reverse, e.anns, e.binds, e.out = None, None, [], None
    >>> e.mutates, e.mode, e.label = (), Mode.LIFTED, "rrule `f`"
    >>> e.mode.name, e.label
    ('LIFTED', 'rrule `f`')
    """

    __slots__ = ("reverse", "anns", "binds", "out", "mutates", "mode", "label")
    reverse: Any
    anns: Any
    binds: list[Any]
    out: Any
    mutates: tuple[int, ...]
    mode: Mode
    label: str


class Tape:
    """A per-differentiation list of :class:`Entry` plus the arrays locked read-only
    while the tape lives (values a reverse reads that the engine cannot guard).
    ``width``: 0, or the number of lanes of a batch differentiation.

    >>> t = Tape(width=2)
    >>> t.entries, t.width
    ([], 2)
    """

    __slots__ = ("entries", "width", "locked", "detached", "registry", "nested", "capture",
                 "replaying", "__weakref__")

    def __init__(self, width: int = 0) -> None:
        self.entries: list[Entry] = []
        self.width = width  # 0: not a batch; else the number of lanes
        self.registry: Any = None  # the entry point's registry= (None: the global one)
        # id -> (array, a copy of its values to compare at the sweep, or None)
        self.locked: dict[int, tuple[np.ndarray, Any]] = {}
        # id(root) -> (weakref to the root, weakrefs to outputs that hold a copy of what
        # NumPy returns as a view of it): see tracked.prepare_write
        self.detached: dict[int, tuple[Any, list[Any]]] = {}
        # values of an enclosing differentiation entered this one (higher order): the sweep
        # is recorded by the enclosing level (engine/nested.py)
        self.nested = False
        # replay.py: the capture being recorded (capture.py), and the recording whose
        # entries and cells this tape uses, released (for another call) with the tape's locks
        self.capture: Any = None
        self.replaying: Any = None

    def lock(self, arr: np.ndarray, keep: bool = False) -> None:
        """Make ``arr`` (and the array owning its memory) read-only until :meth:`unlock`.
        ``keep``: ``arr``'s values must not change at all while the tape lives (a constant a
        reverse reads, an input :func:`vjp` borrows): a copy is kept to compare at the sweep,
        since a view made before the lock stays writable (NumPy locks no existing view)."""
        if self.capture is not None:
            self.capture.lock(arr, keep)
        if keep and id(arr) not in self.locked:
            self.locked[id(arr)] = (arr, arr.copy())
            _acquire(arr)
        for a in (arr, arr.base):
            if isinstance(a, np.ndarray) and id(a) not in self.locked:
                self.locked[id(a)] = (a, None)
                _acquire(a)

    def check_locks(self) -> None:
        """The version check: every locked array must still be read-only, and hold the
        values it had when it was locked with ``keep``."""
        for a, kept in self.locked.values():
            if a.flags.writeable:
                raise MutationError(
                    f"an array of shape {a.shape} that the reverse sweep reads was made writable "
                    "again during the differentiation and may have been modified through an "
                    "untracked alias; do not write to inputs except through the function's "
                    "arguments")
            if kept is not None and not _unchanged(a, kept):
                raise MutationError(
                    f"an array of shape {a.shape} that the reverse sweep reads (a constant a rule "
                    "kept, or an argument of vjp/gradient) was written during the differentiation "
                    "through a view made before the engine locked it (v = c[:]; ...; v[0] = ...): "
                    "the derivative would use the new values. Write into a copy (c.copy()) made "
                    "before the view, or finish writing before the array is used")

    def unlock(self) -> None:
        """Release the locks taken by :meth:`lock` (owners last)."""
        for a, _ in reversed(list(self.locked.values())):
            _release(a)
        self.locked.clear()
        if self.replaying is not None:
            self.replaying.release()
            self.replaying = None

    def clear_shadows(self) -> None:
        """Set the shadow of every cell the entries reach to zero (``None``)."""
        for entry in self.entries:
            release_out(entry.out)
            for _i, kind, cell, _view in entry.binds:
                if kind == SEQ:
                    for c in cell:
                        c.shadow = None
                else:
                    cell.shadow = None


def _unchanged(a: np.ndarray, kept: np.ndarray) -> bool:
    """Whether ``a`` holds the values of its copy ``kept``, bit for bit (a float array is
    compared as integers of its size: NaNs equal themselves, and it is 50x faster than
    ``np.array_equal(..., equal_nan=True)``)."""
    if a.dtype.kind == "c":
        return _unchanged(a.real, kept.real) and _unchanged(a.imag, kept.imag)
    if a.dtype.kind == "f" and a.dtype.itemsize in (2, 4, 8):
        bits = np.dtype(f"u{a.dtype.itemsize}")
        return bool(np.array_equal(a.view(bits), kept.view(bits)))
    return bool(np.array_equal(a, kept))


def release_out(out: Any) -> None:
    """Drop the shadows of an entry's output cell(s) (its cotangent, used up)."""
    if type(out) is Cell:
        out.shadow = None
    elif out is not None:
        for c in out:
            if c is not None:
                release_out(c)


# -- calling a reverse (the sweep's and the lift's) ----------------------------------------

def call_reverse(reverse: Any, dret: Any, released: bool) -> Any:
    """``reverse(dret)``; ``released``: the sweep frees ``dret`` after this entry, so a
    large one is donated (the rule may compute its cotangent in it, activity.donated);
    in a batch, the lanes a rule run on stacked lanes may compute in (lanes.released_lanes)."""
    if released:
        if type(dret) is np.ndarray:
            if dret.size >= DONATE_MIN:
                with donating(dret):
                    return reverse(dret)
        elif type(dret) is tuple:
            with released_lanes(dret):
                return reverse(dret)
    return reverse(dret)


def raise_failure(label: str, e: Exception, reverse: Any = None, lifted: bool = False) -> NoReturn:
    """Raise the RuleError for a rule whose reverse raised ``e`` (``e`` itself if it is one);
    ``reverse`` not a function: the rule returned ``(y, something else)``."""
    if reverse is not None and not callable(reverse):
        raise RuleError(returned_pair_message(label, (None, reverse), "pullback" if lifted else "reverse")) from e
    if isinstance(e, RuleError):
        if type(e) is ShadowRebindError:  # raised by the annotation, which knows no rule
            raise RuleError(f"{label}: {e}") from e
        raise e
    raise RuleError(f"{label}: reverse raised {type(e).__name__}: {e}") from e
