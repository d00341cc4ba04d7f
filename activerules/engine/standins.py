"""The stand-ins: what the user's function receives in place of active values.

A :class:`Tracked` stands for an active array during a differentiation, a
:class:`TrackedScalar` for an active number. NumPy reaches them through the protocol
hooks (:mod:`.protocol`) and the operators; every call with at least one tracked
argument is recorded by :func:`.recording.record` through the rule the registry
resolves for the activities the engine sees (untracked → Const, tracked scalar →
Active, tracked array → Duplicated). Views share their root's buffer and cell (:mod:`.views`).

Stand-ins behave as the values they stand for: they have NumPy's memory layout (each
shadow has its storage's layout, ``Cell.layout``), answer ``isinstance`` and the
shape/type predicates as their values (a ``__class__`` property), and every public
ndarray attribute either works or raises ``UnsupportedAttributeError`` naming it
(:mod:`.ndarray_api`).
"""

from __future__ import annotations

import builtins
import math
import operator
from typing import Any, Callable

import numpy as np

from ..activity import ActiveRulesError
from .tape import Cell, Tape, UntrackedWriteError, layout_of

__all__ = ["Tracked", "TrackedScalar", "new_root", "new_scalar", "raw", "ALLOC_HINT"]

_np: Any = np  # NumPy functions called on stand-ins (dispatch through __array_function__)
_new = object.__new__
_EMPTY: dict[str, Any] = {}

ALLOC_HINT = ("allocate arrays that receive active values from an active one: "
              "np.zeros_like(x), np.empty_like(x) or np.zeros(n, like=x)")


def _untracked_error(what: str) -> UntrackedWriteError:
    return UntrackedWriteError(
        f"activerules: {what}: derivatives cannot flow through a plain NumPy array. To write "
        f"active values into a buffer, {ALLOC_HINT}. To call code that has no rule, "
        "register one (ar.rrule / ar.rule) or wrap it with @ar.primitive.")


# -- bound by the engine modules above this one ---------------------------------------------
# The stand-ins' operators and methods record calls (recording), run NumPy functions
# (protocol, which also installs the NumPy protocol hooks), make views (views) and give
# the rest of the ndarray API (ndarray_api). Those modules import this one for the
# classes, so each binds its names here when it loads (``activerules.engine`` loads them
# all): late binding, no import cycle, module globals as fast as local functions.

def _unbound(*args: Any, **kwargs: Any) -> Any:
    raise ImportError("activerules.engine is not fully imported")


record: Callable[..., Any] = _unbound
call: Callable[..., Any] = _unbound
_put_flat: Callable[..., None] = _unbound
view_of: Callable[..., Any] = _unbound
_no_attribute: Callable[..., Exception] = _unbound
_flags_of: Callable[[Any], Any] = _unbound
_Flat: Callable[[Any], Any] = _unbound
_plain: Callable[..., Any] = _unbound  # capture.seen: a plain value the user's Python sees


