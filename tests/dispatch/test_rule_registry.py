"""The registry: lattice choices, caching, errors, threads."""

import threading

import numpy as np
import pytest

import activerules as ar
from activerules.activity import annotate
from activerules.dispatch import admissible_requests
from activerules.testing import check_rule

TYPES4 = (np.ndarray, np.ndarray, float, float)


def f4(A, b, s, t):
    """Two arrays, two scalars."""
    return (A @ b) * s + t * b


def make_registry(counter=None):
    reg = ar.RuleRegistry()

    @reg.rrule(f4)
    def _f4(A, b, s, t):
        Ab = A @ b
        y = Ab * s + t * b

        def dA(g):
            if counter is not None:
                counter["A"] += 1
            return np.outer(g * s, b)

        return y, lambda g: (ar.thunk(lambda: dA(g)), A.T @ (g * s) + t * g,
                             float(g @ Ab), float(g @ b))

    return reg


def inputs():
    rng = np.random.default_rng(1)
    return rng.random((3, 3)), rng.random(3), 1.5, -0.5


def test_one_rrule_serves_every_admissible_combination():
    reg = make_registry()
    combos = list(admissible_requests(("array", "array", "scalar", "scalar")))
    # 5 array states x 5 x 2 x 2, minus all-Const, minus batch mixed with non-batch Duplicated
    assert len(combos) == 67
    for acts in combos:
        assert reg.resolve(f4, acts, TYPES4).form == "rrule"
    report = check_rule(f4, *inputs(), registry=reg)
    assert len(report.passed) == 67 and not report.failed


def test_check_rule_catches_assignment_instead_of_accumulation():
    reg = ar.RuleRegistry()

    def square(x):
        return x * x

    @reg.rule(square, ar.Duplicated)
    def _square(cfg, x):
        def reverse(ybar):
            x.dval[...] = 2 * x.val * ybar  # wrong: must be +=
        return x.val * x.val, reverse

    with pytest.raises(AssertionError, match=r"square\(Duplicated\): argument 0 \(Duplicated\): shadow off by"):
        check_rule(square, np.array([1.0, 2.0]), registry=reg, activities=[(ar.Duplicated,)])


def test_exact_rule_preferred_and_noneed_served_by_duplicated():
    reg = make_registry()

    @reg.rule(f4, ar.Duplicated, ar.Const, ar.Const, ar.Const)
    def _exact(cfg, A, b, s, t):
        return None, lambda g: None

    res = reg.resolve(f4, (ar.Duplicated, ar.Const, ar.Const, ar.Const), TYPES4)
    assert res.rule is _exact and res.kind == "exact" and res.cost == 0
    res = reg.resolve(f4, (ar.DuplicatedNoNeed, ar.Const, ar.Const, ar.Const), TYPES4)
    assert res.rule is _exact and res.cost == 1
    assert "DuplicatedNoNeed → Duplicated" in str(res)


def test_const_array_uses_duplicated_rule_with_scratch_shadow_over_rrule():
    reg = make_registry()
    seen = {}

    @reg.rule(f4, ar.Duplicated, ar.Duplicated, ar.Const, ar.Const)
    def _dd(cfg, A, b, s, t):
        seen["activities"] = cfg.activities
        seen["A shadow"] = A.dval
        y = (A.val @ b.val) * s.val + t.val * b.val

        def reverse(g):
            A.dval += np.outer(g * s.val, b.val)
            b.dval += A.val.T @ (g * s.val) + t.val * g
        return y, reverse

    res = reg.resolve(f4, (ar.Const, ar.Duplicated, ar.Const, ar.Const), TYPES4)
    assert res.rule is _dd and res.cost == 2 and res.wasteful
    assert "arg 0: Const → Duplicated with a scratch zero shadow" in str(res)
    A, b, s, t = inputs()
    db = np.zeros(3)
    y, reverse = res(ar.RevConfig(res.activities), ar.Const(A), ar.Duplicated(b, db), ar.Const(s), ar.Const(t))
    assert reverse(np.ones(3)) is None
    assert seen["activities"] == (ar.Duplicated, ar.Duplicated, ar.Const, ar.Const)
    assert isinstance(seen["A shadow"], np.ndarray) and seen["A shadow"] is not A
    np.testing.assert_allclose(db, A.T @ np.full(3, s) + t)


