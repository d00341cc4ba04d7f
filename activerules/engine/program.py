"""A recorded program: the steps a replay runs instead of the user's function.

A replay holds every value of one forward pass in a list of *slots*: the caller's
arguments first, then the constants of the recording, then each value a step makes.
A step reads its arguments from slots and writes what it makes into slots:

- :class:`Rule`: a recorded call, its resolved rule run directly with new
  annotations; its reverse goes into the recorded tape entry, which the one sweep
  runs as after an eager forward pass;
- :class:`Call`: a NumPy call with no derivative on undifferentiated values
  (:func:`.inert.inert_call`), a view (:func:`.views.view_of`), a copy (copy-on-write);
- :class:`Guard`: a value the user's Python saw (a conversion to ``bool``/``int``/
  ``float``, a comparison, a mask, an index...): recomputed and compared with the
  recorded one; if it differs, the path may differ, and the replay stops
  (:class:`Diverged`): the function is recorded again.

>>> import numpy as np
>>> vals = [np.array([1.0, -2.0]), None, None]
>>> Call(np.abs, (0,), 1)(vals)
>>> Guard(np.argmax, (1,), np.int64(1))(vals)
>>> vals[1]
array([1., 2.])
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from ..activity import RuleError
from ..dispatch.lifting import returned_pair_message
from .tape import _unchanged

__all__ = ["Diverged", "Rule", "Call", "Guard", "Under", "Node", "same", "build", "reads"]


class Diverged(Exception):
    """A replay met a value the recorded path did not: record again."""


class Node:
    """An argument built from slots: a list or tuple (``kind``) of sources, or a dict
    (``keys``: its keys, in order). A source is a slot number or a :class:`Node`.

    >>> Node(tuple, (0, 1)).build(["a", "b"])
    ('a', 'b')
    """

    __slots__ = ("kind", "items", "keys")

    def __init__(self, kind: type, items: tuple[Any, ...], keys: tuple[Any, ...] = ()) -> None:
        self.kind = kind
        self.items = items
        self.keys = keys

    def build(self, vals: list[Any]) -> Any:
        items = [vals[s] if type(s) is int else s.build(vals) for s in self.items]
        if self.kind is dict:
            return dict(zip(self.keys, items))
        return items if self.kind is list else self.kind(items)


def build(srcs: tuple[Any, ...], vals: list[Any]) -> list[Any]:
    """The arguments of a step, from its sources.

    >>> build((1, Node(list, (0, 0))), ["x", "y"])
    ['y', ['x', 'x']]
    """
    return [vals[s] if type(s) is int else s.build(vals) for s in srcs]


def reads(step: Any) -> list[int]:
    """The slots a step reads (its arguments' and keywords' sources).

    >>> reads(Call(np.add, (0, Node(list, (1, 2))), 3))
    [0, 1, 2]
    """
    if type(step) is Under:
        return reads(step.step)
    found: list[int] = []
    _sources(step.srcs, found)
    if type(step.kwargs) is Node:
        _sources(step.kwargs.items, found)
    return found


def _sources(srcs: Any, found: list[int]) -> None:
    for s in srcs:
        if type(s) is int:
            found.append(s)
        else:
            _sources(s.items, found)


def _flat(srcs: tuple[Any, ...]) -> bool:
    return all(type(s) is int for s in srcs)


class Call:
    """``vals[out] = fn(*args, **kwargs)``; ``out``: a slot, or an output placement
    (:func:`place`) for a structured result; None: the call writes in place."""

    __slots__ = ("fn", "srcs", "flat", "kwargs", "out")

    def __init__(self, fn: Callable[..., Any], srcs: tuple[Any, ...], out: Any,
                 kwargs: Any = None) -> None:
        self.fn = fn
        self.srcs = srcs
        self.flat = _flat(srcs)
        self.kwargs = kwargs  # None, a dict of constants, or a Node(dict) of sources
        self.out = out

    def __call__(self, vals: list[Any]) -> None:
        args = [vals[s] for s in self.srcs] if self.flat else build(self.srcs, vals)
        kw = self.kwargs
        y = self.fn(*args) if kw is None else self.fn(*args, **(kw.build(vals) if type(kw) is Node else kw))
        out = self.out
        if type(out) is int:
            vals[out] = y
        elif out is not None:
            place(out, y, vals)


class Guard(Call):
    """``fn(*args, **kwargs)`` must equal ``expected`` (:func:`same`), else :class:`Diverged`."""

    __slots__ = ("expected",)

    def __init__(self, fn: Callable[..., Any], srcs: tuple[Any, ...], expected: Any,
                 kwargs: Any = None) -> None:
        super().__init__(fn, srcs, None, kwargs)
        self.expected = expected

    def __call__(self, vals: list[Any]) -> None:
        args = [vals[s] for s in self.srcs] if self.flat else build(self.srcs, vals)
        kw = self.kwargs
        y = self.fn(*args) if kw is None else self.fn(*args, **(kw.build(vals) if type(kw) is Node else kw))
        if not same(y, self.expected):
            raise Diverged(f"{getattr(self.fn, '__name__', self.fn)} of the values gave "
                           f"{_short(y)} where the recording saw {_short(self.expected)}")


class Under:
    """A step run under the floating-point error state the function had set around it
    (``np.errstate``), which a replay sets again.

    >>> vals = [np.array([1.0, 0.0]), None]
    >>> Under(Call(np.reciprocal, (0,), 1), {"divide": "ignore"})(vals); vals[1]
    array([ 1., inf])
    """

    __slots__ = ("step", "state")

    def __init__(self, step: Callable[[list[Any]], None], state: Any) -> None:
        self.step = step
        self.state = state

    def __call__(self, vals: list[Any]) -> None:
        with np.errstate(**self.state):  # type: ignore[arg-type]
            self.step(vals)


def _short(v: Any) -> str:
    text = repr(v).replace("\n", " ")
    return text if len(text) <= 60 else text[:57] + "..."


def identity(v: Any) -> Any:
    """The value itself (a guard on a whole value)."""
    return v


class Rule:
    """A recorded call with a derivative: its rule's forward run on the slots' values.
    Its annotations are made once (``annotate``, as :func:`.recording._run_forward` makes
    them) and given each replay's values; the reverse (and the annotations the sweep
    hands the shadows through) go into ``entry``, the call's recorded tape entry."""

    __slots__ = ("impl", "call", "lifted", "direct", "cfg", "drop", "srcs", "flat", "kwargs",
                 "out", "entry", "anns", "dup", "batch", "nones", "label")

    def __init__(self, plan: tuple[Any, ...], srcs: tuple[Any, ...], kwargs: Any, out: Any,
                 entry: Any, width: int, annotate: Callable[..., Any]) -> None:
        res, acts, _, self.lifted, mode, self.drop, self.cfg, _ = plan
        self.impl, self.call, self.label = res.entry.impl, res.call, res.label
        self.direct = self.lifted or mode.direct
        self.srcs = srcs
        self.flat = _flat(srcs)
        self.kwargs = kwargs
        self.out = out
        self.entry = entry
        self.anns = None if self.lifted else annotate(acts, [None] * len(srcs), width)
        anns = self.anns or []
        self.dup = [a for a, act in zip(anns, acts) if act.__name__ == "Duplicated"]
        self.batch = [a for a, act in zip(anns, acts) if act.__name__ == "BatchDuplicated"]
        self.nones = (None,) * width

    def __call__(self, vals: list[Any]) -> None:
        args = [vals[s] for s in self.srcs] if self.flat else build(self.srcs, vals)
        kw = self.kwargs
        if type(kw) is Node:
            kw = kw.build(vals)
        anns = self.anns
        if anns is None:  # an rrule, lifted by the engine: values, no annotations
            pair = self.impl(*args, **kw)
        else:
            for ann, v in zip(anns, args):
                ann.val = v
            for ann in self.dup:
                ann._dval = None
            for ann in self.batch:
                ann._dvals = self.nones
            pair = self.impl(self.cfg, *anns, **kw) if self.direct else self.call(self.cfg, *anns, **kw)
            for i in self.drop:
                anns[i].val = None
        if type(pair) is not tuple or len(pair) != 2:
            raise RuleError(returned_pair_message(self.label, pair, "pullback" if anns is None else "reverse"))
        entry = self.entry
        if entry is not None:
            entry.reverse = pair[1]
            entry.anns = len(args) if anns is None else anns
        if self.out is not None:
            place(self.out, pair[0], vals)


