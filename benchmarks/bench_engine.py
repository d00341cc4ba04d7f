"""Engine workloads W1–W5 side by side: activerules, NumPy (forward and a
hand-written reverse), PyTorch eager, JAX (eager and jit) and HIPS autograd,
whichever are installed. Prints one table of times and the ratios the issue
sets targets for, then W1, W4 and W5 side by side: activerules next to PyTorch
eager, JAX jit and HIPS autograd on the same workloads (float64; each library's
gradient is checked against activerules' before it is timed; ``references.py``
says how each is written).

    python benchmarks/bench_engine.py [--quick] [--replay]

Targets (issue 3): W1 ar ≤ 0.8× torch eager; W2 ar gradient ≤ 2.2× NumPy
forward; W3 grad w.r.t. A only ≤ 0.67× w.r.t. both; W4 gradient ≤ 10× NumPy
forward and memory held for the reverse ≤ 1/4 of PyTorch's; W5 IFT gradient
≥ 8× faster than through the iterations and ≤ 1.2× the NumPy forward.
Issue 12: B8 a width-8 BatchDuplicated sweep ≥ 3× faster than 8 sweeps
(``--b8``: B8 alone).
"""

from __future__ import annotations

import gc
import os
import sys
import tracemalloc
import types
from typing import Any, Callable

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1")

import numpy as np  # noqa: E402
import references  # noqa: E402
import workloads  # noqa: E402
from workloads import chain, heat_problem, load_example  # noqa: E402

import activerules as ar  # noqa: E402
from activerules.engine import autodiff, gradient, vjp  # noqa: E402

QUICK = "--quick" in sys.argv
B8_ONLY = "--b8" in sys.argv


def _try(name: str) -> Any:
    try:
        return __import__(name)
    except ImportError:
        return None


torch = _try("torch")
jax = _try("jax")
autograd = _try("autograd")
if torch is not None:
    torch.set_num_threads(1)
if jax is not None:
    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp
if autograd is not None:
    import autograd.numpy as anp


def best(f: Callable[[], Any], repeat: int = 7, collect: bool = True) -> float:
    """:func:`workloads.best`, three runs with ``--quick``."""
    return workloads.best(f, 3 if QUICK else repeat, collect)


ROWS: list[tuple[str, str, str]] = []


def row(workload: str, what: str, value: str) -> None:
    ROWS.append((workload, what, value))
    print(f"{workload:4} {what:58} {value}", flush=True)


def _rss() -> int:
    """Resident set size in bytes (Linux)."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def kept_bytes(roots: list[Any]) -> int:
    """Bytes of the NumPy buffers (and NumPy scalars) reachable from ``roots`` through
    containers, closures and instance attributes: what a tape keeps for its reverse,
    counted as PyTorch's saved tensors are below (each buffer once, whole)."""
    seen: set[int] = set()
    sizes: dict[int, int] = {}
    stack = list(roots)
    while stack:
        o = stack.pop()
        if id(o) in seen:
            continue
        seen.add(id(o))
        if isinstance(o, np.ndarray):
            while isinstance(o.base, np.ndarray):
                o = o.base
            sizes[id(o)] = o.nbytes
        elif isinstance(o, np.generic):
            sizes[id(o)] = o.itemsize
        elif isinstance(o, (tuple, list)):
            stack.extend(o)
        elif isinstance(o, dict):
            stack.extend(o.values())
        elif isinstance(o, types.FunctionType):  # its closure and defaults, not its module
            for c in o.__closure__ or ():
                try:
                    stack.append(c.cell_contents)
                except ValueError:  # an empty cell
                    pass
            stack.extend(o.__defaults__ or ())
        elif hasattr(o, "__dict__") and not isinstance(o, (type, types.ModuleType)):
            stack.extend(vars(o).values())
        elif hasattr(o, "__slots__"):
            stack.extend(getattr(o, n) for n in o.__slots__ if hasattr(o, n))
    return sum(sizes.values())


def ms(t: float) -> str:
    return f"{t * 1e3:9.3f} ms"


