"""Errors of rule lookup and registration."""

from __future__ import annotations

from typing import Any, Sequence

from ..activity import ActiveRulesError


class RuleLookupError(ActiveRulesError, LookupError):
    """No single rule serves a request; see the two subclasses. ``candidates``:
    the tied rules (:class:`~activerules.dispatch.RuleEntry`) of an ambiguity.

    >>> issubclass(NoRuleError, RuleLookupError), issubclass(RuleLookupError, LookupError)
    (True, True)
    """

    def __init__(self, message: str, candidates: Sequence[Any] = ()) -> None:
        super().__init__(message)
        self.candidates = list(candidates)


class NoRuleError(RuleLookupError):
    """Nothing registered serves the requested (function, activity tuple).

    >>> import activerules as ar
    >>> def f(x): return x
    >>> ar.RuleRegistry().resolve(f, (ar.Duplicated,))
    Traceback (most recent call last):
    ...
    activerules.dispatch.errors.NoRuleError: no rule for ...f(Duplicated): nothing is registered ...
    """


class AmbiguousRuleError(RuleLookupError):
    """Two or more different rules serve a request at the same lowest cost.

    >>> import activerules as ar
    >>> reg = ar.RuleRegistry()
    >>> def add(x, y): return x + y
    >>> _ = reg.rule(add, ar.Duplicated, ar.Annotation)(lambda cfg, x, y: (x.val + y.val, lambda g: None))
    >>> _ = reg.rule(add, ar.Annotation, ar.Duplicated)(lambda cfg, x, y: (x.val + y.val, lambda g: None))
    >>> reg.resolve(add, (ar.Duplicated, ar.Duplicated))
    Traceback (most recent call last):
    ...
    activerules.dispatch.errors.AmbiguousRuleError: ...add(Duplicated, Duplicated) is ambiguous...
    """


class RegistrationError(ActiveRulesError, ValueError):
    """A rule registration that cannot be accepted: a duplicate, an rrule for an
    in-place function, a rule in ``ar.registry`` for a plain Python function.

    >>> import numpy as np, activerules as ar
    >>> ar.rrule(np.sin)(lambda x: (np.sin(x), lambda g: (g * np.cos(x),)))
    Traceback (most recent call last):
    ...
    activerules.dispatch.errors.RegistrationError: numpy.sin: already has rrule ...; pass override=True to replace it
    """
