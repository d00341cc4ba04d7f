"""The tape and the reverse sweep (Enzyme's memory model, in Python).

Every tracked storage (an array and all its views) and every tracked scalar
owns one :class:`Cell`: its shadow, allocated lazily (``None`` means zero).
A view's shadow is the same view of its storage's shadow, so writes through
views need no bookkeeping. A recorded call is an ``Entry`` tuple: the rule's
``reverse``, the annotations it was given, where their shadows live and where
its output's cotangent lives. The sweep runs the entries backwards, handing
each rule the shadows through its annotations (``ann.dval``) and the output
cotangent, and skips an entry whose output and mutated arguments carry no
cotangent at all.

A rule that raises (or returns a bad cotangent) during the sweep raises a
:class:`~activerules.activity.RuleError`, and no shadow keeps a partial
accumulation from it: shadows allocated for the entry are dropped, shadows of
arguments it mutates are restored from a snapshot, and a hand-written rule
accumulates into scratch buffers that are added in only once it succeeded.
"""

from __future__ import annotations

import sys
import threading
from typing import Any, Callable, NoReturn

import numpy as np

from ..activity import DONATE_MIN, ActiveRulesError, RuleError, ShadowRebindError, donating
from ..adapters.rrule import (
    Thunk,
    check_active,
    check_duplicated,
    cotangent_tuple_message,
    returned_pair_message,
)
from ..dispatch.resolution import _check_returned

__all__ = ["Cell", "Entry", "Tape", "MutationError", "UntrackedWriteError", "lanes_map"]


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
    batch differentiation a shadow is a tuple with one entry per lane."""

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
            return self._zeros()
        return tuple(self._zeros() for _ in range(width))

    def _zeros(self) -> np.ndarray:
        perm = self.layout
        if perm is None:
            return np.zeros(self.shape, self.dtype)
        z = np.zeros([self.shape[i] for i in perm], self.dtype)
        return z.transpose(np.argsort(perm))

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
    ``np.empty_like(a)`` keeps)."""
    if a.flags.c_contiguous:
        return None
    st = a.strides
    return tuple(sorted(range(a.ndim), key=lambda i: -abs(st[i])))


def _compact(a: np.ndarray) -> bool:
    """Whether ``a`` has no gaps (its memory spans exactly its elements)."""
    span = sum((n - 1) * abs(st) for n, st in zip(a.shape, a.strides)) + a.itemsize
    return span == a.size * a.itemsize


def lanes_map(fn: Callable[[Any], Any], shadow: Any, width: int) -> Any:
    """Apply ``fn`` to a shadow, lane by lane in a batch."""
    return tuple(fn(s) for s in shadow) if width else fn(shadow)


# Kinds of argument binding recorded for a non-Const argument.
ARRAY, SCALAR, SEQ = 0, 1, 2

# How an entry's reverse is run: through the Resolution (a lifted rrule, which checks
# before it accumulates), through the Resolution with guarded accumulation (a
# hand-written rule), or as an rrule pullback the engine lifts itself.
# LANES: a call with no array argument inside a batch differentiation is a
# non-batch request, run once per lane.
RESOLVED, CAREFUL, LIFTED, LANES = 0, 1, 2, 3
#: DIRECT: a hand-written rule served exactly (no widening, no lanes, not a batch), its
#: forward called by the engine itself; the sweep runs it as CAREFUL and makes the
#: registry's check of the returned cotangents (``resolution._check_returned``).
DIRECT = 4
#: TRUSTED: as DIRECT, for a rule registered ``atomic=True`` (its reverse raises, if at all,
#: before it writes a shadow): run on the shadows themselves, no scratch or snapshot.
TRUSTED = 5

#: One recorded call: ``(reverse, anns, binds, out, mutates, mode, label)``: the
#: rule's reverse (the rrule's pullback in mode LIFTED), the annotations it was
#: given, the bindings of its non-Const arguments ``(index, kind, cell, view)``
#: (``view`` maps the root shadow to the argument's shadow; for ``SEQ`` both are
#: lists), the output cell(s), the positions it mutates, the mode and its name.
Entry = tuple


