"""JAX adapter: a registered rule as a ``jax.custom_vjp`` function.

>>> import numpy as np, activerules as ar
>>> from activerules.adapters.jax import to_jax
>>> jmatvec = to_jax(matvec)              # doctest: +SKIP
>>> jax.grad(lambda A, x: jmatvec(A, x).sum())(A, x)   # doctest: +SKIP

The forward and the VJP run the resolved rule on NumPy through host callbacks
(``buffer_callback`` on CPU, ``pure_callback`` elsewhere), so the wrapped function
works under ``jax.grad``, ``jax.jit``, ``jax.vmap`` and with sharded inputs, and
composes with ``jnp`` code. With sharded inputs, a rule declared with
``partition=`` runs once per device on its shard; an undeclared one on the
gathered arrays on every device (:mod:`._jax_shard`, ``docs/scaling-with-jax.md``). Activity comes from JAX itself: with ``symbolic_zeros=True`` the
forward sees ``CustomVJPPrimal.perturbed`` for every argument, so an argument
JAX does not differentiate reaches the rule as ``Const`` (its cotangent, or
its thunk, is never computed). The forward callback runs the rule forward and
keeps its reverse closure on the host under an integer token, which travels
as a residual to the VJP callback (one token per device under a partitioning;
the forward copies the callback's input buffers, which the closure may keep). A VJP whose closure is gone
(evicted, or already used) recomputes the rule's forward from the saved inputs.

Under ``vmap`` the callbacks receive the batch as extra leading axes
(``vmap_method="expand_dims"``). A vmapped pullback over unbatched primals
(a Jacobian, ``jax.vmap(pullback)(eye)``) becomes one ``BatchDuplicated``
request of that width, served by a batch rule where one is registered (its
forward runs again, with batch activities), else by the forward's reverse once
per lane; batched primals are served one element at a time.

Forward mode (``jax.jvp``, ``jax.jacfwd``) raises JAX's own ``TypeError``:
a ``custom_vjp`` function has no JVP. A second derivative (``jax.hessian``, a
grad of a grad) raises :class:`~activerules.adapters._bridge.SecondOrderError`
(an ``ActiveRulesError`` and ``NotImplementedError``): the VJP runs on NumPy.
"""

from __future__ import annotations

import functools
import warnings
from typing import Any, Callable, Sequence

import numpy as np

from . import _bridge, _jax_host, _jax_shard

__all__ = ["to_jax", "batched"]


def batched(axis: int = 0) -> _jax_shard.Batched:
    """A partitioning for :func:`to_jax`: ``fn`` maps slices along ``axis`` independently.

    Under a multi-device mesh, the arguments of the highest rank are split along
    ``axis`` over all the mesh's devices, the others (lower rank, broadcast, or
    shared like ``x`` in a row-wise ``A @ x``) are replicated, and every output is
    split along ``axis`` too; the cotangent of a replicated argument is summed over
    the devices.

    >>> jrows = to_jax(row_norms, partition=batched(axis=0))   # doctest: +SKIP
    """
    return _jax_shard.Batched(axis)


