"""Jacobians and Hessians, built from :func:`~.api.vjp` and :func:`~.api.gradient`
(higher order: every call is its own level, see :mod:`.levels`)."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from ..activity import ActivityError
from .api import gradient, vjp

__all__ = ["jacobian", "hessian"]


def _position(argnums: Any, n: int) -> int:
    if not isinstance(argnums, (int, np.integer)) or isinstance(argnums, bool):
        raise ActivityError(f"argnums must be one position (an int), got {argnums!r}: "
                            "differentiate one argument at a time")
    k = int(argnums) + (n if argnums < 0 else 0)
    if not 0 <= k < n:
        raise ActivityError(f"argnums={argnums} is out of range for {n} argument(s)")
    return k


def jacobian(f: Callable[..., Any], *args: Any, argnums: int = 0) -> Any:
    """The Jacobian of ``f`` with respect to ``args[argnums]`` (an array or a number), in
    reverse mode: one pullback of :func:`vjp` per output element, as ``jax.jacrev``.

    The result has shape ``y.shape + x.shape`` (``y = f(*args)``; JAX's layout): entry
    ``[i..., j...]`` is ``dy[i...] / dx[j...]``. ``f`` returns one float array or number.
    ``jacobian`` may be called inside a differentiated function, and differentiated again
    (:func:`hessian` is the Jacobian of the gradient). Real values only: for complex ones
    use :func:`vjp` (the rules' conjugate convention).

    >>> import numpy as np, activerules as ar
    >>> ar.jacobian(lambda x: x ** 2, np.array([1.0, 2.0]))
    array([[2., 0.],
           [0., 4.]])
    >>> ar.jacobian(lambda a, x: a * np.sin(x), 2.0, 0.0, argnums=1)
    np.float64(2.0)
    """
    k = _position(argnums, len(args))
    x = args[k]
    if isinstance(x, (tuple, list, dict)) or np.result_type(x).kind != "f":
        raise ActivityError(f"jacobian: argument {k} is {type(x).__name__} of dtype "
                            f"{np.result_type(x)}: only a real float array or number has a "
                            "derivative (use ar.vjp for containers and complex values)")

    def g(v: Any) -> Any:
        return f(*args[:k], v, *args[k + 1:])

    y, pullback = vjp(g, x)
    if isinstance(y, (tuple, list, dict)) or np.iscomplexobj(y) or np.iscomplexobj(x):
        raise ActivityError("jacobian: f must take and return one real float array or number "
                            "(use ar.vjp for containers and complex values)")
    shape = np.shape(y)
    n = int(np.prod(shape, dtype=np.int64))
    rows = []
    for i in range(n):
        e = np.zeros(n)
        e[i] = 1.0
        rows.append(pullback(e.reshape(shape) if shape else 1.0)[0])
    xshape = np.shape(x)
    if not rows:
        return np.zeros(shape + xshape)
    if not shape:
        return rows[0]
    return np.reshape(np.stack([np.asarray(r) * 1.0 if np.ndim(r) == 0 else r for r in rows]),
                      shape + xshape)


def hessian(f: Callable[..., Any], *args: Any, argnums: int = 0) -> Any:
    """The Hessian of the real scalar function ``f`` with respect to ``args[argnums]``:
    the Jacobian of its gradient (reverse over reverse), shape ``x.shape + x.shape``.
    Equal to ``jax.hessian``; may itself be differentiated again.

    >>> import numpy as np, activerules as ar
    >>> ar.hessian(lambda x: (x ** 3).sum() + x[0] * x[1], np.array([1.0, 2.0]))
    array([[ 6.,  1.],
           [ 1., 12.]])
    >>> ar.hessian(lambda x: x ** 4, 2.0)
    np.float64(48.0)
    """
    k = _position(argnums, len(args))

    def grad(v: Any) -> Any:
        return gradient(f, *args[:k], v, *args[k + 1:], argnums=k)

    return jacobian(grad, args[k])
