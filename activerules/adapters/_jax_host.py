r"""Host side of the JAX adapter: what runs inside the host callbacks.

Nothing here imports JAX. :class:`Call` knows where the dynamic arguments go
and runs the rule forward (keeping its reverse in :data:`PENDING` under a
token) or reverse; :func:`map_leading` and :func:`bwd_host` serve the extra
leading axes that ``vmap`` adds with ``vmap_method="expand_dims"``.
"""

from __future__ import annotations

import itertools
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np

from . import _bridge

__all__ = ["Call", "PENDING", "PendingStore", "as_outputs", "map_leading", "bwd_host"]


class PendingStore:
    """Reverse closures of rule forwards run in the fwd callback, by token, until the
    bwd callback takes them. A token whose bwd never runs (its output cotangent was
    zero, a pullback never called) is dropped once ``capacity`` newer ones exist; a bwd
    that finds no closure recomputes the forward, so eviction costs time, not results."""

    def __init__(self, capacity: int = 64) -> None:
        self.capacity = capacity
        self._lock = threading.Lock()
        self._items: OrderedDict[int, _bridge.Pending] = OrderedDict()
        self._next = itertools.count(1)

    def put(self, pending: _bridge.Pending) -> int:
        with self._lock:
            token = next(self._next) % (2 ** 31 - 1) + 1
            self._items[token] = pending
            while len(self._items) > self.capacity:
                self._items.popitem(last=False)
        return token

    def pop(self, token: Any) -> _bridge.Pending | None:
        with self._lock:
            return self._items.pop(int(token), None)

    def __len__(self) -> int:
        return len(self._items)


PENDING = PendingStore()


def as_outputs(value: Any, specs: list[Any], leaves: Callable[[Any], list[Any]]) -> list[np.ndarray]:
    """The function's output as one array per spec (``leaves``: its pytree's leaves)."""
    values = leaves(value)
    return [np.asarray(v, dtype=s.dtype).reshape(s.shape) for v, s in zip(values, specs)]


def map_leading(core: Callable[[list[Any]], list[np.ndarray]], arrays: Sequence[Any], nds: Sequence[int],
                 out_specs: Sequence[Any]) -> list[np.ndarray]:
    """Apply ``core`` (one element: host values in, one array per spec out) over the
    leading batch axes that ``vmap`` added to the callback's arguments."""
    arrays = [np.asarray(a) for a in arrays]
    leads = [a.shape[:a.ndim - nd] for a, nd in zip(arrays, nds)]
    if not any(leads):
        return core([_bridge.host_value(a) for a in arrays])
    batch = np.broadcast_shapes(*leads)
    outs = [np.empty(batch + tuple(s.shape), s.dtype) for s in out_specs]
    for idx in np.ndindex(*batch):
        vals = [_bridge.host_value(a[_lead_index(idx, lead)]) for a, lead in zip(arrays, leads)]
        for out, val in zip(outs, core(vals)):
            out[idx] = val
    return outs


def _lead_index(idx: tuple[int, ...], lead: tuple[int, ...]) -> tuple[int, ...]:
    """The element of an argument with leading shape ``lead`` (broadcast) at ``idx``."""
    idx = idx[len(idx) - len(lead):]
    return tuple(0 if n == 1 else i for i, n in zip(idx, lead))


