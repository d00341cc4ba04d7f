"""``check_rule``: test a function's resolved rules against finite differences.

For every admissible activity combination of the arguments (or the ones
given), :func:`check_rule` resolves the rule, runs it on copies of the inputs
and compares with central finite differences of the function itself:

* the primal output and the arguments the function mutates;
* the cotangents returned for Active arguments;
* the shadows of Duplicated arguments, which start **non-zero** (so a rule that
  assigns instead of accumulating fails), following Enzyme's convention: on
  entry a shadow holds the cotangent of the argument's value after the call, on
  exit the cotangent of its value before the call;
* batch lanes (width 3), each against its own seeds and against the width-1
  rule run on that lane alone (a batch form, ``batched=True`` or written for the
  batch request, must give each lane what the width-1 rule gives);
* that the reverse pass leaves every primal unmodified.

Complex numbers follow ChainRules' convention: for the real loss
``L = Re Σ conj(ȳ)·y``, the cotangent of a complex ``x`` is ``∂L/∂Re x + i ∂L/∂Im x``.

>>> import numpy as np
>>> print(check_rule(np.tanh, np.linspace(-1, 1, 4)))
check_rule(numpy.tanh): 4 passed, 0 failed
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence

import numpy as np

from .activity import (
    Active,
    ActiveRulesError,
    BatchDuplicated,
    Const,
    Duplicated,
    RevConfig,
    base_state,
    is_batch,
)
from .dispatch import (
    ParameterError,
    admissible_requests,
    check_call,
    format_activities,
    function_name,
    kind_of,
    registry,
)
from .dispatch.lanes import unbatched_activities
from .dispatch.rule_registry import RuleRegistry

__all__ = ["check_rule", "RuleCheckReport"]

_WIDTH = 3  # lanes used for batch combinations (3: few sample axes have that length by chance)


@dataclass
class RuleCheckReport:
    """What :func:`check_rule` checked: one line per combination, failures apart.

    >>> report = check_rule(np.sin, np.array([0.5, 1.0]), activities=[(Duplicated,)])
    >>> report.passed
    ['numpy.sin(Duplicated)']
    """

    function: str
    passed: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        head = f"check_rule({self.function}): {len(self.passed)} passed, {len(self.failed)} failed"
        return "\n".join([head] + [f"  FAIL {f}" for f in self.failed])


def check_rule(fn: Any, *args: Any, activities: str | Iterable[Sequence[type]] = "all",
               returns: type | None = None, rtol: float | None = None, atol: float | None = None,
               registry: RuleRegistry = registry, seed: int = 0, **kwargs: Any) -> RuleCheckReport:
    """Check ``fn``'s resolved rules on the primal inputs ``args`` (and keyword
    arguments ``kwargs``, passed to ``fn`` unchanged).

    ``activities``: ``"all"`` (every admissible combination) or a list of tuples of
    activity classes. ``returns``: ``ar.Const`` to seed no output cotangent (only
    mutations carry derivatives); default: the output is seeded. Tolerances default
    to 1e-6 (1e-3 when an input is single precision). Raises ``AssertionError`` with
    a report naming each failing combination, argument and max error; returns the
    :class:`RuleCheckReport` when all pass. Raises ``ParameterError`` when a rule
    declares (``params=``) that it does not implement a parameter given here.

    >>> report = check_rule(np.linalg.solve, np.eye(2) * 3.0, np.array([1.0, -1.0]),
    ...                     activities=[(Const, Duplicated)])
    >>> report.failed
    []
    """
    name = function_name(fn)
    kinds = tuple(kind_of(a) for a in args)
    single = any(np.asarray(a).dtype in (np.float32, np.complex64) for a in args
                 if kind_of(a) != "static" and not isinstance(a, list))
    rtol = rtol if rtol is not None else (1e-3 if single else 1e-6)
    atol = atol if atol is not None else (1e-3 if single else 1e-6)
    combos: list[tuple[type, ...]] = (list(admissible_requests(kinds)) if isinstance(activities, str)
                                      else [tuple(c) for c in activities])
    rng = np.random.default_rng(seed)
    jac = _Jacobian(fn, args, kwargs, kinds)
    report = RuleCheckReport(name)
    for combo in combos:
        label = f"{name}{format_activities(combo)}"
        try:
            problems = _check_one(fn, args, kwargs, kinds, combo, returns, jac, rng, registry, rtol, atol)
        except ParameterError:  # a parameter the rule does not implement: refused, not checked
            raise
        except (ActiveRulesError, AssertionError) as e:
            problems = [f"{type(e).__name__}: {e}"]
        except Exception as e:  # a rule crashing is a failure to report, not to propagate
            problems = [f"raised {type(e).__name__}: {e}"]
        if problems:
            report.failed.append(label + ": " + "; ".join(problems))
        else:
            report.passed.append(label)
    if report.failed:
        raise AssertionError(str(report))
    return report


# -- finite differences ------------------------------------------------------------------------

def _copy(args: Sequence[Any]) -> list[Any]:
    return [copy.deepcopy(a) for a in args]


def _parts(obj: Any) -> list[np.ndarray]:
    """The differentiable float/complex arrays inside an output (arrays, scalars, tuples)."""
    if obj is None:
        return []
    if isinstance(obj, (tuple, list)):
        return [p for o in obj for p in _parts(o)]
    arr = np.asarray(obj)
    return [arr] if arr.dtype.kind in "fc" else []


def _upcast(a: Any) -> Any:
    """float32 → float64 (complex64 → complex128) so differences keep their digits."""
    if isinstance(a, list):
        return [_upcast(v) for v in a]
    if isinstance(a, np.ndarray) and a.dtype in (np.float32, np.complex64):
        return a.astype(np.complex128 if a.dtype.kind == "c" else np.float64)
    if isinstance(a, (np.float32, np.complex64)):
        return (np.complex128 if isinstance(a, np.complex64) else np.float64)(a)
    return a


def _slots(args: Sequence[Any], kinds: tuple[str, ...]) -> list[tuple[int, int | None, tuple[int, ...], bool]]:
    """Every scalar degree of freedom: (argument, list element, index, imaginary part?)."""
    slots: list[tuple[int, int | None, tuple[int, ...], bool]] = []
    for i, (a, k) in enumerate(zip(args, kinds)):
        if k == "static":
            continue
        items = list(enumerate(a)) if isinstance(a, list) else [(None, a)]
        for j, v in items:
            if isinstance(v, tuple):
                continue  # Active tuples: not perturbed (rare), checked for shape only
            arr = np.asarray(v)
            if arr.dtype.kind not in "fc":
                continue
            for idx in np.ndindex(arr.shape):
                slots.append((i, j, idx, False))
                if arr.dtype.kind == "c":
                    slots.append((i, j, idx, True))
    return slots


class _Jacobian:
    """Central differences of (output, arguments after the call) w.r.t. every input."""

    def __init__(self, fn: Any, args: Sequence[Any], kwargs: dict[str, Any], kinds: tuple[str, ...]) -> None:
        self.fn, self.kwargs, self.kinds = fn, kwargs, kinds
        self.base = [_upcast(a) for a in args]
        self.slots = _slots(args, kinds)
        with np.errstate(invalid="ignore", over="ignore"):  # differences of inf outputs are NaN
            self.columns = [self._column(s) for s in self.slots]

    def run(self, args: Sequence[Any]) -> tuple[Any, list[Any]]:
        work = _copy(args)
        out = self.fn(*work, **self.kwargs)
        return copy.deepcopy(out), work

    def _shift(self, slot: tuple[int, int | None, tuple[int, ...], bool], h: float) -> list[Any]:
        i, j, idx, imag = slot
        args = _copy(self.base)
        if j is None and np.ndim(args[i]) == 0 and not isinstance(args[i], np.ndarray):
            args[i] = args[i] + (1j * h if imag else h)
            return args
        target = args[i] if j is None else args[i][j]
        target[idx] += 1j * h if imag else h
        return args

    def _column(self, slot: tuple[int, int | None, tuple[int, ...], bool]) -> list[np.ndarray]:
        i, j, idx, _ = slot
        x = self.base[i] if j is None else self.base[i][j]
        h = 1e-6 * max(1.0, float(abs(np.asarray(x)[idx])))
        plus, minus = self.run(self._shift(slot, h)), self.run(self._shift(slot, -h))
        return [(p - m) / (2 * h) for p, m in zip(_flat(plus, self.kinds), _flat(minus, self.kinds))]

    def gradient(self, seeds: list[np.ndarray | None]) -> dict[tuple[int, int | None], np.ndarray]:
        """∂L/∂(each input) for L = Re Σ conj(seed)·(output, args after the call)."""
        grads: dict[tuple[int, int | None], np.ndarray] = {}
        for slot, column in zip(self.slots, self.columns):
            i, j, idx, imag = slot
            x = self.base[i] if j is None else self.base[i][j]
            g = grads.setdefault((i, j), np.zeros(np.shape(x), dtype=np.result_type(x, 1.0)))
            d = sum(float(np.real(np.vdot(s, c))) for s, c in zip(seeds, column) if s is not None)
            g[idx] += 1j * d if imag else d
        return grads


def _flat(result: tuple[Any, list[Any]], kinds: tuple[str, ...]) -> list[np.ndarray]:
    """Output parts, then each array argument after the call (the mutation channel)."""
    out, args = result
    parts = [np.asarray(p, dtype=np.result_type(p, 1.0)) for p in _parts(out)]
    for a, k in zip(args, kinds):
        if k == "array":
            parts += [np.asarray(p, dtype=np.result_type(p, 1.0)) for p in _parts(a)]
    return parts


# -- one combination ---------------------------------------------------------------------------

def _random_like(x: Any, rng: np.random.Generator) -> Any:
    if isinstance(x, list):
        return [_random_like(v, rng) for v in x]
    if isinstance(x, tuple):
        return tuple(_random_like(v, rng) for v in x)
    arr = np.asarray(x)
    r = rng.uniform(-1, 1, arr.shape)
    if arr.dtype.kind == "c":
        r = r + 1j * rng.uniform(-1, 1, arr.shape)
    if arr.dtype.kind not in "fc":
        return None  # integer/bool outputs (lstsq's rank) get no cotangent, keeping seeds aligned
    r = r.astype(arr.dtype)
    return r if isinstance(x, np.ndarray) else r[()]


def _annotate(state: type, val: Any, shadows: list[Any]) -> Any:
    if state is Const:
        return Const(val)
    if state is Active:
        return Active(val)
    if is_batch(state):
        return state(val, tuple(copy.deepcopy(s) for s in shadows))
    return state(val, copy.deepcopy(shadows[0]))


def _concat(obj: Any) -> np.ndarray:
    parts = _parts(obj)
    return np.concatenate([p.ravel() for p in parts]) if parts else np.zeros(0)


def _max_error(got: Any, expected: Any, rtol: float, atol: float) -> float:
    got = np.asarray(got, dtype=np.result_type(got, 1.0))
    expected = np.asarray(expected, dtype=np.result_type(expected, 1.0))
    if got.shape != expected.shape:
        return float("inf")
    judged = ~np.isnan(expected)  # where the finite difference itself is NaN there is no evidence
    if got.size == 0 or not judged.any():
        return 0.0
    got, expected = got[judged], expected[judged]
    with np.errstate(invalid="ignore", over="ignore"):
        err = np.where(got == expected, 0.0, np.abs(got - expected) / (atol + rtol * np.abs(expected)))
    # a NaN (or infinite) value where the difference is finite is off by any tolerance;
    # a bare ``nan > tol`` would be False and let it pass
    return float(np.max(np.where(np.isnan(err), np.inf, err)))


def _check_one(fn: Any, args: Sequence[Any], kwargs: dict[str, Any], kinds: tuple[str, ...],
               combo: tuple[type, ...], returns: type | None, jac: _Jacobian,
               rng: np.random.Generator, registry: RuleRegistry, rtol: float, atol: float) -> list[str]:
    width = _WIDTH if any(is_batch(a) for a in combo) else 1
    res = registry.resolve(fn, combo, tuple(k if isinstance(a, (list, tuple)) else type(a)
                                            for a, k in zip(args, kinds)))
    check_call(res.entry, fn, tuple(args), kwargs, tuple(base_state(a) is not Const for a in combo))
    expected_out, expected_args = jac.run(args)
    work = _copy(args)
    shadows = [[_random_like(a, rng) for _ in range(width)] for a in args]
    anns = [_annotate(s, v, sh) for s, v, sh in zip(combo, work, shadows)]
    y, reverse = res(RevConfig(combo, width=width), *anns, **kwargs)
    problems = []
    if _max_error(_concat(y), _concat(expected_out), rtol, atol) > 1:
        problems.append("primal output differs from the function's")
    for i, (a, e) in enumerate(zip(work, expected_args)):
        if kinds[i] != "static" and any(_max_error(p, q, rtol, atol) > 1 for p, q in zip(_parts(a), _parts(e))):
            problems.append(f"argument {i} after the call differs from what the function leaves")
    after_forward = _copy(work)
    seeded = returns is not Const
    ybars = [_random_like(y, rng) if seeded and y is not None else None for _ in range(width)]
    batch = width > 1 or any(is_batch(a) for a in combo)
    dropped = () if batch else _drop_values(res.entry, anns)
    try:
        cots = reverse(tuple(ybars) if batch else ybars[0])
    except Exception as e:
        if not dropped:
            raise
        raise ActiveRulesError(_dropped_message(res.entry, dropped, e)) from e
    for i, (a, before) in enumerate(zip(work, after_forward)):
        if not all(np.array_equal(p, q, equal_nan=True) for p, q in zip(_parts(a), _parts(before))):
            problems.append(f"the reverse pass modified argument {i}'s primal value: a reverse must "
                            "leave primals as they are; write cotangents into the shadow (x.dval), "
                            "never into x.val")
    for lane in range(width):
        seeds: list[Any] = list(_parts(ybars[lane])) if ybars[lane] is not None else [None] * len(_parts(y))
        for i, (state, k) in enumerate(zip(combo, kinds)):
            if k != "array":
                continue
            own = issubclass(state, (Duplicated, BatchDuplicated))
            seeds += [p if own else None for p in _parts(shadows[i][lane if own and width > 1 else 0])]
        grads = jac.gradient(seeds)
        for i, state in enumerate(combo):
            problems += _compare_arg(i, state, anns[i], cots, lane, width, grads, args[i], rtol, atol,
                                     shadows[i][lane if is_batch(state) else 0])
    if width > 1:
        problems += _against_width_one(fn, args, kwargs, kinds, combo, registry, shadows, ybars, anns,
                                       cots, rtol, atol)
    if problems:  # name the rule to fix (a lattice step may have chosen another than expected)
        how = " on stacked lanes" if res.stacked else " lane by lane" if res.lanes else ""
        problems.append(f"served by {res.entry.describe()}{how}")
    return problems


def _against_width_one(fn: Any, args: Sequence[Any], kwargs: dict[str, Any], kinds: tuple[str, ...],
                       combo: tuple[type, ...], registry: RuleRegistry, shadows: list[list[Any]],
                       ybars: list[Any], anns: list[Any], cots: Any, rtol: float, atol: float) -> list[str]:
    """Each lane of a batch request against the width-1 request's rule run on that lane's
    shadows and seed alone; the problems found, naming the lane and the argument."""
    single = unbatched_activities(combo)
    res = registry.resolve(fn, single, tuple(k if isinstance(a, (list, tuple)) else type(a)
                                             for a, k in zip(args, kinds)))
    problems = []
    for lane, ybar in enumerate(ybars):
        one = [_annotate(s, v, [sh[lane] if is_batch(b) else sh[0]])
               for s, b, v, sh in zip(single, combo, _copy(args), shadows)]
        _, reverse = res(RevConfig(single), *one, **kwargs)
        want = reverse(ybar)
        for i, state in enumerate(combo):
            got, expected = _lane_result(state, anns[i], cots, i, lane), _lane_result(single[i], one[i], want, i, 0)
            if got is not None and expected is not None and _max_error(got, expected, rtol, atol) > 1:
                problems.append(f"argument {i} ({state.__name__}) lane {lane}: differs from the width-1 rule "
                                f"({res.entry.describe()}) run on that lane alone")
    return problems


def _lane_result(state: type, ann: Any, cots: Any, i: int, lane: int) -> Any:
    """What a reverse left for argument ``i`` in ``lane``: its shadow or Active cotangent."""
    if is_batch(state):
        return _concat(ann.dvals[lane])
    if issubclass(state, Duplicated):
        return _concat(ann.dval)
    if state is Active and cots is not None and cots[i] is not None:
        c = cots[i]
        return np.asarray(c[lane] if isinstance(c, tuple) else c)
    return None


def _drop_values(entry: Any, anns: list[Any]) -> tuple[int, ...]:
    """Clear, as the engine does after the forward, the values of the array arguments the
    rule does not declare it keeps (``keeps=`` at registration); return their positions."""
    dropped = tuple(i for i, a in enumerate(anns)
                    if type(a.val) is np.ndarray and not entry.keeps_value(i))
    for i in dropped:
        anns[i].val = None
    return dropped


def _dropped_message(entry: Any, dropped: tuple[int, ...], e: Exception) -> str:
    """Why a reverse that ran without the values ``keeps=`` says it does not read failed."""
    need = ", ".join(map(str, dropped))
    return (f"the reverse raised {type(e).__name__}: {e}; it ran without the values (x.val) of "
            f"argument(s) {need}, which the engine clears after the forward because the rule declares "
            f"keeps={entry.keeps!r}: if its reverse reads them (directly or through a helper), add "
            f"their positions to keeps= (or leave keeps= out: every value is kept)")


def _compare_arg(i: int, state: type, ann: Any, cots: Any, lane: int, width: int,
                 grads: dict[tuple[int, int | None], np.ndarray], primal: Any,
                 rtol: float, atol: float, initial: Any = None) -> list[str]:
    if state is Const or (not isinstance(primal, list) and np.asarray(primal).dtype.kind not in "fc"
                          and not isinstance(primal, tuple)):
        return []
    if state is Active:
        if isinstance(primal, tuple):
            return []
        got = cots[i] if cots is not None else None
        if got is not None and (width > 1 or is_batch_request(cots, i, width)):
            got = got[lane]
        err = _max_error(0.0 if got is None else got, grads.get((i, None), 0.0), rtol, atol)
        where = f" lane {lane}" if width > 1 else ""
        return [] if err <= 1 else [f"argument {i} (Active){where}: cotangent off by {err:.3g}× tolerance "
                                    f"(got {got}, expected {grads.get((i, None))})"]
    shadow = ann.dvals[lane] if is_batch(state) else ann.dval
    if isinstance(primal, list):
        pairs = [(shadow[j], grads[(i, j)], None if initial is None else initial[j])
                 for j in range(len(primal)) if (i, j) in grads]
    else:
        pairs = [(shadow, grads[(i, None)], initial)] if (i, None) in grads else []
    for got, expected, start in pairs:
        err = _max_error(got, expected, rtol, atol)
        if err > 1:
            where = f" lane {lane}" if is_batch(state) else ""
            return [f"argument {i} ({state.__name__}){where}: shadow off by {err:.3g}× tolerance; "
                    f"max |error| {np.max(np.abs(np.asarray(got) - expected)):.3g}"
                    + _overwrite_hint(got, expected, start, rtol, atol)]
    return []


def _overwrite_hint(got: Any, expected: Any, start: Any, rtol: float, atol: float) -> str:
    """Where the shadow ends as the right answer less its (non-zero) starting value, the
    rule overwrote it: say so."""
    if start is None or not np.any(np.asarray(start) != 0):
        return ""
    if _max_error(got, np.asarray(expected) - start, rtol, atol) > 1:
        return ""
    return ("; the shadow holds the cotangent without what it held before: the rule overwrote it "
            "(dval = ... or dval[...] = ...) instead of accumulating into it (dval += ...)")


def is_batch_request(cots: Any, i: int, width: int) -> bool:
    """Whether a returned Active cotangent is a per-lane tuple."""
    return cots is not None and isinstance(cots[i], tuple) and len(cots[i]) == width
