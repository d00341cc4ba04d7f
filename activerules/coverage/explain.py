"""``activerules explain FUNCTION ACTIVITY...``: how one request is resolved.

>>> text, status = explain("numpy.linalg.solve", ["Const", "Duplicated"])
>>> status, text.splitlines()[1].strip()
(0, 'exact, cost 0')
"""

from __future__ import annotations

import json
from typing import Any, Sequence

from .. import activity
from ..activity import ActivityError, Annotation
from ..dispatch import AmbiguousRuleError, NoRuleError, RuleRegistry, format_activities, registry
from ..dispatch.kinds import ADMISSIBLE
from .inference import arity
from .survey import UsageError, argument_signatures, find_function

__all__ = ["parse_activity", "explain", "explain_data"]

_STATES = {cls.__name__.lower(): cls for cls in vars(activity).values()
           if isinstance(cls, type) and issubclass(cls, Annotation) and cls is not Annotation}


def parse_activity(name: str) -> type:
    """``"Const"``, ``"ar.Duplicated"``, ``"duplicatednoneed"`` → the activity class.

    >>> parse_activity("ar.duplicatednoneed").__name__
    'DuplicatedNoNeed'
    """
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


def explain_data(name: str, activity_names: Sequence[str], reg: RuleRegistry = registry) -> dict[str, Any]:
    """The resolution of ``name`` called with these activities as plain data:
    ``function``, ``activities``, ``status`` (``exact``, ``rrule``, ``fallback``,
    ``inactive``, ``ambiguous``, ``unresolved``), ``cost``, ``form``, ``rule``,
    ``source``, ``steps``, ``wasteful``, ``kinds``, ``message``, ``candidates``.
    Raises :class:`UsageError` for an unknown function or activity, a wrong number
    of activities, or an inadmissible request.

    >>> data = explain_data("numpy.linalg.solve", ["Const", "Duplicated"])
    >>> data["status"], data["cost"], data["form"]
    ('exact', 0, 'rule')
    """
    fn = find_function(name, reg)
    activities = tuple(parse_activity(a) for a in activity_names)
    if not activities:
        raise UsageError("name at least one activity, e.g. `activerules explain numpy.add Const Duplicated`")
    n = None if reg.is_inactive(fn) else arity(fn, reg)
    if n is not None and n != len(activities):
        raise UsageError(f"{name} takes {n} positional argument(s), {len(activities)} activities given: "
                         "name one activity per argument")
    data: dict[str, Any] = {"function": name, "activities": [a.__name__ for a in activities],
                            "status": None, "cost": None, "form": None, "rule": None, "source": None,
                            "steps": [], "wasteful": False, "kinds": None, "kinds_note": None,
                            "message": None, "candidates": []}
    if reg.is_inactive(fn):
        entry = next(e for e in reg.entries(fn) if e.form == "inactive")
        data.update(status="inactive", form="inactive", source=entry.source,
                    message=f"{entry.describe()}: no derivative, every call runs the primal only")
        return data
    kinds, data["kinds_note"] = _kinds_for(fn, activities, reg)
    data["kinds"] = None if kinds is None else list(kinds)
    try:
        res = reg.resolve(fn, activities, kinds)
    except (AmbiguousRuleError, NoRuleError) as e:
        data.update(status="ambiguous" if isinstance(e, AmbiguousRuleError) else "unresolved",
                    message=str(e), candidates=[c.describe() for c in e.candidates])
        return data
    except ActivityError as e:
        raise UsageError(str(e)) from None
    data.update(status=res.kind, cost=res.cost, form=res.form, source=res.entry.source,
                rule=getattr(res.rule, "__qualname__", repr(res.rule)),
                steps=[str(s) for s in res.steps], wasteful=res.wasteful, message=str(res))
    return data


def explain(name: str, activity_names: Sequence[str], reg: RuleRegistry = registry,
            fmt: str = "text") -> tuple[str, int]:
    """The explanation of ``name`` called with these activities (``fmt``: ``"text"``
    or ``"json"``, see :func:`explain_data`), and an exit status: 0 resolved, 1
    ambiguous or unresolved. Raises :class:`UsageError` as :func:`explain_data`.

    >>> text, status = explain("numpy.linalg.solve", ["Const", "Duplicated"])
    >>> status, text.splitlines()[0]  # doctest: +ELLIPSIS
    (0, 'numpy.linalg.solve(Const, Duplicated) → rule `_solve` for (Annotation, Annotation) at ...')
    """
    data = explain_data(name, activity_names, reg)
    status = 1 if data["status"] in ("ambiguous", "unresolved") else 0
    if fmt == "json":
        return json.dumps(data, indent=1, ensure_ascii=False), status
    if data["status"] == "inactive":
        return data["message"], 0
    if status:
        return f"{data['status']}: {data['message']}\n{data['kinds_note']}", 1
    lines = [data["message"], data["kinds_note"],
             f"rule: {data['rule']} ({data['form']}), defined at {data['source']}"]
    if data["wasteful"]:
        lines.append("wasteful: a step may compute a cotangent that is discarded; a rule written for "
                     f"{format_activities(tuple(parse_activity(a) for a in data['activities']))} "
                     "would avoid it")
    return "\n".join(lines), 0
