"""``activerules explain FUNCTION ACTIVITY...``: how one request is resolved."""

from __future__ import annotations

from typing import Any, Sequence

from .. import activity
from ..activity import ActivityError, Annotation
from ..dispatch import AmbiguousRuleError, NoRuleError, RuleRegistry, format_activities, registry
from ..dispatch.kinds import ADMISSIBLE
from .survey import UsageError, argument_signatures, find_function

__all__ = ["parse_activity", "explain"]

_STATES = {cls.__name__.lower(): cls for cls in vars(activity).values()
           if isinstance(cls, type) and issubclass(cls, Annotation) and cls is not Annotation}


def parse_activity(name: str) -> type:
    """``"Const"``, ``"ar.Duplicated"``, ``"duplicatednoneed"`` → the activity class."""
    key = name.removeprefix("ar.").removeprefix("activerules.").lower()
    if key not in _STATES:
        raise UsageError(f"unknown activity {name!r}: use one of "
                         + ", ".join(sorted(c.__name__ for c in _STATES.values())))
    return _STATES[key]


def _kinds_for(fn: Any, activities: tuple[type, ...], reg: RuleRegistry) -> tuple[tuple[str, ...] | None, str]:
    """The argument kinds to resolve with: a known signature of the same arity that
    admits the activities, else None (the registry then resolves without types)."""
    sigs = [s for s in argument_signatures(fn, reg) if len(s.kinds) == len(activities)]
    for sig in sigs:
        if all(a in ADMISSIBLE[k] for a, k in zip(activities, sig.kinds)):
            return sig.kinds, f"argument kinds ({', '.join(sig.kinds)}) from {sig.kinds_from}"
    if sigs:
        known = "; ".join("(" + ", ".join(s.kinds) + ")" for s in sigs)
        raise UsageError(f"{format_activities(activities)} is not admissible for the known argument "
                         f"kinds {known}: arrays take Const or the Duplicated family, numbers Const "
                         "or Active, other values Const")
    return None, "argument kinds unknown: resolved without primal types"


def explain(name: str, activity_names: Sequence[str], reg: RuleRegistry = registry) -> tuple[str, int]:
    """The explanation text for ``name`` called with these activities, and an exit
    status: 0 resolved, 1 ambiguous or unresolved. Raises :class:`UsageError`
    for an unknown function or activity, or an inadmissible request."""
    fn = find_function(name, reg)
    activities = tuple(parse_activity(a) for a in activity_names)
    if not activities:
        raise UsageError("name at least one activity, e.g. `activerules explain numpy.add Const Duplicated`")
    if reg.is_inactive(fn):
        entry = next(e for e in reg.entries(fn) if e.form == "inactive")
        return f"{entry.describe()}: no derivative, every call runs the primal only", 0
    kinds, kinds_note = _kinds_for(fn, activities, reg)
    try:
        res = reg.resolve(fn, activities, kinds)
    except (AmbiguousRuleError, NoRuleError) as e:
        label = "ambiguous" if isinstance(e, AmbiguousRuleError) else "unresolved"
        return f"{label}: {e}\n{kinds_note}", 1
    except ActivityError as e:
        raise UsageError(str(e)) from None
    lines = [str(res), kinds_note,
             f"rule: {getattr(res.rule, '__qualname__', res.rule)} ({res.form}), defined at {res.entry.source}"]
    if res.wasteful:
        lines.append("wasteful: a step computes a cotangent that is discarded; a rule written for "
                     f"{format_activities(activities)} would avoid it")
    return "\n".join(lines), 0
