"""The recording of calls: each NumPy call with a tracked argument becomes one tape entry.

:func:`record` unwraps the arguments to their raw values (:func:`_unwrap`), resolves how
the call is served (:func:`_plan`, cached per function and argument signature), runs
the rule's forward with the copy-on-write bookkeeping (:func:`_run_forward`), wraps the
outputs in stand-ins (:func:`_new_output`, :func:`_wrap`) and pushes the tape entry.
``np.array`` of lists holding tracked values is recorded too (:func:`construct`).
"""

from __future__ import annotations

import operator
import sys
from typing import Any, Callable

import numpy as np

from ..activity import Active, BatchDuplicated, Const, Duplicated, RevConfig, RuleError
from ..dispatch import ARRAY as ARRAY_KIND
from ..dispatch import check_call, check_positional, check_values, registry
from ..dispatch.lifting import returned_pair_message
from . import standins
from .arguments import _bind_keywords, _seq_tape, make_annotations, takes_sequences
from .inert import Inert, InertScalar, holds_inert, inert_call, promote, untracked_call
from .outputs import _held_by, _new_output, _wrap_output
from .standins import _EMPTY, Tracked, TrackedScalar, _untracked_error, new_root, new_scalar, raw
from .tape import (
    ARRAY,
    CAREFUL,
    DIRECT,
    LANES,
    LIFTED,
    RESOLVED,
    SCALAR,
    SEQ,
    TRUSTED,
    Cell,
    Entry,
    Tape,
)
from .views import _pin, prepare_write

__all__ = ["record", "construct"]

_rc = sys.getrefcount

_CFG: dict[Any, RevConfig] = {}


def _cfg(acts: tuple[type, ...], width: int) -> RevConfig:
    key = (acts, width)
    cfg = _CFG.get(key)
    if cfg is None:
        cfg = _CFG[key] = RevConfig(acts, True, width or 1)
    return cfg


def _nested() -> Any:
    """The module recording nested differentiations (imported when first needed)."""
    from . import nested
    return nested


class _OtherLevel(Exception):
    """A stand-in of another differentiation among a call's arguments: the call is
    recorded again at the deepest level (higher order, :mod:`.nested`)."""


def _seq_arg(a: Any, tape: Tape, nested: bool = False) -> tuple[list[Any], list[Any], list[Cell], list[Any]]:
    """A list/tuple argument holding tracked values, as a sequence of arrays:
    (elements, raw values, cells, views). A tracked number, or a list holding
    tracked values, becomes a tracked array (np.asarray, recorded), a constant a
    constant float array with a scratch shadow. ``nested``: an enclosing level's
    stand-in is a constant element (else it raises :class:`_OtherLevel`)."""
    items: list[Any] = []
    vals: list[Any] = []
    cells: list[Cell] = []
    views: list[Any] = []
    for e in a:
        t = type(e)
        if t is TrackedScalar or ((t is list or t is tuple) and _seq_tape(e) is not None):
            e = construct(_ASARRAY, e, (), _EMPTY)  # np.asarray(e): recorded through setitem
            t = type(e)
        if t is Tracked and e._tape is not tape and nested:  # an enclosing level's: a constant
            vals.append(e)
            cells.append(Cell(e.shape, e.dtype))
            views.append(None)
        elif t is Tracked:
            if e._tape is not tape:
                raise _OtherLevel
            vals.append(e._a)
            cells.append(e._cell)
            views.append(e._view)
        else:
            v = e._a if t is Inert else e  # an inert element: pinned as its stand-in (record)
            if not (isinstance(v, np.ndarray) and v.dtype.kind in "fc"):
                v = e = _ASARRAY(v)
                if v.dtype.kind not in "fc":  # an integer constant among active arrays
                    v = e = v.astype(np.float64)
            elif t is np.ndarray and v.flags.writeable:  # a plain array: the rule's own copy (record)
                v = e = v.copy(order="K")
            vals.append(v)
            cells.append(Cell(v.shape, v.dtype))  # a scratch shadow, discarded
            views.append(None)
        items.append(e)
    return items, vals, cells, views


