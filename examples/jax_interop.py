"""One registered rule, used from JAX: grad, jit, vmap, with activity passed through.

A package author writes an Enzyme-style rule for a NumPy linear solve once. JAX
users wrap the function with ``to_jax``; when JAX differentiates only with respect
to ``b``, the rule sees ``A`` as ``Const`` and never forms A's cotangent.

Run: ``python examples/jax_interop.py``
"""

from collections import Counter

import jax
import jax.numpy as jnp
import numpy as np

import activerules as ar
from activerules.adapters.jax import to_jax
from activerules.engine import gradient, primitive

jax.config.update("jax_enable_x64", True)
work = Counter()


@primitive
def solve(A, b):
    """x with A x = b."""
    return np.linalg.solve(A, b)


@ar.rule(solve, ar.Annotation, ar.Annotation)
def _solve(cfg, A, b):
    x = np.linalg.solve(A.val, b.val)

    def reverse(xbar):
        bbar = np.linalg.solve(A.val.T, xbar)
        if not isinstance(A, ar.Const):
            work["A cotangent"] += 1
            A.dval -= np.outer(bbar, x)        # accumulate in place
        if not isinstance(b, ar.Const):
            work["b cotangent"] += 1
            b.dval += bbar
        return (None, None)

    return x, reverse


jsolve = to_jax(solve)


def loss(A, b):
    return jnp.sum(jnp.tanh(jsolve(A, b)) ** 2)


def main():
    rng = np.random.default_rng(0)
    A = rng.standard_normal((4, 4)) + 4 * np.eye(4)
    b = rng.standard_normal(4)

    # jit(grad) with respect to b only: A reaches the rule as Const.
    gb = jax.jit(jax.grad(loss, argnums=1))(A, b)
    print("d loss / d b         :", np.round(np.asarray(gb), 6))
    print("cotangents formed    :", dict(work))
    assert work["A cotangent"] == 0 and work["b cotangent"] == 1

    # The same rule through activerules' own engine agrees.
    gA_ref, gb_ref = gradient(lambda A, b: np.sum(np.tanh(solve(A, b)) ** 2), A, b, argnums=(0, 1))
    np.testing.assert_allclose(np.asarray(gb), gb_ref, rtol=1e-10)
    gA = jax.grad(loss, argnums=0)(A, b)
    np.testing.assert_allclose(np.asarray(gA), gA_ref, rtol=1e-10)

    # vmap of grad over a batch of right-hand sides, composed with jnp code.
    bs = rng.standard_normal((5, 4))
    gbs = jax.vmap(jax.grad(loss, argnums=1), in_axes=(None, 0))(A, bs)
    for bk, gk in zip(bs, gbs):
        np.testing.assert_allclose(np.asarray(gk), gradient(
            lambda b: np.sum(np.tanh(solve(A, b)) ** 2), bk), rtol=1e-10)
    print("vmap(grad) over 5 rhs: ok, shape", gbs.shape)

    # A Jacobian is a vmapped pullback: one batch request (lanes over this width-1 rule).
    J = jax.jacrev(jsolve, argnums=1)(A, b)
    np.testing.assert_allclose(np.asarray(J), np.linalg.inv(A), rtol=1e-10)
    print("jacrev = inv(A)      : ok")
    print("jax interop ok")


if __name__ == "__main__":
    main()
