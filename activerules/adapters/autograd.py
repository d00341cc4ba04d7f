"""HIPS autograd adapter: a registered rule as an ``autograd`` primitive.

>>> from activerules.adapters.autograd import to_autograd
>>> amatvec = to_autograd(matvec)                             # doctest: +SKIP
>>> autograd.grad(lambda A, x: amatvec(A, x).sum())(A, x)     # doctest: +SKIP

The VJP is registered with ``autograd.extend.defvjp_argnums``, whose maker
receives the argument numbers autograd differentiates: those reach the rule
as ``Duplicated`` (arrays) or ``Active`` (scalars), every other argument as
``Const``, so a specialised rule runs and a Const cotangent (or its thunk) is
never computed. The returned function reads the same argument numbers from
autograd's boxes before calling the primitive, so the rule's forward runs once,
in the forward pass, and the VJP runs its reverse; a VJP called again (or for a
call the wrapper could not see, e.g. nested differentiation) recomputes the
rule's forward, so ``autograd.jacobian`` works too.

The VJP is once differentiable: a second-order request (``autograd.hessian``,
a grad of a grad through the rule) raises ``SecondOrderError`` (an
``ActiveRulesError`` and ``NotImplementedError``) saying what works instead.

dtypes follow the adapters' policy (:func:`activerules.adapters._bridge.half_of`):
float16 arguments reach the rule as float32 and float32 results come back as
float16; each cotangent has its argument's dtype.

autograd does not support mutation; a function that modifies arguments in
place (``mutates=``) is exposed functionally: the primitive copies them and
returns their new values.
"""

from __future__ import annotations

import functools
import threading
from typing import Any, Callable, Sequence

import numpy as np

from . import _bridge

__all__ = ["to_autograd"]


def to_autograd(fn: Callable[..., Any], *, mutates: Sequence[int] = (),
                registry: Any = None) -> Callable[..., Any]:
    """An autograd primitive computing ``fn`` whose VJP is ``fn``'s registered rule.

    ``fn`` takes NumPy arrays and scalars and returns an array or scalar, or a tuple
    of them.
    ``mutates``: positions of arguments ``fn`` modifies in place (``fn`` then returns
    ``None``); the primitive returns their new values instead (a tuple if several) and
    leaves its inputs alone. Keyword arguments pass through and are never
    differentiated. ``registry``: where rules are looked up (default ``ar.registry``).

    >>> import autograd, numpy as np
    >>> from activerules.adapters import to_autograd
    >>> sin = to_autograd(np.sin)                  # np.sin's rule becomes its VJP
    >>> g = autograd.grad(lambda x: sin(x).sum())(np.array([0.0, 1.0]))
    >>> bool(np.allclose(g, np.cos([0.0, 1.0])))
    True
    """
    from autograd.extend import defvjp_argnums, primitive

    if registry is None:
        from .. import registry as default_registry
        registry = default_registry
    rule = _Primitive(fn, tuple(mutates), registry)

    def raw(*args: Any, **kwargs: Any) -> Any:
        return rule.raw(args, kwargs)

    prim = primitive(functools.wraps(fn)(raw))
    defvjp_argnums(prim, rule.vjp_maker)

    @functools.wraps(fn)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        return rule.call(prim, args, kwargs)

    return wrapped


