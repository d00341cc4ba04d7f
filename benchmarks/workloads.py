"""What ``bench_engine.py`` and ``compare_engine.py`` share: the timer, the W1/W2
chain and the examples the workloads run."""

from __future__ import annotations

import gc
import importlib.util
import sys
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def best(f: Callable[[], Any], repeat: int = 7, collect: bool = True) -> float:
    """Best wall time of ``repeat`` runs after one warm-up, in seconds. ``collect``: a
    full garbage collection before each run (with torch and JAX loaded it walks
    millions of objects and leaves the CPU caches cold, which weighs on Python-bound
    workloads); else back-to-back runs, as in a loop, where full collections are rare."""
    f()
    out = []
    for _ in range(repeat):
        if collect:
            gc.collect()
        t = time.perf_counter()
        f()
        out.append(time.perf_counter() - t)
    return min(out)


def load_example(name: str) -> Any:
    """``examples/<name>.py`` as a module."""
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    sys.modules[spec.name] = module  # type: ignore[union-attr]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


def chain(x: Any, blocks: int, sin: Any = np.sin, tanh: Any = np.tanh) -> Any:
    """W1/W2: ``blocks`` times sin, * 1.01, + 0.1, tanh; then the sum."""
    for _ in range(blocks):
        x = sin(x)
        x = x * 1.01
        x = x + 0.1
        x = tanh(x)
    return x.sum()


def heat_problem() -> tuple[Any, np.ndarray, np.ndarray]:
    """W4: the heat-equation example on n = 1000 points (500 stable Euler steps), its
    initial state and parameters."""
    heat = load_example("heat_equation")
    heat.N = n = 1000
    heat.delta_x = 1.0 / n
    heat.alpha = heat.kappa / heat.delta_x ** 2
    heat.dt = 0.4 * heat.delta_x ** 2 / heat.kappa
    return heat, np.sin(np.linspace(0.0, np.pi, n)), np.array([0.8, 1.5, -0.3])
