"""``registry=`` on autodiff, gradient and vjp (as the adapters have it), and the
registry's generation counter the engine's plan cache follows (oracle: d/dx sin = cos)."""

import numpy as np
import pytest

import activerules as ar

X = np.linspace(0.1, 1.0, 4)


def _private():
    reg = ar.RuleRegistry()

    @ar.primitive
    def f(x):
        return np.sin(x).sum()

    @reg.rrule(f)
    def _f(x):
        return np.sin(x).sum(), lambda g: (g * np.cos(x),)

    return reg, f


def test_a_private_registrys_rule_serves_gradient_vjp_and_autodiff():
    reg, f = _private()
    np.testing.assert_allclose(ar.gradient(f, X, registry=reg), np.cos(X), rtol=1e-12)
    y, pullback = ar.vjp(f, X, registry=reg)
    np.testing.assert_allclose(pullback(1.0)[0], np.cos(X), rtol=1e-12)
    d = np.zeros_like(X)
    ar.autodiff(f, ar.Duplicated(X, d), registry=reg)
    np.testing.assert_allclose(d, np.cos(X), rtol=1e-12)


def test_the_global_registry_is_untouched():
    reg, f = _private()
    ar.gradient(f, X, registry=reg)
    assert not ar.registry.has_rules(f)
    with pytest.raises(ar.NoRuleError):
        ar.gradient(f, X)  # the plans made under reg are not reused for the global registry
    np.testing.assert_allclose(ar.gradient(f, X, registry=reg), np.cos(X), rtol=1e-12)


def test_a_registration_bumps_the_generation_and_the_engine_follows_it():
    reg, f = _private()
    np.testing.assert_allclose(ar.gradient(f, X, registry=reg), np.cos(X), rtol=1e-12)
    before = reg.generation

    @reg.rrule(f, override=True)
    def _f2(x):
        return np.sin(x).sum(), lambda g: (2 * g * np.cos(x),)

    assert reg.generation > before
    np.testing.assert_allclose(ar.gradient(f, X, registry=reg), 2 * np.cos(X), rtol=1e-12)
