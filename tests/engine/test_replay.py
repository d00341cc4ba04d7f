"""``ar.replay`` (issue 12, part 1): a differentiation recorded once per signature and
replayed on later calls gives, for every entry point, results, derivatives and caller
arrays bit for bit equal to the eager engine's on the plain function with the same inputs;
the first call of a signature is a miss, the later ones hits.

Oracle: the eager engine (``ar.gradient`` / ``ar.vjp`` / ``ar.autodiff`` on the
undecorated function, itself tested against JAX, PyTorch and finite differences), and for
a few programs JAX in float64 or central differences directly. Path-changing programs are
in ``test_replay_guards.py``, the cache and its edges in ``test_replay_cache.py``, the
examples in ``test_replay_examples.py``.
"""

from __future__ import annotations

import numpy as np
import pytest
from engine_helpers import fd_grad, scale_inplace
from replay_helpers import check_replay, grad, info, rng, same, vjp

import activerules as ar

# ------------------------------------------------------------------ programs


def chain(x, c):
    """W1's chain (3 blocks), with an undifferentiated ``c`` computed on inertly."""
    for _ in range(3):
        x = np.tanh(np.sin(x) * 1.01 + 0.1)
    return (x * np.exp(-c * c)).sum()


def inplace(x, w):
    """In-place updates through slices and ``out=``, on a copy and on the argument."""
    y = x.copy()
    y[1:] += y[:-1] * w[:-1]
    y *= 2.0
    np.sin(y, out=y)
    x[::2] = x[::2] * w[::2]
    x -= 0.5 * y
    return (y * y).sum() + (x ** 3).sum()


def views(x, s):
    """Reshapes, transposes, strided and reversed views, written through."""
    m = x.reshape(2, 3).T
    m[0] *= s
    v = x[::-1]
    v[1:3] += m[:2, 1]
    d = np.diagonal(x.reshape(2, 3)[:, :2])
    return (x[::2] * v[1::2]).sum() + d.sum() * s + (m @ m.T).trace()


def loop(x, W, b):
    """An unrolled recurrence with a matrix."""
    h = x
    for _ in range(4):
        h = np.tanh(W @ h + b)
    return (h * h).sum()


def mlp(params, x, y):
    """A two-layer perceptron on a dict of parameters."""
    h = np.tanh(x @ params["W1"] + params["b1"])
    out = h @ params["W2"] + params["b2"]
    return ((out - y) ** 2).mean()


def layers(ps, x):
    """A list of (W, b) layers."""
    for W, b in ps:
        x = np.sin(x @ W + b)
    return x.sum()


def outputs(x, c):
    """Several outputs of several kinds: an array, a number, a view, a dict."""
    y = np.sin(x) * c
    return y, (x * x).sum(), x[1:3], {"p": np.cumsum(y), "q": y.max()}


def mutate(x, c, s):
    """Writes into a Duplicated array (``x``) and a Const one (``c``): constant values and,
    through ``c *= ...``, active ones (runtime activity promotes ``c``)."""
    c[:1] = 2.0 * c[1:2]
    x[1:] *= c[1:]
    c *= x[0] * s
    return (x * c).sum() * s


# ------------------------------------------------------------------ inputs


def vec(k, n=6, salt=0):
    return rng(k, salt).uniform(-1.5, 1.5, n)


def mlp_params(k):
    r = rng(k, 7)
    return {"W1": r.normal(size=(3, 4)), "b1": r.normal(size=4), "W2": r.normal(size=(4, 2)),
            "b2": r.normal(size=2)}


def mlp_data(k):
    r = rng(k, 8)
    return r.normal(size=(5, 3)), r.normal(size=(5, 2))


# ------------------------------------------------------------------ gradient


def test_gradient_of_a_chain_with_an_inert_argument():
    check_replay(chain, grad(), lambda k: (vec(k), vec(k, salt=1)))


@pytest.mark.parametrize("argnums", [0, 1, (0, 1), (1, 0), -1])
def test_gradient_argnums_of_in_place_updates(argnums):
    check_replay(inplace, grad(argnums), lambda k: (vec(k), vec(k, salt=1)))


def test_gradient_through_views_with_a_differentiated_float():
    check_replay(views, grad((0, 1)), lambda k: (vec(k), 0.8))