def record(fn: Any, args: tuple[Any, ...], kwargs: dict[str, Any] = _EMPTY,
           mutates: tuple[int, ...] = (), at: Tape | None = None) -> Any:
    """Call ``fn(*args, **kwargs)``; if an argument is tracked, through its resolved
    rule, recording the call on the tape and returning tracked outputs.
    ``mutates`` lists the positions the call writes into; ``at``: the level to record at (:mod:`.nested`)."""
    if kwargs:
        args, kwargs = _bind_keywords(fn, args, kwargs)
    tape = at
    for a in args if at is None else ():
        t = type(a)
        if t is Tracked or t is TrackedScalar:
            tape = a._tape
            break
        if t is list or t is tuple:
            tape = _seq_tape(a)
            if tape is not None:
                break
    if tape is None:  # no active value: plain NumPy (on the raw values of inert stand-ins)
        return untracked_call(fn, args, kwargs, mutates)
    if mutates and not _prepare_writes(fn, args, mutates, tape):
        return inert_call(fn, args, kwargs, mutates, tape)
    try:
        sig, vals, binds, arrays = _unwrap(fn, args, tape, mutates, at is not None)
    except _OtherLevel:  # values of several differentiations meet: record at the deepest
        return record(fn, args, kwargs, mutates, _nested().call_level(args, mutates))
    plan = _plan_of(fn, sig, tape, mutates)
    res, _, form, _, mode, _, _, by_value = plan
    if by_value or (kwargs and res.entry.params is not None):
        _check_honesty(res.entry, fn, vals, by_value, kwargs)
    cap = tape.capture  # replay (capture.py): every value made is reported
    if form == "inactive":
        return fn(*vals, **kwargs) if cap is None else cap.inactive(fn, args, vals, kwargs)
    y0, reverse, anns = _run_forward(plan, vals, kwargs, arrays, tape)
    y: Any
    if type(y0) is np.ndarray and y0.base is None and y0.dtype.kind in "fc":  # the common case
        y = _new_output(y0, arrays, args, tape)
        out = y._cell
    elif y0 is None:  # a mutating call (setitem, copyto)
        y = out = None
    elif type(y0) is np.float64 or type(y0) is float:  # a scalar result (a reduction, an element)
        y = new_scalar(y0, tape)
        out = y._cell
    else:
        out, y = _wrap_output(y0, res.label, args, vals, tape)
    if out is None and not mutates:  # nothing a derivative flows through: no entry
        if cap is not None:
            cap.rule(plan, args, vals, kwargs, y0, y, None, tape.width, make_annotations)
        return y
    # mode LIFTED has no annotations: its entry holds the argument count (for check_count)
    step = Entry()
    step.reverse, step.anns, step.binds = reverse, len(vals) if anns is None else anns, binds
    step.out, step.mutates, step.mode, step.label = out, mutates, mode, res.label
    tape.entries.append(step)
    if cap is not None:
        cap.rule(plan, args, vals, kwargs, y0, y, step, tape.width, make_annotations)
    return y


def _check_honesty(entry: Any, fn: Any, vals: list[Any], by_value: Any, kwargs: dict[str, Any]) -> None:
    """The registry's checks that a call's parameters are ones the rule implements."""
    if by_value:  # positional parameters the rule does not implement, given their default's type
        check_values(entry, fn, vals, by_value)
    if kwargs and entry.params is not None:
        check_call(entry, fn, (), kwargs)  # keyword honesty (the positional ones: in _plan)


def _plan_of(fn: Any, sig: list[Any], tape: Tape, mutates: tuple[int, ...]) -> tuple[Any, ...]:
    """The plan of a call (see :func:`_plan`): the resolution and its consequences, cached
    per (fn, width, mutates, signature) and registry generation (a registration bumps it)."""
    reg = registry if tape.registry is None else tape.registry
    plans = _PLANS
    if plans[0] is not reg or plans[1] != reg.generation:
        plans = _plans_for(reg)
    plan_key = (fn, tape.width, mutates, *sig)
    plan = plans[2].get(plan_key)
    if plan is None:
        plan = plans[2][plan_key] = _plan(reg, fn, sig, tape.width, mutates)
    return plan  # type: ignore[no-any-return]


def _prepare_writes(fn: Any, args: tuple[Any, ...], mutates: tuple[int, ...], tape: Tape) -> bool:
    """Before a call with active values writes into the arguments at positions ``mutates``:
    each must be a stand-in, an inert one promoted (runtime activity), moved to a copy
    first if some reverse still reads its buffer. False for an inert integer target (the
    cast's derivative is zero: the call runs as plain NumPy)."""
    for i in mutates:
        m = args[i]
        if type(m) is Inert and m._tape is tape:
            if m._a.dtype.kind not in "fc":
                return False
            promote(m)
        elif type(m) is not Tracked:
            raise _untracked_error(f"an active value was written into an untracked array by "
                                   f"{getattr(fn, '__name__', fn)}")
        prepare_write(m, args)
    return True


