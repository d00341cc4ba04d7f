"""The program fuzzer (``fuzz_programs``): a short seeded run in the default suite, the
long run behind ``ACTIVERULES_FUZZ=N`` (N programs; counts printed, run with ``-s``), and
the shrinker; its replay mode (``fuzz_replay``, ``ar.replay`` against the eager engine on
three input draws, ``ACTIVERULES_FUZZ_REPLAY=N`` for a long run). See docs/fuzzing.md."""

from __future__ import annotations

import os
import warnings

import fuzz_programs as fp
import fuzz_replay as fr
import numpy as np
import pytest
from fuzz_ops import OPS

CHUNKS = [range(k, k + 50) for k in range(0, 200, 50)]


def _run(seeds: range) -> list[tuple[int, fp.Program, list[fp.Outcome]]]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # NumPy: 'where' without 'out' inside the engine
        return [(s, p, fp.check_program(p)) for s in seeds for p in [fp.generate(s)]]


@pytest.mark.parametrize("seeds", CHUNKS, ids=lambda r: f"seeds{r.start}-{r.stop - 1}")
def test_fuzzed_programs_agree_with_torch_and_finite_differences(seeds: range) -> None:
    results = _run(seeds)
    for seed, prog, outs in results:
        bad = [o for o in outs if o.kind in fp.FAILURES]
        if bad:
            small = fp.shrink(prog, bad[0].signature())
            raise AssertionError(f"seed {seed}: {bad[0].kind} in {bad[0].request}: {bad[0].detail}\n"
                                 + fp.regression_test(small, bad[0].signature(), f"seed{seed}", "?"))
    # not vacuous: most programs are differentiated, not refused
    agreed = sum(all(o.kind == "agree" for o in outs) for _, _, outs in results)
    assert agreed >= 0.8 * len(results)


