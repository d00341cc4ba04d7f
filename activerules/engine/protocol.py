"""The NumPy protocol: how NumPy functions, ufuncs and array methods reach the stand-ins.

``__array_ufunc__`` and ``__array_function__`` (installed on the stand-in classes here)
send a call with a tracked argument to :func:`call`: the engine's own handler for views,
allocations and functions of shapes (:data:`_HANDLERS`), else the call recorded through
its rule. Array methods are the NumPy function of the same meaning (:data:`_METHODS`);
``np.array`` of lists of stand-ins (:func:`constructor`) and ``np.full`` with an active
fill value (:func:`filler`) are recorded too; ``out=`` is written by :func:`assign`.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from . import standins
from .arguments import _seq_tape
from .inert import Inert, inert_out, new_inert
from .ndarray_api import _complete_ndarray_api
from .recording import _ASARRAY, _NOTHING, construct, record
from .standins import _EMPTY, _TRACKED, DETACHED, Tracked, _np, _Ops, _untracked_error, new_root, raw
from .tape import UntrackedWriteError
from .views import _NUMPY_VIEWS, view_of

__all__ = ["call", "constructor", "filler", "assign"]


def _array_ufunc(self: Any, ufunc: np.ufunc, method: str, *inputs: Any, **kwargs: Any) -> Any:
    """``__array_ufunc__`` of the stand-ins: the ufunc (or its method) recorded, ``out=``
    written by :func:`assign`."""
    out = kwargs.pop("out", None)
    fn = ufunc if method == "__call__" else getattr(ufunc, method)
    if method == "at":
        return record(fn, inputs, kwargs, mutates=(0,))
    if out is not None and not any(type(a) in _TRACKED for a in (*inputs, *out)):
        return inert_out(fn, inputs, kwargs, out)  # no active value: in place, as NumPy
    y = record(fn, inputs, kwargs)
    if out is None:
        return y
    # where= leaves out alone where it is False for a call and an outer product (a
    # reduction's where= masks its input instead)
    where = kwargs.get("where", True) if method in ("__call__", "outer") else True
    if len(out) == 1:
        assign(out[0], y, where)
        return out[0]
    for o, v in zip(out, y):
        assign(o, v, where)
    return out


def _array_function(self: Any, func: Any, types: Any, args: Any, kwargs: Any) -> Any:
    """``__array_function__`` of the stand-ins: :func:`call`, or a tracked buffer for an
    allocation given ``like=`` a stand-in."""
    if func in _ALLOC and not _any_standin(args, kwargs):  # np.zeros(n, like=x): a tracked buffer
        y = func(*args, **kwargs)
        if isinstance(y, np.ndarray) and y.dtype.kind in "fc":
            return _fresh(new_root(y, self._tape))
        return y
    return call(func, args, kwargs)


def _astype(self: Tracked, dtype: Any, order: str = "K", casting: Any = "unsafe", subok: bool = True,
           copy: bool = True) -> Any:
    """``np.astype(x, dtype)``, after ``np.copy(x, order=order)`` for an order other
    than 'K'; ``x`` itself for ``copy=False`` when nothing changes, as NumPy."""
    if not np.can_cast(self._a.dtype, dtype, casting):
        raise TypeError(f"Cannot cast array data from {self._a.dtype!r} to {np.dtype(dtype)!r} "
                        f"according to the rule {casting!r}")
    same = np.dtype(dtype) == self._a.dtype
    if not copy and same and (order == "K" or _has_order(self._a, order)):
        return self  # NumPy returns the array itself
    if order == "K":
        return call(_ASTYPE, (self, dtype), _EMPTY)
    y = call(np.copy, (self,), {"order": order})
    return y if same else call(_ASTYPE, (y, dtype), _EMPTY)  # np.astype keeps y's layout


def _has_order(a: np.ndarray, order: str) -> bool:
    """Whether ``a`` is already laid out as ``np.copy(a, order=order)`` would be."""
    if order == "A":
        return a.flags.f_contiguous or a.flags.c_contiguous
    return a.flags.f_contiguous if order == "F" else a.flags.c_contiguous


def constructor(orig: Callable[..., Any]) -> Callable[..., Any]:
    """``orig`` (``np.array``...) made to accept sequences of tracked values: NumPy
    itself converts everything else; only the conversion error of a stand-in (from
    ``__array__``/``__float__``) takes the :func:`construct` path, so plain calls pay
    one Python call and nothing more."""
    def convert(obj: Any, *args: Any, **kwargs: Any) -> Any:
        if type(obj) is Inert:  # NumPy's own answer, an inert stand-in where it is a new array
            y = orig(obj._a, *args, **kwargs)
            if y is obj._a:
                return obj
            fresh = type(y) is np.ndarray and y.base is None and y.dtype.kind in "fc"
            w = new_inert(y, obj._tape) if fresh else y
            if obj._tape.capture is not None:
                obj._tape.capture.call(orig, (obj, *args), (obj._a, *args), kwargs, y, w)
            return w
        try:
            return orig(obj, *args, **kwargs)
        except UntrackedWriteError:
            y = construct(orig, obj, args, kwargs)
            if y is _NOTHING:  # the stand-in is not where we can see it: a genuine untracked write
                raise
            return y
    convert.__name__ = convert.__qualname__ = orig.__name__
    convert.__doc__ = orig.__doc__
    convert.__wrapped__ = orig  # type: ignore[attr-defined]
    return convert



# -- NumPy functions the engine handles itself ------------------------------------------------

def call(func: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """``func(*args, **kwargs)`` with a tracked argument: the engine's own handler
    (views, allocations, inactive functions) or the call recorded through its rule,
    ``out=`` written with the engine's checks."""
    handler = _HANDLERS.get(func)
    if handler is not None:
        return handler(*args, **kwargs)
    out = kwargs.pop("out", None) if "out" in kwargs else None
    y = record(func, args, kwargs)
    if out is None:
        return y
    assign(out, y)
    return out


