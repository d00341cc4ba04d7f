"""A resolved rule: which registered rule serves a request, how, and at what cost.

A :class:`Resolution` explains itself (``.rule``, ``.steps``, ``.cost``, ``str()``)
and is callable as an activity rule: ``y, reverse = res(cfg, *annotated_args)``.
Calling it runs the composed executor built once at resolution time: the lifted
rrule, or the author's rule behind the widening and lane adapters, behind a
guard that turns a broken rule into a :class:`RuleError` naming it.
"""

from __future__ import annotations

import inspect
import os
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from ..activity import (
    Active,
    ActiveRulesError,
    Const,
    Duplicated,
    RevConfig,
    RuleError,
    annotate,
    base_state,
    is_batch,
)
from .lanes import lane_count, lanes, stacked, unbatched_activities
from .lattice import Step
from .lifting import (
    check_returned,
    lift_rrule,
    returned_pair_message,
)

__all__ = ["RuleEntry", "Resolution", "function_name", "format_activities"]


def function_name(fn: Any) -> str:
    """A readable dotted name for a primal function (``numpy.linalg.solve``).

    >>> function_name(np.add), function_name(np.linalg.solve)
    ('numpy.add', 'numpy.linalg.solve')
    """
    if isinstance(fn, np.ufunc):
        return f"numpy.{fn.__name__}"
    owner = getattr(fn, "__self__", None)
    if isinstance(owner, np.ufunc):
        return f"numpy.{owner.__name__}.{fn.__name__}"
    module = getattr(fn, "__module__", None) or ""
    module = {"_operator": "operator"}.get(module, module)
    name = getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None) or repr(fn)
    return f"{module}.{name}" if module else name


def format_activities(activities: tuple[Any, ...]) -> str:
    """``(Const, Duplicated)``.

    >>> from activerules.activity import Const, Duplicated
    >>> format_activities((Const, Duplicated))
    '(Const, Duplicated)'
    """
    return "(" + ", ".join(_state_name(a) for a in activities) + ")"


def _state_name(a: Any) -> str:
    return getattr(a, "__name__", repr(a))


def _source(impl: Any) -> str:
    impl = inspect.unwrap(impl)
    try:
        path = inspect.getsourcefile(impl) or "<unknown>"
        line = impl.__code__.co_firstlineno
    except (TypeError, AttributeError):
        return "<unknown source>"
    relative = os.path.relpath(path) if os.path.isabs(path) else path
    return f"{path if relative.startswith('..') else relative}:{line}"


@dataclass(eq=False)
class RuleEntry:
    """One registration: an activity ``rule`` for ``pattern``, an ``rrule``, or ``inactive``.

    >>> import activerules as ar
    >>> [e.form for e in ar.registry.entries(np.linalg.solve)]
    ['rule']
    """

    function: Any
    form: str
    impl: Callable[..., Any]
    pattern: tuple[Any, ...] = ()
    varargs: Any = None
    signature: Any = None
    atomic: bool = False  # the reverse raises, if at all, before writing a shadow (see registry.rule)
    #: the optional parameters of ``function`` the rule implements (``params=`` at registration;
    #: None: undeclared, keywords pass unchecked); see :mod:`.params`
    params: frozenset[str] | None = None
    #: those of them that may be active (get a cotangent): ``differentiates=`` at registration
    differentiates: frozenset[str] = frozenset()
    #: the argument positions whose ``.val`` the reverse reads (``keeps=`` at registration);
    #: None: all of them (the safe default). Engines clear the others after the forward.
    keeps: tuple[int, ...] | None = None
    #: the reverse (pullback) broadcasts over a leading lane axis (``batched=True`` at
    #: registration): a batch request runs it once on stacked lanes (see :mod:`.lanes`)
    batched: bool = False

    def keeps_value(self, i: int) -> bool:
        """Whether the reverse may read argument ``i``'s value (``keeps=`` at registration).

        >>> RuleEntry(len, "rule", len, keeps=(1,)).keeps_value(0)
        False
        """
        return self.keeps is None or i in self.keeps

    @property
    def source(self) -> str:
        """``file:line`` where the author defined the rule."""
        return _source(self.impl)

    def describe(self) -> str:
        """``rule `_solve` for (Annotation, Annotation) at linalg.py:12``."""
        name = getattr(self.impl, "__qualname__", repr(self.impl))
        if self.form == "rule":
            pattern = list(self.pattern) + ([f"*{_state_name(self.varargs)}"] if self.varargs else [])
            return f"rule `{name}` for ({', '.join(_state_name(p) for p in pattern)}) at {self.source}"
        return f"{self.form} `{name}` at {self.source}"

    def __call__(self, *args):  # type: ignore[no-untyped-def]  # plum needs a callable; no hints
        raise AssertionError("call the Resolution, not the entry")