# workload -> library -> best time (s): the side-by-side table printed last
SIDE: dict[str, dict[str, float]] = {}
LIBRARIES = ("numpy forward", "activerules", "torch eager", "jax jit", "autograd")


def other_libraries(workload: str, builders: dict[str, Callable[[], references.Grad]], args: tuple[Any, ...],
                    want: tuple[np.ndarray, ...], repeat: int = 7) -> dict[str, float]:
    """Each installed library's gradient of ``workload`` (``builders``: library -> a
    builder of it), checked against activerules' ``want``, then timed; in :data:`SIDE`."""
    times: dict[str, float] = {}
    for lib, build in builders.items():
        grad = build()
        for got, expected in zip(grad(*args), want, strict=True):
            np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-12 * np.abs(expected).max(),
                                       err_msg=f"{workload}: {lib} computes another gradient")
        times[lib] = best(lambda: grad(*args), repeat)
        row(workload, f"{lib} gradient", ms(times[lib]))
    SIDE.setdefault(workload, {}).update(times)
    return times


def installed(torch_: Callable[[], Any], jax_: Callable[[], Any], autograd_: Callable[[], Any]) -> dict[str, Any]:
    """The builders of the libraries that are installed, by their column name."""
    found = {"torch eager": (torch, torch_), "jax jit": (jax, jax_), "autograd": (autograd, autograd_)}
    return {lib: build for lib, (module, build) in found.items() if module is not None}


def side_by_side() -> None:
    """W1, W4, W5: best times, and activerules' time over each library's (a Markdown table)."""
    print("\n| | " + " | ".join(LIBRARIES) + " |\n|---|" + "---|" * len(LIBRARIES))
    for workload, times in SIDE.items():
        ours = times["activerules"]
        cells = [f"{times[lib] * 1e3:.3g} ms" + ("" if lib == "activerules" else f" ({ours / times[lib]:.2f}×)")
                 if lib in times else "–" for lib in LIBRARIES]
        print(f"| {workload} | " + " | ".join(cells) + " |")
    print("(in brackets: activerules' time / the library's)")


# -- W1 / W2: elementwise chains -----------------------------------------------------------

def chain_numpy_grad(x: np.ndarray, blocks: int, lanes: int = 0) -> np.ndarray:
    """The hand-written reverse: keep what each step's derivative needs (``lanes``: that
    many cotangents at once, stacked on a leading axis)."""
    saved = []
    for _ in range(blocks):
        saved.append(np.cos(x))
        x = np.sin(x) * 1.01 + 0.1
        x = np.tanh(x)
        saved.append(x)
    g = np.ones((lanes, *x.shape)) if lanes else np.ones_like(x)
    for k in range(blocks - 1, -1, -1):
        y = saved[2 * k + 1]
        g = g * (1 - y * y) * 1.01 * saved[2 * k]
    return g


# The same chain through four primitives with minimal rrules: what the engine itself
# costs per op when the rules are as lean as a hand-written reverse.
@ar.engine.primitive
def _lean_sin(x: Any) -> Any:
    return np.sin(x)


@ar.engine.primitive
def _lean_tanh(x: Any) -> Any:
    return np.tanh(x)


@ar.engine.primitive
def _lean_affine(x: Any, a: float, b: float) -> Any:
    return x * a + b


@ar.rrule(_lean_sin)
def _lean_sin_rrule(x: Any) -> Any:
    return np.sin(x), lambda g: (g * np.cos(x),)


@ar.rrule(_lean_tanh)
def _lean_tanh_rrule(x: Any) -> Any:
    y = np.tanh(x)
    return y, lambda g: (g * (1 - y * y),)


@ar.rrule(_lean_affine)
def _lean_affine_rrule(x: Any, a: float, b: float) -> Any:
    return x * a + b, lambda g: (g * a, None, None)


def lean_chain(x: Any, blocks: int) -> Any:
    for _ in range(blocks):
        x = _lean_sin(x)
        x = _lean_affine(x, 1.01, 0.0)
        x = _lean_affine(x, 1.0, 0.1)
        x = _lean_tanh(x)
    return x.sum()


