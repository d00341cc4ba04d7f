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
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import activerules as ar

sys.path.insert(0, str(Path(__file__).parent))
from oracle_engine import (  # noqa: E402
    Call,
    Draw,
    Spec,
    autograd_modules,
    by_autograd,
    by_differences,
    by_jax,
    compare,
    differentiated,
    jax_modules,
    ours,
    program,
)
from oracle_table import INACTIVE, KNOWN_BROKEN, TABLE, WHOLLY_BROKEN, one_number  # noqa: E402

LONG = bool(os.environ.get("ACTIVERULES_LONG"))
EXAMPLES = 60 if LONG else 2
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


def late(name: str) -> Any:
    """``np.<name>`` looked up at each call, as user code does: the engine swaps some NumPy
    functions for the forward pass (``np.full``, ``np.ascontiguousarray``, ...), so the object
    the registry holds is not what a program calls then."""
    fn = REGISTERED[name]
    try:
        if resolve(np, name) is not fn:
            return fn
    except AttributeError:  # getitem, setitem
        return fn
    return lambda *a, **k: resolve(np, name)(*a, **k)


def check(name: str, spec: Spec, d: Draw) -> None:
    """One generated call of ``name``: the library's vjp against the oracle's."""
    check_call(name, spec, spec.gen(d), d.rng)


def check_call(name: str, spec: Spec, call: Call, rng: Any) -> None:
    """The library's vjp of ``call`` against the oracle's (cotangents drawn from ``rng``)."""
    fn = late(name)
    y, gs, got = ours(fn, call, rng)
    oracle = call.oracle or spec.oracle
    if oracle == "jax":
        ey, expected = by_jax(reference(name, spec), call, gs)
    elif oracle == "autograd":
        ey, expected = by_autograd(reference(name, spec), call, gs)
    else:
        ey, expected = by_differences(fn, call, gs)
    single = any(getattr(a, "dtype", None) in (np.float32, np.complex64) for a in call.args)
    compare(f"{name}[{call.label}]", y, ey, got, expected, spec.tol if oracle != "fd" else max(spec.tol, 1e-5),
            single, spec.tol32)


CASES = [pytest.param(name, marks=[pytest.mark.xfail(strict=True, reason=KNOWN_BROKEN[name])]
                      if name in WHOLLY_BROKEN else []) for name in sorted(TABLE)]


@pytest.mark.parametrize("name", CASES)
@SETTINGS
@given(data=st.data())
def test_vjp_matches_oracle(name: str, data: Any) -> None:
    spec = TABLE[name]
    check(name, spec, Draw(data, spec.dtypes, spec.styles))


ACCEPTED = settings(SETTINGS, max_examples=20, derandomize=True)


@pytest.mark.parametrize("name", sorted(TABLE))
@ACCEPTED
@given(data=st.data())
def test_rows_draw_only_calls_numpy_accepts(name: str, data: Any) -> None:
    """A drawn call NumPy refuses (``sort`` of a 0-d array along ``axis=-1``: AxisError) tests
    nothing: the long run failed on it. The forward alone, so many draws stay cheap."""
    spec = TABLE[name]
    call = spec.gen(Draw(data, spec.dtypes, spec.styles))
    with warnings.catch_warnings():  # NumPy's warnings of drawn values (a complex cast, no ddof left): no refusal
        warnings.simplefilter("ignore")
        program(late(name), call, np)(*[a for a in call.args if differentiated(a)])


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


@pytest.mark.parametrize("split", [lambda x: np.split(x, 2), lambda x: np.unstack(x.reshape(2, 3))])
def test_vjp_seeds_every_output_view(split: Any) -> None:
    """ar.vjp seeded only the last of several outputs that are views of one array."""
    x = np.arange(6.0)
    _, pullback = ar.vjp(split, x)
    np.testing.assert_array_equal(pullback((np.ones(3), 2 * np.ones(3)))[0], [1.0, 1.0, 1.0, 2.0, 2.0, 2.0])


