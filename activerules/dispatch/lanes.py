"""Batch lanes: serve a BatchDuplicated request with a width-1 rule.

The augmented forward runs once, on lane 0's shadows. The reverse of a rule
declared ``batched=True`` (its reverse broadcasts over a leading lane axis) runs
once for all lanes, on stacked ``(k, *shape)`` cotangents and shadows
(:func:`stacked`); any other rule's reverse runs once per lane after pointing every
batch argument's annotation at that lane's shadow (:func:`lanes`; rules read
shadows through their annotations at reverse time).
"""

from __future__ import annotations

import threading
import weakref
from typing import Any, Callable, Sequence

import numpy as np

from ..activity import (
    Active,
    BatchDuplicatedNoNeed,
    Duplicated,
    DuplicatedNoNeed,
    RevConfig,
    annotate,
    is_batch,
)

__all__ = ["unbatched_activities", "lanes", "stacked", "stacked_view", "stacked_rows", "lane_count",
           "lanes_donated", "released_lanes"]


def unbatched_activities(activities: tuple[type, ...]) -> tuple[type, ...]:
    """The width-1 request each lane makes: BatchDuplicated → Duplicated.

    >>> from activerules.activity import BatchDuplicated, Const
    >>> [a.__name__ for a in unbatched_activities((BatchDuplicated, Const))]
    ['Duplicated', 'Const']
    """
    return tuple(
        (DuplicatedNoNeed if issubclass(a, BatchDuplicatedNoNeed) else Duplicated) if is_batch(a) else a
        for a in activities)


def lanes(rule: Callable[..., Any], activities: tuple[type, ...]) -> Callable[..., Any]:
    """Wrap a width-1 ``rule`` (written for ``unbatched_activities(activities)``)
    so it serves the batch request ``activities``.

    >>> import numpy as np
    >>> from activerules.activity import BatchDuplicated, RevConfig
    >>> def double(cfg, x):
    ...     def reverse(g):
    ...         x.dval += 2 * g
    ...     return 2 * x.val, reverse
    >>> x = BatchDuplicated(np.ones(2), (np.zeros(2), np.zeros(2)))
    >>> y, reverse = lanes(double, (BatchDuplicated,))(RevConfig((BatchDuplicated,), width=2), x)
    >>> reverse((np.ones(2), np.full(2, 3.0))); x.dvals
    (array([2., 2.]), array([6., 6.]))
    """
    inner_acts = unbatched_activities(activities)
    batch_pos = tuple(i for i, a in enumerate(activities) if is_batch(a))

    def batched(cfg: Any, *args: Any, **kwargs: Any) -> tuple[Any, Any]:
        inner = list(args)
        for i in batch_pos:
            inner[i] = annotate(inner_acts[i], args[i].val, args[i].dvals[0])
        inner_cfg = RevConfig(inner_acts, cfg.needs_primal, 1, cfg.overwritten)
        y, reverse = rule(inner_cfg, *inner, **kwargs)

        def batched_reverse(drets: Any) -> Any:
            return _lane_by_lane(reverse, args, inner, batch_pos, drets)

        return y, batched_reverse

    batched.__name__ = getattr(rule, "__name__", "rule")
    return batched


# -- stacked lanes: one reverse over a leading lane axis ------------------------------------

class _LaneAxis(threading.local):
    # per thread; the class attributes are the defaults
    k: int = 0           # lanes of the reverse running on stacked lanes (0: none)
    g: Any = None        # its stacked output cotangent, when it may compute in it
    released: Any = None  # the output cotangents (a tuple of lanes) the engine gives away


_lane_axis = _LaneAxis()


class released_lanes:
    """``with released_lanes(drets): reverse(drets)``: the engine's word that it never reads
    the lanes ``drets`` again, so a reverse on stacked lanes may compute in them (see
    :func:`lanes_donated`); the batch counterpart of ``engine.donation.donating``.

    >>> z = np.zeros((2, 3)); drets = tuple(z)
    >>> with released_lanes(drets):
    ...     _lane_axis.released is drets
    True
    """

    __slots__ = ("lanes", "outer")

    def __init__(self, lanes: Any) -> None:
        self.lanes = lanes

    def __enter__(self) -> None:
        self.outer = _lane_axis.released
        _lane_axis.released = self.lanes

    def __exit__(self, *exc: Any) -> None:
        _lane_axis.released = self.outer


def lanes_donated(g: Any) -> bool:
    """Whether a reverse running on stacked lanes may compute its cotangent in its output
    cotangent ``g`` (``(k, *shape)``): it is a stacked copy, or a view of lanes the engine
    gave away. Rules ask it where they ask ``engine.donation.donated`` (one allocation of
    k·n elements fewer per call; on large arrays a fresh buffer is a pass of page faults).

    >>> lanes_donated(np.zeros(2))
    False
    """
    return g is not None and g is _lane_axis.g


