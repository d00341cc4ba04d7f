"""The reverse sweep: the tape's entries run backwards (HIPS autograd's backward pass).

:func:`sweep` takes the entries last first. Each entry reads its output's cotangent
(the shadow of its output cell), is skipped if no cotangent reaches it, and otherwise
runs its reverse, which adds the cotangents of its arguments to their shadows; the
output's shadow is then released. How the reverse is run is the entry's
:class:`~.tape.Mode`: a lifted rrule pullback (``lifted.py``), once per lane, or a
rule's reverse handed the shadows through its annotations (``ann.dval``).

A rule that raises (or returns a bad cotangent) during the sweep raises a
:class:`~activerules.activity.RuleError`, and no shadow keeps a partial
accumulation from it: shadows allocated for the entry are dropped, shadows of
arguments it mutates are restored from a snapshot, and a guarded rule accumulates
into scratch buffers that are added in only once it succeeded.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from ..dispatch.lifting import check_returned
from .donation import DONATE_MIN
from .lifted import _adopted, _reverse_lifted
from .tape import (
    LANES,
    LIFTED,
    SCALAR,
    SEQ,
    TRUSTED,
    Cell,
    Entry,
    Tape,
    call_reverse,
    lanes_map,
    raise_failure,
    release_out,
)

__all__ = ["sweep"]


def sweep(tape: Tape, consume: bool = False, recorded: Callable[[Entry], None] | None = None) -> None:
    """Run every entry's reverse, last first, after checking the tape's locks.
    ``consume``: drop each entry once it ran, freeing what its reverse read as the sweep
    goes. ``recorded``: how a tape of higher order reverses an entry, so that an enclosing
    level records it (:func:`.nested.sweep_nested`). If a reverse fails, every shadow the
    entries reach is cleared (a vjp pullback called again starts from zero).

    >>> import numpy as np
    >>> from activerules.engine.tape import ARRAY, Cell, Entry, Mode, Tape
    >>> x, y = Cell((2,), np.dtype(np.float64)), Cell((2,), np.dtype(np.float64))
    >>> e = Entry()      # y = 3 * x, recorded as an rrule (anns: its argument count)
    >>> e.reverse, e.anns, e.binds, e.out = lambda dy: (3 * dy,), 1, [(0, ARRAY, x, None)], y
    >>> e.mutates, e.mode, e.label = (), Mode.LIFTED, "rrule `triple`"
    >>> t = Tape(); t.entries.append(e)
    >>> y.shadow = np.ones(2); sweep(t)              # the seed, then the sweep
    >>> x.shadow, y.shadow
    (array([3., 3.]), None)
    """
    tape.check_locks()
    width = tape.width
    entries = tape.entries if consume else tape.entries[:]  # consume: each dropped as it runs
    pop = entries.pop
    try:
        while entries:  # last first (a loop, not a generator: no call per entry)
            entry = pop()
            if recorded is not None:
                recorded(entry)
                continue
            # the output's cotangent: skip the entry if none reached it
            out = entry.out
            single = type(out) is Cell  # one array or scalar output: the common case
            if single or out is None:  # None: a call that only mutates (setitem, copyto)
                dret = None if out is None else out.shadow
                live = dret is not None
            else:
                dret, live = _out_cotangent(out, width)
            mode = entry.mode
            if mode is LIFTED:
                if not live:
                    continue
                _reverse_lifted(entry.reverse, entry.binds, dret, entry.label, out, entry.anns)
            elif mode is LANES:
                if not live:
                    continue
                _reverse_lanes(entry.reverse, entry.binds, dret, entry.label, width)
            else:
                # a call that mutates an argument propagates that argument's cotangent
                # even when its output carries none
                if not live and not _mutated_shadows_live(entry.binds, entry.mutates):
                    continue
                _reverse_rule(entry, dret, live, width)
            if single:
                out.shadow = None
            elif out is not None:
                release_out(out)
    except BaseException:
        _forget(tape)
        raise


def _forget(tape: Tape) -> None:
    """After a failed sweep: the entries not run yet hold cotangents of it, and a vjp
    pullback called again must start from zero, not add to them."""
    tape.clear_shadows()


# -- output cotangents -----------------------------------------------------------------

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
    return _per_lane(_filled(out, width), width), True


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


def _per_lane(vals: list[Any], width: int) -> tuple[Any, ...]:
    """A multi-output cotangent as a reverse takes it: a tuple of outputs, or in a
    batch a tuple of lanes, each a tuple of outputs."""
    if width:
        return tuple(tuple(_lane(v, k) for v in vals) for k in range(width))
    return tuple(vals)


def _lane(v: Any, k: int) -> Any:
    """Lane ``k`` of a (possibly nested) batch cotangent."""
    if v is None:
        return None
    if type(v) is list:
        return [_lane(e, k) for e in v]
    return v[k]


def _zero_cotangent(out: Any, width: int) -> Any:
    """The output cotangent of an entry none reached (it runs for a mutated argument)."""
    if out is None:
        return (None,) * width if width else None
    if type(out) is Cell:
        return out.zeros(width)
    return _per_lane(_filled(out, width, zeros=True), width)


def _mutated_shadows_live(binds: list[Any], mutates: Any) -> bool:
    """Whether an argument the call mutated has a cotangent: with none, and no cotangent
    on the output either, the entry's reverse has nothing to propagate."""
    if mutates:
        for i, kind, cell, _ in binds:
            if kind != SEQ and cell.shadow is not None and i in mutates:
                return True
    return False