def test_gradient_of_a_loop_with_respect_to_the_matrix():
    def make(k):
        r = rng(k, 4)
        return vec(k, 3), r.normal(size=(3, 3)) * 0.5, r.normal(size=3)
    check_replay(loop, grad((1, 2)), make)


def test_gradient_of_a_dict_of_parameters_and_jax_agrees(x64):
    import jax
    import jax.numpy as jnp

    rf = check_replay(mlp, grad(), lambda k: (mlp_params(k), *mlp_data(k)))
    params, (x, y) = mlp_params(5), mlp_data(5)
    ar.gradient(rf, mlp_params(4), *mlp_data(4))  # a replay, then one checked against JAX
    got = ar.gradient(rf, params, x, y)
    assert info(rf)["hits"] == 4

    def jmlp(p):
        h = jnp.tanh(x @ p["W1"] + p["b1"])
        return (((h @ p["W2"] + p["b2"]) - y) ** 2).mean()
    want = jax.grad(jmlp)({k: jnp.asarray(v) for k, v in params.items()})
    for k in params:
        np.testing.assert_allclose(got[k], np.asarray(want[k]), rtol=1e-12, atol=1e-14)


def test_gradient_of_a_list_of_layers():
    def make(k):
        r = rng(k, 9)
        return [(r.normal(size=(3, 3)), r.normal(size=3)) for _ in range(2)], r.normal(size=(4, 3))
    check_replay(layers, grad(), make)


def test_gradient_in_float32_and_of_f_ordered_and_strided_arguments():
    check_replay(chain, grad(), lambda k: (vec(k).astype(np.float32), vec(k, salt=1).astype(np.float32)))
    check_replay(loop, grad((0, 1)), lambda k: (vec(k, 6)[::2], np.asfortranarray(rng(k).normal(size=(3, 3))),
                                                vec(k, 3, salt=2)))


def test_gradient_of_a_complex_argument():
    def f(z, c):
        return (np.abs(np.exp(z) * c) ** 2).sum()

    def make(k):
        return vec(k, 4) + 1j * vec(k, 4, salt=1), vec(k, 4, salt=2)
    check_replay(f, grad(), make)


def test_a_replayed_gradient_matches_finite_differences():
    rf = ar.replay(inplace)
    w = vec(0, salt=1)
    for k in range(3):
        x = vec(k)
        g = ar.gradient(rf, x, w)
        np.testing.assert_allclose(g, fd_grad(lambda v: inplace(v, w.copy()), x), rtol=1e-6, atol=1e-8)
    assert info(rf)["misses"] == 1 and info(rf)["hits"] == 2


def test_replay_runs_f_once_per_recording():
    calls = []

    def f(x, c):
        calls.append(1)  # the user's Python between NumPy calls: not run again by a replay
        return chain(x, c)

    check_replay(f, grad(), lambda k: (vec(k), vec(k, salt=1)), draws=4)
    assert len(calls) == 4 + 1  # the four eager oracle runs and the one recording


def test_the_decorator_forms_and_a_plain_call():
    def f(x):
        return (np.sin(x) ** 2).sum()

    @ar.replay
    def a(x):
        return f(x)

    @ar.replay(max_recordings=8)
    def b(x):
        return f(x)

    x = vec(0)
    for rf in (a, b, ar.replay(f)):
        same(rf(x), f(x))  # a plain call just runs f
        before = info(rf)
        check_replay(f, grad(), lambda k: (vec(k),), rf=rf)
        assert info(rf)["misses"] == before["misses"] + 1
    assert b.cache_info().maxsize == 8


# ------------------------------------------------------------------ vjp


def test_vjp_with_several_outputs_and_cotangents():
    def make(k):
        r = rng(k, 11)
        cots = [(r.normal(size=4), float(r.normal()), r.normal(size=2), {"p": r.normal(size=4), "q": float(r.normal())})
                for _ in range(2)]
        return (vec(k, 4), vec(k, 4, salt=1)), cots
    check_replay(outputs, vjp(), make)


def test_vjp_with_const_arguments_and_in_place_updates():
    def make(k):
        r = rng(k, 12)
        return (vec(k), ar.Const(vec(k, salt=1))), [r.normal(), r.normal()]
    check_replay(inplace, vjp(), make)


