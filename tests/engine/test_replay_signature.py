"""What ``ar.replay``'s signature must tell apart (issue 12, part 1): calls that look alike
to a cache keyed on shapes and values but that the eager engine treats differently:
arguments sharing memory, constants equal as numbers but of another type (``2``, ``2.0``,
``True``), a 0-d array for a number, a dict's key order, a shadow's layout. And what a
replay must hand back as the eager engine does: results that do not share memory with
the caller's arrays, arrays read-only while a pullback lives, errors raised in a rule's
reverse. Oracle: the eager engine on the plain function, bit for bit.
"""

from __future__ import annotations

from collections import namedtuple

import numpy as np
import pytest
from replay_helpers import Raised, call_and_compare, check_replay, grad, info, outcome, rng, same, vjp

import activerules as ar


def _writes_then_reads(x, y):
    x[0] = 5.0
    return (x * y * y).sum() + (x * np.sin(y)).sum()


def test_the_same_duplicated_given_twice_is_another_signature():
    """``autodiff`` takes one Duplicated given twice as one storage (its writes seen by
    both names): a recording made with two arrays must not serve it."""
    def run(fn, d):
        if d["alias"]:
            dup = ar.Duplicated(d["x"], d["dx"])
            return ar.autodiff(fn, dup, dup)
        return ar.autodiff(fn, ar.Duplicated(d["x"], d["dx"]), ar.Duplicated(d["y"], d["dy"]))

    def make(k):
        x = rng(k).uniform(-1, 1, 3)
        return {"alias": k >= 2, "x": x, "dx": np.ones(3), "y": x.copy(), "dy": np.ones(3)}
    check_replay(_writes_then_reads, run, make, draws=4, expect=["misses", "hits", "misses|rerecords", "hits"])


def test_a_const_sharing_memory_with_a_duplicated_raises_as_eager():
    def run(fn, d):
        c = d["x"] if d["alias"] else d["c"]
        return ar.autodiff(fn, ar.Duplicated(d["x"], d["dx"]), ar.Const(c))

    def make(k):
        return {"alias": k == 2, "x": rng(k).uniform(-1, 1, 3), "dx": np.ones(3), "c": rng(k, 1).uniform(-1, 1, 3)}
    check_replay(_writes_then_reads, run, make, draws=4,
                 expect=["misses", "hits", "none|misses|eager", "hits"])
    assert issubclass(outcome(run, _writes_then_reads, make(2))[0].type, ar.ActivityError)  # not vacuous


def test_gradient_with_one_array_given_twice():
    def make(k):
        x = rng(k).uniform(-1, 1, 3)
        return (x, x) if k >= 2 else (x, x.copy())
    check_replay(_writes_then_reads, grad((0, 1)), make, draws=4,
                 expect=["misses", "hits", "hits|misses|rerecords", "hits|misses|rerecords"])


def test_overlapping_views_as_two_arguments():
    def f(x, y):
        x[1:] *= 2.0
        return (x * y).sum()

    def make(k):
        base = rng(k).uniform(-1, 1, 5)
        return (base[:4], base[1:]) if k >= 2 else (base[:4].copy(), base[1:].copy())
    check_replay(f, grad(1), make, draws=4, expect=["misses", "hits", "hits|misses|rerecords", "hits|misses|rerecords"])


@pytest.mark.parametrize("values", [(2, 2.0, True, 2, 2.0), (1.0, np.float32(1.0), np.float64(1.0), 1, 1.0)],
                         ids=["int-float-bool", "float-float32-float64-int"])
def test_constants_equal_as_numbers_but_of_another_type(values):
    """``2 == 2.0 == True`` and they hash alike, but ``f`` may tell them apart (here by
    ``isinstance``, and through the dtype NumPy gives them): another signature each."""
    def f(x, n):
        scale = np.asarray(n)
        if isinstance(n, float):
            return (x * scale).sum()
        return (x * x * scale).sum() + float(scale.dtype.itemsize)
    rf = ar.replay(f)
    for k, n in enumerate(values):
        call_and_compare(f, rf, grad(), lambda k: (rng(k).uniform(-1, 1, 3), n), k)
    assert info(rf)["hits"] <= 2  # only the repeated ones may hit