class Resolution:
    """How a request ``function(activities...)`` is served.

    Attributes: ``function``, ``activities`` (the request), ``entry`` (the
    :class:`RuleEntry`), ``rule`` (the function the author registered), ``form``
    (``"rule"``, ``"rrule"`` or ``"inactive"``), ``steps`` (widening steps),
    ``cost``, ``kind`` (``"exact"`` or ``"fallback"``), ``inner_activities`` (what the
    author's rule sees after widening), ``lanes`` (whether a batch request is served by
    a width-1 rule), ``stacked`` (whether that rule's reverse then runs once on all
    lanes stacked, not once per lane) and ``call`` (the executor; ``res.call(cfg, ...)`` is
    ``res(cfg, ...)`` one frame faster).

    >>> import numpy as np, activerules as ar
    >>> res = ar.registry.resolve(np.linalg.solve, (ar.Const, ar.Duplicated), (np.ndarray, np.ndarray))
    >>> res.kind, res.cost, res.form
    ('exact', 0, 'rule')
    """

    __slots__ = ("function", "activities", "entry", "steps", "inner_activities", "lanes", "call",
                 "label", "stacked")

    def __init__(self, function: Any, activities: tuple[type, ...], entry: RuleEntry,
                 steps: tuple[Step, ...] = (), inner_activities: tuple[type, ...] | None = None,
                 lanes: bool = False) -> None:
        self.function = function
        self.activities = activities
        self.entry = entry
        self.steps = steps
        self.inner_activities = inner_activities if inner_activities is not None else activities
        self.lanes = lanes
        batch = any(is_batch(a) for a in activities)
        self.stacked = entry.batched and batch and (lanes or entry.form == "rrule")
        self.label = (f"{entry.describe()}, serving {function_name(function)}"
                      f"{format_activities(activities)}")
        self.call = self._build()

    @property
    def rule(self) -> Callable[..., Any]:
        """The function the author registered."""
        return self.entry.impl

    @property
    def form(self) -> str:
        """``"rule"``, ``"rrule"`` or ``"inactive"``."""
        return self.entry.form

    @property
    def cost(self) -> int:
        """Total cost of the widening steps (0 for an exact rule)."""
        return sum(s.cost for s in self.steps)

    @property
    def kind(self) -> str:
        """``"exact"`` when a rule was written for this request (an activity rule
        with no widening: cost 0), ``"rrule"`` when the lifted all-active rrule
        serves it, else ``"fallback"`` (a rule reached through widening steps)."""
        if self.entry.form == "rrule":
            return "rrule"
        return "exact" if not self.steps else "fallback"

    @property
    def wasteful(self) -> bool:
        """Whether some step computes a cotangent that is then discarded."""
        return any(s.wasteful for s in self.steps)

    def __call__(self, cfg: RevConfig, *args: Any, **kwargs: Any) -> tuple[Any, Any]:
        return self.call(cfg, *args, **kwargs)

    def __str__(self) -> str:
        head = f"{function_name(self.function)}{format_activities(self.activities)}"
        lines = [f"{head} → {self.entry.describe()}",
                 f"  {self.kind}, cost {self.cost}"]
        lines += [f"  - {s}" for s in self.steps]
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"<Resolution {function_name(self.function)}{format_activities(self.activities)} " \
               f"→ {self.entry.form} {getattr(self.rule, '__qualname__', '?')}, cost {self.cost}>"

    # -- executors -------------------------------------------------------------------------

    def _build(self) -> Callable[..., Any]:
        entry = self.entry
        if entry.form == "inactive":
            return _inactive_call(self.function)
        request = tuple(base_state(a) for a in self.activities)
        if entry.form == "rrule":
            if self.stacked:  # lifted for one lane; its pullback then runs once on stacked lanes
                lifted = lift_rrule(entry.impl, unbatched_activities(request), self.label, stacked=True)
                return _guard(stacked(lifted, request), self.label, request, check=True)
            return _guard(lift_rrule(entry.impl, self.activities, self.label), self.label,
                          self.activities, check=False)
        rule: Callable[..., Any] = entry.impl
        unbatched = unbatched_activities(request) if self.lanes else request
        if unbatched != self.inner_activities:
            rule = _widen(rule, unbatched, self.inner_activities)
        if self.lanes:
            rule = stacked(rule, request) if self.stacked else lanes(rule, request)
        return _guard(rule, self.label, request, check=True)


def _no_reverse(dret: Any) -> None:
    return None


def _inactive_call(fn: Callable[..., Any]) -> Callable[..., Any]:
    def call(cfg: Any, *args: Any, **kwargs: Any) -> tuple[Any, Any]:
        return fn(*[a.val for a in args], **kwargs), _no_reverse
    return call


