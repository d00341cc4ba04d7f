"""Nested differentiations (higher order): recording at the deepest level, and the
sweep that the enclosing level records.

How levels nest (see :mod:`.levels`): a stand-in of an inner differentiation
stands for a value that may itself be a stand-in of an enclosing one (its
``_a`` or ``_v``). A call is recorded at the deepest open level among its
arguments; the rule computes on the unwrapped values, which are the enclosing
levels' stand-ins, so those levels record the rule's forward. The inner sweep
runs after the inner forward closed its level, while the enclosing one is
still open: the reverses are NumPy code on values that are enclosing stand-ins,
so the enclosing level records them too, and the inner derivative comes back as
an enclosing stand-in. A tape that values of an enclosing level entered is
marked ``nested`` and swept by the one sweep with :func:`sweep_nested`'s per-entry reverse: cotangents are accumulated
out of place (a cotangent someone else holds is never mutated, as autograd's
``add_outgrads``), and a shadow a rule writes into in place is a stand-in of the
enclosing level owned by this sweep, so the writes are recorded.

>>> import numpy as np, activerules as ar
>>> ar.gradient(lambda x: x * ar.gradient(lambda y: x * y, 1.0), 4.0)  # d/dx x*x = 2x
np.float64(8.0)
"""

from __future__ import annotations

import functools
import threading
from typing import Any, Callable, TypeVar

import numpy as np

from ..activity import ActiveRulesError, RuleError
from ..dispatch.lifting import Thunk, check_array, check_count
from . import levels
from . import sweep as _flat
from .standins import DETACHED, Tracked, TrackedScalar, new_root, new_scalar
from .sweep import _mutated_shadows_live, _out_cotangent, _zero_cotangent
from .tape import ARRAY, LIFTED, SCALAR, SEQ, Cell, Entry, Tape, UntrackedWriteError, layout_of, release_out
from .trees import is_node, items_of, rebuild_node

__all__ = ["call_level", "wrap", "promote", "input_of", "sweep", "sweep_nested", "seed", "once_differentiable"]

F = TypeVar("F", bound=Callable[..., Any])
_sweeping = threading.local()  # .depth: nested sweeps running on this thread


def once_differentiable(reverse: F) -> F:
    """Mark a rule's reverse (an rrule's pullback, an activity rule's reverse) as
    differentiable once only: first derivatives work, and a second-order request
    (a gradient of a gradient, :func:`~activerules.hessian`) raises
    ``ar.RuleError`` naming it instead of giving a wrong derivative. Use it for a
    reverse that is right at first order but not differentiable again (masks,
    branches on values, a non-NumPy library on plain copies), as PyTorch's
    ``@once_differentiable``.

    >>> import numpy as np, activerules as ar
    >>> @ar.primitive
    ... def relu(x):
    ...     return np.maximum(x, 0.0)
    >>> @ar.rrule(relu)
    ... def _relu(x):
    ...     return relu(x), ar.once_differentiable(lambda g: (g * (x > 0),))
    >>> float(ar.gradient(lambda x: relu(x).sum(), np.array([1.0, -1.0]))[0])
    1.0
    >>> try:
    ...     ar.hessian(lambda x: relu(x).sum(), np.array([1.0, -1.0]))
    ... except ar.RuleError as e:
    ...     print("once differentiable" in str(e))
    True
    """
    name = getattr(reverse, "__qualname__", type(reverse).__name__)

    @functools.wraps(reverse)
    def once(*args: Any, **kwargs: Any) -> Any:
        if getattr(_sweeping, "depth", 0):
            raise RuleError(
                f"{name} is marked once differentiable (ar.once_differentiable): it cannot be "
                "differentiated a second time (higher order). First derivatives work; for a "
                "second order, write its reverse with NumPy functions on the values it is given "
                "and drop the mark")
        return reverse(*args, **kwargs)
    return once  # type: ignore[return-value]


def _tapes(v: Any, found: list[Any]) -> list[Any]:
    """The tapes of the stand-ins in ``v`` (lists and tuples walked)."""
    t = type(v)
    if t is Tracked or t is TrackedScalar:
        if not any(f is v._tape for f in found):
            found.append(v._tape)
    elif t is list or t is tuple:
        for e in v:
            _tapes(e, found)
    return found


