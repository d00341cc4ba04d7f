"""Checks of to_jax on 4 simulated CPU devices, run by test_jax_sharding.py in a subprocess
(``XLA_FLAGS=--xla_force_host_platform_device_count=4``). Prints one JSON object:
check name -> "ok" or the error. Oracles: the same functions written in ``jax.numpy``."""

from __future__ import annotations

import json
import os
import sys
import time
import traceback
from typing import Any, Callable

os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=4")
import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from jax import shard_map  # noqa: E402
from jax.sharding import Mesh, NamedSharding  # noqa: E402
from jax.sharding import PartitionSpec as P  # noqa: E402

import activerules as ar  # noqa: E402
from activerules.adapters.jax import batched, to_jax  # noqa: E402
from activerules.engine import primitive  # noqa: E402

jax.config.update("jax_enable_x64", True)
SEEN: list[tuple[str, tuple[int, ...]]] = []     # (which callback, shape it received)


@primitive
def twosin(x: np.ndarray) -> np.ndarray:
    SEEN.append(("primal", np.shape(x)))
    return 2 * np.sin(x)


@ar.rrule(twosin)
def _twosin_rrule(x: np.ndarray) -> Any:
    SEEN.append(("fwd", np.shape(x)))

    def pullback(g: np.ndarray) -> Any:
        SEEN.append(("bwd", np.shape(g)))
        return (2 * np.cos(x) * g,)

    return 2 * np.sin(x), pullback


@primitive
def rows(A: np.ndarray, x: np.ndarray) -> np.ndarray:
    SEEN.append(("primal", np.shape(A)))
    return np.tanh(A @ x)


@ar.rrule(rows)
def _rows_rrule(A: np.ndarray, x: np.ndarray) -> Any:
    SEEN.append(("fwd", np.shape(A)))
    y = np.tanh(A @ x)

    def pullback(g: np.ndarray) -> Any:
        SEEN.append(("bwd", np.shape(A)))
        h = g * (1 - y ** 2)
        return np.outer(h, x), A.T @ h

    return y, pullback


def twosin_jnp(x: Any) -> Any:
    return 2 * jnp.sin(x)


def rows_jnp(A: Any, x: Any) -> Any:
    return jnp.tanh(A @ x)


mesh = Mesh(np.array(jax.devices()), ("d",))
rng = np.random.default_rng(0)
XN = rng.standard_normal((8, 4))
X = jax.device_put(XN, NamedSharding(mesh, P("d", None)))
AN, VN = rng.standard_normal((8, 3)), rng.standard_normal(3)
A = jax.device_put(AN, NamedSharding(mesh, P("d", None)))
V = jax.device_put(VN, NamedSharding(mesh, P()))
like_x = lambda x: x   # noqa: E731 - out_shape, so no probe call is counted
elementwise = to_jax(twosin, partition="elementwise", out_shape=like_x)
gathered = to_jax(twosin, out_shape=like_x)
jrows = to_jax(rows, partition=batched(axis=0), out_shape=lambda A, x: jax.ShapeDtypeStruct(A.shape[:1], A.dtype))
RESULTS: dict[str, str] = {}
TIMES: dict[str, float] = {}


def check(fn: Callable[[], None]) -> Callable[[], None]:
    SEEN.clear()
    t0 = time.perf_counter()
    try:
        fn()
        RESULTS[fn.__name__] = "ok"
    except BaseException:  # noqa: BLE001 - report every failure, keep going
        RESULTS[fn.__name__] = traceback.format_exc()[-2500:]
    TIMES[fn.__name__] = round(time.perf_counter() - t0, 2)
    return fn


def close(a: Any, b: Any) -> None:
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-12, atol=1e-12)


def calls(kind: str) -> list[tuple[int, ...]]:
    return [s for k, s in SEEN if k == kind]


def spec(a: Any) -> Any:
    return tuple(a.sharding.spec) if hasattr(a.sharding, "spec") else str(a.sharding)


@check
def undeclared_jit_output_is_usable():
    y = jax.block_until_ready(jax.jit(gathered)(X))
    assert "maximal" not in str(y.sharding), y.sharding
    close(y + 1, twosin_jnp(XN) + 1)            # the next eager op works
    g = jax.jit(jax.grad(lambda x: gathered(x).sum()))(X)
    close(g * 1, jax.grad(lambda x: twosin_jnp(x).sum())(XN))


@check
def elementwise_jit_runs_per_shard():
    y = jax.block_until_ready(jax.jit(elementwise)(X))
    assert calls("primal") == [(2, 4)] * 4, SEEN
    assert spec(y) == ("d", None), y.sharding
    close(y * 3, twosin_jnp(XN) * 3)


