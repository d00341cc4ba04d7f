"""The in-place heat equation, differentiated Enzyme-style.

``heat_eq(dx, x, p, t)`` writes the time derivative of the temperature ``x``
into ``dx`` in place (through slices, then ``dx *= alpha`` and an update of
``dx[0]`` by a boundary input ``u(t; p)``), exactly as one writes it for
Enzyme. ``ar.autodiff`` runs it as written: the shadows seed the cotangent of
the arguments' final values and end holding that of their initial values.
A second part differentiates a whole explicit-Euler simulation (500 in-place
steps) with respect to the input parameters ``p``.

Run: ``python examples/heat_equation.py``
"""

from __future__ import annotations

import numpy as np

import activerules as ar
from activerules.engine import autodiff

N = 50            # grid points
lam = 0.5         # boundary conductance
delta_x = 1.0 / N
kappa = 0.01      # diffusivity
alpha = kappa / delta_x ** 2
Tf = 1.0          # final time
STEPS = 500
dt = Tf / STEPS


def input_signal(s, p):
    """Boundary heat input at normalised time ``s``: ``p[0] sin(pi p[1] s) + p[2] s``."""
    return p[0] * np.sin(np.pi * p[1] * s) + p[2] * s


def heat_eq(dx, x, p, t):
    """dx = d/dt x for the semi-discrete heat equation (written in place)."""
    u = input_signal(t / Tf, p)
    dx[1:-1] = x[:-2] - 2 * x[1:-1] + x[2:]
    dx[0] = x[1] - x[0]
    dx[-1] = x[-2] - x[-1]
    dx *= alpha
    dx[0] = dx[0] + alpha / (lam * delta_x) * u


def simulate(x, p, dx):
    """Explicit Euler from the initial state ``x`` (updated in place)."""
    t = 0.0
    for _ in range(STEPS):
        heat_eq(dx, x, p, t)
        x += dt * dx
        t += dt


def final_energy(x, p):
    """A scalar of the final state: the loss for the parameter gradient."""
    dx = np.zeros_like(x)
    simulate(x, p, dx)
    return (x * x).sum() * delta_x


def _fd(f, v, eps=1e-6):
    g = np.zeros_like(v)
    for i in range(v.size):
        e = np.zeros_like(v)
        e[i] = eps
        g[i] = (f(v + e) - f(v - e)) / (2 * eps)
    return g


def main() -> float:
    """Run both parts, print gradients next to finite differences; return the
    largest relative error."""
    rng = np.random.default_rng(1)
    x0 = np.sin(np.linspace(0.0, np.pi, N)) + 0.1 * rng.standard_normal(N)
    p0 = np.array([0.8, 1.5, -0.3])
    t = 0.37
    errors = []

    # 1. The seed's call: one heat_eq evaluation, Enzyme calling convention.
    dx, x, p = np.zeros(N), x0.copy(), p0.copy()
    seed = rng.standard_normal(N)
    d_dx, d_x, d_p = seed.copy(), np.zeros(N), np.zeros(3)
    autodiff(heat_eq, ar.Duplicated(dx, d_dx), ar.Duplicated(x, d_x), ar.Duplicated(p, d_p),
             ar.Const(t), returns=ar.Const)

    def loss_of(x_, p_):
        out = np.zeros(N)
        heat_eq(out, x_, p_, t)
        return seed @ out

    fd_x, fd_p = _fd(lambda v: loss_of(v, p0), x0), _fd(lambda v: loss_of(x0, v), p0)
    print("heat_eq: d_p       ", d_p)
    print("finite differences ", fd_p)
    print("heat_eq: |d_x - fd| =", np.abs(d_x - fd_x).max(), "; d_dx (initial dx unused) =",
          np.abs(d_dx).max())
    errors += [np.abs(d_p - fd_p).max() / np.abs(fd_p).max(), np.abs(d_x - fd_x).max() / np.abs(fd_x).max()]
    expected = np.zeros(N)
    heat_eq(expected, x0, p0, t)
    assert np.allclose(dx, expected), "the caller's dx receives the side effects"

    # 2. A whole simulation: 500 in-place Euler steps.
    x, p, d_x, d_p = x0.copy(), p0.copy(), np.zeros(N), np.zeros(3)
    autodiff(final_energy, ar.Duplicated(x, d_x), ar.Duplicated(p, d_p))
    fd_p = _fd(lambda v: final_energy(x0.copy(), v), p0)
    print("simulation: dE/dp  ", d_p)
    print("finite differences ", fd_p)
    errors.append(np.abs(d_p - fd_p).max() / np.abs(fd_p).max())
    print(f"largest relative error: {max(errors):.2e}")
    return max(errors)


if __name__ == "__main__":
    main()
