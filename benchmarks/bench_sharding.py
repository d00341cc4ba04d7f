"""Per-shard vs gathered: a NumPy rule on a 4-way sharded array under ``jax.jit``.

For ``softplus`` (elementwise, a registered rrule) on a float64 array of shape
``(rows, 1000)`` sharded by rows over 4 simulated CPU devices, each variant in a
fresh process:

* ``native``: ``jnp.logaddexp(0, x)`` (the reference: XLA's own kernel, per shard);
* ``per-shard``: ``to_jax(softplus, partition="elementwise")``: the rule runs on
  each device's rows;
* ``replicated``: ``to_jax(softplus)`` (no partitioning declared): every device
  runs the rule on the whole, all-gathered array;
* ``gathered``: a hand-written ``jax.custom_vjp`` + ``jax.pure_callback`` (what
  ``to_jax`` did before partitioning existed): one call on device 0, output with a
  ``{maximal device=0}`` sharding.

Columns: median time of ``--repeat`` calls after compilation, for the forward
(``jit(f)``) and the gradient (``jit(grad(sum(f)))``, which runs the rule's forward
and reverse), and the peak host memory (growth of VmHWM) during one call over the
resident set after compilation; ``all-gather``: whether the compiled forward
contains one. Run: ``python benchmarks/bench_sharding.py [--rows N] [--repeat N]
[--smoke]`` (``--smoke``: a tiny array, for the test that keeps the script working).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from typing import Any, Callable

VARIANTS = ["native", "per-shard", "replicated", "gathered"]


def _status(key: str) -> float:
    """A field of /proc/self/status in MiB (0 where there is none)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def _peak_of(call: Callable[[], Any]) -> float:
    """Growth of the peak resident set during ``call()`` over the resident set before."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")                   # resets VmHWM to the current RSS (Linux)
    except OSError:
        return float("nan")
    before = _status("VmRSS")
    call()
    return _status("VmHWM") - before


def _make(variant: str) -> Callable[[Any], Any]:
    import jax
    import jax.numpy as jnp
    import numpy as np

    import activerules as ar
    from activerules.adapters.jax import to_jax
    from activerules.engine import primitive

    @primitive
    def softplus(x: np.ndarray) -> np.ndarray:
        return np.logaddexp(0.0, x)

    @ar.rrule(softplus)
    def _rule(x: np.ndarray) -> Any:
        return np.logaddexp(0.0, x), lambda g: (g / (1 + np.exp(-x)),)

    if variant == "native":
        return lambda x: jnp.logaddexp(0.0, x)
    if variant == "per-shard":
        return to_jax(softplus, partition="elementwise", out_shape=lambda x: x)
    if variant == "replicated":
        return to_jax(softplus, out_shape=lambda x: x)

    @jax.custom_vjp
    def gathered(x: Any) -> Any:
        return jax.pure_callback(softplus, jax.ShapeDtypeStruct(x.shape, x.dtype), x)

    def bwd(x: Any, g: Any) -> Any:
        spec = jax.ShapeDtypeStruct(x.shape, x.dtype)
        return (jax.pure_callback(lambda x, g: g / (1 + np.exp(-x)), spec, x, g),)

    gathered.defvjp(lambda x: (gathered(x), x), bwd)
    return gathered


def child(variant: str, rows: int, repeat: int) -> dict[str, Any]:
    """One variant, in this (fresh) process."""
    import jax
    import numpy as np
    from jax.sharding import Mesh, NamedSharding
    from jax.sharding import PartitionSpec as P

    jax.config.update("jax_enable_x64", True)
    mesh = Mesh(np.array(jax.devices()), ("d",))
    x = jax.device_put(np.random.default_rng(0).standard_normal((rows, 1000)), NamedSharding(mesh, P("d", None)))
    f = _make(variant)
    out: dict[str, Any] = {"variant": variant, "devices": len(jax.devices())}
    for name, fn in (("fwd", jax.jit(f)), ("grad", jax.jit(jax.grad(lambda x: f(x).sum())))):
        jax.block_until_ready(fn(x))
        out[name + "_peak_mib"] = _peak_of(lambda fn=fn: jax.block_until_ready(fn(x)))
        times = []
        for _ in range(repeat):
            t0 = time.perf_counter()
            jax.block_until_ready(fn(x))
            times.append(time.perf_counter() - t0)
        out[name + "_ms"] = 1e3 * statistics.median(times)
    out["all_gather"] = "all-gather" in jax.jit(f).lower(x).compile().as_text()
    out["out_sharding"] = str(getattr(jax.jit(f)(x).sharding, "spec", jax.jit(f)(x).sharding))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=4000)
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--variant", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.smoke:
        args.rows, args.repeat = 8, 2
    if args.variant:
        print("RESULT=" + json.dumps(child(args.variant, args.rows, args.repeat)))
        return
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=4", JAX_PLATFORMS="cpu")
    print(f"softplus on float64 ({args.rows}, 1000) = {args.rows * 1000 * 8 / 2 ** 20:.1f} MiB, rows over 4 devices")
    print(f"{'variant':<11} {'fwd ms':>8} {'fwd MiB':>8} {'grad ms':>8} {'grad MiB':>9}  all-gather  output")
    for variant in VARIANTS:
        cmd = [sys.executable, __file__, "--variant", variant, "--rows", str(args.rows), "--repeat", str(args.repeat)]
        try:
            proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
        except subprocess.TimeoutExpired:
            print(f"{variant:<11} hung (killed after 300 s)")
            continue
        line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT=")), None)
        if line is None:
            print(f"{variant:<11} failed: {proc.stderr.strip().splitlines()[-1:]}")
            continue
        r = json.loads(line[len("RESULT="):])
        print(f"{variant:<11} {r['fwd_ms']:8.1f} {r['fwd_peak_mib']:8.1f} {r['grad_ms']:8.1f} "
              f"{r['grad_peak_mib']:9.1f}  {'yes' if r['all_gather'] else 'no':<10}  {r['out_sharding']}")


if __name__ == "__main__":
    main()