class _Bare:
    """The leanest eager tape Python allows, for W1's floor: one object per value, one
    closure per op, no activity, no views, no mutation, no checks. Every per-op cost
    the engine adds on top of this buys one of those (rule resolution, copy-on-write,
    shadows shared by views, cotangent checks, no partial accumulation)."""

    __slots__ = ("a", "g", "tape")
    __array_priority__ = 1000.0

    def __init__(self, a: Any, tape: list[Any]) -> None:
        self.a, self.g, self.tape = a, None, tape

    def _op(self, y: Any, pullback: Any) -> _Bare:
        out = _Bare(y, self.tape)
        self.tape.append((out, self, pullback))
        return out

    def __array_ufunc__(self, ufunc: Any, method: str, *inputs: Any, **kw: Any) -> Any:
        a = self.a
        if ufunc is np.sin:
            return self._op(np.sin(a), lambda g: g * np.cos(a))
        y = np.tanh(a)
        return self._op(y, lambda g: g * (1 - y * y))

    def __mul__(self, c: float) -> _Bare:
        return self._op(self.a * c, lambda g: g * c)

    def __add__(self, c: float) -> _Bare:
        return self._op(self.a + c, lambda g: g)

    def sum(self) -> _Bare:
        shape = self.a.shape
        return self._op(self.a.sum(), lambda g: np.broadcast_to(g, shape))


def bare_chain_grad(x: np.ndarray, blocks: int) -> Any:
    tape: list[Any] = []
    v = _Bare(x, tape)
    out = chain(v, blocks, np.sin, np.tanh)
    out.g = 1.0
    for y, arg, pullback in reversed(tape):
        c = pullback(y.g)
        arg.g = c if arg.g is None else arg.g + c
    return v.g


def elementwise(name: str, n: int, blocks: int) -> dict[str, float]:
    x = np.linspace(0.0, 1.0, n)
    t: dict[str, float] = {}
    t["numpy forward"] = best(lambda: chain(x, blocks, np.sin, np.tanh))
    t["numpy hand-written reverse"] = best(lambda: chain_numpy_grad(x, blocks))
    t["activerules"] = best(lambda: gradient(lambda v: chain(v, blocks, np.sin, np.tanh), x))
    t["activerules, lean rrules (engine floor)"] = best(lambda: gradient(lambda v: lean_chain(v, blocks), x))
    t["bare eager tape, no checks (Python floor)"] = best(lambda: bare_chain_grad(x, blocks))
    if torch is not None:
        def torch_grad() -> Any:
            v = torch.from_numpy(x).requires_grad_()
            chain(v, blocks, torch.sin, torch.tanh).backward()
            return v.grad
        t["torch eager"] = best(torch_grad)
    if jax is not None:
        jgrad = jax.grad(lambda v: chain(v, blocks, jnp.sin, jnp.tanh))
        xj = jnp.asarray(x)
        if n <= 10_000:
            t["jax eager"] = best(lambda: jgrad(xj).block_until_ready(), repeat=2)
        jitted = jax.jit(jgrad)
        t["jax jit"] = best(lambda: jitted(xj).block_until_ready())
    if autograd is not None:
        agrad = autograd.grad(lambda v: chain(v, blocks, anp.sin, anp.tanh))
        t["autograd"] = best(lambda: agrad(x))
    for k, v in t.items():
        row(name, k, ms(v))
    return t


# -- W3: activity ----------------------------------------------------------------------------