def call_level(args: tuple[Any, ...], mutates: tuple[int, ...]) -> Tape:
    """The level a call mixing stand-ins of several differentiations is recorded at: the
    deepest open one (raises if a stand-in's level is not open). Writing a value of that
    level into an array of an enclosing level raises: the enclosing level would record
    only the primal of the write, and this level's derivative through it would be lost."""
    tapes: list[Any] = []
    for a in args:
        _tapes(a, tapes)
    tape = levels.deepest(tapes)
    for i in mutates:
        m = args[i]
        if type(m) is Tracked and m._tape is not tape:
            raise ActiveRulesError(
                "activerules: a value of an inner differentiation was written into an array of an "
                "enclosing one (higher order): the inner derivative through that array would be "
                "lost. Allocate the array inside the inner function (np.zeros_like(y)), or return "
                "the value from it")
    tape.nested = True
    return tape


def _value_type(s: TrackedScalar) -> type:
    v = s._v
    while type(v) is TrackedScalar:
        v = v._v
    return type(v)


def const_key(a: Any) -> type:
    """The type an enclosing level's stand-in resolves as, a constant at this level."""
    return np.ndarray if type(a) is Tracked else _value_type(a)


def _scalar_cell(s: Any) -> Cell:
    return Cell(None, np.dtype(_value_type(s)) if type(s) is TrackedScalar else np.result_type(s))


def _root_of(t: Tracked) -> Tracked:
    return t._root if t._root is not None else t


def _aliases(y: Tracked, vals: Any) -> bool:
    """Whether the rule's output ``y`` (an enclosing level's array) is one of its
    argument values, or a view of one's storage."""
    ry = _root_of(y)
    for v in vals:
        if type(v) is Tracked and _root_of(v) is ry:
            return True
        if type(v) is list and _aliases(y, v):
            return True
    return False


def wrap(y: Any, tape: Tape, vals: Any) -> tuple[Any, Any]:
    """A stand-in of ``tape`` for a rule's output ``y`` that is a stand-in of an enclosing
    level: (its cell, the stand-in). The root is pinned, so a write into it first moves
    it to a copy and never changes ``y``, which the rule's reverse may hold."""
    if type(y) is TrackedScalar:
        s = new_scalar(y, tape, _scalar_cell(y))
        return s._cell, s
    pinned: int = True
    if _aliases(y, vals):  # its argument itself, or a view of it: its own storage, as record does
        y = np.copy(y, order="K")
        pinned = DETACHED
    w = new_root(y, tape, Cell(y.shape, y.dtype, layout=layout_of(y)), pinned=pinned)
    return w._cell, w


def input_of(v: Any, tape: Tape) -> Any:
    """The stand-in of ``tape`` for an enclosing level's stand-in ``v`` given to a
    differentiation as an argument: an active input of it, not a constant."""
    tape.nested = True
    if type(v) is TrackedScalar:
        return new_scalar(v, tape, _scalar_cell(v))
    return new_root(v, tape, Cell(v.shape, v.dtype, layout=layout_of(v)), pinned=True)


def _level_of(v: Any) -> Any:
    """The tape of the value ``v`` stands for, if that value is a stand-in."""
    inner: Any = v._a if type(v) is Tracked else v._v
    t = type(inner)
    return inner._tape if t is Tracked or t is TrackedScalar else None


def promote(args: tuple[Any, ...], vals: list[Any], mutates: tuple[int, ...], tape: Tape) -> None:
    """Before a call of ``tape`` writes into its arguments ``mutates``: a target whose
    buffer is a plain array (a constant at the enclosing levels) receiving a value of an
    enclosing level becomes a stand-in of that level (runtime activity, at the level of
    the written value), so the enclosing level records the write."""
    tapes: list[Any] = []
    for j, a in enumerate(args):
        if j in mutates:
            continue
        t = type(a)
        if (t is Tracked or t is TrackedScalar) and a._tape is tape:
            low = _level_of(a)
            if low is not None and not any(f is low for f in tapes):
                tapes.append(low)
        elif t is Tracked or t is TrackedScalar or t is list or t is tuple:
            _tapes(a, tapes)
    tapes = [t for t in tapes if t is not tape]
    if not tapes:
        return
    low = levels.deepest(tapes)
    for i in mutates:
        m = args[i]
        root = _root_of(m)
        cur = _level_of(root)
        if cur is not None and levels.depth_of(cur) >= levels.depth_of(low):
            continue
        buf = root._a
        root._a = new_root(buf, low, Cell(buf.shape, buf.dtype, layout=layout_of(buf)))  # type: ignore[assignment]
        for ref in root._views or ():
            view = ref()
            if view is not None:
                view._a = view._view(root._a)
        vals[i] = m._a


# -- the sweep --------------------------------------------------------------------------------