@check
def elementwise_jit_has_no_all_gather():
    hlo = jax.jit(elementwise).lower(X).compile().as_text()
    assert "all-gather" not in hlo and "all-reduce" not in hlo


@check
def elementwise_jit_grad_runs_per_shard():
    g = jax.block_until_ready(jax.jit(jax.grad(lambda x: (elementwise(x) * x).sum()))(X))
    assert sorted(SEEN) == [("bwd", (2, 4))] * 4 + [("fwd", (2, 4))] * 4, SEEN
    assert spec(g) == ("d", None), g.sharding
    close(g + 0, jax.grad(lambda x: (twosin_jnp(x) * x).sum())(XN))


@check
def elementwise_eager_grad_runs_per_shard():
    g = jax.block_until_ready(jax.grad(lambda x: elementwise(x).sum())(X))
    assert sorted(SEEN) == [("bwd", (2, 4))] * 4 + [("fwd", (2, 4))] * 4, SEEN
    close(g - 1, jax.grad(lambda x: twosin_jnp(x).sum())(XN) - 1)


@check
def batched_rows_replicate_the_shared_argument():
    loss = lambda A, v: jnp.sum(jnp.sin(jrows(A, v)))      # noqa: E731
    ref = lambda A, v: jnp.sum(jnp.sin(rows_jnp(A, v)))   # noqa: E731
    y = jax.block_until_ready(jax.jit(jrows)(A, V))
    assert calls("primal") == [(2, 3)] * 4 and spec(y) == ("d",), (SEEN, y.sharding)
    SEEN.clear()
    gA, gv = jax.block_until_ready(jax.jit(jax.grad(loss, argnums=(0, 1)))(A, V))
    assert sorted(SEEN) == [("bwd", (2, 3))] * 4 + [("fwd", (2, 3))] * 4, SEEN
    eA, ev = jax.grad(ref, argnums=(0, 1))(AN, VN)
    close(gA, eA)
    close(gv, ev)                               # the devices' partial cotangents, summed
    assert spec(gA) == ("d", None), gA.sharding


@check
def callable_partition():
    def by_rows(mesh: Any, x: Any) -> Any:
        return (P("d", None),), P("d", None)
    f = to_jax(twosin, partition=by_rows, out_shape=like_x)
    g = jax.block_until_ready(jax.jit(jax.grad(lambda x: f(x).sum()))(X))
    assert sorted(SEEN) == [("bwd", (2, 4))] * 4 + [("fwd", (2, 4))] * 4, SEEN
    close(g, jax.grad(lambda x: twosin_jnp(x).sum())(XN))


@check
def not_divisible_is_replicated_and_right():
    xn = rng.standard_normal((7, 4))
    x = jax.device_put(xn, NamedSharding(mesh, P()))
    g = jax.block_until_ready(jax.jit(jax.grad(lambda x: elementwise(x).sum()))(x))
    close(g + 0, jax.grad(lambda x: twosin_jnp(x).sum())(xn))


@check
def vmap_of_grad_per_shard():
    xs = jax.device_put(np.stack([XN, 2 * XN, -XN]), NamedSharding(mesh, P(None, "d", None)))
    grad = jax.grad(lambda x: (elementwise(x) ** 2).sum())
    g = jax.block_until_ready(jax.jit(jax.vmap(grad))(xs))
    close(g, jax.vmap(jax.grad(lambda x: (twosin_jnp(x) ** 2).sum()))(np.asarray(xs)))


def in_shard_map(body: Callable[[Any], Any], out: Any = None) -> Callable[[Any], Any]:
    return shard_map(body, mesh=mesh, in_specs=P("d"), out_specs=P("d") if out is None else out)


# loss in a user's shard_map (built from the rule f) -> the same loss without shard_map (jnp oracle)
LOSSES_IN_SHARD_MAP = {
    "sum": (lambda f: lambda x: in_shard_map(f)(x).sum(), lambda x: twosin_jnp(x).sum()),
    "times_x": (lambda f: lambda x: (in_shard_map(f)(x) * x).sum(), lambda x: (twosin_jnp(x) * x).sum()),
    "psum": (lambda f: in_shard_map(lambda x: jax.lax.psum(f(x).sum(), "d"), P()), lambda x: twosin_jnp(x).sum()),
    "psum_times_x": (lambda f: in_shard_map(lambda x: jax.lax.psum((f(x) * x).sum(), "d"), P()),
                     lambda x: (twosin_jnp(x) * x).sum()),
}