def _unwrap(fn: Any, args: tuple[Any, ...], tape: Tape, mutates: tuple[int, ...] = (),
            nested: bool = False) -> tuple[list[Any], list[Any], list[Any], list[Any]]:
    """The arguments of a call as its rule receives them: (signature, raw values, bindings,
    arrays). Per argument, its place in the signature: Tracked, an _ActiveKey, _SEQ_KEY or
    the Const's type; per active one, its binding (position, kind, cell(s), view(s)); per
    array, (position, raw array, stand-in or None, the array owning its memory): the arrays
    whose reference counts tell whether the rule kept them (see :func:`_run_forward`).
    A stand-in of another tape raises :class:`_OtherLevel`, unless ``nested`` (``tape`` is
    the deepest level of the call): then it is an enclosing level's, a constant here, and a
    plain buffer in ``mutates`` receiving one is promoted (:func:`.nested.promote`)."""
    sig: list[Any] = []
    vals: list[Any] = []
    binds: list[Any] = []
    arrays: list[Any] = []
    i = 0
    for a in args:
        t = type(a)
        if (t is Tracked or t is TrackedScalar) and a._tape is not tape:  # higher order
            _other_level(a, nested, sig, vals)
        elif t is Tracked:
            v = a._a
            sig.append(Tracked)
            binds.append((i, ARRAY, a._cell, a._view))
            arrays.append((i, v, a, v.base))
            vals.append(v)
        elif t is TrackedScalar:
            v = a._v
            key = _ACTIVE_KEYS.get(type(v))
            sig.append(key if key is not None else _active_key(
                type(v) if type(v) is not TrackedScalar else _nested().const_key(v)))
            binds.append((i, SCALAR, a._cell, None))
            vals.append(v)
        elif (t is list or t is tuple) and _seq_tape(a) is not None:
            _unwrap_list(fn, i, a, tape, (sig, vals, binds, arrays), nested)
        elif t is Inert:  # a constant whose storage copy-on-write protects (no lock, no copy)
            v = a._a
            sig.append(np.ndarray)
            arrays.append((i, v, a, v.base))
            vals.append(v)
        elif t is InertScalar:  # a constant number (a replayed function recording)
            sig.append(type(a._v))
            vals.append(a._v)
        else:
            sig.append(t)
            if t is np.ndarray:
                if a.flags.writeable:
                    # a plain array (made by f, or a global): NumPy tells nobody of a write
                    # into it, so the rule gets its own copy and f may write into it later
                    a = a.copy(order="K")
                else:
                    arrays.append((i, a, None, a.base))
            elif (t is list or t is tuple) and holds_inert(a):
                a = t(raw(e) for e in a)  # inert masks or indices in a constant list: their values
            vals.append(a)
        i += 1
    if mutates and tape.nested:  # a plain buffer receiving an enclosing level's value
        _nested().promote(args, vals, mutates, tape)
    return sig, vals, binds, arrays


def _other_level(a: Any, nested: bool, sig: list[Any], vals: list[Any]) -> None:
    """A stand-in of another differentiation among a call's arguments: raise
    :class:`_OtherLevel` (record at the deepest level), or, ``nested`` (this is the
    deepest), an enclosing level's value: a constant here, passed as it is."""
    if not nested:
        raise _OtherLevel
    sig.append(_nested().const_key(a))
    vals.append(a)


def _unwrap_list(fn: Any, i: int, a: Any, tape: Tape, into: tuple[list[Any], ...],
                 nested: bool = False) -> None:
    """A list/tuple argument at position ``i`` holding tracked values, appended to ``into``
    (see :func:`_unwrap`): a sequence of arrays for a function that takes one
    (:func:`.arguments.takes_sequences`), else one array (``np.asarray(a)``, recorded)."""
    sig, vals, binds, arrays = into
    if takes_sequences(fn):
        items, seq_vals, cells, views = _seq_arg(a, tape, nested)
        sig.append(_SEQ_KEY)
        binds.append((i, SEQ, cells, views))
        for e in items:  # conservatively, the rule may keep any element: pin (or lock) them all
            _pin((None, e._a, e, None) if type(e) is Tracked or type(e) is Inert else (None, e, None, None),
                 tape)
        vals.append(seq_vals)
        return
    a = construct(_ASARRAY, a, (), _EMPTY)  # an array_like argument: np.asarray(a), recorded
    if type(a) is Tracked and a._tape is not tape:  # levels differ (higher order)
        if not nested:
            raise _OtherLevel
        sig.append(np.ndarray)  # an enclosing level's: a constant here
        vals.append(a)
        return
    if type(a) is not Tracked:  # a cast to a non-float array: a constant
        sig.append(type(a))
        if type(a) is np.ndarray:
            arrays.append((i, a, None, a.base))
        vals.append(a)
        return
    v = a._a
    sig.append(Tracked)
    binds.append((i, ARRAY, a._cell, a._view))
    arrays.append((i, v, a, v.base))
    vals.append(v)


