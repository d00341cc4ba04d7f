"""NumPy functions with no derivative: their outputs are integer or boolean,
or do not depend on the values of their array arguments (shape queries,
``zeros_like``).  Engines call them on the primal values and record nothing.

Piecewise-constant functions with *float* output (``floor``, ``sign``, ...)
are not here: they have zero-derivative rules in :mod:`.elementwise` so that
their outputs stay tracked arrays. Nor is any function with a float output
that a float argument moves: ``bincount``'s and the histograms' weights (and
their bin edges) have rules in :mod:`.histograms`.
``tests/rules/test_inactive_audit.py`` probes every function declared here on
float inputs and fails if a float output moves with them.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..dispatch import inactive

__all__ = ["INACTIVE"]

_NAMES = (
    # comparisons and predicates (boolean output)
    "greater", "greater_equal", "less", "less_equal", "equal", "not_equal",
    "logical_and", "logical_or", "logical_xor", "logical_not",
    "isfinite", "isinf", "isnan", "isnat", "signbit", "isposinf", "isneginf",
    "isclose", "allclose", "array_equal", "array_equiv", "iscomplex", "isreal",
    "iscomplexobj", "isrealobj", "isin", "any", "all",
    # integer/bitwise ufuncs
    "bitwise_and", "bitwise_or", "bitwise_xor", "invert", "left_shift", "right_shift", "gcd", "lcm",
    # indices and counts (integer output; bincount with weights is float: see .histograms)
    "argmax", "argmin", "nanargmax", "nanargmin", "argsort", "argpartition", "lexsort",
    "nonzero", "flatnonzero", "argwhere", "searchsorted", "digitize", "count_nonzero",
    "unravel_index", "ravel_multi_index", "tril_indices_from", "triu_indices_from", "diag_indices_from",
    # shape and memory queries; constructors that read only the shape/dtype
    "shape", "ndim", "size", "may_share_memory", "shares_memory", "result_type", "min_scalar_type",
    "zeros_like", "ones_like", "empty_like",
)

#: The functions declared inactive, in declaration order.
INACTIVE: tuple[Any, ...] = tuple(dict.fromkeys(getattr(np, n) for n in _NAMES if hasattr(np, n)))

for _fn in INACTIVE:
    inactive(_fn)
