"""A program fuzzer for the reverse engine (issue 10).

``generate(seed)`` builds a random straight-line NumPy program over one to three
float arrays and at most one float: elementwise ufuncs, reductions, views
(slices, ``.T``, reshapes, ``np.split``...), in-place updates through views
(``v += ...``, ``v[...] = ...``, ``out=``, ``where=``), fancy indexing with
repeated indices, ``ufunc.at``, ``np.where``, concatenation, sorting. Every
statement is emitted twice from one template, as NumPy code and as the same
program on torch tensors, and a statement is kept only if both versions compute
the same values for every variable (so views and copies alias the same way in
both). ``check_program`` then compares ``ar.gradient``, ``ar.vjp`` (the pullback
called twice), ``ar.autodiff`` (non-zero ``Duplicated`` shadows) and a width-2
``ar.BatchDuplicated`` request against PyTorch and central finite differences,
and checks the caller's arrays against the contract (gradient/vjp: unchanged;
autodiff: as plain NumPy leaves them; after an error: as before the call).
``shrink`` reduces a failing program and ``regression_test`` prints it as a test.

>>> outcomes = check_program(generate(0))
>>> sorted({o.kind for o in outcomes}) <= sorted(KINDS)
True
"""

from __future__ import annotations

import copy
import re
import traceback
import warnings
from dataclasses import dataclass, field, replace
from typing import Any, Callable

import numpy as np

import activerules as ar

# What generation leaves out by default because it hits a known engine bug: op classes
# (keys of ``fuzz_ops.OPS``) and program features (``FEATURES``), each -> the bug. The lead
# empties this as the fixes merge (``scripts/fuzz.py --all-ops`` generates everything).
KNOWN_BROKEN: dict[str, str] = {}
# Program features KNOWN_BROKEN may name: a statement that changes an undifferentiated input
# (a ufunc.at with no active argument doing so);
# results that are views of one storage; a statement that writes a value depending on the
# differentiated inputs into an array that did not (so the engine holds it as a constant);
# a ufunc.at whose values are a view of its target; np.split giving the whole array as a piece;
# a variable with an exact zero; a reshape that is a view into a storage not in C order.
FEATURES = ("write_undifferentiated_input", "ufunc_at_into_undifferentiated_input", "outputs_share_storage",
            "active_write_into_constant", "ufunc_at_alias", "split_whole_piece", "exact_zeros", "reshape_view_of_f_ordered")

KINDS = ("agree", "named_error", "disagree", "crash", "caller_changed")
FAILURES = ("disagree", "crash", "caller_changed")
REQUESTS = ("gradient", "vjp", "autodiff", "batch")
_NAME = re.compile(r"^[xsv]\d+$")
_BOUND = 1e3  # statements whose values grow past this are dropped (finite differences stay accurate)


@dataclass(frozen=True)
class Stmt:
    """One statement of a program: its op class and its NumPy and torch source lines."""

    op: str
    np_src: str
    torch_src: str
    features: tuple[str, ...] = ()  # the FEATURES it has that a template can see (aliasing)


@dataclass
class Program:
    """A straight-line program: inputs ``names``/``values`` (arrays ``x<k>``, floats
    ``s<k>``), statements, returned names, differentiated positions and the seed of
    the cotangents and shadows used to check it."""

    names: list[str]
    values: list[Any]
    stmts: list[Stmt] = field(default_factory=list)
    returns: list[str] = field(default_factory=list)
    diff: tuple[int, ...] = (0,)
    seed: int = 0

    def np_source(self) -> str:
        body = [s.np_src for s in self.stmts] + [f"return ({''.join(r + ', ' for r in self.returns)})"]
        return f"def f({', '.join(self.names)}):\n" + "".join(f"    {line}\n" for line in body)

    def torch_source(self) -> str:
        arrays = [n for n in self.names if n[0] == "x"]
        body = [f"{n} = {n}.clone()" for n in arrays] + [s.torch_src for s in self.stmts]
        body.append(f"return ({''.join(r + ', ' for r in self.returns)}), ({''.join(n + ', ' for n in arrays)})")
        return f"def f({', '.join(self.names)}):\n" + "".join(f"    {line}\n" for line in body)


def compile_fn(src: str, namespace: dict[str, Any]) -> Callable[..., Any]:
    """The function ``f`` defined by ``src`` in a copy of ``namespace``."""
    ns = dict(namespace)
    exec(compile(src, "<fuzz program>", "exec"), ns)
    return ns["f"]


def _torch() -> Any:
    import torch
    return torch


def copy_args(values: list[Any]) -> list[Any]:
    return [v.copy() if isinstance(v, np.ndarray) else v for v in values]


# ---------------------------------------------------------------- generation

