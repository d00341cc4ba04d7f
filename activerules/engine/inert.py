"""Runtime activity: stand-ins for the arrays that are not differentiated (yet).

Every array argument reaches the function as a stand-in; an undifferentiated one is an
:class:`Inert`, as are the arrays computed from inert ones only. A call with no active
argument runs as plain NumPy on the raw values (:func:`inert_call`: nothing recorded,
nothing copied), so an inert array costs a dispatch and nothing else. Writes into one go
through copy-on-write like any stand-in's (:func:`.views.prepare_write`), so the
caller's array is never written and never handed to the function read-only. When an
active value is written into it, its storage is *promoted* (:func:`promote`): Enzyme's
lattice step, Const -> Duplicated, taken at run time.
"""

from __future__ import annotations

import operator
from typing import Any

import numpy as np

from . import standins
from .outputs import rebuild
from .standins import DETACHED, Tracked, TrackedScalar, _new, raw
from .tape import Cell, Tape, layout_of
from .views import _note_detached, prepare_write, stats

__all__ = ["Inert", "InertScalar", "new_inert", "new_inert_scalar", "promote"]


class Inert(Tracked):
    """An array stand-in with no derivative (yet): a caller's undifferentiated array, or
    one computed from such arrays only. It has no cell until an active value is written
    into it (:func:`promote`), which makes it (and its live views) a :class:`Tracked`.

    >>> import numpy as np, activerules as ar
    >>> def f(s, c):
    ...     print(type(c).__name__, end=" ")
    ...     c *= s                            # an active value into the constant
    ...     print(type(c).__name__, end=" ")
    ...     return c.sum()
    >>> c = np.array([1.0, 2.0])
    >>> ar.gradient(f, 3.0, c)
    Inert Tracked np.float64(3.0)
    >>> c                                     # gradient is functional
    array([1., 2.])
    """

    __slots__ = ()

    def __repr__(self) -> str:
        return f"Inert({standins._plain(repr, self)})"

    # An inert value carries no derivative: converting it loses nothing. The user's Python
    # sees the value, so a replay checks it (capture.py).
    def __float__(self) -> float:
        return standins._plain(float, self)  # type: ignore[no-any-return]

    def __complex__(self) -> complex:
        return standins._plain(complex, self)  # type: ignore[no-any-return]

    def __int__(self) -> int:
        return standins._plain(int, self)  # type: ignore[no-any-return]

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        if self._tape.capture is not None:
            self._tape.capture.guard_value(self)
        a = self._a
        return a if dtype is None or a.dtype == dtype else a.astype(dtype)

    def item(self, *args: Any) -> Any:
        return standins._plain(np.ndarray.item, self, *args)

    def tolist(self) -> Any:
        return standins._plain(np.ndarray.tolist, self)

    def __reduce_ex__(self, protocol: Any) -> Any:
        if self._tape.capture is not None:
            self._tape.capture.guard_value(self)
        return self._a.__reduce_ex__(protocol)

    # masks and integers (inert only: they have no derivative)
    def __and__(self, o: Any) -> Any: return standins.record(np.bitwise_and, (self, o))
    def __rand__(self, o: Any) -> Any: return standins.record(np.bitwise_and, (o, self))
    def __or__(self, o: Any) -> Any: return standins.record(np.bitwise_or, (self, o))
    def __ror__(self, o: Any) -> Any: return standins.record(np.bitwise_or, (o, self))
    def __xor__(self, o: Any) -> Any: return standins.record(np.bitwise_xor, (self, o))
    def __rxor__(self, o: Any) -> Any: return standins.record(np.bitwise_xor, (o, self))
    def __invert__(self) -> Any: return standins.record(np.invert, (self,))