def w3() -> None:
    rng = np.random.default_rng(0)
    A, B = rng.standard_normal((512, 512)) / 20, rng.standard_normal((512, 512)) / 20
    f = lambda a, b: np.tanh(a @ b).sum()  # noqa: E731
    t_a = best(lambda: autodiff(f, ar.Duplicated(A, np.zeros_like(A)), ar.Const(B)))
    t_ab = best(lambda: autodiff(f, ar.Duplicated(A, np.zeros_like(A)), ar.Duplicated(B, np.zeros_like(B))))
    row("W3", "activerules grad A only", ms(t_a))
    row("W3", "activerules grad A and B", ms(t_ab))
    row("W3", "activerules ratio A-only / both (target ≤ 0.67)", f"{t_a / t_ab:9.2f}")
    if torch is not None:
        def tgrad(both: bool) -> Any:
            a = torch.from_numpy(A).requires_grad_()
            b = torch.from_numpy(B).requires_grad_(both)
            torch.tanh(a @ b).sum().backward()
        ta, tab = best(lambda: tgrad(False)), best(lambda: tgrad(True))
        row("W3", "torch ratio A-only / both", f"{ta / tab:9.2f}")
    if jax is not None:
        jf = lambda a, b: jnp.tanh(a @ b).sum()  # noqa: E731
        ga, gab = jax.jit(jax.grad(jf, 0)), jax.jit(jax.grad(jf, (0, 1)))
        Aj, Bj = jnp.asarray(A), jnp.asarray(B)
        ta = best(lambda: ga(Aj, Bj).block_until_ready())
        tab = best(lambda: jax.block_until_ready(gab(Aj, Bj)))
        row("W3", "jax jit ratio A-only / both", f"{ta / tab:9.2f}")


# -- W4: the in-place heat equation ------------------------------------------------------------

def w4() -> None:
    heat, x0, p0 = heat_problem()
    n = x0.size

    def numpy_forward() -> Any:
        return heat.final_energy(x0.copy(), p0.copy())

    def ar_grad() -> Any:
        return autodiff(heat.final_energy, ar.Duplicated(x0.copy(), np.zeros(n)),
                        ar.Duplicated(p0.copy(), np.zeros(3)))

    t_np, t_ar = best(numpy_forward, 3), best(ar_grad, 3)
    row("W4", "numpy forward", ms(t_np))
    row("W4", "activerules gradient", ms(t_ar))
    row("W4", "activerules gradient / numpy forward (target ≤ 10)", f"{t_ar / t_np:9.2f}")
    SIDE["W4"] = {"numpy forward": t_np, "activerules": t_ar}
    want = (np.zeros(n), np.zeros(3))
    autodiff(heat.final_energy, ar.Duplicated(x0.copy(), want[0]), ar.Duplicated(p0.copy(), want[1]))
    others = other_libraries("W4", installed(lambda: references.heat_torch_grad(heat, torch),
                                             lambda: references.heat_jax_grad(heat, jax),
                                             lambda: references.heat_autograd_grad(heat, autograd)),
                             (x0, p0), want, 3)

    # memory held for the reverse (after the forward, tape alive): NumPy array bytes
    # (tracemalloc's NumPy domain) and the process RSS growth (includes the tape's
    # Python objects; measured without tracemalloc, whose own records would count);
    # PyTorch: bytes of saved tensors and RSS growth.
    gc.collect()
    rss0 = _rss()
    _, pullback = vjp(heat.final_energy, x0.copy(), p0.copy())
    rss_ar = _rss() - rss0
    del pullback
    x_in, p_in = x0.copy(), p0.copy()
    gc.collect()
    tracemalloc.start()
    _, pullback = vjp(heat.final_energy, x_in, p_in)
    numpy_only = [tracemalloc.DomainFilter(True, np.lib.tracemalloc_domain)]
    held_ar = sum(s.size for s in tracemalloc.take_snapshot().filter_traces(numpy_only).statistics("filename"))
    tracemalloc.stop()
    # what the tape itself keeps for the reverse (the entries' closures and annotations),
    # counted like PyTorch's saved tensors: the arrays above less the function's working
    # state, i.e. the copy of x that vjp (functional) lets the function write into
    run = pullback._run  # the engine's record of the forward pass (internal)
    kept_ar = kept_bytes(list(run.tape.entries))
    del pullback, run
    row("W4", "activerules array memory held for the reverse", f"{held_ar / 1e6:9.3f} MB")
    row("W4", "activerules arrays and scalars the tape keeps", f"{kept_ar / 1e6:9.3f} MB")
    row("W4", "activerules RSS growth while the tape is alive", f"{rss_ar / 1e6:9.3f} MB")
    if torch is not None:
        torch_energy = references.heat_torch_energy(heat, torch)
        row("W4", "torch eager gradient / numpy forward", f"{others['torch eager'] / t_np:9.2f}")
        saved: dict[int, int] = {}

        def pack(tensor: Any) -> Any:
            saved[tensor.untyped_storage().data_ptr()] = tensor.untyped_storage().nbytes()
            return tensor
        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            x = torch.from_numpy(x0).requires_grad_()
            p = torch.from_numpy(p0).requires_grad_()
            torch_energy(x, p)
        held_t = sum(saved.values())
        gc.collect()
        rss0 = _rss()
        x = torch.from_numpy(x0).requires_grad_()
        p = torch.from_numpy(p0).requires_grad_()
        loss = torch_energy(x, p)
        rss_t = _rss() - rss0
        del loss
        row("W4", "torch memory held for the reverse (saved tensors)", f"{held_t / 1e6:9.3f} MB")
        row("W4", "torch RSS growth while the graph is alive", f"{rss_t / 1e6:9.3f} MB")
        row("W4", "activerules / torch array memory (target ≤ 0.25)", f"{held_ar / max(held_t, 1):9.2f}")
        row("W4", "activerules tape-kept / torch saved", f"{kept_ar / max(held_t, 1):9.2f}")
        if rss_t > 1e6:  # below that PyTorch's caching allocator just reused memory
            row("W4", "activerules / torch RSS growth", f"{rss_ar / rss_t:9.2f}")