class _Ops:
    """Operators shared by tracked arrays and scalars; each records one call."""

    __slots__ = ()
    _tape: Tape
    __array_priority__ = 1000.0

    def __add__(self, o: Any) -> Any: return record(np.add, (self, o))
    def __radd__(self, o: Any) -> Any: return record(np.add, (o, self))
    def __sub__(self, o: Any) -> Any: return record(np.subtract, (self, o))
    def __rsub__(self, o: Any) -> Any: return record(np.subtract, (o, self))
    def __mul__(self, o: Any) -> Any: return record(np.multiply, (self, o))
    def __rmul__(self, o: Any) -> Any: return record(np.multiply, (o, self))
    def __truediv__(self, o: Any) -> Any: return record(np.divide, (self, o))
    def __rtruediv__(self, o: Any) -> Any: return record(np.divide, (o, self))
    def __pow__(self, o: Any) -> Any: return record(np.power, (self, o))
    def __rpow__(self, o: Any) -> Any: return record(np.power, (o, self))
    def __matmul__(self, o: Any) -> Any: return record(np.matmul, (self, o))
    def __rmatmul__(self, o: Any) -> Any: return record(np.matmul, (o, self))
    def __mod__(self, o: Any) -> Any: return record(np.remainder, (self, o))
    def __rmod__(self, o: Any) -> Any: return record(np.remainder, (o, self))
    def __floordiv__(self, o: Any) -> Any: return record(np.floor_divide, (self, o))
    def __rfloordiv__(self, o: Any) -> Any: return record(np.floor_divide, (o, self))
    def __neg__(self) -> Any: return record(np.negative, (self,))
    def __pos__(self) -> Any: return record(np.positive, (self,))
    def __abs__(self) -> Any: return record(np.absolute, (self,))

    # comparisons have no derivative: plain booleans
    def __lt__(self, o: Any) -> Any: return _plain(operator.lt, self, o)
    def __le__(self, o: Any) -> Any: return _plain(operator.le, self, o)
    def __gt__(self, o: Any) -> Any: return _plain(operator.gt, self, o)
    def __ge__(self, o: Any) -> Any: return _plain(operator.ge, self, o)
    def __eq__(self, o: Any) -> Any: return _plain(operator.eq, self, o)  # type: ignore[override]
    def __ne__(self, o: Any) -> Any: return _plain(operator.ne, self, o)  # type: ignore[override]
    __hash__ = None  # type: ignore[assignment]

    def __bool__(self) -> bool:
        return _plain(bool, self)  # type: ignore[no-any-return]

    def __float__(self) -> float:
        raise _untracked_error(
            "float() of an active value (or its assignment into an untracked array) would drop "
            "its derivative: keep computing with the value itself, which NumPy functions and "
            "operators accept; for display use f'{x:.3f}' or str(x), for a deliberate "
            "constant round(x, k), math.floor(x) or int(x)")

    # Conversions to text and to piecewise-constant numbers give plain values, as on the
    # number itself: their derivative is zero wherever they have one.
    def __format__(self, spec: str) -> str: return _plain(format, self, spec)  # type: ignore[no-any-return]
    def __str__(self) -> str: return _plain(str, self)  # type: ignore[no-any-return]
    def __round__(self, ndigits: Any = None) -> Any: return _plain(round, self, ndigits)
    def __floor__(self) -> Any: return _plain(math.floor, self)
    def __ceil__(self) -> Any: return _plain(math.ceil, self)
    def __trunc__(self) -> Any: return _plain(math.trunc, self)
    def __int__(self) -> int: return _plain(int, self)  # type: ignore[no-any-return]
    def __divmod__(self, o: Any) -> Any: return record(np.divmod, (self, o))
    def __rdivmod__(self, o: Any) -> Any: return record(np.divmod, (o, self))

    def __reduce_ex__(self, protocol: Any) -> Any:
        raise ActiveRulesError(
            f"activerules: pickling the active value {type(self).__name__} would drop its "
            "derivative: pickle the function's result outside the differentiation, or the "
            "inputs given to ar.gradient / ar.vjp")

    def __complex__(self) -> complex:
        raise _untracked_error("an active value was converted to a Python complex")

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        raise _untracked_error(
            "an active value was converted to a plain ndarray (written into an untracked "
            "array, or in a list given to a NumPy function that converts it itself, as "
            "np.sum([a, b]): build that array first with np.array([a, b]) or np.stack)")

    # __array_ufunc__ and __array_function__: the NumPy protocol hooks (protocol.py)

    # -- array methods: the NumPy function of the same meaning (see _METHODS) ----------
    @property
    def real(self) -> Any:
        return record(np.real, (self,))

    @property
    def imag(self) -> Any:
        return record(np.imag, (self,))

    def item(self, *args: Any) -> Any:
        raise _untracked_error("x.item() converts an active value to a Python number")

    def tolist(self) -> Any:
        raise _untracked_error("x.tolist() converts active values to Python numbers")


