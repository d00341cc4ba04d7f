"""Errors of rule lookup and registration."""

from __future__ import annotations

from typing import Any, Sequence

from ..activity import ActiveRulesError


class RuleLookupError(ActiveRulesError, LookupError):
    """No single rule serves a request; see the two subclasses. ``candidates``:
    the tied rules (:class:`~activerules.dispatch.RuleEntry`) of an ambiguity."""

    def __init__(self, message: str, candidates: Sequence[Any] = ()) -> None:
        super().__init__(message)
        self.candidates = list(candidates)


class NoRuleError(RuleLookupError):
    """Nothing registered serves the requested (function, activity tuple)."""


class AmbiguousRuleError(RuleLookupError):
    """Two or more different rules serve a request at the same lowest cost."""


class RegistrationError(ActiveRulesError, ValueError):
    """A rule registration that cannot be accepted (e.g. a duplicate pattern)."""
