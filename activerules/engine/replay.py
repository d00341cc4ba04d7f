"""Replay: record a differentiation once per signature, then run it without the function.

``ar.replay(f)`` marks ``f`` as ``jax.jit`` marks a function: the first time an entry
point (``gradient``, ``vjp``, ``autodiff``, batch included) differentiates it with a
*signature* (each array's shape, dtype, layout and activity, the values of the other
arguments, the registry), the engine records it as usual and captures the forward pass
as a program (:mod:`.capture`, :mod:`.program`). Later calls with that signature run
the program: the resolved rules called directly on the new values, in the recorded
order, with no stand-ins, no dispatch and none of the user's Python; the recorded tape
entries receive the new reverses and the one sweep runs them.

Guards keep a replay from being wrong: every value the user's Python saw while
recording (a conversion to ``bool``/``int``/``float``, a comparison, a mask, an
index, a result without derivative) is recomputed and compared; where one differs
the path may differ, so the function is recorded again. Values the function reads
from globals or closures, and random draws inside it, are constants of the
recording, and its side effects (``print``, appending to a list) happen only when it
records, as with ``jax.jit``.

>>> import numpy as np, activerules as ar
>>> @ar.replay
... def loss(w, x):
...     return ((w * x - 1.0) ** 2).sum()
>>> x = np.array([1.0, 2.0])
>>> for w in (np.ones(2), np.full(2, 2.0), np.zeros(2)):
...     g = ar.gradient(loss, w, x)
>>> g, loss.cache_info()
(array([-2., -4.]), ReplayInfo(hits=2, misses=1, rerecords=0, eager=0, size=1, maxsize=32))
"""

from __future__ import annotations

import functools
import threading
from collections import OrderedDict
from typing import Any, Callable, NamedTuple

import numpy as np

from ..dispatch import registry as global_registry
from . import levels
from .capture import Capture
from .forward import _gc_pause, _gc_resume
from .playback import Recording, plain_numbers
from .standins import Tracked, TrackedScalar
from .trees import is_node, items_of

__all__ = ["replay", "Replayed", "ReplayInfo"]


class ReplayInfo(NamedTuple):
    """What a replayed function's cache did (``Replayed.cache_info()``): calls served by
    a replay (``hits``), recorded because no recording of their signature could serve
    them (``misses``: a new signature, or every recording of it in use, by a live
    ``vjp`` pullback or another thread), recorded again because a value the path
    depended on differed or a rule raised on the new values (``rerecords``), and run
    without replay (``eager``: inside another differentiation, or a signature whose
    program replay cannot serve, the reason in ``not_replayed``); recordings held
    (``size``) and their bound (``maxsize``). Each call counts once.

    >>> ReplayInfo(3, 1, 0, 0, 1, 32).hits
    3
    """

    hits: int
    misses: int
    rerecords: int
    eager: int
    size: int
    maxsize: int


def replay(f: Callable[..., Any] | None = None, *, max_recordings: int = 32) -> Any:
    """Mark ``f`` so that the entry points record its differentiation once per
    signature and replay it afterwards (see the module's documentation); as a
    decorator, with or without ``max_recordings`` (the bound of the cache, least
    recently used recordings dropped first). Calling the result calls ``f``.

    >>> import numpy as np, activerules as ar
    >>> @ar.replay(max_recordings=4)
    ... def energy(x):
    ...     return (x ** 4).sum()
    >>> ar.gradient(energy, np.array([1.0, 2.0])), energy(np.array([1.0, 2.0]))
    (array([ 4., 32.]), np.float64(17.0))
    """
    if f is None:
        return lambda g: Replayed(g, max_recordings)
    return Replayed(f, max_recordings)


class Replayed:
    """A function marked by :func:`replay`, with its cache of recordings.

    >>> import activerules as ar
    >>> sq = ar.replay(lambda x: x * x)
    >>> sq(3.0), sq.cache_info().size
    (9.0, 0)
    """

    def __init__(self, f: Callable[..., Any], max_recordings: int = 32) -> None:
        if isinstance(f, Replayed):
            f = f.f
        functools.update_wrapper(self, f)
        self.f: Callable[..., Any] = f
        self.max_recordings = max_recordings
        # signature -> its recordings, most recently used first; None: not replayable
        self._cache: OrderedDict[Any, Any] = OrderedDict()
        self._lock = threading.Lock()
        self._counts = {"hits": 0, "misses": 0, "rerecords": 0, "eager": 0}
        #: why the last call that was not replayed was not (None: every call was)
        self.not_replayed: str | None = None
        #: why the last replay that stopped did (the check that failed), and the call recorded again
        self.last_rerecord: str | None = None

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.f(*args, **kwargs)

    def cache_info(self) -> ReplayInfo:
        """The cache's counts (:class:`ReplayInfo`)."""
        with self._lock:
            size = sum(len(r) for r in self._cache.values() if r)
            c = self._counts
            return ReplayInfo(c["hits"], c["misses"], c["rerecords"], c["eager"], size, self.max_recordings)

    def clear_cache(self) -> None:
        """Drop every recording (the next call of each signature records again)."""
        with self._lock:
            self._cache.clear()

    def _count(self, what: str, reason: str | None = None) -> None:
        with self._lock:
            self._counts[what] += 1
            if reason is not None:
                self.not_replayed = reason

    def _count_reason(self, reason: str | None) -> None:
        with self._lock:
            self.not_replayed = reason

    def _recordings(self, key: Any) -> Any:
        with self._lock:
            if key not in self._cache:
                return ()
            recs = self._cache[key]
            if recs is None:
                return None
            self._cache.move_to_end(key, last=False)
            return list(recs)

    def _store(self, key: Any, rec: Any) -> None:
        """Keep ``rec`` for ``key`` (None: ``key`` is not replayable), within the bound."""
        with self._lock:
            recs = self._cache.get(key)
            if rec is None or recs is None:
                self._cache[key] = None if rec is None else [rec]
            else:
                recs.insert(0, rec)
            self._cache.move_to_end(key, last=False)
            self._evict()

    def _evict(self) -> None:
        while sum(len(r) for r in self._cache.values() if r) > self.max_recordings:
            key, recs = next(reversed(self._cache.items()))
            if recs and len(recs) > 1:
                recs.pop()
            else:
                del self._cache[key]

    def _promote(self, key: Any, rec: Any) -> None:
        """``rec`` served a call: try it first next time."""
        with self._lock:
            recs = self._cache.get(key)
            if recs and recs[0] is not rec and rec in recs:
                recs.remove(rec)
                recs.insert(0, rec)


