"""The interop examples run to completion (each asserts its own numbers)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.mark.parametrize("name", ["jax_interop.py", "torch_interop.py"])
def test_example_runs(name):
    out = subprocess.run([sys.executable, str(EXAMPLES / name)], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.strip().endswith("interop ok")


def test_adapter_benchmark_prints_ratios():
    script = EXAMPLES.parent / "benchmarks" / "bench_adapters.py"
    out = subprocess.run([sys.executable, str(script), "--smoke"], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    rows = out.stdout.strip().splitlines()
    assert rows[0].split() == ["engine", "input", "adapter", "native", "ratio"]
    assert [r.split()[0] for r in rows[1:]] == ["jax", "jax", "torch", "torch", "autograd", "autograd"]
    assert all(float(r.split()[-1]) > 0 for r in rows[1:])


def test_sharded_example_runs_per_shard():
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=4", JAX_PLATFORMS="cpu")
    out = subprocess.run([sys.executable, str(EXAMPLES / "sharded_rule.py")], capture_output=True, text=True,
                         timeout=300, env=env)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "shapes the rule received: [(4, 5)] x 4 calls" in out.stdout
    assert out.stdout.strip().endswith("sharded ok")


def test_sharding_benchmark_runs():
    script = EXAMPLES.parent / "benchmarks" / "bench_sharding.py"
    out = subprocess.run([sys.executable, str(script), "--smoke"], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    rows = {r.split()[0]: r for r in out.stdout.strip().splitlines()[2:]}
    assert list(rows) == ["native", "per-shard", "replicated", "gathered"]
    assert "P('d', None)" in rows["per-shard"] and " no " in rows["per-shard"]     # no all-gather, kept split
