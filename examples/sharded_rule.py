"""A NumPy rule scaled over devices with JAX: each device runs the rule on its shard.

A package author has a row-wise log-sum-exp with a hand-written rule. Declared
``partition=batched(axis=0)``, the JAX function runs the rule once per device on
that device's rows, under ``jax.jit`` and in ``jax.grad``, and the result keeps the
input's sharding. An elementwise rule is declared ``partition="elementwise"``.
Without a declaration each device would run the rule on the whole, all-gathered
array.

Here the devices are 4 simulated CPU devices (``XLA_FLAGS`` below, set before JAX
is imported); on a machine with accelerators the same code runs per accelerator.

Run: ``python examples/sharded_rule.py``
"""

import os

os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=4")

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from jax.sharding import Mesh, NamedSharding  # noqa: E402
from jax.sharding import PartitionSpec as P  # noqa: E402

import activerules as ar  # noqa: E402
from activerules.adapters.jax import batched, to_jax  # noqa: E402
from activerules.engine import primitive  # noqa: E402

jax.config.update("jax_enable_x64", True)
rows_seen = []          # the shape each call of the rule received


@primitive
def row_logsumexp(X):
    """log(sum(exp(X), axis=1)), stably."""
    m = X.max(axis=1)
    return m + np.log(np.exp(X - m[:, None]).sum(axis=1))


@ar.rrule(row_logsumexp)
def _row_logsumexp_rrule(X):
    rows_seen.append(X.shape)
    y = row_logsumexp(X)
    return y, lambda g: (g[:, None] * np.exp(X - y[:, None]),)      # g times softmax


@primitive
def softplus(x):
    return np.logaddexp(0.0, x)


@ar.rrule(softplus)
def _softplus_rrule(x):
    return softplus(x), lambda g: (g / (1 + np.exp(-x)),)


lse = to_jax(row_logsumexp, partition=batched(axis=0))
sp = to_jax(softplus, partition="elementwise")


def loss(X):
    return jnp.sum(sp(lse(X)))


def loss_jnp(X):        # the same loss in jax.numpy: the check
    return jnp.sum(jax.nn.softplus(jax.scipy.special.logsumexp(X, axis=1)))


mesh = Mesh(np.array(jax.devices()), ("rows",))
Xn = np.random.default_rng(0).standard_normal((16, 5))
X = jax.device_put(Xn, NamedSharding(mesh, P("rows", None)))

y = jax.block_until_ready(jax.jit(lse)(X))
g = jax.block_until_ready(jax.jit(jax.grad(loss))(X))
print(f"{len(jax.devices())} devices; input sharding {X.sharding.spec}")
print(f"forward output sharding {y.sharding.spec}, gradient sharding {g.sharding.spec}")
print(f"shapes the rule received: {sorted(set(rows_seen))} x {len(rows_seen)} calls")
np.testing.assert_allclose(np.asarray(y), jax.scipy.special.logsumexp(Xn, axis=1), rtol=1e-12)
np.testing.assert_allclose(np.asarray(g), jax.grad(loss_jnp)(Xn), rtol=1e-12)
assert set(rows_seen) == {(4, 5)}, rows_seen          # 16 rows over 4 devices
assert tuple(g.sharding.spec) == ("rows", None)
print(f"next eager op on the output works: {float(jnp.sum(y * 2)):.6f}")
print("sharded ok")
