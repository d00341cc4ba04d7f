"""Rules are used where they are registered: the engine and the adapters agree."""

import numpy as np
import pytest

import activerules as ar
from activerules.dispatch import NoRuleError, RegistrationError


def _plain(x):
    return np.sin(x)


def test_rule_on_a_plain_python_function_is_refused_with_the_fix():
    for register in (lambda: ar.rrule(_plain), lambda: ar.rule(_plain, ar.Duplicated),
                     lambda: ar.inactive(_plain)):
        with pytest.raises(RegistrationError, match=r"(?s)_plain is a plain Python function.*@ar\.primitive"):
            register()
    assert not ar.registry.has_rules(_plain)


def test_rule_on_a_primitive_is_what_the_engine_and_the_adapters_use():
    @ar.primitive
    def wiggle(x):
        return np.sin(x)

    @ar.rrule(wiggle)
    def _wiggle(x):  # deliberately not sin's derivative: proves the rule is what runs
        return np.sin(x), lambda g: (2.0 * g,)

    x = np.array([0.2, 0.5])
    np.testing.assert_allclose(ar.gradient(lambda v: wiggle(v).sum(), x), [2.0, 2.0])


def test_private_registry_accepts_plain_functions():
    reg = ar.RuleRegistry()
    reg.rrule(_plain)(lambda x: (np.sin(x), lambda g: (g * np.cos(x),)))
    assert reg.has_rules(_plain)


def test_nothing_registered_error_mentions_load_plugins_and_entry_point():
    @ar.primitive
    def from_a_plugin(x):
        return x

    with pytest.raises(NoRuleError, match=r"ar\.load_plugins\(\).*activerules\.rules"):
        ar.registry.resolve(from_a_plugin, (ar.Duplicated,), (np.ndarray,))


def test_an_rrule_for_an_in_place_function_is_refused():
    from activerules.dispatch import MUTATES_MARK

    reg = ar.RuleRegistry()

    def scale_(x, s):
        x *= s

    setattr(scale_, MUTATES_MARK, (0,))   # what ar.primitive(mutates=(0,)) marks
    with pytest.raises(RegistrationError, match=r"writes into argument\(s\) 0.*@ar\.rule\("):
        reg.rrule(scale_)(lambda x, s: (None, lambda g: (g * s, 0.0)))
    reg.rule(scale_, ar.Annotation, ar.Annotation)(lambda cfg, x, s: (None, lambda g: None))  # fine


def test_an_rrule_on_an_in_place_primitive_is_refused():
    # ar.primitive(mutates=...) marks the function, so the registry refuses an rrule
    # (which would give a wrong gradient: [1, 1, 1, 1] instead of [2, 2, 2, 2] here)
    @ar.primitive(mutates=(0,))
    def scale_inplace(x, s):
        x *= s

    with pytest.raises(RegistrationError, match=r"scale_inplace.*writes into argument\(s\) 0.*@ar\.rule\("):
        @ar.rrule(scale_inplace)
        def _scale(x, s):
            x *= s
            return None, lambda g: (g * s, 0.0)
    assert not ar.registry.has_rules(scale_inplace)
