"""One registered rule, used from PyTorch: requires_grad as activity, in-place ops.

``to_torch`` generates a ``torch.autograd.Function`` around a function with
registered rules. A tensor that does not require a gradient reaches the rule as
``Const``; a rule for a mutating primitive runs in place on the tensor's memory
(``ctx.mark_dirty``), as torch's own ``x.mul_()`` does. Tensors are CPU tensors.

Run: ``python examples/torch_interop.py``
"""

from collections import Counter

import numpy as np
import torch

import activerules as ar
from activerules.adapters.torch import to_torch
from activerules.engine import gradient, primitive

work = Counter()


@primitive
def weighted_norm2(w, x):
    """sum(w * x**2)."""
    return float(np.sum(w * x * x))


@ar.rrule(weighted_norm2)
def _weighted_norm2(w, x):
    def pullback(g):
        # thunks: a cotangent is only computed for an argument that is differentiated
        def dw():
            work["w cotangent"] += 1
            return g * x * x

        def dx():
            work["x cotangent"] += 1
            return 2 * g * w * x

        return ar.thunk(dw), ar.thunk(dx)

    return weighted_norm2(w, x), pullback


@primitive(mutates=(0,))
def decay_(x, rate):
    """x *= exp(-rate), in place."""
    x *= np.exp(-rate)


@ar.rule(decay_, ar.Annotation, ar.Annotation)
def _decay_(cfg, x, rate):
    factor = np.exp(-rate.val)
    x.val *= factor
    after = np.array(x.val, copy=True) if isinstance(rate, ar.Active) else None

    def reverse(_):
        # x.dval holds the cotangent of x after the call; turn it into that of x before
        drate = -float(np.vdot(x.dval, after)) if isinstance(rate, ar.Active) else None
        x.dval *= factor
        return (None, drate)

    return None, reverse


tnorm2 = to_torch(weighted_norm2)
tdecay_ = to_torch(decay_, mutates=(0,))


def main():
    rng = np.random.default_rng(0)
    w0, x0 = rng.random(5), rng.standard_normal(5)
    w = torch.tensor(w0)                          # a constant weight
    x = torch.tensor(x0, requires_grad=True)

    loss = tnorm2(w, x)
    loss.backward()
    print("d loss / d x     :", np.round(x.grad.numpy(), 6))
    print("cotangents formed:", dict(work))
    assert work == {"x cotangent": 1}             # w does not require grad: never computed
    np.testing.assert_allclose(x.grad.numpy(), gradient(lambda x: weighted_norm2(w0, x), x0), rtol=1e-12)

    # In place: decay_ modifies its argument and torch records it (mark_dirty).
    rate = torch.tensor(0.3, dtype=torch.float64, requires_grad=True)
    x = torch.tensor(x0, requires_grad=True)
    y = x * 2.0
    out = tdecay_(y, rate)
    assert out is y
    (y ** 2).sum().backward()

    def program(x, rate):
        y = x * 2.0
        decay_(y, rate)
        return np.sum(y ** 2)

    gx, grate = gradient(program, x0, 0.3, argnums=(0, 1))
    np.testing.assert_allclose(x.grad.numpy(), gx, rtol=1e-12)
    np.testing.assert_allclose(rate.grad.item(), grate, rtol=1e-12)
    print("in place: d/dx   :", np.round(x.grad.numpy(), 6), " d/drate:", round(rate.grad.item(), 6))
    print("torch interop ok")


if __name__ == "__main__":
    main()
