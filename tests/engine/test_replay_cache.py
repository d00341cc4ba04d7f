"""``ar.replay``'s edges (issue 12, part 1): functions that raise, threads, the cache bound
and ``clear_cache``, rule registrations after a recording, higher order (``jacobian``,
``hessian``, a replayed gradient inside a differentiation), and what a recording fixes:
side effects happen only when recording; globals, closures and random draws are constants
of the recording (as in ``jax.jit``). Oracle: the eager engine on the plain function, bit
for bit; the counters only where the spec fixes them.
"""

from __future__ import annotations

import threading

import numpy as np
import pytest
from engine_helpers import V3, X3
from replay_helpers import KINDS, Raised, call_and_compare, check_replay, grad, info, outcome, rng, same, vjp

import activerules as ar


def total(rf) -> int:
    return sum(info(rf)[k] for k in KINDS)


# ------------------------------------------------------------------ errors


def test_an_error_on_another_path_is_raised_and_the_cache_still_serves():
    def f(x):
        if x[0] > 1.0:
            raise ValueError("x[0] too large")
        return (np.sin(x) ** 2).sum()
    xs = [np.array([0.5, 0.2]), np.array([0.7, 0.1]), np.array([2.0, 0.1]), np.array([0.6, 0.3])]
    rf = check_replay(f, grad(), lambda k: (xs[k].copy(),), draws=4,
                      expect=["misses", "hits", "rerecords", "hits|rerecords"])
    assert isinstance(outcome(grad(), rf, (xs[2].copy(),))[0], Raised)


@pytest.mark.parametrize("request_", ["gradient", "vjp", "autodiff"])
def test_a_rule_raising_on_new_values_raises_the_same_error(request_):
    """``np.linalg.solve`` of a singular matrix raises LinAlgError in the rule's forward,
    which a replay calls directly: the same error type as the eager engine, and after
    it the caller's arrays (and shadows) as the eager engine leaves them."""
    def f(A, b):
        return (np.linalg.solve(A, b) ** 2).sum()
    mats = [np.array([[2.0, 1.0], [0.5, 3.0]]), np.array([[1.0, 2.0], [2.0, 4.0]]), np.array([[3.0, 1.0], [1.0, 2.0]])]
    runs = {"gradient": grad((0, 1)), "vjp": vjp(),
            "autodiff": lambda fn, d: ar.autodiff(fn, ar.Duplicated(d["A"], d["dA"]), ar.Duplicated(d["b"], d["db"]))}
    makes = {"gradient": lambda k: (mats[k].copy(), np.array([1.0, -1.0])),
             "vjp": lambda k: ((mats[k].copy(), np.array([1.0, -1.0])), [1.0, 2.0]),
             "autodiff": lambda k: {"A": mats[k].copy(), "dA": np.ones((2, 2)), "b": np.array([1.0, -1.0]),
                                    "db": np.ones(2)}}
    check_replay(f, runs[request_], makes[request_], draws=3,
                 expect=["misses", "hits|rerecords", "hits|rerecords"])
    assert isinstance(outcome(runs[request_], f, makes[request_](1))[0], Raised)  # not vacuous


def test_an_errstate_inside_f_holds_on_replay():
    """``np.errstate(divide='raise')`` is user Python around NumPy calls: a replay that
    drops it would return inf where the eager engine raises FloatingPointError."""
    def f(x, c):
        with np.errstate(divide="raise", invalid="raise"):
            return (x / c).sum()
    cs = [np.array([1.0, 2.0]), np.array([2.0, 3.0]), np.array([1.0, 0.0]), np.array([4.0, 1.0])]
    check_replay(f, grad(), lambda k: (np.array([1.0, -1.0]), cs[k].copy()), draws=4,
                 expect=["misses", "hits", "hits|rerecords|misses", "hits|rerecords|misses"])


