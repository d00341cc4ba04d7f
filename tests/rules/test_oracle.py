"""Differential oracle tests: for every built-in NumPy rule, ``ar.vjp`` (the engine path)
against JAX (``jax.numpy``, float64), HIPS autograd where JAX lacks the function, or
central finite differences where neither has it, on generated inputs (hypothesis) with
the same random cotangent. The rows are in ``oracle_table.py``.

``ACTIVERULES_LONG=1`` raises the number of examples per function (default: a few,
derandomized, so CI is deterministic).
"""

from __future__ import annotations

import operator
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import activerules as ar

sys.path.insert(0, str(Path(__file__).parent))
from oracle_engine import (  # noqa: E402
    Draw,
    Spec,
    autograd_modules,
    by_autograd,
    by_differences,
    by_jax,
    compare,
    jax_modules,
    ours,
)
from oracle_table import INACTIVE, KNOWN_BROKEN, TABLE, WHOLLY_BROKEN  # noqa: E402

LONG = bool(os.environ.get("ACTIVERULES_LONG"))
EXAMPLES = 60 if LONG else 4
SETTINGS = settings(max_examples=EXAMPLES, derandomize=not LONG, deadline=None, database=None,
                    suppress_health_check=list(HealthCheck))


def qualified(fn: Any) -> str:
    """``add``, ``add.reduce``, ``linalg.solve``, ``fft.rfft``, ``getitem``: the table's key."""
    if fn is operator.getitem or fn is operator.setitem:
        return fn.__name__
    owner = getattr(fn, "__self__", None)
    if isinstance(owner, np.ufunc):
        return f"{owner.__name__}.{fn.__name__}"
    mod = getattr(fn, "__module__", None) or ""
    prefix = mod.split(".", 1)[1] + "." if mod.startswith("numpy.") else ""
    return prefix + fn.__name__


def _is_numpy(fn: Any) -> bool:
    owner = getattr(fn, "__self__", None)
    mod = getattr(fn, "__module__", None) or getattr(owner, "__module__", None) or ""
    return (isinstance(fn, np.ufunc) or isinstance(owner, np.ufunc) or mod == "numpy" or mod.startswith("numpy.")
            or fn in (operator.getitem, operator.setitem))


REGISTERED = {qualified(fn): fn for fn in ar.registry.functions() if _is_numpy(fn)}


def resolve(module: Any, name: str) -> Any:
    """``module.a.b`` for the name ``a.b``."""
    obj = module
    for part in name.split("."):
        obj = getattr(obj, part)
    return obj


def reference(name: str, spec: Spec) -> Any:
    if spec.ref is not None and not isinstance(spec.ref, str):
        return spec.ref
    ref_name = spec.ref or name
    if spec.oracle == "jax":
        return resolve(jax_modules()[1], ref_name)
    if spec.oracle == "autograd":
        return resolve(autograd_modules()[1], ref_name)
    return None


def check(name: str, spec: Spec, d: Draw) -> None:
    """One generated call of ``name``: the library's vjp against the oracle's."""
    fn = REGISTERED[name]
    call = spec.gen(d)
    y, gs, got = ours(fn, call, d.rng)
    oracle = call.oracle or spec.oracle
    if oracle == "jax":
        ey, expected = by_jax(reference(name, spec), call, gs)
    elif oracle == "autograd":
        ey, expected = by_autograd(reference(name, spec), call, gs)
    else:
        ey, expected = by_differences(fn, call, gs)
    single = any(getattr(a, "dtype", None) in (np.float32, np.complex64) for a in call.args)
    compare(f"{name}[{call.label}]", y, ey, got, expected, spec.tol if oracle != "fd" else max(spec.tol, 1e-5),
            single)


CASES = [pytest.param(name, marks=[pytest.mark.xfail(strict=True, reason=KNOWN_BROKEN[name])]
                      if name in WHOLLY_BROKEN else []) for name in sorted(TABLE)]


@pytest.mark.parametrize("name", CASES)
@SETTINGS
@given(data=st.data())
def test_vjp_matches_oracle(name: str, data: Any) -> None:
    spec = TABLE[name]
    check(name, spec, Draw(data, spec.dtypes, spec.styles))


