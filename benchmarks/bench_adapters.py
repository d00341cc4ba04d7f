"""Overhead of the engine adapters against each engine's native custom rule.

For ``softplus`` (an elementwise NumPy function with a registered rrule) this
times one forward + backward (a gradient of ``sum(softplus(x))``) through

* JAX: ``to_jax`` vs a ``jax.custom_vjp`` + ``jax.pure_callback`` written by hand (both jitted,
  ``value_and_grad``);
* PyTorch: ``to_torch`` vs a ``torch.autograd.Function`` written by hand;
* HIPS autograd: ``to_autograd`` vs ``autograd.extend.primitive`` + ``defvjp`` by hand;

on a small and a large input, and prints the ratio adapter / native (best of
several repeats). Run: ``python benchmarks/bench_adapters.py [--quick | --smoke]``
(``--smoke``: tiny sizes, one repeat, for the test that keeps the script working).
"""

from __future__ import annotations

import sys
import timeit
from typing import Any, Callable

import numpy as np

import activerules as ar


@ar.primitive
def softplus(x: np.ndarray) -> np.ndarray:
    return np.logaddexp(0.0, x)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))


@ar.rrule(softplus)
def _softplus(x: np.ndarray) -> Any:
    return softplus(x), lambda g: (g * _sigmoid(x),)


def jax_pair() -> tuple[Callable[[np.ndarray], Any], Callable[[np.ndarray], Any]]:
    import jax
    import jax.numpy as jnp

    from activerules.adapters.jax import to_jax

    adapted = to_jax(softplus)

    @jax.custom_vjp
    def native(x: Any) -> Any:
        return jax.pure_callback(softplus, jax.ShapeDtypeStruct(x.shape, x.dtype), x, vmap_method="sequential")

    def fwd(x: Any) -> Any:
        return native(x), x

    def bwd(x: Any, g: Any) -> Any:
        spec = jax.ShapeDtypeStruct(x.shape, x.dtype)
        return (jax.pure_callback(lambda x, g: g * _sigmoid(x), spec, x, g, vmap_method="sequential"),)

    native.defvjp(fwd, bwd)
    # value_and_grad: with grad alone XLA drops the native primal callback (its value is
    # unused), while a rule's forward always runs (its reverse closure comes from it).
    grad_a = jax.jit(jax.value_and_grad(lambda x: jnp.sum(adapted(x))))
    grad_n = jax.jit(jax.value_and_grad(lambda x: jnp.sum(native(x))))
    return (lambda x: grad_a(x)[1].block_until_ready()), (lambda x: grad_n(x)[1].block_until_ready())


def torch_pair() -> tuple[Callable[[np.ndarray], Any], Callable[[np.ndarray], Any]]:
    import torch

    from activerules.adapters.torch import to_torch

    adapted = to_torch(softplus)

    class Native(torch.autograd.Function):
        @staticmethod
        def forward(ctx: Any, x: Any) -> Any:
            ctx.save_for_backward(x)
            return torch.from_numpy(softplus(x.detach().numpy()))

        @staticmethod
        def backward(ctx: Any, g: Any) -> Any:
            (x,) = ctx.saved_tensors
            return torch.from_numpy(g.numpy() * _sigmoid(x.detach().numpy()))

    def run(f: Callable[[Any], Any]) -> Callable[[np.ndarray], Any]:
        def step(x0: np.ndarray) -> Any:
            x = torch.from_numpy(x0).requires_grad_()
            f(x).sum().backward()
            return x.grad
        return step

    return run(adapted), run(Native.apply)


def autograd_pair() -> tuple[Callable[[np.ndarray], Any], Callable[[np.ndarray], Any]]:
    import autograd
    import autograd.numpy as anp
    from autograd.extend import defvjp, primitive

    from activerules.adapters.autograd import to_autograd

    adapted = to_autograd(softplus)
    native = primitive(lambda x: softplus(x))
    defvjp(native, lambda ans, x: lambda g: g * _sigmoid(x))
    return (autograd.grad(lambda x: anp.sum(adapted(x))),
            autograd.grad(lambda x: anp.sum(native(x))))


def best(f: Callable[[np.ndarray], Any], x: np.ndarray, repeat: int, budget: float = 0.05) -> float:
    f(x)  # warm up (jit compile)
    number = max(1, int(budget / max(timeit.timeit(lambda: f(x), number=1), 1e-7)))
    return min(timeit.repeat(lambda: f(x), number=number, repeat=repeat)) / number


def main(argv: list[str]) -> None:
    smoke, quick = "--smoke" in argv, "--quick" in argv
    large = 10 ** 3 if smoke else 10 ** 5 if quick else 10 ** 6
    sizes = {"small (n=16)": 16, f"large (n={large:.0e})": large}
    repeat, budget = (1, 0.001) if smoke else (3, 0.05) if quick else (7, 0.05)
    pairs = {"jax": jax_pair, "torch": torch_pair, "autograd": autograd_pair}
    rng = np.random.default_rng(0)
    print(f"{'engine':<10}{'input':<16}{'adapter':>12}{'native':>12}{'ratio':>8}")
    for engine, make in pairs.items():
        adapted, native = make()
        for label, n in sizes.items():
            x = rng.standard_normal(n)
            np.testing.assert_allclose(np.asarray(adapted(x)), np.asarray(native(x)), rtol=1e-12)
            ta, tn = best(adapted, x, repeat, budget), best(native, x, repeat, budget)
            print(f"{engine:<10}{label:<16}{ta * 1e6:>10.1f}us{tn * 1e6:>10.1f}us{ta / tn:>8.2f}")


if __name__ == "__main__":
    main(sys.argv[1:])
