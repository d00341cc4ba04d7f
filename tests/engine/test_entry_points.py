"""What ``ar.gradient``, ``ar.vjp`` and ``ar.autodiff`` accept and return (issue 10):
checked argnums, results and arguments, complex values as JAX (with the documented
conjugation), nested differentiation refused in every way it can happen, and the
caller's arrays left as the documented contract says. Oracles: JAX (float64) and
central finite differences."""

from __future__ import annotations

from typing import Any, Callable, Iterator

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from engine_helpers import fd_grad

import activerules as ar

X = np.array([0.3, -1.1, 2.0])


@pytest.fixture(autouse=True)
def x64() -> Iterator[None]:
    old = jax.config.jax_enable_x64
    jax.config.update("jax_enable_x64", True)
    yield
    jax.config.update("jax_enable_x64", old)


# --- 1. argnums, arguments and results --------------------------------------------------

def test_autodiff_of_a_tuple_result_raises_instead_of_zeros() -> None:
    with pytest.raises(ar.ActivityError, match="autodiff: f returned a tuple"):
        ar.autodiff(lambda c: (c * c, 1.0), ar.Active(2.0))


def test_autodiff_of_a_tuple_result_with_const_returns_goes_through_shadows() -> None:
    def f(x: Any) -> Any:
        x *= 2.0
        return (x, "aux")

    x, dx = X.copy(), np.ones(3)
    ar.autodiff(f, ar.Duplicated(x, dx), returns=ar.Const)
    np.testing.assert_allclose(x, 2 * X)
    np.testing.assert_allclose(dx, 2 * np.ones(3))  # the cotangent of x's initial value


def f2(x: Any, y: Any) -> Any:
    return (np.sin(x) * y).sum()


def j2(x: Any, y: Any) -> Any:
    return (jnp.sin(x) * y).sum()


@pytest.mark.parametrize("argnums", [-1, -2, (0, -1), (-1, 0)])
def test_negative_argnums_count_from_the_end_as_in_jax(argnums: Any) -> None:
    y = np.array([1.5, 0.2, -0.7])
    ours = ar.gradient(f2, X, y, argnums=argnums)
    theirs = jax.grad(j2, argnums=argnums)(X, y)
    for a, b in zip(ours if isinstance(argnums, tuple) else (ours,),
                    theirs if isinstance(argnums, tuple) else (theirs,)):
        np.testing.assert_allclose(a, b, rtol=1e-12)


@pytest.mark.parametrize("argnums", [2, -3, (0, 5), "0", 1.0, True])
def test_bad_argnums_raise_an_activity_error_naming_them(argnums: Any) -> None:
    with pytest.raises(ar.ActivityError, match="argnums="):
        ar.gradient(f2, X, X, argnums=argnums)


@pytest.mark.parametrize("value", [3, True, "x", None, np.arange(3), np.int64(2)],
                         ids=["int", "bool", "str", "None", "int-array", "np-int"])
def test_gradient_with_respect_to_a_value_without_derivative_raises_naming_it(value: Any) -> None:
    with pytest.raises(ar.ActivityError, match="gradient: argument 1 is"):
        ar.gradient(lambda x, v: (x * 2.0).sum(), X, value, argnums=(0, 1))
    if isinstance(value, int) and not isinstance(value, bool):  # JAX refuses integers too
        with pytest.raises(TypeError):
            jax.grad(lambda x, v: (x * 2.0).sum(), argnums=1)(jnp.asarray(X), value)


def test_autodiff_refuses_integer_actives_and_duplicated_integer_arrays_by_position() -> None:
    with pytest.raises(ar.ActivityError, match="argument 1 is Active"):
        ar.autodiff(lambda x, n: x * n, ar.Active(2.0), ar.Active(np.int64(3)))
    with pytest.raises(ar.ActivityError, match="argument 0 is an ndarray of dtype int64"):
        ar.autodiff(lambda x: (x * 1.0).sum(), ar.Duplicated(np.arange(3), np.zeros(3, np.int64)))