# -- outputs --------------------------------------------------------------------------------

#: placements of one output part: a new slot, a copy into a slot, a value to compare
SLOT, COPY, CHECK = 0, 1, 2


def place(spec: Any, y: Any, vals: list[Any]) -> None:
    """Put the parts of a step's output ``y`` into slots as ``spec`` says: a tuple
    ``(SLOT, k, shape)``, ``(COPY, k, shape)`` (the engine holds a copy), ``(CHECK, value)``
    (a part the user's Python sees: compared), or a list of those for a tuple or list
    output. An array of another shape than the recorded one (a result whose shape
    follows values: ``np.flatnonzero``, ``np.repeat`` by counts...) stops the replay."""
    if type(spec) is list:
        if not isinstance(y, (tuple, list)) or len(y) != len(spec):
            raise Diverged("a result of another structure")
        for s, e in zip(spec, y):
            place(s, e, vals)
        return
    how = spec[0]
    if how == CHECK:
        if not same(y, spec[1]):
            raise Diverged(f"a result without derivative was {_short(y)} where the recording saw {_short(spec[1])}")
        return
    shape = spec[2]
    if shape is not None and (type(y) is not np.ndarray or y.shape != shape):
        raise Diverged(f"a result of shape {np.shape(y)} where the recording's had shape {shape}")
    vals[spec[1]] = y if how == SLOT else y.copy(order="K")


# -- comparing values -----------------------------------------------------------------------

def same(a: Any, b: Any) -> bool:
    """Whether ``a`` and ``b`` are the same value of the same type, bit for bit (NaNs
    equal themselves; an array's shape and dtype count).

    >>> same(np.array([np.nan, 1.0]), np.array([np.nan, 1.0])), same(1.0, np.float64(1.0))
    (True, False)
    """
    ta = type(a)
    if ta is not type(b):
        return False
    if ta is np.ndarray:
        return a.shape == b.shape and a.dtype == b.dtype and _unchanged(a, b)
    if ta is tuple or ta is list:
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if ta is dict:
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, (float, complex, np.inexact)):
        return _unchanged(np.asarray(a), np.asarray(b))
    try:
        return bool(a == b)
    except Exception:  # an object with no plain equality: the same object only
        return a is b
