"""The engine pauses the cyclic garbage collector while it tapes and sweeps; with
several threads differentiating continuously the pauses overlap, and the
collector must still run (bounded pause), or other threads' cyclic garbage grows
without limit."""

from __future__ import annotations

import gc
import threading
import time
import weakref
from typing import Any

import numpy as np

import activerules as ar


class _Cycle:
    def __init__(self) -> None:
        self.me = self
        self.payload = [0] * 10


def _chain(v: Any) -> Any:
    for _ in range(20):
        v = np.tanh(np.sin(v) * 1.01 + 0.1)
    return v.sum()


def test_collector_runs_while_threads_differentiate_continuously() -> None:
    was = gc.isenabled()
    gc.enable()
    try:
        _run_threads()
    finally:
        if not was:
            gc.disable()


def _run_threads() -> None:
    stop = threading.Event()
    x = np.linspace(0.0, 1.0, 16)

    def work() -> None:
        while not stop.is_set():
            ar.gradient(_chain, x)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    refs = []
    try:
        time.sleep(0.2)  # the pauses overlap from here on
        end = time.monotonic() + 2.0
        while time.monotonic() < end:
            for _ in range(200):
                refs.append(weakref.ref(_Cycle()))
            time.sleep(0.001)
        alive = sum(r() is not None for r in refs)
    finally:
        stop.set()
        for t in threads:
            t.join()
    # Without a collection every cycle made in those 2 s would still be alive.
    assert alive < len(refs) // 2, (alive, len(refs))
    assert gc.isenabled()
    gc.collect()
    assert all(r() is None for r in refs)