@dataclass(frozen=True)
class Call:
    """What the host callbacks need: the function, where its dynamic arguments go."""

    fn: Callable[..., Any]
    registry: Any
    nargs: int
    static: dict[int, Any]
    dyn: tuple[int, ...]           # positions of the dynamic (JAX) arguments
    mutates: tuple[int, ...]       # indices into the dynamic arguments
    kwargs: dict[str, Any]
    # pytree arguments: the leaves (what JAX passes) -> the dynamic arguments, a dynamic
    # argument's cotangent -> its leaves, the number of leaves of each (default: all arrays)
    unflatten: Callable[[Sequence[Any]], list[Any]] | None = None
    flatten_arg: Callable[[int, Any], list[Any]] | None = None
    counts: tuple[int, ...] | None = None

    def dynamic(self, leaves: Sequence[Any]) -> list[Any]:
        """The dynamic arguments (pytrees) from their leaves."""
        return list(leaves) if self.unflatten is None else self.unflatten(leaves)

    def full(self, vals: Sequence[Any]) -> list[Any]:
        """The complete argument list from the dynamic values (leaves)."""
        args: list[Any] = [None] * self.nargs
        for i, v in self.static.items():
            args[i] = v
        for i, v in zip(self.dyn, self.dynamic(vals)):
            args[i] = v
        return args

    def per_argument(self, wanted: Sequence[bool]) -> list[bool]:
        """Per dynamic argument: whether any of its leaves is wanted."""
        if self.counts is None:
            return list(wanted)
        ends = list(itertools.accumulate(self.counts))
        return [any(wanted[end - n:end]) for n, end in zip(self.counts, ends)]

    def primal(self, vals: Sequence[Any]) -> Any:
        """Run ``fn``; for a mutating function, on copies, returning their new values."""
        vals = [np.array(v, copy=True) if i in self.mutates else v for i, v in enumerate(vals)]
        y = self.fn(*self.full(vals), **self.kwargs)
        return self._mutated(vals) if self.mutates else y

    def _mutated(self, vals: Sequence[Any]) -> Any:
        """The new values of the mutated arguments: one array, or a tuple if several."""
        out = tuple(vals[i] for i in self.mutates)
        return out[0] if len(out) == 1 else out

    def activities(self, args: Sequence[Any], wanted: tuple[bool, ...],
                   width: int | None) -> tuple[tuple[str, ...], tuple[type, ...]]:
        """Kinds and activities of the full argument list."""
        kinds = _bridge.kinds_of(args)
        all_wanted = [False] * self.nargs
        for i, w in zip(self.dyn, self.per_argument(wanted)):
            all_wanted[i] = w
        mutated = tuple(self.dyn[j] for j in self.mutates)
        return kinds, _bridge.activities(kinds, all_wanted, mutated, width)

    def forward(self, vals: Sequence[Any], wanted: tuple[bool, ...]) -> tuple[Any, int]:
        """Run the rule forward (on copies of mutated arguments); returns the outputs
        and the token of the pending reverse."""
        vals = [np.array(v, copy=True) if i in self.mutates else v for i, v in enumerate(vals)]
        args = self.full(vals)
        kinds, acts = self.activities(args, wanted, None)
        y, pending = _bridge.forward(self.fn, self.registry, acts, kinds, args, self.kwargs,
                                     mutates=self.mutates)
        out = self._mutated(vals) if self.mutates else y
        return out, PENDING.put(pending)

    def cotangents(self, xs: Sequence[Any], gs: Sequence[Any], wanted: tuple[bool, ...],
                   width: int | None, token: Any = None,
                   out_tree: Callable[[list[Any]], Any] | None = None) -> list[Any]:
        """One rule reverse: cotangents of the wanted leaves (per lane tuples when
        ``width``). ``gs``: the output cotangents' leaves (per lane lists when
        ``width``); ``token``: the forward's pending reverse (else the forward is
        recomputed); ``out_tree``: output leaves -> the output's structure."""
        args = self.full(xs)
        kinds, acts = self.activities(args, wanted, width)
        mutated = tuple(self.dyn[j] for j in self.mutates)
        dret: Any
        if self.mutates:
            if width is None:
                seeds = {i: gs[k] for k, i in enumerate(mutated)}
            else:
                seeds = {i: tuple(lane[k] for lane in gs) for k, i in enumerate(mutated)}
            dret = None if width is None else (None,) * width
        else:
            seeds = {}
            def out_cot(g: Sequence[Any]) -> Any:
                leaves = [_writable(gi) for gi in g]
                return leaves[0] if out_tree is None else out_tree(leaves)

            dret = out_cot(gs) if width is None else tuple(out_cot(lane) for lane in gs)
        pending = None if token is None else PENDING.pop(token)
        if pending is not None and width is None:
            cots = pending.reverse(dret, seeds)
        elif pending is not None and width is not None and self._served_per_lane(acts, kinds):
            # lanes or a lifted rrule: the width-1 forward's reverse, once per lane
            n = len(args)
            per_lane = [pending.reverse(dret[k], {i: s[k] for i, s in seeds.items()}) for k in range(width)]
            cots = [None if per_lane[0][i] is None else tuple(c[i] for c in per_lane) for i in range(n)]
        else:
            cots = _bridge.vjp(self.fn, self.registry, acts, kinds, args, self.kwargs, dret, seeds, width)
        return self._leaf_cotangents(cots, wanted, width)

    def _leaf_cotangents(self, cots: Sequence[Any], wanted: tuple[bool, ...], width: int | None) -> list[Any]:
        """The cotangents of the wanted leaves from the per-argument ones (pytrees)."""
        out: list[Any] = []
        leaf = 0
        for k, i in enumerate(self.dyn):
            c = cots[i]
            if self.flatten_arg is None:
                parts = [c]
            elif width is None:
                parts = self.flatten_arg(k, c)
            else:
                lanes = [self.flatten_arg(k, ck) for ck in (c if c is not None else (None,) * width)]
                parts = [None if c is None else tuple(lane[j] for lane in lanes) for j in range(len(lanes[0]))]
            out.extend(p for j, p in enumerate(parts) if wanted[leaf + j])
            leaf += len(parts)
        return out

    def _served_per_lane(self, acts: tuple[type, ...], kinds: tuple[str, ...]) -> bool:
        """Whether the batch request is served lane by lane (no batch rule applies)."""
        res = self.registry.resolve(self.fn, acts, kinds)
        return bool(getattr(res, "lanes", False)) or res.form == "rrule"