def test_const_scalar_widened_to_active_drops_its_cotangent():
    reg = ar.RuleRegistry()

    def axpy(a, x):
        return a * x

    @reg.rule(axpy, ar.Active, ar.Duplicated)
    def _axpy(cfg, a, x):
        def reverse(g):
            x.dval += a.val * g
            return (float(g @ x.val), None)
        return a.val * x.val, reverse

    res = reg.resolve(axpy, (ar.Const, ar.Duplicated), (float, np.ndarray))
    assert res.cost == 1 and "Const → Active, cotangent discarded" in str(res)
    x, dx = np.array([1.0, 2.0]), np.zeros(2)
    _, reverse = res(ar.RevConfig(res.activities), ar.Const(3.0), ar.Duplicated(x, dx))
    assert reverse(np.ones(2)) is None
    np.testing.assert_allclose(dx, [3.0, 3.0])


def test_without_types_const_widens_to_what_the_rule_has():
    reg = ar.RuleRegistry()

    def g(x, y):
        return x * y

    @reg.rule(g, ar.Duplicated, ar.Duplicated)
    def _g(cfg, x, y):
        return x.val * y.val, lambda d: None

    assert reg.resolve(g, (ar.Const, ar.Duplicated)).inner_activities == (ar.Duplicated, ar.Duplicated)


def test_registration_after_cached_hit_or_miss_is_seen():
    reg = ar.RuleRegistry()

    def h(x):
        return 2 * x

    with pytest.raises(ar.NoRuleError):
        reg.resolve(h, (ar.Duplicated,))
    with pytest.raises(ar.NoRuleError):  # the cached miss
        reg.resolve(h, (ar.Duplicated,))

    @reg.rrule(h)
    def _h(x):
        return 2 * x, lambda g: (2 * g,)

    assert reg.resolve(h, (ar.Duplicated,)).rule is _h  # miss invalidated

    @reg.rule(h, ar.Duplicated)
    def _h_dup(cfg, x):
        return 2 * x.val, lambda g: None

    assert reg.resolve(h, (ar.Duplicated,)).rule is _h_dup  # hit invalidated


def test_batch_of_width_3_served_by_width_1_rule_matches_three_calls():
    reg = ar.RuleRegistry()
    calls = {"forward": 0}

    def mul(A, x):
        return A @ x

    @reg.rule(mul, ar.Annotation, ar.Annotation)
    def _mul(cfg, A, x):
        calls["forward"] += 1

        def reverse(g):
            if not isinstance(A, ar.Const):
                A.dval += np.outer(g, x.val)
            if not isinstance(x, ar.Const):
                x.dval += A.val.T @ g
        return A.val @ x.val, reverse

    rng = np.random.default_rng(2)
    A, x = rng.random((3, 3)), rng.random(3)
    gs = [rng.random(3) for _ in range(3)]
    res = reg.resolve(mul, (ar.BatchDuplicated, ar.BatchDuplicated), (np.ndarray, np.ndarray))
    assert res.lanes and "reverse once per lane" in str(res)
    dAs, dxs = tuple(np.zeros((3, 3)) for _ in gs), tuple(np.zeros(3) for _ in gs)
    _, reverse = res(ar.RevConfig(res.activities, width=3), ar.BatchDuplicated(A, dAs), ar.BatchDuplicated(x, dxs))
    assert reverse(tuple(gs)) is None and calls["forward"] == 1
    single = reg.resolve(mul, (ar.Duplicated, ar.Duplicated), (np.ndarray, np.ndarray))
    for g, dA_lane, dx_lane in zip(gs, dAs, dxs):
        dA, dx = np.zeros((3, 3)), np.zeros(3)
        _, rev = single(ar.RevConfig(single.activities), ar.Duplicated(A, dA), ar.Duplicated(x, dx))
        rev(g)
        np.testing.assert_allclose(dA_lane, dA)
        np.testing.assert_allclose(dx_lane, dx)


