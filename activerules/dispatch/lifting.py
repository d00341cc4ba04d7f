"""Lifting an all-active ChainRules-style ``rrule`` to any activity tuple.

An rrule is ``rrule(*primals, **kw) -> (y, pullback)`` with ``pullback(ybar)``
returning one cotangent per argument (``None`` means zero, :func:`thunk` defers
one). Lifted, it becomes an activity rule ``rule(cfg, *annotations)`` that

* drops the cotangent of a Const argument without ever evaluating its thunk,
* returns the cotangent of an Active argument,
* accumulates (``+=``) into the shadow of a Duplicated argument,
* runs the pullback once per lane for batch arguments,

after checking every cotangent's count, shape and dtype, so a bad rule raises a
:class:`~activerules.activity.RuleError` before anything touched a shadow.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from ..activity import Active, Const, RuleError, is_batch

__all__ = ["Thunk", "thunk", "unthunk", "lift_rrule", "check_active", "check_duplicated", "check_array", "check_count", "check_returned",
           "accumulate", "zero_cotangent", "returned_pair_message", "cotangent_tuple_message"]


class Thunk:
    """A deferred cotangent: ``Thunk(f)`` computes ``f()`` only when unthunked.

    >>> unthunk(Thunk(lambda: 2.0))
    2.0
    """

    __slots__ = ("fn",)

    def __init__(self, fn: Callable[[], Any]) -> None:
        self.fn = fn

    def __repr__(self) -> str:
        return f"thunk({getattr(self.fn, '__qualname__', self.fn)!r})"


def thunk(fn: Callable[[], Any]) -> Thunk:
    """Defer a cotangent so it is never computed for a Const argument.

    >>> import numpy as np
    >>> def _mul_pullback(x, y):
    ...     return lambda g: (thunk(lambda: g * y), thunk(lambda: g * x))
    """
    return Thunk(fn)


def unthunk(value: Any) -> Any:
    """The value of a cotangent, evaluating it if it is a :class:`Thunk`.

    >>> unthunk(thunk(lambda: 3.0)), unthunk(1.0)
    (3.0, 1.0)
    """
    return value.fn() if type(value) is Thunk else value


def _is_differentiable_dtype(dtype: np.dtype) -> bool:
    return dtype.kind in "fc"


def zero_cotangent(val: Any) -> Any:
    """The zero cotangent of an immutable primal (0.0, 0j, a NumPy scalar, a tuple).

    >>> zero_cotangent((2.0, 1j))
    (0.0, 0j)
    """
    if isinstance(val, tuple):
        return tuple(zero_cotangent(v) for v in val)
    if isinstance(val, np.generic):
        return type(val)(0)
    return 0j if isinstance(val, complex) else 0.0  # not val * 0: inf * 0 is nan


def check_active(label: str, index: int, cot: Any, val: Any) -> Any:
    """Check the cotangent returned for an Active argument; return it.

    >>> check_active("rule", 0, 1.5, 2.0)
    1.5
    >>> check_active("rule", 0, np.ones(2), 2.0)
    Traceback (most recent call last):
    ...
    activerules.activity.RuleError: rule: argument 0 is an Active scalar; its cotangent must be a scalar, got shape (2,)
    """
    t = type(cot)
    if (t is float or t is np.float64) and type(val) is not tuple:  # a real scalar: valid for any scalar
        return cot
    if isinstance(val, tuple):
        if not isinstance(cot, (tuple, list)) or len(cot) != len(val):
            raise RuleError(f"{label}: argument {index} is an Active tuple of {len(val)}; "
                            f"its cotangent must be a tuple of {len(val)}, got {type(cot).__name__}")
        return tuple(check_active(label, index, c, v) for c, v in zip(cot, val))
    if np.ndim(cot) != 0:
        raise RuleError(f"{label}: argument {index} is an Active scalar; its cotangent must be a "
                        f"scalar, got shape {np.shape(cot)}")
    if np.iscomplexobj(cot) and not np.iscomplexobj(val):
        raise RuleError(f"{label}: argument {index} is real; its cotangent is complex ({cot!r})")
    return cot


def check_duplicated(label: str, index: int, cot: Any, shadow: Any) -> Any:
    """Check a cotangent against the shadow it will be added to; return it as an
    array (or ``None`` when the primal is integer or boolean: no cotangent).

    >>> check_duplicated("rule", 0, [1.0, 2.0], np.zeros(2))
    array([1., 2.])
    >>> check_duplicated("rule", 0, np.ones(3), np.zeros(2))
    Traceback (most recent call last):
    ...
    activerules.activity.RuleError: rule: argument 0: cotangent has shape (3,), the argument has shape (2,); ...
    """
    if isinstance(shadow, list | tuple):
        if not isinstance(cot, (list, tuple)) or len(cot) != len(shadow):
            raise RuleError(f"{label}: argument {index} is a sequence of {len(shadow)} arrays; its "
                            f"cotangent must be a sequence of {len(shadow)}, got {type(cot).__name__}")
        return [None if c is None else check_duplicated(label, index, unthunk(c), s)
                for c, s in zip(cot, shadow)]
    if isinstance(shadow, dict):
        if not isinstance(cot, dict) or set(cot) != set(shadow):
            raise RuleError(f"{label}: argument {index} is a dict with keys {sorted(map(str, shadow))}; its "
                            f"cotangent must be a dict with the same keys, got {type(cot).__name__}")
        return {k: None if cot[k] is None else check_duplicated(label, index, unthunk(cot[k]), shadow[k])
                for k in shadow}
    if not _is_differentiable_dtype(shadow.dtype):
        return None
    return check_array(label, index, cot, shadow.shape, shadow.dtype)


def check_array(label: str, index: int, cot: Any, shape: tuple[int, ...], dtype: Any) -> Any:
    """The one check of an array cotangent, for the engine, the lifting and ``check_rule``:
    it must have the argument's ``shape``, and its dtype must cast to the argument's
    ``dtype`` within the same kind (float64 for float32 is cast where it is added;
    complex for real is refused). Returns ``cot`` as an array.

    >>> check_array("rule", 0, np.ones(2), (2,), np.float32).dtype
    dtype('float64')
    >>> check_array("rule", 1, np.ones(2) + 0j, (2,), np.float64)
    Traceback (most recent call last):
    ...
    activerules.activity.RuleError: rule: argument 1: cotangent has dtype complex128, the argument has dtype float64; ...
    """
    if type(cot) is not np.ndarray or cot.shape != shape:
        cot = np.asarray(cot)
        if cot.shape != shape:
            raise RuleError(f"{label}: argument {index}: cotangent has shape {cot.shape}, "
                            f"the argument has shape {shape}; return a cotangent of the "
                            "argument's exact shape (sum broadcast dimensions away: np.sum(..., axis=...), "
                            "then reshape)")
    if cot.dtype != dtype and not np.can_cast(cot.dtype, dtype, "same_kind"):
        raise RuleError(f"{label}: argument {index}: cotangent has dtype {cot.dtype}, "
                        f"the argument has dtype {np.dtype(dtype)}; cast it (.astype(x.dtype))")
    return cot


def check_count(label: str, cots: Any, n: int, who: str = "the pullback") -> Any:
    """Check that a pullback (or reverse) returned one cotangent per argument; return them.

    >>> check_count("rule", (1.0, None), 2)
    (1.0, None)
    >>> check_count("rule", (1.0,), 2)
    Traceback (most recent call last):
    ...
    activerules.activity.RuleError: rule: the pullback must return a tuple of 2 cotangents (one per argument, None for a zero one), got 1
    """
    if not isinstance(cots, (tuple, list)) or len(cots) != n:
        raise RuleError(cotangent_tuple_message(label, cots, n, who))
    return cots


def check_returned(label: str, cots: Any, args: Any, n: int, active: tuple[int, ...], batch: bool) -> Any:
    """Check what an activity rule's reverse returned for its ``n`` arguments ``args``
    (annotations), ``active`` the positions of the Active ones: None when there are
    none, else one cotangent per argument, each Active one checked (per lane in a
    batch) and a missing one made zero. Used by the registry's guard and the engine.

    >>> from activerules.activity import Active, Duplicated
    >>> check_returned("rule", (None, 2.0), (Duplicated(np.ones(1), np.zeros(1)), Active(1.0)), 2, (1,), False)
    (None, 2.0)
    """
    if not active:
        if cots is not None and not (isinstance(cots, tuple) and all(c is None for c in cots)):
            raise RuleError(f"{label}: no argument is Active, so reverse must return None "
                            "(or a tuple of None); cotangents of Duplicated arguments go into "
                            "their shadows")
        return None
    if not isinstance(cots, tuple):
        raise RuleError(cotangent_tuple_message(label, cots, n, "reverse"))
    if len(cots) != n:  # the common case needs no call
        check_count(label, cots, n, "reverse")
    out: list[Any] = [None] * n
    for i in active:
        val = args[i].val
        if batch:
            lanes_ = cots[i]
            width = len(args[next(j for j, a in enumerate(args) if hasattr(a, "dvals"))].dvals)
            if lanes_ is None:
                lanes_ = (None,) * width
            if not isinstance(lanes_, tuple) or len(lanes_) != width:
                raise RuleError(f"{label}: argument {i} is Active in a batch of width {width}: "
                                f"its cotangent must be a tuple of {width}")
            out[i] = tuple(zero_cotangent(val) if c is None else check_active(label, i, c, val)
                           for c in lanes_)
        else:
            c = cots[i]
            out[i] = zero_cotangent(val) if c is None else check_active(label, i, c, val)
    return tuple(out)


def accumulate(shadow: Any, cot: Any) -> None:
    """``shadow += cot`` in place (elementwise for a sequence of shadows).

    >>> shadow = np.zeros(2)
    >>> accumulate(shadow, np.ones(2)); accumulate(shadow, None); shadow
    array([1., 1.])
    """
    if cot is None:
        return
    if isinstance(shadow, list | tuple):
        for s, c in zip(shadow, cot):
            accumulate(s, c)
    elif isinstance(shadow, dict):
        for k, s in shadow.items():
            accumulate(s, cot[k])
    else:
        shadow += cot


def returned_pair_message(label: str, out: Any, second: str) -> str:
    """The error for a rule (``second="reverse"``) or rrule (``"pullback"``) that did not
    return ``(output, reverse)``.

    >>> returned_pair_message("rrule `_sin`", np.ones(2), "pullback")[:64]
    'rrule `_sin`: a rule must return a pair (output, pullback), got '
    """
    if type(out) is tuple and len(out) == 2:
        got = f"a pair whose second item is a {type(out[1]).__name__}, not a function"
    else:
        got = f"{type(out).__name__}" + (f" of {len(out)}" if type(out) is tuple else "")
    return (f"{label}: a rule must return a pair (output, {second}), got {got}; did it return "
            f"only the output? End it with `return y, {second}` where {second}(dy) returns the "
            "cotangents")


def cotangent_tuple_message(label: str, cots: Any, n: int | None, who: str) -> str:
    """The error for a reverse/pullback that did not return one cotangent per argument
    (``n``: the number of arguments, ``None`` where the caller does not know it).

    >>> cotangent_tuple_message("rrule `_sin`", np.ones(2), 1, "the pullback")[-43:]
    'got a bare ndarray; wrap it: `return (dx,)`'
    """
    tuple_of = "a tuple of cotangents" if n is None else f"a tuple of {n} cotangents"
    if isinstance(cots, (tuple, list)):
        return (f"{label}: {who} must return {tuple_of} (one per argument, None "
                f"for a zero one), got {len(cots)}")
    if n is None:
        fix = "`return (dx,)` for one argument, `return (dx, None, ...)` with one entry per argument"
    else:
        fix = "`return (dx,)`" if n == 1 else "`return (dx, None, ...)`, one entry per argument"
    return (f"{label}: {who} must return {tuple_of} (one per argument, None for a "
            f"zero one), got a bare {type(cots).__name__}; wrap it: {fix}")


_CONST, _ACTIVE, _DUP, _BATCH = range(4)


def _code(state: type) -> int:
    if issubclass(state, Const):
        return _CONST
    if issubclass(state, Active):
        return _ACTIVE
    return _BATCH if is_batch(state) else _DUP


def lift_rrule(rrule: Callable[..., Any], activities: tuple[type, ...], label: str,
               stacked: bool = False) -> Callable[..., Any]:
    """Turn ``rrule`` into an activity rule for the request ``activities``.

    ``label`` names the rule, the function and the activity tuple in errors. ``stacked``:
    on stacked lanes (``lanes.stacked``), an Active cotangent is checked once split per lane.

    >>> from activerules.activity import Duplicated, RevConfig
    >>> rule = lift_rrule(lambda x: (np.sin(x), lambda g: (g * np.cos(x),)), (Duplicated,), "sin")
    >>> x = Duplicated(np.zeros(2), np.zeros(2))
    >>> y, reverse = rule(RevConfig((Duplicated,)), x)
    >>> reverse(np.ones(2)); x.dval                  # accumulated into the shadow
    array([1., 1.])
    """
    codes = tuple(_code(a) for a in activities)
    batch, n = _BATCH in codes, len(codes)

    def rule(cfg: Any, *args: Any, **kwargs: Any) -> tuple[Any, Any]:
        out = rrule(*[a.val for a in args], **kwargs)
        if type(out) is not tuple or len(out) != 2 or not callable(out[1]):
            raise RuleError(returned_pair_message(label, out, "pullback"))
        y, pullback = out

        def reverse(dret: Any) -> Any:
            lanes = dret if batch else (dret,)
            checked = [_pull(pullback, d, k, args) for k, d in enumerate(lanes)]
            results: list[Any] = [None] * n
            for i, code in enumerate(codes):
                if code == _ACTIVE:
                    cots = [c[i] if c[i] is not None else zero_cotangent(args[i].val) for c in checked]
                    results[i] = tuple(cots) if batch else cots[0]
                elif code == _DUP:
                    accumulate(args[i].dval, checked[0][i])
                elif code == _BATCH:
                    for k, c in enumerate(checked):
                        accumulate(args[i].dvals[k], c[i])
            return tuple(results) if _ACTIVE in codes else None

        return y, reverse

    def _pull(pullback: Callable[[Any], Any], dret: Any, lane: int, args: tuple[Any, ...]) -> list[Any]:
        cots = check_count(label, pullback(dret), n)
        out: list[Any] = [None] * n
        for i, code in enumerate(codes):
            c = cots[i]
            if code == _CONST or c is None:
                continue
            c = unthunk(c)
            if c is None:
                continue
            if code == _ACTIVE:
                out[i] = c if stacked else check_active(label, i, c, args[i].val)
            else:
                shadow = args[i].dval if code == _DUP else args[i].dvals[lane]
                out[i] = check_duplicated(label, i, c, shadow)
        return out

    rule.__name__ = getattr(rrule, "__name__", "rrule")
    rule.__wrapped__ = rrule  # type: ignore[attr-defined]
    return rule