@check
def shard_map_grad():
    for name, (make, plain) in LOSSES_IN_SHARD_MAP.items():
        want = jax.grad(plain)(XN)
        for f in (gathered, elementwise):
            try:
                close(jax.jit(jax.grad(make(f)))(X), want)
            except AssertionError as e:
                raise AssertionError(name) from e


@check
def grad_inside_shard_map():
    got = jax.jit(in_shard_map(jax.grad(lambda x: (elementwise(x) * x).sum())))(X)
    close(got, jax.grad(lambda x: (twosin_jnp(x) * x).sum())(XN))


@check
def shard_map_grad_with_a_replicated_argument():
    def loss(f: Any) -> Any:
        inner = shard_map(lambda A, v: jax.lax.psum(jnp.sum(jnp.sin(f(A, v))), "d"), mesh=mesh,
                          in_specs=(P("d"), P()), out_specs=P())
        return inner
    got = jax.jit(jax.grad(loss(jrows), argnums=(0, 1)))(A, V)
    want = jax.grad(loss(rows_jnp), argnums=(0, 1))(AN, VN)
    close(got[0], want[0])
    close(got[1], want[1])


@primitive
def scale_(y: np.ndarray, x: np.ndarray) -> None:
    SEEN.append(("primal", np.shape(y)))
    y *= x


@ar.rule(scale_, ar.Annotation, ar.Annotation)
def _scale_rule(cfg: Any, y: Any, x: Any) -> Any:
    SEEN.append(("fwd", np.shape(y.val)))
    y0, xv = y.val.copy(), np.array(x.val, copy=True)
    y.val *= xv

    def reverse(_: Any) -> None:
        SEEN.append(("bwd", np.shape(y0)))
        g = y.dval.copy()
        if isinstance(x, ar.Duplicated):
            x.dval += g * y0
        y.dval[...] = g * xv

    return None, reverse


@check
def mutating_rule_per_shard():
    f = to_jax(scale_, mutates=(0,), partition="elementwise")
    loss = lambda y, x: jnp.sum(jnp.sin(f(y, x)))           # noqa: E731
    g = jax.block_until_ready(jax.jit(jax.grad(loss, argnums=(0, 1)))(X, X))
    assert sorted(SEEN) == [("bwd", (2, 4))] * 4 + [("fwd", (2, 4))] * 4, SEEN
    want = jax.grad(lambda y, x: jnp.sum(jnp.sin(y * x)), argnums=(0, 1))(XN, XN)
    close(g[0], want[0])
    close(g[1], want[1])


@check
def explicit_axes_layout_from_the_type():
    from jax.sharding import AxisType

    emesh = jax.make_mesh((4,), ("d",), axis_types=(AxisType.Explicit,))
    xn = rng.standard_normal((4, 8))
    with jax.set_mesh(emesh):
        x = jax.device_put(xn, NamedSharding(emesh, P(None, "d")))        # split by columns
        g = jax.block_until_ready(jax.jit(jax.grad(lambda x: (elementwise(x) * x).sum()))(x))
    assert sorted(SEEN) == [("bwd", (4, 2))] * 4 + [("fwd", (4, 2))] * 4, SEEN
    assert spec(g) == (None, "d"), g.sharding
    close(g, jax.grad(lambda x: (twosin_jnp(x) * x).sum())(xn))


@check
def batched_gradient_matches_finite_differences():
    def loss_np(A: np.ndarray, v: np.ndarray) -> float:
        return float(np.sum(np.sin(np.tanh(A @ v))))

    gA, gv = jax.jit(jax.grad(lambda A, v: jnp.sum(jnp.sin(jrows(A, v))), argnums=(0, 1)))(A, V)
    eps = 1e-6
    for i, j in [(0, 0), (5, 2), (7, 1)]:
        E = np.zeros_like(AN)
        E[i, j] = eps
        fd = (loss_np(AN + E, VN) - loss_np(AN - E, VN)) / (2 * eps)
        assert abs(float(gA[i, j]) - fd) < 1e-7, (i, j, float(gA[i, j]), fd)
    for j in range(3):
        e = np.zeros(3)
        e[j] = eps
        fd = (loss_np(AN, VN + e) - loss_np(AN, VN - e)) / (2 * eps)
        assert abs(float(gv[j]) - fd) < 1e-7, (j, float(gv[j]), fd)


@check
def many_calls_do_not_hang():
    grad = jax.jit(jax.grad(lambda x: (elementwise(x) * x).sum()))
    big = jax.device_put(rng.standard_normal((4000, 10)), NamedSharding(mesh, P("d", None)))
    for _ in range(20):
        g = grad(big)
    jax.block_until_ready(g)


print("TIMES=" + json.dumps(TIMES))
print("RESULTS=" + json.dumps(RESULTS))
sys.stdout.flush()