class _Sweep:
    """One nested sweep: the level that records it and the shadows it owns (made by it,
    held by nobody else, so a rule may write into them in place)."""

    __slots__ = ("level", "owned")

    def __init__(self, level: Tape) -> None:
        self.level = level
        self.owned: dict[int, Any] = {}

    def own(self, cell: Cell) -> Any:
        """``cell``'s shadow as a stand-in of the recording level owned by this sweep."""
        s = cell.shadow
        if s is not None and id(s) in self.owned and self.owned[id(s)] is s:
            return s
        if s is None:
            s = new_root(cell.zeros(0), self.level)
        elif type(s) is Tracked:
            copy: Any = np.copy(s, order="K")  # recorded at s's level
            s = copy if copy._tape is self.level else new_root(copy, self.level)
        else:
            s = new_root(np.array(s, dtype=cell.dtype, order="K"), self.level)
        self.owned[id(s)] = s
        cell.shadow = s
        return s

    def add(self, cell: Cell, view: Any, c: Any) -> None:
        """Add the cotangent ``c`` to ``cell``'s shadow (through ``view``), out of place
        where it can, in place only into a shadow this sweep owns."""
        if view is None:
            s = cell.shadow
            if s is None:
                cell.shadow = c if _fits(c, cell) else self.own(cell) + c
            else:
                cell.shadow = s + c
            return
        v = view(self.own(cell))
        v += c


def _fits(c: Any, cell: Cell) -> bool:
    """Whether ``c`` can be a shadow of ``cell`` as it is (its shape and dtype)."""
    if cell.shape is None:
        return True
    return tuple(np.shape(c)) == tuple(cell.shape) and c.dtype == cell.dtype if hasattr(c, "dtype") else False


def sweep(tape: Tape, consume: bool = False) -> None:
    """The sweep of the entry points: :func:`.sweep.sweep`, or :func:`sweep_nested` for a
    tape that values of an enclosing level entered (one boolean read at first order)."""
    if tape.nested:
        sweep_nested(tape, consume)
    else:
        _flat.sweep(tape, consume)


def sweep_nested(tape: Tape, consume: bool) -> None:
    """:meth:`Tape.sweep` for a tape that values of an enclosing level entered: every
    reverse runs with the enclosing level open, so it records them."""
    level = levels.innermost()
    if level is None:
        raise ActiveRulesError(
            "activerules: a vjp pullback taken inside a differentiation was called after that "
            "differentiation finished: the values it reads belong to it. Call the pullback "
            "inside the function being differentiated")
    if tape.width:
        raise ActiveRulesError("activerules: batch differentiation (BatchDuplicated) of values of "
                               "an enclosing differentiation is not supported: differentiate "
                               "lane by lane (ar.jacobian, or a loop of ar.vjp pullbacks)")
    run = _Sweep(level)
    _sweeping.depth = getattr(_sweeping, "depth", 0) + 1
    try:  # the one sweep, each entry reversed the way the enclosing level can record
        _flat.sweep(tape, consume, functools.partial(_reverse, run))
    finally:
        _sweeping.depth -= 1


def _reverse(run: _Sweep, entry: Entry) -> None:
    reverse, anns, binds, out, label = entry.reverse, entry.anns, entry.binds, entry.out, entry.label
    mutates, mode = entry.mutates, entry.mode
    dret, live = _out_cotangent(out, 0)
    if not live and not _mutated_shadows_live(binds, mutates):
        return
    if not live:
        dret = _zero_cotangent(out, 0) if out is not None else None
    if mode is LIFTED:
        cots = _run(label, reverse, dret)
        _deliver(run, label, binds, check_count(label, cots, anns))
    else:
        for i, kind, cell, view in binds:
            if kind == SEQ:
                anns[i]._dval = [run.own(c) if v is None else v(run.own(c)) for c, v in zip(cell, view)]
            elif kind == ARRAY:
                anns[i]._dval = run.own(cell) if view is None else view(run.own(cell))
        cots = _run(label, reverse, dret)
        if cots is not None:
            for i, kind, cell, _ in binds:
                if kind == SCALAR and cots[i] is not None:
                    run.add(cell, None, cots[i])
    release_out(out)


