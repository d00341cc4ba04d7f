"""The sweep's fast path for rrule pullbacks (mode LIFTED), and the adoption of a cotangent
a hand-written rule hands over as a fresh shadow.

The cotangents are checked by ``dispatch.lifting`` (``check_count``, ``check_array``...),
the one checker the registry's lifting, the adapters and ``check_rule`` share; what is the
engine's own is delivery: a cotangent for a shadow nobody wrote yet becomes that shadow.
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np

from ..activity import RuleError
from ..dispatch.lifting import Thunk, check_active, check_array, check_count, check_duplicated
from .donation import DONATE_MIN
from .tape import ARRAY, SCALAR, Cell
from .tape import call_reverse as _call
from .tape import raise_failure as _raise_failure

__all__: list[str] = []


def _reverse_lifted(pullback: Any, binds: list[Any], dret: Any, label: str, out: Any, n: int) -> None:
    """Run an rrule's pullback and deliver its cotangents, checked by dispatch's one
    checker (``check_count``, ``check_array``: as the registry's lifting and check_rule);
    ``n``: the call's argument count (the entry's ``anns`` slot in mode LIFTED). A
    cotangent for a shadow nobody wrote yet becomes that shadow without a copy, including
    the output's own shadow, which is released right after. Every cotangent is checked
    before any is delivered, so a failing rule leaves no partial accumulation."""
    spare = dret if type(out) is Cell else None  # the output shadow, free after this entry
    try:
        big = spare is not None and type(dret) is np.ndarray and dret.size >= DONATE_MIN
        cots = _call(pullback, dret, True) if big else pullback(dret)  # donated where it can be
    except Exception as e:
        _raise_failure(label, e, pullback, True)
    if type(cots) is not tuple or len(cots) != n:  # the common case needs no call
        cots = check_count(label, cots, n)
    ready: list[Any] = []
    for i, kind, cell, view in binds:
        c = cots[i]
        if c is None:
            continue
        if type(c) is Thunk:
            c = c.fn()
            if c is None:
                continue
        if kind == SCALAR:
            ready.append((kind, cell, None, check_active(label, i, c, cell.dtype.type(0))))
        elif kind == ARRAY:
            shape = cell.shape if view is None else view(cell.ensure(0)).shape
            if type(c) is not np.ndarray or c.shape != shape or c.dtype != cell.dtype:
                c = check_array(label, i, c, shape, cell.dtype)
            ready.append((kind, cell, view, c))
        else:
            shadows = [x.ensure(0) if v is None else v(x.ensure(0)) for x, v in zip(cell, view)]
            ready.append((kind, cell, view, check_duplicated(label, i, c, shadows)))
    del cots
    for kind, cell, view, c in ready:
        if kind == SCALAR:
            cell.shadow = c if cell.shadow is None else cell.shadow + c
        elif kind == ARRAY:
            s = cell.shadow
            if (s is None and view is None and type(c) is np.ndarray and c.dtype == cell.dtype
                    and (c.flags.c_contiguous if cell.layout is None else cell.fits(c))):  # fits(c), inlined
                if c is spare:  # identity-like pullback: take over the output's shadow
                    cell.shadow = c
                    spare = None
                    continue
                if c.base is None and c.flags.writeable and sys.getrefcount(c) <= 3:
                    cell.shadow = c  # a fresh cotangent nobody else holds: it becomes the shadow
                    continue
            if s is None:
                s = cell.ensure(0)
            if view is None:
                s += c
            else:
                view(s)[...] += c
        else:
            for cc, v, ci in zip(cell, view, c):
                if ci is not None:
                    s = cc.ensure(0)
                    (s if v is None else v(s))[...] += ci


def _adopted(label: str, d: Any, zeros: np.ndarray, dret: Any) -> Any:
    """The shadow of a fresh cell whose rule handed its cotangent ``d`` over (``ann.fresh``,
    see ``rules._util._hand``): ``d`` itself when nothing else can see it (a fresh
    array, or the output's cotangent, which this entry releases), else ``zeros + d``."""
    if type(d) is np.ndarray and d.shape == zeros.shape and d.dtype == zeros.dtype and d.strides == zeros.strides:
        # references: ann.dval, the caller's ``d``, this parameter, getrefcount's argument
        if d is dret or (d.base is None and d.flags.writeable and sys.getrefcount(d) <= 4):
            return d
    try:
        zeros += d
    except Exception as e:
        raise RuleError(f"{label}: the cotangent handed over as a fresh shadow does not fit it "
                        f"(shape {zeros.shape}, dtype {zeros.dtype}): {e}") from e
    return zeros