def test_batch_active_cotangents_come_back_per_lane():
    reg = make_registry()
    A, b, s, t = inputs()
    res = reg.resolve(f4, (ar.Const, ar.BatchDuplicated, ar.Active, ar.Const), TYPES4)
    dbs = (np.zeros(3), np.zeros(3))
    _, reverse = res(ar.RevConfig(res.activities, width=2), ar.Const(A), ar.BatchDuplicated(b, dbs),
                     ar.Active(s), ar.Const(t))
    g0, g1 = np.ones(3), np.arange(3.0)
    cots = reverse((g0, g1))
    assert cots[0] is None and cots[1] is None and cots[3] is None
    np.testing.assert_allclose(cots[2], (g0 @ (A @ b), g1 @ (A @ b)))


def test_thunk_of_const_argument_is_never_evaluated():
    counter = {"A": 0}
    reg = make_registry(counter)
    A, b, s, t = inputs()
    for acts in [(ar.Const, ar.Duplicated, ar.Const, ar.Const), (ar.Const, ar.BatchDuplicated, ar.Active, ar.Const)]:
        res = reg.resolve(f4, acts, TYPES4)
        width = 2 if acts[1] is ar.BatchDuplicated else 1
        b_ann = (ar.BatchDuplicated(b, (np.zeros(3), np.zeros(3))) if width == 2 else ar.Duplicated(b, np.zeros(3)))
        args = [ar.Const(A), b_ann, acts[2](s), ar.Const(t)]
        _, reverse = res(ar.RevConfig(acts, width=width), *args)
        reverse((np.ones(3),) * 2 if width == 2 else np.ones(3))
    assert counter["A"] == 0
    res = reg.resolve(f4, (ar.Duplicated, ar.Const, ar.Const, ar.Const), TYPES4)
    _, reverse = res(ar.RevConfig(res.activities), ar.Duplicated(A, np.zeros((3, 3))), ar.Const(b), ar.Const(s), ar.Const(t))
    reverse(np.ones(3))
    assert counter["A"] == 1


def test_no_rule_error_names_function_activities_registered_and_what_to_add():
    reg = ar.RuleRegistry()

    def k(x, y):
        return x + y

    with pytest.raises(ar.NoRuleError) as info:
        reg.resolve(k, (ar.Duplicated, ar.Const))
    assert str(info.value) == (
        "no rule for test_registry.k(Duplicated, Const): nothing is registered for it (if its rules "
        "come from a plugin package, call ar.load_plugins() first, or import the module its entry "
        "point in the group 'activerules.rules' names). Add "
        "@ar.rule(test_registry.k, ar.Duplicated, ar.Const) for this activity tuple, or an all-active "
        "@ar.rrule(test_registry.k) that serves every combination").replace(
            "test_registry.k", k.__module__ + ".test_no_rule_error_names_function_activities_registered_and_what_to_add.<locals>.k")

    @reg.rule(k, ar.Active, ar.Active)
    def _k(cfg, x, y):
        return x.val + y.val, lambda g: (g, g)

    with pytest.raises(ar.NoRuleError, match=r"registered: rule `.*_k` for \(Active, Active\) at .*test_rule_registry.py:\d+"):
        reg.resolve(k, (ar.Duplicated, ar.Const))


