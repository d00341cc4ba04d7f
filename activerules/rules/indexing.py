"""Rules for indexing and assignment: ``x[i]``, ``x[i] = v``, ``np.copyto``.

The engine turns basic indexing that yields an array into a view (no rule
needed: a view's shadow is the same view of the base's shadow) and calls
``operator.getitem`` for the rest (advanced indexing, single elements).
Assignments mutate their first argument and follow Enzyme's convention: on
entry to ``reverse`` the target's shadow holds the cotangent of its value
*after* the call, on exit that of its value *before* (the overwritten part is
zeroed, its cotangent goes to the assigned value). A Const target gives the
assigned value no cotangent (no derivative is wanted through it; the engine
itself refuses to write active values into untracked arrays). None of these
reverses reads a primal, so the engine preserves nothing for them, and each is
atomic (it computes the cotangent it delivers before it writes a shadow).
"""

from __future__ import annotations

import operator
from typing import Any

import numpy as np

from ..activity import Active, Annotation, Duplicated
from ..dispatch import Sample as S
from ..dispatch import rule
from ._util import accumulate, fit, like

_A = np.array([[0.5, -1.2, 2.0], [1.5, 0.3, -0.7]])


def _basic(idx: Any) -> bool:
    parts = idx if isinstance(idx, tuple) else (idx,)
    return all(isinstance(i, (int, np.integer, slice, type(None), type(Ellipsis)))
               and not isinstance(i, bool) for i in parts)


def _lane_index(idx: Any) -> Any:
    """``idx`` for a shadow stacked on a leading lane axis (``(k, *shape)``): a full slice in
    front; None where NumPy would move the indexed axes in front of it (advanced indices
    apart from each other), so each lane is indexed alone (see :func:`_per_lane`)."""
    parts = idx if isinstance(idx, tuple) else (idx,)
    arrays = [isinstance(p, (list, np.ndarray)) for p in parts]
    if any(arrays):  # with an array among them, integers are advanced indices too
        adv = [j for j, (p, a) in enumerate(zip(parts, arrays)) if a or isinstance(p, (int, np.integer))]
        if adv[-1] - adv[0] + 1 != len(adv):
            return None
    return (slice(None), *parts)


def _scatter(d: Any, i: Any, dy: Any, basic: bool) -> None:
    """``d[i] += dy``; repeated (advanced) indices accumulate."""
    if basic:
        d[i] += dy
    else:
        np.add.at(d, i, dy)


def _scatter_lanes(d: Any, i: Any, dy: Any, basic: bool) -> None:
    """:func:`_scatter` into a shadow stacked on a leading lane axis."""
    li = _lane_index(i)
    if li is None:  # an index that cannot address the lanes at once: lane by lane
        for lane, g in zip(d, dy):
            _scatter(lane, i, g, basic)
    else:
        _scatter(d, li, dy, basic)


@rule(operator.getitem, Annotation, Annotation, atomic=True, params=(), keeps=(), batched=True,
      samples=[S(_A, (1, slice(None))), S(_A, ([0, 1, 1], [2, 0, 2])), S(_A, (0, 1)),
                  S(_A, _A > 0), S(_A.reshape(2, 3, 1), ([1, 0, 1], slice(None), [0, 0, 0]))])
def _getitem(cfg: Any, x: Any, idx: Any) -> tuple[Any, Any]:
    i = idx.val
    y = x.val[i]
    gather = _basic(i)
    yn = y.ndim  # (x.val[i]: an array or a NumPy scalar)

    def reverse(dy: Any) -> Any:
        if isinstance(x, Duplicated):
            if type(dy) is np.ndarray and dy.ndim > yn:  # stacked lanes (no call per op otherwise)
                _scatter_lanes(x.dval, i, dy, gather)
            elif gather:
                x.dval[i] += dy
            else:
                np.add.at(x.dval, i, dy)  # repeated indices accumulate
        return None

    return y, reverse


@rule(operator.setitem, Annotation, Annotation, Annotation, atomic=True, params=(), keeps=(), batched=True,
      samples=[S(_A, (0, slice(1, 3)), np.array([4.0, 5.0])), S(_A, (1, 2), 2.5),
                  S(_A, ([0, 1],), np.array([7.0, 8.0, 9.0])),
                  S(_A, (np.array([1, 0, 1]), np.array([2, 0, 2])), np.array([1.5, 2.5, 3.5])),
                  S(_A.reshape(2, 3, 1), ([1, 0, 1], slice(None), [0, 0, 0]), 0.5)])
def _setitem(cfg: Any, x: Any, idx: Any, v: Any) -> tuple[Any, Any]:
    i = idx.val
    x.val[i] = v.val
    template = like(v.val)
    survivors = _last_writes(x.val.shape, i)
    xn = x.val.ndim

    def reverse(_: Any) -> Any:
        if not isinstance(x, Duplicated):  # a Const target: nothing flows to v
            return (None, None, None) if isinstance(v, Active) else None
        dx = x.dval
        # stacked lanes: the lane index, None where the lanes are indexed one by one
        li = _lane_index(i) if dx.ndim > xn else i
        d = np.stack([lane[i] for lane in dx]) if li is None else np.array(dx[li], copy=True)
        if survivors is not None:
            d *= survivors
        d = fit(d, template)  # summed back to v's shape, cast: before any shadow is written
        if li is None:
            for lane in dx:
                lane[i] = 0
        else:
            dx[li] = 0
        out = accumulate(v, d, template)
        return None if out is None else (None, None, out)

    return None, reverse


def _last_writes(shape: tuple[int, ...], index: Any) -> np.ndarray | None:
    """For an advanced index that repeats a position, a mask over ``x[index]``
    marking the writes that survive (NumPy keeps the last); None when every
    position is written once, as with basic indexing."""
    parts = index if isinstance(index, tuple) else (index,)
    if not any(isinstance(p, (list, np.ndarray)) for p in parts):
        return None
    writer = np.full(shape, -1, dtype=np.intp)
    order = np.arange(writer[index].size).reshape(np.shape(writer[index]))
    writer[index] = order
    survived = writer[index] == order
    return None if survived.all() else survived


@rule(np.copyto, Annotation, Annotation, atomic=True, params="casting where", keeps=(), batched=True,
      samples=[S(_A, np.array([1.0, 2.0, 3.0])), S(_A, 0.5), S(_A, np.array([1.0, 2.0, 3.0]), where=_A > 0),
               S(_A.astype(np.float32), np.array([1.0, 2.0, 3.0]), casting="unsafe")])
def _copyto(cfg: Any, dst: Any, src: Any, casting: Any = "same_kind", where: Any = True) -> tuple[Any, Any]:
    np.copyto(dst.val, src.val, casting=casting, where=where)  # type: ignore[arg-type]
    template = like(src.val)
    mask = None if where is True else np.asarray(where)

    def reverse(_: Any) -> Any:
        if not isinstance(dst, Duplicated):  # a Const target: nothing flows to src
            return (None, None) if isinstance(src, Active) else None
        if mask is None:
            d = fit(dst.dval.copy(), template)  # computed before any shadow is written
            dst.dval[...] = 0
        else:
            m = np.broadcast_to(mask, dst.dval.shape)
            d = fit(np.where(m, dst.dval, 0), template)
            dst.dval[m] = 0
        out = accumulate(src, d, template)
        return None if out is None else (None, out)

    return None, reverse
