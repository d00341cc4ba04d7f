"""PyTorch adapter: a registered rule as a generated ``torch.autograd.Function``.

>>> from activerules.adapters.torch import to_torch
>>> tmatvec = to_torch(matvec)                 # doctest: +SKIP
>>> tmatvec(A, x).sum().backward()             # doctest: +SKIP

Activity comes from ``ctx.needs_input_grad`` at forward time: a tensor that
does not require a gradient (or any call under ``torch.no_grad()``) reaches the
rule as ``Const``, so a specialised rule runs and a Const cotangent (or its
thunk) is never computed. A floating tensor of one or more dimensions is
``Duplicated``, a 0-d one ``Active`` (the rule sees a NumPy scalar), and
non-tensor arguments are ``Const``. The rule's forward runs once, in
``forward``; its reverse closure is kept on ``ctx`` for ``backward``.

In-place functions (``mutates=``: rules for mutating primitives) modify the
tensor's memory through its NumPy view, call ``ctx.mark_dirty`` and return the
mutated tensor(s), as ``torch.Tensor.mul_`` does; the mutated argument is
``Duplicated`` and its shadow carries the output cotangent. The inputs a rule
may read in reverse are saved with ``save_for_backward``, so modifying one of
them before ``backward`` raises torch's usual version-counter error instead
of giving a wrong gradient. ``backward`` is once differentiable: rules run on
NumPy, so a double backward (``create_graph=True`` then a backward through the
gradient) raises ``SecondOrderError`` naming activerules rather than returning
wrong numbers.

Devices: rules run on NumPy, i.e. on the host. CPU tensors are passed to the
rule without copying (``tensor.numpy()`` shares memory). Tensors on another
device are copied to the host and results copied back to the input's device
(two copies per call and per backward; see ``docs/scaling-with-jax.md``);
in-place functions accept CPU tensors only. dtypes are kept (a float32 tensor
reaches the rule as a float32 array), except half precision: float16 and
bfloat16 tensors reach the rule as float32 and float32 results come back in
the half dtype; every gradient has its input's dtype (a rule's float64
cotangent for a float32 input is cast).
"""

from __future__ import annotations

import functools
from typing import Any, Callable, Sequence

import numpy as np

from . import _bridge

__all__ = ["to_torch"]


def to_torch(fn: Callable[..., Any], *, mutates: Sequence[int] = (), registry: Any = None) -> Callable[..., Any]:
    """A function of tensors computing ``fn`` whose backward is ``fn``'s registered rule.

    ``fn`` takes NumPy arrays and scalars (tensors arrive as arrays, 0-d tensors as
    NumPy scalars, other arguments as they are) and returns an array or scalar (or a
    tuple of them), which the wrapper returns as a tensor (a tuple of tensors). ``mutates``: positions of the tensor arguments
    ``fn`` modifies in place (``fn`` then returns ``None``, the wrapper returns the
    mutated tensor, or a tuple of them). Keyword arguments pass through to ``fn`` and
    are never differentiated. ``registry``: where rules are looked up (default
    ``ar.registry``).
    """
    import torch

    if registry is None:
        from .. import registry as default_registry
        registry = default_registry
    mutated = tuple(mutates)
    function = _make_function(fn, registry, mutated)

    @functools.wraps(fn)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        for i in mutated:
            if not (isinstance(args[i], torch.Tensor) and args[i].device.type == "cpu"):
                raise TypeError(f"{getattr(fn, '__name__', fn)}: argument {i} is modified in place, "
                                "so it must be a CPU tensor")
        if not mutated and not (torch.is_grad_enabled() and any(
                isinstance(a, torch.Tensor) and a.requires_grad for a in args)):
            # Nothing to differentiate: run the function, record nothing.
            return _to_tensors(fn(*[_host(a) for a in args], **kwargs), _device(args), _half(args))
        return function.apply(_Options(kwargs), *args)

    return wrapped


class _Options:
    """Non-tensor payload of one ``apply``: the keyword arguments."""

    __slots__ = ("kwargs",)

    def __init__(self, kwargs: dict[str, Any]) -> None:
        self.kwargs = kwargs


def _host(value: Any) -> Any:
    import torch

    if isinstance(value, torch.Tensor):
        value = value.detach().cpu()
        if value.dtype in (torch.float16, torch.bfloat16):    # no NumPy bfloat16: the rule sees float32
            value = value.float()
        return _bridge.host_value(value.numpy())
    return value


def _half(args: Sequence[Any]) -> Any:
    """The half-precision dtype of the tensor arguments (the first), or ``None``."""
    import torch

    return next((a.dtype for a in args if isinstance(a, torch.Tensor)
                 and a.dtype in (torch.float16, torch.bfloat16)), None)