def _run(label: str, reverse: Any, dret: Any) -> Any:
    """``reverse(dret)``; a failure names the rule, and says why when its reverse left
    NumPy (it cannot be differentiated a second time)."""
    try:
        return reverse(dret)
    except UntrackedWriteError as e:
        raise RuleError(
            f"{label}: its reverse is not differentiable a second time (higher order): it took an "
            f"active value out of NumPy ({e}). A reverse that computes with NumPy functions and "
            "operators on the values it is given (no float(), .item(), np.asarray copies, math "
            "or other libraries) can be differentiated again, as the built-in rules are; "
            "first derivatives of this rule work") from e
    except RuleError:
        raise
    except Exception as e:
        raise RuleError(f"{label}: reverse raised {type(e).__name__} during a nested (higher-order) "
                        f"sweep: {e}. Its reverse may not be differentiable a second time; first "
                        "derivatives of this rule work") from e


def _deliver(run: _Sweep, label: str, binds: list[Any], cots: Any) -> None:
    """Deliver the cotangents an rrule's pullback returned (counted by ``check_count``),
    each checked against its argument as at first order."""
    for i, kind, cell, view in binds:
        c = cots[i]
        if type(c) is Thunk:  # forced now, while the recording level is open
            c = _run(label, _force, c)
        if c is None:
            continue
        if kind == SEQ:
            for cc, v, ci in zip(cell, view, c):
                if ci is not None:
                    run.add(cc, v, _checked(run, label, i, ci, cc, v))
        elif kind == ARRAY:
            run.add(cell, view, _checked(run, label, i, c, cell, view))
        else:
            run.add(cell, view, c)


def _checked(run: _Sweep, label: str, i: int, c: Any, cell: Cell, view: Any) -> Any:
    """``c`` if it fits its argument; else the error of dispatch's one checker. The check
    runs on a placeholder of ``c``'s shape and dtype: ``c`` may be an enclosing level's
    stand-in, which must not leave NumPy."""
    shape = cell.shape if view is None else np.shape(view(run.own(cell)))
    if tuple(np.shape(c)) != tuple(shape) or np.result_type(c) != cell.dtype:
        check_array(label, i, np.zeros(np.shape(c), np.result_type(c)), tuple(shape), cell.dtype)
    return c


def _force(c: Thunk) -> Any:
    return c.fn()


def seed(result: Any, ybar: Any, tape: Tape) -> None:
    """Seed the output ``result`` with a cotangent that is an enclosing level's stand-in
    (the gradient of a pullback with respect to its cotangent): out of place."""
    tape.nested = True
    cell = result._cell
    if type(result) is TrackedScalar:
        cell.shadow = ybar if cell.shadow is None else cell.shadow + ybar
        return
    level = levels.innermost()
    _Sweep(level if level is not None else ybar._tape).add(cell, result._view, ybar)


# -- the entry points (api.py) ------------------------------------------------------------------

def _enclosing(v: Any, tape: Tape, where: str) -> Any:
    """The stand-in of ``tape`` for ``v``, a value of an enclosing differentiation given
    as a differentiated argument (higher order: an active input, not a constant)."""
    if not levels.is_open(v._tape):
        raise ActiveRulesError(f"{where}: {levels.escaped().args[0]}")
    return input_of(v, tape)


def _own_outputs(result: Any, tape: Tape) -> Any:
    """``result`` with the stand-ins of other (enclosing) levels, constants of this
    differentiation, replaced by ``None``: nothing seeds them."""
    t = type(result)
    if t is Tracked or t is TrackedScalar:
        return result if result._tape is tape else None
    if is_node(result):
        return rebuild_node(result, [_own_outputs(e, tape) for _, e in items_of(result)])
    return result


def _refuse_enclosing_writes(run: Any) -> None:
    """Raise if ``autodiff`` would write a value of an enclosing differentiation into a
    caller's array (a plain array cannot hold it)."""
    for v in [t for t, _, _ in run.copy_back] + [v for v, _ in run.const_back]:
        if type(v) is not np.ndarray and type(getattr(v, "_a", None)) is Tracked:
            raise ActiveRulesError(
                "autodiff: a value of an enclosing differentiation (higher order) was written into "
                "an array given to autodiff (Duplicated or Const): the caller's plain array cannot "
                "hold its derivative. Use ar.gradient or ar.vjp (functional) for the inner "
                "differentiation, or write into an array allocated inside the function")


def _plain_shadows(where: str = "a Duplicated argument's shadow") -> ActiveRulesError:
    """The error for an ``autodiff`` shadow (a caller's plain array) that would receive a
    derivative depending on an enclosing differentiation."""
    return ActiveRulesError(
        f"autodiff: {where} would receive a derivative that depends on an enclosing "
        "differentiation (higher order), which a caller's array cannot hold. Use ar.gradient "
        "or ar.vjp for the inner differentiation (they return the derivative), or "
        "ar.autodiff with Active and Const arguments only")