@pytest.mark.parametrize("result", [
    lambda x: None, lambda x: 3, lambda x: True, lambda x: "s", lambda x: (x.sum(), 1.0),
    lambda x: [x.sum()], lambda x: {"a": x.sum()}, lambda x: (lambda: x), lambda x: x * 2.0,
], ids=["None", "int", "bool", "str", "tuple", "list", "dict", "closure", "array"])
def test_gradient_of_a_result_that_is_not_one_real_scalar_raises(result: Callable[..., Any]) -> None:
    with pytest.raises(ar.ActivityError, match="gradient"):
        ar.gradient(result, X)


# --- 3. complex values -------------------------------------------------------------------

Z = np.array([1.0 + 2.0j, -0.5 + 0.3j, 0.1 - 0.8j])


def test_gradient_of_a_complex_result_raises_as_jax_does() -> None:
    with pytest.raises(ar.ActivityError, match="complex cotangent"):
        ar.gradient(lambda x: (x * 1j).sum(), X)
    with pytest.raises(ar.ActivityError, match="complex"):
        ar.gradient(lambda z: (z * z).sum(), Z)
    with pytest.raises(TypeError):
        jax.grad(lambda z: (z * z).sum())(jnp.asarray(Z))
    with pytest.raises(ar.ActivityError, match="complex"):  # autodiff's default real seed too
        ar.autodiff(lambda c: c * c, ar.Active(1.0 + 2.0j))


def test_gradient_with_respect_to_complex_arguments_is_the_conjugate_of_jax() -> None:
    ours = ar.gradient(lambda z: (np.abs(np.sin(z)) ** 2).sum(), Z)
    theirs = jax.grad(lambda z: (jnp.abs(jnp.sin(z)) ** 2).sum())(jnp.asarray(Z))
    np.testing.assert_allclose(ours, np.conj(theirs), rtol=1e-12)


COMPLEX_VJPS = {
    "complex to complex": (lambda z: np.sin(z) * np.conj(z) + z ** 2,
                           lambda z: jnp.sin(z) * jnp.conj(z) + z ** 2, Z),
    "real to complex": (lambda x: np.exp(1j * x) * x, lambda x: jnp.exp(1j * x) * x, X),
    "complex to real": (lambda z: np.abs(z) ** 3, lambda z: jnp.abs(z) ** 3, Z),
}


@pytest.mark.parametrize("name", sorted(COMPLEX_VJPS))
def test_vjp_with_complex_values_is_jax_conjugated_as_documented(name: str) -> None:
    f, jf, x = COMPLEX_VJPS[name]
    y, pullback = ar.vjp(f, x)
    ybar = np.array([0.7 - 1.1j, 0.2 + 0.4j, -1.3 + 0.5j])
    if not np.iscomplexobj(y):
        ybar = ybar.real
    (ours,) = pullback(ybar)
    _, jpb = jax.vjp(jf, jnp.asarray(x))
    np.testing.assert_allclose(ours, np.conj(jpb(np.conj(ybar))[0]), rtol=1e-12)


@pytest.mark.parametrize("z", [Z, 0.3 - 1.2j, {"a": Z, "b": [0.5 + 0.5j]}],
                         ids=["array", "number", "container"])
def test_holomorphic_gradient_is_jax_s(z: Any) -> None:
    def f(z: Any, xp: Any) -> Any:
        leaves = jax.tree_util.tree_leaves(z)
        return sum(xp.sum(xp.sin(v) * v + xp.exp(v)) for v in leaves)

    ours = ar.gradient(lambda z: f(z, np), z, holomorphic=True)
    theirs = jax.grad(lambda z: f(z, jnp), holomorphic=True)(z)
    for a, b in zip(jax.tree_util.tree_leaves(ours), jax.tree_util.tree_leaves(theirs)):
        np.testing.assert_allclose(a, b, rtol=1e-12)


def test_holomorphic_gradient_refuses_real_arguments_and_real_results_as_jax() -> None:
    with pytest.raises(ar.ActivityError, match=r"argument 0\['x'\] is an ndarray of dtype float64, not complex"):
        ar.gradient(lambda p: (p["x"] * 1j).sum(), {"x": X}, holomorphic=True)
    with pytest.raises(TypeError):
        jax.grad(lambda x: (x * 1j).sum(), holomorphic=True)(X)
    with pytest.raises(ar.ActivityError, match="f returned a real result"):
        ar.gradient(lambda z: np.abs(z).sum(), Z, holomorphic=True)
    with pytest.raises(TypeError):
        jax.grad(lambda z: jnp.abs(z).sum(), holomorphic=True)(jnp.asarray(Z))