def _method(name: str, func: Any) -> Callable[..., Any]:
    """The array method ``name``: ``func`` called on the stand-in, as NumPy would."""
    def method(self: Any, *args: Any, **kwargs: Any) -> Any:
        return call(func, (self, *args), kwargs)
    method.__name__ = method.__qualname__ = name
    method.__doc__ = f"``np.{getattr(func, '__name__', name)}(x, ...)``, through its rule."
    return method


#: Array methods that are a NumPy function of the array: ``x.sum(axis=0)`` is
#: ``np.sum(x, axis=0)``, recorded through that function's rule (or a view, or a
#: plain value for an inactive function); a function with no rule raises the
#: registry's NoRuleError naming it. ``x.fill(v)`` is ``np.copyto(x, v)``.
_ASTYPE: Any = getattr(np, "astype", np.ndarray.astype)  # np.astype: NumPy >= 2.1
_METHODS: dict[str, Any] = {
    "sum": np.sum, "prod": np.prod, "mean": np.mean, "var": np.var, "std": np.std,
    "max": np.max, "min": np.min, "cumsum": np.cumsum, "cumprod": np.cumprod,
    "trace": np.trace, "dot": np.dot, "clip": np.clip, "round": np.round,
    "conj": np.conjugate, "conjugate": np.conjugate, "copy": np.copy, "ravel": np.ravel,
    "squeeze": np.squeeze, "swapaxes": np.swapaxes, "diagonal": np.diagonal, "repeat": np.repeat,
    "take": np.take, "astype": _ASTYPE,
    "argmax": np.argmax, "argmin": np.argmin, "argsort": np.argsort, "nonzero": np.nonzero,
    "searchsorted": np.searchsorted, "any": np.any, "all": np.all, "fill": np.copyto,
    "argpartition": np.argpartition,
}


