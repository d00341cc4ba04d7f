"""Activity annotations: which arguments of a call are being differentiated.

Six states, as in Enzyme.jl, with one common base :class:`Annotation`:

>>> import numpy as np, activerules as ar
>>> x = np.ones(3)
>>> ar.Duplicated(x, np.zeros(3)).dval
array([0., 0., 0.])
>>> ar.Active(x)
Traceback (most recent call last):
...
activerules.activity.ActivityError: Active(ndarray): arrays are mutable: use Duplicated(x, dx) or Const(x)

Every class is a plum parametric type over the primal's type
(``Duplicated[np.ndarray]``), marked faithful so plum keeps its cache on.
This module also holds the errors every layer raises, since it imports
nothing of ours.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from plum import parametric

__all__ = [
    "ActiveRulesError", "ActivityError", "RuleError", "ShadowRebindError",
    "Annotation", "Const", "Active", "Duplicated", "DuplicatedNoNeed",
    "BatchDuplicated", "BatchDuplicatedNoNeed", "RevConfig",
    "annotate", "set_shadow", "is_batch",
]


class ActiveRulesError(Exception):
    """Base class of every error activerules raises on purpose.

    >>> import activerules as ar
    >>> issubclass(ar.RuleError, ar.ActiveRulesError), issubclass(ar.NoRuleError, ar.ActiveRulesError)
    (True, True)
    """


class ActivityError(ActiveRulesError, TypeError):
    """An annotation that does not fit its primal (e.g. ``Active`` of an array).

    >>> import numpy as np, activerules as ar
    >>> try:
    ...     ar.Duplicated(2.0, 0.0)
    ... except ar.ActivityError as e:
    ...     print(e)
    Duplicated(float, ...): numbers are immutable: use Active(x) (its derivative is returned) or Const(x)
    """


class RuleError(ActiveRulesError):
    """A rule broke the calling convention: wrong number, shape or dtype of cotangents,
    or it raised during the reverse sweep. The message names the rule, the function
    and the activity tuple.

    >>> import numpy as np, activerules as ar
    >>> @ar.primitive
    ... def halve(x):
    ...     return x / 2
    >>> @ar.rrule(halve)
    ... def _halve(x):
    ...     return x / 2, lambda g: g / 2          # a bare array, not a tuple
    >>> try:
    ...     ar.gradient(lambda x: halve(x).sum(), np.ones(2))
    ... except ar.RuleError as e:
    ...     print("wrap it: `return (dx,)`" in str(e))
    True
    """


def _primal_type(val: Any) -> type:
    return type(val)


def _is_immutable_number(val: Any) -> bool:
    if isinstance(val, (bool, np.bool_)):
        return False
    if isinstance(val, (int, float, complex, np.number)):
        return True
    return isinstance(val, tuple) and len(val) > 0 and all(_is_immutable_number(v) for v in val)


def _is_mutable_array(val: Any) -> bool:
    if isinstance(val, np.ndarray):
        return True
    if isinstance(val, dict):  # a dict of arrays (nested): Enzyme's Duplicated of a struct
        return _is_array_tree(val)
    # A list/tuple of arrays (np.concatenate's argument) is mutable through its elements.
    return isinstance(val, (list, tuple)) and len(val) > 0 and all(isinstance(v, np.ndarray) for v in val)


def _is_array_tree(val: Any) -> bool:
    """An array, or a non-empty dict, list or tuple of array trees."""
    if isinstance(val, np.ndarray):
        return True
    items = val.values() if isinstance(val, dict) else val if isinstance(val, (list, tuple)) else ()
    return len(items) > 0 and all(_is_array_tree(v) for v in items)


def _describe(val: Any) -> str:
    return type(val).__name__


def _check_shadow(name: str, val: Any, dval: Any) -> None:
    if dval is val:
        raise ActivityError(
            f"{name}: the shadow is the primal object itself; allocate a separate buffer, "
            "e.g. np.zeros_like(x)")
    if isinstance(val, np.ndarray):
        if not isinstance(dval, np.ndarray):
            raise ActivityError(
                f"{name}: the shadow must be an ndarray like its primal, got {_describe(dval)}; "
                "use np.zeros_like(x)")
        if dval.shape != val.shape or dval.dtype != val.dtype:
            raise ActivityError(
                f"{name}: shadow has shape {dval.shape} and dtype {dval.dtype}, primal has shape "
                f"{val.shape} and dtype {val.dtype}; use np.zeros_like(x)")
        if np.shares_memory(dval, val):
            raise ActivityError(f"{name}: the shadow shares memory with the primal; use np.zeros_like(x)")
        return
    if isinstance(val, dict):
        if not isinstance(dval, dict) or set(dval) != set(val):
            raise ActivityError(
                f"{name}: the shadow of a dict must be a dict with the same keys {sorted(map(str, val))}, "
                f"got {_describe(dval)}")
        for k in val:
            _check_shadow(name, val[k], dval[k])
        return
    if not isinstance(dval, (list, tuple)) or len(dval) != len(val):
        raise ActivityError(
            f"{name}: the shadow of a sequence of {len(val)} arrays must be a sequence of "
            f"{len(val)} arrays, got {_describe(dval)}")
    for v, d in zip(val, dval):
        _check_shadow(name, v, d)


class Annotation:
    """Common base of the activity states; as a rule pattern it matches Const,
    Active, Duplicated and DuplicatedNoNeed (not the batch states).

    >>> import numpy as np, activerules as ar
    >>> isinstance(ar.Const(1.0), ar.Annotation), isinstance(ar.Duplicated(np.ones(2), np.zeros(2)), ar.Annotation)
    (True, True)
    """

    __faithful__ = True  # the parametric __instancecheck__ only looks at type(x)
    val: Any
    # Set by the engine on a Duplicated argument whose shadow is a zero buffer it has just
    # made: the rule may then replace ``dval`` by its cotangent instead of adding it in.
    # (A class default, so that rules read it without an AttributeError being raised.)
    fresh = False

    def __repr__(self) -> str:
        fields = ", ".join(f"{k.lstrip('_')}={v!r}" for k, v in vars(self).items())
        return f"{type(self).__name__}({fields})"


class ShadowRebindError(RuleError):
    """A rule rebound an annotation's shadow (``x.dval = ...``) instead of accumulating
    into it in place (``x.dval += g``); raised by the annotation, so the engine adds
    the rule's name.

    >>> import numpy as np
    >>> x = Duplicated(np.ones(2), np.zeros(2))
    >>> x.dval += 1.0                       # accumulating in place: fine
    >>> try:
    ...     x.dval = x.dval + 1.0           # rebinding: refused
    ... except ShadowRebindError as e:
    ...     print("x.dval +=" in str(e))
    True
    """


def _rebind_error(name: str) -> RuleError:
    return ShadowRebindError(
        f"a rule rebound the shadow `{name}` (`x.{name} = ...`) of a Duplicated argument; the "
        f"shadow is the buffer the engine and the caller read (other arguments may share it), "
        f"so accumulate into it in place: `x.dval += cotangent` (per lane: `for d, c in "
        f"zip(x.dvals, cotangents): d += c`)")


def _shadow_property(slot: str, name: str) -> property:
    """The ``dval``/``dvals`` attribute: read freely; set only to fill in an annotation
    made without one (``annotate``), to the same object (``x.dval += g``), or when the
    engine hands over a fresh zero shadow (``fresh``). Any other rebinding raises
    :class:`RuleError`. Engines set the slot (``ann._dval``) directly (:func:`set_shadow`)."""
    def get(self: Any) -> Any:
        return self.__dict__[slot]

    def put(self: Any, value: Any) -> None:
        cur = self.__dict__.get(slot)
        if value is not cur and cur is not None and not self.fresh:
            raise _rebind_error(name)
        self.__dict__[slot] = value

    return property(get, put, doc=f"The shadow{'s (one per lane)' if slot == '_dvals' else ''}: "
                                  f"accumulate into it in place (``x.{name} += g``).")


def set_shadow(ann: Any, value: Any) -> None:
    """Set an annotation's shadow (``dval``, or ``dvals`` for a batch state) as an engine
    does between calls of a reverse, bypassing the check on rules rebinding it.

    >>> ann = Duplicated(np.ones(2), np.zeros(2))
    >>> set_shadow(ann, np.ones(2)); ann.dval
    array([1., 1.])
    """
    if isinstance(ann, BatchDuplicated):
        ann._dvals = value
    else:
        ann._dval = value


@parametric
class Const(Annotation):
    """A value no derivative is wanted for: ``Const(t)``.

    >>> import numpy as np, activerules as ar
    >>> ar.autodiff(lambda x, y: (x * y).sum(), ar.Duplicated(np.ones(2), np.zeros(2)), ar.Const(np.arange(2.0)))
    (None, None)
    >>> ar.Const(3.0).val
    3.0
    """

    def __init__(self, val: Any) -> None:
        self.val = val

    @classmethod
    def __infer_type_parameter__(cls, val: Any) -> type:
        return _primal_type(val)


@parametric
class Active(Annotation):
    """An immutable value (float, complex, NumPy scalar, tuple of those) whose
    cotangent the rule *returns* from ``reverse``: ``Active(2.0)``.

    >>> import numpy as np, activerules as ar
    >>> ds, dx = ar.autodiff(lambda s, x: (s * x).sum(), ar.Active(2.0), ar.Const(np.array([1.0, 3.0])))
    >>> float(ds), dx                        # the derivative is returned, not accumulated
    (4.0, None)
    """

    def __init__(self, val: Any) -> None:
        if isinstance(val, np.ndarray) or _is_mutable_array(val):
            raise ActivityError(
                f"Active({_describe(val)}): arrays are mutable: use Duplicated(x, dx) or Const(x)")
        if not _is_immutable_number(val):
            raise ActivityError(
                f"Active({_describe(val)}): only floats, complex numbers, NumPy scalars and tuples "
                "of those can be Active; use Const(x) for a value with no derivative")
        self.val = float(val) if isinstance(val, int) else val

    @classmethod
    def __infer_type_parameter__(cls, val: Any) -> type:
        return _primal_type(val)


@parametric
class Duplicated(Annotation):
    """A mutable array with a shadow of the same shape and dtype; the rule
    accumulates (``+=``) the cotangent into ``dval`` in place:
    ``Duplicated(x, np.zeros_like(x))``.

    >>> import numpy as np, activerules as ar
    >>> x, dx = np.array([1.0, 3.0]), np.zeros(2)
    >>> ar.autodiff(lambda x: (x ** 2).sum(), ar.Duplicated(x, dx))
    (None,)
    >>> dx                                   # the derivative, accumulated into the shadow
    array([2., 6.])
    """

    def __init__(self, val: Any, dval: Any) -> None:
        name = type(self).__name__.split("[")[0]
        if _is_immutable_number(val):
            raise ActivityError(
                f"{name}({_describe(val)}, ...): numbers are immutable: use Active(x) "
                "(its derivative is returned) or Const(x)")
        if not _is_mutable_array(val):
            raise ActivityError(
                f"{name}({_describe(val)}, ...): needs a NumPy array (or a list, tuple or dict "
                "of arrays); use Const(x) for a value with no derivative, Active(x) for a number")
        _check_shadow(name, val, dval)
        self.val = val
        self._dval = dval

    dval = _shadow_property("_dval", "dval")

    @classmethod
    def __infer_type_parameter__(cls, val: Any, dval: Any) -> type:
        return _primal_type(val)


@parametric
class DuplicatedNoNeed(Duplicated):
    """As :class:`Duplicated`, but the argument's own value after the call is not
    needed (Enzyme: reads of it become undefined).

    >>> import numpy as np, activerules as ar
    >>> dx = np.zeros(2)
    >>> ar.autodiff(lambda x: (x ** 2).sum(), ar.DuplicatedNoNeed(np.array([1.0, 3.0]), dx))
    (None,)
    >>> dx
    array([2., 6.])
    """


@parametric
class BatchDuplicated(Annotation):
    """A mutable array with ``width`` shadows: ``width`` VJPs in one sweep:
    ``BatchDuplicated(x, (dx1, dx2, dx3))``.

    >>> import numpy as np, activerules as ar
    >>> lanes = (np.zeros(2), np.zeros(2))
    >>> ar.BatchDuplicated(np.ones(2), lanes).width
    2
    """

    def __init__(self, val: Any, dvals: Any) -> None:
        name = type(self).__name__.split("[")[0]
        if _is_immutable_number(val) or not _is_mutable_array(val):
            raise ActivityError(
                f"{name}({_describe(val)}, ...): needs a NumPy array; batch a number by "
                "batching its function instead, or use Const(x)")
        if not isinstance(dvals, (tuple, list)) or len(dvals) == 0:
            raise ActivityError(
                f"{name}: dvals must be a non-empty tuple of shadows, one per lane, "
                f"got {_describe(dvals)}")
        shapes = {np.shape(d) for d in dvals if isinstance(d, np.ndarray)}
        if len(shapes) > 1:
            raise ActivityError(f"{name}: shadows of unequal shape {sorted(shapes)}; every lane "
                                "needs a shadow shaped like the primal")
        for d in dvals:
            _check_shadow(name, val, d)
        self.val = val
        self._dvals = tuple(dvals)

    dvals = _shadow_property("_dvals", "dvals")

    @property
    def width(self) -> int:
        """Number of lanes (shadows)."""
        return len(self.dvals)

    @classmethod
    def __infer_type_parameter__(cls, val: Any, dvals: Any) -> type:
        return _primal_type(val)


@parametric
class BatchDuplicatedNoNeed(BatchDuplicated):
    """Both :class:`BatchDuplicated` and NoNeed.

    >>> import numpy as np, activerules as ar
    >>> ann = ar.BatchDuplicatedNoNeed(np.ones(2), (np.zeros(2), np.zeros(2), np.zeros(2)))
    >>> ann.width, isinstance(ann, ar.BatchDuplicated)
    (3, True)
    """


BATCH_STATES = (BatchDuplicated, BatchDuplicatedNoNeed)
STATES = (Const, Active, Duplicated, DuplicatedNoNeed, BatchDuplicated, BatchDuplicatedNoNeed)


def is_batch(cls: type) -> bool:
    """True for BatchDuplicated and BatchDuplicatedNoNeed (parametrised or not)."""
    return issubclass(cls, BatchDuplicated)


def base_state(cls: type) -> type:
    """The unparametrised state class of ``cls`` (``Duplicated[np.ndarray]`` → ``Duplicated``)."""
    for state in reversed(STATES):  # subclasses first
        if issubclass(cls, state):
            return state
    if cls is Annotation or issubclass(cls, Annotation):
        return Annotation
    raise TypeError(f"{cls!r} is not an activity state")


def annotate(cls: type, val: Any, dval: Any = None) -> Any:
    """Build an annotation without validation (for engines, on their hot path).

    ``dval`` is the shadow, or the tuple of shadows for a batch state; it may be
    filled in later, before ``reverse`` runs, since rules read shadows through
    the annotation at reverse time.
    """
    ann: Any = object.__new__(cls)
    ann.val = val
    if issubclass(cls, BatchDuplicated):
        ann._dvals = dval
    elif issubclass(cls, Duplicated):
        ann._dval = dval
    return ann


@dataclass(frozen=True, slots=True)
class RevConfig:
    """What a rule is asked to do, as Enzyme's ``RevConfig``.

    ``activities``: the annotation class of each argument, as the rule sees them;
    ``needs_primal``: whether the primal output must be returned (else ``None`` is fine);
    ``width``: number of batch lanes; ``overwritten``: per argument, whether it may be
    modified between forward and reverse (informational: the engine preserves values).

    >>> import activerules as ar
    >>> cfg = ar.RevConfig((ar.Duplicated, ar.Const), needs_primal=False)
    >>> cfg.activities[0] is ar.Duplicated, cfg.needs_primal, cfg.width
    (True, False, 1)
    """

    activities: tuple[type, ...]
    needs_primal: bool = True
    width: int = 1
    overwritten: tuple[bool, ...] | None = None
