"""The user-facing engine API: ``autodiff``, ``gradient``, ``vjp``, ``primitive``.

Each lives in its own module: :mod:`.enzyme_api` (``autodiff``), :mod:`.functional`
(``gradient``, ``vjp``), :mod:`.primitives` (``primitive``); they share :mod:`.inputs`
(the arguments turned into stand-ins), :mod:`.run` (one forward pass), :mod:`.checks`
(results and cotangents) and :mod:`.forward` (the collector's pause, the swapped
constructors).
"""

from __future__ import annotations

from .checks import primal_of
from .enzyme_api import autodiff
from .forward import GC_PAUSE_BOUND, no_gc, sequence_constructors
from .functional import gradient, vjp
from .primitives import primitive

__all__ = ["autodiff", "gradient", "vjp", "primitive",
           "GC_PAUSE_BOUND", "no_gc", "primal_of", "sequence_constructors"]