class InertScalar(TrackedScalar):
    """A float computed from undifferentiated values only (``c.sum()``, ``c[0]``), while
    a replayed function records (:mod:`.replay`): a stand-in, so that the values it flows
    into are steps of the recording, and what the function's Python sees of it
    (``float``, ``bool``, comparisons, an index) a check of each replay. Outside a
    recording such numbers are plain NumPy scalars.

    >>> import numpy as np
    >>> from activerules.engine.tape import Tape
    >>> s = new_inert_scalar(np.float64(2.0), Tape())
    >>> isinstance(s, float), float(s), s
    (True, 2.0, InertScalar(np.float64(2.0)))
    """

    __slots__ = ()

    def __repr__(self) -> str:
        return f"InertScalar({standins._plain(repr, self)})"

    def __float__(self) -> float:
        return standins._plain(float, self)  # type: ignore[no-any-return]

    def __complex__(self) -> complex:
        return standins._plain(complex, self)  # type: ignore[no-any-return]

    def __index__(self) -> int:
        return standins._plain(operator.index, self)  # type: ignore[no-any-return]

    def __hash__(self) -> int:  # type: ignore[override]
        return standins._plain(hash, self)  # type: ignore[no-any-return]

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        return standins._plain(_as_array, self, dtype)  # type: ignore[no-any-return]

    def item(self, *args: Any) -> Any:
        return standins._plain(_item, self)

    def tolist(self) -> Any:
        return standins._plain(_item, self)

    def __reduce_ex__(self, protocol: Any) -> Any:
        return standins._plain(_item, self).__reduce_ex__(protocol)


def _as_array(v: Any, dtype: Any) -> np.ndarray:
    return np.asarray(v, dtype=dtype)


def _item(v: Any) -> Any:
    return np.asarray(v).item()


def new_inert_scalar(v: Any, tape: Tape) -> InertScalar:
    """An :class:`InertScalar` of value ``v`` (no cell: it has no derivative)."""
    s = _new(InertScalar)
    s._v = v
    s._cell = None  # type: ignore[assignment]
    s._tape = tape
    return s


_SET_CLASS = object.__dict__["__class__"].__set__  # Tracked's __class__ is a property


def new_inert(a: np.ndarray, tape: Tape, pinned: int = False) -> Inert:
    """An inert root over buffer ``a`` (no cell: no shadow until it is promoted).

    >>> from activerules.engine.tape import Tape
    >>> new_inert(np.ones(2), Tape())
    Inert(array([1., 1.]))
    """
    t = _new(Inert)
    t._a = a
    t._cell = None  # type: ignore[assignment]
    t._tape = tape
    t._root = None
    t._view = None
    t._views = None
    t._pinned = pinned
    return t


def promote(t: Inert) -> None:
    """An active value is about to be written into ``t``: its storage (the root and
    every live view of it) becomes tracked, with a zero shadow, the cotangent of the
    constant values it holds.

    >>> from activerules.engine.tape import Tape
    >>> c = new_inert(np.ones(2), Tape())
    >>> promote(c)
    >>> type(c).__name__, c._cell.shape
    ('Tracked', (2,))
    """
    root = t._root if t._root is not None else t
    promote_to(root, Cell(root._a.shape, root._a.dtype, layout=layout_of(root._a)))
    stats["promotions"] += 1


def promote_to(root: Tracked, cell: Cell) -> None:
    """Make ``root`` and its live views tracked stand-ins with shadow ``cell``."""
    members = [root] + [v for v in (r() for r in root._views or ()) if v is not None]
    for m in members:
        _SET_CLASS(m, Tracked)
        m._cell = cell


def inert_call(fn: Any, args: tuple[Any, ...], kwargs: dict[str, Any], mutates: tuple[int, ...],
               tape: Tape) -> Any:
    """``fn`` called with inert stand-ins and no active value: plain NumPy on the raw
    values (the targets of ``mutates`` moved first if a reverse reads them); a new float
    array result is inert, so an active value written into it later promotes it."""
    for i in mutates:
        if type(args[i]) is Inert:
            prepare_write(args[i], args)
    vals = [raw(a) if type(a) is not list and type(a) is not tuple else type(a)(raw(e) for e in a)
            for a in args]
    plain = _plain_arrays(args) if tape.capture is not None else ()
    if tape.capture is None:
        y = fn(*vals, **kwargs)
    else:
        with tape.capture.watching():
            y = fn(*vals, **kwargs)
    if type(y) is np.ndarray:
        w = _result(y, args, vals, tape)
    elif isinstance(y, (tuple, list)) and any(type(e) is np.ndarray for e in y):
        w = rebuild(y, [_result(e, args, vals, tape) if type(e) is np.ndarray else e for e in y])
    elif tape.capture is not None and isinstance(y, np.inexact):
        w = new_inert_scalar(y, tape)  # recording for replay: the values it flows into are steps
    else:
        w = y
    if tape.capture is not None:
        if any(not isinstance(args[i], Tracked) for i in mutates) or any(
                not np.array_equal(a, before, equal_nan=a.dtype.kind in "fc") for a, before in plain):
            tape.capture.fail(f"{getattr(fn, '__name__', fn)} wrote values of the arguments into a plain array")
        tape.capture.call(fn, args, vals, kwargs, y, w)
    return w


