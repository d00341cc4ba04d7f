"""Sharing and aliasing: escaped stand-ins, views made before a rule captured a
constant or before the call, rrules returning views they keep, the same array
passed twice. Oracles: central finite differences, JAX."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import activerules as ar
from engine_helpers import fd_grad

# -- a stand-in that escapes autodiff is detached afterwards ---------------------------------

ESCAPED: list[Any] = []


def _escapes(x: Any) -> Any:
    ESCAPED.append(x)
    ESCAPED.append(x[1:])
    return (3.0 * x).sum()  # a linear function: nothing pins x


def _escapes_after_writing(x: Any) -> Any:
    x *= 2.0
    return _escapes(x)


@pytest.mark.parametrize("f", [_escapes, _escapes_after_writing])
def test_an_escaped_stand_in_no_longer_writes_into_the_caller_array(f: Any) -> None:
    ESCAPED.clear()
    x, dx = np.array([1.0, 2.0, 3.0]), np.zeros(3)
    ar.autodiff(f, ar.Duplicated(x, dx))
    after = x.copy()
    whole, tail = ESCAPED
    try:
        whole[0] = 100.0
        tail[0] = 200.0
        whole *= 3.0
    except ar.ActiveRulesError as e:  # an error on use that says it escaped is fine too
        assert "escaped" in str(e)
    np.testing.assert_array_equal(x, after)
    ESCAPED.clear()


def test_an_escaped_stand_in_of_a_closure_no_longer_writes() -> None:
    x, dx = np.array([1.0, 2.0, 3.0]), np.zeros(3)
    keep: dict[str, Any] = {}

    def f(x: Any) -> Any:
        keep["setter"] = lambda v: x.__setitem__(0, v)
        return (x * 2.0).sum()

    ar.autodiff(f, ar.Duplicated(x, dx))
    try:
        keep["setter"](-5.0)
    except ar.ActiveRulesError as e:
        assert "escaped" in str(e)
    np.testing.assert_array_equal(x, [1.0, 2.0, 3.0])
    np.testing.assert_allclose(dx, fd_grad(lambda v: (v * 2.0).sum(), np.array([1.0, 2.0, 3.0])))
