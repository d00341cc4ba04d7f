"""Keyword honesty: every parameter of every NumPy function with a rule is either
implemented by the rule (declared with ``params=``, and exercised with a non-default
value by a sample or a named test) or refused by name (ParameterError), never
silently ignored. Regression tests for the parameters rules used to ignore."""

from __future__ import annotations

import importlib
import operator
from typing import Any

import numpy as np
import pytest

import activerules as ar
from activerules.dispatch.params import check_call, is_default, signature_of
from activerules.testing import check_rule

from .test_numpy_rules import DIFFERENTIABLE, _name

REGISTRY = ar.registry
#: implemented for every function by the engine itself, never by a rule: ``out=`` is
#: popped by the engine and written with its checks (tests/engine/test_outputs.py)
ENGINE = {"out"}
#: declared parameters of ufuncs (and their outer products) exercised by a test rather
#: than a sample: check_rule cannot run them, a ufunc's where= leaves masked outputs
#: uninitialised. Every elementwise rule masks its cotangent the same way (_util.masked).
ELSEWHERE: dict[str, str] = {
    "where": "tests.rules.test_ufunc_where::test_gradient_is_finite_and_exact_where_the_mask_is_false",
    "dtype": "tests.rules.test_keyword_honesty::test_ufunc_dtype_matches_finite_differences",
}


def _elsewhere(fn: Any) -> set[str]:
    owner = getattr(fn, "__self__", None)
    return set(ELSEWHERE) if isinstance(fn, np.ufunc) or (isinstance(owner, np.ufunc) and fn.__name__ == "outer") \
        else set()
ENTRIES = [pytest.param(fn, e, id=f"{_name(fn)}-{e.form}-{k}")
           for fn in DIFFERENTIABLE for k, e in enumerate(REGISTRY.entries(fn)) if e.form != "inactive"]


def _given(fn: Any, sample: ar.Sample) -> set[str]:
    """The optional parameters a sample gives a non-default value."""
    p = signature_of(fn)
    assert p is not None
    names = {n for i, n in enumerate(p.positional[:len(sample.args)])
             if i >= p.required and not is_default(sample.args[i], p.defaults.get(n))}
    return names | {k for k, v in sample.kwargs.items() if not is_default(v, p.defaults.get(k, object()))}


@pytest.mark.parametrize(("fn", "entry"), ENTRIES)
def test_every_rule_declares_its_parameters(fn: Any, entry: Any) -> None:
    """Declared (not None), by the function's own parameter names."""
    assert entry.params is not None, f"{entry.describe()}: declare params= (the parameters it implements)"
    p = signature_of(fn)
    assert p is not None, f"{_name(fn)}: its signature cannot be read"
    unknown = set() if p.varkw else entry.params - set(p.defaults)
    assert not unknown, f"{entry.describe()}: params={sorted(unknown)} are not parameters of {_name(fn)}"


@pytest.mark.parametrize(("fn", "entry"), ENTRIES)
def test_every_implemented_parameter_is_exercised(fn: Any, entry: Any) -> None:
    """Each declared parameter gets a non-default value in some sample (check_rule runs
    every sample) or in the test named in ELSEWHERE."""
    if entry.params is None:
        pytest.fail(f"{entry.describe()}: no params= declaration")
    given = set().union(*(_given(fn, s) for s in REGISTRY.samples(fn)))
    missing = entry.params - given - ENGINE - _elsewhere(fn)
    assert not missing, f"{_name(fn)}: params {sorted(missing)} are declared but no sample gives them a value"


UFUNC_DTYPE = [pytest.param(fn, id=_name(fn)) for fn in DIFFERENTIABLE if _elsewhere(fn)
               and any(e.params and "dtype" in e.params for e in REGISTRY.entries(fn))]


