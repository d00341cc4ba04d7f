"""The fallback lattice: what to try, at what cost, when no rule matches a request.

For a request (one activity class per argument) the planner enumerates
candidate patterns, cheapest first:

1. the request itself (plum finds an exact or more general pattern; a
   ``DuplicatedNoNeed`` argument served by a ``Duplicated`` pattern costs
   :data:`NONEED_COST`);
2. per-argument widenings: ``Const`` → ``Duplicated`` with a scratch zero shadow
   (arrays), ``Const`` → ``Active`` with the cotangent discarded (scalars), and
   a batch request served by a width-1 rule: once on stacked lanes for a rule
   registered ``batched=True`` (:data:`STACKED_COST`), else lane by lane;
3. the function's all-active ``rrule``, lifted (:data:`RRULE_COST`).

The cheapest total wins; the costs are the work each step wastes.
"""

from __future__ import annotations

import itertools
import typing
from dataclasses import dataclass
from typing import Any, Iterator

from ..activity import (
    Active,
    ActivityError,
    BatchDuplicatedNoNeed,
    Const,
    Duplicated,
    DuplicatedNoNeed,
    base_state,
    is_batch,
)
from .kinds import ADMISSIBLE, ARRAY, SCALAR, STATIC, normalise_type
from .lanes import unbatched_activities

__all__ = ["Step", "Candidate", "plan_patterns", "admissible_requests", "check_admissible",
           "NONEED_COST", "CONST_TO_ACTIVE_COST", "CONST_TO_DUPLICATED_COST", "LANES_COST",
           "STACKED_COST", "RRULE_COST", "concrete", "noneed_steps", "stacked_steps"]

NONEED_COST = 1             # the rule computes a primal value nobody reads
CONST_TO_ACTIVE_COST = 1    # a scalar cotangent is computed and dropped
CONST_TO_DUPLICATED_COST = 2  # a scratch shadow is allocated and an array cotangent dropped
LANES_COST = 2              # the reverse pass runs once per lane
STACKED_COST = 1            # lanes stacked into one array and back (a rule for the batch request wins)
RRULE_COST = 10             # all cotangents formed, then dropped / returned / accumulated


@dataclass(frozen=True)
class Step:
    """One widening step of a resolution: which argument (None: the whole call),
    what changes, its cost, and whether it computes a cotangent that is discarded.

    >>> str(Step(1, "Const → Active, cotangent discarded", 1, True))
    'arg 1: Const → Active, cotangent discarded (+1, wasteful)'
    """

    arg: int | None
    change: str
    cost: int
    wasteful: bool

    def __str__(self) -> str:
        where = "call" if self.arg is None else f"arg {self.arg}"
        flag = ", wasteful" if self.wasteful else ""
        return f"{where}: {self.change} (+{self.cost}{flag})"


@dataclass(frozen=True)
class Candidate:
    """A pattern to look up: the activities the rule will see, and the steps taken."""

    activities: tuple[type, ...]
    lanes: bool
    steps: tuple[Step, ...]

    @property
    def cost(self) -> int:
        return sum(s.cost for s in self.steps)


_PARAMETRISED: dict[tuple[type, Any], type] = {}


def concrete(state: type, primal_type: Any) -> type:
    """``state[primal_type]``, memoised (plum's ``__getitem__`` costs ~1 µs)."""
    key = (state, primal_type)
    cls = _PARAMETRISED.get(key)
    if cls is None:
        cls = _PARAMETRISED[key] = state[normalise_type(primal_type)]  # type: ignore[index]
    return cls


def check_admissible(fname: str, activities: tuple[type, ...], kinds: tuple[str, ...] | None) -> None:
    """Raise :class:`ActivityError` for a request that cannot exist (Active array,
    Duplicated float, batch mixed with non-batch Duplicated)."""
    states = [base_state(a) for a in activities]
    if any(is_batch(s) for s in states) and any(s in (Duplicated, DuplicatedNoNeed) for s in states):
        raise ActivityError(f"{fname}{_fmt(activities)}: a request never mixes batch and non-batch "
                            "Duplicated states; use BatchDuplicated for every active array")
    if kinds is None:
        return
    for i, (s, k) in enumerate(zip(states, kinds)):
        if s not in ADMISSIBLE[k]:
            hint = {ARRAY: "arrays take Const or the Duplicated family",
                    SCALAR: "numbers take Const or Active",
                    STATIC: "integers, booleans and other non-differentiable values take Const"}[k]
            article = "an" if k == ARRAY else "a"
            raise ActivityError(f"{fname}{_fmt(activities)}: argument {i} is {s.__name__}, "
                                f"which {article} {k} primal cannot be: {hint}")