def _write_s_into_x(x, s):
    x[0] = s
    return x


def _add_s_into_x(x, s):
    x[1:2] += s
    return x


@pytest.mark.parametrize("f", [_write_s_into_x, _add_s_into_x])
def test_vjp_returning_a_const_array_an_active_value_was_written_into(f):
    """Runtime activity: the Const ``x`` is promoted by the write of the active ``s`` and
    returned; its cotangent must reach ``s`` on a replay too (found by the fuzzer)."""
    def make(k):
        return (ar.Const(vec(k, 3)), 0.5), [np.ones(3), vec(k, 3, salt=1)]
    check_replay(f, vjp(), make)


def test_a_pullback_stays_right_after_later_replays():
    """Pullbacks of a recording and of a replay alive together, called after later calls,
    in any order: each equals the eager engine's on its own inputs."""
    rf = ar.replay(outputs)
    r = rng(0, 13)
    cot = (r.normal(size=4), 0.5, r.normal(size=2), {"p": r.normal(size=4), "q": -1.0})
    pbs, wants = {}, {}
    for k in range(4):
        x, c = vec(k, 4), vec(k, 4, salt=1)
        _, pbs[k] = ar.vjp(rf, x, c)
        wants[k] = ar.vjp(outputs, x.copy(), c.copy())[1](cot)
        if k == 1:
            del pbs[0]  # its recording is free again: a later call may replay it
    for k in reversed(sorted(pbs)):
        same(pbs[k](cot), wants[k], f"pullback {k}")
        same(pbs[k](cot), wants[k], f"pullback {k} called again")
    assert info(rf)["hits"] >= 1


# ------------------------------------------------------------------ autodiff


def _dup_const_active(fn, d, returns=None):
    kw = {} if returns is None else {"returns": returns}
    return ar.autodiff(fn, ar.Duplicated(d["x"], d["dx"]), ar.Const(d["c"]), ar.Active(d["s"]),
                       with_primal=True, **kw)


def test_autodiff_mutating_duplicated_and_const_arrays():
    def make(k):
        return {"x": vec(k), "dx": vec(k, salt=1), "c": vec(k, salt=2), "s": 1.25}
    check_replay(mutate, _dup_const_active, make)


def test_autodiff_with_an_active_seed():
    def make(k):
        return {"x": vec(k), "dx": np.zeros(6), "c": vec(k, salt=2), "s": 0.75}
    check_replay(mutate, lambda fn, d: _dup_const_active(fn, d, ar.Active(1.5)), make)


def test_autodiff_returning_none_enzyme_style():
    def step(dx, x, p):  # the heat equation's shape of call: writes its result into dx
        dx[1:-1] = x[:-2] - 2 * x[1:-1] + x[2:]
        dx[0] = p[0] * np.sin(p[1] * x[0])
        dx *= p[2]

    def run(fn, d):
        return ar.autodiff(fn, ar.Duplicated(d["dx"], d["ddx"]), ar.Duplicated(d["x"], d["d_x"]),
                           ar.Duplicated(d["p"], d["dp"]), returns=ar.Const)

    def make(k):
        return {"dx": np.zeros(6), "ddx": vec(k, salt=1), "x": vec(k), "d_x": np.zeros(6), "p": vec(k, 3, salt=2),
                "dp": np.zeros(3)}
    check_replay(step, run, make)


def test_autodiff_of_a_dict_of_parameters():
    def run(fn, d):
        return ar.autodiff(fn, ar.Duplicated(d["p"], d["dp"]), ar.Const(d["x"]), d["y"])

    def make(k):
        p = mlp_params(k)
        x, y = mlp_data(k)
        return {"p": p, "dp": {n: np.zeros_like(v) for n, v in p.items()}, "x": x, "y": y}
    check_replay(mlp, run, make)


@pytest.mark.parametrize("width", [2, 3])
def test_autodiff_batch_duplicated(width):
    def run(fn, d):
        return ar.autodiff(fn, ar.BatchDuplicated(d["x"], tuple(d["dxs"])), ar.Const(d["c"]), ar.Active(d["s"]),
                           returns=ar.Active(tuple(1.0 + i for i in range(width))))

    def make(k):
        return {"x": vec(k), "dxs": [vec(k, salt=10 + i) for i in range(width)], "c": vec(k, salt=2), "s": 0.5}
    check_replay(mutate, run, make)


