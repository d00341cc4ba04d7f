"""Capturing a forward pass as a program to replay (:mod:`.replay`).

While a function decorated with :func:`~.replay.replay` runs for the first time with a
signature, its tape carries a :class:`Capture` (``tape.capture``), and the engine
reports to it every value it makes: each recorded call, each NumPy call on
undifferentiated values, each view and copy, and every value the user's Python sees
(a conversion, a comparison, a mask...). The capture turns them into the steps of a
:mod:`.program`, reading each argument from the slot of the value that made it.
A value it cannot place (a path the replay would not follow) marks the capture failed
(:attr:`Capture.failed`): the function is not replayed, never replayed wrong.

>>> import numpy as np
>>> cap = Capture()
>>> x = np.array([1.0, 2.0]); k = cap.slot(x)
>>> cap.steps, cap.template
([], [None])
"""

from __future__ import annotations

import contextlib
import operator
import warnings
from typing import Any, Callable, Iterator

import numpy as np

from . import standins
from .inert import inert_call
from .program import CHECK, COPY, SLOT, Call, Guard, Node, Rule, Under, identity
from .standins import Tracked, TrackedScalar, raw

__all__ = ["Capture", "snapshot", "copy_k", "seen"]


def seen(fn: Callable[..., Any], *args: Any) -> Any:
    """``fn`` of the values of stand-ins (a comparison, a conversion): a plain value with
    no derivative, which the user's Python sees, so a replay checks it.

    >>> seen(max, 1.0, 2.0)
    2.0
    """
    first = next((a for a in args if isinstance(a, (Tracked, TrackedScalar))), None)
    if first is not None and first._tape.capture is not None and fn in _COMPARISONS:
        # a comparison while recording: a mask the replay computes (a step), checked only
        # where the Python uses it (an if, an index); a compared number is checked at once
        return inert_call(fn, args, {}, (), first._tape)
    vals = [raw(a) for a in args]
    if first is None or first._tape.capture is None:
        return fn(*vals)
    cap = first._tape.capture
    with cap.watching():
        y = fn(*vals)
    cap.guard(fn, args, vals, y)
    return y


_COMPARISONS = frozenset((operator.lt, operator.le, operator.gt, operator.ge, operator.eq, operator.ne))


def copy_k(a: np.ndarray) -> np.ndarray:
    """A copy of ``a`` in its own memory order (copy-on-write's copy)."""
    return a.copy(order="K")


def snapshot(v: Any) -> Any:
    """``v`` as a constant of the recording: its arrays copied (inside lists, tuples
    and dicts too), so later writes into the caller's or the function's arrays do not
    reach it (values captured from globals and closures are constants, as in ``jax.jit``).

    >>> a = np.ones(2); s = snapshot((a, 1)); a[0] = 5.0; s
    (array([1., 1.]), 1)
    """
    t = type(v)
    if t is np.ndarray:
        return v.copy(order="K")
    if t is tuple or t is list:
        return t(snapshot(e) for e in v)
    if t is dict:
        return {k: snapshot(e) for k, e in v.items()}
    return v