def test_a_complex_cotangent_for_a_real_output_raises() -> None:
    _, pullback = ar.vjp(np.sin, X)
    with pytest.raises(ar.ActivityError, match="real output is complex"):
        pullback(np.ones(3) * 1j)


# --- 5. nested differentiation -------------------------------------------------------------

def _inner_calls(x: Any) -> dict[str, Callable[[], Any]]:
    """Every way the outer stand-in ``x`` (a number) can reach an inner differentiation."""
    plain = np.array([0.5, 1.5])
    return {
        "gradient argument": lambda: ar.gradient(np.sin, x),
        "gradient argnums 1": lambda: ar.gradient(lambda a, b: a * b, 2.0, x, argnums=1),
        "gradient constant argument": lambda: ar.gradient(lambda a, b: a * b, 2.0, x),
        "vjp argument": lambda: ar.vjp(np.sin, x),
        "autodiff Active": lambda: ar.autodiff(np.sin, ar.Active(x)),
        "autodiff Const": lambda: ar.autodiff(lambda a, b: a * b, ar.Active(2.0), ar.Const(x)),
        "autodiff plain": lambda: ar.autodiff(lambda a, b: a * b, ar.Active(2.0), x),
        "in a list": lambda: ar.gradient(lambda p: p[0] * 2.0, [x]),
        "in a dict": lambda: ar.gradient(lambda p: p["a"] * 2.0, {"a": x}),
        "in a Const leaf": lambda: ar.gradient(lambda p: p[0] * 2.0, (2.0, ar.Const(x))),
        "closure alone": lambda: ar.gradient(lambda y: np.sin(x) + 0.0 * 1.0, 1.0),
        "closure partner": lambda: ar.gradient(lambda y: x * y, 1.0),
        "closure partner of an array": lambda: ar.gradient(lambda y: (y * x).sum(), plain),
        "closure written in": lambda: ar.gradient(lambda y: _write(y, x), plain),
        "vjp closure result": lambda: ar.vjp(lambda y: (y, np.cos(x)), 1.0),
        "pullback cotangent": lambda: ar.vjp(np.sin, plain)[1](x * np.ones(2)),
        "autodiff seed": lambda: ar.autodiff(np.sin, ar.Active(1.0), returns=ar.Active(x)),
        "autodiff closure result": lambda: ar.autodiff(lambda y: np.cos(x), ar.Active(1.0)),
        "sequence construction": lambda: ar.gradient(lambda y: np.array([y[0], x]).sum(), plain),
        "stacked": lambda: ar.gradient(lambda y: np.stack([y, y * x]).sum(), plain),
        "where": lambda: ar.gradient(lambda y: np.where(y > 0, y, x).sum(), plain),
        "in-place partner": lambda: ar.gradient(lambda y: _add_into(y, x), plain),
        "object attribute": lambda: ar.gradient(lambda y, o: (o.w * y).sum(), plain, _Holder(x)),
        "autodiff written into a shadowed array": lambda: ar.autodiff(
            lambda y: _add_into(y, x), ar.Duplicated(plain.copy(), np.zeros(2)), returns=ar.Const),
    }


class _Holder:
    def __init__(self, w: Any) -> None:
        self.w = w


def _add_into(y: Any, x: Any) -> Any:
    y += x
    return y.sum()


def _write(y: Any, x: Any) -> Any:
    z = y * 1.0
    z[0] = x
    return z.sum()


def _total(r: Any) -> Any:
    """The sum of the numbers and arrays in an entry point's result (pullbacks skipped)."""
    if isinstance(r, dict):
        r = list(r.values())
    if isinstance(r, (tuple, list)):
        parts = [_total(e) for e in r]
        return sum((p for p in parts if p is not None), 0.0)
    if r is None or callable(r):
        return None
    return np.sum(r)


#: the ways that remain refused under higher order (issue 11), with the error they give
_REFUSED = {"autodiff written into a shadowed array": "Duplicated|enclosing"}