def test_autodiff_batch_of_a_loop():
    def run(fn, d):
        return ar.autodiff(fn, ar.Const(d["x"]), ar.BatchDuplicated(d["W"], (d["d1"], d["d2"])), ar.Const(d["b"]),
                           returns=ar.Active((1.0, -2.0)))

    def make(k):
        r = rng(k, 14)
        return {"x": vec(k, 3), "W": r.normal(size=(3, 3)), "d1": np.zeros((3, 3)), "d2": r.normal(size=(3, 3)),
                "b": r.normal(size=3)}
    check_replay(loop, run, make)


def test_each_entry_point_has_its_own_recording():
    rf = ar.replay(inplace)
    x, w = vec(0), vec(0, salt=1)
    same(ar.gradient(rf, x, w), ar.gradient(inplace, x.copy(), w.copy()))
    same(ar.vjp(rf, x, w)[1](1.0), ar.vjp(inplace, x.copy(), w.copy())[1](1.0))
    dx, dx2 = np.zeros(6), np.zeros(6)
    same(ar.autodiff(rf, ar.Duplicated(x.copy(), dx), w), ar.autodiff(inplace, ar.Duplicated(x.copy(), dx2), w.copy()))
    same(dx, dx2)
    same(ar.gradient(rf, x, w, argnums=1), ar.gradient(inplace, x.copy(), w.copy(), argnums=1))
    assert (info(rf)["misses"], info(rf)["hits"]) == (4, 0)
    ar.gradient(rf, vec(1), w)
    assert (info(rf)["misses"], info(rf)["hits"]) == (4, 1)


def test_a_differentiated_number_is_an_input_not_part_of_the_signature():
    """A differentiated float is traced like an array (as jax.jit traces a Python float):
    new values replay, for every entry point."""
    check_replay(views, grad((0, 1)), lambda k: (vec(k), float(rng(k, 3).uniform(0.5, 1.5))))
    check_replay(views, vjp(), lambda k: ((vec(k), float(rng(k, 3).uniform(0.5, 1.5))), [1.0, -0.5]))

    def make(k):
        return {"x": vec(k), "dx": vec(k, salt=1), "c": vec(k, salt=2), "s": float(rng(k).uniform(0.5, 1.5))}
    check_replay(mutate, _dup_const_active, make)


def test_a_constant_number_is_part_of_the_signature():
    """The value of an undifferentiated non-array argument is part of the signature: a new
    value records (a miss), and each value then replays."""
    def f(x, n, flag):
        y = x * n if flag else x / n
        return (y ** 2).sum()

    rf = ar.replay(f)
    for n, flag in [(2.0, True), (3.0, True), (2.0, False)]:
        check_replay(f, grad(), lambda k: (vec(k), n, flag), rf=rf, expect=["misses", "hits"], draws=2)
    assert info(rf)["misses"] == 3


def test_the_comparison_sees_one_ulp_a_dtype_a_flag_and_a_type():
    """The oracle comparison is bit for bit (it does not need ar.replay)."""
    x = vec(0)
    y = x.copy()
    y[3] = np.nextafter(y[3], np.inf)
    ro = x.copy()
    ro.flags.writeable = False
    for bad in (y, x.astype(np.float32), ro, list(x), {"a": x}, x[:5]):
        with pytest.raises(AssertionError):
            same(bad, x.copy())
    with pytest.raises(AssertionError):
        same(np.float64(1.0), 1.0)
    same({"a": (np.array([np.nan, 1.0]), 2.0)}, {"a": (np.array([np.nan, 1.0]), 2.0)})


def test_a_new_seed_replays():
    """``returns=ar.Active(seed)`` is the output's cotangent, not part of the function:
    a new seed replays (as a new cotangent given to a pullback does)."""
    def run(fn, d):
        return _dup_const_active(fn, d, ar.Active(d["seed"]))

    def make(k):
        return {"x": vec(k), "dx": vec(k, salt=1), "c": vec(k, salt=2), "s": 0.75, "seed": 0.5 + k}
    check_replay(mutate, run, make)