def _fmt(activities: tuple[type, ...]) -> str:
    return "(" + ", ".join(base_state(a).__name__ for a in activities) + ")"


def _const_options(i: int, kind: str | None) -> list[tuple[type, Step | None]]:
    options: list[tuple[type, Step | None]] = [(Const, None)]
    if kind in (SCALAR, None):
        options.append((Active, Step(i, "Const → Active, cotangent discarded",
                                     CONST_TO_ACTIVE_COST, True)))
    if kind in (ARRAY, None):
        options.append((Duplicated, Step(i, "Const → Duplicated with a scratch zero shadow, "
                                            "cotangent discarded", CONST_TO_DUPLICATED_COST, True)))
    return options


def plan_patterns(activities: tuple[type, ...], kinds: tuple[str, ...] | None) -> Iterator[Candidate]:
    """Every candidate pattern for a request (unordered; the registry sorts by cost)."""
    requests: list[tuple[tuple[type, ...], bool, tuple[Step, ...]]] = [
        (tuple(base_state(a) for a in activities), False, ())]
    if any(is_batch(r) for r in requests[0][0]):
        requests.append((unbatched_activities(requests[0][0]), True,
                         (Step(None, "BatchDuplicated → Duplicated, reverse once per lane",
                               LANES_COST, False),)))
    for acts, lanes, base_steps in requests:
        per_arg = [_const_options(i, None if kinds is None else kinds[i]) if a is Const else [(a, None)]
                   for i, a in enumerate(acts)]
        for combo in itertools.product(*per_arg):
            steps = base_steps + tuple(s for _, s in combo if s is not None)
            yield Candidate(tuple(a for a, _ in combo), lanes, steps)


_STACKED = "BatchDuplicated → Duplicated, lanes stacked on a leading axis, one reverse"


def stacked_steps(steps: tuple[Step, ...]) -> tuple[Step, ...]:
    """The steps of a resolution whose width-1 rule (registered ``batched=True``) serves a
    batch request once on stacked lanes: the per-lane step replaced (or, for a lifted
    rrule, added at no cost: its lanes would not cost more one by one).

    >>> [str(s) for s in stacked_steps((Step(None, "lifted all-active rrule", 10, False),))][1]
    'call: BatchDuplicated → Duplicated, lanes stacked on a leading axis, one reverse (+0)'
    """
    if steps and steps[0].change.endswith("reverse once per lane"):
        return (Step(None, _STACKED, STACKED_COST, False), *steps[1:])
    return (*steps, Step(None, _STACKED, 0, False))


def noneed_steps(requested: tuple[type, ...], pattern_types: tuple[Any, ...], varargs: Any) -> tuple[Step, ...]:
    """Steps for NoNeed arguments served by a pattern that does not name NoNeed."""
    steps = []
    for i, a in enumerate(requested):
        if not issubclass(a, (DuplicatedNoNeed, BatchDuplicatedNoNeed)):
            continue
        ptype = pattern_types[i] if i < len(pattern_types) else varargs
        if not _names_noneed(ptype):
            served = "BatchDuplicated" if issubclass(a, BatchDuplicatedNoNeed) else "Duplicated"
            steps.append(Step(i, f"{a.__name__} → {served}, primal value computed though not needed",
                              NONEED_COST, False))
    return tuple(steps)


def _names_noneed(ptype: Any) -> bool:
    members = typing.get_args(ptype) if typing.get_origin(ptype) is typing.Union else (ptype,)
    return any(isinstance(m, type) and issubclass(m, (DuplicatedNoNeed, BatchDuplicatedNoNeed)) for m in members)


def admissible_requests(kinds: tuple[str, ...]) -> Iterator[tuple[type, ...]]:
    """Every admissible activity tuple for arguments of the given kinds: all states
    allowed per kind, at least one non-Const, never batch mixed with non-batch.

    >>> [tuple(a.__name__ for a in acts) for acts in admissible_requests(("scalar", "static"))]
    [('Active', 'Const')]
    """
    for combo in itertools.product(*(ADMISSIBLE[k] for k in kinds)):
        if all(a is Const for a in combo):
            continue
        if any(is_batch(a) for a in combo) and any(a in (Duplicated, DuplicatedNoNeed) for a in combo):
            continue
        yield combo