def lane_count() -> int:
    """While the reverse of a rule declared ``batched=True`` runs on stacked lanes: the
    number of lanes, the length of the leading axis every output cotangent and shadow
    then carries (the helpers that shape cotangents, ``rules._util.unbroadcast`` and
    ``restore_axes``, keep that axis); 0 otherwise.

    >>> lane_count()
    0
    """
    return _lane_axis.k


def _address(a: np.ndarray) -> int:
    return a.__array_interface__["data"][0]  # type: ignore[no-any-return]


def stacked_view(lanes: Sequence[Any]) -> np.ndarray | None:
    """The ``(k, *shape)`` array whose rows are the ``k`` arrays ``lanes``, without a copy,
    when they are equal views into one buffer at a constant stride (the engine allocates
    a batch's shadows so); None otherwise. Rows never overlap: writes through the view
    land in the lanes.

    >>> z = np.zeros((3, 2))
    >>> v = stacked_view(tuple(z)); v[1] = 5.0; z[1]
    array([5., 5.])
    >>> stacked_view((z[0], z[0], z[1])) is None, stacked_view((z[1], z[0], z[2])) is None
    (True, True)
    """
    first = lanes[0]
    if type(first) is not np.ndarray or len(lanes) < 2:
        return None
    known = _known_rows(lanes)
    if known is not None:
        return known
    base = first.base
    if base is None:
        return None
    shape, strides = first.shape, first.strides
    for a in lanes:
        if type(a) is not np.ndarray or a.base is not base or a.shape != shape or a.strides != strides:
            return None
    p0 = _address(first)
    step = _address(lanes[1]) - p0
    extent = sum((n - 1) * abs(s) for n, s in zip(shape, strides)) + first.itemsize
    if abs(step) < extent or not first.flags.writeable:
        return None
    for j in range(2, len(lanes)):
        if _address(lanes[j]) != p0 + j * step:
            return None
    return np.lib.stride_tricks.as_strided(first, (len(lanes), *shape), (step, *strides))


#: id of a tuple made by :func:`stacked_rows` → (its buffer, its rows), all weakly held: a
#: hit is the same row objects (a reused id holds dead or other ones), and nothing is pinned
_ROWS: dict[int, tuple[Any, tuple[Any, ...]]] = {}


def stacked_rows(z: np.ndarray) -> tuple[np.ndarray, ...]:
    """The lanes of a batch shadow allocated stacked, ``z`` of shape ``(k, *shape)``: its rows
    (0-d ones stay arrays), as the tuple the engine keeps; :func:`stacked_view` finds ``z``
    from that tuple with a dict lookup, not by comparing the rows' addresses.

    >>> z = np.zeros((2, 3)); stacked_view(stacked_rows(z)) is z
    True
    """
    rows = tuple(z[j, ...] for j in range(len(z)))
    if len(_ROWS) >= 4096:  # ids of dead tuples pile up in long sessions
        _ROWS.clear()
    _ROWS[id(rows)] = (weakref.ref(z), tuple(weakref.ref(r) for r in rows))
    return rows


def _known_rows(lanes: Sequence[Any]) -> np.ndarray | None:
    """The buffer of a tuple made by :func:`stacked_rows` (its very rows), else None."""
    hit = _ROWS.get(id(lanes))
    if hit is None or len(hit[1]) != len(lanes):
        return None
    for w, a in zip(hit[1], lanes):
        if w() is not a:
            return None
    return hit[0]()  # type: ignore[no-any-return]


def _stack(lanes: Sequence[Any]) -> tuple[Any, bool]:
    """``lanes`` as one array with a leading lane axis, and whether it is a view of them."""
    v = stacked_view(lanes)
    if v is not None:
        return v, True
    return np.array(lanes), False  # (np.stack's checks cost more than the copy of small lanes)


def _stackable(args: tuple[Any, ...], batch_pos: tuple[int, ...], drets: Any) -> bool:
    """Whether a call can run stacked: every batch argument's shadows arrays of one shape and
    dtype, and the output cotangent one array or number per lane (or none)."""
    for i in batch_pos:
        if not _same_arrays(args[i].dvals):
            return False
    first = drets[0]
    if first is None:
        return all(d is None for d in drets)
    if type(first) is np.ndarray:
        return _same_arrays(drets)
    return all(type(d) is not np.ndarray and np.ndim(d) == 0 for d in drets)


def _same_arrays(lanes: Sequence[Any]) -> bool:
    first = lanes[0]
    if type(first) is not np.ndarray:
        return False
    shape, dtype = first.shape, first.dtype
    for a in lanes:
        if type(a) is not np.ndarray or a.shape != shape or a.dtype != dtype:
            return False
    return True