def test_ambiguous_rules_are_named_with_sources_and_cost():
    reg = ar.RuleRegistry()

    def m(x, y):
        return x * y

    @reg.rule(m, ar.Duplicated, ar.Annotation)
    def _left(cfg, x, y):
        return None, lambda g: None

    @reg.rule(m, ar.Annotation, ar.Duplicated)
    def _right(cfg, x, y):
        return None, lambda g: None

    with pytest.raises(ar.AmbiguousRuleError) as info:
        reg.resolve(m, (ar.Duplicated, ar.Duplicated), (np.ndarray, np.ndarray))
    message = str(info.value)
    assert "(Duplicated, Duplicated) is ambiguous: at cost 0 these rules all apply" in message
    assert "rule `" in message and "_left` for (Duplicated, Annotation) at" in message
    assert "_right` for (Annotation, Duplicated) at" in message and "test_rule_registry.py:" in message
    # one side only: no ambiguity
    assert reg.resolve(m, (ar.Duplicated, ar.Const), (np.ndarray, np.ndarray)).rule is _left


def test_duplicate_registration_needs_override():
    reg = ar.RuleRegistry()

    def p(x):
        return x

    @reg.rule(p, ar.Duplicated)
    def _p1(cfg, x):
        return x.val, lambda g: None

    with pytest.raises(ar.RegistrationError, match=r"a rule for \(Duplicated\) is already registered .*override=True"):
        reg.rule(p, ar.Duplicated)(lambda cfg, x: None)

    @reg.rule(p, ar.Duplicated, override=True)
    def _p2(cfg, x):
        return x.val, lambda g: None

    assert reg.resolve(p, (ar.Duplicated,)).rule is _p2
    reg.rrule(p)(lambda x: (x, lambda g: (g,)))
    with pytest.raises(ar.RegistrationError, match="already has rrule"):
        reg.rrule(p)(lambda x: (x, lambda g: (g,)))


def test_bad_pattern_is_rejected_at_registration():
    with pytest.raises(TypeError, match="a rule pattern entry must be an activity class"):
        ar.RuleRegistry().rule(np.sin, np.ndarray)


@pytest.mark.parametrize("pullback, message", [
    (lambda A, x: lambda g: (g,), r"the pullback must return a tuple of 2 cotangents \(one per argument, None for a zero one\), got 1"),
    (lambda A, x: lambda g: (None, np.ones(4)), r"argument 1: cotangent has shape \(4,\), the argument has shape \(3,\)"),
    (lambda A, x: lambda g: (np.ones((3, 3)), np.ones(3) * 1j), r"argument 1: cotangent has dtype complex128, the argument has dtype float64"),
])
def test_rule_error_before_anything_is_accumulated(pullback, message):
    reg = ar.RuleRegistry()

    def mv(A, x):
        return A @ x

    reg.rrule(mv)(lambda A, x: (A @ x, pullback(A, x)))
    res = reg.resolve(mv, (ar.Duplicated, ar.Duplicated))
    dA, dx = np.zeros((3, 3)), np.zeros(3)
    _, reverse = res(ar.RevConfig(res.activities), ar.Duplicated(np.eye(3), dA), ar.Duplicated(np.ones(3), dx))
    with pytest.raises(ar.RuleError, match=message) as info:
        reverse(np.ones(3))
    assert "serving " in str(info.value) and "mv(Duplicated, Duplicated)" in str(info.value)
    assert not dA.any() and not dx.any()