# -- the entry points' forward pass of a replayed function ------------------------------------

def forward(run: Any, fr: Replayed, sweep_follows: bool) -> Any:
    """The forward pass of ``run`` for the replayed function ``fr``: a replay of a
    recording of its signature, or the function run (and captured)."""
    described = signature(run)
    if described is None:
        fr._count("eager", "inside another differentiation, or an argument whose value cannot be compared")
        return run.run_function(fr.f, sweep_follows)
    key, leaves = described
    recs = fr._recordings(key)
    if recs is None:
        fr._count("eager")
        return run.run_function(fr.f, sweep_follows)
    diverged = False
    for rec in recs:
        if not rec.acquire():  # in use (a vjp pullback alive, another thread): try another
            continue
        _gc_pause()
        result = rec.replay(run, leaves)
        if result is not Recording.DIVERGED:
            if not sweep_follows:
                _gc_resume()
            fr._count("hits")
            fr._promote(key, rec)
            return result
        _gc_resume()
        diverged = True
        fr.last_rerecord = rec.why
    return _record(run, fr, key, leaves, sweep_follows, diverged)


def _record(run: Any, fr: Replayed, key: Any, leaves: list[Any], sweep_follows: bool, again: bool) -> Any:
    """Run ``fr``'s function, capturing the forward pass; keep the recording."""
    cap = Capture()
    inputs = [cap.input(leaf) for leaf in leaves]
    had_cell = [getattr(leaf, "_cell", None) is not None for leaf in leaves]
    fr._count("rerecords" if again else "misses")
    run.tape.capture = cap
    try:
        result = run.run_function(fr.f, sweep_follows)
    finally:
        run.tape.capture = None
    rec = Recording.made(cap, run, result, leaves, inputs, had_cell)
    result = plain_numbers(result)  # the entry point gets numbers, as from an eager run
    if rec is None:  # the later calls of this signature run eagerly (or record again)
        fr._count_reason(cap.failed)
        if not cap.threw:  # a call that raised may not raise next time: no verdict on the signature
            fr._store(key, None)
        return result
    rec.acquire()  # this run's tape uses the recording's entries and cells until it is released
    run.tape.replaying = rec
    fr._store(key, rec)
    return result


# -- signatures -------------------------------------------------------------------------------

def signature(run: Any) -> tuple[Any, list[Any]] | None:
    """The signature of ``run``'s arguments (what a recording of it assumes) and its
    stand-ins in order; None if it cannot be replayed (an enclosing differentiation
    open, a value of one among the arguments, an argument that cannot be compared)."""
    if levels.innermost() is not None:
        return None
    tape = run.tape
    reg = tape.registry if tape.registry is not None else global_registry
    parts: list[Any] = [tape.width, reg.generation]
    leaves: list[Any] = []
    seen: dict[int, int] = {}
    try:
        for v in run.call_args:
            _describe(v, tape, parts, leaves, seen)
    except _NotComparable:
        return None
    return (reg, tuple(parts)), leaves


class _NotComparable(Exception):
    pass


def _describe(v: Any, tape: Any, parts: list[Any], leaves: list[Any], seen: dict[int, int]) -> None:
    """Append ``v``'s part of the signature to ``parts`` and its stand-ins to ``leaves``."""
    if is_node(v):
        items = items_of(v)
        parts.append((type(v), tuple(k for k, _ in items)))
        for _, e in items:
            _describe(e, tape, parts, leaves, seen)
        return
    if isinstance(v, (Tracked, TrackedScalar)):
        if v._tape is not tape:
            raise _NotComparable
        first = seen.setdefault(id(v), len(leaves))
        leaves.append(v)
        if not isinstance(v, Tracked):
            parts.append((TrackedScalar, type(v._v), first))
        else:
            a = v._a
            flags = a.flags  # what the function can see of the array's memory
            parts.append((type(v), a.shape, a.dtype.str, a.strides, flags.writeable, flags.owndata,
                          v._pinned, v._cell is None, first))
        return
    if isinstance(v, np.ndarray):  # a caller's array f receives as it is (read-only): its values
        parts.append((type(v), v.shape, v.dtype.str, v.strides, v.tobytes()))
    elif isinstance(v, (float, complex, np.generic)):
        parts.append((type(v), repr(v)))  # repr: -0.0 is not 0.0
    else:
        try:
            hash(v)
        except TypeError:
            raise _NotComparable from None
        parts.append((type(v), v))