class Tape:
    """A per-differentiation list of entries plus the arrays locked read-only
    while the tape lives (values a reverse reads that the engine cannot guard)."""

    __slots__ = ("entries", "width", "locked", "detached", "__weakref__")

    def __init__(self, width: int = 0) -> None:
        self.entries: list[Any] = []
        self.width = width  # 0: not a batch; else the number of lanes
        # id -> (array, a copy of its values to compare at the sweep, or None)
        self.locked: dict[int, tuple[np.ndarray, Any]] = {}
        # id(root) -> (weakref to the root, weakrefs to outputs that hold a copy of what
        # NumPy returns as a view of it): see views.prepare_write
        self.detached: dict[int, tuple[Any, list[Any]]] = {}

    # -- locking untracked arrays -------------------------------------------------------

    def lock(self, arr: np.ndarray, keep: bool = False) -> None:
        """Make ``arr`` (and the array owning its memory) read-only until :meth:`unlock`.
        ``keep``: ``arr``'s values must not change at all while the tape lives (a constant a
        reverse reads, an input :func:`vjp` borrows): a copy is kept to compare at the sweep,
        since a view made before the lock stays writable (NumPy locks no existing view)."""
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

    # -- the sweep -----------------------------------------------------------------------

    def sweep(self, consume: bool = False) -> None:
        """Run every entry's reverse, last first. ``consume``: drop each entry once it ran
        (a single sweep), so the values its reverse read are freed as the sweep goes and
        the sweep's own arrays reuse their memory."""
        self.check_locks()
        width = self.width
        entries = _consumed(self.entries) if consume else reversed(self.entries)
        try:
            if width:
                for entry in entries:
                    _reverse_entry(entry, width)
                return
            for entry in entries:
                out = entry[3]
                if entry[5] == LIFTED and type(out) is Cell:  # the hot path: one array or scalar output
                    dret = out.shadow
                    if dret is not None:
                        _reverse_lifted(entry[0], entry[2], dret, entry[6], out)
                        out.shadow = None
                elif entry[5] == LANES or entry[5] == LIFTED:
                    _reverse_entry(entry, 0)
                else:
                    _reverse_rule(entry)
        except BaseException:
            # The entries not run yet hold cotangents of this sweep: a vjp pullback called
            # again must start from zero, not add to them.
            self.clear_shadows()
            raise

    def clear_shadows(self) -> None:
        """Set the shadow of every cell the entries reach to zero (``None``)."""
        for entry in self.entries:
            _release_out(entry[3])
            for b in entry[2]:
                if b[1] == SEQ:
                    for c in b[2]:
                        c.shadow = None
                else:
                    b[2].shadow = None


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


def _consumed(entries: list[Any]) -> Any:
    """The entries last first, each removed from the list as it is handed out."""
    while entries:
        yield entries.pop()


def _out_cotangent(out: Any, width: int) -> tuple[Any, bool]:
    """The output cotangent for ``reverse`` and whether any was nonzero. A multi-output
    is a list of cells (a nested list for an output holding a list: ``histogramdd``'s edges)."""
    if out is None:
        return None, False
    if type(out) is Cell:
        s = out.shadow
        return s, s is not None
    if not _any_shadow(out):
        return None, False
    vals = _filled(out, width)
    if width:  # a tuple of lanes, each a tuple of outputs
        return tuple(tuple(_lane(v, k) for v in vals) for k in range(width)), True
    return tuple(vals), True


def _any_shadow(out: list[Any]) -> bool:
    for c in out:
        if type(c) is Cell:
            if c.shadow is not None:
                return True
        elif c is not None and _any_shadow(c):
            return True
    return False


def _filled(out: list[Any], width: int, zeros: bool = False) -> list[Any]:
    """Each output's cotangent (its shadow, zeros where none was written; ``zeros``: zeros
    everywhere), nested as the output is; None for an output that carries none."""
    vals: list[Any] = []
    for c in out:
        if type(c) is Cell:
            s = None if zeros else c.shadow
            vals.append(s if s is not None else c.zeros(width))
        else:
            vals.append(None if c is None else _filled(c, width, zeros))
    return vals


def _lane(v: Any, k: int) -> Any:
    """Lane ``k`` of a (possibly nested) batch cotangent."""
    if v is None:
        return None
    if type(v) is list:
        return [_lane(e, k) for e in v]
    return v[k]


def _zero_out(out: Any, width: int) -> Any:
    if type(out) is Cell:
        return out.zeros(width)
    vals = _filled(out, width, zeros=True)
    if width:
        return tuple(tuple(_lane(v, k) for v in vals) for k in range(width))
    return tuple(vals)


def _release_out(out: Any) -> None:
    if type(out) is Cell:
        out.shadow = None
    elif out is not None:
        for c in out:
            if c is not None:
                _release_out(c)


def _arg_shadow(cell: Cell, view: Any, width: int) -> Any:
    s = cell.shadow
    if view is None:
        return s
    return lanes_map(view, s, width)