def _root(v: Any) -> Any:
    while isinstance(v, np.ndarray) and v.base is not None:
        v = v.base
    return v


_WRITES = [re.compile(p) for p in (r"out=(\w+)", r"\.at\((\w+)", r"^(\w+)\.sort\(",
                                    r"^(\w+)(\[[^=]*\])?\s*[-+*]?=(?!=)")]


def _write_target(src: str) -> str | None:
    """The variable a statement writes into (``x0[1:] += ...``, ``out=x0``, ``np.add.at(x0, ...``)."""
    for p in _WRITES:
        m = p.search(src)
        if m:
            return m.group(1)
    return None


def _feature_violations(prog: Program, stmts: list[Stmt]) -> set[str]:
    """The program features of ``FEATURES`` that ``stmts`` have, found by running them with the
    undifferentiated inputs read-only and following which storages hold values that depend
    on the differentiated inputs (by data flow, as the engine sees it)."""
    vals = copy_args(prog.values)
    for i, v in enumerate(vals):
        if i not in prog.diff and isinstance(v, np.ndarray):
            v.flags.writeable = False
    env: dict[str, Any] = {"np": np, **dict(zip(prog.names, vals))}
    active = {id(_root(env[prog.names[i]])) for i in prog.diff}
    const = {id(v) for v in vals if isinstance(v, np.ndarray) and not v.flags.writeable}
    found: set[str] = set()
    for st in stmts:
        before = {n for n in env if _NAME.match(n)}
        reads = re.sub(r"\S+ > 0", "", st.np_src)  # a mask carries no derivative
        act = any(id(_root(env[n])) in active for n in re.findall(r"\b[xsv]\d+\b", reads) if n in env)
        target = _write_target(st.np_src)
        if target in before and id(_root(env[target])) in const:  # NumPy's ufunc.at ignores read-only
            found.add("write_undifferentiated_input")
            if st.op.endswith(".at") and not act:  # nothing the engine sees: the write reaches the caller
                found.add("ufunc_at_into_undifferentiated_input")
        if act and target in before and id(_root(env[target])) not in active:
            found.add("active_write_into_constant")
        try:
            exec(st.np_src, env)
        except ValueError:  # assignment destination is read-only
            found.add("write_undifferentiated_input")
            continue
        for n, v in env.items():
            if act and _NAME.match(n) and (n not in before or n == target):
                active.add(id(_root(v)))
    return found