def test_vjp_of_a_result_with_constant_parts_data_and_a_view():
    def f(x, c):
        return {"y": np.sin(x) * c, "data": c * 2.0, "n": 3, "name": "abc", "none": None, "view": x[1:]}

    def make(k):
        cot = {"y": vec(k, 3, salt=3), "data": None, "n": None, "name": None, "none": None, "view": np.ones(2)}
        return (vec(k, 3), ar.Const(vec(k, 3, salt=1))), [cot, cot]
    check_replay(f, vjp(), make)


def test_gradient_through_linear_algebra():
    def f(A, b):
        x = np.linalg.solve(A, b)
        w, V = np.linalg.eigh(A @ A.T)
        return ((x ** 2).sum() + np.linalg.det(A) + np.linalg.norm(np.linalg.inv(A) + A.T) + (w * V[0]).sum()
                + np.trace(np.linalg.cholesky(A @ A.T + np.eye(3))))
    check_replay(f, grad((0, 1)), lambda k: (rng(k).uniform(size=(3, 3)) + 3 * np.eye(3), vec(k, 3, salt=1)))


def test_vjp_returning_numbers_and_masks_of_undifferentiated_data():
    def f(x, c):
        return x * 2.0, c.sum(), c[0], c > 0, c[1:] * 3.0, np.argmax(c), c.mean() * x[0]

    def make(k):
        return (vec(k, 3), ar.Const(vec(k, 3, salt=1))), [(np.ones(3), None, None, None, None, None, 1.0)] * 2
    check_replay(f, vjp(), make, draws=4, expect=["misses"] + ["hits|rerecords"] * 3)


def test_a_result_that_does_not_depend_on_the_differentiated_argument():
    def f(x, c):
        return c.sum() + 0.0 * c[0]
    check_replay(f, grad(), lambda k: (vec(k, 3), vec(k, 3, salt=1)), draws=3,
                 expect=["misses|eager", "hits|eager", "hits|eager"])
    check_replay(f, vjp(), lambda k: ((vec(k, 3), ar.Const(vec(k, 3, salt=1))), [1.0, 2.0]), draws=3,
                 expect=["misses|eager", "hits|eager", "hits|eager"])


def test_a_mutating_primitive():
    """``@ar.primitive(mutates=(0,))`` with its activity rule, after a call whose reverse
    keeps x (copy-on-write), through a view, with a Const factor from the data."""
    def f(x, c):
        y = np.sin(x)
        scale_inplace(x, c)
        scale_inplace(x[1:], 2.0)
        return (x * y).sum()
    check_replay(f, grad(), lambda k: (vec(k), vec(k, salt=1)))

    def run(fn, d):
        return ar.autodiff(fn, ar.Duplicated(d["x"], d["dx"]), ar.Const(d["c"]))
    check_replay(f, run, lambda k: {"x": vec(k), "dx": vec(k, salt=2), "c": vec(k, salt=1)})


def _write_sin_into_y(x, y, s):
    y[:] = np.sin(x) * s


@pytest.mark.parametrize("batch", [False, True], ids=["DuplicatedNoNeed", "BatchDuplicatedNoNeed"])
def test_autodiff_with_a_no_need_output_argument(batch):
    def run(fn, d):
        if batch:
            return ar.autodiff(fn, ar.BatchDuplicated(d["x"], (d["dx"], d["dx2"])),
                               ar.BatchDuplicatedNoNeed(d["y"], (d["dy"], d["dy2"])), ar.Active(d["s"]), returns=ar.Const)
        return ar.autodiff(fn, ar.Duplicated(d["x"], d["dx"]), ar.DuplicatedNoNeed(d["y"], d["dy"]), ar.Active(d["s"]),
                           returns=ar.Const)

    def make(k):
        return {"x": vec(k, 3), "dx": np.zeros(3), "dx2": np.zeros(3), "y": np.zeros(3), "dy": vec(k, 3, salt=1),
                "dy2": vec(k, 3, salt=2), "s": 0.5}
    check_replay(_write_sin_into_y, run, make)


def test_vjp_of_a_complex_function_with_complex_cotangents():
    def run(fn, inp):
        z, cot = inp
        y, pb = ar.vjp(fn, z)
        return y, pb(cot)
    check_replay(lambda z: np.exp(z) * z, run, lambda k: (vec(k, 3) + 1j * vec(k, 3, salt=1), vec(k, 3, salt=2) + 1j))
