"""Host side of the engine adapters: one call of a resolved rule on NumPy values.

Each engine adapter (JAX, PyTorch, HIPS autograd) turns its engine's "which
inputs need a gradient" flags into an activity tuple with :func:`activities`,
then runs the rule through :func:`forward` and :meth:`Pending.reverse`:

* an array argument whose gradient is wanted (or that the function mutates) is
  ``Duplicated``; a wanted scalar is ``Active``; everything else is ``Const``;
* shadows are zeros allocated at forward time (some adapters read them then)
  and set at reverse time (for a mutated argument: to the cotangent of its
  value after the call); a second reverse of the same forward gets fresh ones,
  so one forward can be reversed more than once (torch's ``retain_graph``);
* a batch request (``width`` set) makes every Duplicated argument
  ``BatchDuplicated`` and takes a tuple of ``width`` output cotangents.

Nothing here imports an engine.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

from ..activity import (
    Active,
    ActiveRulesError,
    BatchDuplicated,
    Const,
    Duplicated,
    RevConfig,
    RuleError,
    annotate,
    base_state,
)
from ..dispatch import ARRAY, SCALAR, check_call, kind_of
from ..dispatch.rule_registry import mutating_rrule_message

__all__ = ["host_value", "half_of", "narrow", "HALF", "zeros_like", "kinds_of", "activities", "forward", "Pending", "vjp", "SecondOrderError",
           "second_order_error"]

_NATIVE = {"to_jax": ("jax.grad, jax.vjp, jax.jacrev", "jax.numpy"),
           "to_torch": ("backward() and torch.autograd.grad without create_graph", "torch operations"),
           "to_autograd": ("autograd.grad, autograd.jacobian", "autograd.numpy")}


class SecondOrderError(ActiveRulesError, NotImplementedError):
    """A derivative of a derivative was requested through an engine adapter: the rule's
    reverse runs on NumPy, outside the engine, so the engine cannot differentiate it."""


def second_order_error(adapter: str, fn: Any) -> SecondOrderError:
    """The error for a second-order request through ``adapter(fn)``, saying what works.

    >>> second_order_error("to_jax", np.sin).args[0].startswith("activerules: to_jax(sin)")
    True
    """
    name = getattr(fn, "__name__", repr(fn))
    first, native = _NATIVE[adapter]
    return SecondOrderError(
        f"activerules: {adapter}({name}) runs the registered rule of {name} on NumPy, so its derivative "
        f"cannot be differentiated again (a Hessian, a grad of a grad, a JVP of its VJP). First derivatives "
        f"work ({first}); for higher derivatives write {name} with {native} so the engine differentiates it.")


HALF = frozenset({"float16", "bfloat16"})


def host_value(value: Any) -> Any:
    """A NumPy value as rules expect it: a 0-d array becomes a NumPy scalar, and a
    half-precision float (float16, bfloat16) becomes float32 (see :func:`half_of`).

    >>> host_value(np.ones(2, np.float16)).dtype, type(host_value(np.array(1.0)))
    (dtype('float32'), <class 'numpy.float64'>)
    """
    if isinstance(value, np.ndarray | np.generic) and value.dtype.name in HALF:
        value = np.asarray(value, np.float32)
    if isinstance(value, np.ndarray) and value.ndim == 0:
        return value[()]
    return value


def half_of(dtypes: Sequence[Any]) -> Any:
    """The half-precision dtype among the arguments' ``dtypes`` (the first), or ``None``.

    The dtype policy of the engine adapters: rules see half-precision arguments as
    float32 (NumPy has no bfloat16 and accumulates float16 poorly), and a float32
    result of such a call is returned in this dtype. Every cotangent is returned in
    its argument's dtype; a rule may compute it in a wider type of the same kind
    (float64 for a float32 argument), which is cast, as ``ar.gradient``, JAX and
    PyTorch do.

    >>> half_of([np.dtype(np.float32), np.dtype(np.float16)])
    dtype('float16')
    """
    return next((np.dtype(d) for d in dtypes if d is not None and np.dtype(d).name in HALF), None)


def narrow(value: Any, half: Any) -> Any:
    """``value`` (a result) in the ``half`` dtype when it is float32 and ``half`` is set."""
    if half is not None and getattr(value, "dtype", None) == np.float32:
        return np.asarray(value).astype(half)
    return value


def kinds_of(values: Sequence[Any]) -> tuple[str, ...]:
    """``"array"``, ``"scalar"`` or ``"static"`` per (host) value; a dict holding float
    arrays (a pytree argument of an engine adapter) is an array argument, like a list."""
    return tuple(ARRAY if isinstance(v, dict) and _has_array(v) else kind_of(v) for v in values)


def _has_array(tree: Any) -> bool:
    items = tree.values() if isinstance(tree, dict) else tree if isinstance(tree, (list, tuple)) else ()
    return any(kind_of(v) == ARRAY or _has_array(v) for v in items)


def zeros_like(value: Any) -> Any:
    """A zero shadow for an array or a dict, list, tuple or namedtuple of arrays.

    >>> zeros_like({"w": np.ones(2), "b": [np.ones(1)]})
    {'w': array([0., 0.]), 'b': [array([0.])]}
    """
    if isinstance(value, dict):
        return {k: zeros_like(v) for k, v in value.items()}
    if isinstance(value, tuple) and hasattr(value, "_fields"):
        return type(value)(*[zeros_like(v) for v in value])
    if isinstance(value, (list, tuple)):
        return type(value)(zeros_like(v) for v in value)
    return np.zeros_like(value)


def activities(kinds: Sequence[str], wanted: Sequence[bool], mutates: Sequence[int] = (),
               width: int | None = None) -> tuple[type, ...]:
    """The activity tuple for a call: wanted arrays and mutated arrays are Duplicated
    (``BatchDuplicated`` when ``width`` is set), wanted scalars Active, the rest Const.
    A mutated array is Duplicated even when its own gradient is not wanted: its shadow
    carries the output cotangent to the other arguments."""
    dup = Duplicated if width is None else BatchDuplicated
    out: list[type] = []
    for i, (kind, want) in enumerate(zip(kinds, wanted)):
        if kind == ARRAY and (want or i in mutates):
            out.append(dup)
        elif kind == SCALAR and want:
            out.append(Active)
        else:
            out.append(Const)
    return tuple(out)


class Pending:
    """A forward call waiting for its reverse: ``reverse(dret, seeds)`` returns one
    entry per argument (the cotangent of a Duplicated or Active argument, ``None``
    for Const; per lane tuples in a batch request)."""

    __slots__ = ("acts", "anns", "reverse_fn", "width", "used")

    def __init__(self, acts: tuple[type, ...], anns: list[Any], reverse_fn: Callable[[Any], Any] | None,
                 width: int | None) -> None:
        self.acts = acts
        self.anns = anns
        self.reverse_fn = reverse_fn
        self.width = width
        self.used = False

    def reverse(self, dret: Any, seeds: dict[int, Any] | None = None) -> list[Any]:
        """Run the rule's reverse. ``dret``: the output cotangent (a tuple of ``width``
        in a batch request; ``None`` for a function returning ``None``); ``seeds``: per
        mutated argument, the cotangent of its value after the call (per lane tuples in
        a batch request). Seeds are copied, never written."""
        n = len(self.acts)
        if self.reverse_fn is None:
            return [None] * n
        seeds = seeds or {}
        for i, (act, ann) in enumerate(zip(self.acts, self.anns)):
            if act is Duplicated:
                ann._dval = _shadow(ann.val, seeds.get(i), None if self.used else ann.dval)
            elif act is BatchDuplicated:
                lane_seeds = seeds.get(i) or (None,) * len(ann.dvals)
                ann._dvals = tuple(_shadow(ann.val, s, None if self.used else d)
                                  for s, d in zip(lane_seeds, ann.dvals))
        self.used = True
        cots = self.reverse_fn(dret)
        out: list[Any] = [None] * n
        for i, (act, ann) in enumerate(zip(self.acts, self.anns)):
            if act is Duplicated:
                out[i] = ann.dval
            elif act is BatchDuplicated:
                out[i] = ann.dvals
            elif act is Active:
                out[i] = cots[i]
        return out


def _shadow(val: np.ndarray, seed: Any, buffer: np.ndarray | None) -> np.ndarray:
    """A shadow holding ``seed`` (zeros when ``None``): ``buffer`` (the zeros allocated
    at forward time) when given, else a fresh array."""
    if buffer is None:
        buffer = zeros_like(val)
    if seed is not None:
        np.copyto(buffer, np.reshape(seed, np.shape(val)), casting="same_kind")
    return buffer


def forward(fn: Any, registry: Any, acts: tuple[type, ...], kinds: tuple[str, ...], vals: Sequence[Any],
            kwargs: dict[str, Any], *, needs_primal: bool = True,
            width: int | None = None, mutates: Sequence[int] = ()) -> tuple[Any, Pending]:
    """Run the rule that ``registry`` resolves for ``fn`` at ``acts`` forward on the host
    values ``vals`` (mutating those the rule mutates: ``mutates``, where an all-active
    rrule is refused, as the registry refuses one for a mutating primitive). With every
    argument Const the function itself runs and nothing is resolved. Returns
    ``(primal_out, pending)``."""
    if all(a is Const for a in acts):
        return fn(*vals, **kwargs), Pending(acts, [], None, width)
    res = registry.resolve(fn, acts, kinds)
    if mutates and res.entry.form == "rrule":
        raise RuleError(mutating_rrule_message(f"{res.label} (mutates={tuple(mutates)})", fn, tuple(mutates)))
    if res.entry.params is not None:  # parameters the rule does not implement are refused by name
        check_call(res.entry, fn, tuple(vals), kwargs, tuple(base_state(a) is not Const for a in acts))
    w = 1 if width is None else width
    anns = [annotate(a, v, zeros_like(v) if a is Duplicated else
                     tuple(zeros_like(v) for _ in range(w)) if a is BatchDuplicated else None)
            for a, v in zip(acts, vals)]
    cfg = RevConfig(activities=acts, needs_primal=needs_primal, width=1 if width is None else width)
    y, reverse_fn = res.call(cfg, *anns, **kwargs)
    return y, Pending(acts, anns, reverse_fn, width)


def vjp(fn: Any, registry: Any, acts: tuple[type, ...], kinds: tuple[str, ...], vals: Sequence[Any],
        kwargs: dict[str, Any], dret: Any, seeds: dict[int, Any] | None = None,
        width: int | None = None) -> list[Any]:
    """Forward (primal not needed) then reverse in one go, for engines that recompute
    the forward at backward time (JAX, autograd). ``vals`` are not modified: the
    arguments in ``seeds`` (the mutated ones) are copied before the call."""
    vals = [np.array(v, copy=True) if seeds and i in seeds else v for i, v in enumerate(vals)]
    _, pending = forward(fn, registry, acts, kinds, vals, kwargs, needs_primal=False, width=width,
                         mutates=tuple(seeds or ()))
    return pending.reverse(dret, seeds)