# -- a rule's reverse (modes RESOLVED, CAREFUL, DIRECT, TRUSTED) -------------------------

def _reverse_rule(entry: Entry, dret: Any, live: bool, width: int) -> None:
    """Hand the rule its argument shadows (``ann.dval``), call its reverse with the
    output cotangent and add what it returns for its Active arguments. A failing
    reverse leaves the shadows as they were (see the module's docstring)."""
    fresh, scratch, saved, adopt, active = _hand_shadows(entry, width)
    if not live:
        dret = _zero_cotangent(entry.out, width)
    mode, label, reverse = entry.mode, entry.label, entry.reverse
    try:
        # the output's cotangent is freed after this entry: given away to the rule where
        # it can use it (a large one; in a batch, to a rule run on stacked lanes: dispatch.lanes)
        if type(entry.out) is Cell and (width > 0 or (mode is TRUSTED and type(dret) is np.ndarray
                                                      and dret.size >= DONATE_MIN)):
            cots = call_reverse(reverse, dret, True)
        else:
            cots = reverse(dret)
        if mode.direct and (cots is not None or active):  # the registry guard's check, made here:
            # one cotangent per argument, Active ones scalars
            cots = check_returned(label, cots, entry.anns, len(entry.anns), active, False)
        if adopt:
            _adopt(adopt, label, dret)
    except Exception as e:
        for ann, _, _ in adopt:
            if "fresh" in vars(ann):
                del ann.fresh
        _undo(fresh, saved, width)
        raise_failure(label, e, reverse)
    for real, tmp in scratch:
        if width:
            for r, t in zip(real, tmp):
                r += t
        else:
            real += tmp
    if cots is not None:
        _add_active(entry.binds, cots, width)


