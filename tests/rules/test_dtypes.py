"""dtype policy of the built-in rules: float32 inputs get float32 cotangents,
complex inputs complex ones, real inputs real ones, integers none."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import activerules as ar
from activerules.dispatch.lifting import unthunk
from activerules.dispatch.rule_registry import RuleRegistry

REGISTRY: RuleRegistry = ar.registry


def _single(v: Any) -> Any:
    if isinstance(v, np.ndarray) and v.dtype == np.float64:
        return v.astype(np.float32)
    if isinstance(v, list) and v and all(isinstance(e, np.ndarray) for e in v):
        return [_single(e) for e in v]
    return v


def _seed(y: Any) -> Any:
    if isinstance(y, tuple):
        return tuple(_seed(e) for e in y)
    if isinstance(y, list):
        return [_seed(e) for e in y]
    a = np.asarray(y)
    if a.dtype.kind not in "fc":
        return None
    s = np.ones_like(a)
    return s if isinstance(y, np.ndarray) else s[()]


def _rrule_cases() -> list[Any]:
    cases = []
    for fn in REGISTRY.functions():
        impl = next((e.impl for e in REGISTRY.entries(fn) if e.form == "rrule"), None)
        if impl is None or not (getattr(impl, "__module__", "") or "").startswith("activerules.rules"):
            continue
        for k, s in enumerate(REGISTRY.samples(fn)):
            if any(isinstance(a, np.ndarray) and a.dtype == np.float64 for a in s.args):
                cases.append(pytest.param(fn, impl, s, id=f"{getattr(fn, '__name__', fn)}-{k}"))
    return cases


@pytest.mark.parametrize(("fn", "impl", "sample"), _rrule_cases())
def test_float32_in_float32_cotangent_out(fn: Any, impl: Any, sample: Any) -> None:
    args = [_single(a) for a in sample.args]
    y, pullback = impl(*args, **sample.kwargs)
    cots = pullback(_seed(y))
    assert len(cots) == len(args)
    for a, c in zip(args, cots):
        c = unthunk(c)
        if c is None:
            continue
        parts = zip(a, c) if isinstance(a, list) else [(a, c)]
        for ai, ci in parts:
            if not isinstance(ai, (np.ndarray, float, complex)):
                continue
            expected = np.result_type(ai) if isinstance(ai, np.ndarray) else np.result_type(type(ai))
            if expected.kind in "fc":
                assert np.asarray(ci).dtype == expected, f"cotangent {np.asarray(ci).dtype} for a {expected} input"
                assert np.shape(ci) == np.shape(ai)


def test_integer_arguments_get_no_cotangent() -> None:
    impl = next(e.impl for e in REGISTRY.entries(np.power) if e.form == "rrule")
    y, pullback = impl(np.array([1.5, 2.0]), np.array([2, 3]))
    xbar, nbar = (unthunk(c) for c in pullback(np.ones(2)))
    assert xbar.dtype == np.float64 and nbar is None