def test_ascontiguousarray_through_the_engine() -> None:
    """np.ascontiguousarray did not dispatch to the tracked stand-ins (UntrackedWriteError)."""
    x = np.arange(6.0).reshape(2, 3)
    _, pullback = ar.vjp(lambda x: np.ascontiguousarray(x.T), x)
    np.testing.assert_array_equal(pullback(np.ones((3, 2)))[0], np.ones((2, 3)))


def test_ascontiguousarray_of_a_0d_array() -> None:
    """np.ascontiguousarray of a 0-d array is a 1-d view: the engine wrapped that read-only view
    of the input as a new array and wrote into it (ValueError: assignment destination is read-only)."""
    x = np.array(1.5)
    jax, jnp = jax_modules()
    ey, pull = jax.vjp(lambda x: 3.0 * jnp.atleast_1d(x), x)
    y, pullback = ar.vjp(lambda x: 3.0 * np.ascontiguousarray(x), x)
    np.testing.assert_array_equal(y, np.asarray(ey))
    np.testing.assert_array_equal(pullback(np.array([2.0]))[0], np.asarray(pull(np.array([2.0]))[0]))


@pytest.mark.parametrize("fn", ["nanvar", "nanstd"])
def test_nanvar_without_degrees_of_freedom(fn: str) -> None:
    """A slice with ddof >= its count of numbers (the middle column) got NaN cotangents; JAX gives 0."""
    x = np.array([[0.5, np.nan, 2.0], [1.5, 0.3, -0.7]])
    jax, jnp = jax_modules()
    _, pull = jax.vjp(lambda x: getattr(jnp, fn)(x, axis=0, ddof=1), x)
    with pytest.warns(RuntimeWarning, match="Degrees of freedom <= 0"):  # NumPy's own, from the primal
        y, pullback = ar.vjp(lambda x: getattr(np, fn)(x, axis=0, ddof=1), x)
    g = np.ones(np.shape(y))
    np.testing.assert_array_equal(pullback(g)[0], np.asarray(pull(g)[0]))


@pytest.mark.parametrize("axis", [0, -2])
def test_nanstd_over_one_number_is_checked_against_its_convention(axis: int) -> None:
    """A column holding one number (``ddof=0``): ours is 0 (std at zero spread, documented, as
    PyTorch), JAX's NaN; the row compared such draws with JAX and failed. It now sends them to
    central differences, which give 0 there."""
    x = np.array([[0.5, np.nan, 1.0, 2.0], [np.nan, 0.3, -0.7, 1.1]])
    call = one_number(Call((x,), {"axis": axis}))
    assert call.oracle == "fd"
    check_call("nanstd", TABLE["nanstd"], call, np.random.default_rng(0))
    assert one_number(Call((x,), {"axis": axis, "ddof": 1})).oracle is None  # no degrees of freedom: JAX's 0


# ------------------------------------ conventions at the points where a function has no derivative
# The main table keeps away from these points; here each convention is checked against the
# engine that follows it (see the module docstrings of activerules/rules/ and docs/numpy-coverage.md).
TIES = np.array([[1.0, 3.0, 3.0, -2.0], [2.0, 0.5, 2.0, 2.0]])


