"""W4 and W5 written for PyTorch eager, JAX jit and HIPS autograd, in float64, for
``bench_engine.py`` to time side by side with activerules (W1's chain is
``workloads.chain`` with each library's ``sin``/``tanh``).

Each ``*_grad`` builder returns a function of NumPy arrays that computes the same
gradient as the activerules run and returns it as NumPy arrays, so the bench checks
that every library computes the same thing before it times it:

* W4, the heat equation of ``examples/heat_equation.py`` (500 explicit Euler steps),
  gradient in ``x0`` and ``p``: PyTorch runs the in-place code as written; JAX cannot
  write in place, so it writes ``dx`` with ``.at[...].set`` inside a ``fori_loop``
  (the idiomatic form; a Python loop of 500 steps under ``jit`` takes minutes to
  compile); HIPS autograd cannot write in place either, so it builds ``dx`` with
  ``concatenate``.
* W5, the Newton solve of ``examples/implicit_solve.py`` with its
  implicit-function-theorem rule, written in each library's custom-rule API
  (``torch.autograd.Function``, ``jax.custom_vjp``, ``autograd.extend.defvjp``),
  each rule taking the inner VJP of ``g`` with the library's own VJP, as the
  example does with ``ar.vjp``.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

Grad = Callable[..., tuple[np.ndarray, ...]]


# -- W4: the heat equation --------------------------------------------------------------

def heat_torch_energy(heat: Any, torch: Any) -> Callable[[Any, Any], Any]:
    """The example's ``final_energy`` on torch tensors, in place as written."""
    def energy(x: Any, p: Any) -> Any:
        x = x.clone()
        dx = torch.zeros_like(x)
        t = 0.0
        for _ in range(heat.STEPS):
            u = p[0] * torch.sin(np.pi * p[1] * (t / heat.Tf)) + p[2] * (t / heat.Tf)
            dx[1:-1] = x[:-2] - 2 * x[1:-1] + x[2:]
            dx[0] = x[1] - x[0]
            dx[-1] = x[-2] - x[-1]
            dx *= heat.alpha
            dx[0] = dx[0] + heat.alpha / (heat.lam * heat.delta_x) * u
            x += heat.dt * dx
            t += heat.dt
        return (x * x).sum() * heat.delta_x
    return energy


def heat_torch_grad(heat: Any, torch: Any) -> Grad:
    energy = heat_torch_energy(heat, torch)

    def grad(x0: np.ndarray, p0: np.ndarray) -> tuple[np.ndarray, ...]:
        x = torch.from_numpy(x0).requires_grad_()
        p = torch.from_numpy(p0).requires_grad_()
        energy(x, p).backward()
        return x.grad.numpy(), p.grad.numpy()
    return grad


def heat_jax_grad(heat: Any, jax: Any) -> Grad:
    """``jit(grad(energy))``: one Euler step per ``fori_loop`` iteration, ``dx`` by ``.at[].set``."""
    jnp = jax.numpy

    def step(_: Any, carry: Any, p: Any) -> Any:
        x, t = carry
        u = p[0] * jnp.sin(np.pi * p[1] * (t / heat.Tf)) + p[2] * (t / heat.Tf)
        dx = jnp.zeros_like(x).at[1:-1].set(x[:-2] - 2 * x[1:-1] + x[2:])
        dx = dx.at[0].set(x[1] - x[0]).at[-1].set(x[-2] - x[-1]) * heat.alpha
        dx = dx.at[0].set(dx[0] + heat.alpha / (heat.lam * heat.delta_x) * u)
        return x + heat.dt * dx, t + heat.dt

    def energy(x: Any, p: Any) -> Any:
        x, _ = jax.lax.fori_loop(0, heat.STEPS, lambda i, c: step(i, c, p), (x, jnp.asarray(0.0)))
        return (x * x).sum() * heat.delta_x

    jitted = jax.jit(jax.grad(energy, (0, 1)))

    def grad(x0: np.ndarray, p0: np.ndarray) -> tuple[np.ndarray, ...]:
        gx, gp = jax.block_until_ready(jitted(x0, p0))
        return np.asarray(gx), np.asarray(gp)
    return grad