@pytest.mark.parametrize("kind", [float, np.float64, np.array], ids=["float", "float64", "0-d array"])
def test_a_differentiated_number_keeps_its_type(kind):
    def f(s, x):
        return (np.sin(s * x) * s).sum()
    check_replay(f, grad(0), lambda k: (kind(0.3), rng(k).uniform(-1, 1, 3)))
    check_replay(f, vjp(), lambda k: ((kind(0.3), rng(k).uniform(-1, 1, 3)), [1.0, 2.0]))


def test_mixing_a_number_and_a_0d_array():
    def f(s, x):
        return (np.sin(s * x) * s).sum()
    rf = ar.replay(f)
    for k, s in enumerate([0.3, np.array(0.4), 0.5, np.array(0.6), np.float64(0.7)]):
        call_and_compare(f, rf, grad(0), lambda k: (s, rng(k).uniform(-1, 1, 3)), k)


def test_a_dicts_key_order_and_a_named_tuple():
    Params = namedtuple("Params", "w b")

    def f(p, x):
        return (np.tanh(x * p["w"] + p["b"]) ** 2).sum() if isinstance(p, dict) else (np.tanh(x * p.w + p.b) ** 2).sum()

    def make(k):
        w, b, x = rng(k).uniform(-1, 1, 3), rng(k, 1).uniform(-1, 1, 3), rng(k, 2).uniform(-1, 1, 3)
        return [({"w": w, "b": b}, x), ({"b": b, "w": w}, x), (Params(w, b), x), ({"w": w, "b": b}, x)][k]
    check_replay(f, grad(), make, draws=4, expect=["misses", "misses|hits", "misses", "hits|misses"])


def test_shadows_in_another_layout_than_their_arrays():
    def f(A, c):
        A[0] *= c[:1]
        return (np.tanh(A @ A.T) * c[1:]).sum()

    def run(fn, d):
        return ar.autodiff(fn, ar.Duplicated(d["A"], d["dA"]), ar.Const(d["c"]))

    def make(k):
        A = rng(k).uniform(-1, 1, (3, 4))
        dA = rng(k, 1).uniform(-1, 1, (3, 4))
        return {"A": A, "dA": np.asfortranarray(dA) if k >= 2 else dA, "c": rng(k, 2).uniform(0.5, 1, 2)}
    check_replay(f, run, make, draws=5, expect=["misses", "hits", "hits|misses|rerecords", "hits", "hits"])


def test_results_share_no_memory_with_the_callers_arrays_as_eager():
    def f(x):
        return x, x[::2], np.sin(x)

    def shares(fn, x):
        y, pb = ar.vjp(fn, x)
        g = pb((np.ones(4), np.ones(2), np.ones(4)))
        return [np.shares_memory(v, x) for v in (*y, *g)] + [np.shares_memory(y[0], y[1])]
    rf = ar.replay(f)
    for k in range(3):
        x = rng(k).uniform(-1, 1, 4)
        assert shares(rf, x) == shares(f, x.copy())


def test_the_callers_array_is_read_only_while_the_pullback_lives_as_eager():
    def f(x, c):
        return np.sin(x) * c

    rf = ar.replay(f)
    for k in range(3):
        flags = []
        for fn in (f, rf):
            x, c = rng(k).uniform(-1, 1, 3), rng(k, 1).uniform(-1, 1, 3)
            _, pb = ar.vjp(fn, x, c)
            flags.append((x.flags.writeable, c.flags.writeable))
            pb(np.ones(3))
            flags.append((x.flags.writeable, c.flags.writeable))
            del pb
            flags.append((x.flags.writeable, c.flags.writeable))
        assert flags[:3] == flags[3:], f"draw {k}: eager {flags[:3]}, replay {flags[3:]}"
    assert info(rf)["hits"] == 2