def test_rule_error_for_activity_rule_returning_bad_active_cotangent_or_raising():
    reg = ar.RuleRegistry()

    def sc(a, x):
        return a * x

    @reg.rule(sc, ar.Active, ar.Const)
    def _sc(cfg, a, x):
        return a.val * x.val, lambda g: (g * x.val, None)  # an array for a scalar: wrong

    res = reg.resolve(sc, (ar.Active, ar.Const), (float, np.ndarray))
    _, reverse = res(ar.RevConfig(res.activities), ar.Active(2.0), ar.Const(np.ones(3)))
    with pytest.raises(ar.RuleError, match=r"argument 0 is an Active scalar; its cotangent must be a scalar, got shape \(3,\)"):
        reverse(np.ones(3))

    @reg.rule(sc, ar.Const, ar.Duplicated)
    def _boom(cfg, a, x):
        def reverse(g):
            raise ZeroDivisionError("boom")
        return a.val * x.val, reverse

    res = reg.resolve(sc, (ar.Const, ar.Duplicated), (float, np.ndarray))
    _, reverse = res(ar.RevConfig(res.activities), ar.Const(2.0), ar.Duplicated(np.ones(3), np.zeros(3)))
    with pytest.raises(ar.RuleError, match=r"rule `.*_boom` for \(Const, Duplicated\) .*sc\(Const, Duplicated\): reverse raised ZeroDivisionError: boom"):
        reverse(np.ones(3))


def test_inadmissible_requests_raise_activity_error():
    reg = make_registry()
    with pytest.raises(ar.ActivityError, match="argument 0 is Active, which an array primal cannot be"):
        reg.resolve(f4, (ar.Active, ar.Const, ar.Const, ar.Const), TYPES4)
    with pytest.raises(ar.ActivityError, match="never mixes batch and non-batch"):
        reg.resolve(f4, (ar.BatchDuplicated, ar.Duplicated, ar.Const, ar.Const), TYPES4)


def test_integer_primals_get_no_cotangent_and_no_error():
    reg = ar.RuleRegistry()

    def take(x, i):
        return x[i]

    @reg.rrule(take)
    def _take(x, i):
        def pb(g):
            dx = np.zeros_like(x)
            np.add.at(dx, i, g)
            return dx, np.ones(np.shape(i))  # a cotangent for the integers: dropped
        return x[i], pb

    x, i = np.arange(4.0), np.array([1, 1, 3])
    res = reg.resolve(take, (ar.Duplicated, ar.Duplicated))
    dx, di = np.zeros(4), np.zeros(3, dtype=int)
    _, reverse = res(ar.RevConfig(res.activities), ar.Duplicated(x, dx), annotate(ar.Duplicated, i, di))
    reverse(np.ones(3))
    np.testing.assert_allclose(dx, [0, 2, 0, 1])
    assert not di.any()


def test_concurrent_registration_and_resolution_match_serial():
    fns = [lambda x, k=k: k * x for k in range(8)]
    patterns = [(ar.Duplicated,), (ar.Annotation,), (ar.DuplicatedNoNeed,)]

    def register_all(reg, fn):
        reg.rrule(fn)(lambda x: (x, lambda g: (g,)))
        for p in patterns:
            reg.rule(fn, *p)(lambda cfg, x: (x.val, lambda g: None))

    requests = [(ar.Duplicated,), (ar.DuplicatedNoNeed,), (ar.Const,), (ar.BatchDuplicated,), (ar.Active,)]

    def snapshot(reg):
        return {(i, r): (str(reg.resolve(fn, r)).split(" at ")[0], reg.resolve(fn, r).cost)
                for i, fn in enumerate(fns) for r in requests}

    serial = ar.RuleRegistry()
    for fn in fns:
        register_all(serial, fn)
    expected = snapshot(serial)

    concurrent = ar.RuleRegistry()
    stop = threading.Event()
    errors = []

    def resolver():
        while not stop.is_set():
            for fn in fns:
                for r in requests:
                    try:
                        concurrent.resolve(fn, r)
                    except ar.NoRuleError:
                        pass
                    except Exception as e:  # pragma: no cover - reported below
                        errors.append(e)

    readers = [threading.Thread(target=resolver) for _ in range(8)]
    writers = [threading.Thread(target=register_all, args=(concurrent, fn)) for fn in fns]
    for t in readers + writers:
        t.start()
    for t in writers:
        t.join()
    stop.set()
    for t in readers:
        t.join()
    assert not errors
    assert snapshot(concurrent) == expected


