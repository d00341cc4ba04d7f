"""The program fuzzer's replay mode (issue 12): every generated program
(``fuzz_programs.generate``) is differentiated through each entry point the fuzzer uses
(``gradient``, ``vjp`` with two cotangents, ``autodiff`` with non-zero ``Duplicated``
shadows and ``Active`` numbers, width-2 ``BatchDuplicated``) on three draws of inputs
of the same shapes, eagerly on the plain function and through one ``ar.replay`` of it
per request (so the second and third draws replay, or re-record where the path
changed). Results, derivatives and the caller's arrays and shadows afterwards must be
equal bit for bit; an error must be the eager engine's (the same type).

Outcomes per request, as the other modes: ``agree`` (equal, or the same non-named error),
``named_error`` (both raised the same ``ActiveRulesError``), ``disagree`` (values differ,
or the replay returned where the eager engine raised), ``crash`` (the replay raised where
the eager engine did not, or another type), ``caller_changed`` (the caller's arrays or
shadows differ from the eager engine's). ``STATS`` sums the cache counters over a run,
``LOG`` keeps each request's. Generation (:func:`generate`) adds two op classes
(``EXTRA_OPS``): writes into a plain array made inside the function, and results whose
shape depends on values.

>>> import fuzz_programs as fp
>>> sorted({o.kind for o in check_program_replayed(fp.generate(0))}) <= sorted(fp.KINDS)
True
"""

from __future__ import annotations

from typing import Any, Callable

import fuzz_programs as fp
import numpy as np
from replay_helpers import KINDS as COUNTERS
from replay_helpers import Raised, outcome, same, snapshot

import activerules as ar

DRAWS = 3


# ---------------------------------------------------------------- op classes of the replay mode

def op_plain_buffer(rng: np.random.Generator, env: dict[str, Any]) -> fp.Stmt | None:
    """``v = np.ones(shape)`` (a plain array the engine does not track) written with an
    operand: ``+=``, a ufunc's ``out=``, setitem, ``np.put``. An operand that depends on
    the differentiated inputs makes it a named error (``UntrackedWriteError``), eager and
    replayed alike."""
    from fuzz_ops import _fresh, _pick, operand
    a = operand(rng, env, literal=False)
    if a is None:
        return None
    (v,) = _fresh(env)
    shape = a[2]
    alloc = (f"{v} = np.ones({shape!r})", f"{v} = torch.ones({shape!r}, dtype=torch.float64)")
    kind = _pick(rng, ["iadd", "out", "unary_out", "setitem", "put"])
    write = {"iadd": (f"{v} += {a[0]}", f"{v} += {a[1]}"),
             "out": (f"np.multiply({a[0]}, 2.0, out={v})", f"{v}.copy_({a[1]} * 2.0)"),
             "unary_out": (f"np.sin({a[0]}, out={v})", f"{v}.copy_(torch.sin({a[1]}))"),
             "setitem": (f"{v}[...] = {a[0]}", f"{v}[...] = {a[1]}"),
             "put": (f"np.put({v}, [0], {a[0]})", f"{v}.view(-1)[0] = {a[1]}.reshape(-1)[0]")}[kind]
    return fp.Stmt("plain_buffer", f"{alloc[0]}; {write[0]}", f"{alloc[1]}; {write[1]}")


def op_value_shaped(rng: np.random.Generator, env: dict[str, Any]) -> fp.Stmt | None:
    """A result whose shape depends on values, reduced back to ``a``'s shape (so the
    program's outputs keep their shapes from draw to draw): a mask (``a[b > 0]``) or a
    slice whose bound is a count of positives (``np.flatnonzero(b > 0).size``)."""
    from fuzz_ops import _fresh, _pick, operand
    a = operand(rng, env, literal=False)
    if a is None:
        return None
    b = operand(rng, env, a[2], literal=False)
    if b is None:
        return None
    (v,) = _fresh(env)
    if _pick(rng, ["mask", "count"]) == "mask":
        return fp.Stmt("value_shaped", f"{v} = {a[0]} * {a[0]}[{b[0]} > 0].sum()",
                       f"{v} = {a[1]} * {a[1]}[{b[1]} > 0].sum()")
    return fp.Stmt("value_shaped", f"{v} = {a[0]} * ({a[0]}).ravel()[:np.flatnonzero({b[0]} > 0).size + 1].sum()",
                   f"{v} = {a[1]} * ({a[1]}).reshape(-1)[:int(({b[1]} > 0).sum()) + 1].sum()")


