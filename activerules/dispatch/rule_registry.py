"""The rule registry: registration, resolution through the lattice, the cache.

>>> import numpy as np, activerules as ar
>>> reg = ar.RuleRegistry()
>>> def f(x, y): return x * y
>>> @reg.rrule(f)
... def _f(x, y):
...     return x * y, lambda g: (g * y, g * x)
>>> print(reg.resolve(f, (ar.Const, ar.Duplicated)).kind)
rrule

A cache hit is one dict read without a lock; registration and the miss path
take the registry's lock, and registration empties the cache.
"""

from __future__ import annotations

import threading
import types
from typing import Any, Callable, Iterable, TypeVar

import numpy as np

from ..activity import Const, base_state, is_batch
from .errors import AmbiguousRuleError, NoRuleError, RegistrationError
from .kinds import kind_of_type, normalise_type
from .lanes import unbatched_activities
from .lattice import (
    RRULE_COST,
    Candidate,
    Step,
    check_admissible,
    concrete,
    noneed_steps,
    plan_patterns,
    stacked_steps,
)
from .params import parse_params
from .plumbing import Ambiguous, PatternTable
from .resolution import Resolution, RuleEntry, format_activities, function_name

__all__ = ["RuleRegistry", "Sample", "PRIMITIVE_MARK", "MUTATES_MARK", "is_primitive", "mutating_rrule_message"]

_PLUGIN_GROUP = "activerules.rules"  # plugins.ENTRY_POINT_GROUP (plugins imports the dispatch layer)

#: The attribute ``ar.primitive`` sets on its wrapper: the engine calls the registered
#: rule of a function carrying it instead of tracing its body (defined here, where
#: registration reads it; the engine imports it).
PRIMITIVE_MARK = "__activerules_primitive__"


#: The attribute holding the positions an in-place primitive writes into
#: (``ar.primitive(mutates=(0,))`` is to set it; read here to refuse an rrule for it).
MUTATES_MARK = "__activerules_mutates__"


def is_primitive(fn: Any) -> bool:
    """Whether the engine calls ``fn``'s rules rather than tracing its body: an
    ``@ar.primitive`` wrapper, or anything that is not a plain Python function
    (ufuncs, NumPy's array functions, builtins), which the engine never traces.

    >>> import numpy as np
    >>> is_primitive(np.sin), is_primitive(lambda x: x)
    (True, False)
    """
    if not isinstance(fn, types.FunctionType) or getattr(fn, PRIMITIVE_MARK, False):
        return True
    # NumPy's own Python functions (np.full) are intercepted by the engine itself
    return (getattr(fn, "__module__", None) or "").split(".")[0] == "numpy"

F = TypeVar("F", bound=Callable[..., Any])


class Sample:
    """Sample inputs for a function, declared next to its rules:
    ``Sample(np.ones((2, 3)), axis=1)``. Used by ``check_rule`` and the coverage tool.

    >>> Sample(np.ones((2, 3)), axis=1)
    Sample(ndarray[2, 3], axis=1)
    """

    __slots__ = ("args", "kwargs")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.args = args
        self.kwargs = kwargs

    def __repr__(self) -> str:
        parts = [type(a).__name__ + (str(list(a.shape)) if isinstance(a, np.ndarray) else "") for a in self.args]
        parts += [f"{k}={v!r}" for k, v in self.kwargs.items()]
        return f"Sample({', '.join(parts)})"


class _Miss:
    """A cached failed lookup: re-raised as a fresh exception on every hit."""

    __slots__ = ("error", "message", "candidates")

    def __init__(self, error: type[Exception], message: str, candidates: list[RuleEntry]) -> None:
        self.error = error
        self.message = message
        self.candidates = candidates


def mutating_rrule_message(where: str, fn: Any, mutated: tuple[int, ...]) -> str:
    """Why an all-active rrule cannot serve ``fn``, which writes into ``mutated``, and the fix.

    >>> mutating_rrule_message("@ar.rrule(scale_)", print, (0,))[:60]
    '@ar.rrule(scale_): the function writes into argument(s) 0, a'
    """
    return (f"{where}: the function writes into argument(s) {', '.join(map(str, mutated))}, and an "
            "all-active rrule cannot express that: its pullback's cotangents are added (+=) into "
            "the shadows, while a mutated argument's shadow must end as the cotangent of its value "
            f"before the call. Write an activity rule, @ar.rule({function_name(fn)}, ar.Annotation, "
            "...), whose reverse reads the mutated argument's shadow (the cotangent of its value "
            "after the call) and replaces it (see 'A rule that mutates an argument' in "
            "docs/writing-rules.md)")


