"""A recording of a replayed function (:mod:`.replay`): the captured program, and what
a replay hands the entry point's run so that the rest of the entry point works as
after an eager forward pass: the recorded tape entries (given the new reverses), the
recorded cells (the arguments' stand-ins are given them), the result's stand-ins
(given the new values) and the locks the tape takes.

A recording serves one call at a time (:meth:`Recording.acquire`), from the forward
pass until the run's tape is released (a ``vjp`` pullback alive holds it).
"""

from __future__ import annotations

import threading
import warnings
from typing import Any

import numpy as np

from .capture import Capture
from .inert import InertScalar, promote_to
from .program import Diverged, reads
from .standins import Tracked, TrackedScalar
from .tape import SEQ, Cell
from .trees import is_node, items_of, rebuild_node

__all__ = ["Recording", "plain_numbers"]

# kinds of the parts of a result (see _result_spec)
_ARRAY, _SCALAR, _INPUT, _NODE, _COPY, _CONST, _VALUE = range(7)


class Recording:
    """A captured program with the tape parts a replay gives a run.

    >>> Recording.DIVERGED is Recording.DIVERGED
    True
    """

    DIVERGED: Any = object()  # what replay returns when the function must run again

    __slots__ = ("steps", "template", "inputs", "finals", "cells", "results", "entries",
                 "locks", "all_cells", "annotations", "why", "frees", "sees_warnings", "_busy")

    def __init__(self, cap: Capture, inputs: list[int]) -> None:
        self.steps = cap.steps
        self.template = cap.template
        self.entries = cap.entries
        self.locks = cap.locks
        self.inputs = inputs  # the slot of each argument stand-in, in the signature's order
        # (stand-in, slot of its final buffer, pinned, its cell if it was promoted)
        self.finals: list[tuple[int, int, Any, Any]] = []
        self.cells: list[tuple[int, Cell]] = []  # (stand-in, its recorded cell)
        self.results: Any = None
        self.all_cells: list[Cell] = []  # set to zero when a call is done with the recording
        self.annotations: list[Any] = []  # the rules' annotations, given each call's values
        self.frees: list[tuple[int, ...]] = []  # per step, the slots no later step reads
        self.sees_warnings = cap.sees_warnings  # the function changed the warning filters
        self.why = ""  # why the last replay of it stopped (a guard that failed, a step that raised)
        self._busy = threading.Lock()

    @classmethod
    def made(cls, cap: Capture, run: Any, result: Any, leaves: list[Any], inputs: list[int],
             had_cell: list[bool]) -> Recording | None:
        """The recording of a captured forward pass (None: it cannot be replayed, the
        reason in ``cap.failed``)."""
        if run.tape.nested:
            cap.fail("a value of an enclosing differentiation (higher order)")
        rec = cls(cap, inputs)
        for i, leaf in enumerate(leaves):
            if isinstance(leaf, Tracked) and leaf._root is None:
                k = cap.arrays.get(id(leaf._a))
                if k is None:
                    cap.fail("an argument's buffer moved where replay does not follow")
                promoted = leaf._cell if not had_cell[i] and leaf._cell is not None else None
                rec.finals.append((i, k or 0, leaf._pinned, promoted))
            if had_cell[i]:
                rec.cells.append((i, leaf._cell))
        rec.results = _result_spec(result, cap, leaves, run.tape)
        if cap.failed is not None:
            return None
        rec.all_cells = _cells_of(cap.entries, rec.cells, result)
        rec.frees = _frees(rec.steps, rec._read_after(), cap.template)
        rec.annotations = [a for step in rec.steps for a in getattr(step, "anns", None) or ()]
        cap.arrays.clear()  # the ids were only needed while capturing
        cap.scalars.clear()
        cap.keep.clear()
        return rec

    def _read_after(self) -> set[int]:
        """The slots read after the steps: the arguments' final buffers, the result's, the locks'."""
        slots = {k for _, k, _, _ in self.finals} | {k for k, _ in self.locks} | set(self.inputs)
        _result_slots(self.results, slots)
        return slots

    def acquire(self) -> bool:
        """Reserve the recording for one call (False: another call is using it)."""
        return self._busy.acquire(blocking=False)

    def release(self) -> None:
        """The call using the recording is done with it (its tape was released): what the
        call left in it (reverses, the values they read, cotangents; not its result, which
        ``autodiff(..., with_primal=True)`` reads after) is dropped, as the eager engine
        drops its tape, and the cells are zero for the next call."""
        if not self._busy.locked():
            return
        for e in self.entries:
            e.reverse = None
        for a in self.annotations:
            a.val = None
        for c in self.all_cells:
            c.shadow = None
        self._busy.release()

    def replay(self, run: Any, leaves: list[Any]) -> Any:
        """Run the program on ``run``'s arguments (``leaves``: their stand-ins) and give
        ``run`` the tape: the function's result, or :attr:`DIVERGED` (the recording
        released) if a guard failed or a step raised: the function must run again."""
        try:
            vals = self.template.copy()
            for k, leaf in zip(self.inputs, leaves):
                vals[k] = leaf._v if type(leaf) is TrackedScalar else leaf._a
            if self.sees_warnings:  # the function acts on warnings: one stops the replay
                with warnings.catch_warnings(record=True) as caught:
                    warnings.simplefilter("always")  # whatever the caller's filters: f had its own
                    self._run(vals)
                if caught:  # it runs again, and warns as eagerly
                    raise Diverged(f"a call warned: {caught[0].message}")
            else:  # warnings go to the caller's filters and handler, as eagerly
                self._run(vals)
        except (Diverged, Exception) as e:  # a rule may fail on these values: the function says how
            self.release()
            self.why = str(e) if type(e) is Diverged else f"a step raised {type(e).__name__}: {e}"
            return Recording.DIVERGED
        return self._commit(run, leaves, vals)

    def _run(self, vals: list[Any]) -> None:
        for step, free in zip(self.steps, self.frees):
            step(vals)
            for k in free:  # no later step reads it: freed, as eagerly (peak memory)
                vals[k] = None

    def _commit(self, run: Any, leaves: list[Any], vals: list[Any]) -> Any:
        run.release()  # the caller's arrays held read-only for the function
        tape = run.tape
        for k, keep in self.locks:
            tape.lock(vals[k], keep)
        swap: dict[int, Cell] = {}
        for i, cell in self.cells:
            leaf = leaves[i]
            new = leaf._cell
            if new is not cell:  # the recorded cell, given the new one's shadow (autodiff's dx)
                cell.shadow = new.shadow
                swap[id(new)] = cell
                leaf._cell = cell
        if swap:
            run.cells = [_swapped(c, swap) for c in run.cells]
        for i, k, pinned, promoted in self.finals:
            leaf = leaves[i]
            leaf._a = vals[k]
            leaf._pinned = pinned
            if promoted is not None:  # an active value was written into it (runtime activity)
                promote_to(leaf, promoted)
        tape.entries = list(self.entries)
        tape.replaying = self
        return _rebuilt(self.results, vals, leaves, tape)