EXTRA_OPS = {"plain_buffer": op_plain_buffer, "value_shaped": op_value_shaped}


def generate(seed: int, const_writes: bool = False) -> fp.Program:
    """A program of ``fuzz_programs.generate`` with the replay mode's op classes too."""
    return fp.generate(seed, const_writes=const_writes, extra_ops=EXTRA_OPS)
STATS: dict[str, int] = {}  # cache counters summed over every request checked
LOG: list[tuple[str, dict[str, int], bool]] = []  # (request, its counters, the eager engine raised)


def input_draws(prog: fp.Program, n: int = DRAWS) -> list[list[Any]]:
    """The program's own inputs, then ``n - 1`` draws of new ones of the same shapes
    (entries distinct and away from zero, as generation draws them); a float that is
    not differentiated keeps its value (it is part of the signature)."""
    out = [fp.copy_args(prog.values)]
    for k in range(1, n):
        rng = np.random.default_rng((prog.seed, k))
        while True:
            vals = [np.round(rng.uniform(-1.5, 1.5, np.shape(v)), 3) if isinstance(v, np.ndarray)
                    else (float(np.round(rng.uniform(-1.5, 1.5), 3)) if i in prog.diff else v)
                    for i, v in enumerate(prog.values)]
            if fp.distinct(vals):
                break
        out.append(vals)
    return out


def _cots(case: fp.Case, k: int) -> list[list[Any]]:
    rng = np.random.default_rng((case.seed, 100 + k))
    return [[rng.uniform(-1, 1, np.shape(o)) if np.ndim(o) else float(rng.uniform(-1, 1)) for o in case.outs]
            for _ in range(2)]


def _shadows(case: fp.Case, args: list[Any], k: int, lanes: int) -> list[list[np.ndarray]]:
    rng = np.random.default_rng((case.seed, 200 + k))
    return [[rng.uniform(-1, 1, np.shape(args[i])) for i in case.diff if isinstance(args[i], np.ndarray)]
            for _ in range(lanes)]


Run = Callable[[Any, Any], Any]


def _requests(case: fp.Case, draws: list[list[Any]]) -> dict[str, tuple[Callable[..., Any], Run, Callable[[int], Any]]]:
    """For each request: the function given to the entry point (the same object for the
    eager run and for ``ar.replay``), the ``run`` and the ``make(k)`` of draw ``k``."""
    diff, weights = case.diff, case.weights

    def loss(*a: Any) -> Any:
        return fp._loss(case.f(*a), weights)

    def vjp_run(fn: Any, inp: Any) -> Any:
        args, cots = inp
        y, pb = ar.vjp(fn, *[a if i in diff else ar.Const(a) for i, a in enumerate(args)])
        return y, pb(tuple(cots[0])), pb(tuple(cots[1]))

    def ad_run(batch: bool) -> Run:
        def run(fn: Any, d: dict[str, Any]) -> Any:
            shadows = list(zip(*d["lanes"])) if batch else d["lanes"][0]
            seed = ar.Active((case.seeds[1], case.seeds[2])) if batch else ar.Active(case.seeds[0])
            return ar.autodiff(fn, *fp._annotate(case, d["args"], shadows), returns=seed)
        return run

    def ad_make(lanes: int) -> Callable[[int], Any]:
        return lambda k: {"args": fp.copy_args(draws[k]), "lanes": _shadows(case, draws[k], k, lanes)}

    reqs = {"gradient": (loss, lambda fn, a: ar.gradient(fn, *a, argnums=diff), lambda k: fp.copy_args(draws[k])),
            "vjp": (case.f, vjp_run, lambda k: (fp.copy_args(draws[k]), _cots(case, k))),
            "autodiff": (loss, ad_run(False), ad_make(1))}
    if any(isinstance(case.args[i], np.ndarray) for i in diff):
        reqs["batch"] = (loss, ad_run(True), ad_make(2))
    return reqs