@pytest.mark.parametrize("seeds", [range(0, 40), range(40, 80)], ids=lambda r: f"seeds{r.start}-{r.stop - 1}")
def test_writes_into_undifferentiated_inputs_are_differentiated(seeds: range) -> None:
    """Runtime activity (issue 11): a random subset of the inputs differentiated, writes
    going into the others (active values too, ufunc.at, out=, sort): every request agrees
    with torch and finite differences and keeps the contract on the caller's arrays; a
    named error is a failure here (promotion must differentiate these programs)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        progs = [fp.generate(s, const_writes=True) for s in seeds]
        for prog in progs:
            bad = [o for o in fp.check_program(prog) if o.kind != "agree"]
            assert not bad, f"seed {prog.seed}: {bad[0].kind} in {bad[0].request}: {bad[0].detail}"
    features = [fp._feature_violations(p, p.stmts) for p in progs]
    assert sum("write_undifferentiated_input" in f for f in features) >= 0.6 * len(progs)
    assert sum("active_write_into_constant" in f for f in features) >= 0.15 * len(progs)


def test_short_run_generates_every_op_class_not_known_broken() -> None:
    ops = {st.op for s in range(200) for st in fp.generate(s).stmts}
    op_of = {"stack": "concat", "add.at": "ufunc_at", "subtract.at": "ufunc_at", "multiply.at": "ufunc_at",
             "fancy_iadd": "fancy_set", "flip": "otherview", "newaxis": "otherview", "diagonal": "otherview"}
    classes = {op_of.get(o, o) for o in ops}
    assert set(OPS) - set(fp.KNOWN_BROKEN) <= classes


def test_long_fuzz_campaign() -> None:
    """The long run with ``ACTIVERULES_FUZZ=N``; without it, a short campaign of 20
    programs (other seeds than the default run's) so the campaign itself is exercised."""
    n = int(os.environ.get("ACTIVERULES_FUZZ", "20"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rep = fp.campaign(1_000_000, n)
    print(rep.text())
    assert not rep.failures, f"{len(rep.failing_seeds)} failing programs, seeds {rep.failing_seeds[:20]}"


def _untracked_write_program() -> fp.Program:
    stmts = [fp.Stmt("unary", "v0 = np.sin(x0)", ""), fp.Stmt("binary", "v1 = x0 * x1", ""),
             fp.Stmt("zeros", "v2 = np.zeros(4)", ""), fp.Stmt("reduce", "v3 = np.sum(v1)", ""),
             fp.Stmt("setitem", "v2[1:3] = v0[:2]", ""), fp.Stmt("unary", "v4 = np.cos(v1) * v3", "")]
    values = [np.array([0.31, -0.72, 1.13, 0.45]), np.array([1.27, 0.58, -0.91, 0.2])]
    return fp.Program(["x0", "x1"], values, stmts, ["v4"], diff=(0, 1), seed=3)


def test_shrinker_reduces_to_the_statements_that_fail() -> None:
    # writing an active value into an np.zeros array is a documented UntrackedWriteError
    prog = _untracked_write_program()
    (out,) = fp.check_case(fp.case_of(prog, with_torch=False), ("gradient",))
    assert out.signature() == ("gradient", "named_error", "UntrackedWriteError")
    small = fp.shrink(prog, out.signature())
    assert [s.np_src for s in small.stmts] == ["v0 = np.sin(x0)", "v2 = np.zeros(4)", "v2[1:3] = v0[:2]"]
    assert small.names == ["x0"] and small.diff == (0,)
    assert all(abs(v * 10 - round(v * 10)) < 1e-9 for v in small.values[0])  # rounded to one decimal


def test_printed_regression_test_runs() -> None:
    prog = fp.Program(["x0", "s0"], [np.array([0.5, -0.25, 1.0]), 0.75],
                      [fp.Stmt("iop", "x0[1:] += s0 * x0[:-1]", "")], ["x0"], diff=(0, 1), seed=1)
    src = fp.regression_test(prog, ("vjp", "disagree", ""), "example", "a reason")
    assert src.startswith('@pytest.mark.xfail(strict=True, reason="a reason")\ndef test_fuzz_example() -> None:')
    ns = {"np": np, "pytest": pytest, "check_request": fp.check_request}
    exec(src, ns)
    ns["test_fuzz_example"]()  # a correct program: passes


def test_check_request_catches_a_wrong_derivative(monkeypatch: pytest.MonkeyPatch) -> None:
    def wrong_gradient(f, *args, argnums=0):  # the right gradient, doubled
        return tuple(2 * g for g in real(f, *args, argnums=argnums))

    real = fp.ar.gradient
    monkeypatch.setattr(fp.ar, "gradient", wrong_gradient)
    with pytest.raises(AssertionError, match="disagree"):
        fp.check_request(lambda x: (np.sin(x),), [np.array([0.5, 1.0])], (0,), "gradient")


# ---------------------------------------------------------------- replay mode (issue 12)


@pytest.mark.parametrize("seeds,const_writes", [(range(0, 50), False), (range(50, 100), False), (range(0, 30), True)],
                         ids=["seeds0-49", "seeds50-99", "const-writes-seeds0-29"])
def test_replayed_programs_equal_the_eager_engine(seeds: range, const_writes: bool) -> None:
    """Every request of every program, replayed on three input draws of the same shapes,
    equals the eager engine bit for bit (results, derivatives, caller arrays, shadows)."""
    fr.STATS.clear()
    results, unreplayed, misses = [], [], []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for seed in seeds:
            prog = fr.generate(seed, const_writes=const_writes)
            fr.LOG.clear()
            results.append((seed, prog, fr.check_program_replayed(prog)))
            misses += [c["misses"] for _, c, raised in fr.LOG if not raised]  # a raising call records each time
            # no comparison: no path to change, every later draw replays (a plain buffer's values may be
            # checked instead of flowing: not required here)
            if ">" not in prog.np_source() and all(st.op != "plain_buffer" for st in prog.stmts):
                unreplayed += [(seed, r, c) for r, c, raised in fr.LOG if c["hits"] != fr.DRAWS - 1 and not raised]
        for seed, prog, outs in results:
            bad = [o for o in outs if o.kind in fp.FAILURES]
            if bad:
                small = fp.shrink(prog, bad[0].signature(), check=fr.check_quietly)
                raise AssertionError(f"seed {seed}: {bad[0].kind} in {bad[0].request}: {bad[0].detail}\n"
                                     + fp.regression_test(small, bad[0].signature(), f"replay_seed{seed}", "?",
                                                          "check_replay_request"))
    # not vacuous: one recording per request, and a program without a comparison replays
    requests = sum(len(outs) for _, _, outs in results)
    assert set(misses) == {1} and len(misses) >= 0.8 * requests, fr.stats_text()
    assert not unreplayed, f"{len(unreplayed)} requests not replayed (seed, request, counters): {unreplayed[:5]}"
    assert fr.STATS["hits"] >= 0.6 * (fr.DRAWS - 1) * requests, fr.stats_text()  # 0.79-0.85 at d19cbe1


def test_long_replay_campaign() -> None:
    """The replay mode's long run with ``ACTIVERULES_FUZZ_REPLAY=N`` (other seeds than the
    default run's); without it, 10 programs so the campaign itself is exercised."""
    n = int(os.environ.get("ACTIVERULES_FUZZ_REPLAY", "10"))
    fr.STATS.clear()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rep = fp.campaign(1_000_000, n, check=fr.check_program_replayed, checker="check_replay_request",
                          shrink_check=fr.check_quietly, extra_ops=fr.EXTRA_OPS)
    print(rep.text() + "\n" + fr.stats_text())
    assert not rep.failures, f"{len(rep.failing_seeds)} failing programs, seeds {rep.failing_seeds[:20]}"


class _EagerReplay:
    """A stand-in for ``ar.replay`` that runs the eager engine (the machinery's own test)."""

    def __init__(self, f):
        self.f = f

    def __call__(self, *args):
        return self.f(*args)

    def cache_info(self):
        from collections import namedtuple
        return namedtuple("Info", "hits misses rerecords eager size maxsize")(0, 1, 0, 0, 1, 1)


def test_replay_mode_sees_one_ulp_and_a_wrong_error(monkeypatch: pytest.MonkeyPatch) -> None:
    real_gradient, real_vjp = fp.ar.gradient, fp.ar.vjp
    monkeypatch.setattr(fp.ar, "replay", _EagerReplay, raising=False)
    prog = fp.generate(0)
    assert {o.kind for o in fr.check_program_replayed(prog)} == {"agree"}

    def off_by_one_ulp(f, *args, argnums=0):
        g = real_gradient(f, *args, argnums=argnums)
        return tuple(np.nextafter(x, np.inf) for x in g) if isinstance(f, _EagerReplay) else g
    monkeypatch.setattr(fp.ar, "gradient", off_by_one_ulp)
    (out,) = fr.check_program_replayed(prog, ("gradient",))
    assert out.kind == "disagree" and "values differ" in out.detail

    def raising_vjp(f, *args):
        if isinstance(f, _EagerReplay):
            raise IndexError("a replay's own error")
        return real_vjp(f, *args)
    monkeypatch.setattr(fp.ar, "vjp", raising_vjp)
    (out,) = fr.check_program_replayed(prog, ("vjp",))
    assert out.signature() == ("vjp", "crash", "IndexError")