def test_noneed_priced_inside_a_plum_tie_and_candidates_attached():
    reg = ar.RuleRegistry()

    def q(x, y):
        return x * y

    @reg.rule(q, ar.Duplicated, ar.Const)
    def _dc(cfg, x, y):
        return None, lambda g: None

    @reg.rule(q, ar.DuplicatedNoNeed, ar.Annotation)
    def _nn(cfg, x, y):
        return None, lambda g: None

    @reg.rule(q, ar.Annotation, ar.Active)
    def _aa(cfg, x, y):
        return None, lambda g: None

    # plum: (NoNeed, Annotation) and (Annotation, Active) tie on (NoNeed, Active); costs decide
    assert reg.resolve(q, (ar.DuplicatedNoNeed, ar.Active)).rule is _nn
    # (Duplicated, Active): only _aa applies, exactly
    assert reg.resolve(q, (ar.Duplicated, ar.Active)).rule is _aa
    # (Duplicated, Const): exact _dc beats the Const → Active widening into _aa
    assert reg.resolve(q, (ar.Duplicated, ar.Const)).rule is _dc

    @reg.rule(q, ar.Duplicated, ar.Annotation)
    def _da(cfg, x, y):
        return None, lambda g: None

    @reg.rule(q, ar.Annotation, ar.Duplicated)
    def _ad(cfg, x, y):
        return None, lambda g: None

    for _ in range(2):  # the second time from the cache
        with pytest.raises(ar.AmbiguousRuleError) as info:
            reg.resolve(q, (ar.Duplicated, ar.Duplicated))
        assert {e.impl for e in info.value.candidates} == {_da, _ad}


def test_rrule_serving_a_request_is_its_own_kind_never_exact():
    # exact means cost 0 (a rule written for the request); the lifted rrule costs 10
    reg = make_registry()
    for acts in [(ar.Duplicated, ar.DuplicatedNoNeed, ar.Active, ar.Active),
                 (ar.Duplicated, ar.Const, ar.Active, ar.Active),
                 (ar.BatchDuplicated, ar.BatchDuplicated, ar.Active, ar.Active)]:
        res = reg.resolve(f4, acts, TYPES4)
        assert (res.kind, res.cost) == ("rrule", 10)


def test_float64_cotangent_for_float32_argument_is_cast_and_complex_for_real_refused():
    # the adapters' dtype policy (as ar.gradient): a wider cotangent of the same kind is cast
    reg = ar.RuleRegistry()

    def dbl(x):
        return 2 * x

    reg.rrule(dbl)(lambda x: (2 * x, lambda g: (2 * g.astype(np.float64) / 3,)))
    res = reg.resolve(dbl, (ar.Duplicated,))
    x = np.ones(2, np.float32)
    dx = np.zeros(2, np.float32)
    _, reverse = res(ar.RevConfig(res.activities), ar.Duplicated(x, dx), )
    reverse(np.ones(2, np.float32))
    assert dx.dtype == np.float32
    np.testing.assert_array_equal(dx, np.float32(2 / 3))

    def cdbl(x):
        return 2 * x

    reg.rrule(cdbl)(lambda x: (2 * x, lambda g: (2j * g,)))
    res = reg.resolve(cdbl, (ar.Duplicated,))
    _, reverse = res(ar.RevConfig(res.activities), ar.Duplicated(x, np.zeros(2, np.float32)), )
    with pytest.raises(ar.RuleError, match="cotangent has dtype complex64, the argument has dtype float32"):
        reverse(np.ones(2, np.float32))


def test_zero_cotangent_of_an_infinite_scalar_is_zero_and_samples_print():
    from activerules.dispatch.lifting import zero_cotangent
    assert zero_cotangent(np.inf) == 0.0 and zero_cotangent(np.float32(np.inf)) == 0
    assert zero_cotangent((1.0, 2j)) == (0.0, 0j)
    assert repr(ar.Sample(np.ones((2, 3)), np.float32, axis=1)) == "Sample(ndarray[2, 3], type, axis=1)"