# -- W5: implicit function theorem ------------------------------------------------------------

def w5() -> None:
    m = load_example("implicit_solve")
    p = np.linspace(0.5, 3.0, 10_000)
    t_ift = best(lambda: gradient(m.loss_ift, p))
    t_unrolled = best(lambda: gradient(m.loss_unrolled, p), 3)
    t_np = best(lambda: m.loss_unrolled(p))
    row("W5", "numpy forward (30 Newton iterations, n=10000)", ms(t_np))
    row("W5", "activerules gradient through the IFT rule", ms(t_ift))
    row("W5", "activerules gradient through the iterations", ms(t_unrolled))
    row("W5", "speedup IFT vs iterations (target ≥ 8)", f"{t_unrolled / t_ift:9.2f}")
    row("W5", "IFT gradient / numpy forward (target ≤ 1.2)", f"{t_ift / t_np:9.2f}")
    SIDE["W5"] = {"numpy forward": t_np, "activerules": t_ift}
    other_libraries("W5", installed(lambda: references.newton_torch_grad(m, torch),
                                    lambda: references.newton_jax_grad(m, jax),
                                    lambda: references.newton_autograd_grad(m, autograd)),
                    (p,), (gradient(m.loss_ift, p),))
    # the same back to back, without a full collection before each run
    t_ift = best(lambda: gradient(m.loss_ift, p), 15, collect=False)
    t_unrolled = best(lambda: gradient(m.loss_unrolled, p), 3, collect=False)
    t_np = best(lambda: m.loss_unrolled(p), 15, collect=False)
    row("W5", "warm: speedup IFT vs iterations", f"{t_unrolled / t_ift:9.2f}")
    row("W5", "warm: IFT gradient / numpy forward", f"{t_ift / t_np:9.2f}")


# -- replay (issue 12): the same workloads recorded once, then replayed ---------------------------

def _held_per_call(make: Callable[[], Any]) -> float:
    """Bytes allocated and still held after ``make()`` (a vjp: the tape alive), per recorded call."""
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    y, pullback = make()
    gc.collect()
    held = sum(s.size_diff for s in tracemalloc.take_snapshot().compare_to(before, "filename"))
    tracemalloc.stop()
    return held / max(len(pullback._run.tape.entries), 1)