class TrackedScalar(_Ops):
    """An active number (the result of a reduction or of indexing one element).

    >>> import numpy as np, activerules as ar
    >>> def f(x):
    ...     s = x.sum()
    ...     print(type(s).__name__)
    ...     return s * s
    >>> ar.gradient(f, np.array([1.0, 2.0]))
    TrackedScalar
    array([6., 6.])
    """

    __slots__ = ("_v", "_cell", "_tape")

    _v: Any
    _cell: Cell
    _tape: Tape

    def __repr__(self) -> str:
        return f"TrackedScalar({_plain(repr, self)})"

    @property
    def dtype(self) -> np.dtype[Any]:
        return np.result_type(self._v)

    shape: tuple[int, ...] = ()
    ndim = 0
    size = 1

    @property  # type: ignore[misc]
    def __class__(self) -> type:  # noqa: D105
        # isinstance() answers as for the number itself (float, np.floating, numbers.Real,
        # np.isscalar...); type() still says TrackedScalar
        return type(self._v)

    def __copy__(self) -> TrackedScalar:
        return self  # a number is immutable

    def __deepcopy__(self, memo: Any) -> TrackedScalar:
        return self

    @property
    def T(self) -> TrackedScalar:
        return self

    def transpose(self, *axes: Any) -> TrackedScalar:
        return self

    def reshape(self, *shape: Any, order: str = "C") -> Any:
        return _np.asarray(self).reshape(*shape, order=order)

    def flatten(self, order: str = "C") -> Any:
        return _np.asarray(self).flatten(order)

    def is_integer(self) -> bool:
        return _plain(lambda v: bool(v.is_integer()), self)  # type: ignore[no-any-return]