class RuleRegistry:
    """Rules keyed by (function, activity pattern), resolved through the lattice.

    ``ar.registry`` is the default instance; ``ar.rule``, ``ar.rrule`` and
    ``ar.inactive`` register into it. It requires rules to be registered on
    ``@ar.primitive`` functions (``require_primitive=True``): the engine calls the
    rules of those only. A registry of your own accepts any function.

    >>> from activerules import Active
    >>> reg = RuleRegistry()
    >>> def double(x): return 2 * x
    >>> _ = reg.rrule(double)(lambda x: (2 * x, lambda g: (2 * g,)))
    >>> reg.has_rules(double), reg.resolve(double, (Active,)).kind
    (True, 'rrule')

    ``generation`` counts registrations: an engine caching what it derived from
    :meth:`resolve` keeps it while the counter is unchanged.

    >>> before = reg.generation
    >>> _ = reg.inactive(len); reg.generation > before
    True
    """

    def __init__(self, *, require_primitive: bool = False) -> None:
        # the default registry is the engine's: there a rule on a plain Python function
        # would never run under ar.gradient (the engine traces the body) while the
        # adapters do use it, so registering one is refused with the fix
        self.require_primitive = require_primitive
        self._lock = threading.RLock()
        self._tables: dict[Any, PatternTable] = {}
        self._entries: dict[Any, list[RuleEntry]] = {}
        self._samples: dict[Any, list[Sample]] = {}
        self._cache: dict[Any, Any] = {}
        #: A counter bumped by every registration (and :meth:`clear_cache`): what an engine
        #: derived from :meth:`resolve` stays valid while it is unchanged. A plain attribute,
        #: not a property: the engine reads it on every recorded call. Read it, never set it.
        self.generation = 0

    # -- registration ----------------------------------------------------------------------

    def rule(self, fn: Any, *pattern: Any, varargs: Any = None, samples: Iterable[Sample] = (),
             override: bool = False, atomic: bool = False, params: Any = None,
             differentiates: Any = (), keeps: Any = None, batched: bool = False) -> Callable[[F], F]:
        """Register an activity rule ``rule(cfg, *annotations, **kwargs) -> (y, reverse)``
        for ``fn`` called with arguments matching ``pattern`` (one activity class per
        positional argument; ``ar.Annotation`` matches any non-batch state; ``varargs``
        the class of any further arguments). Returns the rule unchanged.

        ``atomic=True`` promises that ``reverse`` raises, if it raises at all, before
        it writes into any shadow (it computes every cotangent first). An engine then
        runs it on the shadows themselves, without the scratch buffers and snapshots
        that otherwise keep a failing rule from leaving a partial accumulation.

        ``keeps``: the positions of the arguments whose value (``x.val``) ``reverse``
        reads, directly or through a helper; an engine clears the others' after the
        forward, so they pin no memory (values the rule itself captured stay alive).
        Default: all (safe); ``keeps=()``: the reverse reads no argument's value.
        ``check_rule`` clears them too, so a wrong declaration fails there.

        ``batched=True`` promises that ``reverse`` broadcasts over a leading lane axis (output
        cotangent and shadows ``(k, *shape)``): a batch request runs it once for all lanes
        (:func:`~activerules.dispatch.lanes.stacked`), not once per lane.

        ``params``: the optional parameters of ``fn`` the rule implements, by name
        (``"axis keepdims"`` or a list); engines refuse any other one given a
        non-default value (see :mod:`activerules.dispatch.params`). ``None``
        declares nothing: every keyword reaches the rule unchecked.
        ``differentiates``: those optional parameters that may be active (the rule
        returns their cotangents, ``np.average``'s ``weights``); an active value in
        any other one is refused.

        >>> from activerules import Duplicated
        >>> reg = RuleRegistry()
        >>> def square(x): return x * x
        >>> @reg.rule(square, Duplicated)
        ... def _square(cfg, x):
        ...     def reverse(g):
        ...         x.dval += 2 * x.val * g      # accumulate, never assign
        ...     return x.val * x.val, reverse
        >>> reg.resolve(square, (Duplicated,)).kind
        'exact'
        """
        signature = PatternTable.signature(pattern, varargs)  # validates the pattern now
        self._check_primitive(fn, f"@ar.rule({function_name(fn)}, ...)")
        _keeps(keeps, len(pattern), varargs, fn)  # refused at the decorator, not at the rule

        def register(impl: F) -> F:
            declared, diff = parse_params(params, differentiates)
            self._add_rule(RuleEntry(fn, "rule", impl, tuple(pattern), varargs, signature, atomic, declared,
                                     diff, _keeps(keeps, len(pattern), varargs, fn), batched), override, samples)
            return impl

        return register

    def _add_rule(self, entry: RuleEntry, override: bool, samples: Iterable[Sample]) -> None:
        """Add an activity rule's entry to its function's pattern table (see :meth:`rule`)."""
        fn, signature = entry.function, entry.signature
        with self._lock:
            table = self._tables.get(fn)
            if table is None:
                table = self._tables[fn] = PatternTable(function_name(fn).rsplit(".", 1)[-1])
            old = table.find(signature)
            if old is not None and not override:
                raise RegistrationError(
                    f"{function_name(fn)}: a rule for {format_activities(entry.pattern)} is "
                    f"already registered ({old.describe()}); pass override=True to replace it")
            table.add(entry, signature)
            self._record(fn, entry, old, samples)

    def rrule(self, fn: Any, *, samples: Iterable[Sample] = (), override: bool = False,
              params: Any = None, differentiates: Any = (), batched: bool = False) -> Callable[[F], F]:
        """Register an all-active ChainRules-style rule ``rrule(*primals, **kwargs) ->
        (y, pullback)``, the default at the top of the lattice. Returns it unchanged.
        ``params``, ``differentiates``: the optional parameters it implements and
        those it differentiates, as for :meth:`rule`; ``batched=True``: the pullback
        broadcasts over a leading lane axis (as for :meth:`rule`).
        Refused for a function that writes into its arguments (see ``MUTATES_MARK``).

        >>> reg = RuleRegistry()
        >>> def cube(x): return x ** 3
        >>> @reg.rrule(cube, samples=[Sample(np.array([1.0, 2.0]))])
        ... def _cube(x):
        ...     return x ** 3, lambda g: (3 * x ** 2 * g,)   # one cotangent per argument
        >>> reg.samples(cube)
        [Sample(ndarray[2])]
        """
        self._check_primitive(fn, f"@ar.rrule({function_name(fn)})")
        mutated = tuple(getattr(fn, MUTATES_MARK, ()) or ())
        if mutated:
            raise RegistrationError(mutating_rrule_message(f"@ar.rrule({function_name(fn)})", fn, mutated))

        def register(impl: F) -> F:
            with self._lock:
                old = next((e for e in self._entries.get(fn, ()) if e.form != "rule"), None)
                if old is not None and not override:
                    raise RegistrationError(
                        f"{function_name(fn)}: already has {old.describe()}; pass override=True "
                        "to replace it")
                declared, diff = parse_params(params, differentiates)
                self._record(fn, RuleEntry(fn, "rrule", impl, params=declared, differentiates=diff,
                                           batched=batched), old, samples)
            return impl

        return register

    def inactive(self, fn: F) -> F:
        """Declare ``fn`` to have no derivative (``np.argmax``, shape queries); engines
        call it and record nothing. Usable as a decorator; returns ``fn``.

        >>> reg = RuleRegistry()
        >>> def n_items(x): return x.size
        >>> reg.inactive(n_items) is n_items, reg.is_inactive(n_items)
        (True, True)
        """
        self._check_primitive(fn, f"ar.inactive({function_name(fn)})")
        with self._lock:
            old = next((e for e in self._entries.get(fn, ()) if e.form != "rule"), None)
            self._record(fn, RuleEntry(fn, "inactive", fn), old, ())
        return fn

    def _check_primitive(self, fn: Any, what: str) -> None:
        if not self.require_primitive or is_primitive(fn):
            return
        name = getattr(fn, "__name__", "f")
        raise RegistrationError(
            f"{what}: {function_name(fn)} is a plain Python function, so ar.gradient, ar.vjp and "
            "ar.autodiff would trace its body and never call this rule (the JAX, PyTorch and "
            f"autograd adapters would: two different derivatives). Decorate it first:\n\n"
            f"    @ar.primitive\n    def {name}(...): ...\n\n"
            f"(or, for another package's function, {name} = ar.primitive(that_package.{name})) "
            f"and register the rule on the decorated {name}; or use a private ar.RuleRegistry() "
            "for rules meant for the adapters only")

    def add_samples(self, fn: Any, *samples: Sample) -> None:
        """Declare more sample inputs for ``fn``.

        >>> reg = RuleRegistry()
        >>> def f(x): return x
        >>> reg.add_samples(f, Sample(np.ones(3)))
        >>> reg.samples(f)
        [Sample(ndarray[3])]
        """
        with self._lock:
            self._samples.setdefault(fn, []).extend(samples)

    def _record(self, fn: Any, entry: RuleEntry, replaced: RuleEntry | None, samples: Iterable[Sample]) -> None:
        entries = [e for e in self._entries.get(fn, []) if e is not replaced]
        self._entries[fn] = entries + [entry]
        self._samples.setdefault(fn, []).extend(samples)
        self._cache = {}
        self.generation += 1

    # -- introspection ---------------------------------------------------------------------

    def functions(self) -> list[Any]:
        """Every function with something registered, in registration order."""
        return list(self._entries)

    def entries(self, fn: Any) -> list[RuleEntry]:
        """What is registered for ``fn``."""
        return list(self._entries.get(fn, ()))

    def samples(self, fn: Any) -> list[Sample]:
        """The sample inputs declared for ``fn``."""
        return list(self._samples.get(fn, ()))

    def is_inactive(self, fn: Any) -> bool:
        """Whether ``fn`` was declared inactive."""
        return any(e.form == "inactive" for e in self._entries.get(fn, ()))

    def has_rules(self, fn: Any) -> bool:
        """Whether anything is registered for ``fn``."""
        return fn in self._entries

    def clear_cache(self) -> None:
        """Forget every cached resolution."""
        with self._lock:
            self._cache = {}
            self.generation += 1

    # -- resolution ------------------------------------------------------------------------

    def resolve(self, fn: Any, activities: tuple[type, ...], types: tuple[Any, ...] | None = None) -> Resolution:
        """How to serve ``fn`` called with arguments of these activity classes.

        ``types``: the primal types (or kind strings ``"array"``, ``"scalar"``,
        ``"static"``); they drive primal-type dispatch and the Const widening. Raises
        :class:`NoRuleError` or :class:`AmbiguousRuleError`; cached, misses included.
        """
        hit = self._cache.get((fn, activities, types))
        if hit is None:
            hit = self._resolve_uncached(fn, activities, types)
        if hit.__class__ is _Miss:
            raise hit.error(hit.message, hit.candidates)
        return hit  # type: ignore[no-any-return]

    def _resolve_uncached(self, fn: Any, activities: tuple[type, ...], types: tuple[Any, ...] | None) -> Any:
        with self._lock:
            key = (fn, activities, types)
            hit = self._cache.get(key)
            if hit is None:
                try:
                    hit = self._plan(fn, tuple(activities), types)
                except (NoRuleError, AmbiguousRuleError) as e:
                    hit = _Miss(type(e), str(e), getattr(e, "candidates", []))
                self._cache[key] = hit
            return hit

    def _plan(self, fn: Any, activities: tuple[type, ...], types: tuple[Any, ...] | None) -> Resolution:
        name = function_name(fn)
        if types is not None and len(types) != len(activities):
            raise ValueError(f"{name}: {len(activities)} activities but {len(types)} types")
        kinds = None if types is None else tuple(kind_of_type(t) for t in types)
        check_admissible(name, activities, kinds)
        entries = self._entries.get(fn, [])
        fallback = next((e for e in entries if e.form != "rule"), None)
        if fallback is not None and fallback.form == "inactive":
            return Resolution(fn, activities, fallback)
        table = self._tables.get(fn)
        rows: list[tuple[int, RuleEntry, Candidate, tuple[Step, ...]]] = []
        if table is not None:
            for cand in plan_patterns(activities, kinds):
                concrete_types = cand.activities if types is None else tuple(
                    concrete(a, normalise_type(t)) for a, t in zip(cand.activities, types))
                try:
                    found = table.lookup(concrete_types)
                except Ambiguous as amb:  # plum finds no most specific one: our costs decide
                    found = amb.implementations
                for entry in found if isinstance(found, list) else [found] if found else []:
                    steps = cand.steps + noneed_steps(_requested(activities, cand), entry.signature.types,
                                                      entry.signature.varargs)
                    if cand.lanes and entry.batched:
                        steps = stacked_steps(steps)
                    rows.append((sum(s.cost for s in steps), entry, cand, steps))
        if fallback is not None:
            lifted: tuple[Step, ...] = (Step(None, "lifted all-active rrule", RRULE_COST, _rrule_wastes(activities)),)
            if fallback.batched and any(is_batch(a) for a in activities):
                lifted = stacked_steps(lifted)
            rows.append((RRULE_COST, fallback, Candidate(activities, False, ()), lifted))
        if not rows:
            raise NoRuleError(self._no_rule_message(fn, activities))
        low = min(r[0] for r in rows)
        winners = [r for r in rows if r[0] == low]
        distinct = list({id(r[1]): r[1] for r in winners}.values())
        if len(distinct) > 1:
            raise AmbiguousRuleError(
                f"{name}{format_activities(activities)} is ambiguous: at cost {low} these rules all "
                "apply:\n" + "\n".join(f"  - {e.describe()}" for e in distinct)
                + f"\nregister a rule for {format_activities(_bases(activities))} (override=True "
                "replaces an existing one) to decide", distinct)
        _, entry, cand, steps = winners[0]
        if entry.form == "rrule":
            return Resolution(fn, activities, entry, steps)
        return Resolution(fn, activities, entry, steps, cand.activities, cand.lanes)

    def _no_rule_message(self, fn: Any, activities: tuple[type, ...]) -> str:
        name = function_name(fn)
        entries = self._entries.get(fn, [])
        registered = ("nothing is registered for it (if its rules come from a plugin package, "
                      "call ar.load_plugins() first, or import the module its entry point in the "
                      f"group {_PLUGIN_GROUP!r} names)" if not entries else
                      "registered: " + "; ".join(e.describe() for e in entries))
        return (f"no rule for {name}{format_activities(activities)}: {registered}. Add "
                f"@ar.rule({name}, {', '.join(_bases_names(activities))}) for this activity tuple, or "
                f"an all-active @ar.rrule({name}) that serves every combination")


def _bases(activities: tuple[type, ...]) -> tuple[type, ...]:
    return tuple(base_state(a) for a in activities)


def _bases_names(activities: tuple[type, ...]) -> list[str]:
    return ["ar." + a.__name__ for a in _bases(activities)]


def _requested(activities: tuple[type, ...], cand: Candidate) -> tuple[type, ...]:
    """The request as the pattern sees it (after lanes), to price NoNeed arguments."""
    return unbatched_activities(_bases(activities)) if cand.lanes else _bases(activities)


def _rrule_wastes(activities: tuple[type, ...]) -> bool:
    return any(base_state(a) is Const for a in activities)


def _keeps(keeps: Any, n: int, varargs: Any, fn: Any) -> tuple[int, ...] | None:
    """``keeps=`` checked: None (all), or a tuple of argument positions."""
    if keeps is None:
        return None
    if isinstance(keeps, int) or not all(type(i) is int and i >= 0 and (varargs or i < n) for i in keeps):
        raise RegistrationError(
            f"@ar.rule({function_name(fn)}, ...): keeps= takes a tuple of argument positions "
            f"(0 to {n - 1}) whose value the reverse reads, got {keeps!r}; keeps=() when it reads none")
    return tuple(sorted(set(keeps)))