def holds_inert(seq: Any) -> bool:
    """Whether the list or tuple ``seq`` holds an inert stand-in (not nested).

    >>> holds_inert([1.0, np.ones(2)])
    False
    """
    for e in seq:
        if isinstance(e, (Inert, InertScalar)):
            return True
    return False


def _plain_arrays(args: tuple[Any, ...]) -> list[tuple[np.ndarray, np.ndarray]]:
    """The plain writable arrays among ``args`` (and in their lists and tuples), each with a
    copy: a call that writes values of stand-ins into one (``np.put(buf, i, c)``) is not
    replayed (the plain array is a constant of the recording)."""
    found = [a for a in args if type(a) is np.ndarray] + [
        e for a in args if type(a) is list or type(a) is tuple for e in a if type(e) is np.ndarray]
    return [(a, a.copy()) for a in found if a.flags.writeable]


def _result(y: np.ndarray, args: tuple[Any, ...], vals: list[Any], tape: Tape) -> Any:
    """An array an inert call returned: the argument itself if NumPy returned it (``np.real``
    of a real array); a copy, held as the active path holds one (``DETACHED``: writing into
    it, or into the argument while it is alive, raises by name), if it is a view of an inert
    argument the engine cannot derive from its storage; else, if new and float, inert."""
    inert = [(a, v) for a, v in zip(args, vals) if type(a) is Inert]
    for a, v in inert:
        if y is v:
            return a
    if any(np.may_share_memory(y, v) for _, v in inert):
        w = new_inert(y.copy(order="K"), tape, pinned=DETACHED)
        _note_detached(w, args, tape)
        return w
    if y.base is not None and any(isinstance(v, np.ndarray) and np.may_share_memory(y, v) for v in vals):
        return y  # a view of a plain argument (NumPy's aliasing kept)
    if y.dtype.kind not in "fc" and tape.capture is None:
        return y  # no derivative (recording for replay: inert, so that a mask is a step)
    return new_inert(y, tape)  # new (its base, if any, a temporary of NumPy's: a reshape's copy)


def inert_out(fn: Any, inputs: tuple[Any, ...], kwargs: dict[str, Any], out: tuple[Any, ...]) -> Any:
    """A ufunc with ``out=`` and no active value (inert stand-ins among its operands):
    NumPy's own call on the raw values, in place, after copy-on-write of the targets."""
    for o in out:
        if type(o) is Inert:
            prepare_write(o, inputs)
    kw = {k: raw(v) for k, v in kwargs.items()}
    vals = [raw(a) for a in inputs]
    kw["out"] = tuple(raw(o) for o in out)
    fn(*vals, **kw)
    standin = next(a for a in (*out, *inputs, *kwargs.values()) if isinstance(a, (Tracked, TrackedScalar)))
    cap = standin._tape.capture
    if cap is not None:
        if not all(isinstance(o, Tracked) for o in out):
            cap.fail(f"{getattr(fn, '__name__', fn)} wrote values of the arguments into a plain array")
        cap.call(fn, inputs, vals, {**kwargs, "out": out}, None, None, {**kw, "out": kw["out"]})
    return out[0] if len(out) == 1 else out


def untracked_call(fn: Any, args: tuple[Any, ...], kwargs: dict[str, Any], mutates: tuple[int, ...]) -> Any:
    """``fn`` called with no active value: NumPy's own call, through :func:`inert_call` if
    an argument (or an element of a list or tuple argument) is an inert stand-in."""
    for a in args:
        t = type(a)
        if t is Inert or t is InertScalar:
            return inert_call(fn, args, kwargs, mutates, a._tape)
        if t is list or t is tuple:
            for e in a:
                if type(e) is Inert or type(e) is InertScalar:
                    return inert_call(fn, args, kwargs, mutates, e._tape)
    return fn(*args, **kwargs)