def run_env(prog: Program, stmts: list[Stmt]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Run ``stmts`` on copies of the inputs as NumPy and as torch code; both environments."""
    torch = _torch()
    env: dict[str, Any] = {"np": np, **dict(zip(prog.names, copy_args(prog.values)))}
    tenv: dict[str, Any] = {"torch": torch}
    tenv.update({n: torch.tensor(v, dtype=torch.float64) for n, v in zip(prog.names, prog.values)})
    with np.errstate(all="raise"), torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch: index_reduce is in beta
        exec("\n".join(s.np_src for s in stmts), env)
        exec("\n".join(s.torch_src for s in stmts), tenv)
    return env, tenv


def _agree(env: dict[str, Any], tenv: dict[str, Any]) -> bool:
    for n, v in env.items():
        if not _NAME.match(n):
            continue
        a = np.asarray(v)
        t = tenv.get(n)
        if t is None or tuple(t.shape) != a.shape or not np.all(np.abs(a) < _BOUND):
            return False
        if not np.allclose(a, t.numpy(), rtol=1e-9, atol=1e-12):
            return False
    return True


def generate(seed: int, exclude: dict[str, str] | None = None, max_stmts: int = 10,
             const_writes: bool = False, extra_ops: dict[str, Callable[..., Any]] | None = None) -> Program:
    """A random program whose NumPy and torch versions agree, deterministic in ``seed``;
    op classes in ``exclude`` (default ``KNOWN_BROKEN``) are not generated. ``const_writes``:
    runtime activity (issue 11): at least one array input is not differentiated, and every
    write (in-place update, setitem, ``out=``, ``ufunc.at``, ``sort``) goes into one of them
    while they are there, often with values that depend on the differentiated ones.
    ``extra_ops``: op classes generated besides ``fuzz_ops.OPS`` (the replay mode's)."""
    import fuzz_ops
    from fuzz_ops import OPS, WEIGHTS
    rng = np.random.default_rng(seed)
    prog = _inputs(rng, seed, const_writes)
    fuzz_ops.PREFERRED_TARGETS[:] = ([n for i, n in enumerate(prog.names) if i not in prog.diff and n[0] == "x"]
                                     if const_writes else [])
    skip = KNOWN_BROKEN if exclude is None else exclude
    table = {**OPS, **(extra_ops or {})}
    ops = [o for o in sorted(table) if o not in skip]
    weights = np.array([WEIGHTS.get(o, 1) for o in ops], dtype=float)
    target, tries = int(rng.integers(2, max_stmts + 1)), 0
    env, _ = run_env(prog, [])
    while len(prog.stmts) < target and tries < 6 * max_stmts:
        tries += 1
        st = table[ops[int(rng.choice(len(ops), p=weights / weights.sum()))]](rng, env)
        if st is None or any(f in skip for f in st.features):
            continue
        try:
            cand_env, cand_tenv = run_env(prog, prog.stmts + [st])
        except Exception:  # the template met shapes it cannot take, or NumPy and torch differ
            continue
        if not _agree(cand_env, cand_tenv) or _feature_violations(prog, prog.stmts + [st]) & set(skip):
            continue
        if "exact_zeros" in skip and any(np.any(np.asarray(v) == 0) for n, v in cand_env.items() if _NAME.match(n)):
            continue
        prog.stmts.append(st)
        env = cand_env
    prog.returns = _returns(rng, env, "outputs_share_storage" in skip)
    fuzz_ops.PREFERRED_TARGETS[:] = []
    return prog


def _returns(rng: np.random.Generator, env: dict[str, Any], disjoint: bool) -> list[str]:
    outs = [n for n in env if _NAME.match(n)]
    new = [n for n in outs if n[0] == "v"] or outs
    picks = [new[-1]]
    if rng.random() < 0.5:
        other = outs[int(rng.integers(len(outs)))]
        if not (disjoint and isinstance(env[other], np.ndarray) and _root(env[picks[0]]) is _root(env[other])):
            picks.append(other)
    return list(dict.fromkeys(picks))


def distinct(values: list[Any]) -> bool:
    """No two input entries are equal and none is near zero: no input sits where a sort,
    a maximum, ``np.where(x > 0, ...)`` or a product has a kink."""
    flat = np.concatenate([np.ravel(v) for v in values])
    return bool(np.all(np.abs(flat) >= 0.05) and len(np.unique(flat)) == len(flat))


def _inputs(rng: np.random.Generator, seed: int, const_writes: bool = False) -> Program:
    shapes = [(4,), (6,), (3, 4), (4, 3), (2, 3), (4, 4), (2, 3, 2), (2, 2, 3)]
    n_arr = int(rng.integers(2 if const_writes else 1, 4))
    names: list[str] = []
    values: list[Any] = []
    for k in range(n_arr):
        shape = shapes[int(rng.integers(len(shapes)))]
        names.append(f"x{k}")
        values.append(np.round(rng.uniform(-1.5, 1.5, shape), 3))
    if rng.random() < 0.5:
        names.append("s0")
        values.append(float(np.round(rng.uniform(-1.5, 1.5), 3)))
    while not distinct(values):  # ties and zeros are points where derivatives are conventions
        values = [np.round(v + rng.uniform(-0.01, 0.01, np.shape(v)), 3) for v in values]
        values = [v if np.ndim(v) else float(v) for v in values]
    positions = list(range(len(names)))
    if const_writes:  # at least one array input left undifferentiated, written into
        positions.remove(int(rng.integers(n_arr)))
    k = int(rng.integers(1, len(positions) + 1))
    diff = tuple(sorted(int(i) for i in rng.choice(positions, size=k, replace=False)))
    return Program(names, values, diff=diff, seed=seed)


# ---------------------------------------------------------------- references

def _flat(vals: list[Any]) -> np.ndarray:
    return np.concatenate([np.ravel(np.asarray(v, dtype=float)) for v in vals]) if vals else np.zeros(0)


def plain_run(f: Callable[..., Any], args: list[Any]) -> tuple[list[Any], list[Any]]:
    """``f`` on copies of ``args`` as plain NumPy: its outputs (copied) and the arrays after."""
    a = copy_args(args)
    outs = [np.array(o) if isinstance(o, np.ndarray) else o for o in f(*a)]
    return outs, [v for v in a if isinstance(v, np.ndarray)]


def fd_jacobian(f: Callable[..., Any], args: list[Any], diff: tuple[int, ...],
                eps: float = 1e-6) -> np.ndarray:
    """Central differences of ``args -> (outputs, differentiated arrays after)``, flattened,
    with respect to the differentiated arguments' entries."""
    cols = []
    for i in diff:
        base = np.asarray(args[i], dtype=float)
        for j in range(base.size):
            vals = []
            for h in (eps, -eps):
                a = copy_args(args)
                if isinstance(a[i], np.ndarray):
                    a[i].flat[j] += h
                else:
                    a[i] = a[i] + h
                vals.append(_outputs_and_finals(f, a, diff))
            cols.append((vals[0] - vals[1]) / (2 * eps))
    return np.stack(cols, axis=1)


def _outputs_and_finals(f: Callable[..., Any], a: list[Any], diff: tuple[int, ...]) -> np.ndarray:
    outs = list(f(*a))
    finals = [a[i] for i in diff if isinstance(a[i], np.ndarray)]
    return np.concatenate([_flat(outs), _flat(finals)])


def _split(g: np.ndarray, args: list[Any], diff: tuple[int, ...]) -> list[Any]:
    res, k = [], 0
    for i in diff:
        n = np.size(args[i])
        res.append(g[k:k + n].reshape(np.shape(args[i])))
        k += n
    return res


def torch_grads(f_torch: Callable[..., Any], args: list[Any], diff: tuple[int, ...],
                specs: list[tuple[list[Any], list[Any]]]) -> list[list[Any]] | None:
    """PyTorch's gradient of ``<out_cots, outputs> + <final_cots, arrays after>`` for each
    ``(out_cots, final_cots)`` in ``specs``; ``None`` if torch cannot differentiate it."""
    torch = _torch()
    leaves = [torch.tensor(v, dtype=torch.float64, requires_grad=i in diff) for i, v in enumerate(args)]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            outs, finals = f_torch(*leaves)
        finals = [t for i, t in zip(range(len(args)), finals) if i in diff]  # arrays come first
        res = []
        for out_cots, final_cots in specs:
            phi = sum((o * torch.tensor(c)).sum() for o, c in zip(outs, out_cots))
            phi = phi + sum((t * torch.tensor(c)).sum() for t, c in zip(finals, final_cots))
            if not isinstance(phi, torch.Tensor) or not phi.requires_grad:
                res.append([np.zeros(np.shape(args[i])) for i in diff])
                continue
            gs = torch.autograd.grad(phi, [leaves[i] for i in diff], retain_graph=True, allow_unused=True)
            res.append([np.zeros(np.shape(args[i])) if g is None else g.numpy() for i, g in zip(diff, gs)])
        return res
    except RuntimeError:
        return None


# ---------------------------------------------------------------- checking

@dataclass
class Outcome:
    """How one request on one program ended: ``kind`` in ``KINDS``, and what went wrong."""

    request: str
    kind: str
    detail: str = ""

    def signature(self) -> tuple[str, str, str]:
        """What a shrunk program must keep: the request, the kind and the error's type."""
        head = self.detail.split(":", 1)[0] if self.kind in ("crash", "named_error") else ""
        return (self.request, self.kind, head)


@dataclass
class Case:
    """A program to check: the NumPy function, its inputs, the differentiated positions,
    the torch function (optional) and the values every request uses."""

    f: Callable[..., Any]
    args: list[Any]
    diff: tuple[int, ...]
    f_torch: Callable[..., Any] | None = None
    seed: int = 0
    outs: list[Any] = field(default_factory=list)
    finals: list[Any] = field(default_factory=list)
    weights: list[Any] = field(default_factory=list)
    cots: list[list[Any]] = field(default_factory=list)     # two vjp cotangents
    shadows: list[list[Any]] = field(default_factory=list)  # three sets: autodiff, batch lanes
    seeds: tuple[float, float, float] = (1.0, 1.0, 1.0)

    def __post_init__(self) -> None:
        self.outs, self.finals = plain_run(self.f, self.args)
        rng = np.random.default_rng(1000 + self.seed)
        draw = lambda: [rng.uniform(-1, 1, np.shape(o)) if np.ndim(o) else float(rng.uniform(-1, 1))  # noqa: E731
                        for o in self.outs]
        self.weights = draw()
        self.cots = [draw(), draw()]
        arrays = [i for i in self.diff if isinstance(self.args[i], np.ndarray)]
        self.shadows = [[rng.uniform(-1, 1, np.shape(self.args[i])) for i in arrays] for _ in range(3)]
        self.seeds = tuple(float(v) for v in np.round(rng.uniform(0.5, 2.0, 3), 2))  # type: ignore

    def specs(self) -> dict[str, tuple[list[Any], list[Any]]]:
        """Each derivative asked for, as (output cotangents, cotangents of the arrays after)."""
        zero = [np.zeros_like(s) for s in self.shadows[0]]
        scaled = lambda k: [w * self.seeds[k] for w in self.weights]  # noqa: E731
        return {"gradient": (self.weights, zero), "vjp0": (self.cots[0], zero), "vjp1": (self.cots[1], zero),
                "autodiff": (scaled(0), self.shadows[0]), "batch0": (scaled(1), self.shadows[1]),
                "batch1": (scaled(2), self.shadows[2])}

    def references(self) -> tuple[dict[str, list[Any]], dict[str, list[Any]] | None]:
        """Finite-difference and torch derivatives of every spec (torch: None if it failed)."""
        specs = self.specs()
        jac = fd_jacobian(self.f, self.args, self.diff)
        fd = {k: _split(_flat(oc + fc) @ jac, self.args, self.diff) for k, (oc, fc) in specs.items()}
        tg = None
        if self.f_torch is not None:
            res = torch_grads(self.f_torch, self.args, self.diff, list(specs.values()))
            tg = None if res is None else dict(zip(specs, res))
        return fd, tg


def close(got: Any, want: Any) -> bool:
    """``got`` equals ``want`` up to finite-difference error."""
    if got is None:
        return False
    g, w = np.asarray(got, dtype=float), np.asarray(want, dtype=float)
    if g.shape != w.shape or not np.all(np.isfinite(g)):
        return False
    scale = max(1.0, float(np.max(np.abs(w), initial=0.0)))
    return bool(np.allclose(g, w, rtol=1e-5, atol=2e-6 * scale))


def _matches(got: list[Any], fd: list[Any], tg: list[Any] | None) -> bool:
    if all(close(a, b) for a, b in zip(got, fd)):
        return True
    return tg is not None and all(close(a, b) for a, b in zip(got, tg))


def _loss(outs: Any, weights: list[Any]) -> Any:
    return sum(np.sum(o * w) for o, w in zip(outs, weights))


def _same(a: list[Any], b: list[Any]) -> bool:
    return all(np.array_equal(x, y) for x, y in zip(a, b))


def _describe(e: BaseException) -> str:
    where = traceback.extract_tb(e.__traceback__)[-1]
    return f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''} [{where.name}]"


def _guarded(request: str, run: Callable[[], Outcome], watched: list[Any]) -> Outcome:
    """``run()``, an error classified; after an error ``watched`` (the caller's arrays and
    shadows) must be as before the call."""
    before = copy_args(watched)
    try:
        return run()
    except ar.ActiveRulesError as e:
        if not _same(watched, before):
            return Outcome(request, "caller_changed", f"after {_describe(e)}")
        return Outcome(request, "named_error", _describe(e))
    except Exception as e:
        return Outcome(request, "crash", _describe(e))


def _compare(request: str, got: list[Any], fd: list[Any], tg: list[Any] | None,
             diff: tuple[int, ...]) -> Outcome | None:
    if _matches(got, fd, tg):
        return None
    bad = [(i, g, w) for i, g, w in zip(diff, got, fd) if not close(g, w)]
    i, g, w = bad[0]
    err = "None" if g is None else f"{float(np.max(np.abs(np.asarray(g, dtype=float) - w), initial=0.0)):.3g}"
    return Outcome(request, "disagree", f"argument {i}: max error {err}; got {g!r}, want {w!r}")


def _unchanged(request: str, args: list[Any], before: list[Any]) -> Outcome | None:
    for k, (a, b) in enumerate(zip(args, before)):
        if not np.array_equal(a, b):
            return Outcome(request, "caller_changed", f"argument {k} changed: {a!r}, was {b!r}")
        if isinstance(a, np.ndarray) and not a.flags.writeable:
            return Outcome(request, "caller_changed", f"argument {k} left read-only")
    return None


def check_gradient(case: Case, fd: dict[str, list[Any]], tg: dict[str, list[Any]] | None) -> Outcome:
    """``ar.gradient`` of the weighted sum of the outputs; the caller's arrays unchanged."""
    args = copy_args(case.args)
    before = copy_args(args)

    def run() -> Outcome:
        res = ar.gradient(lambda *a: _loss(case.f(*a), case.weights), *args, argnums=case.diff)
        return (_unchanged("gradient", args, before)
                or _compare("gradient", list(res), fd["gradient"], None if tg is None else tg["gradient"], case.diff)
                or Outcome("gradient", "agree"))
    return _guarded("gradient", run, args)


def check_vjp(case: Case, fd: dict[str, list[Any]], tg: dict[str, list[Any]] | None) -> Outcome:
    """``ar.vjp``: the primal, the pullback called twice (the first result must not change),
    the caller's arrays and cotangents unchanged, read-only only while the pullback lives."""
    args = copy_args(case.args)
    before = copy_args(args)
    cots = [copy_args(c) for c in case.cots]

    def run() -> Outcome:
        y, pb = ar.vjp(case.f, *[a if i in case.diff else ar.Const(a) for i, a in enumerate(args)])
        if not all(close(a, b) for a, b in zip(y, case.outs)):
            return Outcome("vjp", "disagree", f"primal {y!r}, want {case.outs!r}")
        r0 = pb(tuple(cots[0]))
        kept = copy.deepcopy(r0)
        r1 = pb(tuple(cots[1]))
        if any(r is not None for i, r in enumerate(r0) if i not in case.diff):
            return Outcome("vjp", "disagree", f"a cotangent for a Const argument: {r0!r}")
        for k, r in enumerate((r0, r1)):
            out = _compare("vjp", [r[i] for i in case.diff], fd[f"vjp{k}"], None if tg is None else tg[f"vjp{k}"], case.diff)
            if out is not None:
                out.detail = f"pullback call {k}: {out.detail}"
                return out
        if not all(a is None and b is None or np.array_equal(a, b) for a, b in zip(r0, kept)):
            return Outcome("vjp", "disagree", "the second pullback call changed the first one's result")
        if not all(_same(c, d) for c, d in zip(cots, case.cots)):
            return Outcome("vjp", "caller_changed", "the pullback changed the caller's cotangent")
        del pb
        return _unchanged("vjp", args, before) or Outcome("vjp", "agree")
    return _guarded("vjp", run, args + cots[0] + cots[1])


def _annotate(case: Case, args: list[Any], shadows: list[Any]) -> list[Any]:
    res, k = [], 0
    for i, a in enumerate(args):
        if i not in case.diff:
            res.append(ar.Const(a) if isinstance(a, np.ndarray) else a)
        elif isinstance(a, np.ndarray):
            s = shadows[k]
            res.append(ar.BatchDuplicated(a, s) if isinstance(s, tuple) else ar.Duplicated(a, s))
            k += 1
        else:
            res.append(ar.Active(a))
    return res


def check_autodiff(case: Case, fd: dict[str, list[Any]], tg: dict[str, list[Any]] | None,
                   batch: bool = False) -> Outcome | None:
    """``ar.autodiff`` with non-zero Duplicated shadows (or width-2 BatchDuplicated ones,
    ``batch``): shadows and Active results against the references, the caller's arrays as
    plain NumPy leaves them. None for a batch request with no differentiated array."""
    request = "batch" if batch else "autodiff"
    args = copy_args(case.args)
    lanes = [[s.copy() for s in case.shadows[k]] for k in ((1, 2) if batch else (0,))]
    if batch and not lanes[0]:
        return None
    shadows: list[Any] = list(zip(*lanes)) if batch else lanes[0]
    seed = ar.Active((case.seeds[1], case.seeds[2])) if batch else ar.Active(case.seeds[0])

    def run() -> Outcome:
        res = ar.autodiff(lambda *a: _loss(case.f(*a), case.weights), *_annotate(case, args, shadows),
                          returns=seed)
        finals = [a for a in args if isinstance(a, np.ndarray)]
        if not all(np.allclose(a, b, rtol=1e-12, atol=1e-12) for a, b in zip(finals, case.finals)):
            return Outcome(request, "caller_changed", f"arrays after {finals!r}, NumPy leaves {case.finals!r}")
        for k, lane in enumerate(lanes):
            got, it = [], iter(lane)
            for i in case.diff:
                got.append(next(it) if isinstance(args[i], np.ndarray) else
                           (res[i][k] if batch and res[i] is not None else res[i]))
            key = f"batch{k}" if batch else "autodiff"
            out = _compare(request, got, fd[key], None if tg is None else tg[key], case.diff)
            if out is not None:
                out.detail = f"lane {k}: {out.detail}" if batch else out.detail
                return out
        return Outcome(request, "agree")
    return _guarded(request, run, args + [s for lane in lanes for s in lane])


def check_case(case: Case, requests: tuple[str, ...] = REQUESTS) -> list[Outcome]:
    """Every request of ``requests`` on ``case``, each classified."""
    fd, tg = case.references()
    res: list[Outcome | None] = []
    for r in requests:
        if r == "gradient":
            res.append(check_gradient(case, fd, tg))
        elif r == "vjp":
            res.append(check_vjp(case, fd, tg))
        else:
            res.append(check_autodiff(case, fd, tg, batch=r == "batch"))
    return [o for o in res if o is not None]


def case_of(prog: Program, with_torch: bool = True) -> Case:
    """The :class:`Case` of a generated program."""
    f = compile_fn(prog.np_source(), {"np": np})
    ft = compile_fn(prog.torch_source(), {"torch": _torch()}) if with_torch else None
    return Case(f, copy_args(prog.values), prog.diff, ft, prog.seed)


def check_program(prog: Program, requests: tuple[str, ...] = REQUESTS) -> list[Outcome]:
    """Every request on a generated program, against PyTorch and finite differences."""
    return check_case(case_of(prog), requests)


def check_request(f: Callable[..., Any], args: list[Any], diff: tuple[int, ...], request: str,
                  seed: int = 0, named_error_ok: bool = True) -> None:
    """Assert that ``request`` on ``f(*args)`` agrees with finite differences and keeps the
    contract on the caller's arrays (a named error passes unless ``named_error_ok`` is
    False, for programs the contract says must be differentiated): what a regression
    test calls.

    >>> check_request(lambda x: (np.sin(x),), [np.array([0.5, 1.0])], (0,), "vjp")
    """
    (out,) = check_case(Case(f, args, diff, None, seed), (request,))
    ok = ("agree", "named_error") if named_error_ok else ("agree",)
    assert out.kind in ok, f"{out.kind}: {out.detail}"


# ---------------------------------------------------------------- shrinking

Check = Callable[[Program, tuple[str, ...]], list[Outcome]]  # a program's requests -> outcomes


def _fails(prog: Program, target: tuple[str, str, str], check: Check | None = None) -> bool:
    try:
        case = case_of(prog, with_torch=False)
        if not all(np.all(np.isfinite(np.asarray(v, dtype=float))) for v in case.outs + case.finals):
            return False
    except Exception:  # not a valid program any more
        return False
    outs = check_case(case, (target[0],)) if check is None else check(prog, (target[0],))
    return bool(outs) and outs[0].signature() == target


def _used(prog: Program, name: str) -> bool:
    word = re.compile(rf"\b{name}\b")
    return any(word.search(s.np_src) for s in prog.stmts) or name in prog.returns


def _candidates(prog: Program) -> list[Program]:
    """Smaller variants of ``prog``: a statement, a result, a differentiated argument or an
    unused input fewer; an axis of an input one shorter; inputs rounded to one decimal."""
    res = [replace(prog, stmts=prog.stmts[:i] + prog.stmts[i + 1:]) for i in reversed(range(len(prog.stmts)))]
    if len(prog.returns) > 1:
        res += [replace(prog, returns=[r for r in prog.returns if r != d]) for d in prog.returns]
    if len(prog.returns) == 1:  # an earlier name (an input first): never back, so no cycle
        rank = lambda n: (n[0] == "v", int(n[1:]))  # noqa: E731
        names = {n for s in prog.stmts for n in re.findall(r"\bv\d+\b", s.np_src)} | set(prog.names)
        res += [replace(prog, returns=[n]) for n in sorted(names, key=rank) if rank(n) < rank(prog.returns[0])]
    for i, st in enumerate(prog.stmts):
        for a, b in (("[::-1]", ".flip(0)"), (".T", ".T")):
            if a in st.np_src:
                simpler = Stmt(st.op, st.np_src.replace(a, "", 1), st.torch_src.replace(b, "", 1))
                res.append(replace(prog, stmts=prog.stmts[:i] + [simpler] + prog.stmts[i + 1:]))
    if len(prog.diff) > 1:
        res += [replace(prog, diff=tuple(i for i in prog.diff if i != d)) for d in prog.diff]
    for k, name in enumerate(prog.names):
        if k not in prog.diff and not _used(prog, name):
            keep = [i for i in range(len(prog.names)) if i != k]
            res.append(replace(prog, names=[prog.names[i] for i in keep], values=[prog.values[i] for i in keep],
                               diff=tuple(i - (i > k) for i in prog.diff)))
    for k, v in enumerate(prog.values):
        for ax in range(np.ndim(v)):
            if v.shape[ax] > 1:
                vals = list(prog.values)
                vals[k] = np.take(v, range(v.shape[ax] - 1), axis=ax)
                res.append(replace(prog, values=vals))
        r = np.round(v, 1)
        vals = list(prog.values)
        vals[k] = r if isinstance(v, np.ndarray) else float(r)
        if not np.array_equal(r, v) and distinct(vals):
            res.append(replace(prog, values=vals))
    return res


def shrink(prog: Program, target: tuple[str, str, str], max_checks: int = 400, check: Check | None = None) -> Program:
    """A smaller program that fails with the same signature (request, kind, error type)
    under ``check`` (default: against the references, :func:`check_case`)."""
    checks, changed = 0, True
    while changed and checks < max_checks:
        changed = False
        for cand in _candidates(prog):
            checks += 1
            if _fails(cand, target, check):
                prog, changed = cand, True
                break
            if checks >= max_checks:
                break
    return prog


def _literal(v: Any) -> str:
    return f"np.array({v.tolist()!r})" if isinstance(v, np.ndarray) else repr(float(v))


def regression_test(prog: Program, target: tuple[str, str, str], name: str, reason: str,
                    checker: str = "check_request") -> str:
    """``prog`` as a pytest test calling :func:`check_request` (or ``checker``, which takes
    the same arguments), marked as a strict xfail."""
    body = "".join(f"    {line}\n" for line in prog.np_source().splitlines())
    args = ", ".join(_literal(v) for v in prog.values)
    return (f'@pytest.mark.xfail(strict=True, reason="{reason}")\n'
            f"def test_fuzz_{name}() -> None:\n{body}\n"
            f"    {checker}(f, [{args}], diff={prog.diff!r}, request={target[0]!r}, seed={prog.seed})\n")


# ---------------------------------------------------------------- campaigns

_WORST = {"crash": 4, "disagree": 3, "caller_changed": 2, "named_error": 1, "agree": 0}


@dataclass
class Report:
    """The counts of a campaign and its distinct shrunk failures."""

    programs: int = 0
    by_program: dict[str, int] = field(default_factory=dict)
    by_request: dict[tuple[str, str], int] = field(default_factory=dict)
    named: dict[str, int] = field(default_factory=dict)       # named errors by message head
    failures: dict[tuple[Any, ...], tuple[int, Program, Outcome]] = field(default_factory=dict)
    failing_seeds: list[int] = field(default_factory=list)
    shrunk: dict[tuple[str, str, str], int] = field(default_factory=dict)  # failures per signature
    generator_errors: list[str] = field(default_factory=list)
    check: Check | None = None      # how programs are checked and shrunk (None: check_program)
    checker: str = "check_request"  # the function the printed regression tests call

    def add(self, seed: int, prog: Program, outs: list[Outcome], shrink_each: int) -> None:
        self.programs += 1
        worst = max((o.kind for o in outs), key=_WORST.__getitem__, default="agree")
        self.by_program[worst] = self.by_program.get(worst, 0) + 1
        for o in outs:
            self.by_request[(o.request, o.kind)] = self.by_request.get((o.request, o.kind), 0) + 1
            if o.kind == "named_error":
                head = o.detail[:110]
                self.named[head] = self.named.get(head, 0) + 1
        bad = [o for o in outs if o.kind in FAILURES]
        if bad:
            self.failing_seeds.append(seed)
        for sig, o in {o.signature(): o for o in reversed(bad)}.items():
            self.shrunk[sig] = self.shrunk.get(sig, 0) + 1
            if self.shrunk[sig] <= shrink_each:
                small = shrink(prog, sig, check=self.check)
                key = sig + (tuple(sorted({s.op for s in small.stmts})),)
                first = self.failures.get(key, (0, small, o))
                self.failures[key] = (first[0] + 1, first[1], first[2])

    def text(self) -> str:
        """The counts and every distinct shrunk failure, as plain text."""
        lines = [f"programs: {self.programs}", "by program (worst request): " +
                 ", ".join(f"{k} {self.by_program.get(k, 0)}" for k in KINDS)]
        for r in REQUESTS:
            lines.append(f"  {r:9s}: " + ", ".join(f"{k} {self.by_request.get((r, k), 0)}" for k in KINDS))
        lines.append("named errors:")
        lines += [f"  {n:5d}  {h}" for h, n in sorted(self.named.items(), key=lambda t: -t[1])]
        lines.append(f"generator errors: {len(self.generator_errors)} {self.generator_errors[:5]}")
        lines.append(f"distinct shrunk failures: {len(self.failures)}")
        for key, (n, prog, out) in self.failures.items():
            lines += [f"--- {key[:3]} ops {key[3]} (seen {n}x): {out.detail[:300]}",
                      regression_test(prog, key[:3], f"seed{prog.seed}", "?", self.checker)]
        return "\n".join(lines)


def campaign(start: int, count: int, budget_s: float = float("inf"), shrink_each: int = 40,
             exclude: dict[str, str] | None = None,
             progress: Callable[[Report], None] | None = None, const_writes: bool = False,
             check: Check | None = None, checker: str = "check_request",
             shrink_check: Check | None = None, extra_ops: dict[str, Callable[..., Any]] | None = None) -> Report:
    """Generate and check programs ``start, start+1, ...`` until ``count`` or ``budget_s``
    seconds, shrinking up to ``shrink_each`` failures of each signature; ``progress(report)``
    every 500 programs. ``check``: another check than :func:`check_program` (the replay
    mode's, ``fuzz_replay``), whose printed regression tests call ``checker``;
    ``shrink_check``: the one the shrinker uses (default ``check``); ``extra_ops``: see
    :func:`generate`."""
    import time
    t0, rep = time.monotonic(), Report(check=shrink_check or check, checker=checker)
    for seed in range(start, start + count):
        if time.monotonic() - t0 > budget_s:
            break
        try:
            prog = generate(seed, exclude, const_writes=const_writes, extra_ops=extra_ops)
        except Exception as e:  # a bug of the fuzzer's: counted, not fatal to a long run
            rep.generator_errors.append(f"seed {seed}: {_describe(e)}")
            continue
        rep.add(seed, prog, check_program(prog) if check is None else check(prog, REQUESTS), shrink_each)
        if progress is not None and rep.programs % 500 == 0:
            progress(rep)
    return rep