def stacked(rule: Callable[..., Any], activities: tuple[type, ...]) -> Callable[..., Any]:
    """Serve the batch request ``activities`` with a width-1 ``rule`` (written for
    ``unbatched_activities(activities)``) whose reverse broadcasts over a leading lane axis
    (registered ``batched=True``): the forward runs once, the reverse once for all lanes,
    on the output cotangents stacked ``(k, *shape)``, each batch argument's ``dval`` a
    ``(k, *shape)`` view of its lanes (or a stacked copy, written back), with
    :func:`lane_count` set. An Active argument's cotangent comes back with the lane axis,
    and is returned per lane. Calls that cannot be stacked (shadows that are not arrays,
    tuple outputs) run lane by lane (:func:`lanes`).

    >>> from activerules.activity import BatchDuplicated, RevConfig
    >>> def double(cfg, x):
    ...     def reverse(g):
    ...         x.dval += 2 * g         # g and x.dval are (lanes, 2)
    ...     return 2 * x.val, reverse
    >>> x = BatchDuplicated(np.ones(2), (np.zeros(2), np.zeros(2)))
    >>> y, reverse = stacked(double, (BatchDuplicated,))(RevConfig((BatchDuplicated,), width=2), x)
    >>> reverse((np.ones(2), np.full(2, 3.0))); x.dvals
    (array([2., 2.]), array([6., 6.]))
    """
    inner_acts = unbatched_activities(activities)
    batch_pos = tuple(i for i, a in enumerate(activities) if is_batch(a))
    active_pos = tuple(i for i, a in enumerate(activities) if issubclass(a, Active))

    def batched(cfg: Any, *args: Any, **kwargs: Any) -> tuple[Any, Any]:
        inner = list(args)
        for i in batch_pos:
            inner[i] = annotate(inner_acts[i], args[i].val, args[i].dvals[0])
        y, reverse = rule(RevConfig(inner_acts, cfg.needs_primal, 1, cfg.overwritten), *inner, **kwargs)

        def one_reverse(drets: Any) -> Any:
            if len(drets) < 2 or not _stackable(args, batch_pos, drets):
                return _lane_by_lane(reverse, args, inner, batch_pos, drets)
            return _stacked_reverse(reverse, args, inner, batch_pos, active_pos, drets)

        return y, one_reverse

    batched.__name__ = getattr(rule, "__name__", "rule")
    return batched


def _lane_by_lane(reverse: Callable[[Any], Any], args: tuple[Any, ...], inner: list[Any],
                  batch_pos: tuple[int, ...], drets: Any) -> Any:
    """The reverse once per lane, each batch argument's ``dval`` pointed at that lane."""
    per_lane = []
    for k, dret in enumerate(drets):
        for i in batch_pos:
            inner[i]._dval = args[i].dvals[k]
        per_lane.append(reverse(dret))
    if all(r is None for r in per_lane):
        return None
    return tuple(None if all(r is None or r[i] is None for r in per_lane)
                 else tuple(None if r is None else r[i] for r in per_lane)
                 for i in range(len(args)))


def _stacked_reverse(reverse: Callable[[Any], Any], args: tuple[Any, ...], inner: list[Any],
                     batch_pos: tuple[int, ...], active_pos: tuple[int, ...], drets: Any) -> Any:
    """One reverse on stacked lanes (see :func:`stacked`)."""
    k = len(drets)
    g, view = (None, True) if drets[0] is None else _stack(drets)
    owned = not view or _lane_axis.released is drets  # a copy, or lanes the engine gave away
    copies = []
    for i in batch_pos:
        d, view = _stack(args[i].dvals)
        if not view:
            copies.append((args[i].dvals, d, d.copy()))
        inner[i]._dval = d
    outer = _lane_axis.k, _lane_axis.g
    _lane_axis.k, _lane_axis.g = k, g if owned else None
    try:
        cots = reverse(g)
    finally:
        _lane_axis.k, _lane_axis.g = outer
    for lanes_, d, start in copies:
        # what the reverse added (or changed, in a mutated argument) is added to the lanes: other
        # arguments' lanes may be views of the same memory (x - x[::-1]), or one lane twice
        d -= start
        for lane, row in zip(lanes_, d):
            lane += row
    if cots is None or not active_pos:
        return cots
    return tuple(_split(c, k) if i in active_pos else None for i, c in enumerate(cots))


def _split(c: Any, k: int) -> Any:
    """An Active argument's stacked cotangent, per lane (a lane-free one: the same for each)."""
    if c is None:
        return None
    if np.ndim(c) == 0:
        return (c,) * k
    return tuple(c)  # one per lane; the guard checks there are k