def _hand_shadows(entry: Entry, width: int) -> tuple[list[Cell], list[Any], list[Any], list[Any], Any]:
    """Give each array argument of a rule its shadow through its annotation (``ann.dval``),
    allocating the shadows nobody wrote yet. Returns what undoing or finishing the reverse
    needs: the cells allocated here (``fresh``), the ``(shadow, scratch)`` pairs of a
    guarded rule, the snapshots ``(cell, copy)`` of mutated arguments' shadows of a
    guarded rule, the ``(annotation, cell, zeros)`` of shadows the rule may adopt, and
    the positions of the Active arguments (the scalars, whose cotangents are returned)."""
    anns, binds, mutates = entry.anns, entry.binds, entry.mutates
    guarded = entry.mode.guarded
    fresh: list[Cell] = []
    # only a guarded rule gets scratch buffers and snapshots: no lists to make for the others
    scratch: list[tuple[Any, Any]] = [] if guarded else _NONE
    saved: list[tuple[Cell, Any]] = [] if guarded else _NONE
    adopt: list[tuple[Any, Cell, Any]] = []
    active: Any = _NONE
    for i, kind, cell, view in binds:
        if kind == SCALAR:  # an Active number: its cotangent is returned, not accumulated
            active = [i] if active is _NONE else [*active, i]
            continue
        if kind == SEQ:
            d = _seq_shadows(cell, view, width, fresh)
        else:
            s = cell.shadow
            if s is None:
                s = cell.shadow = cell.zeros(width)
                fresh.append(cell)
                if (not width and view is None and i not in mutates
                        and (len(binds) == 1 or _bound_once(cell, binds))):
                    ann = anns[i]
                    ann._dval = s
                    ann.fresh = True  # the rule may hand its cotangent over instead of adding it
                    adopt.append((ann, cell, s))
                    continue
            elif guarded and i in mutates:
                saved.append((cell, lanes_map(np.copy, s, width)))
            d = s if view is None else view(s) if not width else lanes_map(view, s, width)
            if guarded and i not in mutates and cell not in fresh:
                # a shadow others wrote: the rule writes into scratch, added in once it succeeded
                real = d
                d = tuple(np.zeros_like(r) for r in real) if width else np.zeros(real.shape, real.dtype)
                scratch.append((real, d))
        # the slot behind the dval property, which refuses rebinding by rules (activity.set_shadow)
        if width:
            anns[i]._dvals = d
        else:
            anns[i]._dval = d
    return fresh, scratch, saved, adopt, active


_NONE: Any = ()  # an empty list that is never appended to


def _seq_shadows(cells: list[Cell], views: list[Any], width: int, fresh: list[Cell]) -> Any:
    """The shadows of a sequence argument (allocated if need be, added to ``fresh``): a
    list, or in a batch one list per lane."""
    dvals = []
    for c, v in zip(cells, views):
        if c.shadow is None:
            c.shadow = c.zeros(width)
            fresh.append(c)
        dvals.append(c.shadow if v is None else lanes_map(v, c.shadow, width))
    if width:  # lanes outermost
        return tuple([d[k] for d in dvals] for k in range(width))
    return dvals


def _bound_once(cell: Cell, binds: list[Any]) -> bool:
    """Whether ``cell`` backs a single argument of the call (``x * x`` binds it twice)."""
    n = 0
    for b in binds:
        if b[2] is cell:
            n += 1
    return n == 1


def _adopt(adopt: list[Any], label: str, dret: Any) -> None:
    """Take over the cotangents a rule handed over for fresh shadows (``ann.fresh``)."""
    for ann, cell, zeros in adopt:
        del ann.fresh  # back to the class default, False
        d = ann._dval  # the slot behind the dval property (not a batch: adopt is empty there)
        if d is not zeros:
            cell.shadow = _adopted(label, d, zeros, dret)
            if d is dret:
                dret = None  # adopted once: a second argument handed the same array gets a copy


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


# -- a non-batch request in a batch (mode LANES) -----------------------------------------

def _reverse_lanes(reverse: Any, binds: list[Any], dret: Any, label: str, width: int) -> None:
    """A non-batch request (only Active and Const arguments) in a batch sweep: one
    reverse per lane, each lane's cotangents added to that lane of the scalars."""
    per_lane = []
    for k in range(width):
        try:
            per_lane.append(reverse(dret[k]))
        except Exception as e:
            raise_failure(label, e, reverse)
    for i, _kind, cell, _ in binds:
        lanes = [None if c is None else c[i] for c in per_lane]
        if all(c is None for c in lanes):
            continue
        s = cell.ensure(width)
        cell.shadow = tuple(a if c is None else a + c for a, c in zip(s, lanes))