def plain_numbers(v: Any) -> Any:
    """A function's result with its :class:`~.inert.InertScalar` numbers (made while it
    recorded) replaced by their values.

    >>> plain_numbers((1.0, [None]))
    (1.0, [None])
    """
    if type(v) is InertScalar:
        return v._v
    if is_node(v):
        return rebuild_node(v, [plain_numbers(e) for _, e in items_of(v)])
    return v


def _swapped(c: Any, swap: dict[int, Cell]) -> Any:
    """``run.cells``' item ``c`` (a cell, None, or a structure of them) with the cells in
    ``swap`` replaced."""
    if type(c) is Cell:
        return swap.get(id(c), c)
    if is_node(c):
        return rebuild_node(c, [_swapped(e, swap) for _, e in items_of(c)])
    return c


def _result_spec(v: Any, cap: Capture, leaves: list[Any], tape: Any) -> Any:
    """How a replay rebuilds the function's result ``v``."""
    if is_node(v):
        return (_NODE, v, [_result_spec(e, cap, leaves, tape) for _, e in items_of(v)])
    if type(v) is InertScalar:  # a number of undifferentiated values: the replay's value
        k = cap.scalars.get(id(v))
        if k is None:
            cap.fail("the result was made where replay does not follow")
        return (_VALUE, k)
    if isinstance(v, (Tracked, TrackedScalar)):
        if v._tape is not tape:
            cap.fail("the result holds a value of another differentiation")
            return (_CONST, v)
        for i, leaf in enumerate(leaves):
            if v is leaf:
                return (_INPUT, i)
        if isinstance(v, Tracked):
            k = cap.arrays.get(id(v._a)) if type(v._a) is np.ndarray else None
            kind = _ARRAY
        else:
            k = cap.scalars.get(id(v))
            kind = _SCALAR
        if k is None:
            cap.fail("the result was made where replay does not follow")
        return (kind, v, k)
    if type(v) is np.ndarray:  # made by the function's own Python from values the guards check
        return (_COPY, v.copy(order="K"))
    return (_CONST, v)