@pytest.mark.parametrize("way", sorted(_inner_calls(0.0)))
def test_an_outer_stand_in_reaching_an_inner_differentiation_is_differentiated(way: str) -> None:
    # issue 11 changed the contract: every way raised "two different differentiations" before;
    # now the inner differentiation nests (its own level), checked against central differences
    def outer(x: Any) -> Any:
        return _total(_inner_calls(x)[way]()) * x + 3 * x

    if way in _REFUSED:
        with pytest.raises(ar.ActiveRulesError, match=_REFUSED[way]):
            ar.gradient(outer, 2.0)
        return
    eps = 1e-6
    want = (outer(2.0 + eps) - outer(2.0 - eps)) / (2 * eps)
    assert ar.gradient(outer, 2.0) == pytest.approx(want, rel=1e-6, abs=1e-8)


def test_the_issue_example_is_differentiated() -> None:
    # raised "two different differentiations" before issue 11: d/dx [cos(x) + 3x]
    g = ar.gradient(lambda x: ar.gradient(np.sin, x) + 3 * x, 2.0)
    assert g == pytest.approx(-np.sin(2.0) + 3, rel=1e-12)


def test_an_inner_differentiation_of_plain_values_is_a_constant_of_the_outer_one() -> None:
    g = ar.gradient(lambda x: x * ar.gradient(lambda c: c ** 3, 2.0), 5.0)
    assert g == pytest.approx(jax.grad(lambda x: x * jax.grad(lambda c: c ** 3)(2.0))(5.0))


def test_a_rule_differentiating_plain_arrays_in_its_reverse_still_works() -> None:
    @ar.primitive
    def cube(x: Any) -> Any:
        return x ** 3

    @ar.rrule(cube)
    def _cube(x: Any) -> Any:
        def pullback(g: Any) -> Any:
            _, inner = ar.vjp(lambda v: v ** 3, x)  # the rule's own differentiation
            return (inner(g)[0],)
        return cube(x), pullback

    g = ar.gradient(lambda x: np.sin(cube(x)).sum(), X)
    np.testing.assert_allclose(g, jax.grad(lambda x: jnp.sin(x ** 3).sum())(X), rtol=1e-12)


# --- 7. the caller's arrays ----------------------------------------------------------------

def _writes_everywhere(x: Any, c: Any, n: Any) -> Any:
    """Writes into a differentiated array, a constant float array and an integer array."""
    c += 1.0
    n[0] = 7
    y = (np.sin(x) * c).sum() + n.sum() * 1.0
    x *= 2.0
    return y + (x * c).sum()


def _writes_differentiated(x: Any, c: Any, n: Any) -> Any:
    """Writes into the differentiated array only."""
    y = (np.sin(x) * c).sum() + n.sum() * 1.0
    x *= 2.0
    x[0] = 5.0
    return y + (x * c).sum()


def _fresh() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return X.copy(), np.array([1.0, 2.0, 3.0]), np.arange(3)


def _expected_grad(f: Callable[..., Any]) -> np.ndarray:
    _, c, n = _fresh()
    return fd_grad(lambda x: f(x, c.copy(), n.copy()), X)


def _assert_unchanged(*arrays: np.ndarray) -> None:
    for a, b in zip(arrays, _fresh()):
        np.testing.assert_array_equal(a, b)
        assert a.flags.writeable


@pytest.mark.parametrize("entry", ["gradient", "vjp"])
def test_functional_entry_points_write_differentiated_arrays_into_a_copy(entry: str) -> None:
    x, c, n = _fresh()
    if entry == "gradient":
        g = ar.gradient(_writes_differentiated, x, c, n)
    else:
        y, pullback = ar.vjp(_writes_differentiated, x, c, n)
        assert y == pytest.approx(_writes_differentiated(*_fresh()))
        g, _, gn = pullback(1.0)
        assert gn is None
        del pullback
    np.testing.assert_allclose(g, _expected_grad(_writes_differentiated), rtol=1e-7)
    _assert_unchanged(x, c, n)


@pytest.mark.parametrize("entry", ["gradient", "vjp"])
@pytest.mark.parametrize("wrap", [lambda c: c, ar.Const, lambda c: [c], lambda c: {"c": c}],
                         ids=["plain", "Const", "in a list", "in a dict"])