@pytest.mark.parametrize("fn", UFUNC_DTYPE)
def test_ufunc_dtype_matches_finite_differences(fn: Any) -> None:
    """``dtype=`` on every ufunc rule declaring it: single-precision inputs computed in
    double precision (the cotangent is cast back to the input's precision)."""
    sample = next(s for s in REGISTRY.samples(fn) if not any(np.iscomplexobj(a) for a in s.args))
    args = [a.astype(np.float32) if isinstance(a, np.ndarray) and a.dtype == np.float64 else a for a in sample.args]
    check_rule(fn, *args, dtype=np.float64, **sample.kwargs)


@pytest.mark.parametrize(("fn", "entry"), ENTRIES)
def test_every_other_parameter_is_refused_by_name(fn: Any, entry: Any) -> None:
    """Each optional parameter of the NumPy signature the rule does not declare, given
    a non-default value, raises ParameterError naming it (engine, adapters and
    check_rule all call check_call)."""
    p = signature_of(fn)
    assert p is not None and entry.params is not None
    sample = REGISTRY.samples(fn)[0]
    for name in set(p.defaults) - entry.params:
        with pytest.raises(ar.ParameterError, match=f"the parameter '{name}'"):
            check_call(entry, fn, sample.args[:p.required], {name: object()})


def test_the_tests_named_in_elsewhere_exist() -> None:
    for ref in ELSEWHERE.values():
        module, test = ref.split("::")
        assert callable(getattr(importlib.import_module(module), test))


def test_a_refused_parameter_names_function_parameter_and_fix() -> None:
    x = np.arange(1.0, 7.0).reshape(2, 3)
    # np.prod's rule ignores initial= (the product's own factor): refused, never ignored
    with pytest.raises(ar.ParameterError, match=r"numpy\.prod: the parameter 'initial' .* call it without initial"):
        ar.gradient(lambda x: np.prod(x, initial=2.0), x)
    with pytest.raises(ar.ParameterError, match=r"numpy\.prod: the parameter 'initial' was given by position"):
        ar.gradient(lambda x: np.prod(x, None, None, None, False, 2.0), x)
    with pytest.raises(ar.ParameterError, match=r"numpy\.prod: the parameter 'initial'"):
        check_rule(np.prod, x, initial=2.0)


_M = np.array([[0.5, -1.2, 2.0], [1.5, 0.3, -0.7]]) + 2.0
_MASK = np.array([[True, False, True], [True, True, False]])
_HALF = np.array([True, True, True, False, False, False])  # masks out ties of the maximum
#: parameters the rules used to ignore silently (each of these returned a wrong gradient)
IGNORED_BEFORE: dict[str, Any] = {
    "prod-initial": lambda x: np.prod(x, initial=2.0),
    "prod-where": lambda x: np.prod(x, where=_MASK),
    "max-initial": lambda x: np.max(x, initial=10.0),
    "max-where": lambda x: np.sum(np.max(np.concatenate([x, x], axis=1), axis=1, where=_HALF, initial=-9.0)),
    "var-mean": lambda x: np.sum(np.var(x, axis=1, keepdims=True, mean=np.zeros((2, 1)))),
}


@pytest.mark.parametrize("name", sorted(IGNORED_BEFORE))
def test_parameters_once_ignored_are_refused(name: str) -> None:
    param = name.split("-")[1]
    with pytest.raises(ar.ParameterError, match=f"the parameter '{param}'"):
        ar.gradient(IGNORED_BEFORE[name], _M.copy())


def test_check_rule_refuses_an_active_value_the_rule_does_not_differentiate() -> None:
    """check_rule's Active combinations for np.sum's positional initial (a float)."""
    with pytest.raises(ar.ParameterError, match=r"numpy\.sum: an active value was passed as 'initial'"):
        check_rule(np.sum, _M, None, None, None, False, 2.0)


def test_default_values_are_accepted() -> None:
    x = np.arange(1.0, 7.0).reshape(2, 3)
    g = ar.gradient(lambda x: np.sum(x, axis=None, dtype=None, keepdims=False, initial=np._NoValue), x)
    np.testing.assert_allclose(g, np.ones_like(x))


def test_getitem_setitem_are_walked() -> None:
    assert operator.getitem in DIFFERENTIABLE and operator.setitem in DIFFERENTIABLE