def _rebuilt(spec: Any, vals: list[Any], leaves: list[Any], tape: Any) -> Any:
    kind = spec[0]
    if kind == _ARRAY:
        v = spec[1]
        v._a = vals[spec[2]]
        v._tape = tape
        return v
    if kind == _SCALAR:
        s = spec[1]
        s._v = vals[spec[2]]
        s._tape = tape
        return s
    if kind == _INPUT:
        return leaves[spec[1]]
    if kind == _VALUE:
        return vals[spec[1]]
    if kind == _NODE:
        return rebuild_node(spec[1], [_rebuilt(s, vals, leaves, tape) for s in spec[2]])
    if kind == _COPY:
        return spec[1].copy(order="K")
    return spec[1]


def _cells_of(entries: list[Any], inputs: list[tuple[int, Cell]], result: Any) -> list[Cell]:
    """Every cell a call's sweep may leave a cotangent in but the arguments': the
    entries' (bound, output) and the result's."""
    cells: dict[int, Cell] = {}
    for e in entries:
        _collect(e.out, cells)
        for _i, kind, cell, _view in e.binds:
            for c in (cell if kind == SEQ else (cell,)):
                cells[id(c)] = c
    for leaf in _leaves_of(result):
        c = getattr(leaf, "_cell", None)
        if type(c) is Cell:
            cells[id(c)] = c
    for _, c in inputs:  # the arguments' derivatives: autodiff reads them after the release
        cells.pop(id(c), None)
    return list(cells.values())


def _result_slots(spec: Any, into: set[int]) -> None:
    kind = spec[0]
    if kind in (_ARRAY, _SCALAR):
        into.add(spec[2])
    elif kind == _VALUE:
        into.add(spec[1])
    elif kind == _NODE:
        for s in spec[2]:
            _result_slots(s, into)


def _frees(steps: list[Any], kept: set[int], template: list[Any]) -> list[tuple[int, ...]]:
    """Per step, the slots of values it was the last to read (not constants, not ``kept``)."""
    last: dict[int, int] = {}
    for i, step in enumerate(steps):
        for k in reads(step):
            last[k] = i
    per: list[list[int]] = [[] for _ in steps]
    for k, i in last.items():
        if k not in kept and template[k] is None:
            per[i].append(k)
    return [tuple(p) for p in per]


def _collect(out: Any, into: dict[int, Cell]) -> None:
    if type(out) is Cell:
        into[id(out)] = out
    elif out is not None:
        for c in out:
            _collect(c, into)


def _leaves_of(v: Any) -> list[Any]:
    if is_node(v):
        return [leaf for _, e in items_of(v) for leaf in _leaves_of(e)]
    return [v]