def _mutated_shadows_live(binds: list[Any], mutates: Any) -> bool:
    """Whether an argument the call mutated has a cotangent: with none, and no cotangent
    on the output either, the entry's reverse has nothing to propagate."""
    return bool(mutates) and not all(
        b[2].shadow is None for b in binds if b[0] in mutates and b[1] != SEQ)


def _reverse_entry(entry: Entry, width: int) -> None:
    reverse, anns, binds, out, mutates, mode, label = entry
    if mode == LIFTED and type(out) is Cell:  # the hot path: one array or scalar output
        dret = out.shadow
        if dret is not None:
            _reverse_lifted(reverse, binds, dret, label, out)
            out.shadow = None
        return
    dret, live = _out_cotangent(out, width)
    if mode == LANES:
        if live:
            _reverse_lanes(reverse, binds, dret, label, width)
            _release_out(out)
        return
    if mode == LIFTED:
        if live:
            _reverse_lifted(reverse, binds, dret, label, out)
            _release_out(out)
        return
    careful = mode == CAREFUL
    if not live and not _mutated_shadows_live(binds, mutates):
        return
    fresh: list[Cell] = []
    scratch: list[tuple[Any, Any]] = []
    saved: list[tuple[Cell, Any]] = []
    for i, kind, cell, view in binds:
        if kind == SCALAR:
            continue
        if kind == SEQ:
            dvals = []
            for c, v in zip(cell, view):
                if c.shadow is None:
                    c.ensure(width)
                    fresh.append(c)
                dvals.append(_arg_shadow(c, v, width))
            if width:  # lanes outermost: one list of shadows per lane
                _set_dval(anns[i], tuple([d[k] for d in dvals] for k in range(width)), width)
            else:
                _set_dval(anns[i], dvals, width)
            continue
        if cell.shadow is None:
            cell.ensure(width)
            fresh.append(cell)
            _set_dval(anns[i], _arg_shadow(cell, view, width), width)
        elif i in mutates:
            if careful:
                saved.append((cell, lanes_map(np.copy, cell.shadow, width)))
            _set_dval(anns[i], _arg_shadow(cell, view, width), width)
        elif careful and cell not in fresh:
            real = _arg_shadow(cell, view, width)
            tmp = lanes_map(np.zeros_like, real, width)
            scratch.append((real, tmp))
            _set_dval(anns[i], tmp, width)
        else:
            _set_dval(anns[i], _arg_shadow(cell, view, width), width)
    if not live:
        dret = _zero_out(out, width) if out is not None else ((None,) * width if width else None)
    try:
        cots = reverse(dret)
    except Exception as e:
        _undo(fresh, saved, width)
        _raise_failure(label, e, reverse)
    for real, tmp in scratch:
        if width:
            for r, t in zip(real, tmp):
                r += t
        else:
            real += tmp
    if cots is not None:
        _add_active(binds, cots, width)
    _release_out(out)


def _reverse_rule(entry: Entry) -> None:
    """:func:`_reverse_entry` for modes RESOLVED, CAREFUL, DIRECT and TRUSTED outside a
    batch (the same steps, with the lane handling left out)."""
    reverse, anns, binds, out, mutates, mode, label = entry
    if type(out) is Cell:
        dret = out.shadow
        live = dret is not None
    else:
        dret, live = _out_cotangent(out, 0)
    if not live and not _mutated_shadows_live(binds, mutates):
        return
    careful = mode == CAREFUL or mode == DIRECT
    fresh: list[Cell] = []
    scratch: list[tuple[Any, Any]] = []
    saved: list[tuple[Cell, Any]] = []
    adopt: list[tuple[Any, Cell, Any]] = []
    for i, kind, cell, view in binds:
        if kind == SCALAR:
            continue
        if kind == SEQ:
            dvals = []
            for c, v in zip(cell, view):
                if c.shadow is None:
                    c.shadow = c.zeros(0)
                    fresh.append(c)
                dvals.append(c.shadow if v is None else v(c.shadow))
            anns[i]._dval = dvals
            continue
        s = cell.shadow
        if s is None:
            s = cell.shadow = cell.zeros(0)
            fresh.append(cell)
            if view is None and i not in mutates and _bound_once(cell, binds):
                ann = anns[i]
                ann._dval = s
                ann.fresh = True  # the rule may hand its cotangent over instead of adding it
                adopt.append((ann, cell, s))
            else:
                anns[i]._dval = s if view is None else view(s)
        elif i in mutates:
            if careful:
                saved.append((cell, s.copy()))
            anns[i]._dval = s if view is None else view(s)
        elif careful and cell not in fresh:
            real = s if view is None else view(s)
            tmp = np.zeros(real.shape, real.dtype)
            scratch.append((real, tmp))
            anns[i]._dval = tmp
        else:
            anns[i]._dval = s if view is None else view(s)
    if not live:
        dret = _zero_out(out, 0) if out is not None else None
    try:
        cots = _call(reverse, dret, mode == TRUSTED and type(out) is Cell)
        if mode >= DIRECT:  # DIRECT or TRUSTED: the registry guard's check, made here
            active = _scalar_positions(binds)
            if cots is not None or active:  # one cotangent per argument, Active ones scalars
                cots = _check_returned(label, cots, anns, len(anns), active, False)
        for ann, cell, zeros in adopt:
            del ann.fresh  # back to the class default, False
            d = ann.dval
            if d is not zeros:
                cell.shadow = _adopted(label, d, zeros, dret)
                if d is dret:
                    dret = None  # adopted once: a second argument handed the same array gets a copy
    except Exception as e:
        for ann, _, _ in adopt:
            if "fresh" in vars(ann):
                del ann.fresh
        _undo(fresh, saved, 0)
        _raise_failure(label, e, reverse)
    for real, tmp in scratch:
        real += tmp
    if cots is not None:
        _add_active(binds, cots, 0)
    if type(out) is Cell:
        out.shadow = None
    else:
        _release_out(out)


