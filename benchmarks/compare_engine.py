"""W1–W5 in one line, to compare two versions of the engine side by side.

Run it alternately against two checkouts, a few rounds, in the same minute::

    git archive <commit> activerules | tar -x -C /tmp/old
    for i in 1 2 3; do
        PYTHONPATH=/tmp/old python benchmarks/compare_engine.py
        python benchmarks/compare_engine.py
    done

The examples are always this checkout's. Best of 7 after a full collection, as
``bench_engine.py``; no torch or JAX.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402
from workloads import best, chain, heat_problem, load_example  # noqa: E402

import activerules as ar  # noqa: E402
from activerules.engine import autodiff, gradient  # noqa: E402


def main() -> None:
    x16, x6 = np.linspace(0, 1, 16), np.linspace(0, 1, 10 ** 6)
    w1 = best(lambda: gradient(lambda v: chain(v, 250), x16))
    w2 = best(lambda: gradient(lambda v: chain(v, 5), x6)) / best(lambda: chain(x6, 5))
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((512, 512)) / 20, rng.standard_normal((512, 512)) / 20

    def f3(a: Any, b: Any) -> Any:
        return np.tanh(a @ b).sum()
    w3 = best(lambda: gradient(f3, a, b, argnums=0)) / best(lambda: gradient(f3, a, b, argnums=(0, 1)))
    heat, x0, p0 = heat_problem()
    n = x0.size
    w4 = best(lambda: autodiff(heat.final_energy, ar.Duplicated(x0.copy(), np.zeros(n)),
                               ar.Duplicated(p0.copy(), np.zeros(3))), 3)
    w4f = best(lambda: heat.final_energy(x0.copy(), p0.copy()), 3)
    m = load_example("implicit_solve")
    p = np.linspace(0.5, 3.0, 10_000)
    w5 = best(lambda: gradient(m.loss_ift, p))
    w5u = best(lambda: gradient(m.loss_unrolled, p), 3)
    w5f = best(lambda: m.loss_unrolled(p))
    print(f"{Path(ar.__file__).parents[1]}: W1 {w1 * 1e3:.2f} ms | W2 {w2:.2f}x | W3 {w3:.2f} | "
          f"W4 {w4 * 1e3:.1f} ms {w4 / w4f:.1f}x | W5 {w5 * 1e3:.2f} ms {w5 / w5f:.2f}x forward, "
          f"{w5u / w5:.1f}x faster than {w5u * 1e3:.1f} ms")


if __name__ == "__main__":
    main()
