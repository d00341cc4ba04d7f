"""Realistic scientific programs: each gradient equals central finite differences.

Loops with in-place updates, slices and views, fancy indexing, reductions, an
ODE integrator, a softmax-regression training step, a finite-difference
stencil with np.roll, linear algebra, and arrays built from lists.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import pytest
from engine_helpers import assert_gradient_matches_fd

_rng = np.random.default_rng(0)


def heat_equation_in_place(p: Any) -> Any:
    """Explicit heat equation, the diffusivity first in ``p``: slice updates in a loop."""
    alpha, u = p[0], p[1:].copy()
    for _ in range(20):
        u[1:-1] += alpha * (u[2:] - 2 * u[1:-1] + u[:-2])
    return (u ** 2).sum()


def periodic_stencil(u0: Any) -> Any:
    """Reaction-diffusion on a periodic grid: a five-point Laplacian with np.roll."""
    u = u0.copy()
    for _ in range(10):
        lap = (np.roll(u, 1, axis=0) + np.roll(u, -1, axis=0) + np.roll(u, 1, axis=1)
               + np.roll(u, -1, axis=1) - 4 * u)
        u = u + 0.1 * lap - 0.01 * u ** 3
    return u[2, 3] + (u ** 2).mean()


def rk4_lotka_volterra(theta: Any) -> Any:
    """RK4 on Lotka-Volterra: the right-hand side built with np.array, a trajectory
    buffer allocated like the parameters and filled row by row."""
    a, b, c, d = theta[0], theta[1], theta[2], theta[3]

    def rhs(z: Any) -> Any:
        return np.array([a * z[0] - b * z[0] * z[1], c * z[0] * z[1] - d * z[1]])

    z, h = np.array([1.0, 0.5]), 0.05
    traj = np.zeros((40, 2), like=theta)
    for k in range(40):
        k1 = rhs(z)
        k2 = rhs(z + h / 2 * k1)
        k3 = rhs(z + h / 2 * k2)
        k4 = rhs(z + h * k3)
        z = z + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
        traj[k] = z
    return (traj[:, 0] ** 2).sum() + traj[-1, 1]


X_SOFTMAX, Y_SOFTMAX = _rng.standard_normal((8, 3)), _rng.integers(0, 4, 8)


def softmax_training_step(w: Any) -> Any:
    """The loss after one hand-written gradient step of softmax regression."""
    def loss_and_grad(W: Any) -> tuple[Any, Any]:
        logits = X_SOFTMAX @ W
        logits = logits - logits.max(axis=1, keepdims=True)
        p = np.exp(logits)
        p /= p.sum(axis=1, keepdims=True)
        loss = -np.log(p[np.arange(8), Y_SOFTMAX]).mean()
        onehot = np.zeros((8, 4))
        onehot[np.arange(8), Y_SOFTMAX] = 1.0
        return loss, X_SOFTMAX.T @ (p - onehot) / 8

    W = w.reshape(3, 4)
    _, g = loss_and_grad(W)
    return loss_and_grad(W - 0.5 * g)[0]


def fancy_indexing(x: Any) -> Any:
    """In-place ReLU by mask, gathers and scatter-adds with repeated indices."""
    y = x.copy()
    y[y < 0] = 0.0
    idx = np.array([0, 3, 3, 5, 1])
    acc = np.zeros_like(x)
    np.add.at(acc, idx, y[idx] * x[[1, 2, 2, 0, 4]])
    acc[[1, 2]] += x[:2] ** 2
    return (acc ** 2).sum() + np.take(x, [5, 0]).prod()


def statistics(x: Any) -> Any:
    """A stable log-sum-exp, normalisation, running means, median and percentile."""
    M = x.reshape(2, 3)
    lse = np.log(np.exp(M - M.max(axis=1, keepdims=True)).sum(axis=1)) + M.max(axis=1)
    running = np.cumsum(x / np.linalg.norm(x)) / np.arange(1, 7)
    return lse.sum() + running.var() + M.std(axis=0).sum() + np.median(x) + np.percentile(x, 30)


POINTS, Y_GP = _rng.standard_normal((5, 2)), _rng.standard_normal(5)


def gaussian_process_evidence(theta: Any) -> Any:
    """GP negative log marginal likelihood: Cholesky, its diagonal, solve, slogdet."""
    ell, s2 = np.exp(theta[0]), np.exp(theta[1])
    d2 = ((POINTS[:, None, :] - POINTS[None, :, :]) ** 2).sum(-1)
    K = s2 * np.exp(-0.5 * d2 / ell ** 2) + 0.1 * np.eye(5)
    L = np.linalg.cholesky(K)
    return 0.5 * Y_GP @ np.linalg.solve(K, Y_GP) + np.log(np.diagonal(L)).sum() + 0.5 * np.linalg.slogdet(K)[1]


def velocity_verlet(x0: Any) -> Any:
    """Four particles under pairwise forces: in-place position and velocity updates."""
    def forces(p: Any) -> Any:
        d = p[:, None, :] - p[None, :, :]
        r2 = (d ** 2).sum(-1) + np.eye(4)
        return (d / r2[..., None] ** 1.5).sum(axis=1)

    pos, dt = x0.reshape(4, 2).copy(), 0.01
    vel = np.zeros_like(pos)
    f = forces(pos)
    for _ in range(15):
        vel += 0.5 * dt * f
        pos += dt * vel
        f = forces(pos)
        vel += 0.5 * dt * f
    return (pos ** 2).sum() + (vel ** 2).sum()


T_FIT = np.linspace(-1, 1, 7)


def least_squares_fit(c: Any) -> Any:
    """Fit a quadratic to generated data (lstsq's named outputs unpacked), then a
    matrix built from the coefficients with np.array."""
    y = c[0] + c[1] * T_FIT + c[2] * T_FIT ** 2 + np.sin(c[3] * T_FIT)
    V = np.stack([T_FIT ** k for k in range(3)], axis=1)
    coef, *_ = np.linalg.lstsq(V, y, rcond=None)
    A = np.array([[coef[0], coef[1]], [coef[1], coef[2]]])
    return (A @ np.array([1.0, 2.0])).sum() + coef @ coef


def newton_square_root(a: Any) -> Any:
    """Newton's iteration with a convergence test on the values."""
    y = a.copy()
    while np.max(np.abs(y * y - a)) > 1e-12:
        y = 0.5 * (y + a / y)
    return y.sum()


def exponential_smoothing(x: Any) -> Any:
    """A recursive filter written element by element."""
    y = np.zeros_like(x)
    y[0] = x[0]
    for i in range(1, len(x)):
        y[i] = 0.7 * y[i - 1] + 0.3 * x[i]
    return (y ** 2).sum()


def convolution(x: Any) -> Any:
    """A 3x3 stencil over a zero-padded image, accumulated from shifted slices."""
    img = x.reshape(4, 4)
    padded = np.pad(img, 1)
    kernel = np.array([[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]])
    out = np.zeros_like(img)
    for i in range(3):
        for j in range(3):
            out += kernel[i, j] * padded[i:i + 4, j:j + 4]
    return (np.tanh(out) ** 2).sum()


def views_and_copy_on_write(x: Any) -> Any:
    """Writes through nested views and into a base whose earlier values a rule kept."""
    A = x.reshape(2, 3)
    B = A[:, ::-1][::-1]
    s = (B ** 2).sum()
    B[0, 1:] = np.tanh(B[1, :2])
    A[:] = A[::-1]
    return s + (A * np.arange(6.0).reshape(2, 3)).sum() + B.sum()


X6 = np.array([0.3, -1.2, 0.7, 2.0, 0.45, -0.6])
PROGRAMS: dict[str, tuple[Callable[[Any], Any], np.ndarray]] = {
    "heat_equation_in_place": (heat_equation_in_place, np.concatenate([[0.2], np.sin(np.linspace(0, 3, 8))])),
    "periodic_stencil": (periodic_stencil, _rng.standard_normal((5, 6))),
    "rk4_lotka_volterra": (rk4_lotka_volterra, np.array([1.1, 0.4, 0.4, 0.9])),
    "softmax_training_step": (softmax_training_step, _rng.standard_normal(12)),
    "fancy_indexing": (fancy_indexing, X6),
    "statistics": (statistics, X6),
    "gaussian_process_evidence": (gaussian_process_evidence, np.array([0.2, -0.3])),
    "velocity_verlet": (velocity_verlet, _rng.standard_normal(8) * 2),
    "least_squares_fit": (least_squares_fit, np.array([0.5, -1.0, 2.0, 0.7])),
    "newton_square_root": (newton_square_root, np.array([2.0, 3.0, 0.5])),
    "exponential_smoothing": (exponential_smoothing, _rng.standard_normal(6)),
    "convolution": (convolution, _rng.standard_normal(16)),
    "views_and_copy_on_write": (views_and_copy_on_write, X6),
}


@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_program_gradient_matches_finite_differences(name: str) -> None:
    f, x = PROGRAMS[name]
    assert_gradient_matches_fd(f, x, rtol=1e-5, atol=1e-7)