class _Primitive:
    """What the autograd primitive of ``fn`` runs. :meth:`call` notes the argument
    numbers autograd will differentiate for :meth:`raw`, the primitive's body, which
    then runs the rule forward and keeps its pending reverse for :meth:`vjp_maker`
    (autograd calls it right after, in the forward pass); the hand-over is per thread."""

    def __init__(self, fn: Callable[..., Any], mutated: tuple[int, ...], registry: Any) -> None:
        self.fn = fn
        self.mutated = mutated
        self.registry = registry
        self.state = threading.local()   # the request seen by `call`, then the forward's pending reverse

    def call(self, prim: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        """``prim(*args, **kwargs)``, telling :meth:`raw` the argument numbers of the
        top trace's boxes (:func:`_top_argnums`)."""
        self.state.request = _top_argnums(args)
        try:
            return prim(*args, **kwargs)
        finally:
            self.state.request = None

    def setup(self, args: Sequence[Any], argnums: Sequence[int]) -> tuple[list[Any], tuple[str, ...],
                                                                          tuple[type, ...]]:
        """The host values, kinds and activities of ``args`` with ``argnums`` differentiated."""
        vals = [_bridge.host_value(a) for a in args]
        kinds = _bridge.kinds_of(vals)
        acts = _bridge.activities(kinds, [i in argnums for i in range(len(vals))], self.mutated)
        return vals, kinds, acts

    def raw(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        """The primitive's body: ``fn`` (on copies of the mutated arguments), or the
        rule's forward when :meth:`call` saw a request, its pending reverse kept;
        float32 results narrowed back to float16 arguments."""
        state, mutated = self.state, self.mutated
        request, state.request = getattr(state, "request", None), None
        vals = [np.array(a, copy=True) if i in mutated else _bridge.host_value(a) for i, a in enumerate(args)]
        if request is None:
            y = self.fn(*vals, **kwargs)
        else:
            _, kinds, acts = self.setup(vals, request)
            y, pending = _bridge.forward(self.fn, self.registry, acts, kinds, vals, kwargs, mutates=mutated)
        half = _bridge.half_of([a.dtype for a in args if isinstance(a, np.ndarray | np.generic)])
        y = tuple(_bridge.narrow(v, half) for v in y) if isinstance(y, tuple) else _bridge.narrow(y, half)
        out = y if not mutated else tuple(vals[i] for i in mutated)
        out = out[0] if mutated and len(out) == 1 else out
        if request is not None:
            state.pending = (out, request, pending)
        return out

    def vjp_maker(self, argnums: Sequence[int], ans: Any, args: tuple[Any, ...],
                  kwargs: dict[str, Any]) -> Callable[[Any], tuple[Any, ...]]:
        """autograd's VJP maker: a :class:`_Pullback` holding the forward's pending
        reverse when it is this call's (the same output and argument numbers)."""
        stash, self.state.pending = getattr(self.state, "pending", None), None
        _check_first_order(self.fn, args)
        pending = stash[2] if stash is not None and stash[0] is ans and stash[1] == tuple(argnums) else None
        return _Pullback(self, argnums, ans, args, kwargs, pending)


class _Pullback:
    """The VJP of one call: the forward's pending reverse the first time, else the
    rule run again from the saved inputs (``_bridge.vjp``); each cotangent in its
    argument's dtype."""

    def __init__(self, rule: _Primitive, argnums: Sequence[int], ans: Any, args: tuple[Any, ...],
                 kwargs: dict[str, Any], pending: _bridge.Pending | None) -> None:
        self.rule = rule
        self.argnums = argnums
        self.ans = ans
        self.args = args
        self.kwargs = kwargs
        self.vals, self.kinds, self.acts = rule.setup(args, argnums)
        self.pending = pending

    def __call__(self, g: Any) -> tuple[Any, ...]:
        """The cotangents of the differentiated arguments from the output cotangent ``g``."""
        rule = self.rule
        _check_first_order(rule.fn, g if isinstance(g, tuple) else (g,))
        if rule.mutated:
            seeds = dict(zip(rule.mutated, (g,) if len(rule.mutated) == 1 else tuple(g)))
            dret = None
        else:
            seeds = {}
            dret = tuple(_writable(gi) for gi in g) if isinstance(self.ans, tuple) else _writable(g)
        if self.pending is not None:
            cots = self.pending.reverse(dret, seeds)
            self.pending = None
        else:
            cots = _bridge.vjp(rule.fn, rule.registry, self.acts, self.kinds, self.vals, self.kwargs, dret, seeds)
        return tuple(_dtype_of(cots[i], self.args[i]) for i in self.argnums)


def _dtype_of(cot: Any, arg: Any) -> Any:
    """The cotangent in its array argument's dtype (a rule may compute it wider)."""
    if isinstance(arg, np.ndarray) and cot is not None and np.asarray(cot).dtype != arg.dtype:
        return np.asarray(cot).astype(arg.dtype)
    return cot


def _writable(value: Any) -> Any:
    return np.array(value, copy=True) if isinstance(value, np.ndarray) else value


def _check_first_order(fn: Callable[..., Any], values: Sequence[Any]) -> None:
    from autograd.tracer import Box

    if any(isinstance(v, Box) for v in values):
        raise _bridge.second_order_error("to_autograd", fn)


def _top_argnums(args: Sequence[Any]) -> tuple[int, ...] | None:
    """The argument numbers autograd will differentiate (boxes of the top trace), or
    ``None`` when there are none or boxes of several traces (nested differentiation)."""
    from autograd.tracer import Box

    boxes = [(i, a) for i, a in enumerate(args) if isinstance(a, Box)]
    if not boxes:
        return None
    traces = {a._trace for _, a in boxes}
    if len(traces) > 1 or any(isinstance(a._value, Box) for _, a in boxes):
        return None
    return tuple(i for i, _ in boxes)