def heat_autograd_grad(heat: Any, autograd: Any) -> Grad:
    """``grad(energy)`` with ``dx`` built by ``concatenate`` (autograd has no in-place writes)."""
    anp = autograd.numpy

    def energy(x: Any, p: Any) -> Any:
        t = 0.0
        for _ in range(heat.STEPS):
            u = p[0] * anp.sin(np.pi * p[1] * (t / heat.Tf)) + p[2] * (t / heat.Tf)
            first = (x[1:2] - x[0:1]) * heat.alpha + heat.alpha / (heat.lam * heat.delta_x) * u
            inner = (x[:-2] - 2 * x[1:-1] + x[2:]) * heat.alpha
            dx = anp.concatenate([first, inner, (x[-2:-1] - x[-1:]) * heat.alpha])
            x = x + heat.dt * dx
            t += heat.dt
        return (x * x).sum() * heat.delta_x

    g = autograd.grad(energy, (0, 1))
    return lambda x0, p0: tuple(np.asarray(v) for v in g(x0, p0))


# -- W5: the Newton solve with the implicit-function-theorem rule ----------------------------

def newton_torch_grad(m: Any, torch: Any) -> Grad:
    """A ``torch.autograd.Function`` whose backward is the IFT."""
    class Solve(torch.autograd.Function):
        @staticmethod
        def forward(ctx: Any, p: Any) -> Any:
            x = torch.ones_like(p)
            for _ in range(m.ITERATIONS):
                x = x - m.g(x, p) / (3 * x * x + p)
            ctx.save_for_backward(x, p)
            return x

        @staticmethod
        def backward(ctx: Any, xbar: Any) -> Any:
            x, p = ctx.saved_tensors
            with torch.enable_grad():
                xx, pp = x.detach().requires_grad_(), p.detach().requires_grad_()
                dgdx, dgdp = torch.autograd.grad(m.g(xx, pp), (xx, pp), torch.ones_like(x))
            return -xbar * dgdp / dgdx

    def grad(p0: np.ndarray) -> tuple[np.ndarray, ...]:
        p = torch.from_numpy(p0).requires_grad_()
        (Solve.apply(p) ** 2).sum().backward()
        return (p.grad.numpy(),)
    return grad


def newton_jax_grad(m: Any, jax: Any) -> Grad:
    """``jit(grad(loss))`` through a ``jax.custom_vjp`` whose backward is the IFT."""
    jnp = jax.numpy

    @jax.custom_vjp
    def solve(p: Any) -> Any:
        x = jnp.ones_like(p)
        for _ in range(m.ITERATIONS):
            x = x - m.g(x, p) / (3 * x * x + p)
        return x

    def fwd(p: Any) -> Any:
        x = solve(p)
        return x, (x, p)

    def bwd(res: Any, xbar: Any) -> Any:
        x, p = res
        _, pull = jax.vjp(m.g, x, p)
        dgdx, dgdp = pull(jnp.ones_like(x))
        return (-xbar * dgdp / dgdx,)

    solve.defvjp(fwd, bwd)
    jitted = jax.jit(jax.grad(lambda p: (solve(p) ** 2).sum()))
    return lambda p0: (np.asarray(jitted(p0).block_until_ready()),)


def newton_autograd_grad(m: Any, autograd: Any) -> Grad:
    """An ``autograd.extend.primitive`` whose VJP is the IFT."""
    from autograd.extend import defvjp, primitive

    solve = primitive(m.newton)

    def solve_vjp(x: Any, p: Any) -> Callable[[Any], Any]:
        def pullback(xbar: Any) -> Any:
            pull, _ = autograd.make_vjp(lambda xp: m.g(xp[0], xp[1]))((x, p))
            dgdx, dgdp = pull(np.ones_like(x))
            return -xbar * dgdp / dgdx
        return pullback

    defvjp(solve, solve_vjp)
    g = autograd.grad(lambda p: (solve(p) ** 2).sum())
    return lambda p0: (np.asarray(g(p0)),)
