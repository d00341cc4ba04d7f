"""Levels: every differentiation has its own, so differentiations nest (higher order).

A level is a :class:`~.tape.Tape`: its identity is the tag its stand-ins carry
(``_tape``). While a differentiation's forward pass runs, its tape is *open* on
this thread's stack; the position in the stack is its depth. A call whose
arguments hold stand-ins of several levels is recorded at the deepest open one
(as in HIPS autograd and JAX's level-based core): its own stand-ins are
unwrapped, and the stand-ins of enclosing levels are constants *at that level*
that keep their identity, so the rule computes on them and the enclosing levels
record what it does. A stand-in of a level that is not open (its differentiation
finished, or runs in another thread) never joins another one: that raises
(JAX's escaped-tracer error), since taking it in, as autograd does when ids are
reused, gives wrong derivatives.

This module is the bookkeeping only (no stand-ins): :mod:`.nested` does the
recording and the sweep of nested differentiations.

>>> from activerules.engine.tape import Tape
>>> outer, inner = Tape(), Tape()
>>> enter(outer); enter(inner)
>>> deepest([outer, inner]) is inner, innermost() is inner
(True, True)
>>> leave(inner); leave(outer)
>>> innermost() is None
True
"""

from __future__ import annotations

import threading
from typing import Any, Iterable

from ..activity import ActiveRulesError

__all__ = ["enter", "leave", "innermost", "is_open", "deepest", "escaped"]

_local = threading.local()


def _stack() -> list[Any]:
    s: list[Any] | None = getattr(_local, "open", None)
    if s is None:
        s = _local.open = []
    return s


def enter(tape: Any) -> None:
    """Open ``tape``'s level on this thread (its forward pass starts). A function being
    captured for replay that starts a differentiation of its own is not replayed."""
    s = _stack()
    for t in s:
        if t.capture is not None:
            t.capture.fail("a differentiation inside the function (higher order)")
    s.append(tape)


def leave(tape: Any) -> None:
    """Close ``tape``'s level (its forward pass ended, or failed)."""
    s = _stack()
    if s and s[-1] is tape:
        s.pop()
    elif tape in s:  # pragma: no cover - levels close in order; kept for robustness
        s.remove(tape)


def innermost() -> Any:
    """The deepest open level of this thread (None outside every forward pass)."""
    s = getattr(_local, "open", None)
    return s[-1] if s else None


def is_open(tape: Any) -> bool:
    """Whether ``tape``'s level is open on this thread."""
    s: list[Any] = getattr(_local, "open", None) or []
    return any(t is tape for t in s)


def _depth(tape: Any) -> int:
    s = _stack()
    for k in range(len(s) - 1, -1, -1):
        if s[k] is tape:
            return k
    raise escaped()


def deepest(tapes: Iterable[Any]) -> Any:
    """The deepest of ``tapes`` (levels of stand-ins meeting in one call); raises
    :func:`escaped` if one of them is not open on this thread."""
    best, depth = None, -1
    for t in tapes:
        d = _depth(t)
        if d > depth:
            best, depth = t, d
    return best


def depth_of(tape: Any) -> int:
    """``tape``'s position in this thread's open levels (-1 if it is not open)."""
    s = getattr(_local, "open", None) or []
    for k in range(len(s) - 1, -1, -1):
        if s[k] is tape:
            return k
    return -1


def escaped() -> ActiveRulesError:
    """The error for a stand-in of a finished differentiation meeting another one."""
    return ActiveRulesError(
        "activerules: a value of a finished differentiation (a stand-in that leaked out of "
        "its ar.gradient / ar.vjp / ar.autodiff call, e.g. stored in a list or a global, or "
        "one of another thread's) meets the values of another differentiation: its "
        "derivative would be lost or confused. Return what you need from the function "
        "instead (ar.vjp returns the primal result), or compute it again outside")