def test_the_callers_errstate_holds_on_replay():
    def f(x, c):
        return (np.log(c) * x).sum()
    rf = ar.replay(f)
    x = np.array([1.0, 2.0])
    same(ar.gradient(rf, x, np.array([1.0, 2.0])), ar.gradient(f, x, np.array([1.0, 2.0])))
    with np.errstate(divide="raise"):
        got = outcome(grad(), rf, (x.copy(), np.array([0.0, 2.0])))
        want = outcome(grad(), f, (x.copy(), np.array([0.0, 2.0])))
    assert isinstance(want[0], Raised)
    same(got, want)


def test_autodiff_after_an_error_leaves_the_callers_arrays_as_the_eager_engine():
    def f(x, c):
        c *= 2.0
        x[0] = c[0]
        if c[1] > 3.0:
            raise ValueError("c[1] too large")
        return (x * x).sum()

    def run(fn, d):
        return ar.autodiff(fn, ar.Duplicated(d["x"], d["dx"]), ar.Const(d["c"]))
    cs = [np.array([1.0, 1.0]), np.array([2.0, 1.2]), np.array([1.0, 2.0]), np.array([3.0, 0.5])]
    check_replay(f, run, lambda k: {"x": np.array([0.5, 1.5]), "dx": np.ones(2), "c": cs[k].copy()}, draws=4,
                 expect=["misses", "hits", "rerecords", "hits|rerecords"])


# ------------------------------------------------------------------ threads


