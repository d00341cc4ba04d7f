"""Framework adapters only: the rrule lifting and batch lanes are lattice steps and live in
:mod:`activerules.dispatch.lifting` and :mod:`activerules.dispatch.lanes`. Engines: :mod:`.jax`, :mod:`.torch`, :mod:`.autograd`, each importing
its engine only when used, so ``from activerules.adapters import to_jax`` costs nothing
until it is called and ``import activerules`` imports none of them. ``batched`` is
:func:`activerules.adapters.jax.batched` (a partitioning for ``to_jax``).
"""

from __future__ import annotations

import importlib
from typing import Any

_ENGINE_ADAPTERS = {"to_jax": "jax", "to_torch": "torch", "to_autograd": "autograd", "batched": "jax"}

__all__ = list(_ENGINE_ADAPTERS)


def __getattr__(name: str) -> Any:
    module = _ENGINE_ADAPTERS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f".{module}", __name__), name)
