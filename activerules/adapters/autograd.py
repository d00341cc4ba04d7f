"""HIPS autograd adapter: a registered rule as an ``autograd`` primitive.

>>> from activerules.adapters.autograd import to_autograd
>>> amatvec = to_autograd(matvec)                             # doctest: +SKIP
>>> autograd.grad(lambda A, x: amatvec(A, x).sum())(A, x)     # doctest: +SKIP

The VJP is registered with ``autograd.extend.defvjp_argnums``, whose maker
receives the argument numbers autograd differentiates: those reach the rule
as ``Duplicated`` (arrays) or ``Active`` (scalars), every other argument as
``Const``, so a specialised rule runs and a Const cotangent (or its thunk) is
never computed. The VJP runs the rule's forward and reverse when autograd
calls it (the primal value itself comes from calling ``fn``), so it can be
called more than once (``autograd.jacobian``).

autograd does not support mutation; a function that modifies arguments in
place (``mutates=``) is exposed functionally: the primitive copies them and
returns their new values.
"""

from __future__ import annotations

import functools
from typing import Any, Callable, Sequence

import numpy as np

from . import _bridge

__all__ = ["to_autograd"]


def to_autograd(fn: Callable[..., Any], *, mutates: Sequence[int] = (),
                registry: Any = None) -> Callable[..., Any]:
    """An autograd primitive computing ``fn`` whose VJP is ``fn``'s registered rule.

    ``fn`` takes NumPy arrays and scalars and returns one array or scalar.
    ``mutates``: positions of arguments ``fn`` modifies in place (``fn`` then returns
    ``None``); the primitive returns their new values instead (a tuple if several) and
    leaves its inputs alone. Keyword arguments pass through and are never
    differentiated. ``registry``: where rules are looked up (default ``ar.registry``).
    """
    from autograd.extend import defvjp_argnums, primitive

    if registry is None:
        from .. import registry as default_registry
        registry = default_registry
    mutated = tuple(mutates)

    def raw(*args: Any, **kwargs: Any) -> Any:
        vals = [np.array(a, copy=True) if i in mutated else _bridge.host_value(a) for i, a in enumerate(args)]
        y = fn(*vals, **kwargs)
        if not mutated:
            return y
        outs = tuple(vals[i] for i in mutated)
        return outs[0] if len(outs) == 1 else outs

    raw = functools.wraps(fn)(raw)
    prim = primitive(raw)

    def vjp_maker(argnums: Sequence[int], ans: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        vals = [_bridge.host_value(a) for a in args]
        kinds = _bridge.kinds_of(vals)
        wanted = [i in argnums for i in range(len(vals))]
        acts = _bridge.activities(kinds, wanted, mutated)

        def vjp(g: Any) -> tuple[Any, ...]:
            if mutated:
                gs = (g,) if len(mutated) == 1 else tuple(g)
                seeds = dict(zip(mutated, gs))
                dret = None
            else:
                seeds = {}
                dret = np.array(g, copy=True) if isinstance(g, np.ndarray) else g
            cots = _bridge.vjp(fn, registry, acts, kinds, vals, kwargs, dret, seeds)
            return tuple(cots[i] for i in argnums)

        return vjp

    defvjp_argnums(prim, vjp_maker)
    return prim  # type: ignore[no-any-return]