def to_jax(fn: Callable[..., Any], *, out_shape: Any = None, mutates: Sequence[int] = (),
           static_argnums: Sequence[int] = (), partition: Any = None,
           registry: Any = None) -> Callable[..., Any]:
    """A JAX function computing ``fn`` whose VJP is ``fn``'s registered rule.

    ``fn`` takes arrays and scalars (JAX arrays are passed to it as NumPy arrays,
    0-d ones as NumPy scalars) and returns an array or scalar, or a tuple of them.
    Dynamic arguments and results may be pytrees (tuples, lists, dicts, namedtuples
    of arrays, nested): ``fn`` and its rule see the same structures, and a dict or
    list argument is ``Duplicated`` with shadows of its shape.
    ``out_shape``: a ``jax.ShapeDtypeStruct`` (anything with ``.shape`` and ``.dtype``),
    a tuple of them, or a callable mapping the argument ``ShapeDtypeStruct``\\ s to
    that; when omitted, ``fn`` is evaluated once per input signature, warnings
    silenced, to learn it: on the arguments themselves in an eager call, else on a
    registered sample of those shapes (``activerules.add_samples``), else on values
    drawn from [0.5, 1.5]. ``mutates``: the positions of arguments ``fn`` modifies in place
    (``fn`` then returns ``None``); the JAX function copies them and returns their new
    values instead (a tuple if several). ``static_argnums``: arguments that are not
    arrays (hashable; passed to ``fn`` as they are). Keyword arguments are static too
    (hashable).
    ``partition``: how ``fn`` may run on the blocks of arguments sharded over several
    devices (under ``jax.jit`` or eagerly): ``"elementwise"`` (every output element
    depends only on the same element of the full-rank arguments; lower-rank arguments
    broadcast), :func:`batched` ``(axis)``, or a callable ``(mesh, *args) -> (in_specs,
    out_spec)`` taking the global ``ShapeDtypeStruct``\\ s of the dynamic arguments'
    leaves (pytree arguments flattened) and returning a ``PartitionSpec`` per leaf and
    the outputs' spec (a prefix of the output structure), or ``None`` to replicate. With a partitioning, the rule's forward and reverse run once per device
    on its block (``shard_map``) and the outputs keep the split. Without one (the
    default), or when the split axis does not divide evenly, each device runs ``fn``
    on the whole, all-gathered arrays and the outputs are replicated. Inside a
    ``shard_map`` the rule always runs on the local blocks.
    ``registry``: where rules are looked up (default ``ar.registry``).

    >>> import jax, jax.numpy as jnp, numpy as np
    >>> from activerules.adapters import to_jax
    >>> sin = to_jax(np.sin)                       # np.sin's rule becomes its VJP
    >>> g = jax.grad(lambda x: sin(x).sum())(jnp.array([0.0, 1.0]))
    >>> bool(np.allclose(g, np.cos([0.0, 1.0])))
    True
    """
    _check_partition(fn, partition)
    if registry is None:
        from .. import registry as default_registry
        registry = default_registry
    builder = _Builder(fn, tuple(mutates), frozenset(static_argnums), out_shape, registry, partition)

    @functools.wraps(fn)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        return builder(args, kwargs)

    return wrapped


def _check_partition(fn: Callable[..., Any], partition: Any) -> None:
    """Refuse a ``partition=`` that is none of the kinds :func:`to_jax` accepts."""
    if not (partition is None or partition == "elementwise" or callable(partition)
            or isinstance(partition, _jax_shard.Batched)):
        raise TypeError(f"to_jax({getattr(fn, '__name__', fn)!r}): partition must be None, \"elementwise\", "
                        f"activerules.adapters.jax.batched(axis) or a callable, not {partition!r}")


