"""Every author mistake is named: the rule, the activity tuple and the fix (issue 13).

These go through a resolution (what the adapters and ``check_rule`` call)."""

import numpy as np
import pytest

import activerules as ar
from activerules.activity import RuleError

X = np.array([0.2, 0.5, 0.9])


def sine(x):
    return np.sin(x)


def _run(reg, acts=(ar.Duplicated,)):
    res = reg.resolve(sine, acts, (np.ndarray,))
    dx = np.zeros(3)
    y, reverse = res(ar.RevConfig(acts), ar.Duplicated(X.copy(), dx))
    return reverse(np.ones(3))


def _label(form):
    return rf"{form} `.*` .*serving .*sine\(Duplicated\)"


def test_rrule_returning_only_the_output():
    reg = ar.RuleRegistry()
    reg.rrule(sine)(lambda x: np.sin(x))
    with pytest.raises(RuleError, match=_label("rrule") + r".*pair \(output, pullback\).*return y, pullback"):
        _run(reg)


def test_rule_returning_only_the_output():
    reg = ar.RuleRegistry()
    reg.rule(sine, ar.Duplicated)(lambda cfg, x: np.sin(x.val))
    with pytest.raises(RuleError, match=_label("rule") + r".*pair \(output, reverse\).*return y, reverse"):
        _run(reg)


def test_pullback_returning_a_bare_array():
    reg = ar.RuleRegistry()
    reg.rrule(sine)(lambda x: (np.sin(x), lambda g: g * np.cos(x)))
    with pytest.raises(RuleError, match=_label("rrule") + r".*got a bare ndarray; wrap it: `return \(dx,\)`"):
        _run(reg)


def test_active_reverse_returning_a_bare_number():
    reg = ar.RuleRegistry()

    def scale(x, s):
        return s * x

    reg.rule(scale, ar.Const, ar.Active)(lambda cfg, x, s: (s.val * x.val, lambda g: float(g @ x.val)))
    res = reg.resolve(scale, (ar.Const, ar.Active), (np.ndarray, float))
    _, reverse = res(ar.RevConfig(res.activities), ar.Const(X), ar.Active(2.0))
    with pytest.raises(RuleError, match=r"scale\(Const, Active\).*tuple of 2.*bare float.*one entry per argument"):
        reverse(np.ones(3))


def test_cotangent_of_the_wrong_shape_or_dtype():
    reg = ar.RuleRegistry()
    reg.rrule(sine)(lambda x: (np.sin(x), lambda g: (np.cos(x)[:2],)))
    with pytest.raises(RuleError, match=_label("rrule") + r".*shape \(2,\).*shape \(3,\).*exact shape"):
        _run(reg)
    reg = ar.RuleRegistry()
    reg.rrule(sine)(lambda x: (np.sin(x), lambda g: ((g * np.cos(x)).astype(complex),)))
    with pytest.raises(RuleError, match=_label("rrule") + r".*dtype complex128.*float64.*astype"):
        _run(reg)


def test_check_rule_reports_the_mistake_by_name():
    reg = ar.RuleRegistry()
    reg.rrule(sine)(lambda x: np.sin(x))
    with pytest.raises(AssertionError, match=r"RuleError: .*return y, pullback"):
        ar.testing.check_rule(sine, X, registry=reg)


def test_reverse_writing_a_primal_is_named_and_the_primal_left_writeable():
    reg = ar.RuleRegistry()

    @reg.rule(sine, ar.Duplicated)
    def _sine(cfg, x):
        def reverse(g):
            x.dval += g * np.cos(x.val)
            x.val[0] = 0.0          # writes the primal
        return np.sin(x.val), reverse

    res = reg.resolve(sine, (ar.Duplicated,), (np.ndarray,))
    x = X.copy()
    _, reverse = res(ar.RevConfig((ar.Duplicated,)), ar.Duplicated(x, np.zeros(3)))
    with pytest.raises(RuleError, match=_label("rule") + r": reverse wrote into a primal value.*x\.dval"):
        reverse(np.ones(3))
    assert x.flags.writeable and np.array_equal(x, X)


# The same mistakes under the engine's entry points, whose fast paths call the rule
# themselves (recording.record, lifted._reverse_lifted) instead of through a resolution.

ENTRY_POINTS = {
    "gradient": lambda f: ar.gradient(lambda x: f(x).sum(), X.copy()),
    "vjp": lambda f: ar.vjp(f, X.copy())[1](np.ones(3)),
    "autodiff": lambda f: ar.autodiff(lambda x: f(x).sum(), ar.Duplicated(X.copy(), np.zeros(3))),
}


def _engine_label(form, name):
    return rf"{form} `.*` .*serving .*{name}\(Duplicated\)"


@pytest.mark.parametrize("entry", sorted(ENTRY_POINTS))
def test_engine_rrule_returning_only_the_output(entry):
    @ar.primitive
    def only_out_r(x):
        return np.sin(x)

    ar.rrule(only_out_r)(lambda x: np.sin(x))
    with pytest.raises(RuleError, match=_engine_label("rrule", "only_out_r")
                       + r".*pair \(output, pullback\).*return y, pullback"):
        ENTRY_POINTS[entry](only_out_r)


