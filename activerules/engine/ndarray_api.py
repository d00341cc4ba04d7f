"""The rest of NumPy's ndarray API on the stand-ins.

``x.flags`` and ``x.flat`` of a stand-in, and every public attribute of NumPy's arrays
and numbers the stand-ins do not implement: a plain value where the attribute carries no
derivative, else :class:`UnsupportedAttributeError` naming it and what to use instead
(rather than a bare AttributeError).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..activity import ActiveRulesError
from . import standins
from .standins import DETACHED, Tracked, TrackedScalar, _np, _raw_index, _untracked_error

__all__ = ["UnsupportedAttributeError"]


class UnsupportedAttributeError(ActiveRulesError, AttributeError):
    """An ndarray attribute a stand-in cannot give during a differentiation (the raw
    buffer, a reinterpretation of its bytes...). An AttributeError too, so that code
    probing with ``hasattr`` takes its other path.

    >>> import numpy as np, activerules as ar
    >>> ar.gradient(lambda x: hasattr(x, "ctypes") or x.sum(), np.ones(2))
    array([1., 1.])
    """


#: why a stand-in has no such attribute, and what to use instead
_NO_ATTRIBUTE = {
    **dict.fromkeys(("ctypes", "data", "tobytes", "tofile", "dump", "dumps"),
                    "it hands out the raw values, which would drop the derivative; compute with "
                    "NumPy functions and operators on x"),
    # NumPy probes it on conversions (an AttributeError: absent); as_strided reads it
    "__array_interface__": "it hands out the raw memory (np.lib.stride_tricks.as_strided reads "
                           "it), which would drop the derivative; gather the elements by indexing instead",
    **dict.fromkeys(("byteswap", "getfield", "setfield"),
                    "it reinterprets the bytes, which has no derivative; for a value conversion "
                    "use x.astype(dtype)"),
    "resize": "x.resize(shape) resizes in place; use y = np.resize(x, shape) (a new array) or x.reshape",
    "setflags": "the engine manages write access of active arrays; use x.copy() for an independent array",
    "as_integer_ratio": "it converts to exact Python integers, which would drop the derivative",
    "hex": "it converts to a string, which would drop the derivative; for display use f'{x}'",
}
#: attributes of a number's value a tracked number gives as they are (plain values)
_SCALAR_INERT = frozenset(("flags", "itemsize", "nbytes", "strides", "base", "device"))


def _no_attribute(x: Any, name: str, why: str) -> UnsupportedAttributeError:
    kind = "array" if type(x) is Tracked else "number"
    return UnsupportedAttributeError(
        f"activerules: x.{name} of an active {kind} is not available during a differentiation: "
        f"{why}. Or register a rule for the code that needs it (ar.rrule / @ar.primitive)")


def _unsupported(name: str) -> property:
    """The attribute ``name`` of NumPy's arrays or numbers that a stand-in cannot give:
    a property raising UnsupportedAttributeError with the reason and the alternative."""
    why = _NO_ATTRIBUTE.get(name, f"use the NumPy function of the same name on x "
                                  f"(np.{name}(x, ...)) if it has one")

    def get(self: Any) -> Any:
        raise _no_attribute(self, name, why)
    return property(get, doc=f"Not available on a stand-in: {why}.")


def _plain_attribute(name: str) -> property:
    """The attribute ``name`` of a tracked number's value, as it is (a plain value)."""
    return property(lambda self: getattr(self._v, name), doc=f"``{name}`` of the number's value.")


def _complete_ndarray_api() -> None:
    """Give the stand-in classes every public attribute of NumPy's arrays and numbers
    they lack: plain values for a number's inert attributes, else a named error (not a
    bare AttributeError). Explicit attributes rather than ``__getattr__``, which would
    slow down the attribute probes NumPy makes on every conversion."""
    for cls, protos in ((Tracked, (np.ndarray,)), (TrackedScalar, (np.float64, np.complex128))):
        names = {n for p in protos for n in dir(p) if not n.startswith("_")} | {"__array_interface__"}
        for name in sorted(names):
            if not hasattr(cls, name):
                inert = cls is TrackedScalar and name in _SCALAR_INERT
                setattr(cls, name, _plain_attribute(name) if inert else _unsupported(name))


