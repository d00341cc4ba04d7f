"""Resolution cost: a cached ``registry.resolve`` vs a plain dict read, and the
uncached resolution of every combination of a 4-argument function.

    python benchmarks/bench_resolution.py

Target (issue 2): a cached resolution within 3x a Python method doing one dict read.
"""

from __future__ import annotations

import timeit

import numpy as np

import activerules as ar
from activerules.dispatch import admissible_requests


def f4(A, b, s, t):
    return (A @ b) * s + t * b


class OneDictRead:
    """The baseline: what a cache hit should cost."""

    def __init__(self) -> None:
        self._cache: dict = {}

    def get(self, fn, activities, types):
        return self._cache.get((fn, activities, types))


def best(stmt, number: int, repeat: int = 7) -> float:
    return min(timeit.repeat(stmt, number=number, repeat=repeat)) / number


def main() -> None:
    reg = ar.RuleRegistry()
    reg.rrule(f4)(lambda A, b, s, t: ((A @ b) * s + t * b, lambda g: (None, None, 0.0, 0.0)))
    reg.rule(f4, ar.Duplicated, ar.Annotation, ar.Annotation, ar.Annotation)(lambda cfg, *a: (None, None))
    reg.rule(f4, ar.Const, ar.Duplicated, ar.Annotation, ar.Annotation)(lambda cfg, *a: (None, None))
    types = (np.ndarray, np.ndarray, float, float)
    acts = (ar.Const, ar.Duplicated, ar.Active, ar.Const)
    reg.resolve(f4, acts, types)
    baseline = OneDictRead()
    baseline._cache[(f4, acts, types)] = object()

    n = 200_000
    t_hit = best(lambda: reg.resolve(f4, acts, types), n)
    t_dict = best(lambda: baseline.get(f4, acts, types), n)

    combos = list(admissible_requests(("array", "array", "scalar", "scalar")))

    def uncached() -> None:
        reg.clear_cache()
        for c in combos:
            try:
                reg.resolve(f4, c, types)
            except ar.AmbiguousRuleError:  # the two partial rules tie on some requests
                pass

    t_all = best(uncached, 3, repeat=5)
    print(f"cached resolve          {t_hit * 1e9:8.0f} ns")
    print(f"method with a dict read {t_dict * 1e9:8.0f} ns")
    print(f"ratio                   {t_hit / t_dict:8.2f}x  (target <= 3x)")
    print(f"uncached, all {len(combos)} combinations of a 4-argument function: "
          f"{t_all * 1e3:.1f} ms ({t_all / len(combos) * 1e6:.0f} us each, "
          f"{t_all / len(combos) / t_hit:.0f}x a cache hit)")


if __name__ == "__main__":
    main()