def _against_jax(f_np: Any, f_jax: Any, *args: Any) -> None:
    """``ar.vjp`` of ``f_np`` against ``jax.vjp`` of ``f_jax`` with one random cotangent."""
    jax, _ = jax_modules()
    y, pullback = ar.vjp(f_np, *args)
    g = np.random.default_rng(0).standard_normal(np.shape(y))
    _, pull = jax.vjp(f_jax, *args)
    for got, want in zip(pullback(g), pull(g)):
        np.testing.assert_allclose(got, np.asarray(want), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", ["max", "min", "amax", "amin", "nanmax", "nanmin"])
@pytest.mark.parametrize("axis", [None, 0, 1])
def test_reduction_ties_split_evenly_as_jax(name: str, axis: Any) -> None:
    _, jnp = jax_modules()
    _against_jax(lambda x: getattr(np, name)(x, axis=axis), lambda x: getattr(jnp, name)(x, axis=axis), TIES)


TIE_A, TIE_B = np.array([1.0, 2.0, -0.5, 3.0]), np.array([1.0, 0.5, -0.5, 3.5])


@pytest.mark.parametrize("name", ["maximum", "minimum"])
def test_binary_ties_split_evenly_as_jax(name: str) -> None:
    _, jnp = jax_modules()
    _against_jax(getattr(np, name), getattr(jnp, name), TIE_A, TIE_B)


@pytest.mark.parametrize("name", ["fmax", "fmin"])
def test_fmax_ties_split_evenly_as_central_differences(name: str) -> None:
    """(JAX gives fmax's tie to one side; the documented convention is the central difference's.)"""
    call = Call((TIE_A, TIE_B))
    g = [np.array([1.0, -2.0, 0.5, 3.0])]
    _, pullback = ar.vjp(getattr(np, name), TIE_A, TIE_B)
    _, expected = by_differences(getattr(np, name), call, g)
    for got, want in zip(pullback(g[0]), expected):
        np.testing.assert_allclose(got, want, rtol=1e-8)


@pytest.mark.parametrize("name", ["maximum.reduce", "minimum.reduce"])
def test_ufunc_reduce_ties_split_evenly_as_jax(name: str) -> None:
    _, jnp = jax_modules()
    op = {"maximum.reduce": jnp.max, "minimum.reduce": jnp.min}[name]
    ufunc = getattr(np, name.split(".")[0])
    _against_jax(lambda x: ufunc.reduce(x, axis=1), lambda x: op(x, axis=1), TIES)


@pytest.mark.parametrize("axis", [-1, 0, None])
def test_sort_ties_follow_the_stable_order_as_jax(axis: Any) -> None:
    _, jnp = jax_modules()
    _against_jax(lambda x: np.sort(x, axis=axis), lambda x: jnp.sort(x, axis=axis, stable=True), TIES)


ZEROS = np.array([0.0, -0.0, 1.5, -2.0])


def test_sign_at_zero_has_derivative_zero_as_jax() -> None:
    _, jnp = jax_modules()
    _against_jax(np.sign, jnp.sign, ZEROS)


@pytest.mark.parametrize("name", ["absolute", "fabs"])
def test_abs_at_zero_has_derivative_zero_as_pytorch(name: str) -> None:
    """(JAX takes slope 1 at 0; the documented convention is PyTorch's sign(0) = 0.)"""
    import torch

    g = np.array([1.0, -2.0, 0.5, 3.0])
    _, pullback = ar.vjp(getattr(np, name), ZEROS)
    tx = torch.tensor(ZEROS, requires_grad=True)
    torch.abs(tx).backward(torch.tensor(g))
    np.testing.assert_array_equal(pullback(g)[0], tx.grad.numpy())


def test_clip_at_its_bounds_passes_the_cotangent_to_x_as_pytorch() -> None:
    """At ``x == lo`` (or ``hi``) ``x`` counts as selected, as in ``torch.clamp`` (JAX splits it)."""
    import torch

    x, lo, hi = np.array([-0.5, 0.2, 1.0, 1.5, -1.0]), np.array([-0.5, -1.0, -1.0, 0.0, -0.5]), np.full(5, 1.0)
    g = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    _, pullback = ar.vjp(np.clip, x, lo, hi)
    tx, tlo, thi = (torch.tensor(v, requires_grad=True) for v in (x, lo, hi))
    torch.clamp(tx, tlo, thi).backward(torch.tensor(g))
    for got, t in zip(pullback(g), (tx, tlo, thi)):
        np.testing.assert_array_equal(got, t.grad.numpy())


@pytest.mark.parametrize("fn", ["norm", "vector_norm"])
def test_norm_at_zero_has_cotangent_zero_as_pytorch(fn: str) -> None:
    import torch

    x = np.zeros((2, 3))
    x[1] = [1.0, -2.0, 0.5]
    _, pullback = ar.vjp(lambda x: getattr(np.linalg, fn)(x, axis=1), x)
    tx = torch.tensor(x, requires_grad=True)
    g = np.array([1.5, -0.5])
    torch.linalg.vector_norm(tx, dim=1).backward(torch.tensor(g))
    np.testing.assert_allclose(pullback(g)[0], tx.grad.numpy(), rtol=1e-12)