def _scratch_shadow(val: Any) -> Any:
    """A zero shadow for ``val`` (with the leading lane axis while stacked lanes run)."""
    k = lane_count()
    if isinstance(val, (list, tuple)):
        return [np.zeros((k, *np.shape(v)), np.result_type(v)) if k else np.zeros_like(v) for v in val]
    return np.zeros((k, *np.shape(val)), np.result_type(val)) if k else np.zeros_like(val)


def _widen(rule: Callable[..., Any], request: tuple[type, ...], inner: tuple[type, ...]) -> Callable[..., Any]:
    """Serve ``request`` with a rule written for ``inner``: Const arguments become
    Duplicated (scratch zero shadow; on stacked lanes a lane-shaped one, made when the
    reverse runs) or Active (cotangent dropped)."""
    to_dup = tuple(i for i, (r, a) in enumerate(zip(request, inner)) if r is Const and issubclass(a, Duplicated))
    to_active = tuple(i for i, (r, a) in enumerate(zip(request, inner)) if r is Const and issubclass(a, Active))
    any_active = Active in request

    def widened(cfg: RevConfig, *args: Any, **kwargs: Any) -> tuple[Any, Any]:
        inner_args = list(args)
        for i in to_dup:
            inner_args[i] = annotate(Duplicated, args[i].val, _scratch_shadow(args[i].val))
        for i in to_active:
            inner_args[i] = annotate(Active, args[i].val)
        y, reverse = rule(RevConfig(inner, cfg.needs_primal, cfg.width, cfg.overwritten),
                          *inner_args, **kwargs)
        if not to_active and not to_dup:
            return y, reverse

        def dropping_reverse(dret: Any) -> Any:
            if lane_count():
                for i in to_dup:
                    inner_args[i]._dval = _scratch_shadow(args[i].val)
            cots = reverse(dret)
            if cots is None or not any_active:
                return None
            return tuple(None if i in to_active else c for i, c in enumerate(cots))

        return y, dropping_reverse

    return widened


def _guard(rule: Callable[..., Any], label: str, request: tuple[type, ...], check: bool) -> Callable[..., Any]:
    """Name the rule in any error it raises in reverse, and (for hand-written rules)
    check the returned cotangents: one per argument, scalars for Active ones."""
    n = len(request)
    active = tuple(i for i, a in enumerate(request) if a is Active)
    batch = any(is_batch(a) for a in request)

    def guarded(cfg: RevConfig, *args: Any, **kwargs: Any) -> tuple[Any, Any]:
        out = rule(cfg, *args, **kwargs)
        if type(out) is not tuple or len(out) != 2 or not callable(out[1]):
            raise RuleError(returned_pair_message(label, out, "reverse"))
        y, reverse = out

        def guarded_reverse(dret: Any) -> Any:
            locked = _lock_primals(args)
            try:
                cots = reverse(dret)
            except ActiveRulesError:
                raise
            except Exception as e:
                if locked and isinstance(e, ValueError) and "read-only" in str(e):
                    raise RuleError(_wrote_primal_message(label, locked)) from e
                raise RuleError(f"{label}: reverse raised {type(e).__name__}: {e}") from e
            finally:
                # bases first: a view is made writeable again only once its base is
                for _, a in sorted(locked, key=lambda e: _depth(e[1])):
                    a.setflags(write=True)
            if not check:
                return cots
            return check_returned(label, cots, args, n, active, batch)

        return y, guarded_reverse

    return guarded


def _lock_primals(args: tuple[Any, ...]) -> list[tuple[int, np.ndarray]]:
    """Make the writeable primal arrays read-only while a reverse runs (a reverse
    never writes a primal: the engine's copy-on-write relies on it); returns them."""
    locked = []
    for i, a in enumerate(args):
        val = getattr(a, "val", None)
        if type(val) is np.ndarray:
            flags = val.flags
            if flags.writeable and (flags.owndata or _owned(val)):
                val.setflags(write=False)
                locked.append((i, val))
    return locked


def _depth(val: np.ndarray) -> int:
    """How many views ``val`` is away from the array owning its memory."""
    n = 0
    while type(val.base) is np.ndarray:
        val, n = val.base, n + 1
    return n


def _owned(val: np.ndarray) -> bool:
    """Whether NumPy owns the memory (through views): only then can the writeable
    flag be set back (not on an array over a torch tensor's or a bytes buffer)."""
    while not val.flags.owndata:
        if type(val.base) is not np.ndarray:
            return False
        val = val.base
        if not val.flags.writeable:  # a view made writeable before its base was locked (an
            return False             # empty batch argument): its flag could not be set back
    return True


def _wrote_primal_message(label: str, locked: list[tuple[int, np.ndarray]]) -> str:
    which = ", ".join(str(i) for i, _ in locked)
    return (f"{label}: reverse wrote into a primal value (argument(s) {which} are read-only while "
            "it runs): a reverse must leave primals as they are; write cotangents into the "
            "shadows (x.dval += ...) and compute on copies (x.val.copy())")
