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
    tuple of them), which the wrapper returns as a tensor (a tuple of tensors).
    Arguments and results may be tuples, lists, dicts and namedtuples of them
    (nested): ``fn`` and its rule see the same structures with arrays in place of
    tensors, and a dict or list argument is ``Duplicated`` with shadows of its shape. ``mutates``: positions of the tensor arguments
    ``fn`` modifies in place (``fn`` then returns ``None``, the wrapper returns the
    mutated tensor, or a tuple of them). Keyword arguments pass through to ``fn`` and
    are never differentiated. ``registry``: where rules are looked up (default
    ``ar.registry``).

    >>> import numpy as np, torch
    >>> from activerules.adapters import to_torch
    >>> sin = to_torch(np.sin)                     # np.sin's rule becomes its backward
    >>> x = torch.tensor([0.0, 1.0], dtype=torch.float64, requires_grad=True)
    >>> sin(x).sum().backward()
    >>> bool(torch.allclose(x.grad, torch.cos(x.detach())))
    True
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
        leaves, tree = _flatten(list(args))        # arguments may be pytrees of tensors
        if mutated and len(leaves) != len(args):
            raise TypeError(f"{getattr(fn, '__name__', fn)}: with mutates=, every argument must be a "
                            "tensor or a non-tensor value, not a tuple, list or dict")
        if not mutated and not (torch.is_grad_enabled() and any(
                isinstance(a, torch.Tensor) and a.requires_grad for a in leaves)):
            # Nothing to differentiate: run the function, record nothing.
            y = fn(*_unflatten(tree, iter([_host(a) for a in leaves])), **kwargs)
            y_leaves, y_tree = _flatten(y)
            return _unflatten(y_tree, iter([_to_tensor(v, _device(leaves), half=_half(leaves)) for v in y_leaves]))
        options = _Options(kwargs, tree)
        out = function.apply(options, *leaves)
        if mutated or options.out_tree is None:
            return out
        return _unflatten(options.out_tree, iter(out if isinstance(out, tuple) else (out,)))

    return wrapped


class _Options:
    """Non-tensor payload of one ``apply``: the keyword arguments, the structure of the
    arguments (their leaves are what ``apply`` gets) and, set by ``forward``, of the output."""

    __slots__ = ("kwargs", "tree", "out_tree")

    def __init__(self, kwargs: dict[str, Any], tree: Any = None) -> None:
        self.kwargs = kwargs
        self.tree = tree
        self.out_tree: Any = None


def _flatten(value: Any) -> tuple[list[Any], Any]:
    """The leaves of a tuple, list, dict or namedtuple tree (anything else is a leaf) and
    its structure (``None`` for a leaf).

    >>> _flatten({"a": [1, 2], "b": 3})
    ([1, 2, 3], (<class 'dict'>, ['a', 'b'], [(<class 'list'>, None, [None, None]), None]))
    """
    if isinstance(value, dict):
        keys = list(value)
        subs = [_flatten(value[k]) for k in keys]
    elif isinstance(value, (list, tuple)):
        keys = None
        subs = [_flatten(v) for v in value]
    else:
        return [value], None
    return [leaf for sub in subs for leaf in sub[0]], (type(value), keys, [sub[1] for sub in subs])


def _unflatten(tree: Any, leaves: Any) -> Any:
    """The tree of structure ``tree`` whose leaves come from the iterator ``leaves``."""
    if tree is None:
        return next(leaves)
    kind, keys, children = tree
    items = [_unflatten(c, leaves) for c in children]
    if keys is not None:
        return kind(zip(keys, items))
    return kind(*items) if hasattr(kind, "_fields") else kind(items)


def _leaves_up_to(tree: Any, value: Any) -> list[Any]:
    """The leaves of ``value`` (a cotangent) along the structure ``tree`` (``None``:
    no cotangent, ``None`` for every leaf)."""
    if tree is None:
        return [value]
    kind, keys, children = tree
    if value is None:
        return [None for c in children for _ in _leaves_up_to(c, None)]
    items = [value[k] for k in keys] if keys is not None else list(value)
    return [leaf for c, v in zip(children, items) for leaf in _leaves_up_to(c, v)]


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
        # args: the leaves of the arguments; vals: the arguments (pytrees) on the host
        vals = _unflatten(options.tree, iter([_host(a) for a in args])) if options.tree else [_host(a) for a in args]
        if any(isinstance(a, torch.Tensor) for a in args):
            # Inputs the rule reads later, saved so torch checks their versions in backward.
            ctx.save_for_backward(*[a if isinstance(a, torch.Tensor) and i not in mutates else None
                                    for i, a in enumerate(args)])
        ctx.arg_trees = options.tree[2] if options.tree else [None] * len(args)
        ends = np.cumsum([len(_leaves_up_to(t, None)) for t in ctx.arg_trees])
        leaf_wanted = [bool(w) for w in ctx.needs_input_grad[1:]]
        wanted = [any(leaf_wanted[end - len(_leaves_up_to(t, None)):end]) for t, end in zip(ctx.arg_trees, ends)]
        kinds = _bridge.kinds_of(vals)
        if any(wanted):
            acts = _bridge.activities(kinds, wanted, mutates)
        else:
            acts = _bridge.activities(kinds, wanted, ())  # all Const: the function itself runs
        y, pending = _bridge.forward(fn, registry, acts, kinds, vals, options.kwargs, mutates=mutates)
        ctx.pending, ctx.wanted, ctx.device = pending, leaf_wanted, _device(args)
        ctx.like = [a if isinstance(a, torch.Tensor) else None for a in args]
        if mutates:
            outs = tuple(args[i] for i in mutates)
            ctx.mark_dirty(*outs)
            return outs[0] if len(outs) == 1 else outs
        y_leaves, ctx.out_tree = _flatten(y)
        options.out_tree = ctx.out_tree
        outs = tuple(_to_tensor(v, ctx.device, half=_half(args)) for v in y_leaves)
        return outs[0] if ctx.out_tree is None else outs

    def backward(ctx: Any, *grads: Any) -> Any:
        saved = ctx.saved_tensors  # raises if a saved input was modified in place
        host = [None if g is None else np.array(_host(g), copy=True) for g in grads]
        if mutates:
            cots = ctx.pending.reverse(None, {i: g for i, g in zip(mutates, host)})
        else:
            cots = ctx.pending.reverse(_unflatten(ctx.out_tree, iter([_bridge.host_value(h) for h in host])))
        leaf_cots = [c for t, cot in zip(ctx.arg_trees, cots) for c in _leaves_up_to(t, cot)]
        out: list[Any] = [None]
        for c, want, like in zip(leaf_cots, ctx.wanted, ctx.like):
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