def _classify(request: str, got: tuple[Any, Any], want: tuple[Any, Any], k: int) -> fp.Outcome:
    """One draw's outcome: the replay's (result, inputs after) against the eager engine's."""
    (g, g_in), (w, w_in) = got, want
    if isinstance(w, Raised):
        if not isinstance(g, Raised):
            return fp.Outcome(request, "disagree", f"draw {k}: the replay returned, eager raised {w.text[:200]}")
        if g.type is not w.type:
            return fp.Outcome(request, "crash", f"{g.text[:300]} (draw {k}; eager raised {w.text[:150]})")
        kind = "named_error" if issubclass(w.type, ar.ActiveRulesError) else "agree"
    elif isinstance(g, Raised):
        return fp.Outcome(request, "crash", f"{g.text[:300]} (draw {k})")
    else:
        kind = "agree"
        try:
            same(g, w, f"draw {k}: result")
        except AssertionError as e:
            return fp.Outcome(request, "disagree", str(e)[:600])
    try:
        same(g_in, w_in, f"draw {k}: caller's arrays after")
    except AssertionError as e:
        return fp.Outcome(request, "caller_changed", str(e)[:600])
    return fp.Outcome(request, kind, w.text[:300] if isinstance(w, Raised) else "")


def _check_request(request: str, fn: Callable[..., Any], run: Run, make: Callable[[int], Any],
                   draws: int) -> fp.Outcome:
    """The worst outcome of ``draws`` calls of one replayed function, each against the
    eager engine; every result compared again after the last call."""
    rf = ar.replay(fn)
    worst, kept, raised = fp.Outcome(request, "agree"), [], False
    for k in range(draws):
        want = outcome(run, fn, make(k))
        raised = raised or isinstance(want[0], Raised)
        got = outcome(run, rf, make(k))
        kept.append((got, snapshot(got)))
        out = _classify(request, got, want, k)
        if fp._WORST[out.kind] > fp._WORST[worst.kind]:
            worst = out
    for k, (got, snap) in enumerate(kept):
        try:
            same(got, snap, f"draw {k} again after the later calls")
        except AssertionError as e:
            worst = fp.Outcome(request, "disagree", str(e)[:600])
    counts = {name: n for name, n in rf.cache_info()._asdict().items() if name in COUNTERS}
    for name, n in counts.items():
        STATS[name] = STATS.get(name, 0) + n
    LOG.append((request, counts, raised))
    return worst


def check_replay_case(case: fp.Case, requests: tuple[str, ...] = fp.REQUESTS, draws: int = DRAWS,
                      inputs: list[list[Any]] | None = None) -> list[fp.Outcome]:
    """Each request of ``requests`` on ``case``, replayed on ``draws`` input draws."""
    inputs = inputs or [fp.copy_args(case.args)] * draws
    reqs = _requests(case, inputs)
    return [_check_request(r, *reqs[r], draws) for r in requests if r in reqs]


def check_program_replayed(prog: fp.Program, requests: tuple[str, ...] = fp.REQUESTS) -> list[fp.Outcome]:
    """Every request on a generated program, eager against replayed on three draws."""
    return check_replay_case(fp.case_of(prog, with_torch=False), requests, DRAWS, input_draws(prog))


def check_quietly(prog: fp.Program, requests: tuple[str, ...] = fp.REQUESTS) -> list[fp.Outcome]:
    """:func:`check_program_replayed` leaving ``STATS`` and ``LOG`` as they were (the
    shrinker's runs are not the campaign's)."""
    stats, log = dict(STATS), list(LOG)
    try:
        return check_program_replayed(prog, requests)
    finally:
        STATS.clear()
        STATS.update(stats)
        LOG[:] = log


def check_replay_request(f: Callable[..., Any], args: list[Any], diff: tuple[int, ...], request: str,
                         seed: int = 0) -> None:
    """Assert that ``request`` on ``f`` replayed (three draws of ``args``' shapes) equals
    the eager engine: what a printed regression test of the replay mode calls."""
    prog = fp.Program([f"a{i}" for i in range(len(args))], args, diff=diff, seed=seed)
    (out,) = check_replay_case(fp.Case(f, fp.copy_args(args), diff, None, seed), (request,), DRAWS,
                               input_draws(prog))
    assert out.kind in ("agree", "named_error"), f"{out.kind}: {out.detail}"


def stats_text() -> str:
    """``STATS`` as one line: how many calls were hits, misses, re-recordings, eager."""
    return "replay counters: " + ", ".join(f"{k} {STATS.get(k, 0)}" for k in COUNTERS)
