"""Primal kinds: what an argument can be annotated with.

Every primal falls in one of three kinds, which decide its admissible states:

* ``"array"``: a float or complex ndarray (or a list of them): Const or the Duplicated family;
* ``"scalar"``: a real or complex number or a tuple of them: Const or Active;
* ``"static"``: anything else (ints, bools, integer arrays, shapes, strings): Const only.

Primal types are also normalised for dispatch: every real scalar type is
``float``, every complex scalar ``complex``, every ndarray ``np.ndarray``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..activity import Active, BatchDuplicated, BatchDuplicatedNoNeed, Const, Duplicated, DuplicatedNoNeed

__all__ = ["ARRAY", "SCALAR", "STATIC", "kind_of", "kind_of_type", "normalise_type", "ADMISSIBLE"]

ARRAY, SCALAR, STATIC = "array", "scalar", "static"

ADMISSIBLE: dict[str, tuple[type, ...]] = {
    ARRAY: (Const, Duplicated, DuplicatedNoNeed, BatchDuplicated, BatchDuplicatedNoNeed),
    SCALAR: (Const, Active),
    STATIC: (Const,),
}


def kind_of(value: Any) -> str:
    """The kind of a primal value (looks at dtypes and tuple contents).

    >>> kind_of(np.ones(2)), kind_of(2.0), kind_of(3), kind_of(np.arange(3))
    ('array', 'scalar', 'static', 'static')
    """
    if isinstance(value, np.ndarray):
        return ARRAY if value.dtype.kind in "fc" else STATIC
    if isinstance(value, (bool, np.bool_, int, np.integer)):
        return STATIC
    if isinstance(value, (float, complex, np.inexact)):
        return SCALAR
    if isinstance(value, (tuple, list)) and value:
        kinds = {kind_of(v) for v in value}
        if kinds == {SCALAR} and isinstance(value, tuple):
            return SCALAR
        if ARRAY in kinds and kinds <= {ARRAY, STATIC}:
            return ARRAY
    return STATIC


_TYPE_KINDS: dict[type, str] = {}


def kind_of_type(t: Any) -> str:
    """The kind of a primal *type* (or a kind string, returned as is).

    >>> kind_of_type(np.ndarray), kind_of_type(np.float32), kind_of_type(bool)
    ('array', 'scalar', 'static')
    """
    if isinstance(t, str):
        return t
    kind = _TYPE_KINDS.get(t)
    if kind is None:
        if issubclass(t, np.ndarray):
            kind = ARRAY
        elif issubclass(t, (bool, np.bool_, int, np.integer)):
            kind = STATIC
        elif issubclass(t, (float, complex, np.inexact)):
            kind = SCALAR
        else:
            kind = STATIC
        _TYPE_KINDS[t] = kind
    return kind


def normalise_type(t: Any) -> Any:
    """The type plum dispatches on: one type per kind of number, ndarray for arrays.

    >>> normalise_type(np.float32), normalise_type(np.complex64), normalise_type("array")
    (<class 'float'>, <class 'complex'>, <class 'numpy.ndarray'>)
    """
    if isinstance(t, str):
        return {ARRAY: np.ndarray, SCALAR: float, STATIC: object}[t]
    if issubclass(t, np.ndarray):
        return np.ndarray
    if issubclass(t, (bool, np.bool_)):
        return bool
    if issubclass(t, (int, np.integer)):
        return int
    if issubclass(t, (complex, np.complexfloating)):
        return complex
    if issubclass(t, (float, np.floating)):
        return float
    return t
