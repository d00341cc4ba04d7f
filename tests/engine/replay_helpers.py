"""What the replay tests (issue 12) share: a request run through the eager engine on the
plain function (the oracle) and through ``ar.replay`` on fresh inputs, compared bit for
bit (results, derivatives, every caller array and shadow afterwards, flags included), and
the cache counts read around each call.

A test gives ``make(k)``, which builds the inputs of draw ``k`` (fresh objects on every
call: it is called once for the eager run and once for the replayed one), and
``run(fn, inputs)``, which makes one entry-point call with ``fn`` and returns what it
returned. ``check_replay`` does the rest.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

import activerules as ar

KINDS = ("hits", "misses", "rerecords", "eager")


class Raised:
    """What a call raised: compared by exception type (the messages may differ)."""

    def __init__(self, exc: BaseException) -> None:
        self.type = type(exc)
        self.text = f"{type(exc).__name__}: {exc}"

    def __repr__(self) -> str:
        return f"Raised({self.text[:200]})"


def same(got: Any, want: Any, path: str = "result") -> None:
    """Assert ``got`` equals ``want`` bit for bit: the same container types and keys, arrays
    of the same type, dtype, shape, values (NaN equal to NaN) and writeability, numbers of the
    same type and value, exceptions of the same type."""
    if isinstance(want, Raised) or isinstance(got, Raised):
        assert isinstance(got, Raised) and isinstance(want, Raised) and got.type is want.type, \
            f"{path}: replay {got!r}, eager {want!r}"
        return
    assert type(got) is type(want), f"{path}: replay gave {type(got).__name__}, eager {type(want).__name__}"
    if isinstance(want, dict):
        assert list(got) == list(want), f"{path}: keys {list(got)}, eager {list(want)}"
        for k in want:
            same(got[k], want[k], f"{path}[{k!r}]")
    elif isinstance(want, (tuple, list)):
        assert len(got) == len(want), f"{path}: length {len(got)}, eager {len(want)}"
        for i, (g, w) in enumerate(zip(got, want)):
            same(g, w, f"{path}[{i}]")
    elif isinstance(want, np.ndarray):
        assert (got.dtype, got.shape) == (want.dtype, want.shape), \
            f"{path}: dtype/shape {got.dtype}{got.shape}, eager {want.dtype}{want.shape}"
        assert np.array_equal(got, want, equal_nan=want.dtype.kind in "fc"), \
            f"{path}: values differ\nreplay {got!r}\neager  {want!r}\ndiff   {_diff(got, want)}"
        assert got.flags.writeable == want.flags.writeable, \
            f"{path}: writeable {got.flags.writeable}, eager {want.flags.writeable}"
    elif isinstance(want, ar.Annotation):
        same(vars(got), vars(want), f"{path}.{type(want).__name__}")
    elif isinstance(want, (float, complex, np.generic)):
        assert got == want or (np.isnan(got) and np.isnan(want)), f"{path}: replay {got!r}, eager {want!r}"
    else:
        assert got == want, f"{path}: replay {got!r}, eager {want!r}"


def _diff(a: np.ndarray, b: np.ndarray) -> str:
    try:
        return repr(np.max(np.abs(a.astype(complex) - b.astype(complex))))
    except (TypeError, ValueError):
        return "?"


def snapshot(v: Any) -> Any:
    """A deep copy of a result or of inputs (arrays keep their writeability), so that a
    later call reusing a buffer shows up when compared again."""
    if isinstance(v, np.ndarray):
        c = v.copy(order="K")
        c.flags.writeable = v.flags.writeable
        return c
    if isinstance(v, dict):
        return {k: snapshot(x) for k, x in v.items()}
    if isinstance(v, (tuple, list)) and not hasattr(v, "_fields"):
        return type(v)(snapshot(x) for x in v)
    return v


def outcome(run: Callable[[Any, Any], Any], fn: Any, inputs: Any) -> tuple[Any, Any]:
    """``run(fn, inputs)``'s result (or what it raised) and the inputs afterwards."""
    try:
        res: Any = run(fn, inputs)
    except Exception as e:  # compared by type with the eager engine's
        res = Raised(e)
    return res, inputs