@pytest.mark.parametrize("entry", sorted(ENTRY_POINTS))
def test_engine_rule_returning_only_the_output(entry):
    @ar.primitive
    def only_out(x):
        return np.sin(x)

    ar.rule(only_out, ar.Duplicated)(lambda cfg, x: np.sin(x.val))
    with pytest.raises(RuleError, match=_engine_label("rule", "only_out")
                       + r".*pair \(output, reverse\).*return y, reverse"):
        ENTRY_POINTS[entry](only_out)


@pytest.mark.parametrize("entry", sorted(ENTRY_POINTS))
def test_engine_rule_returning_an_output_of_two_elements_only(entry):
    # a 2-element output unpacks into (y, reverse) silently unless its type is checked
    @ar.primitive
    def two_out(x):
        return np.sin(x[:2])

    ar.rrule(two_out)(lambda x: np.sin(x[:2]))
    with pytest.raises(RuleError, match=_engine_label("rrule", "two_out") + r".*got ndarray.*return y, pullback"):
        ENTRY_POINTS[entry](two_out)


@pytest.mark.parametrize("entry", sorted(ENTRY_POINTS))
def test_engine_rule_returning_a_non_callable_reverse(entry):
    @ar.primitive
    def pair_out(x):
        return np.sin(x)

    ar.rule(pair_out, ar.Duplicated)(lambda cfg, x: (np.sin(x.val), np.cos(x.val)))
    with pytest.raises(RuleError, match=_engine_label("rule", "pair_out")
                       + r".*second item is a ndarray, not a function.*return y, reverse"):
        ENTRY_POINTS[entry](pair_out)


@pytest.mark.parametrize("entry", sorted(ENTRY_POINTS))
def test_engine_pullback_returning_a_bare_array(entry):
    @ar.primitive
    def bare(x):
        return np.sin(x)

    ar.rrule(bare)(lambda x: (np.sin(x), lambda g: g * np.cos(x)))
    with pytest.raises(RuleError, match=_engine_label("rrule", "bare")
                       + r".*got a bare ndarray; wrap it: `return \(dx,\)`"):
        ENTRY_POINTS[entry](bare)


@pytest.mark.parametrize("entry", sorted(ENTRY_POINTS))
def test_engine_active_reverse_returning_a_bare_number(entry):
    @ar.primitive
    def scale_by(x, s):
        return s * x

    ar.rule(scale_by, ar.Const, ar.Active)(lambda cfg, x, s: (s.val * x.val, lambda g: float(g @ x.val)))
    calls = {
        "gradient": lambda: ar.gradient(lambda s: scale_by(X, s).sum(), 2.0),
        "vjp": lambda: ar.vjp(lambda s: scale_by(X, s), 2.0)[1](np.ones(3)),
        "autodiff": lambda: ar.autodiff(lambda s: scale_by(X, s).sum(), ar.Active(2.0)),
    }
    with pytest.raises(RuleError, match=r"scale_by\(Const, Active\).*tuple of 2.*bare float.*one entry per argument"):
        calls[entry]()


def _in_place_rrule_registry():
    reg = ar.RuleRegistry()   # a private registry accepts a plain function, unmarked

    def scale_(x, s):
        x *= s

    @reg.rrule(scale_)
    def _scale(x, s):
        x *= s
        return None, lambda g: (g * s, 0.0)

    return reg, scale_


def test_adapter_mutates_refuses_an_all_active_rrule_torch():
    torch = pytest.importorskip("torch")
    from activerules.adapters.torch import to_torch

    reg, scale_ = _in_place_rrule_registry()
    f = to_torch(scale_, mutates=(0,), registry=reg)
    x = torch.arange(1.0, 5.0, dtype=torch.float64, requires_grad=True)
    with pytest.raises(RuleError, match=r"scale_.*writes into argument\(s\) 0.*@ar\.rule\("):
        f(x * 1.0, 2.0).sum().backward()


def test_adapter_mutates_refuses_an_all_active_rrule_autograd():
    autograd = pytest.importorskip("autograd")
    from activerules.adapters.autograd import to_autograd

    reg, scale_ = _in_place_rrule_registry()
    g = to_autograd(scale_, mutates=(0,), registry=reg)
    with pytest.raises(RuleError, match=r"scale_.*writes into argument\(s\) 0.*@ar\.rule\("):
        autograd.grad(lambda x: g(x, 2.0).sum())(np.arange(1.0, 5.0))


def test_adapter_mutates_refuses_an_all_active_rrule_jax():
    jax = pytest.importorskip("jax")
    from activerules.adapters.jax import to_jax

    jax.config.update("jax_enable_x64", True)
    reg, scale_ = _in_place_rrule_registry()
    h = to_jax(scale_, mutates=(0,), registry=reg)
    # raised in the host callback: JAX re-raises it as a JaxRuntimeError carrying the message
    with pytest.raises((RuleError, jax.errors.JaxRuntimeError), match=r"scale_.*writes into argument\(s\) 0.*@ar\.rule\("):
        jax.grad(lambda x: h(x, 2.0).sum())(jax.numpy.arange(1.0, 5.0))
