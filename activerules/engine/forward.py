"""The state every forward pass shares: the pause of the cyclic garbage collector and the
swapped NumPy constructors (process-wide, under one lock)."""

from __future__ import annotations

import contextlib
import gc
import threading
import time
from typing import Any, Iterator

import numpy as np

from .protocol import constructor, filler

__all__ = ["GC_PAUSE_BOUND", "no_gc", "sequence_constructors"]


# Process-wide state shared by the differentiations of all threads, under one lock
# (each entry and exit takes it once): forward passes running (primitives read this
# one number without the lock), and the pause of the cyclic collector: the
# differentiations holding it, whether it was enabled before the first of them, and
# when it last ran (or the pause began).
_guard = threading.Lock()


_running = [0]


_gc_holds: list[Any] = [0, False, 0.0]


#: Seconds the collector may stay paused while differentiations of several threads
#: overlap: past it, the next differentiation to finish runs the collection the
#: collector would have made (else other threads' cyclic garbage grows without bound).
GC_PAUSE_BOUND = 0.1


# np.array, np.asarray, np.asanyarray (and the functions that convert like them, and
# np.shape/np.ndim/np.size, which convert a list) accept sequences holding tracked values
# while a forward pass runs (in any thread): NumPy offers no protocol for that, so the
# module attributes are swapped for converting wrappers and restored after the last.
# np.full and np.full_like, which fill a new array themselves (no dispatch on the fill
# value), are swapped the same way for wrappers that record an active fill value.
_CONSTRUCTORS = ("array", "asarray", "asanyarray", "ascontiguousarray", "asfortranarray", "require",
                 "shape", "ndim", "size")


_FILLERS = ("full", "full_like")


_ORIGINAL = {name: getattr(np, name) for name in _CONSTRUCTORS + _FILLERS}


_WRAPPED = {**{name: constructor(_ORIGINAL[name]) for name in _CONSTRUCTORS},
            **{name: filler(_ORIGINAL[name]) for name in _FILLERS}}


def _gc_pause() -> None:
    with _guard:
        _hold()


def _hold() -> None:
    """Take a hold on the collector's pause (under ``_guard``)."""
    if _gc_holds[0] == 0:
        _gc_holds[1] = gc.isenabled()
        _gc_holds[2] = time.monotonic()
        gc.disable()
    _gc_holds[0] += 1


def _release() -> bool:
    """Drop a hold (under ``_guard``): the collector enabled after the last one; True if
    the pause, held by other differentiations, has lasted past ``GC_PAUSE_BOUND``, and
    the caller is to collect (:func:`_catch_up`, outside the lock)."""
    _gc_holds[0] -= 1
    if not _gc_holds[1]:
        return False
    if _gc_holds[0] == 0:
        gc.enable()
        return False
    now = time.monotonic()
    if now - _gc_holds[2] < GC_PAUSE_BOUND:
        return False
    _gc_holds[2] = now  # one thread collects per period
    return True


def _catch_up() -> None:
    """The collection the paused collector owes: of the oldest generation whose count
    passed its threshold, as the collector itself would choose."""
    counts, limits = gc.get_count(), gc.get_threshold()
    gen = 0
    for g in (1, 2):
        if counts[g] > limits[g]:
            gen = g
    if counts[0] > limits[0] or gen:
        gc.collect(gen)


def _gc_resume() -> None:
    with _guard:
        collect = _release()
    if collect:
        _catch_up()


def _forward_begin() -> None:
    """A forward pass starts: the collector paused (see :func:`no_gc`; resumed by
    :func:`_gc_resume`, possibly after the sweep) and the sequence constructors on."""
    with _guard:
        _hold()
        if _running[0] == 0:
            for name, fn in _WRAPPED.items():
                setattr(np, name, fn)
        _running[0] += 1


def _forward_end(resume: bool) -> None:
    """A forward pass ended: the constructors restored after the last one, and the
    collector resumed if ``resume`` (else the caller resumes it after the sweep)."""
    with _guard:
        _running[0] -= 1
        if _running[0] == 0:
            for name, fn in _ORIGINAL.items():
                setattr(np, name, fn)
        collect = _release() if resume else False
    if collect:
        _catch_up()


@contextlib.contextmanager
def no_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector while taping or sweeping: a tape is many
    small containers, and full collections over a growing tape cost more than the
    work (the engine itself creates no reference cycles). The engine's own entry
    points call :func:`_gc_pause` / :func:`_gc_resume` directly (no generator per call).

    >>> import gc
    >>> with no_gc():
    ...     print(gc.isenabled())
    False
    """
    _gc_pause()
    try:
        yield
    finally:
        _gc_resume()


@contextlib.contextmanager
def sequence_constructors() -> Iterator[None]:
    """Let ``np.array([x[0], 2 * x[1], 3.0])`` record (see ``recording.construct``),
    as during a forward pass.

    >>> import numpy as np
    >>> with sequence_constructors():
    ...     np.array([1.0, 2.0])              # plain values: NumPy's own result
    array([1., 2.])
    """
    _forward_begin()
    try:
        yield
    finally:
        _forward_end(resume=True)
