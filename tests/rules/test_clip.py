"""``np.clip`` and ``x.clip`` with either spelling of the bounds: NumPy 2's
``min=``/``max=`` keywords or ``a_min``/``a_max`` (by position or keyword)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from engine_helpers import assert_gradient_matches_fd

from activerules.engine import gradient

X = np.array([-1.3, -0.4, 0.25, 0.8, 1.7])
W = np.arange(1.0, 6.0)


CLIPS: dict[str, Callable[[Any], Any]] = {
    "max": lambda x: np.clip(x, max=1.0),
    "min": lambda x: np.clip(x, min=0.0),
    "min_max": lambda x: np.clip(x, min=-0.5, max=0.5),
    "array_max": lambda x: np.clip(x, max=np.array([0.0, 0.0, 1.0, 0.5, 2.0])),
    "method_max": lambda x: x.clip(max=1.0),
    "method_min": lambda x: x.clip(min=0.0),
    "a_min_a_max": lambda x: np.clip(x, a_min=-0.5, a_max=1.0),
    "positional": lambda x: np.clip(x, -0.5, 1.0),
    "positional_none": lambda x: np.clip(x, None, 1.0),
    "active_bound": lambda x: np.clip(x[1:], x[:1], 1.0),  # a positional bound is differentiated
}


@pytest.mark.skipif(np.lib.NumpyVersion(np.__version__) < "2.1.0", reason="min=/max= need NumPy >= 2.1")
@pytest.mark.parametrize("name", sorted(CLIPS))
def test_clip_gradient_matches_finite_differences(name: str) -> None:
    def f(x: Any) -> Any:
        y = CLIPS[name](x)
        return (y * W[: y.size]).sum()

    assert_gradient_matches_fd(f, X)


@pytest.mark.skipif(np.lib.NumpyVersion(np.__version__) < "2.1.0", reason="min=/max= need NumPy >= 2.1")
@pytest.mark.parametrize("call", [lambda x: np.clip(x, 0.0, 1.0, max=2.0), lambda x: np.clip(x, 0.0, max=1.0)],
                         ids=["both_spellings", "a_min_without_a_max"])
def test_clip_refuses_what_numpy_refuses_with_numpys_error(call: Callable[[Any], Any]) -> None:
    with pytest.raises((TypeError, ValueError)) as expected:
        call(X)
    with pytest.raises(expected.type, match=f"^{re.escape(str(expected.value))}$"):
        gradient(lambda x: call(x).sum(), X.copy())


LO = np.array([-2.0, 0.5, 0.0, 1.2, 2.0])  # above HI at the last two entries: NumPy returns HI there
HI = np.array([1.0, 1.0, 0.1, 1.0, 1.5])


@pytest.mark.parametrize("wrt", ["a", "a_min", "a_max"])
def test_clip_with_crossed_bounds_sends_the_cotangent_to_a_max(wrt: str) -> None:
    """np.clip is minimum(maximum(a, a_min), a_max): where a_min > a_max the output is
    a_max whatever a is (the rule used to send the cotangent to a_min there)."""
    args = {"a": X, "a_min": LO, "a_max": HI}

    def f(v: Any) -> Any:
        return (np.clip(*[v if k == wrt else args[k] for k in ("a", "a_min", "a_max")]) * W).sum()

    assert_gradient_matches_fd(f, args[wrt])
