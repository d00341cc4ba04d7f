r"""Where the JAX adapter's host callbacks run on a mesh, and with what types.

A host callback under ``jax.jit`` with sharded inputs is placed on one device
(``pure_callback``'s maximal sharding): the input is all-gathered there and the
output carries a ``{maximal device=0}`` sharding that later eager ops reject.
Instead the adapter wraps each callback in a ``jax.shard_map`` over the inputs'
mesh, as planned here from the rule's declared partitioning (see
:func:`activerules.adapters.jax.to_jax`):

* a partitioned rule (``"elementwise"``, :class:`batched`, or a callable) runs once
  per device on that device's block; arguments it does not split are replicated,
  and their cotangents are summed over the devices that split the outputs;
* an undeclared rule runs on the whole (replicated) arrays on every device, so its
  output is replicated and usable by any later op (correct, not scalable).

Inside a user's ``shard_map`` (every mesh axis manual) a callback already runs per
device; callbacks drop the varying-manual-axes type (vma) of their results, so
:func:`vary_like` restores it on the forward's outputs and :func:`fix_cotangent`
gives each cotangent its input's type (summing the contributions of the devices
it is invariant over). Both are needed: restoring only the cotangents' type makes
JAX insert a ``psum`` that multiplies gradients by the number of devices.

On CPU the callbacks are ``jax.experimental.buffer_callback``\ s: ``pure_callback``
hands NumPy ``jax.Array``\ s and was seen to deadlock when several devices call back
at once. Their input buffers live only during the call, so a callback that keeps
them (a rule's pending reverse) copies them first.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np

__all__ = ["Batched", "Plan", "plan", "host_call", "vary_like", "fix_cotangent", "vma"]


@dataclass(frozen=True)
class Batched:
    """The rule maps slices along ``axis`` independently (see :func:`~activerules.adapters.jax.batched`)."""

    axis: int = 0


@dataclass(frozen=True)
class Plan:
    """A ``shard_map`` for one call: the mesh, a spec per dynamic argument, the outputs'
    spec (a prefix of the output structure), and the spec of the per-device token."""

    mesh: Any
    in_specs: tuple[Any, ...]
    out_spec: Any
    token_spec: Any


def vma(value: Any) -> frozenset[str]:
    """The mesh axes ``value`` varies over (inside ``shard_map``; empty elsewhere)."""
    import jax

    mat = getattr(jax.typeof(value), "manual_axis_type", None)
    return frozenset(getattr(mat, "varying", ()) or ())


def vary_like(y: Any, axes: frozenset[str]) -> Any:
    """``y`` typed as varying over ``axes`` (a callback's result has lost its vma)."""
    import jax

    missing = tuple(sorted(axes - vma(y)))
    return jax.lax.pcast(y, missing, to="varying") if missing else y


def fix_cotangent(c: Any, x: Any, axes: frozenset[str]) -> Any:
    """The cotangent ``c`` of the primal ``x``, computed per device from values varying
    over ``axes``: summed over the axes ``x`` does not vary over, typed as ``x``."""
    import jax

    want = vma(x)
    c = vary_like(c, axes | want)
    extra = tuple(sorted(axes - want))
    return jax.lax.psum(c, extra) if extra else c


def host_call(host: Callable[..., list[np.ndarray]], specs: list[Any], args: Sequence[Any],
              keeps_inputs: bool) -> list[Any]:
    """Call ``host`` (NumPy arrays in, one array per spec out) from JAX, batching
    ``vmap``'s extra axes as leading axes. ``keeps_inputs``: ``host`` holds on to its
    arguments after returning (so they must be copies of the callback's buffers)."""
    import jax

    if jax.default_backend() != "cpu":
        return list(jax.pure_callback(host, specs, *args, vmap_method="expand_dims"))
    from jax.experimental.buffer_callback import buffer_callback

    def kernel(ctx: Any, out: Any, *bufs: Any) -> None:
        arrays = [np.asarray(b).copy() if keeps_inputs else np.asarray(b) for b in bufs]
        for o, v in zip(out, host(*arrays)):
            np.asarray(o)[...] = v

    return list(buffer_callback(kernel, specs, vmap_method="expand_dims")(*args))


def plan(partition: Any, xs: Sequence[Any], mutates: tuple[int, ...]) -> Plan | None:
    """The ``shard_map`` running a callback on the arguments ``xs`` (abstract or
    concrete JAX arrays), or ``None`` to call it directly (one device, or inside a
    ``shard_map`` already)."""
    from jax.sharding import AxisType
    from jax.sharding import PartitionSpec as P

    meshes = [jax_mesh(x) for x in xs if np.ndim(x) > 0]
    mesh = next((m for m in meshes if not m.empty), None)
    if mesh is None or mesh.size == 1 or any(t == AxisType.Manual for t in mesh.axis_types):
        return None
    axes = tuple(mesh.axis_names)
    token_spec = P(axes)
    specs = _partition_specs(partition, mesh, xs)
    if specs is None:                      # undeclared, or not splittable here: replicated
        return Plan(mesh, (P(),) * len(xs), P(), token_spec)
    in_specs, out_spec = specs
    if mutates:                            # the outputs are the mutated arguments
        out_spec = tuple(in_specs[i] for i in mutates)
        out_spec = out_spec[0] if len(out_spec) == 1 else out_spec
    return Plan(mesh, tuple(in_specs), out_spec, token_spec)


def jax_mesh(x: Any) -> Any:
    import jax

    return jax.typeof(x).sharding.mesh


def _partition_specs(partition: Any, mesh: Any, xs: Sequence[Any]) -> tuple[tuple[Any, ...], Any] | None:
    """``(in_specs, out_spec)`` of a declared partitioning, or ``None`` (replicate)."""
    import jax
    from jax.sharding import PartitionSpec as P

    if partition is None:
        return None
    if callable(partition) and not isinstance(partition, Batched):
        got = partition(mesh, *[jax.ShapeDtypeStruct(np.shape(x), x.dtype) for x in xs])
        return None if got is None else (tuple(got[0]), got[1])
    ref = max(np.ndim(x) for x in xs)
    first = next(x for x in xs if np.ndim(x) == ref)
    split: Any = None
    axis = partition.axis % ref if isinstance(partition, Batched) and ref else 0
    if partition == "elementwise":
        typed = jax.typeof(first).sharding.spec     # Explicit mesh axes: the layout is in the type
        if any(p is not None for p in typed):
            split = P(*typed)
    if split is None:
        if ref == 0 or np.shape(first)[axis] % mesh.size:
            return None                    # not evenly divisible: replicate
        split = P(*([None] * axis), tuple(mesh.axis_names))
    def splits(x: Any) -> bool:
        if np.ndim(x) != ref:
            return False              # broadcast against the others, or a scalar: replicated
        if isinstance(partition, Batched):
            return bool(np.shape(x)[axis] == np.shape(first)[axis])
        return np.shape(x) == np.shape(first)

    return tuple(split if splits(x) else P() for x in xs), split
