"""Keyword honesty: the parameters a rule implements, and the refusal of the others.

A rule registered with ``params=`` (``@ar.rrule(np.sum, params="axis keepdims")``)
declares the *optional* parameters of its function that it implements, by the
names in the function's own signature; the required ones (the arrays) and a
``*args`` are always implemented. ``differentiates=`` names those optional
parameters that may be active (the rule returns their cotangents: ``np.average``'s
``weights``); they count as implemented too. Engines, their adapters and
``check_rule`` call :func:`check_call` (the engine splits it: the positional part in
its cached plan, :func:`check_positional`), which refuses, with a
:class:`ParameterError` naming the function, the parameter and what to do:

* any other optional parameter given a value other than its default, by keyword or
  by position (a rule that ignored it would return a wrong derivative silently);
* an active value in an optional parameter the rule does not differentiate (it
  would get a zero cotangent silently).

A rule registered without ``params=`` (``None``) declares nothing and gets every
keyword unchecked (a plugin's own functions).

>>> import numpy as np, activerules as ar
>>> from activerules.dispatch.params import check_call
>>> prod = ar.registry.entries(np.prod)[0]
>>> check_call(prod, np.prod, (np.ones(3),), {"axis": 0, "keepdims": False})   # implemented; a default
>>> check_call(prod, np.prod, (np.ones(3),), {"initial": 2.0})  # doctest: +ELLIPSIS
Traceback (most recent call last):
activerules.dispatch.params.ParameterError: numpy.prod: the parameter 'initial' was given as initial= (initial=2.0), but the rule ...

The signatures come from ``inspect.signature`` (read once per function); ufuncs
and their methods, which have none NumPy can report fully, get theirs from
:func:`signature_of`'s tables.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..activity import ActiveRulesError
from .resolution import RuleEntry, function_name

__all__ = ["KEYWORD_ALIASES", "Params", "ParameterError", "signature_of", "check_call", "check_positional",
           "check_values", "parse_params"]

_NOVALUE = getattr(np, "_NoValue", object())
_EMPTY = inspect.Parameter.empty


class ParameterError(ActiveRulesError, TypeError):
    """A call gives a parameter the rule serving it does not implement (or an
    active value to a parameter that cannot take one).

    >>> import numpy as np, activerules as ar
    >>> try:
    ...     ar.gradient(lambda x: np.prod(x, initial=2.0), np.ones(2))
    ... except ar.ParameterError as e:
    ...     print(type(e).__name__, "initial" in str(e))
    ParameterError True
    """


@dataclass(frozen=True)
class Params:
    """What a function accepts: ``positional`` names in order (``np.sum``: a, axis,
    dtype, ...), how many of them are ``required``, whether it takes ``*args``
    (``varargs``), and the default of every optional parameter (keyword-only ones
    included) in ``defaults``."""

    positional: tuple[str, ...]
    required: int
    varargs: bool
    defaults: dict[str, Any]
    keyword_only: frozenset[str]
    varkw: bool = False  # takes **kwargs (np.pad's constant_values=, np.einsum's dtype=)


_UFUNC_KW = {"out": None, "where": True, "casting": "same_kind", "order": "K", "dtype": None,
             "subok": True, "signature": None}
_GUFUNC_KW = {"axes": None, "axis": None, "keepdims": False}
# the ufunc methods' parameters (their text signatures hide keepdims/initial/where in **kwargs)
_METHODS: dict[str, tuple[tuple[str, ...], int, dict[str, Any], frozenset[str]]] = {
    "reduce": (("array", "axis", "dtype", "out", "keepdims", "initial", "where"), 1,
               {"axis": 0, "dtype": None, "out": None, "keepdims": False, "initial": _NOVALUE,
                "where": True}, frozenset()),
    "accumulate": (("array", "axis", "dtype", "out"), 1, {"axis": 0, "dtype": None, "out": None}, frozenset()),
    "reduceat": (("array", "indices", "axis", "dtype", "out"), 2, {"axis": 0, "dtype": None, "out": None},
                 frozenset()),
    "outer": (("A", "B"), 2, dict(_UFUNC_KW), frozenset(_UFUNC_KW)),
    "at": (("a", "indices", "b"), 2, {"b": None}, frozenset()),
}
_CACHE: dict[Any, Params | None] = {}
#: keyword-only spellings of positional parameters (NumPy >= 2.1: np.clip's min=/max=), so
#: an active value passed by either name reaches the rule as the same argument
KEYWORD_ALIASES: dict[Any, dict[str, str]] = {np.clip: {"min": "a_min", "max": "a_max"}}


def signature_of(fn: Any) -> Params | None:
    """``fn``'s parameters (cached), or ``None`` when they cannot be read.

    >>> import numpy as np
    >>> p = signature_of(np.sum)
    >>> p.positional[:3], p.required, p.defaults["axis"]
    (('a', 'axis', 'dtype'), 1, None)
    """
    try:
        return _CACHE[fn]
    except KeyError:
        pass
    except TypeError:  # an unhashable callable
        return _read(fn)
    p = _CACHE[fn] = _read(fn)
    return p


def _read(fn: Any) -> Params | None:
    if isinstance(fn, np.ufunc):
        kw = {**_UFUNC_KW, **(_GUFUNC_KW if fn.signature else {})}
        return Params(tuple(f"x{i + 1}" for i in range(fn.nin)), fn.nin, False, kw, frozenset(kw))
    owner = getattr(fn, "__self__", None)
    if isinstance(owner, np.ufunc) and fn.__name__ in _METHODS:
        names, required, method_defaults, kwonly = _METHODS[fn.__name__]
        return Params(names, required, False, dict(method_defaults), kwonly)
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return None
    positional: list[str] = []
    only: set[str] = set()
    defaults: dict[str, Any] = {}
    required, varargs = 0, False
    for p in sig.parameters.values():
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
            positional.append(p.name)
            if p.default is _EMPTY:
                required = len(positional)
            else:
                defaults[p.name] = p.default
        elif p.kind is p.VAR_POSITIONAL:
            varargs = True
        elif p.kind is p.KEYWORD_ONLY:
            defaults[p.name] = None if p.default is _EMPTY else p.default
            only.add(p.name)
    varkw = any(p.kind is p.VAR_KEYWORD for p in sig.parameters.values())
    return Params(tuple(positional), required, varargs, defaults, frozenset(only), varkw)


def parse_params(params: Any, differentiates: Any = ()) -> tuple[frozenset[str] | None, frozenset[str]]:
    """The ``params=`` and ``differentiates=`` declarations as sets of names (each
    ``"axis keepdims"`` or an iterable); the differentiated ones are implemented too."""
    diff = frozenset(differentiates.split() if isinstance(differentiates, str) else differentiates)
    if params is None:
        return (diff or None), diff
    return frozenset(params.split() if isinstance(params, str) else params) | diff, diff


def is_default(value: Any, default: Any) -> bool:
    """Whether ``value`` is the parameter's default (NumPy's ``<no value>`` reads as None)."""
    if value is default:
        return True
    if default is _NOVALUE:
        return value is None or value is _NOVALUE
    if default is None:
        return value is _NOVALUE
    scalar = (bool, int, float, str)
    return type(value) in scalar and type(value) is type(default) and value == default


def check_call(entry: RuleEntry, fn: Any, args: tuple[Any, ...], kwargs: dict[str, Any],
               active: tuple[bool, ...] = ()) -> None:
    """Raise :class:`ParameterError` if ``fn(*args, **kwargs)`` gives a parameter the
    rule ``entry`` does not implement a value other than its default, or an active
    value (``active[i]`` for ``args[i]``) to an optional parameter it does not
    differentiate.

    >>> import numpy as np, activerules as ar
    >>> entry = ar.registry.entries(np.prod)[0]
    >>> check_call(entry, np.prod, (np.ones(2),), {"axis": 0})   # declared: fine
    >>> check_call(entry, np.prod, (np.ones(2),), {"initial": 2.0})
    Traceback (most recent call last):
    ...
    activerules.dispatch.params.ParameterError: numpy.prod: the parameter 'initial' ...
    """
    if entry.params is None:
        return
    p = signature_of(fn)
    if p is None:
        return
    _check_positions(entry, fn, p, [(a, type(a)) for a in args], active)
    declared = entry.params
    for name, value in kwargs.items():
        if name in declared or name in p.positional[:p.required]:
            continue
        if name not in p.defaults or not is_default(value, p.defaults[name]):
            raise _refusal(entry, fn, name, value, False)


def check_positional(entry: RuleEntry, fn: Any, types: tuple[Any, ...], active: tuple[bool, ...]
                     ) -> tuple[int, ...]:
    """:func:`check_call` for the positional arguments, knowing only their types and
    whether each is active (the engine's plan, cached per signature). An argument of
    type ``NoneType`` (or NumPy's ``<no value>``) where the default is None or
    ``<no value>`` is the default; one of its default's type may be (``copy=True``, as
    the engine's keyword binding fills it): its position is returned, for
    :func:`check_values` at each call.

    >>> import numpy as np, activerules as ar
    >>> entry = ar.registry.entries(np.nan_to_num)[0]
    >>> check_positional(entry, np.nan_to_num, (np.ndarray, bool), (True, False))   # copy: by value
    (1,)
    """
    if entry.params is None:
        return ()
    p = signature_of(fn)
    if p is None:
        return ()
    return _check_positions(entry, fn, p, [(_UNKNOWN, t) for t in types], active)


def check_values(entry: RuleEntry, fn: Any, args: Any, positions: tuple[int, ...]) -> None:
    """Refuse the arguments at ``positions`` (from :func:`check_positional`) that are not
    their parameter's default.

    >>> import numpy as np, activerules as ar
    >>> entry = ar.registry.entries(np.nan_to_num)[0]
    >>> check_values(entry, np.nan_to_num, (np.ones(2), True), (1,))    # the default: fine
    >>> check_values(entry, np.nan_to_num, (np.ones(2), False), (1,))
    Traceback (most recent call last):
    ...
    activerules.dispatch.params.ParameterError: numpy.nan_to_num: the parameter 'copy' ...
    """
    p = signature_of(fn)
    assert p is not None
    for i in positions:
        name = p.positional[i]
        if not is_default(args[i], p.defaults.get(name)):
            raise _refusal(entry, fn, name, args[i], True)


_UNKNOWN: Any = object()


def _check_positions(entry: RuleEntry, fn: Any, p: Params, given: list[tuple[Any, Any]],
                     active: tuple[bool, ...]) -> tuple[int, ...]:
    declared, differentiated = entry.params or frozenset(), entry.differentiates or frozenset()
    later: list[int] = []  # positions whose value decides (known only at the call)
    for i in range(p.required, min(len(given), len(p.positional))):
        name = p.positional[i]
        value, t = given[i]
        if i < len(active) and active[i] and name not in differentiated:
            raise ParameterError(
                f"{function_name(fn)}: an active value was passed as {name!r}, which the rule serving "
                f"the call ({entry.describe()}) does not differentiate; pass a constant there, or "
                f"register a rule declaring differentiates=[..., {name!r}]")
        if name in declared:
            continue
        d = p.defaults.get(name)
        if value is _UNKNOWN:  # a default filled in by the engine's keyword binding may be _NoValue
            if (t is type(None) or t is type(_NOVALUE)) and (d is None or d is _NOVALUE):
                continue
            if t is type(d):
                later.append(i)
                continue
        elif is_default(value, d):
            continue
        raise _refusal(entry, fn, name, value, True)
    return tuple(later)


def _refusal(entry: RuleEntry, fn: Any, name: str, value: Any, positional: bool) -> ParameterError:
    where = "by position" if positional else f"as {name}="
    shown = "" if value is _UNKNOWN else f" ({name}={_short(value)})"
    return ParameterError(
        f"{function_name(fn)}: the parameter {name!r} was given {where}{shown}, but the rule "
        f"serving the call ({entry.describe()}) does not implement it, so its derivative would be "
        f"wrong; call it without {name} (with its default), or register a rule declaring "
        f"params=[..., {name!r}] that implements it")


def _short(value: Any) -> str:
    if isinstance(value, np.ndarray):
        return f"array of shape {value.shape}"
    text = repr(value)
    return text if len(text) < 40 else text[:37] + "..."
