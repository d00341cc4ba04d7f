"""What the inspector can learn about a function without being told: its arity,
the kind of each argument from every source there is, inputs it can run on, and
what an rrule's pullback really computes.

Kinds come from, in this order: sample inputs (all positions at once); the rule
patterns, parametrised (``ar.Duplicated[np.ndarray]``) or not (a position
registered as ``Duplicated`` or a batch state is an array, ``Active`` a number);
the annotations of the function or its rrule. A position none of them tells is
enumerated under each kind it could have (array and scalar; a static argument
only admits ``Const``, which both already contain).

>>> import numpy as np
>>> generate_sample(np.linalg.solve, ("array", "array")).args[0].shape
(3, 3)
"""

from __future__ import annotations

import copy
import inspect as pyinspect
import itertools
import typing
from typing import Any

import numpy as np
import plum

from ..activity import Active, Annotation, Const, base_state
from ..dispatch import RuleRegistry, Sample, kind_of, kind_of_type
from ..dispatch.kinds import ARRAY, SCALAR, STATIC
from ..dispatch.lifting import Thunk, unthunk

__all__ = ["arity", "position_kinds", "annotated_output", "rrule_kinds", "enumerated_kinds", "generate_sample", "probe_pullback",
           "MAX_SIGNATURES", "SHAPES"]

#: beyond this many kind tuples a function's unknown positions are not enumerated
MAX_SIGNATURES = 16
#: the common shapes tried for generated array inputs, first the one the primal accepts
SHAPES: tuple[tuple[int, ...], ...] = ((3,), (3, 3), (2, 3, 3), ())


def _required_positional(fn: Any, skip: int = 0) -> int | None:
    try:
        sig = pyinspect.signature(fn)
    except (TypeError, ValueError):
        return None
    params = list(sig.parameters.values())[skip:]
    if any(p.kind is p.VAR_POSITIONAL for p in params):
        return None
    return sum(1 for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
               and p.default is p.empty)


def arity(fn: Any, reg: RuleRegistry) -> int | None:
    """The number of positional arguments ``fn``'s rules take, when something tells."""
    samples = reg.samples(fn)
    if samples:
        return len(samples[0].args)
    entries = reg.entries(fn)
    for e in entries:
        if e.form == "rule" and e.pattern and e.varargs is None:
            return len(e.pattern)
    for e in entries:
        if e.form == "rrule":
            n = _required_positional(e.impl)
            if n is not None:
                return n
    n = _required_positional(fn)
    if n is None and isinstance(getattr(fn, "nin", None), int):
        return int(fn.nin)
    return n


def _pattern_kinds(p: Any) -> set[str]:
    """Kinds a pattern entry implies: parametrised → its type's kind; the Duplicated
    family → array; Active → scalar; Const and Annotation → nothing."""
    if typing.get_origin(p) is typing.Union:
        return set().union(*(_pattern_kinds(m) for m in typing.get_args(p)))
    if getattr(p, "_concrete", False):
        return {kind_of_type(plum.type_parameter(p))}
    if not (isinstance(p, type) and issubclass(p, Annotation)) or p is Annotation:
        return set()
    state = base_state(p)
    if state is Active:
        return {SCALAR}
    return set() if state is Const else {ARRAY}


def _annotation_kinds(fn: Any, n: int) -> dict[int, str]:
    try:
        params = list(pyinspect.signature(fn).parameters.values())[:n]
        hints = typing.get_type_hints(fn)
    except Exception:  # builtins, ufuncs, unresolvable hints
        return {}
    return {i: kind_of_type(hints[p.name]) for i, p in enumerate(params)
            if isinstance(hints.get(p.name), type)}


def position_kinds(fn: Any, n: int, reg: RuleRegistry) -> tuple[list[set[str]], set[str]]:
    """Per position the kinds the patterns or annotations tell (empty: unknown), and
    the sources used (``"patterns"``, ``"annotations"``)."""
    kinds: list[set[str]] = [set() for _ in range(n)]
    sources: set[str] = set()
    for e in reg.entries(fn):
        if e.form == "rule":
            for i, p in enumerate(list(e.pattern)[:n]):
                told = _pattern_kinds(p)
                kinds[i] |= told
                sources |= {"patterns"} if told else set()
    for cand in [fn] + [e.impl for e in reg.entries(fn) if e.form == "rrule"]:
        for i, k in _annotation_kinds(cand, n).items():
            if not kinds[i]:
                kinds[i] = {k}
                sources.add("annotations")
    return kinds, sources