def _run_forward(plan: tuple[Any, ...], vals: list[Any], kwargs: dict[str, Any], arrays: list[Any],
                 tape: Tape) -> tuple[Any, Any, Any]:
    """Run the rule's forward on the raw values: (output, reverse, annotations).

    Copy-on-write bookkeeping: reference counts of the array arguments (and of the
    arrays owning their memory) before and after the call tell whether the rule kept a
    reference, i.e. whether its reverse may read the buffer; if so its root is pinned.
    Every count is taken through ``e[...]`` so the engine's own references are the same
    both times (which is why this runs in one frame with the output ``y``)."""
    res, acts_t, _, lifted, mode, drop, cfg, _ = plan
    entry = res.entry
    # the engine lifts an rrule itself (see lifted._reverse_lifted): no annotations
    anns: Any = None if lifted else make_annotations(acts_t, vals, tape.width)
    before = []
    for e in arrays:
        before.append(_rc(e[1]))
        before.append(_rc(e[3]))
    cap = tape.capture  # recording for replay: a call that raises or warns is watched
    if cap is not None:
        cap.begin_watch()
    try:
        if lifted:
            pair = entry.impl(*vals, **kwargs)
        elif mode.direct:  # DIRECT or TRUSTED: the engine calls the rule itself
            pair = entry.impl(cfg, *anns, **kwargs)
        else:
            pair = res.call(cfg, *anns, **kwargs)
    except BaseException as err:
        if cap is not None:
            cap.end_watch(err)
        raise
    if cap is not None:
        cap.end_watch(None)
    if type(pair) is not tuple or len(pair) != 2:  # a rule that returned only its output
        raise RuleError(returned_pair_message(res.label, pair, "pullback" if lifted else "reverse"))
    y, reverse = pair
    del pair  # the reference counts below must not see it
    k = 0
    for e in arrays:
        if e[0] in drop:  # the reverse does not read ann.val: only what the rule kept counts
            if anns is not None:  # the annotation's own reference, dropped
                anns[e[0]].val = None
                held = _rc(e[1]) - before[k] + 1
            else:
                held = _rc(e[1]) - before[k]
            if e[3] is not None:
                held += _rc(e[3]) - before[k + 1]
            if held > 0:  # less the references the output itself holds (a view, or y is it)
                if type(y) is np.ndarray:  # _held_by, inlined for the common case
                    b = y.base
                    held -= (y is e[1]) + (b is e[1]) + (0 if e[3] is None else (y is e[3]) + (b is e[3]))
                else:
                    held -= _held_by(y, e[1]) + (0 if e[3] is None else _held_by(y, e[3]))
        else:  # the reverse may read ann.val: the value is needed whatever the rule kept
            held = 1
        k += 2
        if held > 0:
            _pin(e, tape)
    return y, reverse, anns


class _ActiveKey:
    """A tracked number's place in a call signature (``type``: its value's type)."""

    __slots__ = ("type",)

    def __init__(self, t: type) -> None:
        self.type = t


_ACTIVE_KEYS: dict[type, _ActiveKey] = {}
_SEQ_KEY: Any = object()  # a sequence of arrays holding tracked values


def _active_key(t: type) -> _ActiveKey:
    k = _ACTIVE_KEYS.get(t)
    if k is None:
        k = _ACTIVE_KEYS[t] = _ActiveKey(t)
    return k


def _plans_for(reg: Any) -> list[Any]:
    global _PLANS
    _PLANS = [reg, reg.generation, {}]
    return _PLANS


_PLANS: list[Any] = [None, -1, {}]  # [the registry, its generation the plans were made under, plans]