def test_two_threads_replaying_one_function():
    def f(x, c):
        y = x.copy()
        for _ in range(3):
            y[1:] += np.sin(y[:-1]) * c[1:]
        return (y * y).sum() if c[0] > 0 else y.sum()
    inputs = [(rng(k).uniform(-1, 1, 5), rng(k, 1).uniform(-1, 1, 5)) for k in range(16)]
    wants = [ar.gradient(f, x.copy(), c.copy()) for x, c in inputs]
    rf = ar.replay(f)
    ar.gradient(rf, *inputs[0])
    errors: list[str] = []

    def worker(start: int) -> None:
        for _ in range(6):
            for k in range(start, len(inputs), 2):
                got = ar.gradient(rf, inputs[k][0].copy(), inputs[k][1].copy())
                if not np.array_equal(got, wants[k]):
                    errors.append(f"input {k}: {got} != {wants[k]}")
    threads = [threading.Thread(target=worker, args=(s,)) for s in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[:3]
    assert total(rf) == 1 + 6 * len(inputs) and info(rf)["hits"] > 0


# ------------------------------------------------------------------ the cache


def _shape_draw(n: int):
    return lambda k: (rng(k, n).uniform(-1, 1, n),)


def test_the_bound_is_respected_and_the_oldest_recording_evicted():
    def f(x):
        return (np.tanh(x) * x).sum()
    rf = ar.replay(max_recordings=2)(f)
    assert rf.cache_info().maxsize == 2
    for n in (3, 4, 5):  # three signatures, one recording each
        call_and_compare(f, rf, grad(), _shape_draw(n), 0)
        assert rf.cache_info().size <= 2
    moved = call_and_compare(f, rf, grad(), _shape_draw(5), 1)[1]
    assert moved == {"hits": 1}  # the newest is held
    moved = call_and_compare(f, rf, grad(), _shape_draw(3), 1)[1]
    assert moved == {"misses": 1}  # the first one was evicted
    assert rf.cache_info().size == 2


def test_recordings_of_many_paths_are_bounded_too():
    def f(x, c):
        y = x
        for _ in range(int(c[0])):
            y = np.sin(y) + 0.5
        return y.sum()
    rf = ar.replay(max_recordings=3)(f)
    for k, n in enumerate([1, 2, 3, 4, 5, 6, 1, 2]):
        call_and_compare(f, rf, grad(), lambda k: (np.array([0.3, -0.2]), np.array([n + 0.5])), k)
        assert rf.cache_info().size <= 3
    assert info(rf)["rerecords"] >= 5


def test_the_default_bound():
    maxsize = ar.replay(lambda x: x.sum()).cache_info().maxsize
    assert maxsize is None or maxsize >= 1


def test_clear_cache():
    def f(x):
        return (x ** 3).sum()
    rf = check_replay(f, grad(), _shape_draw(4))
    assert rf.cache_info().size == 1
    rf.clear_cache()
    after = rf.cache_info()
    assert after.size == 0
    moved = call_and_compare(f, rf, grad(), _shape_draw(4), 5)[1]
    assert moved == {"misses": 1} and rf.cache_info().size == 1


# ------------------------------------------------------------------ registry changes


def _scalar_primitive():
    """A primitive with a scalar result: a private registry holds no built-in rule, so the
    differentiated function is this call alone."""
    @ar.primitive
    def p(x):
        return np.sin(x).sum()
    return p


def test_a_rule_registered_after_the_recording_is_used():
    """An override in the registry after the recording: the replay must not call the
    stale rule (the eager engine follows the registry's generation)."""
    reg = ar.RuleRegistry()
    p = _scalar_primitive()

    @reg.rrule(p)
    def _p(x):
        return np.sin(x).sum(), lambda g: (g * np.cos(x),)

    def f(x):
        return p(x)
    rf = check_replay(f, grad(registry=reg), _shape_draw(3))

    @reg.rrule(p, override=True)
    def _p2(x):
        return np.sin(x).sum(), lambda g: (3.0 * g * np.cos(x),)
    x = rng(7).uniform(-1, 1, 3)
    want = ar.gradient(f, x.copy(), registry=reg)
    np.testing.assert_allclose(want, 3.0 * np.cos(x), rtol=1e-12)  # the new rule, eagerly
    same(ar.gradient(rf, x, registry=reg), want)


def test_a_more_specific_rule_registered_in_the_global_registry_is_used():
    @ar.primitive
    def q(x, c):
        return np.exp(x) * c

    @ar.rrule(q)
    def _q(x, c):
        return np.exp(x) * c, lambda g: (g * np.exp(x) * c, g * np.exp(x))

    def f(x, c):
        return q(x, c).sum()
    rf = check_replay(f, grad(), lambda k: (rng(k).uniform(-1, 1, 3), np.ones(3)))

    @ar.rule(q, ar.Duplicated, ar.Const)
    def _q_dc(cfg, x, c):
        def reverse(g):
            x.dval += 2.0 * g * np.exp(x.val) * c.val  # twice the derivative: visibly the new rule
            return (None, None)
        return np.exp(x.val) * c.val, reverse
    x = rng(8).uniform(-1, 1, 3)
    want = ar.gradient(f, x.copy(), np.ones(3))
    np.testing.assert_allclose(want, 2.0 * np.exp(x), rtol=1e-12)
    same(ar.gradient(rf, x, np.ones(3)), want)


def test_another_registry_keyword_is_another_resolution():
    r1, r2 = ar.RuleRegistry(), ar.RuleRegistry()
    p = _scalar_primitive()

    @r1.rrule(p)
    def _p1(x):
        return np.sin(x).sum(), lambda g: (g * np.cos(x),)

    @r2.rrule(p)
    def _p2(x):
        return np.sin(x).sum(), lambda g: (-2.0 * g * np.cos(x),)

    def f(x):
        return p(x)
    rf = ar.replay(f)
    x = np.array([0.1, 0.2])
    for reg in (r1, r2, r1, r2):
        same(ar.gradient(rf, x, registry=reg), ar.gradient(f, x.copy(), registry=reg))
    np.testing.assert_allclose(ar.gradient(rf, x, registry=r2), -2.0 * np.cos(x), rtol=1e-12)


# ------------------------------------------------------------------ higher order


def _cubic(x):
    return (x ** 3).sum() + x[0] * np.sin(x[1]) * x[2]


def test_jacobian_and_hessian_of_a_replayed_function():
    vec_f = ar.replay(lambda x: np.sin(x) * x[::-1])
    for k in range(3):
        x = X3 + 0.1 * k
        same(ar.jacobian(vec_f, x), ar.jacobian(lambda x: np.sin(x) * x[::-1], x.copy()))
    rf = ar.replay(_cubic)
    for k in range(3):
        x = X3 + 0.1 * k
        same(ar.hessian(rf, x), ar.hessian(_cubic, x.copy()))
    assert total(rf) == 3  # one gradient of rf per hessian: counted (as eager or replayed) once


def test_a_replayed_gradient_inside_a_differentiation():
    """A Hessian-vector product through a replayed gradient: the inner call meets outer
    stand-ins (higher order) and must differentiate right, eagerly or replayed."""
    rf = ar.replay(_cubic)
    for k in range(3):
        x = X3 + 0.2 * k
        same(ar.gradient(lambda x: ar.gradient(rf, x) @ V3, x), ar.gradient(lambda x: ar.gradient(_cubic, x) @ V3, x.copy()))
    assert info(rf)["eager"] + info(rf)["hits"] + info(rf)["misses"] + info(rf)["rerecords"] == 3


def test_a_replayed_function_that_differentiates_inside():
    def inner(x):
        return (np.sin(x) * x).sum()

    def f(x):
        return ar.gradient(inner, x) @ V3 + (x * x).sum()
    check_replay(f, grad(), lambda k: (X3 + 0.3 * k,), draws=3,
                 expect=["misses|eager", "hits|eager", "hits|eager"])


def test_a_plain_call_inside_a_differentiation_runs_f():
    rf = ar.replay(_cubic)
    for k in range(2):
        x = X3 + 0.1 * k
        same(ar.gradient(lambda v: rf(v) * 2.0, x), ar.gradient(lambda v: _cubic(v) * 2.0, x.copy()))


# ------------------------------------------------------------------ what a recording fixes


def test_side_effects_happen_only_when_recording():
    log: list[float] = []

    def f(x):
        log.append(1.0)
        print("recording")
        return (x * x).sum()
    rf = ar.replay(f)
    for k in range(4):
        ar.gradient(rf, rng(k).uniform(-1, 1, 3))
    assert len(log) == 1 and info(rf)["hits"] == 3


def test_a_global_is_a_constant_of_the_recording():
    scale = {"k": 2.0}

    def f(x):
        return (x * x).sum() * scale["k"]
    rf = ar.replay(f)
    x = np.array([1.0, 2.0])
    same(ar.gradient(rf, x), ar.gradient(f, x.copy()))
    scale["k"] = 5.0
    got = ar.gradient(rf, x)
    assert info(rf)["hits"] == 1
    np.testing.assert_array_equal(got, 2.0 * 2.0 * x)  # the recording's value, as jax.jit


def test_a_global_array_changed_in_place_gives_a_consistent_result():
    """Whether the recording copied it or not, value and derivative come from one and the
    same array (the eager engine on the old or on the new one), never a mix."""
    w = np.array([1.0, -2.0, 0.5])

    def f(x):
        return (np.sin(x * w) * w).sum()
    rf = ar.replay(f)
    x = np.array([0.3, 0.2, 0.1])
    old = ar.vjp(f, x.copy())
    y0, pb0 = ar.vjp(rf, x)
    same((y0, pb0(1.0)), (old[0], old[1](1.0)))
    w[:] = [2.0, 1.0, -1.0]
    new = ar.vjp(f, x.copy())
    y, pb = ar.vjp(rf, x)
    got = (y, pb(1.0))
    try:
        same(got, (old[0], old[1](1.0)))
    except AssertionError:
        same(got, (new[0], new[1](1.0)))


def test_a_random_draw_inside_f_is_a_constant_of_the_recording():
    gen = np.random.default_rng(0)

    def f(x):
        noise = gen.normal(size=x.shape)
        return (x * noise).sum()
    rf = ar.replay(f)
    first = ar.gradient(rf, np.zeros(3))
    for k in range(2):
        same(ar.gradient(rf, rng(k).uniform(-1, 1, 3)), first)  # d/dx (x * noise) = the recorded noise
    assert info(rf)["hits"] == 2


@pytest.mark.parametrize("request_", ["gradient", "vjp", "autodiff"])
def test_the_callers_arrays_are_not_kept_after_the_call(request_):
    """The eager engine lets go of the caller's arrays (and the values of the forward pass)
    when the call returns (for vjp, when the pullback is dropped); a recording must not
    keep the last call's arrays alive until the next call."""
    import gc
    import weakref

    def f(w, x):
        return (np.tanh(x @ w) ** 2).sum()

    def call(fn, w, x):
        if request_ == "gradient":
            ar.gradient(fn, w, x)
        elif request_ == "vjp":
            _, pb = ar.vjp(fn, w, ar.Const(x))
            pb(1.0)
        else:
            ar.autodiff(fn, ar.Duplicated(w, np.zeros_like(w)), ar.Const(x))

    rf = ar.replay(f)
    for fn in (f, rf, rf, rf):
        w, x = rng(0).uniform(-1, 1, 3), rng(1).uniform(-1, 1, (4, 3))
        refs = [weakref.ref(w), weakref.ref(x)]
        call(fn, w, x)
        del w, x
        gc.collect()
        assert [r() is None for r in refs] == [True, True], f"{'eager' if fn is f else 'replay'}: kept alive"
    assert info(rf)["hits"] == 2


def test_a_replayed_vjp_inside_a_rules_reverse():
    """The implicit-function rule of examples/implicit_solve.py with its inner ``ar.vjp``
    on a replayed residual, under a replayed loss: the inner replay runs during the
    outer replay's sweep."""
    def g(x, p):
        return x * x * x + p * x - 1.0

    def loss_with(inner):
        @ar.primitive
        def solve(p):
            x = np.ones_like(p)
            for _ in range(30):
                x = x - g(x, p) / (3 * x * x + p)
            return x

        @ar.rrule(solve)
        def _solve(p):
            x = solve(p)

            def pullback(xbar):
                dgdx, dgdp = ar.vjp(inner, x, p)[1](np.ones_like(x))
                return (-xbar * dgdp / dgdx,)
            return x, pullback
        return lambda p: (solve(p) ** 2).sum()

    rg = ar.replay(g)
    eager, replayed = loss_with(g), ar.replay(loss_with(rg))
    for k in range(4):
        p = np.linspace(0.5, 3.0, 5) + 0.1 * k
        same(ar.gradient(replayed, p), ar.gradient(eager, p.copy()))
    assert info(rg)["hits"] == 3 and info(replayed)["hits"] == 3


# ------------------------------------------------------------------ exceptions caught inside f

_PD, _NOT_PD = np.array([[2.0, 0.5], [0.5, 1.0]]), np.array([[1.0, 2.0], [2.0, 1.0]])
_SINGULAR = np.array([[1.0, 2.0], [2.0, 4.0]])


def _cholesky_or_fallback(A, b):
    try:
        L = np.linalg.cholesky(A)
        return (L ** 2).sum() + (b * b).sum()
    except np.linalg.LinAlgError:
        return (A ** 2).sum() * 2 + (b * b).sum()


def _divide_or_fallback(x, c):
    try:
        with np.errstate(divide="raise"):
            y = x / c
    except FloatingPointError:
        y = x * 0.5
    return (y * y).sum()


def _inverse_or_fallback(x, c):
    try:
        v = np.linalg.inv(c) @ x
    except np.linalg.LinAlgError:
        v = x * 3.0
    return (v ** 2).sum()


_ZERO, _NONZERO = [np.array([1.0, 0.0]), np.array([2.0, 0.0])], [np.array([1.0, 2.0]), np.array([3.0, 2.0])]
CAUGHT = {
    "cholesky-of-the-active-A": (_cholesky_or_fallback, (0, 1), lambda ms: lambda k: (ms[k].copy(), rng(k).uniform(size=2)),
                                 [_NOT_PD, _NOT_PD * 1.1], [_PD, _PD * 1.2]),
    "cholesky-of-a-const-A": (_cholesky_or_fallback, 1, lambda ms: lambda k: (ms[k].copy(), rng(k).uniform(size=2)),
                              [_NOT_PD, _NOT_PD * 1.1], [_PD, _PD * 1.2]),
    "errstate-divide": (_divide_or_fallback, 0, lambda cs: lambda k: (rng(k).uniform(size=2), cs[k].copy()), _ZERO, _NONZERO),
    "inv-of-a-const": (_inverse_or_fallback, 0, lambda ms: lambda k: (rng(k).uniform(size=2), ms[k].copy()),
                       [_SINGULAR, _SINGULAR * 2], [_PD, _PD * 2]),
}


@pytest.mark.parametrize("raising_first", [True, False], ids=["raising-first", "raising-later"])
@pytest.mark.parametrize("case", list(CAUGHT.values()), ids=list(CAUGHT))
def test_an_exception_caught_inside_f(case, raising_first):
    """f catches the error a NumPy call raises for some inputs (LinAlgError, the
    FloatingPointError of np.errstate) and takes another path: whether the call raised is
    a value the path depends on, so a replay must not run the other path's recording."""
    f, argnums, make_of, raising, regular = case
    values = raising + regular + raising[:1] if raising_first else regular + raising + regular[:1]
    # a recording during which a call raised is not kept: the next call records anew (a miss)
    check_replay(f, grad(argnums), make_of(values), draws=5,
                 expect=["misses|eager"] + ["hits|rerecords|eager|misses"] * 4)


def test_a_warning_caught_inside_f():
    """The same with a RuntimeWarning recorded by warnings.catch_warnings: whether the
    division warned is a value the path depends on."""
    import warnings

    def f(x, c):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            y = x / c
        if caught:
            y = x * 0.5
        return (y * y).sum()
    cs = _ZERO + _NONZERO + _ZERO[:1]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check_replay(f, grad(), lambda k: (rng(k).uniform(size=2), cs[k].copy()), draws=5,
                     expect=["misses|eager"] + ["hits|rerecords|eager|misses"] * 4)


def test_threads_holding_pullbacks_while_others_replay():
    """Three threads each keep up to four vjp pullbacks of one replayed function alive
    (a busy recording cannot serve another call) and call them later, in any order,
    with a bound of four recordings: every cotangent equals the eager engine's."""
    import random

    def f(x, c):
        y = x * 1.0
        for _ in range(2):
            y[1:] += np.sin(y[:-1]) * c[1:]
        return y, (y * y).sum()
    inputs = [(rng(k).uniform(-1, 1, 5), rng(k, 1).uniform(-1, 1, 5)) for k in range(8)]
    cot = (np.ones(5), 0.5)
    wants = [ar.vjp(f, x.copy(), ar.Const(c.copy()))[1](cot)[0] for x, c in inputs]
    rf = ar.replay(max_recordings=4)(f)
    errors: list[str] = []

    def worker(seed: int) -> None:
        r, held = random.Random(seed), []
        for _ in range(25):
            k = r.randrange(len(inputs))
            held.append((k, ar.vjp(rf, inputs[k][0].copy(), ar.Const(inputs[k][1].copy()))[1]))
            while len(held) > 3 or (held and r.random() < 0.5) or (_ == 24 and held):
                j, pb = held.pop(r.randrange(len(held)))
                if not np.array_equal(pb(cot)[0], wants[j]):
                    errors.append(f"input {j}")
    threads = [threading.Thread(target=worker, args=(s,)) for s in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[:3]
    assert info(rf)["hits"] > 0 and rf.cache_info().size <= 4


def test_a_pullback_outlives_clear_cache_and_eviction():
    def f(x, c):
        return np.sin(x) * c, (x * x).sum()
    rf = ar.replay(max_recordings=1)(f)
    cot = (np.ones(3), 2.0)
    xs, c = [rng(k).uniform(size=3) for k in range(3)], np.full(3, 0.5)
    wants = [ar.vjp(f, x.copy(), c.copy())[1](cot) for x in xs]
    _, pb0 = ar.vjp(rf, xs[0], c)        # a recording...
    rf.clear_cache()                     # ...dropped from the cache while its pullback lives
    _, pb1 = ar.vjp(rf, xs[1], c)
    del pb1
    _, pb2 = ar.vjp(rf, xs[2], c)        # a replay...
    ar.vjp(rf, np.ones(4), np.ones(4))   # ...whose recording another signature evicts
    same(pb0(cot), wants[0])
    same(pb2(cot), wants[2])
    assert info(rf)["hits"] == 1