def test_functional_entry_points_write_into_copies_of_constant_caller_arrays(entry: str,
                                                                            wrap: Any) -> None:
    # f writes into the caller's constant array: its stand-in moves to a private copy at
    # the first write (copy-on-write), and the caller's array keeps its values
    def f(x: Any, c: Any) -> Any:
        c = c if isinstance(c, np.ndarray) else (c[0] if isinstance(c, list) else c["c"])
        c[0] = 5.0
        return (x * c).sum()

    x, c, n = _fresh()
    if entry == "gradient":
        g = ar.gradient(f, x, wrap(c))
    else:
        y, pullback = ar.vjp(f, x, ar.Const(wrap(c)) if wrap is not ar.Const else wrap(c))
        g = pullback(1.0)[0]
        del pullback
    plain = (lambda c: c) if wrap is ar.Const else wrap
    np.testing.assert_allclose(g, fd_grad(lambda x: f(x, plain(_fresh()[1])), X), rtol=1e-7)
    _assert_unchanged(x, c, n)
    g = ar.gradient(lambda x, n: _writes_everywhere(x, np.ones(3), n), x, n)  # integer arrays too
    np.testing.assert_allclose(g, fd_grad(lambda x: _writes_everywhere(x, np.ones(3), _fresh()[2]), X),
                               rtol=1e-7)
    _assert_unchanged(x, c, n)


def test_gradient_and_vjp_leave_arrays_inside_containers_unchanged() -> None:
    def f(p: Any) -> Any:
        y = (p["x"] ** 2).sum() * p["c"][0].sum()
        p["c"][0][...] = 0.0
        p["x"] *= 3.0
        p["c"].append(1)
        return y

    c = np.ones(3)
    p = {"x": X.copy(), "c": [c]}
    g = ar.gradient(f, p)
    np.testing.assert_allclose(g["x"], 2 * X * 3.0, rtol=1e-12)
    np.testing.assert_array_equal(p["x"], X)
    np.testing.assert_array_equal(c, np.ones(3))
    assert len(p["c"]) == 1


def test_autodiff_leaves_caller_arrays_as_the_function_left_them() -> None:
    x, c, n = _fresh()
    dx = np.zeros(3)
    ar.autodiff(_writes_everywhere, ar.Duplicated(x, dx), ar.Const(c), n)
    plain = _fresh()
    _writes_everywhere(*plain)  # what NumPy alone leaves
    for a, b in zip((x, c, n), plain):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(dx, _expected_grad(_writes_everywhere), rtol=1e-7)


@pytest.mark.parametrize("entry", ["gradient", "vjp", "autodiff"])
def test_writing_a_constant_array_a_reverse_reads_works(entry: str) -> None:
    # the product's reverse reads c's values from before the write; gradient and vjp leave
    # the caller's c alone, autodiff leaves it as f does
    def f(x: Any, c: Any) -> Any:
        y = (x * c).sum()
        c[0] = 5.0
        return y

    x, c = _fresh()[:2]
    want = fd_grad(lambda x: f(x, _fresh()[1]), X)
    if entry == "autodiff":
        dx = np.zeros(3)
        ar.autodiff(f, ar.Duplicated(x, dx), c)
        np.testing.assert_allclose(dx, want, rtol=1e-7)
        np.testing.assert_array_equal(c, [5.0, 2.0, 3.0])
    else:
        g = ar.gradient(f, x, ar.Const(c)) if entry == "gradient" else ar.vjp(f, x, ar.Const(c))[1](1.0)[0]
        np.testing.assert_allclose(g, want, rtol=1e-7)
        np.testing.assert_array_equal(c, _fresh()[1])
    assert c.flags.writeable


@pytest.mark.parametrize("entry", ["gradient", "vjp", "autodiff"])
def test_without_mutation_no_caller_array_changes(entry: str) -> None:
    def f(x: Any, c: Any, n: Any) -> Any:
        return (np.sin(x) * c).sum() + n.sum()

    x, c, n = _fresh()
    if entry == "gradient":
        g = ar.gradient(f, x, c, n)
    elif entry == "vjp":
        g = ar.vjp(f, x, c, n)[1](1.0)[0]
    else:
        g = np.zeros(3)
        ar.autodiff(f, ar.Duplicated(x, g), c, n)
    np.testing.assert_allclose(g, np.cos(X) * c, rtol=1e-12)
    for a, b in zip((x, c, n), _fresh()):
        np.testing.assert_array_equal(a, b)