def _call(reverse: Any, dret: Any, released: bool) -> Any:
    """``reverse(dret)``; ``released``: the sweep frees ``dret`` after this entry, so a
    large one is donated (the rule may compute its cotangent in it, activity.donated)."""
    if released and type(dret) is np.ndarray and dret.size >= DONATE_MIN:
        with donating(dret):
            return reverse(dret)
    return reverse(dret)


def _raise_failure(label: str, e: Exception, reverse: Any = None, lifted: bool = False) -> NoReturn:
    """Raise the RuleError for a rule whose reverse raised ``e`` (``e`` itself if it is one);
    ``reverse`` not a function: the rule returned ``(y, something else)``."""
    if reverse is not None and not callable(reverse):
        raise RuleError(returned_pair_message(label, (None, reverse), "pullback" if lifted else "reverse")) from e
    if isinstance(e, RuleError):
        if type(e) is ShadowRebindError:  # raised by the annotation, which knows no rule
            raise RuleError(f"{label}: {e}") from e
        raise e
    raise RuleError(f"{label}: reverse raised {type(e).__name__}: {e}") from e


def _undo(fresh: list[Cell], saved: list[tuple[Cell, Any]], width: int) -> None:
    """After a failing reverse: drop the shadows allocated for it, and restore the snapshots
    of the shadows of arguments it mutates, in place (the shadow may be the caller's buffer)."""
    for c in fresh:
        c.shadow = None
    for c, old in saved:
        for cur, o in zip(c.shadow, old) if width else ((c.shadow, old),):
            cur[...] = o


def _add_active(binds: list[Any], cots: Any, width: int) -> None:
    """Add the cotangents a reverse returned for its Active (scalar) arguments to their cells."""
    for i, kind, cell, _ in binds:
        if kind == SCALAR:
            c = cots[i]
            if c is not None:
                s = cell.shadow
                if s is None:
                    cell.shadow = c
                elif width:
                    cell.shadow = tuple(a + b for a, b in zip(s, c))
                else:
                    cell.shadow = s + c


def _scalar_positions(binds: list[Any]) -> tuple[int, ...]:
    """The positions of the Active (scalar) arguments of a call."""
    return tuple([b[0] for b in binds if b[1] == SCALAR])


def _bound_once(cell: Cell, binds: list[Any]) -> bool:
    """Whether ``cell`` backs a single argument of the call (``x * x`` binds it twice)."""
    n = 0
    for b in binds:
        if b[2] is cell:
            n += 1
    return n == 1


def _adopted(label: str, d: Any, zeros: np.ndarray, dret: Any) -> Any:
    """The shadow of a fresh cell whose rule handed its cotangent ``d`` over (``ann.fresh``,
    see ``rules._util._hand``): ``d`` itself when nothing else can see it (a fresh
    array, or the output's cotangent, which this entry releases), else ``zeros + d``."""
    if type(d) is np.ndarray and d.shape == zeros.shape and d.dtype == zeros.dtype and d.strides == zeros.strides:
        # references: ann.dval, the caller's ``d``, this parameter, getrefcount's argument
        if d is dret or (d.base is None and d.flags.writeable and sys.getrefcount(d) <= 4):
            return d
    try:
        zeros += d
    except Exception as e:
        raise RuleError(f"{label}: the cotangent handed over as a fresh shadow does not fit it "
                        f"(shape {zeros.shape}, dtype {zeros.dtype}): {e}") from e
    return zeros