def _plan(reg: Any, fn: Any, sig: list[Any], width: int, mutates: tuple[int, ...]) -> tuple[Any, ...]:
    """How ``record`` serves ``fn`` for an argument signature: (resolution, activities,
    form, lifted, mode, the positions whose ann.val is dropped after the call, RevConfig, the
    positions whose values keyword honesty checks at each call). Raises ParameterError."""
    dup = BatchDuplicated if width else Duplicated
    acts: list[type] = []
    types: list[Any] = []
    for k in sig:
        if k is Tracked:
            acts.append(dup)
            types.append(np.ndarray)
        elif type(k) is _ActiveKey:
            acts.append(Active)
            types.append(k.type)
        elif k is _SEQ_KEY:
            acts.append(dup)
            types.append(ARRAY_KIND)  # a sequence of arrays
        else:
            acts.append(Const)
            types.append(k)
    acts_t = tuple(acts)
    res = reg.resolve(fn, acts_t, tuple(types))  # raises NoRuleError (not cached here)
    by_value = check_positional(res.entry, fn, tuple(sig), tuple(a is not Const for a in acts_t))
    form = res.entry.form
    if form == "inactive":
        return res, acts_t, form, False, None, (), None, ()
    lifted = form == "rrule" and not width and not mutates
    if lifted:
        mode = LIFTED
    elif width and dup not in acts:
        mode = LANES
    elif form == "rrule":
        mode = RESOLVED
    elif not width and not res.lanes and res.inner_activities == acts_t:
        # res.call would only wrap entry.impl in the guard the sweep applies itself
        mode = TRUSTED if res.entry.atomic else DIRECT
    else:
        mode = CAREFUL
    # the positions whose ann.val is cleared after the call (an rrule gets values, not
    # annotations; a rule declares keeps=); none in a batch, whose lanes re-run the reverse
    drop = () if width else tuple(i for i in range(len(sig)) if form == "rrule" or not res.entry.keeps_value(i))
    batch_request = width and dup in acts  # only array arguments make a request batch
    cfg = None if lifted else _cfg(acts_t, width if batch_request else 0)
    return res, acts_t, form, lifted, mode, drop, cfg, by_value


# -- np.array / np.asarray of (nested) sequences holding tracked values ---------------------

_NOTHING: Any = object()
_ASARRAY = np.asarray  # the original, captured before a forward pass swaps the module attribute


def _leaves(obj: Any, path: tuple[int, ...], found: list[tuple[tuple[int, ...], Any]]) -> Any:
    """``obj`` with every tracked stand-in replaced by its primal; the stand-ins and
    their index paths are appended to ``found``."""
    t = type(obj)
    if t is Tracked or t is TrackedScalar:
        found.append((path, obj))
        v = raw(obj)
        t = type(v)  # a value of an enclosing level (higher order): a placeholder, written in below
        return v if t is not Tracked and t is not TrackedScalar else np.zeros(v.shape, v.dtype)
    if t is list or t is tuple:
        return [_leaves(e, (*path, i), found) for i, e in enumerate(obj)]
    return obj


def construct(orig: Callable[..., Any], obj: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """``orig(obj, *args, **kwargs)`` (``np.array``, ``np.asarray``, ``np.asanyarray``) for an
    ``obj`` holding tracked values: a new tracked array, each stand-in written into it by
    a recorded ``operator.setitem``, so its cotangent flows back through that rule. A lone
    tracked array that needs no copy or cast is returned itself, as NumPy would.
    Returns ``_NOTHING`` if ``obj`` holds no tracked value (in a list or tuple)."""
    found: list[tuple[tuple[int, ...], Any]] = []
    plain = _leaves(obj, (), found)
    if not found:
        return _NOTHING
    y = orig(plain, *args, **kwargs)
    if not isinstance(y, np.ndarray) or y.dtype.kind not in "fc":  # a cast to int/bool: no derivative
        if found[0][1]._tape.capture is not None:
            found[0][1]._tape.capture.fail("active values cast to an array without derivative")
        return y
    if y is plain:  # NumPy made no copy (np.asarray(x)): x itself, writes through it reach x
        return obj
    if len(found) == 1 and found[0][1] is obj and np.shares_memory(y, plain):
        # a view NumPy made of x (np.ascontiguousarray of a 0-d x is 1-d): the same view of x
        return obj.reshape(y.shape)
    tape = found[0][1]._tape
    if any(leaf._tape is not tape for _, leaf in found):  # levels differ: the deepest (higher order)
        tape = _nested().call_level(tuple(leaf for _, leaf in found), ())
    buf = new_root(y, tape)
    if tape.capture is not None:  # its values at the leaves are written below, by setitem
        tape.capture.fresh(y)
    lead = (0,) * (y.ndim - np.ndim(plain)) if kwargs.get("ndmin") else ()
    for path, leaf in found:
        record(operator.setitem, (buf, (*lead, *path), leaf), mutates=(0,))
    return buf


standins.record = record  # late binding (see standins)
