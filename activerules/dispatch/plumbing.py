"""The plum adapter: which registered pattern is most specific for a request.

One ``plum.Function`` per primal function, registered with explicit signatures
(never plum's global dispatcher, no return annotations, no defaults), so plum's
quadratic registration stays small. Nothing else in activerules imports plum,
except :mod:`activerules.activity` for ``@parametric``.
"""

from __future__ import annotations

import typing
from typing import Any

import plum

from ..activity import Active, Annotation, Const, Duplicated, base_state
from .kinds import normalise_type

__all__ = ["ANY_NONBATCH", "PatternTable", "plum_type", "Ambiguous"]

#: what an ``Annotation`` pattern matches: every state but the batch ones
ANY_NONBATCH = typing.Union[Const, Active, Duplicated]


class Ambiguous(Exception):
    """Raised by :meth:`PatternTable.lookup` with the tied implementations."""

    def __init__(self, implementations: list[Any]) -> None:
        super().__init__(implementations)
        self.implementations = implementations


def plum_type(pattern: Any) -> Any:
    """The plum type of one pattern entry (``Annotation`` → any non-batch state;
    a parametrised class gets its primal type normalised)."""
    if pattern is Annotation:
        return ANY_NONBATCH
    if typing.get_origin(pattern) is typing.Union:
        return typing.Union[tuple(plum_type(p) for p in typing.get_args(pattern))]
    if not (isinstance(pattern, type) and issubclass(pattern, Annotation)):
        raise TypeError(f"a rule pattern entry must be an activity class such as ar.Duplicated or "
                        f"ar.Annotation, got {pattern!r}")
    if getattr(pattern, "_concrete", False):
        state: Any = base_state(pattern)
        return state[normalise_type(plum.type_parameter(pattern))]
    return pattern


def _stub(*args):  # type: ignore[no-untyped-def]  # plum reads annotations: keep none
    raise AssertionError("activerules never calls plum functions directly")


class PatternTable:
    """The patterns registered for one primal function."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._entries: list[tuple[Any, Any]] = []  # (implementation, plum Signature)
        self._rebuild()

    def _rebuild(self) -> None:
        _stub.__name__ = self._name
        self._fn = plum.Function(_stub)
        for impl, sig in self._entries:
            self._fn.register(impl, signature=sig)

    @staticmethod
    def signature(types: tuple[Any, ...], varargs: Any = None) -> Any:
        """The plum signature of a pattern."""
        plum_types = tuple(plum_type(t) for t in types)
        if varargs is None:
            return plum.Signature(*plum_types)
        return plum.Signature(*plum_types, varargs=plum_type(varargs))

    def find(self, signature: Any) -> Any:
        """The implementation registered for exactly ``signature``, or None."""
        for impl, sig in self._entries:
            if sig == signature:
                return impl
        return None

    def add(self, impl: Any, signature: Any) -> None:
        """Register ``impl`` for ``signature``, replacing an identical pattern."""
        replaced = [e for e in self._entries if e[1] == signature]
        self._entries = [e for e in self._entries if e[1] != signature] + [(impl, signature)]
        if replaced:
            self._rebuild()
        else:
            self._fn.register(impl, signature=signature)
        _ = self._fn.methods  # resolve pending registrations now, not at the first lookup

    def lookup(self, types: tuple[Any, ...]) -> Any:
        """The most specific implementation for concrete ``types``; None when nothing
        applies; raises :class:`Ambiguous` on a tie."""
        if not self._entries:
            return None
        target = plum.Signature(*types)
        try:
            impl, _ = self._fn.resolve_method(target)
        except plum.NotFoundLookupError:
            return None
        except plum.AmbiguousLookupError:
            matching = [(i, s) for i, s in self._entries if target <= s]
            minimal = [i for i, s in matching if not any(o < s for _, o in matching)]
            raise Ambiguous(minimal) from None
        return impl