def _reverse_lanes(reverse: Any, binds: list[Any], dret: Any, label: str, width: int) -> None:
    """A non-batch request (only Active and Const arguments) in a batch sweep: one
    reverse per lane, each lane's cotangents added to that lane of the scalars."""
    per_lane = []
    for k in range(width):
        try:
            per_lane.append(reverse(dret[k]))
        except Exception as e:
            _raise_failure(label, e, reverse)
    for i, _kind, cell, _ in binds:
        lanes = [None if c is None else c[i] for c in per_lane]
        if all(c is None for c in lanes):
            continue
        s = cell.ensure(width)
        cell.shadow = tuple(a if c is None else a + c for a, c in zip(s, lanes))


def _reverse_lifted(pullback: Any, binds: list[Any], dret: Any, label: str, out: Any) -> None:
    """Run an rrule's pullback and deliver its cotangents (the engine's lift: same
    checks as the registry's, but a cotangent for a shadow nobody wrote yet
    becomes that shadow without a copy, including the output's own shadow, which
    is released right after). Every cotangent is checked before any is delivered,
    so a failing rule leaves no partial accumulation."""
    spare = dret if type(out) is Cell else None  # the output shadow, free after this entry
    try:
        cots = _call(pullback, dret, spare is not None)
    except Exception as e:
        _raise_failure(label, e, pullback, True)
    n_args = len(cots) if isinstance(cots, (tuple, list)) else -1
    ready: list[Any] = []
    for i, kind, cell, view in binds:
        if i >= n_args:
            raise RuleError(cotangent_tuple_message(label, cots, None, "the pullback"))
        c = cots[i]
        if c is None:
            continue
        if type(c) is Thunk:
            c = c.fn()
            if c is None:
                continue
        if kind == SCALAR:
            ready.append((kind, cell, None, check_active(label, i, c, cell.dtype.type(0))))
        elif kind == ARRAY:
            shape = cell.shape if view is None else view(cell.ensure(0)).shape
            if type(c) is not np.ndarray or c.shape != shape or c.dtype != cell.dtype:
                c = _check_array(label, i, c, shape, cell.dtype)
            ready.append((kind, cell, view, c))
        else:
            shadows = [x.ensure(0) if v is None else v(x.ensure(0)) for x, v in zip(cell, view)]
            ready.append((kind, cell, view, check_duplicated(label, i, c, shadows)))
    del cots
    for kind, cell, view, c in ready:
        if kind == SCALAR:
            cell.shadow = c if cell.shadow is None else cell.shadow + c
        elif kind == ARRAY:
            s = cell.shadow
            if (s is None and view is None and type(c) is np.ndarray and c.dtype == cell.dtype
                    and cell.fits(c)):
                if c is spare:  # identity-like pullback: take over the output's shadow
                    cell.shadow = c
                    spare = None
                    continue
                if c.base is None and c.flags.writeable and sys.getrefcount(c) <= 3:
                    cell.shadow = c  # a fresh cotangent nobody else holds: it becomes the shadow
                    continue
            if s is None:
                s = cell.ensure(0)
            if view is None:
                s += c
            else:
                view(s)[...] += c
        else:
            for cc, v, ci in zip(cell, view, c):
                if ci is not None:
                    s = cc.ensure(0)
                    (s if v is None else v(s))[...] += ci


def _check_array(label: str, i: int, c: Any, shape: tuple[int, ...], dtype: Any) -> Any:
    if type(c) is not np.ndarray or c.shape != shape:
        c = np.asarray(c)
        if c.shape != shape:
            raise RuleError(f"{label}: argument {i}: cotangent has shape {c.shape}, the argument "
                            f"has shape {shape}")
    if c.dtype != dtype and not np.can_cast(c.dtype, dtype, "same_kind"):
        raise RuleError(f"{label}: argument {i}: cotangent has dtype {c.dtype}, the argument has "
                        f"dtype {dtype}")
    return c


def _set_dval(ann: Any, dval: Any, width: int) -> None:
    """Give a rule its shadow (the slot behind the ``dval`` property, which refuses
    rebinding by rules: activity.set_shadow)."""
    if width:
        ann._dvals = dval
    else:
        ann._dval = dval
