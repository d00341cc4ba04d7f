"""What the linear-algebra rule modules (:mod:`.products`, :mod:`.solves`,
:mod:`.decompositions`) share: their sample matrices, drawn from one seeded generator in
a fixed order (the same values whatever the modules' import order), and the transposes.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ._util import conj

_R = np.random.default_rng(7)
_A = _R.standard_normal((3, 4))
_B = _R.standard_normal((4, 2))
_V3, _V4 = _R.standard_normal(3), _R.standard_normal(4)
_SQ = _R.standard_normal((3, 3)) + 3 * np.eye(3)
_BATCH = _R.standard_normal((2, 3, 3)) + 3 * np.eye(3)
_SPD = _SQ @ _SQ.T + np.eye(3)
_CSQ = _SQ + 1j * _R.standard_normal((3, 3))
_HPD = _CSQ @ _CSQ.conj().T + np.eye(3)
_TALL = _R.standard_normal((5, 3))
_C34 = _A + 1j * _R.standard_normal((3, 4))
# solve's and lstsq's samples: drawn last, in the order of the one module these came from
_B232 = _R.standard_normal((2, 3, 2))
_B5, _B52 = _R.standard_normal(5), _R.standard_normal((5, 2))


def _mT(x: Any) -> Any:
    return np.swapaxes(x, -1, -2)


def _H(x: Any) -> Any:
    return conj(np.swapaxes(x, -1, -2))


def _seq(g: Any, n: int) -> list[Any]:
    """A multi-output cotangent as a list of ``n`` entries (``None`` for zero)."""
    return [None] * n if g is None else list(g)