def info(rf: Any) -> dict[str, int]:
    """The counts of ``rf.cache_info()`` (an ``ar.ReplayInfo``) as a dict."""
    ci = rf.cache_info()
    assert isinstance(ci, ar.ReplayInfo)
    return ci._asdict()


def delta(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    """Which counters moved between two ``info`` readings (only the non-zero ones)."""
    return {k: after[k] - before[k] for k in KINDS if after[k] != before[k]}


def call_and_compare(f: Callable[..., Any], rf: Any, run: Callable[[Any, Any], Any],
                     make: Callable[[int], Any], k: int, eager_first: bool = True) -> tuple[Any, dict[str, int]]:
    """Draw ``k`` run eagerly on ``f`` and through ``rf``, compared bit for bit (results and
    inputs afterwards); the replay's result (and inputs after, kept to compare again later),
    and which counters of ``rf`` moved."""
    order = ("eager", "replay") if eager_first else ("replay", "eager")
    outs: dict[str, Any] = {}
    moved: dict[str, int] = {}
    for which in order:
        if which == "eager":
            outs[which] = outcome(run, f, make(k))
        else:
            before = info(rf)
            outs[which] = outcome(run, rf, make(k))
            moved = delta(before, info(rf))
    got, want = outs["replay"], outs["eager"]
    same(got[0], want[0], f"draw {k}: result")
    same(got[1], want[1], f"draw {k}: inputs after")
    return got, moved


def check_replay(f: Callable[..., Any], run: Callable[[Any, Any], Any], make: Callable[[int], Any],
                 draws: int = 3, rf: Any = None, expect: list[str] | None = None) -> Any:
    """``rf = ar.replay(f)`` (or the given one) called on ``draws`` draws of ``make``, each
    compared bit for bit with the eager engine on ``f``; then every earlier result compared
    again (a replay must not hand out a buffer it writes later). ``expect``: the counter
    each call must move by one, ``"hits|rerecords"`` allowing either (``"none"``: no counter, for
a call refused before anything is recorded); by default one miss, then hits.
    Returns ``rf``."""
    rf = ar.replay(f) if rf is None else rf
    expect = expect or ["misses"] + ["hits"] * (draws - 1)
    kept: list[tuple[Any, Any]] = []
    for k in range(draws):
        got, moved = call_and_compare(f, rf, run, make, k)
        kept.append((got, snapshot(got)))
        which = next(iter(moved)) if len(moved) == 1 and sum(moved.values()) == 1 else ("none" if not moved else "?")
        assert which in expect[k].split("|"), \
            f"draw {k}: counters moved {moved}, want one of {expect[k]} (cache_info {rf.cache_info()}; " \
            f"not replayed because: {getattr(rf, 'not_replayed', '?')})"
    for k, (got, snap) in enumerate(kept):
        same(got, snap, f"draw {k} compared again after the later calls")
    return rf


def grad(argnums: Any = 0, **kw: Any) -> Callable[[Any, Any], Any]:
    """A ``run``: ``ar.gradient(fn, *inputs, argnums=argnums, **kw)``."""
    return lambda fn, a: ar.gradient(fn, *a, argnums=argnums, **kw)


def vjp(**kw: Any) -> Callable[[Any, Any], Any]:
    """A ``run`` for inputs ``(args, cotangents)``: ``ar.vjp(fn, *args)``, the primal, and
    the pullback called on each cotangent in turn, then on the first again."""
    def run(fn: Any, inp: Any) -> Any:
        args, cots = inp
        y, pb = ar.vjp(fn, *args, **kw)
        y_kept = snapshot(y)
        res = [pb(c) for c in cots]
        res.append(pb(cots[0]))
        same(y, y_kept, "vjp primal after the pullback calls")
        return y, res
    return run


def rng(k: int, salt: int = 0) -> np.random.Generator:
    """The generator of draw ``k`` (deterministic, so ``make(k)`` twice gives equal inputs)."""
    return np.random.default_rng(1000 * salt + k)
