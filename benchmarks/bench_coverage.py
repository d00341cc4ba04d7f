"""Coverage sweep time: ``activerules coverage numpy`` over every built-in NumPy rule.

    python benchmarks/bench_coverage.py

Reports, best of several runs: the in-process sweep (enumeration + classification
with a cold resolution cache), each renderer, and the real command end to end
(interpreter start, ``import activerules``, plugins, sweep, text output).
Target (issue 5): the full sweep without ``--verify`` finishes in seconds.
"""

from __future__ import annotations

import subprocess
import sys
import time
from functools import partial
from typing import Callable

from activerules.coverage import CoverageReport, build_report, render
from activerules.dispatch import registry


def best(fn: Callable[[], object], repeat: int = 5) -> float:
    """The fastest of ``repeat`` wall-clock runs, in seconds."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def cold_sweep() -> CoverageReport:
    registry.clear_cache()
    return build_report(["numpy"], plugins=False)


def command() -> None:
    subprocess.run([sys.executable, "-m", "activerules", "coverage", "numpy"], check=True,
                   stdout=subprocess.DEVNULL)


def main() -> None:
    report = cold_sweep()
    counts = report.counts()
    print(f"activerules coverage numpy: {counts['functions']} functions, "
          f"{counts['combinations']} combinations")
    print(f"  sweep (cold resolution cache) {best(cold_sweep) * 1e3:8.1f} ms")
    for fmt in ("text", "markdown", "json", "html"):
        print(f"  render {fmt:<8}                {best(partial(render, report, fmt)) * 1e3:8.1f} ms")
    print(f"  whole command (subprocess)    {best(command, repeat=3) * 1e3:8.1f} ms")


if __name__ == "__main__":
    main()
