"""Plugin discovery: rule packages announce themselves through an entry point.

A rule package declares, in its ``pyproject.toml``::

    [project.entry-points."activerules.rules"]
    mypkg = "mypkg.rules"

and :func:`load_plugins` imports ``mypkg.rules``, which registers its rules on
import. A plugin that fails to import is reported (name, entry point, error)
and the others still load.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from importlib.metadata import EntryPoint, entry_points

__all__ = ["ENTRY_POINT_GROUP", "PluginFailure", "PluginReport", "load_plugins"]

#: the entry-point group rule packages register under
ENTRY_POINT_GROUP = "activerules.rules"


@dataclass(frozen=True)
class PluginFailure:
    """A plugin whose entry point could not be loaded."""

    name: str
    value: str
    error: str

    def __str__(self) -> str:
        return f"plugin {self.name!r} ({self.value}) failed to import: {self.error}"


@dataclass
class PluginReport:
    """What :func:`load_plugins` did: the entry points loaded and those that failed."""

    loaded: list[str] = field(default_factory=list)
    failed: list[PluginFailure] = field(default_factory=list)


def _entry_points(group: str) -> list[EntryPoint]:
    """The group's entry points, one per (name, value), sorted by name."""
    unique = {(ep.name, ep.value): ep for ep in entry_points(group=group)}
    return [unique[key] for key in sorted(unique)]


def load_plugins(group: str = ENTRY_POINT_GROUP, *, warn: bool = True) -> PluginReport:
    """Import every installed rule package (entry-point group ``activerules.rules``).

    Returns a :class:`PluginReport`. A plugin that raises on import is recorded in
    ``report.failed`` (and, with ``warn=True``, announced with a ``RuntimeWarning``);
    the remaining plugins still load. Loading twice is harmless: modules are imported once.

    >>> report = load_plugins(warn=False)
    >>> sorted(vars(report))
    ['failed', 'loaded']
    """
    report = PluginReport()
    for ep in _entry_points(group):
        try:
            ep.load()
        except Exception as e:  # a broken plugin must not stop the others
            failure = PluginFailure(ep.name, ep.value, f"{type(e).__name__}: {e}")
            report.failed.append(failure)
            if warn:
                warnings.warn(str(failure), RuntimeWarning, stacklevel=2)
        else:
            report.loaded.append(ep.name)
    return report