def rrule_kinds(fn: Any, rrule: Any, kinds: list[set[str]]) -> list[set[str]]:
    """Kinds the rrule's own pullback tells for the positions nothing else does: run once
    with arrays there, a cotangent that is a number (``float(np.sum(...))``) says the
    argument is a number, one of the array's shape that it is an array."""
    unknown = [i for i, k in enumerate(kinds) if not k]
    guess = tuple(sorted(k)[0] if k else ARRAY for k in kinds)
    sample = generate_sample(fn, guess) if unknown else None
    if sample is None:
        return kinds
    try:
        args = copy.deepcopy(sample.args)
        with np.errstate(all="ignore"):
            y, pullback = rrule(*args)
            cots = pullback(_seed_like(y))
    except Exception:  # the rrule refuses arrays there: the kinds stay unknown
        return kinds
    told = [set(k) for k in kinds]
    for i in unknown:
        cot = cots[i] if isinstance(cots, (tuple, list)) and len(cots) == len(kinds) else None
        try:
            cot = unthunk(cot)
        except Exception:  # a thunk that fails is check_rule's business
            continue
        if cot is not None and np.ndim(cot) == 0:
            told[i] = {SCALAR}
        elif cot is not None and np.shape(cot) == np.shape(sample.args[i]):
            told[i] = {ARRAY}
    return told


def annotated_output(fn: Any, reg: RuleRegistry) -> str | None:
    """The kind of ``fn``'s output from its return annotation (or its rrule's)."""
    for cand in [fn] + [e.impl for e in reg.entries(fn) if e.form == "rrule"]:
        try:
            ret = typing.get_type_hints(cand).get("return")
        except Exception:  # builtins, ufuncs, unresolvable hints
            continue
        if isinstance(ret, type):
            return kind_of_type(ret)
    return None


def enumerated_kinds(kinds: list[set[str]]) -> list[tuple[str, ...]] | None:
    """Every kind tuple: known positions as told, unknown ones as array or scalar;
    None when there would be more than :data:`MAX_SIGNATURES`."""
    options = [sorted(k) if k else [ARRAY, SCALAR] for k in kinds]
    total = 1
    for o in options:
        total *= len(o)
    if total > MAX_SIGNATURES:
        return None
    return list(itertools.product(*options))


def _array(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    a = rng.uniform(0.2, 0.9, shape)
    if len(shape) >= 2 and shape[-1] == shape[-2]:
        a = a + 2.0 * np.eye(shape[-1])  # well conditioned for solve, inv, det
    return a


def _finite(value: Any) -> bool:
    if isinstance(value, (tuple, list)):
        return all(_finite(v) for v in value)
    arr = np.asarray(value)
    return arr.dtype.kind not in "fc" or bool(np.all(np.isfinite(arr)))


def generate_sample(fn: Any, kinds: tuple[str, ...], seed: int = 0) -> Sample | None:
    """Inputs of these kinds ``fn`` accepts with a finite output: arrays of one common
    shape (the first of :data:`SHAPES` that works), numbers for scalar positions.
    None when a position is static (its values cannot be guessed) or no shape works."""
    if STATIC in kinds:
        return None
    rng = np.random.default_rng(seed)
    for shape in SHAPES:
        args = [_array(rng, shape) if k == ARRAY else float(rng.uniform(0.3, 0.9)) for k in kinds]
        try:
            with np.errstate(all="ignore"):
                out = fn(*copy.deepcopy(args))
        except Exception:  # the primal refuses this shape: try the next one
            continue
        if _finite(out) and kind_of(out) != STATIC:
            return Sample(*args)
    return None


def probe_pullback(rrule: Any, sample: Sample) -> tuple[bool, ...] | None:
    """Run ``rrule`` and its pullback once on a copy of ``sample``: per argument, whether
    a cotangent is really computed (neither ``None`` nor a thunk). None if it fails."""
    try:
        args, kwargs = copy.deepcopy(sample.args), copy.deepcopy(sample.kwargs)
        with np.errstate(all="ignore"):
            y, pullback = rrule(*args, **kwargs)
            cots = pullback(_seed_like(y))
    except Exception:  # a failing rule is check_rule's business, not the survey's
        return None
    if not isinstance(cots, (tuple, list)) or len(cots) != len(sample.args):
        return None
    return tuple(c is not None and not isinstance(c, Thunk) for c in cots)


def _seed_like(y: Any) -> Any:
    if isinstance(y, tuple):
        return tuple(_seed_like(v) for v in y)
    return np.ones_like(y) if isinstance(y, np.ndarray) else 1.0