class _Builder:
    """Builds (and caches, per static arguments) the ``custom_vjp`` function."""

    def __init__(self, fn: Callable[..., Any], mutates: tuple[int, ...], static: frozenset[int],
                 out_shape: Any, registry: Any, partition: Any = None) -> None:
        self.fn = fn
        self.mutates = mutates
        self.static = static
        self.out_shape = out_shape
        self.registry = registry
        self.partition = partition
        self.cache: dict[Any, Callable[..., Any]] = {}

    @staticmethod
    def asarray(value: Any) -> Any:
        """A dynamic argument as a JAX array (Python numbers included)."""
        import jax.numpy as jnp

        return value if hasattr(value, "shape") and hasattr(value, "dtype") else jnp.asarray(value)

    def __call__(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        """``fn(*args, **kwargs)`` through the ``custom_vjp`` function of this call's
        static arguments, keywords and argument structure (built on first use)."""
        import jax

        static = tuple((i, args[i]) for i in sorted(self.static) if i < len(args))
        # dynamic arguments may be pytrees (tuples, lists, dicts, namedtuples of arrays)
        leaves, tree = jax.tree_util.tree_flatten([a for i, a in enumerate(args) if i not in self.static])
        key = (len(args), static, tuple(sorted(kwargs.items())), tree)
        jfn = self.cache.get(key)
        if jfn is None:
            jfn = self.cache[key] = self.build(len(args), dict(static), kwargs, tree)
        return jfn(*[self.asarray(a) for a in leaves])

    def build(self, nargs: int, static: dict[int, Any], kwargs: dict[str, Any], tree: Any) -> Callable[..., Any]:
        """The ``custom_vjp`` function for ``nargs`` arguments, those in ``static`` fixed,
        the dynamic ones' leaves structured by ``tree`` (a list of one tree per argument)."""
        dyn = tuple(i for i in range(nargs) if i not in static)
        arg_trees = tree.children()         # one treedef per dynamic argument
        counts = tuple(t.num_leaves for t in arg_trees)
        if self.mutates and counts != (1,) * len(dyn):
            raise TypeError(f"to_jax({getattr(self.fn, '__name__', self.fn)!r}): with mutates=, every "
                            "dynamic argument must be one array (not a tuple, list or dict)")

        def flatten_arg(k: int, value: Any) -> list[Any]:
            return [None] * counts[k] if value is None else arg_trees[k].flatten_up_to(value)

        call = _jax_host.Call(self.fn, self.registry, nargs, static, dyn,
                              tuple(dyn.index(i) for i in self.mutates), kwargs,
                              tree.unflatten, flatten_arg, counts)
        return _VJPFunction(self, call).function()

    def out_spec(self, xs: Sequence[Any], call: _jax_host.Call, real: bool) -> Any:
        """The output ``ShapeDtypeStruct``\\ (s) of ``fn`` on arguments like ``xs``: from
        ``mutates`` or ``out_shape``, else by evaluating ``fn`` once (warnings silenced)
        on the values themselves (``real``, an eager call), on a registered sample of
        the same shapes, or on values drawn from [0.5, 1.5] (away from the zeros and
        signs where functions like ``1/x`` or ``log`` are undefined)."""
        import jax

        if call.mutates:
            out = [jax.ShapeDtypeStruct(np.shape(xs[i]), xs[i].dtype) for i in call.mutates]
            return jax.tree_util.tree_flatten(out[0] if len(out) == 1 else tuple(out))[::-1]
        if self.out_shape is not None:
            spec = self.out_shape
            if callable(spec):
                spec = spec(*call.dynamic([jax.ShapeDtypeStruct(np.shape(x), x.dtype) for x in xs]))
            return jax.tree_util.tree_flatten(spec)[::-1]
        if real:
            vals = [np.asarray(x) for x in xs]
        else:
            vals = self._sample_like(xs, call) or [_probe_value(np.shape(x), np.dtype(x.dtype)) for x in xs]
        try:
            with warnings.catch_warnings(), np.errstate(all="ignore"):
                warnings.simplefilter("ignore")
                y = call.primal([_bridge.host_value(v) for v in vals])
        except Exception as e:  # noqa: BLE001 - reported with the fix
            raise TypeError(f"to_jax({getattr(self.fn, '__name__', self.fn)!r}): could not learn the output "
                            f"shape by evaluating it on {'its arguments' if real else 'sample inputs'} ({e!r}); "
                            "pass out_shape=, or register samples of these shapes "
                            "(activerules.add_samples)") from e
        half = _bridge.half_of([x.dtype for x in xs])     # a float32 result goes back to it
        leaves, out_tree = jax.tree_util.tree_flatten(y)
        return out_tree, [_spec_of(_bridge.narrow(v, half)) for v in leaves]

    def _sample_like(self, xs: Sequence[Any], call: _jax_host.Call) -> list[Any] | None:
        """The dynamic values of a registered sample with the shapes of ``xs`` and the
        same static arguments and keywords (cast to ``xs``' dtypes), if there is one."""
        for sample in self.registry.samples(self.fn):
            args = sample.args
            if len(args) != call.nargs or set(sample.kwargs) != set(call.kwargs):
                continue
            try:
                same_static = all(args[i] is v or bool(np.all(args[i] == v)) for i, v in call.static.items())
                same_kw = all(sample.kwargs[k] is v or bool(np.all(sample.kwargs[k] == v))
                              for k, v in call.kwargs.items())
            except Exception:  # noqa: BLE001 - incomparable values: not this sample
                continue
            dyn = [args[i] for i in call.dyn]
            if same_static and same_kw and all(np.shape(a) == np.shape(x) for a, x in zip(dyn, xs)):
                return [np.asarray(a).astype(np.dtype(x.dtype)) for a, x in zip(dyn, xs)]
        return None


def _probe_value(shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    """Values in [0.5, 1.5] of ``dtype`` (ones for integers and booleans)."""
    if dtype.kind in "fc":
        return np.random.default_rng(0).uniform(0.5, 1.5, shape).astype(dtype)
    return np.ones(shape, dtype)


def _first_order(run: Callable[..., Any], fn: Any) -> Callable[..., Any]:
    """``run`` (the VJP's host call), refusing to be differentiated with an error that
    names activerules (JAX's own says only that callbacks have no JVP)."""
    import jax

    guarded = jax.custom_jvp(run)

    def refuse(primals: Any, tangents: Any) -> Any:
        raise _bridge.second_order_error("to_jax", fn)

    guarded.defjvp(refuse)
    return guarded


def _spec_of(value: Any) -> Any:
    import jax

    arr = np.asarray(value)
    return jax.ShapeDtypeStruct(arr.shape, jax.dtypes.canonicalize_dtype(arr.dtype))


@functools.cache
def _residual_class() -> type:
    import jax

    class Residuals:
        """Residuals of the forward: the inputs and the token of the pending reverse
        (leaves), and the perturbed flags (static)."""

        def __init__(self, xs: tuple[Any, ...], token: Any, wanted: tuple[bool, ...]) -> None:
            self.xs = xs
            self.token = token
            self.wanted = wanted

    jax.tree_util.register_pytree_node(
        Residuals, lambda r: ((r.xs, r.token), r.wanted),
        lambda wanted, leaves: Residuals(tuple(leaves[0]), leaves[1], wanted))
    return Residuals


def _residuals(xs: tuple[Any, ...], token: Any, wanted: tuple[bool, ...]) -> Any:
    return _residual_class()(xs, token, wanted)


class _VJPFunction:
    """One ``custom_vjp`` function of ``fn`` (one call signature): the primal callback
    (:meth:`primal`), JAX's forward (:meth:`fwd`) and backward (:meth:`bwd`), and the
    bodies they run per device under a partitioning, else on the whole arrays
    (:meth:`local_primal`, :meth:`local_bwd`)."""

    def __init__(self, builder: _Builder, call: _jax_host.Call) -> None:
        self.builder = builder
        self.call = call
        self.out_specs: dict[Any, Any] = {}    # (shape, dtype) per leaf -> the output's specs

    def function(self) -> Callable[..., Any]:
        """The ``custom_vjp`` function: the primal, with :meth:`fwd` and :meth:`bwd` as its VJP."""
        import jax

        @jax.custom_vjp
        def jfn(*xs: Any) -> Any:
            return self.primal(xs)

        jfn.defvjp(self.fwd, self.bwd, symbolic_zeros=True)
        return jfn

    def specs(self, xs: Sequence[Any], real: bool = False) -> Any:
        """The output's treedef and a ``ShapeDtypeStruct`` per leaf for arguments like
        ``xs``, learned once per shapes and dtypes (:meth:`_Builder.out_spec`)."""
        key = tuple((x.shape, str(x.dtype)) for x in xs)
        spec = self.out_specs.get(key)
        if spec is None:
            spec = self.out_specs[key] = self.builder.out_spec(xs, self.call, real)
        return spec

    def plan(self, xs: Sequence[Any]) -> _jax_shard.Plan | None:
        """The ``shard_map`` for arguments ``xs``, or ``None`` to run on the whole arrays."""
        return _jax_shard.plan(self.builder.partition, xs, self.call.mutates)

    def primal(self, xs: Sequence[Any], wanted: tuple[bool, ...] | None = None) -> Any:
        """The primal callback; with ``wanted`` (differentiating) it runs the rule
        forward and also returns the token of its pending reverse."""
        import jax

        plan = self.plan(xs)
        if plan is None and not any(isinstance(x, jax.core.Tracer) for x in xs):
            self.specs(xs, real=True)      # an eager call: learn the output shape from its values

        def local(*lxs: Any) -> Any:
            return self.local_primal(lxs, wanted, plan)

        run: Callable[..., Any] = local
        if plan is not None:
            out_specs = plan.out_spec if wanted is None else (plan.out_spec, plan.token_spec)
            run = jax.shard_map(local, mesh=plan.mesh, in_specs=plan.in_specs, out_specs=out_specs)
        return run(*xs) if wanted is None else _first_order(run, self.builder.fn)(*xs)

    def local_primal(self, lxs: Sequence[Any], wanted: tuple[bool, ...] | None,
                     plan: _jax_shard.Plan | None) -> Any:
        """The primal on the local arrays (a device's blocks under ``plan``): one host
        call; with ``wanted``, also the forward's token (one per device under a plan)."""
        import jax

        out_tree, flat = self.specs(lxs)              # the output's structure, one spec per leaf
        one = _host_primal(self.call, out_tree, flat, wanted)
        if wanted is not None:
            flat = flat + [jax.ShapeDtypeStruct((), np.int32)]
        nds = [np.ndim(x) for x in lxs]
        outs = _jax_shard.host_call(lambda *arrays: _jax_host.map_leading(one, arrays, nds, flat), flat,
                                    lxs, keeps_inputs=wanted is not None)
        varying = frozenset().union(*map(_jax_shard.vma, lxs))
        outs = [_jax_shard.vary_like(o, varying) for o in outs]
        if wanted is None:
            return out_tree.unflatten(outs)
        y = out_tree.unflatten(outs[:-1])
        if plan is None:
            return y, outs[-1]
        # one token per device, kept on its device for the bwd
        return y, _jax_shard.vary_like(outs[-1].reshape((1,)), frozenset(plan.mesh.axis_names))

    def fwd(self, *ps: Any) -> Any:
        """JAX's forward: the rule forward, differentiating the perturbed arguments;
        the residuals are the inputs, the token of the pending reverse and the flags."""
        xs = tuple(self.builder.asarray(p.value) for p in ps)
        wanted = tuple(bool(p.perturbed) for p in ps)
        y, token = self.primal(xs, wanted)
        return y, _residuals(xs, token, wanted)

    def bwd(self, res: Any, g: Any) -> Any:
        """JAX's backward: the cotangents of the perturbed arguments (``None`` for the
        others) from the output cotangent ``g``, symbolic zeros made real."""
        import jax
        from jax.custom_derivatives import SymbolicZero

        xs, wanted = res.xs, res.wanted
        raw = tuple(jax.tree_util.tree_leaves(g, is_leaf=lambda v: isinstance(v, SymbolicZero)))
        if all(isinstance(gi, SymbolicZero) for gi in raw) or not any(wanted):
            return (None,) * len(xs)
        gs = tuple(jax.numpy.zeros(gi.shape, gi.dtype) if isinstance(gi, SymbolicZero) else gi for gi in raw)
        plan = self.plan(xs)

        def local(lxs: tuple[Any, ...], lgs: tuple[Any, ...], token: Any) -> Any:
            return self.local_bwd(lxs, lgs, token, wanted, plan)

        run: Callable[..., Any] = local
        if plan is not None:
            g_spec = tuple(plan.out_spec) if isinstance(plan.out_spec, tuple) else plan.out_spec
            run = jax.shard_map(local, mesh=plan.mesh, in_specs=(plan.in_specs, g_spec, plan.token_spec),
                                out_specs=tuple(s for s, w in zip(plan.in_specs, wanted) if w))
        cots = iter(_first_order(run, self.builder.fn)(tuple(xs), gs, res.token))
        return tuple(next(cots) if w else None for w in wanted)

    def local_bwd(self, lxs: tuple[Any, ...], lgs: tuple[Any, ...], token: Any, wanted: tuple[bool, ...],
                  plan: _jax_shard.Plan | None) -> tuple[Any, ...]:
        """The VJP on the local arrays (a device's blocks under ``plan``): one host call
        giving the cotangents of the wanted arguments."""
        import jax

        if plan is not None:
            token = token.reshape(())
        cot_specs = [jax.ShapeDtypeStruct(np.shape(x), x.dtype) for x, w in zip(lxs, wanted) if w]
        out_tree = self.specs(lxs)[0]
        nds = [np.ndim(x) for x in lxs] + [np.ndim(gi) for gi in lgs] + [0]

        def host(*arrays: Any) -> Any:
            return _jax_host.bwd_host(self.call, arrays, nds, wanted, cot_specs, out_tree.unflatten)

        cots = iter(_jax_shard.host_call(host, cot_specs, [*lxs, *lgs, token], keeps_inputs=False))
        varying = frozenset().union(*map(_jax_shard.vma, lxs + lgs))
        return tuple(_jax_shard.fix_cotangent(next(cots), x, varying) for x, w in zip(lxs, wanted) if w)


def _host_primal(call: _jax_host.Call, out_tree: Any, specs: list[Any],
                 wanted: tuple[bool, ...] | None) -> Callable[[list[Any]], list[np.ndarray]]:
    """The primal callback's host function on one element of a batch: ``fn``'s output
    leaves; with ``wanted``, the rule forward's and the token of its pending reverse."""
    if wanted is None:
        return lambda vals: _jax_host.as_outputs(call.primal(vals), specs, out_tree.flatten_up_to)

    def forward(vals: list[Any]) -> list[np.ndarray]:
        y, token = call.forward(vals, wanted)
        return _jax_host.as_outputs(y, specs, out_tree.flatten_up_to) + [np.int32(token)]

    return forward
