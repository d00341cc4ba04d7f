"""How the arguments of a call reach its rule: keywords bound to positions, lists of arrays.

:func:`.recording.record` passes every active value positionally, so a rule receives it
as an argument (:func:`_bind_keywords`), and a list holding tracked values either as a
sequence of arrays (for the functions that take one, :func:`takes_sequences`) or as one
array converted by ``np.asarray``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..activity import BatchDuplicated, Duplicated
from ..dispatch import KEYWORD_ALIASES, PRIMITIVE_MARK, ParameterError, function_name, signature_of
from .standins import Tracked, TrackedScalar, _new, raw
from .tape import Tape

__all__ = ["takes_sequences"]


#: NumPy functions with a parameter that is a sequence of arrays (``np.stack([x, y])``):
#: a list argument holding tracked values is passed to their rules as a sequence
#: (Duplicated, a list of shadows). For every other function a list is array_like,
#: as NumPy reads it: converted by np.asarray (recorded) and passed as one array.
_SEQUENCE_FUNCTIONS: frozenset[Any] = frozenset((
    np.concatenate, np.stack, np.hstack, np.vstack, np.dstack, np.column_stack,
    np.linalg.multi_dot, np.select, np.choose, np.histogramdd))


def takes_sequences(fn: Any) -> bool:
    """Whether ``fn``'s list arguments are sequences of arrays (see _SEQUENCE_FUNCTIONS)."""
    return fn in _SEQUENCE_FUNCTIONS or getattr(fn, PRIMITIVE_MARK, False)


def _seq_tape(a: Any) -> Tape | None:
    """The tape of a tracked value held by the list/tuple ``a`` (nested ones included)."""
    for e in a:
        t = type(e)
        if t is Tracked or t is TrackedScalar:
            return e._tape  # type: ignore[no-any-return]
        if t is list or t is tuple:
            inner = _seq_tape(e)
            if inner is not None:
                return inner
    return None


def _holds_tracked(v: Any) -> bool:
    t = type(v)
    return t is Tracked or t is TrackedScalar or ((t is list or t is tuple) and _seq_tape(v) is not None)


def _bind_keywords(fn: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
                          ) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """``fn(*args, **kwargs)`` with every active value passed by keyword, and every
    required argument, moved to its position (``np.average(x, weights=w)`` is
    ``np.average(x, None, w)``, ``np.dot(a=x, b=y)`` is ``np.dot(x, y)``), the positions
    before it filled from the other keywords or the defaults, so the rule receives it as
    an argument and the engine records it. The signature is read once per function;
    other calls return unchanged. Raises ParameterError for an active value in a
    keyword-only parameter. An inert keyword (:mod:`.inert`) is a constant: its raw value."""
    for v in kwargs.values():
        if isinstance(v, Tracked) and type(v) is not Tracked:  # an inert stand-in
            for w in kwargs.values():  # a constant of the call: a replay checks its values
                if isinstance(w, Tracked) and w._tape.capture is not None:
                    w._tape.capture.guard_value(w)
            kwargs = {k: raw(v) for k, v in kwargs.items()}
            break
    active = [k for k, v in kwargs.items() if _holds_tracked(v)]
    p = signature_of(fn)
    if not active and (p is None or len(args) >= p.required):
        return args, kwargs
    name = function_name(fn)
    kw = dict(kwargs)
    aliases = KEYWORD_ALIASES.get(fn)
    if aliases is not None and any(k in aliases for k in active):  # np.clip(x, min=w): a_min=w
        for k, target in aliases.items():
            kw[target] = kw.pop(k) if k in kw else kw.get(target)
        active = [aliases.get(k, k) for k in active]
    for k in active:
        if p is None or k not in p.positional[len(args):] or k in p.keyword_only:
            why = ("its parameters cannot be read" if p is None else
                   "it takes no derivative there: a keyword-only parameter" if k in p.defaults else
                   "it is not one of its positional parameters")
            raise ParameterError(
                f"{name}: an active value was passed as {k}=, which cannot be differentiated ({why}); "
                f"pass a constant there, or compute that part outside the call (e.g. np.sum(x) + v "
                f"instead of np.sum(x, initial=v))")
    assert p is not None
    # every position up to the last active keyword, and the required ones, become positional
    last = max([p.required - 1, *(p.positional.index(k) for k in kw if _holds_tracked(kw[k]))])
    moved = list(args)
    for i in range(len(args), last + 1):
        pname = p.positional[i]
        if pname in kw:
            moved.append(kw.pop(pname))
        elif pname in p.defaults:
            moved.append(p.defaults[pname])
        elif not active:  # NumPy's own error, from the call as it was made
            return args, kwargs
        else:
            raise TypeError(f"{name}() missing required argument: {pname!r}")
    return tuple(moved), kw


def make_annotations(acts: tuple[type, ...], vals: list[Any], width: int) -> list[Any]:
    """The annotations a rule is called with: ``acts[i](vals[i])``, shadows not yet given
    (the sweep hands them over), made without ``__init__`` (the recorder's hot path)."""
    anns = []
    ann: Any
    for act, v in zip(acts, vals):
        ann = _new(act)
        ann.val = v
        if act is Duplicated:  # the slot behind the dval property (activity.set_shadow)
            ann._dval = None
        elif act is BatchDuplicated:
            ann._dvals = (None,) * width
        anns.append(ann)
    return anns