def replayed() -> None:
    """W1r, W4r, W4m, W5r: ``ar.replay`` next to the eager engine, in the same run."""
    x = np.linspace(0.0, 1.0, 16)
    f1 = lambda v: chain(v, 250, np.sin, np.tanh)  # noqa: E731
    r1 = ar.replay(f1)
    t_e, t_r = best(lambda: gradient(f1, x)), best(lambda: gradient(r1, x))
    lean = ar.replay(lambda v: lean_chain(v, 250))
    t_lean, t_bare = best(lambda: gradient(lean, x)), best(lambda: bare_chain_grad(x, 250))
    row("W1r", "activerules eager", ms(t_e))
    row("W1r", "activerules replayed", ms(t_r))
    row("W1r", "activerules replayed, lean rrules (the rules' floor)", ms(t_lean))
    row("W1r", "bare eager tape, no checks (Python floor)", ms(t_bare))
    if torch is not None:
        def torch_grad() -> Any:
            v = torch.from_numpy(x).requires_grad_()
            chain(v, 250, torch.sin, torch.tanh).backward()
        t_t = best(torch_grad)
        row("W1r", "torch eager", ms(t_t))
        row("W1r", "eager / torch eager (target ≤ 1.2)", f"{t_e / t_t:9.2f}")
        row("W1r", "replayed / torch eager (target ≤ 0.4)", f"{t_r / t_t:9.2f}")
        row("W1r", "replayed with lean rrules / torch eager", f"{t_lean / t_t:9.2f}")
        row("W1r", "bare eager tape / torch eager", f"{t_bare / t_t:9.2f}")
    heat, x0, p0 = heat_problem()
    r4 = ar.replay(heat.final_energy)
    n = x0.size

    def grad4(f: Any) -> Any:
        return autodiff(f, ar.Duplicated(x0.copy(), np.zeros(n)), ar.Duplicated(p0.copy(), np.zeros(3)))
    t_np = best(lambda: heat.final_energy(x0.copy(), p0.copy()), 3)
    t_e, t_r = best(lambda: grad4(heat.final_energy), 3), best(lambda: grad4(r4), 3)
    row("W4r", "activerules eager / numpy forward", f"{t_e / t_np:9.2f}")
    row("W4r", "activerules replayed / numpy forward (target ≤ 8)", f"{t_r / t_np:9.2f}")
    row("W4m", "bytes held per recorded call, eager",
        f"{_held_per_call(lambda: vjp(heat.final_energy, x0.copy(), p0.copy())):9.0f}")
    vjp(r4, x0.copy(), p0.copy())  # recorded: the next one replays
    row("W4m", "bytes held per recorded call, replayed (target ≤ 100)",
        f"{_held_per_call(lambda: vjp(r4, x0.copy(), p0.copy())):9.0f}")
    m = load_example("implicit_solve")
    p = np.linspace(0.5, 3.0, 10_000)
    r5 = ar.replay(m.loss_ift)
    t_np = best(lambda: m.loss_unrolled(p))
    t_e, t_r = best(lambda: gradient(m.loss_ift, p)), best(lambda: gradient(r5, p))
    row("W5r", "IFT gradient eager / numpy forward (target ≤ 1.2)", f"{t_e / t_np:9.2f}")
    row("W5r", "IFT gradient replayed / numpy forward (target ≤ 1.1)", f"{t_r / t_np:9.2f}")


# -- B8: one width-8 batch sweep against 8 sweeps --------------------------------------------

def _vjps(f: Callable[..., Any], x: np.ndarray, seeds: list[Any], batch: bool) -> Callable[[], Any]:
    """The 8 VJPs of ``f(x, out)`` (it writes its result into ``out``; ``out=None``: it returns
    a number and the seeds are numbers) in one width-8 BatchDuplicated sweep, or 8 sweeps."""
    scalar = np.ndim(seeds[0]) == 0

    def out_arg(s: Any) -> Any:
        return ar.Const(None) if scalar else ar.Duplicated(np.zeros_like(s), s.copy())

    def one_sweep() -> Any:
        lanes = tuple(np.zeros_like(x) for _ in seeds)
        out = ar.Const(None) if scalar else ar.BatchDuplicated(np.zeros_like(seeds[0]), tuple(s.copy() for s in seeds))
        autodiff(f, ar.BatchDuplicated(x.copy(), lanes), out,
                 returns=ar.Active(tuple(seeds)) if scalar else ar.Const)
        return lanes

    def sweeps() -> Any:
        result = []
        for s in seeds:
            dx = np.zeros_like(x)
            autodiff(f, ar.Duplicated(x.copy(), dx), out_arg(s), returns=ar.Active(s) if scalar else ar.Const)
            result.append(dx)
        return result
    return one_sweep if batch else sweeps


