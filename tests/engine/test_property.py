"""Property test: random short NumPy programs with views and in-place updates,
``ar.autodiff`` against central finite differences."""

from __future__ import annotations

from unittest import mock

import numpy as np
from engine_helpers import fd_grad
from hypothesis import given, settings
from hypothesis import strategies as st

import activerules as ar
from activerules.engine import autodiff, tape

N = 5
UNARY = {"sin": np.sin, "cos": np.cos, "tanh": np.tanh, "sq": lambda a: a * a, "neg": lambda a: -a}
BINARY = {"add": np.add, "sub": np.subtract, "mul": np.multiply}

idx = st.integers(0, 40)          # taken modulo the number of live arrays
pos = st.integers(0, N - 1)
const = st.sampled_from([-1.5, -0.5, 0.25, 0.7, 2.0])
span = st.tuples(st.integers(0, N - 1), st.integers(1, N)).map(lambda t: (min(t), max(t[0] + 1, t[1])))

OPS = st.one_of(
    st.tuples(st.just("unary"), st.sampled_from(sorted(UNARY)), idx),
    st.tuples(st.just("binary"), st.sampled_from(sorted(BINARY)), idx, idx),
    st.tuples(st.just("scale"), idx, const),
    st.tuples(st.just("iop"), st.sampled_from(["+=", "-=", "*="]), idx, idx),
    st.tuples(st.just("view_iop"), idx, span, const),
    st.tuples(st.just("slice_add"), idx, idx, span),
    st.tuples(st.just("setitem"), idx, pos, idx, pos),
    st.tuples(st.just("setitem_int"), idx, st.lists(pos, min_size=1, max_size=3, unique=True), idx),
    st.tuples(st.just("reduce"), idx, idx),
    st.tuples(st.just("reversed_view"), idx),
)


def run(program, x, y):
    """Interpret ``program`` on arrays ``x``, ``y`` (plain or tracked); a scalar loss."""
    env = [x, y]
    for op in program:
        kind = op[0]
        pick = lambda k: env[k % len(env)]  # noqa: E731
        if kind == "unary":
            env.append(UNARY[op[1]](pick(op[2])))
        elif kind == "binary":
            env.append(BINARY[op[1]](pick(op[2]), pick(op[3])))
        elif kind == "scale":
            env.append(pick(op[1]) * op[2])
        elif kind == "iop":
            a, b = pick(op[2]), pick(op[3])
            if op[1] == "+=":
                a += b
            elif op[1] == "-=":
                a -= b
            else:
                a *= np.tanh(b)
        elif kind == "view_iop":
            (s0, s1), v = op[2], pick(op[1])
            w = v[s0:s1]
            w *= op[3]
        elif kind == "slice_add":
            s0, s1 = op[3]
            a = pick(op[1])
            a[s0:s1] += np.sin(pick(op[2])[s0:s1])
        elif kind == "setitem":
            a = pick(op[1])
            a[op[2]] = pick(op[3])[op[4]] * 0.5 + 0.1
        elif kind == "setitem_int":
            a, src = pick(op[1]), pick(op[3])
            a[op[2]] = np.cos(src[: len(op[2])])
        elif kind == "reduce":
            env.append(pick(op[1]) * np.tanh(pick(op[2]).sum()))
        elif kind == "reversed_view":
            env.append(pick(op[1])[::-1])
    weights = np.linspace(0.3, 1.7, N)
    return sum((np.sin(a) * weights).sum() for a in env)


@settings(max_examples=300, deadline=None)
@given(program=st.lists(OPS, min_size=1, max_size=8),
       seed=st.integers(0, 2 ** 16))
def test_random_programs_match_finite_differences(program, seed) -> None:
    check_program(program, seed)


@settings(max_examples=100, deadline=None)
@given(program=st.lists(OPS, min_size=1, max_size=8),
       seed=st.integers(0, 2 ** 16))
def test_random_programs_with_every_cotangent_donated(program, seed) -> None:
    # the sweep donates output cotangents of DONATE_MIN elements or more; here every one,
    # so the rules' in-place paths meet views, mutation and reuse as well
    with mock.patch.object(tape, "DONATE_MIN", 1):
        check_program(program, seed)


def check_program(program, seed) -> None:
    """autodiff of the program agrees with its NumPy run and with finite differences."""
    rng = np.random.default_rng(seed)
    x0, y0 = rng.uniform(-1, 1, N), rng.uniform(-1, 1, N)
    x, y = x0.copy(), y0.copy()
    dx, dy = np.zeros(N), np.zeros(N)
    autodiff(lambda x, y: run(program, x, y), ar.Duplicated(x, dx), ar.Duplicated(y, dy))
    # the caller's arrays received the side effects
    xe, ye = x0.copy(), y0.copy()
    run(program, xe, ye)
    np.testing.assert_allclose(x, xe, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(y, ye, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(dx, fd_grad(lambda v: run(program, v, y0.copy()), x0),
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(dy, fd_grad(lambda v: run(program, x0.copy(), v), y0),
                               rtol=1e-5, atol=1e-6)
