"""``primitive``: a function the engine calls through its rule instead of tracing it."""

from __future__ import annotations

import functools
from typing import Any, Callable, Sequence, TypeVar

from ..dispatch import MUTATES_MARK, PRIMITIVE_MARK
from .forward import _running
from .recording import record
from .standins import Tracked, TrackedScalar

__all__ = ["primitive"]


F = TypeVar("F", bound=Callable[..., Any])


def primitive(fn: F | None = None, *, mutates: Sequence[int] = ()) -> Any:
    """Mark ``fn`` so the engine calls its registered rule (``ar.rule`` /
    ``ar.rrule`` keyed by the decorated function) instead of tracing its body.
    ``mutates`` lists the positional arguments the function writes into (its rule
    must then be an ``ar.rule``: ``ar.rrule`` raises ``RegistrationError``).
    Outside a differentiation a call costs one check.

    >>> import numpy as np, activerules as ar
    >>> @ar.primitive
    ... def cube(x):
    ...     return x ** 3
    >>> @ar.rrule(cube)
    ... def _cube(x):
    ...     return cube(x), lambda g: (3 * g * x ** 2,)
    >>> ar.gradient(lambda x: cube(x).sum(), np.array([1.0, 2.0]))
    array([ 3., 12.])
    """
    mut = tuple(mutates)

    def decorate(fn: F) -> F:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if _running[0]:
                for a in args:
                    if type(a) in _TRACKED or (type(a) in (list, tuple) and
                                               any(type(e) in _TRACKED for e in a)):
                        return record(wrapper, args, kwargs, mut)
            return fn(*args, **kwargs)
        setattr(wrapper, PRIMITIVE_MARK, True)
        setattr(wrapper, MUTATES_MARK, mut)  # the registry refuses an rrule for a mutating one
        return wrapper  # type: ignore[return-value]

    return decorate(fn) if fn is not None else decorate


_TRACKED = (Tracked, TrackedScalar)