def _device(args: Sequence[Any]) -> Any:
    import torch

    return next((a.device for a in args if isinstance(a, torch.Tensor)), torch.device("cpu"))


def _to_tensor(value: Any, device: Any, like: Any = None, half: Any = None) -> Any:
    """A result as a tensor on ``device``: a cotangent in the dtype of its argument
    ``like``; a float32 output in ``half`` (the arguments' half-precision dtype)."""
    import torch

    if like is not None and not isinstance(value, np.ndarray):
        return torch.as_tensor(np.asarray(value), dtype=like.dtype, device=device).reshape(like.shape)
    arr = np.asarray(value)
    if not arr.flags.writeable or not arr.flags.c_contiguous:
        arr = np.ascontiguousarray(arr).copy()
    dtype = like.dtype if like is not None else half if half is not None and arr.dtype == np.float32 else None
    return torch.from_numpy(arr).to(device=device, dtype=dtype)


def _to_tensors(value: Any, device: Any, half: Any = None) -> Any:
    if isinstance(value, tuple):
        return tuple(_to_tensor(v, device, half=half) for v in value)
    return _to_tensor(value, device, half=half)


@functools.cache
def _refusing_class() -> Any:
    import torch

    class Refusing(torch.autograd.Function):
        """Identity on a gradient computed on NumPy whose backward raises ``SecondOrderError``;
        tied to the inputs that require a gradient so that the second backward reaches it."""

        @staticmethod
        def forward(ctx: Any, fn: Any, value: Any, *anchors: Any) -> Any:
            ctx.fn = fn
            return value.clone()

        @staticmethod
        def backward(ctx: Any, *grads: Any) -> Any:
            raise _bridge.second_order_error("to_torch", ctx.fn)

    return Refusing


def _refusing(fn: Any) -> Callable[..., Any]:
    return lambda value, *anchors: _refusing_class().apply(fn, value, *anchors)


def _make_function(fn: Callable[..., Any], registry: Any, mutates: tuple[int, ...]) -> Any:
    import torch

    name = getattr(fn, "__name__", "fn")

    def forward(ctx: Any, options: _Options, *args: Any) -> Any:
        vals = [_host(a) for a in args]
        if any(isinstance(a, torch.Tensor) for a in args):
            # Inputs the rule reads later, saved so torch checks their versions in backward.
            ctx.save_for_backward(*[a if isinstance(a, torch.Tensor) and i not in mutates else None
                                    for i, a in enumerate(args)])
        wanted = [bool(w) for w in ctx.needs_input_grad[1:]]
        kinds = _bridge.kinds_of(vals)
        if any(wanted):
            acts = _bridge.activities(kinds, wanted, mutates)
        else:
            acts = _bridge.activities(kinds, wanted, ())  # all Const: the function itself runs
        y, pending = _bridge.forward(fn, registry, acts, kinds, vals, options.kwargs)
        ctx.pending, ctx.wanted, ctx.device = pending, wanted, _device(args)
        ctx.several = isinstance(y, tuple)
        ctx.like = [a if isinstance(a, torch.Tensor) else None for a in args]
        if mutates:
            outs = tuple(args[i] for i in mutates)
            ctx.mark_dirty(*outs)
            return outs[0] if len(outs) == 1 else outs
        return _to_tensors(y, ctx.device, _half(args))

    def backward(ctx: Any, *grads: Any) -> Any:
        saved = ctx.saved_tensors  # raises if a saved input was modified in place
        host = [None if g is None else np.array(_host(g), copy=True) for g in grads]
        if mutates:
            cots = ctx.pending.reverse(None, {i: g for i, g in zip(mutates, host)})
        elif ctx.several:
            cots = ctx.pending.reverse(tuple(_bridge.host_value(h) for h in host))
        else:
            cots = ctx.pending.reverse(_bridge.host_value(host[0]))
        out: list[Any] = [None]
        for c, want, like in zip(cots, ctx.wanted, ctx.like):
            out.append(_to_tensor(c, ctx.device, like) if want and c is not None else None)
        if torch.is_grad_enabled():      # create_graph: the gradients refuse a second backward
            anchors = [t for t in saved if t is not None and t.requires_grad]
            out = [o if o is None else _refusing(fn)(o, *anchors) for o in out]
        return tuple(out)

    return type(f"{name}_ActiveRule", (torch.autograd.Function,), {
        "__doc__": f"Generated autograd.Function running the registered rule of {name}.",
        "forward": staticmethod(forward),
        "backward": staticmethod(backward),
    })
