"""The coverage report's data: functions, their argument signatures, and one
classified row per admissible activity combination."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..plugins import PluginReport

__all__ = ["EXACT", "RRULE", "FALLBACK", "AMBIGUOUS", "UNRESOLVED", "STATUSES", "FAIL_CONDITIONS",
           "DEFAULT_FAIL_ON", "Combination", "Signature", "FunctionReport", "CoverageReport",
           "PASSED", "FAILED", "UNVERIFIED"]

# exact: a rule written for the combination (cost 0); rrule: served by the lifted
# all-active rrule (cost 10); fallback: other lattice steps
EXACT, RRULE, FALLBACK, AMBIGUOUS, UNRESOLVED = "exact", "rrule", "fallback", "ambiguous", "unresolved"
STATUSES = (EXACT, RRULE, FALLBACK, AMBIGUOUS, UNRESOLVED)

#: what ``--fail-on`` accepts, and its default. ``unknown``: a function whose
#: combinations could not be enumerated; ``unverified``: under ``--verify``, a
#: combination with neither sample inputs nor generated ones it could be checked on
FAIL_CONDITIONS = ("unresolved", "ambiguous", "unknown", "wasteful", "failed", "unverified")
DEFAULT_FAIL_ON = ("unresolved", "ambiguous", "unknown", "failed", "unverified")

# verification outcomes of one combination (None: --verify was not asked for)
PASSED, FAILED, UNVERIFIED = "passed", "failed", "unverified"


@dataclass
class Combination:
    """One admissible activity combination of a function and how the registry serves it.

    ``status`` is one of :data:`STATUSES`; ``rule``/``source``/``form``/``cost``/``steps``
    describe the resolution (None/empty when unresolved or ambiguous); ``message`` is the
    registry's error for ambiguous and unresolved combinations, ``candidates`` the tied
    rules of an ambiguity; ``verified`` is None, ``"passed"``, ``"failed"`` or
    ``"unverified"``, with ``verify_message`` the failure report or why it could not run.

    >>> from activerules.coverage import build_report
    >>> c = build_report(names=["numpy.linalg.solve"], plugins=False).functions[0].combinations[0]
    >>> c.label, c.status, c.cost, c.rule
    ('(Const, Duplicated)', 'exact', 0, '_solve')
    """

    activities: tuple[type, ...]
    returns: str | None
    status: str
    wasteful: bool = False
    cost: int | None = None
    form: str | None = None
    rule: str | None = None
    source: str | None = None
    steps: tuple[str, ...] = ()
    message: str | None = None
    candidates: tuple[str, ...] = ()
    verified: str | None = None
    verify_message: str | None = None

    @property
    def names(self) -> tuple[str, ...]:
        """The activity class names: ``("Const", "Duplicated")``."""
        return tuple(a.__name__ for a in self.activities)

    @property
    def label(self) -> str:
        """``(Const, Duplicated)``."""
        return "(" + ", ".join(self.names) + ")"

    def severity(self) -> tuple[int, int]:
        """Sort key, worst first: unresolved, ambiguous, failed, wasteful, costly, exact."""
        rank = {UNRESOLVED: 0, AMBIGUOUS: 1}.get(self.status)
        if rank is None:
            rank = 2 if self.verified in (FAILED, UNVERIFIED) else 3 if self.wasteful else \
                4 if self.status in (FALLBACK, RRULE) else 5
        return rank, -(self.cost or 0)


@dataclass
class Signature:
    """One argument-kind tuple of a function (``("array", "scalar")``), where it
    came from (``"samples"``, or the sources joined by ``+``: ``"patterns"``,
    ``"annotations"``, ``"enumerated"`` for positions nothing tells, enumerated
    under each kind), the kind of its output when known, its sample inputs (or
    inputs the inspector generated), and its classified combinations.

    >>> from activerules.coverage import build_report
    >>> sig = build_report(names=["numpy.linalg.solve"], plugins=False).functions[0].signatures[0]
    >>> sig.kinds, sig.kinds_from, sig.output
    (('array', 'array'), 'samples', 'array')
    """

    kinds: tuple[str, ...]
    kinds_from: str
    output: str | None
    samples: list[Any] = field(default_factory=list)
    combinations: list[Combination] = field(default_factory=list)
    generated: Any = None

    def counts(self) -> dict[str, int]:
        """Combinations per status, plus ``wasteful`` and ``failed``."""
        return _count(self.combinations)


@dataclass
class FunctionReport:
    """Everything the inspector found out about one registered function.

    >>> from activerules.coverage import build_report
    >>> f = build_report(names=["numpy.linalg.solve"], plugins=False).functions[0]
    >>> f.name, f.inactive, f.unknown, f.counts()["exact"]
    ('numpy.linalg.solve', False, False, 3)
    """

    name: str
    function: Any
    entries: list[str]
    inactive: bool = False
    signatures: list[Signature] = field(default_factory=list)
    note: str | None = None
    unknown: bool = False  # its combinations could not be enumerated

    @property
    def combinations(self) -> list[Combination]:
        """Every combination of every signature."""
        return [c for s in self.signatures for c in s.combinations]

    def counts(self) -> dict[str, int]:
        """Combinations per status, plus ``wasteful`` and ``failed``."""
        return _count(self.combinations)


@dataclass
class CoverageReport:
    """A whole run: the selected functions, the modules named, the plugins loaded.

    >>> from activerules.coverage import build_report
    >>> report = build_report(names=["numpy.linalg.solve"], plugins=False)
    >>> report.counts()["functions"], report.problems(("wasteful",))
    (1, {})
    """

    functions: list[FunctionReport]
    modules: list[str] = field(default_factory=list)
    plugins: PluginReport = field(default_factory=PluginReport)
    verified: bool = False

    def counts(self) -> dict[str, int]:
        """Totals over every function: combinations per status, ``wasteful``,
        ``failed``, ``passed``, plus ``functions``, ``inactive`` and ``unknown``
        (functions whose argument kinds could not be told)."""
        counts = _count([c for f in self.functions for c in f.combinations])
        counts["functions"] = len(self.functions)
        counts["inactive"] = sum(f.inactive for f in self.functions)
        counts["unknown"] = sum(f.unknown for f in self.functions)
        return counts

    def problems(self, fail_on: tuple[str, ...] = DEFAULT_FAIL_ON) -> dict[str, int]:
        """The conditions of ``fail_on`` that occur, with how often (empty: success)."""
        counts = self.counts()
        return {cond: counts[cond] for cond in fail_on if counts.get(cond)}


def _count(combinations: list[Combination]) -> dict[str, int]:
    counts = dict.fromkeys(STATUSES, 0)
    counts.update(wasteful=0, failed=0, passed=0, unverified=0, combinations=len(combinations))
    for c in combinations:
        counts[c.status] += 1
        counts["wasteful"] += c.wasteful
        counts["failed"] += c.verified == FAILED
        counts["passed"] += c.verified == PASSED
        counts["unverified"] += c.verified == UNVERIFIED
    return counts
