"""A rule registered for numerical accuracy: ``exprel(x) = (exp(x) - 1) / x``.

Differentiating the textbook formula near ``x = 0`` cancels catastrophically:
its derivative ``(x e^x - e^x + 1) / x^2`` subtracts numbers equal to all
their digits and divides by ``x^2``. Marking the function ``@ar.primitive``
and registering a rule that evaluates the derivative with ``expm1`` and a
series near zero makes every gradient accurate, without changing the callers.

Run: ``python examples/custom_exp.py``
"""

from __future__ import annotations

import math

import numpy as np

import activerules as ar
from activerules.engine import gradient, primitive


def exprel_naive(x):
    """The textbook formula (what tracing differentiates)."""
    return (np.exp(x) - 1.0) / x


@primitive
def exprel(x):
    """``(exp(x) - 1) / x`` computed accurately (``expm1``; 1 at 0)."""
    safe = np.where(x == 0, 1.0, x)
    return np.where(x == 0, 1.0, np.expm1(safe) / safe)


def exprel_prime(x):
    """d/dx exprel, accurate everywhere: a series for small |x|, expm1 elsewhere."""
    small = np.abs(x) < 1e-3
    xs = np.where(small, x, 0.0)
    series = 0.5 + xs / 3 + xs * xs / 8 + xs ** 3 / 30
    xb = np.where(small, 1.0, x)
    big = (xb * np.expm1(xb) - np.expm1(xb) + xb) / (xb * xb)  # = (x e^x - e^x + 1) / x^2
    return np.where(small, series, big)


@ar.rrule(exprel)
def _exprel_rrule(x):
    y = exprel(x)
    return y, lambda ybar: (ybar * exprel_prime(x),)


def main() -> tuple[float, float]:
    """Print traced vs rule gradients next to the exact derivative; return the
    largest relative errors (rule, traced)."""
    xs = np.array([1e-9, 1e-6, 1e-4, 1e-2, 1.0, 5.0])
    # Reference: the Taylor series sum_k k x^(k-1) / (k+1)! (30 terms), and the plain
    # formula at x = 5 where nothing cancels.
    exact = sum(k * xs ** (k - 1) / math.factorial(k + 1) for k in range(1, 31))
    exact[-1] = (5 * np.exp(5.0) - np.exp(5.0) + 1) / 25
    rule = gradient(lambda x: exprel(x).sum(), xs)
    traced = gradient(lambda x: exprel_naive(x).sum(), xs)
    print(f"{'x':>8} {'exact':>22} {'with the rule':>22} {'traced formula':>22}")
    for x, e, r, t in zip(xs, exact, rule, traced):
        print(f"{x:8.0e} {e:22.16f} {r:22.16f} {t:22.16f}")
    err_rule = float(np.max(np.abs(rule - exact) / np.abs(exact)))
    err_traced = float(np.max(np.abs(traced - exact) / np.abs(exact)))
    print(f"largest relative error: rule {err_rule:.1e}, traced {err_traced:.1e}")
    return err_rule, err_traced


if __name__ == "__main__":
    main()
