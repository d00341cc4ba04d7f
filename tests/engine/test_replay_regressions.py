"""Disagreements between a replay and the eager engine found by the random-program
fuzzer (replay mode), each shrunk to a minimal program. The oracle is the eager
engine on the same inputs, bit for bit."""

from __future__ import annotations

import numpy as np

import activerules as ar
from activerules.engine.program import same


def _vjp_twice(f, x1, s0, cot):
    y, pullback = ar.vjp(f, ar.Const(x1.copy()), s0)
    pullback(cot)
    return y, pullback(cot)  # the second call starts from zero shadows again


def test_promoted_constant_returned_as_the_result():
    """An undifferentiated argument promoted by an active write (runtime activity) and
    returned: the replay's stand-in of it must be promoted too, or the cotangent seeded
    into it is lost (the pullback gave 0.0 for s0 on every replay)."""
    def f(x1, s0):
        x1[[1, 2, 1]] += s0
        return (x1,)

    replayed = ar.replay(f)
    cot = (np.array([1.0, 2.0, 3.0, 4.0]),)
    for d in range(3):
        x1, s0 = np.array([1.0, 2.0, 3.0, 4.0]) + d, 0.5 + d
        (y_e,), (none_e, ds_e) = _vjp_twice(f, x1, s0, cot)
        (y_r,), (none_r, ds_r) = _vjp_twice(replayed, x1, s0, cot)
        assert same(y_r, y_e) and none_r is none_e is None and same(ds_r, ds_e)
    assert replayed.cache_info().hits == 2


def test_warnings_of_the_recording_call_reach_the_caller():
    """A warning a call issues while the function records reaches the caller's filters
    and handler, as on an eager call (the recording watched it and swallowed it)."""
    import warnings

    def f(x, c):
        return np.where(c != 0, x / c, 0.0).sum()  # x / c warns: divide by zero

    def warned(fn):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            ar.gradient(fn, np.ones(3), np.array([1.0, 0.0, 2.0]))
        return [(w.category, str(w.message)) for w in caught]

    replayed = ar.replay(f)
    eager = warned(f)
    assert eager and warned(replayed) == eager  # the recording call
    assert warned(replayed) == eager  # a replay
    assert replayed.cache_info().hits == 1