class Tracked(_Ops):
    """An active array: the stand-in the user's function receives and gets back.

    Behaves like an ndarray for operators, in-place operators, indexing and
    assignment, views, NumPy functions and the read-only attributes; its
    values cannot be taken out as a plain ndarray (that would lose the
    derivative), which is also what makes untracked writes impossible.

    >>> import numpy as np, activerules as ar
    >>> def f(x):
    ...     print(type(x).__name__, x.shape)
    ...     return (x ** 2).sum()
    >>> ar.gradient(f, np.array([1.0, 2.0]))
    Tracked (2,)
    array([2., 4.])
    """

    __slots__ = ("_a", "_cell", "_tape", "_root", "_view", "_views", "_pinned", "__weakref__")

    _a: np.ndarray
    _cell: Cell
    _tape: Tape
    _root: Tracked | None
    _view: Callable[[np.ndarray], np.ndarray] | None
    _views: list[Any] | None
    _pinned: int  # False, True (some reverse reads the buffer) or DETACHED

    def __repr__(self) -> str:
        return f"Tracked({_plain(repr, self)})"

    # -- read-only attributes -----------------------------------------------------------
    @property
    def shape(self) -> tuple[int, ...]:
        return self._a.shape

    @shape.setter
    def shape(self, v: Any) -> None:
        raise _no_attribute(self, "shape", "assigning x.shape; write x = x.reshape(shape)")

    @property
    def ndim(self) -> int:
        return self._a.ndim

    @property
    def dtype(self) -> np.dtype[Any]:
        return self._a.dtype

    @dtype.setter
    def dtype(self, v: Any) -> None:
        raise _no_attribute(self, "dtype", "assigning x.dtype; write x = x.astype(dtype)")

    @property
    def size(self) -> int:
        return self._a.size

    @property
    def itemsize(self) -> int:
        return self._a.itemsize

    @property
    def nbytes(self) -> int:
        return self._a.nbytes

    @property
    def strides(self) -> tuple[int, ...]:
        return self._a.strides

    @strides.setter
    def strides(self, v: Any) -> None:
        raise _no_attribute(self, "strides", "assigning x.strides; index or reshape instead")

    @property
    def flags(self) -> Any:
        return _flags_of(self)

    @property  # type: ignore[misc]
    def __class__(self) -> type:  # noqa: D105
        # isinstance(x, np.ndarray) answers as for the array itself; type() says Tracked
        return np.ndarray

    @property
    def base(self) -> Tracked | None:
        """As NumPy: the array owning the memory of a view, None for an owner."""
        return self._root

    @property
    def flat(self) -> Any:
        return _Flat(self)

    @property
    def mT(self) -> Any:
        if self._a.ndim < 2:
            raise ValueError("matrix transpose with ndim < 2 is undefined")
        return _np.swapaxes(self, -1, -2)

    device = "cpu"

    def to_device(self, device: Any, /, *, stream: Any = None) -> Tracked:
        if device != "cpu":
            raise ValueError(f"Unsupported device {device!r}")
        return self

    def __len__(self) -> int:
        return len(self._a)

    def __contains__(self, v: Any) -> bool:
        return _plain(operator.contains, self, v)  # type: ignore[no-any-return]

    def __copy__(self) -> Any:
        return call(np.copy, (self,), {})  # ndarray.__copy__: a copy in order 'K'

    def __deepcopy__(self, memo: Any) -> Any:
        return call(np.copy, (self,), {})

    def copy(self, order: str = "C") -> Any:
        """``np.copy(x, order=order)`` (the method's default order is 'C', np.copy's 'K')."""
        return call(np.copy, (self,), {"order": order})

    def view(self, dtype: Any = None, type: Any = None) -> Any:
        """A view with the same dtype (reinterpreting the bytes has no derivative)."""
        if isinstance(dtype, builtins.type) and issubclass(dtype, np.ndarray):
            dtype, type = None, dtype
        if (dtype is None or np.dtype(dtype) == self._a.dtype) and type in (None, np.ndarray):
            return view_of(self, self._a.view(), _SAME_VIEW)
        raise _no_attribute(self, "view", "x.view(dtype) reinterprets the bytes, which has no "
                            "derivative; for a value conversion use x.astype(dtype)")

    def put(self, ind: Any, v: Any, mode: str = "raise") -> None:
        """``x.flat[ind] = v`` (``v`` repeated as NumPy does), one recorded setitem."""
        n = self._a.size
        ind = _raw_index(ind)
        if mode == "wrap":
            lin = np.asarray(ind) % n
        elif mode == "clip":
            lin = np.clip(ind, 0, n - 1)
        else:
            lin = np.arange(n)[ind]
        _put_flat(self, lin, v)

    def compress(self, condition: Any, axis: Any = None, out: Any = None) -> Any:
        """``np.compress(condition, x, axis)`` (the method takes the array first)."""
        return call(np.compress, (condition, self), {"axis": axis, "out": out})

    def partition(self, kth: Any, axis: int = -1, kind: str = "introselect", order: Any = None) -> None:
        """In place: ``np.copyto(x, np.partition(x, ...))``."""
        record(np.copyto, (self, _np.partition(self, kth, axis, kind, order)), mutates=(0,))

    def __iter__(self) -> Any:
        if self._a.ndim == 0:
            raise TypeError("iteration over a 0-d array")  # as NumPy (np.iterable says False)
        return (self[i] for i in range(len(self._a)))

    # -- views ----------------------------------------------------------------------------
    @property
    def T(self) -> Any:
        return view_of(self, self._a.T, _TRANSPOSE)

    def transpose(self, *axes: Any) -> Any:
        return np.transpose(self, axes if axes and not isinstance(axes[0], tuple) else
                            (axes[0] if axes else None))

    def reshape(self, *shape: Any, order: str = "C") -> Any:
        return _np.reshape(self, shape[0] if len(shape) == 1 else shape, order=order)

    def flatten(self, order: str = "C") -> Any:
        return record(np.copy, (_np.ravel(self, order=order),))

    def sort(self, axis: int = -1, kind: Any = None, order: Any = None) -> None:
        """In place: ``np.copyto(x, np.sort(x, ...))``."""
        record(np.copyto, (self, np.sort(self, axis, kind, order)), mutates=(0,))

    # -- indexing -------------------------------------------------------------------------
    def __getitem__(self, idx: Any) -> Any:
        if type(idx) is not int and type(idx) is not slice and not _is_basic(idx := _raw_index(idx)):
            return record(operator.getitem, (self, idx))
        v: Any = self._a[idx]  # a basic index (an int or a slice: nothing to unwrap, no call)
        if type(v) is np.ndarray or (type(v) is Tracked and v._root is not None):
            return view_of(self, v, operator.itemgetter(idx))
        return record(operator.getitem, (self, idx))

    def __setitem__(self, idx: Any, value: Any) -> None:
        record(operator.setitem, (self, _raw_index(idx), value), mutates=(0,))

    # -- in-place operators: the functional op, then a recorded np.copyto ------------------
    def __iadd__(self, o: Any) -> Any: return _inplace(np.add, self, o)
    def __isub__(self, o: Any) -> Any: return _inplace(np.subtract, self, o)
    def __imul__(self, o: Any) -> Any: return _inplace(np.multiply, self, o)
    def __itruediv__(self, o: Any) -> Any: return _inplace(np.divide, self, o)
    def __ipow__(self, o: Any) -> Any: return _inplace(np.power, self, o)
    def __imatmul__(self, o: Any) -> Any: return _inplace(np.matmul, self, o)
    def __imod__(self, o: Any) -> Any: return _inplace(np.remainder, self, o)
    def __ifloordiv__(self, o: Any) -> Any: return _inplace(np.floor_divide, self, o)