def _read_only(op: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """``op`` for a view NumPy makes read-only (``np.diagonal``): the view function the
    engine records makes shadows' views writable; the replay's primal stays read-only."""
    def view(s: Any) -> Any:
        v = op(s)
        v.flags.writeable = False
        return v
    return view


def _raw_tree(v: Any) -> Any:
    """``v`` with its stand-ins (in lists and tuples too) replaced by their values."""
    if type(v) is list or type(v) is tuple:
        return type(v)(_raw_tree(e) for e in v)
    return raw(v)


def _warnings_state() -> tuple[Any, ...]:
    """The warning filters and handler in force (a function that changes them, as
    ``warnings.catch_warnings(record=True)`` does, may act on a warning)."""
    return (tuple(warnings.filters), warnings.showwarning)


def _holds_standin(seq: Any) -> bool:
    return any(isinstance(e, (Tracked, TrackedScalar)) or
               ((type(e) is list or type(e) is tuple) and _holds_standin(e)) for e in seq)


class Capture:
    """The program being captured: its steps, the template of its slots (the constants;
    None for a value a step makes), where each value lives, and the tape entries and
    locks a replay gives its tape."""

    __slots__ = ("steps", "template", "arrays", "scalars", "keep", "entries", "locks", "failed",
                 "errstate", "threw", "warnings", "sees_warnings", "watches")

    def __init__(self) -> None:
        self.steps: list[Any] = []
        self.template: list[Any] = []
        self.arrays: dict[int, int] = {}  # id of an ndarray a stand-in holds -> its slot
        self.scalars: dict[int, int] = {}  # id of a TrackedScalar -> its slot
        self.keep: list[Any] = []  # what those ids belong to, alive while capturing
        self.entries: list[Any] = []
        self.locks: list[tuple[int, bool]] = []
        self.failed: str | None = None
        self.errstate = np.geterr()  # the caller's: a step the function ran under another is wrapped
        self.threw = False  # a call raised (and the function went on): see raised()
        self.warnings = _warnings_state()  # the caller's filters and handler
        self.sees_warnings = False  # the function changed them (catch_warnings): warnings are values
        self.watches: list[tuple[Any, Any]] = []  # the calls being watched (begin_watch), innermost last

    def add(self, step: Any) -> None:
        """Append ``step``, under the floating-point error state the function set, if any."""
        state = np.geterr()
        self.steps.append(step if state == self.errstate else Under(step, state))

    @contextlib.contextmanager
    def watching(self) -> Iterator[None]:
        """Around a call while recording (:meth:`begin_watch` and :meth:`end_watch`)."""
        self.begin_watch()
        try:
            yield
        except BaseException as e:
            self.end_watch(e)
            raise
        self.end_watch(None)

    def begin_watch(self) -> None:
        """Before a call while recording: an exception it raises, or a warning it issues
        where the function changed the warning filters or handler (it may act on it:
        ``warnings.catch_warnings(record=True)``), is a value the path may depend on, so
        the recording is not kept (:meth:`end_watch`)."""
        if not self.sees_warnings and _warnings_state() != self.warnings:
            self.sees_warnings = True
        ctx = warnings.catch_warnings(record=True)
        self.watches.append((ctx, ctx.__enter__()))

    def end_watch(self, error: BaseException | None) -> None:
        """After the call: ``error`` it raised (None: it returned). Each warning it issued
        is issued again as it was, for the caller's and the function's handlers."""
        ctx, caught = self.watches.pop()
        ctx.__exit__(None, None, None)
        if error is not None:
            self.raised(error)
        elif caught and self.sees_warnings:
            self.raised(caught[0].category("a warning"))
        for w in caught or ():
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno, source=w.source)

    def inactive(self, fn: Callable[..., Any], args: Any, vals: Any, kwargs: Any) -> Any:
        """A function without derivative: its plain value, which the function's Python
        sees (a replay checks it)."""
        with self.watching():
            y = fn(*vals, **kwargs)
        self.guard(fn, args, vals, y, kwargs)
        return y

    def raised(self, e: BaseException) -> None:
        """A call raised while recording: whether it raises is a value the function's path
        may depend on (``try: ... except LinAlgError:``), so this recording is not kept (a
        later call records again)."""
        self.fail(f"{type(e).__name__} raised (or a warning issued) by a call while recording")
        self.threw = True

    def fail(self, reason: str) -> None:
        """The program cannot be replayed (the first reason is kept)."""
        if self.failed is None:
            self.failed = reason

    # -- slots ---------------------------------------------------------------------------
    def slot(self, value: Any, constant: Any = None) -> int:
        """A new slot for the value a step (or the caller) gives: an ndarray a stand-in
        holds, or a tracked number; ``constant``: its value in the template."""
        k = len(self.template)
        self.template.append(constant)
        if isinstance(value, TrackedScalar):  # an InertScalar too
            self.scalars[id(value)] = k
        elif type(value) is np.ndarray:
            self.arrays[id(value)] = k
        self.keep.append(value)
        return k

    def input(self, leaf: Any) -> int:
        """The slot of an argument's stand-in (the same stand-in twice: one slot)."""
        if isinstance(leaf, TrackedScalar):
            k = self.scalars.get(id(leaf))
            return k if k is not None else self.slot(leaf)
        k = self.arrays.get(id(leaf._a))
        return k if k is not None else self.slot(leaf._a)

    def constant(self, v: Any) -> int:
        k = len(self.template)
        self.template.append(snapshot(v))
        return k

    def source(self, a: Any, v: Any) -> Any:
        """Where a step finds ``v``, the value it received for the argument ``a``
        (a stand-in, a sequence holding stand-ins, or a constant)."""
        t = type(a)
        if isinstance(a, TrackedScalar) and v is a._v:
            k = self.scalars.get(id(a))
            if k is not None:
                return k
        elif (t is list or t is tuple) and _holds_standin(a):
            if (type(v) is list or type(v) is tuple) and len(v) == len(a):
                return Node(type(v), tuple(self.source(e, ve) for e, ve in zip(a, v)))
        elif not isinstance(a, (Tracked, TrackedScalar)):
            return self.constant(v)
        k = self.arrays.get(id(v)) if type(v) is np.ndarray else None
        if k is None:
            self.fail(f"a value reached {type(a).__name__} through a path replay does not follow")
            return self.constant(v)
        return k

    def sources(self, args: Any, vals: Any) -> tuple[Any, ...]:
        return tuple(self.source(a, v) for a, v in zip(args, vals))

    def keywords(self, kwargs: dict[str, Any] | None, vals: dict[str, Any] | None = None) -> Any:
        """The keywords of a step: None, a dict of constants, or a Node of sources
        (``vals``: the values the call received for them, if not the stand-ins' own)."""
        if not kwargs:
            return None
        if not any(isinstance(v, (Tracked, TrackedScalar, list, tuple)) for v in kwargs.values()):
            return snapshot(kwargs)
        keys = tuple(kwargs)
        raws = vals if vals is not None else {k: _raw_tree(v) for k, v in kwargs.items()}
        return Node(dict, tuple(self.source(kwargs[k], raws[k]) for k in keys), keys)

    # -- outputs -------------------------------------------------------------------------
    def output(self, y: Any, w: Any) -> Any:
        """How a step places its output ``y``, which the engine gave the function as
        ``w`` (stand-ins, or ``y`` itself for parts without a derivative)."""
        if isinstance(w, Tracked):
            if type(w._a) is not np.ndarray:
                self.fail("a value of another differentiation (higher order)")
                return (CHECK, None)
            k = self.arrays.get(id(w._a))
            if k is None:
                k = self.slot(w._a)
            return (COPY if w._a is not y else SLOT, k, w._a.shape)
        if isinstance(w, TrackedScalar):
            return (SLOT, self.slot(w), None)
        if isinstance(w, (tuple, list)) and isinstance(y, (tuple, list)) and len(w) == len(y) \
                and any(isinstance(e, (Tracked, TrackedScalar, tuple, list)) for e in w):
            return [self.output(a, b) for a, b in zip(y, w)]
        return (CHECK, snapshot(y))  # no derivative, and the user's Python sees it

    # -- the engine's reports --------------------------------------------------------------
    def rule(self, plan: tuple[Any, ...], args: Any, vals: Any, kwargs: Any, y: Any, w: Any,
             entry: Any, width: int, annotate: Callable[..., Any]) -> None:
        """A recorded call: its rule gave ``y`` (``w`` as the function received it;
        ``entry``: its tape entry, None if it has none)."""
        out = None if y is None and w is None else self.output(y, w)
        self.add(Rule(plan, self.sources(args, vals), self.keywords(kwargs) or {},
                               out, entry, width, annotate))
        if entry is not None:
            self.entries.append(entry)

    def call(self, fn: Callable[..., Any], args: Any, vals: Any, kwargs: Any, y: Any, w: Any,
             kwvals: dict[str, Any] | None = None) -> None:
        """A NumPy call with no derivative that made ``y`` (``w`` as the function got it;
        both None: it writes in place)."""
        out = None if y is None and w is None else self.output(y, w)
        self.add(Call(fn, self.sources(args, vals), out, self.keywords(kwargs, kwvals)))

    def guard(self, fn: Callable[..., Any], args: Any, vals: Any, y: Any, kwargs: Any = None) -> None:
        """``fn`` of stand-ins gave ``y``, a plain value the user's Python sees."""
        self.add(Guard(fn, self.sources(args, vals), snapshot(y), self.keywords(kwargs)))

    def guard_value(self, a: Any) -> None:
        """The whole value of stand-in ``a`` left the engine (into a plain array, an index)."""
        v = a._v if isinstance(a, TrackedScalar) else a._a
        self.guard(identity, (a,), (v,), v)

    def view(self, parent: np.ndarray, v: Any, op: Callable[[Any], Any]) -> None:
        """``v = op(parent)``, a view the engine derives from its parent."""
        k = self.arrays.get(id(parent))
        if k is None or type(v) is not np.ndarray:
            self.fail("a view of a value replay does not hold")
            return
        self.add(Call(op if v.flags.writeable else _read_only(op), (k,), self.slot(v)))

    def moved(self, old: np.ndarray, root: Tracked, views: list[Any]) -> None:
        """Copy-on-write moved ``root`` from buffer ``old`` to a copy, and ``views`` with it."""
        k = self.arrays.get(id(old))
        if k is None:
            self.fail("a copy of a value replay does not hold")
            return
        new = self.slot(root._a)
        self.add(Call(copy_k, (k,), new))
        for v in views:
            self.add(Call(v._view, (new,), self.slot(v._a)))

    def fresh(self, y: np.ndarray) -> None:
        """A new array whose values depend on no argument's (``np.zeros_like(x)``): each
        replay gets a copy of the recorded one."""
        self.add(Call(copy_k, (self.constant(y),), self.slot(y)))

    def lock(self, arr: np.ndarray, keep: bool) -> None:
        """The tape locked ``arr`` (a reverse reads it): a replay locks its own value."""
        k = self.arrays.get(id(arr))
        if k is not None:  # else a constant: the recording's own copy, which nobody writes
            self.locks.append((k, keep))


standins._plain = seen  # late binding (see standins)
