"""One lifting, one cotangent checker: the engine, the batch lanes and check_rule refuse
and accept the same cotangents, with the same messages (oracle: the analytic derivative)."""

import numpy as np
import pytest

import activerules as ar
from activerules.testing import check_rule


def _scaled_sin(pullback_cots):
    """A fresh primitive ``f(x, c) = sin(x) * c`` whose rrule's pullback returns
    ``pullback_cots(g, x, c)``."""
    @ar.primitive
    def f(x, c):
        return np.sin(x) * c

    @ar.rrule(f)
    def _f(x, c):
        return np.sin(x) * c, lambda g: pullback_cots(g, x, c)

    return f


def _runs(f, x):
    """Every way the engine and check_rule run ``f``'s rule for ``x`` (a float32 array)."""
    def dup():
        d = np.zeros_like(x)
        ar.autodiff(lambda a: f(a, 2.0).sum(), ar.Duplicated(x, d))
        return d

    def batch():
        ds = (np.zeros_like(x), np.zeros_like(x))
        ar.autodiff(lambda a: f(a, 2.0).sum(), ar.BatchDuplicated(x, ds))
        return ds[1]

    def grad():
        return ar.gradient(lambda a: f(a, 2.0).sum(), x)

    def check():
        return check_rule(f, x, 2.0, activities=[(ar.Duplicated, ar.Const)])

    return {"autodiff(Duplicated)": dup, "autodiff(BatchDuplicated)": batch, "gradient": grad,
            "check_rule": check}


X32 = np.linspace(0.1, 1.0, 4).astype(np.float32)


def test_a_wider_cotangent_of_the_same_kind_is_cast_everywhere():
    f = _scaled_sin(lambda g, x, c: ((g * np.cos(x) * c).astype(np.float64), None))
    for name, run in _runs(f, X32).items():
        out = run()
        if name != "check_rule":
            assert out.dtype == np.float32, name
            np.testing.assert_allclose(out, 2.0 * np.cos(X32), rtol=1e-6, err_msg=name)


def test_a_complex_cotangent_for_a_real_argument_is_refused_everywhere_with_the_fix():
    f = _scaled_sin(lambda g, x, c: (g * np.cos(x) * c + 0j, None))
    for run in _runs(f, X32).values():
        with pytest.raises((ar.RuleError, AssertionError), match=r"argument 0.*complex.*astype\(x\.dtype\)"):
            run()


def test_a_pullback_with_too_few_cotangents_is_refused_everywhere():
    # one cotangent for two arguments: the engine used to accept it when only x was active
    f = _scaled_sin(lambda g, x, c: (g * np.cos(x) * c,))
    for run in _runs(f, X32).values():
        with pytest.raises((ar.RuleError, AssertionError), match="a tuple of 2 cotangents.*got 1"):
            run()


def test_a_pullback_with_too_many_cotangents_is_refused_everywhere():
    f = _scaled_sin(lambda g, x, c: (g * np.cos(x) * c, None, None))
    for run in _runs(f, X32).values():
        with pytest.raises((ar.RuleError, AssertionError), match="a tuple of 2 cotangents.*got 3"):
            run()


def test_a_built_in_rrule_given_an_optional_parameter_by_position_returns_one_cotangent_per_argument():
    # failed before under BatchDuplicated (the registry's lifting counted 2 arguments, the rule
    # returned 1 cotangent) while gradient passed (the engine's lift did not count)
    x = np.array([1.0, 2.0, np.nan, np.inf])
    expected = np.isfinite(x).astype(float)
    np.testing.assert_array_equal(ar.gradient(lambda a: np.sum(np.nan_to_num(a, True)), x), expected)
    ds = (np.zeros(4), np.zeros(4))
    ar.autodiff(lambda a: np.sum(np.nan_to_num(a, True)), ar.BatchDuplicated(x, ds))
    np.testing.assert_array_equal(ds[1], expected)
    check_rule(np.nan_to_num, np.array([0.5, 2.0]), True)


_SPD = np.array([[4.0, 1.0], [1.0, 3.0]])


@pytest.mark.parametrize("fn, args", [
    (np.angle, (np.array([1 + 1j, 2 - 1j]), True)),
    (np.linalg.eigvalsh, (_SPD, "U")),
    (np.linalg.eigh, (_SPD, "U")),
    (np.linalg.qr, (np.array([[4.0, 1.0], [1.0, 3.0], [0.5, 2.0]]), "reduced")),
], ids=lambda v: getattr(v, "__name__", ""))
def test_built_in_rrules_with_a_parameter_by_position_pass_check_rule(fn, args):
    # failed before: the pullback returned one cotangent for two arguments
    check_rule(fn, *args, activities=[(ar.Duplicated, ar.Const)])