def test_every_rule_has_an_oracle_row() -> None:
    """A new NumPy rule without a row here (or an entry in INACTIVE) fails the suite."""
    missing = sorted(set(REGISTERED) - set(TABLE) - INACTIVE)
    assert not missing, f"NumPy rules without an oracle test (add them to tests/rules/oracle_table.py): {missing}"
    stale = sorted((set(TABLE) | INACTIVE) - set(REGISTERED))
    assert not stale, f"oracle rows for functions without a rule: {stale}"
    assert set(KNOWN_BROKEN) <= set(TABLE) and WHOLLY_BROKEN <= set(KNOWN_BROKEN)
    inactive = {n for n, fn in REGISTERED.items() if ar.registry.is_inactive(fn)}
    assert inactive == INACTIVE, f"INACTIVE differs from the registry's inactive functions: {inactive ^ INACTIVE}"


# ------------------------------------------------------- regressions found by the oracle
@pytest.mark.parametrize(("shape", "axis"), [((0,), -1), ((0, 3), 0), ((0, 3), 1), ((2, 0), None)])
def test_prod_of_an_empty_array(shape: tuple[int, ...], axis: Any) -> None:
    """prod's reverse raised ValueError on empty arrays (its zero-safe product of the others)."""
    x = np.zeros(shape)
    y, pullback = ar.vjp(lambda x: np.prod(x, axis=axis), x)
    jax, jnp = jax_modules()
    _, pull = jax.vjp(lambda x: jnp.prod(x, axis=axis), x)
    g = np.ones(np.shape(y))
    np.testing.assert_array_equal(pullback(g)[0], np.asarray(pull(g)[0]))


def test_diff_of_order_zero_ignores_prepend() -> None:
    """diff(n=0) returns its input (NumPy ignores prepend/append); the reverse indexed past the end."""
    x = np.array([0.3, -1.2, 0.5, 2.0])
    g = np.array([1.0, -2.0, 0.5, 3.0])
    jax, jnp = jax_modules()
    _, pull = jax.vjp(lambda x: jnp.diff(x, n=0, prepend=0.5, append=np.array([1.0])), x)
    y, pullback = ar.vjp(lambda x: np.diff(x, n=0, prepend=0.5, append=np.array([1.0])), x)
    np.testing.assert_array_equal(pullback(g)[0], np.asarray(pull(g)[0]))


@pytest.mark.xfail(strict=True, reason="engine: _seed_vjp resets the shared cell's shadow for each output "
                                       "view, so only the last piece's cotangent arrives (lead)")
@pytest.mark.parametrize("split", [lambda x: np.split(x, 2), lambda x: np.unstack(x.reshape(2, 3))])
def test_vjp_seeds_every_output_view(split: Any) -> None:
    x = np.arange(6.0)
    _, pullback = ar.vjp(split, x)
    np.testing.assert_array_equal(pullback((np.ones(3), 2 * np.ones(3)))[0], [1.0, 1.0, 1.0, 2.0, 2.0, 2.0])


@pytest.mark.xfail(strict=True, reason="engine: np.ascontiguousarray does not dispatch to tracked arrays "
                                       "(UntrackedWriteError), its rule is never reached (lead)")
def test_ascontiguousarray_through_the_engine() -> None:
    x = np.arange(6.0).reshape(2, 3)
    _, pullback = ar.vjp(lambda x: np.ascontiguousarray(x.T), x)
    np.testing.assert_array_equal(pullback(np.ones((3, 2)))[0], np.ones((2, 3)))


@pytest.mark.xfail(strict=True, reason="rules-edge (0/0 audit): nanvar/nanstd of a slice with ddof >= its count "
                                       "of numbers gets NaN cotangents, JAX 0 (var/std agree with JAX)")
@pytest.mark.parametrize("fn", ["nanvar", "nanstd"])
def test_nanvar_without_degrees_of_freedom(fn: str) -> None:
    x = np.array([[0.5, np.nan, 2.0], [1.5, 0.3, -0.7]])
    jax, jnp = jax_modules()
    _, pull = jax.vjp(lambda x: getattr(jnp, fn)(x, axis=0, ddof=1), x)
    with np.errstate(all="ignore"):
        y, pullback = ar.vjp(lambda x: getattr(np, fn)(x, axis=0, ddof=1), x)
        g = np.ones(np.shape(y))
        np.testing.assert_array_equal(pullback(g)[0], np.asarray(pull(g)[0]))