def test_a_rule_reverse_raising_on_some_values():
    """A reverse that raises for some values (ar.RuleError from the eager engine, which
    names the rule): the replay calls the reverse directly and must raise the same type."""
    @ar.primitive
    def p(x):
        return np.exp(x)

    @ar.rrule(p)
    def _p(x):
        def pullback(g):
            if np.any(x > 1.0):
                raise ValueError("no derivative past 1")
            return (g * np.exp(x),)
        return np.exp(x), pullback

    def f(x):
        return p(x).sum()
    xs = [np.array([0.1, 0.2]), np.array([0.3, 0.4]), np.array([0.5, 2.0]), np.array([0.2, 0.1])]
    check_replay(f, grad(), lambda k: (xs[k].copy(),), draws=4,
                 expect=["misses", "hits", "hits|rerecords|misses", "hits|rerecords|misses"])
    assert isinstance(outcome(grad(), f, (xs[2].copy(),))[0], Raised)  # not vacuous


def test_holomorphic_gradient():
    def f(z):
        return (z * z * np.exp(z)).sum()
    check_replay(f, grad(holomorphic=True), lambda k: (rng(k).uniform(-1, 1, 3) + 1j * rng(k, 1).uniform(-1, 1, 3),))


def test_a_replayed_function_calling_another_one():
    inner = ar.replay(lambda x: np.sin(x) * x)

    def outer(x):
        return (inner(x) ** 2).sum()
    check_replay(outer, grad(), lambda k: (rng(k).uniform(-1, 1, 4),))
    same(inner(np.array([0.5])), np.sin(np.array([0.5])) * 0.5)


def test_the_number_of_arguments_is_part_of_the_signature():
    def f(*xs):
        return sum((x * x).sum() for x in xs)
    rf = ar.replay(f)
    for k, n in enumerate([2, 3, 2, 3]):
        call_and_compare(f, rf, grad(tuple(range(n))), lambda k: tuple(rng(k, i).uniform(size=2) for i in range(n)), k)
    assert (info(rf)["misses"], info(rf)["hits"]) == (2, 2)


def test_a_named_error_of_the_eager_engine_is_raised_on_every_call():
    def f(x):
        buf = np.zeros(3)
        buf[0] = x[1]  # an active value into an untracked array: ar.UntrackedWriteError
        return (buf * x).sum()
    rf = check_replay(f, grad(), lambda k: (rng(k).uniform(size=3),), draws=3,
                      expect=["misses|eager", "misses|eager", "misses|eager"])
    assert issubclass(outcome(grad(), rf, (np.ones(3),))[0].type, ar.UntrackedWriteError)


def _diagonal_of_an_intermediate(x):
    return np.diagonal(x * 2.0)


def _diagonal_of_an_updated_argument(x):
    x += 1.0
    return np.diagonal(x)


@pytest.mark.parametrize("f", [_diagonal_of_an_intermediate, _diagonal_of_an_updated_argument])
def test_a_read_only_view_returned_stays_read_only(f):
    """``np.diagonal`` returns a read-only view in NumPy, and the eager engine hands it back
    so; a replay must too (found by the fuzzer: seeds 900230, 901322, 901496)."""
    check_replay(f, vjp(), lambda k: ((rng(k).uniform(-1, 1, (3, 3)),), [np.ones(3), rng(k, 1).uniform(-1, 1, 3)]))


_BIG = np.arange(6.0)


@pytest.mark.parametrize("which", ["owndata", "shares_memory-with-a-global"])
def test_what_the_program_sees_of_an_arguments_memory(which):
    """A caller's array that owns its memory and a slice of a global array (same shape,
    dtype and strides): the eager engine lets the program see the difference
    (``x.flags.owndata``, ``np.shares_memory(x, G)``), so a replay must not serve one
    with the other's recording."""
    def f(x):
        seen = x.flags.owndata if which == "owndata" else not np.shares_memory(x, _BIG)
        return (x * x).sum() if seen else x.sum()
    xs = [np.ones(3), _BIG[:3], np.ones(3) * 2.0, _BIG[3:]]
    wants = [ar.gradient(f, x) for x in xs]
    assert np.array_equal(wants[0], 2 * xs[0]) and np.array_equal(wants[1], np.ones(3))  # eager: two paths
    rf = ar.replay(f)
    for k, x in enumerate(xs):
        same(ar.gradient(rf, x), wants[k], f"call {k}")
