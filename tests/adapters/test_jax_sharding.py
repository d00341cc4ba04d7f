"""to_jax on 4 simulated CPU devices: per-shard rules under jit, eager and shard_map, forward
and backward. The checks (sharded_checks.py) run in ONE subprocess, so this process keeps
its single device; each test below reads one check's result."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).parent
CHECKS = [
    "undeclared_jit_output_is_usable",          # failed before: maximal device=0, eager op TypeError
    "elementwise_jit_runs_per_shard",
    "elementwise_jit_has_no_all_gather",
    "elementwise_jit_grad_runs_per_shard",
    "elementwise_eager_grad_runs_per_shard",
    "batched_rows_replicate_the_shared_argument",
    "callable_partition",
    "not_divisible_is_replicated_and_right",
    "vmap_of_grad_per_shard",
    "shard_map_grad",                            # failed before: custom VJP bwd vma ValueError
    "grad_inside_shard_map",
    "shard_map_grad_with_a_replicated_argument",
    "mutating_rule_per_shard",
    "explicit_axes_layout_from_the_type",
    "batched_gradient_matches_finite_differences",
    "many_calls_do_not_hang",
]


@pytest.fixture(scope="module")
def results():
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=4", JAX_PLATFORMS="cpu",
               PYTHONPATH=os.pathsep.join([str(HERE.parents[1]), os.environ.get("PYTHONPATH", "")]))
    out = subprocess.run([sys.executable, str(HERE / "sharded_checks.py")], env=env, capture_output=True,
                         text=True, timeout=240)
    line = next((ln for ln in out.stdout.splitlines() if ln.startswith("RESULTS=")), None)
    assert line is not None, out.stderr[-4000:]
    return json.loads(line[len("RESULTS="):])


def test_every_check_is_listed(results):
    assert sorted(results) == sorted(CHECKS)


@pytest.mark.parametrize("name", CHECKS)
def test_sharded(results, name):
    assert results[name] == "ok", results[name]
