"""Donated output cotangents: the protocol between the engine's sweep and the rules.

When the sweep calls a reverse with an output cotangent ``g`` it never reads again
(and that is large), it runs it inside ``donating(g)``; a rule asking ``donated(g)``
may then compute its cotangent in ``g``'s buffer instead of a fresh one. Adapters and
``check_rule`` never donate. Rules import this module (the one engine module they may
import: tests/test_architecture.py); ``activity.py`` stays the author's interface.
"""

from __future__ import annotations

import threading
from typing import Any

__all__ = ["donated", "donating", "DONATE_MIN"]

#: Engines donate output cotangents of at least this many elements; below it a fresh
#: buffer is cheap and writing into ``g`` would not pay for the check.
DONATE_MIN = 1 << 16

class _Donation(threading.local):
    g: Any = None  # per thread; the class attribute is the default (no AttributeError to raise)


_donation = _Donation()


def donated(g: Any) -> bool:
    """Whether the engine running this reverse gives the output cotangent ``g`` away:
    the rule may then compute its cotangent in ``g``'s buffer and return ``g`` (no
    fresh allocation). Only an engine that never reads ``g`` again says so, for arrays
    of at least :data:`DONATE_MIN` elements; adapters and ``check_rule`` never do.

    >>> import numpy as np
    >>> def pullback(g):
    ...     if donated(g):
    ...         np.multiply(g, 2.0, out=g)
    ...         return (g,)
    ...     return (g * 2.0,)
    """
    return _donation.g is g


class donating:
    """``with donating(g): reverse(g)``: the engine's side of :func:`donated`, for the
    current thread (a rule that runs a nested differentiation sees its own).

    >>> import numpy as np
    >>> g = np.zeros(3)
    >>> with donating(g):
    ...     donated(g), donated(g.copy())
    (True, False)
    """

    __slots__ = ("g", "outer")

    def __init__(self, g: Any) -> None:
        self.g = g

    def __enter__(self) -> None:
        self.outer = _donation.g
        _donation.g = self.g

    def __exit__(self, *exc: Any) -> None:
        _donation.g = self.outer