def _view_fn(func: Any) -> Callable[..., Any]:
    """Functions that return a view of their first argument: no tape entry. A view
    whose elements alias one another (``np.broadcast_to``: zero strides) is not one
    (its shadow could not accumulate), so the call is recorded through its rule."""
    def handler(a: Any, *args: Any, **kwargs: Any) -> Any:
        if type(a) is not Tracked and type(a) is not Inert:
            return record(func, (a, *args), kwargs)
        v = func(a._a, *args, **kwargs)
        if _numpy_copies(a, func, args, kwargs):  # a copy in NumPy: a writable array of its own
            return _np.copy(record(func, (a, *args), kwargs))
        if _plain_view(v, a._a):
            if (v if type(v) is not Tracked else _innermost_raw(v)).flags.writeable:
                return view_of(a, v, lambda s: func(s, *args, **kwargs))
            return view_of(a, v, lambda s: _writable(func(s, *args, **kwargs)))
        if isinstance(v, (list, tuple)) and v and all(_plain_view(e, a._a) or _empty(e) for e in v):  # np.split
            return type(v)(view_of(a, e, _piece(func, k, args, kwargs)) for k, e in enumerate(v))
        return record(func, (a, *args), kwargs)  # the function had to copy
    return handler


def _numpy_copies(a: Tracked, func: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> bool:
    """Whether ``func(a, ...)`` is a copy in NumPy for an ``a`` that the engine holds as a
    copy of a NumPy view (a reshape of a broadcast view copies; of our copy it would not)."""
    root = a._root if a._root is not None else a
    if root._pinned != DETACHED:
        return False
    rec = _NUMPY_VIEWS.get(id(root))
    if rec is None or rec[0]() is not root:
        return False
    orig = rec[1]
    o = orig if a._view is None else a._view(orig)
    y = func(o, *args, **kwargs)
    return type(y) is np.ndarray and not np.shares_memory(y, o)


def _plain_view(v: Any, base: Any) -> bool:
    """Whether ``v`` is a view of ``base`` whose elements do not alias one another."""
    if type(v) is Tracked:  # an enclosing level's view (higher order)
        return (v._root is not None and v._root is (base._root if base._root is not None else base)
                and not any(st == 0 and n > 1 for st, n in zip(v.strides, v.shape)))
    return (type(v) is np.ndarray and v.base is not None and np.shares_memory(v, base)
            and not any(st == 0 and n > 1 for st, n in zip(v.strides, v.shape)))


def _empty(v: Any) -> bool:
    """An empty piece of a split (it shares no memory, but it is a view in NumPy too)."""
    return type(v) is np.ndarray and v.size == 0


def _piece(func: Any, k: int, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Callable[[Any], Any]:
    """The view function of the ``k``-th array of a splitting function's result."""
    return lambda s: func(s, *args, **kwargs)[k]


def _innermost_raw(v: Any) -> np.ndarray:
    """The ndarray under a stand-in of nested levels (higher order)."""
    while type(v) is Tracked:
        v = v._a
    return v  # type: ignore[no-any-return]


def _writable(v: Any) -> Any:
    """A shadow's view that NumPy hands out read-only (``np.diagonal``) made writable,
    so cotangents can accumulate through it."""
    if type(v) is Tracked:  # a shadow that is an enclosing level's stand-in (higher order)
        _writable(v._a)
    elif not v.flags.writeable:
        try:
            v.flags.writeable = True
        except ValueError:  # a view of a read-only array (a caller's, held): stays as NumPy made it
            pass
    return v


def _any_tracked(args: tuple[Any, ...], kwargs: dict[str, Any]) -> bool:
    """Whether a tracked value is among ``args`` or the values of ``kwargs`` (not nested)."""
    return any(type(a) in _TRACKED for a in args) or any(type(v) in _TRACKED for v in kwargs.values())


def _any_standin(args: tuple[Any, ...], kwargs: dict[str, Any]) -> bool:
    """Whether a stand-in, inert ones included, is among ``args`` or the values of ``kwargs``."""
    return any(isinstance(a, _Ops) for a in args) or any(isinstance(v, _Ops) for v in kwargs.values())


def _like_fn(func: Any) -> Callable[..., Any]:
    """``np.zeros_like(x)`` and friends: a new tracked array holding constants
    (``np.full_like(x, v)`` with an active ``v``: recorded through its rule)."""
    def handler(proto: Any, *args: Any, **kwargs: Any) -> Any:
        if func is np.full_like and (_any_tracked(args, kwargs) or _seq_holds_tracked(args[:1])):
            return filler(func)(proto, *args, **kwargs)
        y = func(raw(proto), *args, **kwargs)
        if type(proto) is Tracked and isinstance(y, np.ndarray) and y.dtype.kind in "fc":
            return _fresh(new_root(y, proto._tape))
        if type(proto) is Inert and isinstance(y, np.ndarray) and y.dtype.kind in "fc":
            return _fresh(new_inert(y, proto._tape))  # promoted if an active value is written into it
        return y
    return handler


def _fresh(w: Any) -> Any:
    """A new stand-in whose values depend on no argument's (a replay copies them)."""
    if w._tape.capture is not None:
        w._tape.capture.fresh(w._a)
    return w


def _seq_holds_tracked(args: tuple[Any, ...]) -> bool:
    return any((type(a) is list or type(a) is tuple) and _seq_tape(a) is not None for a in args)


def filler(orig: Callable[..., Any]) -> Callable[..., Any]:
    """``np.full`` or ``np.full_like`` made to accept an active fill value: NumPy fills
    the new array itself, which an active value cannot enter (the stand-in refuses the
    conversion), so a call whose fill value holds a tracked value is recorded through
    the function's rule; every other call is NumPy's own. The engine swaps ``np.full``
    and ``np.full_like`` for these while a forward pass runs::

        full = filler(np.full)
        full(3, 2.0)                                    # array([2., 2., 2.]): NumPy's own call
        ar.gradient(lambda s: full(3, s).sum(), 1.5)    # 3.0
    """
    def fill(first: Any, *args: Any, **kwargs: Any) -> Any:
        if "fill_value" in kwargs and not args:  # the rule receives the fill value positionally
            args = (kwargs.pop("fill_value"),)
        value = args[0] if args else None
        if type(value) is list or type(value) is tuple:
            if _seq_tape(value) is not None:
                value = construct(_ASARRAY, value, (), _EMPTY)  # np.asarray of it, recorded
        if type(value) not in _TRACKED:
            return orig(first, *args, **kwargs)
        return record(orig, (first, value, *args[1:]), kwargs)
    fill.__name__ = fill.__qualname__ = orig.__name__
    fill.__doc__ = orig.__doc__
    fill.__wrapped__ = orig  # type: ignore[attr-defined]
    return fill


def _writes_nothing(dst: Any, where: Any) -> bool:
    """Whether ``np.copyto(dst, ..., where=where)`` writes no element (an empty ``dst``,
    an all-False mask); True too if ``where`` does not fit, so NumPy's own error shows."""
    if np.size(dst) == 0:
        return True
    if where is True:
        return False
    try:
        return not np.broadcast_to(np.asarray(raw(where), dtype=bool), np.shape(dst)).any()
    except (ValueError, TypeError):
        return True


def _copyto(dst: Any, src: Any, **kwargs: Any) -> None:
    if type(dst) is Inert:
        record(np.copyto, (dst, src), kwargs, mutates=(0,))
    elif type(dst) is not Tracked and type(src) in _TRACKED and _writes_nothing(dst, kwargs.get("where", True)):
        _seen_by_user(kwargs.get("where"))
        np.copyto(dst, raw(src), **kwargs)  # NumPy checks shapes and casting, writes nothing
    elif type(dst) is Tracked:
        record(np.copyto, (dst, src), kwargs, mutates=(0,))
    else:
        assign(dst, src) if not kwargs else record(np.copyto, (dst, src), kwargs, mutates=(0,))


def _block(arrays: Any) -> Any:
    """``np.block``, built from the calls NumPy documents it as: the innermost lists
    concatenated along the last axis, the next ones along the second-last, and so on,
    every block first given the result's number of dimensions (leading ones). Each of
    those calls is recorded through its rule."""
    if type(arrays) is not list:
        return _np.array(arrays, copy=True)
    leaves: list[tuple[int, Any]] = []  # (depth, block)

    def walk(x: Any, depth: int) -> None:
        if type(x) is tuple:
            raise TypeError("np.block: a tuple in the blocks: only lists can be used to arrange blocks")
        if type(x) is list:
            if not x:
                raise ValueError("np.block: lists cannot be empty")
            for e in x:
                walk(e, depth + 1)
        else:
            leaves.append((depth, x))

    walk(arrays, 0)
    depth = leaves[0][0]
    if any(d != depth for d, _ in leaves):
        raise ValueError("np.block: list depths are mismatched")
    ndim = max(depth, max(np.ndim(raw(b)) for _, b in leaves))

    def build(x: Any, level: int) -> Any:
        if type(x) is list:
            return _np.concatenate([build(e, level + 1) for e in x], axis=level - depth)
        x = _np.asarray(x)
        return _np.reshape(x, (1,) * (ndim - x.ndim) + x.shape)

    return build(arrays, 0)


def _static(func: Any) -> Callable[..., Any]:
    def handler(*args: Any, **kwargs: Any) -> Any:
        vals = [raw(a) for a in args]
        y = func(*vals, **kwargs)
        for a in args:  # a plain value the user's Python sees: a replay checks it
            if isinstance(a, _TRACKED) and a._tape.capture is not None:
                a._tape.capture.guard(func, args, vals, y, kwargs)
                break
        return y
    return handler


def _seen_by_user(v: Any) -> None:
    """The values of stand-in ``v`` leave the engine (into a plain array): a replay checks them."""
    if isinstance(v, _TRACKED) and v._tape.capture is not None:
        v._tape.capture.guard_value(v)


def _optional(*names: str) -> list[Any]:
    """The NumPy functions of these names that this NumPy has (newer ones)."""
    return [getattr(np, n) for n in names if hasattr(np, n)]


_ALLOC: frozenset[Any] = frozenset((np.zeros, np.ones, np.empty, np.full, np.arange, np.linspace, np.eye,
                    np.identity, np.array, np.asarray))

_HANDLERS: dict[Any, Callable[..., Any]] = {
    **{f: _view_fn(f) for f in (np.reshape, np.transpose, np.swapaxes, np.moveaxis, np.squeeze,
                                np.expand_dims, np.ravel, np.atleast_1d, np.atleast_2d, np.atleast_3d,
                                np.broadcast_to, np.diagonal, np.flip, np.fliplr, np.flipud,
                                np.rot90, np.rollaxis, np.split, np.array_split, np.hsplit,
                                np.vsplit, np.dsplit, *_optional("matrix_transpose", "unstack"))},
    **{f: _like_fn(f) for f in (np.zeros_like, np.ones_like, np.empty_like, np.full_like)},
    **{f: _static(f) for f in (np.shape, np.ndim, np.size, np.result_type, np.can_cast, np.iscomplexobj,
                               np.isrealobj, np.argmax, np.argmin, np.argsort, np.nonzero)},
    np.copyto: _copyto,
    np.block: _block,
}


def assign(dst: Any, value: Any, where: Any = True) -> None:
    """``dst[...] = value`` (only where ``where``) with the engine's checks (``out=``)."""
    if type(dst) is Tracked or type(dst) is Inert:
        record(np.copyto, (dst, value), _EMPTY if where is True else {"where": where}, mutates=(0,))
    elif type(value) in _TRACKED and not _writes_nothing(dst, where):
        raise _untracked_error("an active result was written into an untracked array (out=)")
    elif type(value) in _TRACKED:  # NumPy checks the shapes and writes no element
        _seen_by_user(where)
        np.copyto(dst, raw(value), where=where)
    else:  # an inert value is a constant: its raw values
        _seen_by_user(value)
        _seen_by_user(where)
        np.copyto(dst, raw(value), where=where)


def _install() -> None:
    """Give the stand-in classes the NumPy protocol hooks and the methods that are NumPy
    functions, then complete the ndarray API (what they still lack: a named error)."""
    _Ops.__array_ufunc__ = _array_ufunc  # type: ignore[attr-defined]
    _Ops.__array_function__ = _array_function  # type: ignore[attr-defined]
    for name, func in _METHODS.items():
        setattr(_Ops, name, _method(name, func))
    Tracked.astype = _astype  # type: ignore[attr-defined]
    _complete_ndarray_api()


_install()
standins.call = call  # late binding (see standins)