def _writable(value: Any) -> Any:
    return np.array(value, copy=True) if isinstance(value, np.ndarray) else value


def bwd_host(call: Call, arrays: Sequence[Any], nds: Sequence[int], wanted: tuple[bool, ...],
              cot_specs: Sequence[Any], out_tree: Callable[[list[Any]], Any]) -> list[np.ndarray]:
    """The VJP callback: ``arrays`` are the primal inputs, the output cotangents and
    the forward's token (leaves); ``out_tree``: output leaves -> the output."""
    nxs = len(wanted)                    # leaves of the dynamic arguments
    arrays = [np.asarray(a) for a in arrays]
    leads = [a.shape[:a.ndim - nd] for a, nd in zip(arrays, nds)]
    primal_lead = {n for lead in leads[:nxs] for n in lead} | set(leads[-1])
    g_leads = leads[nxs:-1]
    if any(g_leads) and primal_lead <= {1}:
        # A vmapped pullback over unbatched primals: one BatchDuplicated request.
        batch = np.broadcast_shapes(*g_leads)
        width = int(np.prod(batch))
        xs = [_bridge.host_value(a.reshape(a.shape[len(lead):])) for a, lead in zip(arrays[:nxs], leads)]
        gs = [np.broadcast_to(g, batch + g.shape[len(lead):]).reshape((width,) + g.shape[len(lead):])
              for g, lead in zip(arrays[nxs:-1], g_leads)]
        lanes = [[_bridge.host_value(g[k]) for g in gs] for k in range(width)]
        cots = call.cotangents(xs, lanes, wanted, width, arrays[-1].reshape(()), out_tree)
        return [np.stack([np.asarray(ck, dtype=s.dtype).reshape(s.shape) for ck in c])
                .reshape(batch + tuple(s.shape)) for c, s in zip(cots, cot_specs)]

    def one(vals: list[Any]) -> list[np.ndarray]:
        cots = call.cotangents(vals[:nxs], vals[nxs:-1], wanted, None, vals[-1], out_tree)
        return [np.asarray(c, dtype=s.dtype).reshape(s.shape) for c, s in zip(cots, cot_specs)]

    return map_leading(one, arrays, nds, cot_specs)