def _b8_row(name: str, f: Callable[..., Any], x: np.ndarray, seeds: list[Any]) -> None:
    one, eight = _vjps(f, x, seeds, True), _vjps(f, x, seeds, False)
    for a, b in zip(one(), eight()):  # the same derivatives either way
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)
    t1, t8 = best(one, 15, collect=False), best(eight, 15, collect=False)
    row("B8", f"{name}: one width-8 sweep", ms(t1))
    row("B8", f"{name}: 8 sweeps", ms(t8))
    row("B8", f"{name}: 8 sweeps / width-8 sweep (target ≥ 3)", f"{t8 / t1:9.2f}")


def _b8_floor(n: int) -> None:
    """The floor of the chain's ratio: NumPy alone, the hand-written forward and reverse
    once with 8 stacked cotangents against 8 times with one."""
    x = np.linspace(0.0, 1.0, n)
    t1 = best(lambda: chain_numpy_grad(x, 5, lanes=8), 15, collect=False)
    t8 = best(lambda: [chain_numpy_grad(x, 5) for _ in range(8)], 15, collect=False)
    row("B8", "floor, W2 chain by hand in NumPy: 8 stacked lanes", ms(t1))
    row("B8", "floor, W2 chain by hand in NumPy: 8 times / stacked", f"{t8 / t1:9.2f}")


def b8() -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal(10_000)
    _b8_row("W2 chain, n=1e4", lambda v, out: chain(v, 5, np.sin, np.tanh), x, [float(j + 1) for j in range(8)])
    a = rng.standard_normal((256, 256)) / 16

    def tanh_ax(v: Any, out: Any) -> None:
        np.copyto(out, np.tanh(a @ v))
    _b8_row("tanh(A @ x), A 256x256", tanh_ax, rng.standard_normal(256), [rng.standard_normal(256) for _ in range(8)])
    _b8_floor(10_000)


def main() -> None:
    print(f"numpy {np.__version__}, torch {getattr(torch, '__version__', '-')}, "
          f"jax {getattr(jax, '__version__', '-')}, autograd {'yes' if autograd else '-'}; one thread")
    if "--replay" in sys.argv:  # only the replay rows
        replayed()
        return
    if B8_ONLY:
        b8()
        return
    t1 = elementwise("W1", 16, 250)
    SIDE["W1"] = {lib: t1[lib] for lib in LIBRARIES if lib in t1}
    if "torch eager" in t1:
        row("W1", "activerules / torch eager (target ≤ 0.8)", f"{t1['activerules'] / t1['torch eager']:9.2f}")
        x = np.linspace(0.0, 1.0, 16)
        warm_ar = best(lambda: gradient(lambda v: chain(v, 250, np.sin, np.tanh), x), 15, collect=False)

        def torch_grad() -> Any:
            v = torch.from_numpy(x).requires_grad_()
            chain(v, 250, torch.sin, torch.tanh).backward()
        row("W1", "warm: activerules / torch eager", f"{warm_ar / best(torch_grad, 15, collect=False):9.2f}")
        row("W1", "activerules with lean rrules / torch eager",
            f"{t1['activerules, lean rrules (engine floor)'] / t1['torch eager']:9.2f}")
        row("W1", "bare eager tape / torch eager",
            f"{t1['bare eager tape, no checks (Python floor)'] / t1['torch eager']:9.2f}")
    t2 = elementwise("W2", 10 ** 6, 5)
    row("W2", "activerules gradient / numpy forward (target ≤ 2.2)",
        f"{t2['activerules'] / t2['numpy forward']:9.2f}")
    w3()
    w4()
    w5()
    replayed()
    b8()
    side_by_side()


if __name__ == "__main__":
    main()
