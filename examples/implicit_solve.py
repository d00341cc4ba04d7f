"""A Newton solver wrapped as a primitive with an implicit-function-theorem rule.

``solve(p)`` returns the root ``x`` of ``g(x, p) = x**3 + p * x - 1`` (elementwise,
``p > 0``) by 30 Newton iterations. Differentiating through the iterations
records every step; the rule below instead uses the implicit function theorem,

    pbar = -(dg/dp)^T (dg/dx)^-T xbar,

taking the inner vector-Jacobian product of ``g`` with ``ar.vjp`` inside the
rule's reverse (nested use of the engine; ``g`` is elementwise, so one VJP with
ones gives both diagonal Jacobians). Both give the same gradient; the rule is
much faster.

Run: ``python examples/implicit_solve.py``
"""

from __future__ import annotations

import time

import numpy as np

import activerules as ar
from activerules.engine import gradient, primitive, vjp

ITERATIONS = 30


def g(x, p):
    """The residual whose root ``solve`` finds."""
    return x * x * x + p * x - 1.0


def newton(p, iterations=ITERATIONS):
    """Newton's method on ``g(., p)`` from x = 1 (plain NumPy, differentiable by tracing)."""
    x = np.ones_like(p)
    for _ in range(iterations):
        x = x - g(x, p) / (3 * x * x + p)
    return x


@primitive
def solve(p):
    """The root of ``g(., p)``: a primitive, so the engine calls its rule."""
    return newton(p)


@ar.rrule(solve)
def _solve_ift(p):
    x = solve(p)

    def pullback(xbar):
        _, g_pullback = vjp(g, x, p)            # one forward of g, one reverse sweep
        # g is elementwise, so dg/dx and dg/dp are diagonal: a VJP with ones gives both
        # diagonals, and pbar = -(dg/dp)^T (dg/dx)^-T xbar is a division.
        dgdx, dgdp = g_pullback(np.ones_like(x))
        pbar = -xbar * dgdp / dgdx
        return (pbar,)

    return x, pullback


def loss_ift(p):
    return (solve(p) ** 2).sum()


def loss_unrolled(p):
    return (newton(p) ** 2).sum()


def _best(f, repeat=5):
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        f()
        times.append(time.perf_counter() - t)
    return min(times)


def main(n: int = 10_000) -> float:
    """Compare both gradients and their timings; return the relative difference."""
    p = np.linspace(0.5, 3.0, n)
    g_ift = gradient(loss_ift, p)
    g_unrolled = gradient(loss_unrolled, p)
    diff = np.abs(g_ift - g_unrolled).max() / np.abs(g_unrolled).max()
    t_ift = _best(lambda: gradient(loss_ift, p))
    t_unrolled = _best(lambda: gradient(loss_unrolled, p))
    t_numpy = _best(lambda: loss_unrolled(p))
    print(f"n = {n}, {ITERATIONS} Newton iterations")
    print(f"max relative difference IFT vs through-the-iterations: {diff:.2e}")
    print(f"gradient through the IFT rule:       {t_ift * 1e3:8.2f} ms")
    print(f"gradient through the iterations:     {t_unrolled * 1e3:8.2f} ms"
          f"  (IFT speedup {t_unrolled / t_ift:.1f}x)")
    print(f"NumPy forward (no derivative):       {t_numpy * 1e3:8.2f} ms"
          f"  (IFT gradient / forward = {t_ift / t_numpy:.2f})")
    return diff


if __name__ == "__main__":
    main()