class _Flags:
    """``x.flags`` of a stand-in: the buffer's flags, with ``writeable`` saying whether
    writing into the stand-in works (a caller's array is locked read-only, and the first
    write moves it to a copy); read-only, as flags are managed by the engine."""

    __slots__ = ("_f", "_w")

    def __init__(self, f: Any, w: bool) -> None:
        object.__setattr__(self, "_f", f)
        object.__setattr__(self, "_w", w)

    def __getattr__(self, name: str) -> Any:
        return self._w if name == "writeable" else getattr(self._f, name)

    def __getitem__(self, key: str) -> Any:
        return self._w if key in ("W", "WRITEABLE") else self._f[key]

    def __setattr__(self, name: str, v: Any) -> None:
        raise UnsupportedAttributeError(
            f"activerules: x.flags.{name} = ... on an active array: the engine manages write "
            "access during a differentiation; use x.copy() for an independent array")

    __setitem__ = __setattr__

    def __repr__(self) -> str:
        return repr(self._f).replace(f"WRITEABLE : {self._f.writeable}", f"WRITEABLE : {self._w}")


def _flags_of(t: Tracked) -> _Flags:
    """``t.flags``."""
    return _Flags(t._a.flags, _writeable(t))


def _writeable(t: Tracked) -> bool:
    """Whether writing into ``t`` works, as ``flags.writeable`` says for an ndarray."""
    root = t._root if t._root is not None else t
    if root._pinned == DETACHED:
        return False  # writing into it raises (see prepare_write)
    if t._a.flags.writeable:
        return True
    # a pinned root (a caller's array, locked) is moved to a copy by the first write
    return root._pinned is True and not root._a.flags.writeable


class _Flat:
    """``x.flat`` of a stand-in: reads and iterates the elements in C order and writes
    through ``x.flat[i] = v`` (a recorded setitem, values repeated as NumPy does)."""

    __slots__ = ("base",)

    def __init__(self, base: Tracked) -> None:
        self.base = base

    def __len__(self) -> int:
        return self.base._a.size

    def __iter__(self) -> Any:
        flat = _np.ravel(self.base)
        for i in range(flat.size):
            yield flat[i]

    def __getitem__(self, idx: Any) -> Any:
        y = _np.ravel(self.base)[_raw_index(idx)]
        # NumPy's flat indexing copies (a slice of x.flat is no view of x)
        return _np.copy(y) if type(y) is Tracked and y._root is not None else y

    def __setitem__(self, idx: Any, v: Any) -> None:
        _put_flat(self.base, np.arange(self.base._a.size)[_raw_index(idx)], v)

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        raise _untracked_error("x.flat of an active array was converted to a plain ndarray")


def _put_flat(x: Tracked, lin: Any, v: Any) -> None:
    """``x.flat[lin] = v`` as one recorded setitem; ``v`` is repeated cyclically to
    the number of indices when shorter, as ``ndarray.put`` and ``x.flat`` do."""
    lin = np.ravel(lin)
    if lin.size == 0:
        return
    if type(v) is not TrackedScalar:
        v = _np.asarray(v)  # a list holding tracked values: a tracked array (recorded)
        if v.ndim != 0:
            v = _np.ravel(v)
            if v.size != lin.size:
                v = v[np.arange(lin.size) % v.size]
    x[np.unravel_index(lin, x._a.shape)] = v


# the stand-ins' methods reach these through standins (late binding: see there)
standins._no_attribute = _no_attribute
standins._flags_of = _flags_of
standins._Flat = _Flat
standins._put_flat = _put_flat