_TRANSPOSE, _SAME_VIEW = operator.attrgetter("T"), operator.methodcaller("view")  # view functions


def _inplace(fn: Any, x: Tracked, o: Any) -> Tracked:
    y = record(fn, (x, o))
    record(np.copyto, (x, y), mutates=(0,))
    return x


def raw(v: Any) -> Any:
    """The primal value behind a tracked stand-in (``v`` itself otherwise)."""
    t = type(v)
    if t is Tracked:
        return v._a
    if t is TrackedScalar:
        return v._v
    # an inert stand-in (.inert.Inert, .inert.InertScalar) too
    return v if not isinstance(v, _Ops) else v._a if isinstance(v, Tracked) else v._v  # type: ignore[attr-defined]


def _raw_index(idx: Any) -> Any:
    """An index with its stand-ins replaced by their values (a replay checks them)."""
    t = type(idx)
    if t is tuple:
        return tuple(_raw_index(i) for i in idx) if any(isinstance(i, _Ops) for i in idx) else idx
    if t is int or t is slice or not isinstance(idx, _Ops):
        return idx
    if idx._tape.capture is not None:
        idx._tape.capture.guard_value(idx)
    return raw(idx)


_BASIC = (int, slice, type(None), type(Ellipsis), np.integer)


def _is_basic(idx: Any) -> bool:
    if type(idx) is tuple:
        return all(isinstance(i, _BASIC) and not isinstance(i, bool) for i in idx)
    return isinstance(idx, _BASIC) and not isinstance(idx, bool)


#: ``_pinned`` of a root that holds a copy of what NumPy returns as a view of an
#: argument (a rule's output): writing into it raises, as the write would not reach
#: the argument. Truthy, so it is copied when returned, like a pinned root.
DETACHED = 2


def new_root(a: np.ndarray, tape: Tape, cell: Cell | None = None, pinned: int = False) -> Tracked:
    """A tracked root over buffer ``a`` (with a fresh zero-shadow cell by default)."""
    t = _new(Tracked)
    t._a = a
    t._cell = Cell(a.shape, a.dtype, layout=layout_of(a)) if cell is None else cell
    t._tape = tape
    t._root = None  # a root is its own root (no reference cycle)
    t._view = None
    t._views = None
    t._pinned = pinned
    return t


def new_scalar(v: Any, tape: Tape, cell: Cell | None = None) -> TrackedScalar:
    """A tracked scalar with value ``v``."""
    s = _new(TrackedScalar)
    s._v = v
    if cell is None:
        cell = _new(Cell)
        cell.shadow = None
        cell.shape = None
        d = _SCALAR_DTYPES.get(type(v))  # _scalar_dtype's cache, read here: no call for a float
        cell.dtype = d if d is not None else _scalar_dtype(v)
        cell.layout = None
    s._cell = cell
    s._tape = tape
    return s


def _scalar_dtype(v: Any) -> np.dtype[Any]:
    """``np.result_type(v)``, cached per type for floats and complexes (their type decides)."""
    t = type(v)
    d = _SCALAR_DTYPES.get(t)
    if d is None:
        d = np.result_type(v)
        if issubclass(t, (float, complex, np.inexact)):
            _SCALAR_DTYPES[t] = d
    return d


_SCALAR_DTYPES: dict[type, np.dtype[Any]] = {}
_TRACKED = (Tracked, TrackedScalar)
