"""``ar.replay`` on programs whose path depends on values (issue 12, part 1, guards): a
later call whose path differs from the recording's must be recorded again (``rerecords``)
and give what the eager engine gives; a call on the recorded path is a hit. Values that
flow into rules (``np.maximum(x, 0)``, ``np.where(c > 0, ...)``, ``np.sort``) need no
guard but must be right. Oracle: the eager engine on the plain function, bit for bit.

Each case gives ``path(inputs)``, the path the plain program takes (computed by hand
from the inputs, not by the code under test): a call on the path of the call before it
must be a hit, one on a path never seen a re-recording, one on a path seen earlier
either (whether the cache keeps several recordings of a signature is the
implementation's choice).
"""

from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np
import pytest
from replay_helpers import check_replay, grad, info, rng, vjp

import activerules as ar


def expectations(keys: list[Any], strict: bool = True) -> list[str]:
    """The counter each call must move, from the path of each draw. Not ``strict``: the
    value may reach the replay by data flow instead of a guard, so a new path may be a hit."""
    out, seen = ["misses"], {keys[0]}
    for prev, key in zip(keys, keys[1:]):
        if key == prev:
            out.append("hits")
        elif key not in seen:
            out.append("rerecords" if strict else "hits|rerecords")
        else:
            out.append("hits|rerecords")
        seen.add(key)
    return out


def check_paths(f: Callable[..., Any], run: Callable[[Any, Any], Any], draws: list[Any],
                path: Callable[[Any], Any], strict: bool = True) -> Any:
    """``check_replay`` of ``f`` on the fixed ``draws`` (inputs are copied for each run);
    asserts at least one re-recording happened when ``strict``."""
    keys = [path(d) for d in draws]
    assert len(set(keys)) > 1, "the draws must take more than one path"
    rf = check_replay(f, run, lambda k: _copy(draws[k]), draws=len(draws), expect=expectations(keys, strict))
    if strict:
        assert info(rf)["rerecords"] >= 1
    return rf


def _copy(v: Any) -> Any:
    if isinstance(v, np.ndarray):
        return v.copy()
    if isinstance(v, tuple):
        return tuple(_copy(x) for x in v)
    if isinstance(v, list):
        return [_copy(x) for x in v]
    return v


def a(*vals: float) -> np.ndarray:
    return np.array(vals, dtype=float)


X = [a(0.5, -1.2, 0.9, 1.7), a(0.7, -0.4, 1.1, -0.3), a(-0.6, 1.3, -0.8, 0.2), a(-1.1, 0.4, 0.3, 1.5),
     a(1.4, 0.6, -0.9, -0.7)]


def autodiff_const():
    """A ``run`` for inputs ``(x, c)``: autodiff with x Duplicated (shadow ones), c Const."""
    def run(fn, inp):
        x, c = inp
        dx = np.ones_like(x)
        return ar.autodiff(fn, ar.Duplicated(x, dx), ar.Const(c)), dx
    return run


# ------------------------------------------------------------------ branches on active values


def active_branch(x):
    if x.sum() > 0:
        return (x ** 2).sum()
    return np.sin(x).sum()


def _batch(fn, inp):
    (x,) = inp
    lanes = (np.ones_like(x), np.arange(x.size, dtype=float))
    return ar.autodiff(fn, ar.BatchDuplicated(x, lanes), returns=ar.Active((1.0, -0.5))), lanes


@pytest.mark.parametrize("request_", ["gradient", "vjp", "batch"])
def test_branch_on_an_active_sum(request_):
    xs = [a(1.0, 0.5, -0.2), a(0.3, 0.2, 0.1), a(-1.0, 0.5, -0.2), a(-0.3, -0.2, 0.4), a(2.0, 0.1, 0.1)]
    if request_ == "gradient":
        check_paths(active_branch, grad(), [(x,) for x in xs], lambda d: bool(d[0].sum() > 0))
    elif request_ == "vjp":
        check_paths(active_branch, vjp(), [((x,), [1.0, -2.0]) for x in xs], lambda d: bool(d[0][0].sum() > 0))
    else:
        check_paths(active_branch, _batch, [(x,) for x in xs], lambda d: bool(d[0].sum() > 0))


def test_while_loop_to_convergence_on_active_values():
    def newton(p):  # iterations until the residual is small: the count depends on p
        x = np.ones_like(p)
        while np.abs(x ** 3 + p * x - 1.0).max() > 1e-10:
            x = x - (x ** 3 + p * x - 1.0) / (3 * x * x + p)
        return (x * x).sum()

    def iterations(p):
        x, n = np.ones_like(p), 0
        while np.abs(x ** 3 + p * x - 1.0).max() > 1e-10:
            x, n = x - (x ** 3 + p * x - 1.0) / (3 * x * x + p), n + 1
        return n
    ps = [a(0.5, 1.0), a(0.51, 1.01), a(5.0, 9.0), a(0.02, 40.0), a(0.5, 1.0)]
    check_paths(newton, grad(), [(p,) for p in ps], lambda d: iterations(d[0]))


def test_a_mask_of_active_values():
    def f(x):
        return (x[x > 0] ** 2).sum() + np.where(x > 0, x, 0.1 * x).sum()
    check_paths(f, grad(), [(x,) for x in X], lambda d: tuple(d[0] > 0))


def test_a_mask_keeping_its_count_but_moving():
    def f(x):
        return (np.exp(x[x > 0]) * np.arange(1.0, 3.0)).sum()
    xs = [a(1.0, 2.0, -1.0, -2.0), a(1.5, 2.5, -1.5, -2.5), a(-1.0, 2.0, 1.0, -2.0), a(-1.0, -2.0, 1.0, 2.0)]
    check_paths(f, grad(), [(x,) for x in xs], lambda d: tuple(d[0] > 0))


def test_sign_of_active_values():
    def f(x):
        return (np.sign(x) * x).sum() + (np.sign(x) * x * x).sum()
    # np.sign's values may flow into the replay (an inactive call replayed) instead of a guard
    check_paths(f, grad(), [(x,) for x in X], lambda d: tuple(np.sign(d[0])), strict=False)


def test_argmax_of_active_values_as_an_index():
    def f(x):
        i = np.argmax(x)
        return x[i] * 3.0 + x[np.argmin(x)] + (x * x).sum()
    check_paths(f, grad(), [(x,) for x in X], lambda d: (int(np.argmax(d[0])), int(np.argmin(d[0]))))


def test_nonzero_of_active_values_as_an_index():
    def f(x):
        (idx,) = np.nonzero(x > 0)
        return (np.cos(x[idx]) * (idx + 1)).sum()
    check_paths(f, grad(), [(x,) for x in X], lambda d: tuple(d[0] > 0))


# ------------------------------------------------------------------ undifferentiated arguments


def test_branch_on_an_undifferentiated_argument():
    def f(x, c):
        if c[0] > 0:
            return (np.sin(x) * c).sum()
        return (x * x * c).sum()
    cs = [a(1.0, 2.0, 3.0, 4.0), a(0.5, 1.0, 1.5, 2.0), a(-1.0, 2.0, 3.0, 4.0), a(-2.0, 1.0, 1.0, 1.0),
          a(3.0, 1.0, 1.0, 1.0)]
    draws = [(X[k], c) for k, c in enumerate(cs)]
    check_paths(f, grad(), draws, lambda d: bool(d[1][0] > 0))
    check_paths(f, autodiff_const(), draws, lambda d: bool(d[1][0] > 0))


def test_a_loop_count_from_an_undifferentiated_argument():
    def f(x, c):
        y = x.copy()
        for _ in range(int(c[0])):
            y[1:] = np.tanh(y[:-1] + y[1:])
        return (y * y).sum()
    cs = [a(2.3, 0.0), a(2.7, 1.0), a(4.1, 0.0), a(4.9, 5.0), a(1.5, 0.0)]
    check_paths(f, grad(), [(X[k], c) for k, c in enumerate(cs)], lambda d: int(d[1][0]))


def test_range_of_len_of_a_masked_undifferentiated_argument():
    def f(x, c):
        s = 0.0
        for i in range(len(c[c > 0])):
            s = s + x[i] ** (i + 1)
        return s + x.sum()
    cs = [a(1.0, 1.0, -1.0, -1.0), a(2.0, -1.0, 2.0, -1.0), a(1.0, 1.0, 1.0, -1.0), a(1.0, 1.0, 1.0, 1.0),
          a(-1.0, -1.0, 1.0, -1.0)]
    # the mask is the guard (a mask is a path point), not only its count
    check_paths(f, grad(), [(X[k], c) for k, c in enumerate(cs)], lambda d: tuple(d[1] > 0))


def test_a_mask_from_an_undifferentiated_argument():
    def f(x, c):
        return (x[c > 0] ** 3).sum() + x[~(c > 0)].sum()
    cs = [a(1.0, -1.0, 1.0, -1.0), a(2.0, -2.0, 3.0, -3.0), a(-1.0, 1.0, 1.0, -1.0), a(1.0, 1.0, 1.0, -1.0)]
    check_paths(f, grad(), [(X[k], c) for k, c in enumerate(cs)], lambda d: tuple(d[1] > 0))


def test_unique_and_nonzero_of_an_undifferentiated_argument_as_indices():
    def f(x, c):
        u = np.unique(np.floor(c).astype(int))
        (nz,) = np.nonzero(c > 1.0)
        return (x[u] ** 2).sum() + np.sin(x[nz]).sum()
    cs = [a(0.5, 1.5, 2.5, 0.2), a(0.7, 1.2, 2.9, 0.1), a(3.5, 3.2, 0.1, 0.9), a(2.2, 2.1, 2.5, 2.9)]
    check_paths(f, grad(), [(X[k], c) for k, c in enumerate(cs)],
                lambda d: (tuple(np.unique(np.floor(d[1]).astype(int))), tuple(d[1] > 1.0)))


def test_item_and_float_of_an_undifferentiated_argument():
    def f(x, c):
        return (x * c[0].item()).sum() + float(c[1]) * x[0] + x[int(c[2])]
    cs = [a(1.0, 2.0, 0.0), a(1.0, 2.0, 0.5), a(3.0, 2.0, 0.0), a(3.0, -1.0, 2.0)]
    # what the program's Python sees: the numbers .item() and float() give, and int(c[2])
    check_paths(f, grad(), [(X[k][:3], c) for k, c in enumerate(cs)], lambda d: (d[1][0], d[1][1], int(d[1][2])))


def test_argmax_of_an_undifferentiated_argument():
    def f(x, c):
        return x[np.argmax(c)] * 2.0 + (x * x).sum()
    cs = [a(1.0, 2.0, 0.0, 0.5), a(1.5, 2.5, 0.0, 0.5), a(3.0, 2.0, 0.0, 0.5), a(0.0, 0.0, 0.0, 4.0)]
    check_paths(f, grad(), [(X[k], c) for k, c in enumerate(cs)], lambda d: int(np.argmax(d[1])))


def test_an_integer_index_array_argument_with_new_values():
    """The index values reach the replay by a guard or by data flow: a hit is allowed,
    a wrong result is not."""
    def f(x, idx):
        y = np.zeros_like(x)
        y[idx] = x[idx] ** 2
        np.add.at(y, idx, x[::-1][idx])
        return (y * np.arange(1.0, 5.0)).sum() + x[idx].prod()
    idxs = [np.array([0, 1, 1]), np.array([2, 3, 0]), np.array([3, 3, 3]), np.array([1, 0, 2]), np.array([0, 1, 1])]
    check_paths(f, grad(), [(X[k], i) for k, i in enumerate(idxs)], lambda d: tuple(d[1]), strict=False)
    check_paths(f, autodiff_const(), [(X[k], i) for k, i in enumerate(idxs)], lambda d: tuple(d[1]), strict=False)


def test_an_undifferentiated_argument_copied_into_a_plain_buffer():
    """``buf[:] = c`` writes values the replay must not keep from the recording."""
    def f(x, c):
        buf = np.zeros(4)
        buf[:] = c
        buf[0] += 1.0
        return (x * buf).sum() + (np.sin(x) @ buf)
    draws = [(X[k], rng(k).uniform(-1, 1, 4)) for k in range(4)]
    check_paths(f, grad(), draws, lambda d: tuple(d[1]), strict=False)


# ------------------------------------------------------------------ read-only caller arrays


def _read_only(v: np.ndarray) -> np.ndarray:
    v = v.copy()
    v.flags.writeable = False
    return v


def test_a_read_only_caller_array_is_another_signature():
    """Writing into a read-only array raises ValueError in NumPy (and in the eager engine):
    the replay too; a read-only array is never served by a writable one's recording."""
    def f(x, c):
        c[0] = 2.0
        return (x * c).sum()
    cs = [a(1.0, 2.0, 3.0, 4.0), a(1.5, 2.0, 3.0, 4.0), _read_only(a(1.0, 2.0, 3.0, 4.0)),
          _read_only(a(1.0, 1.0, 3.0, 4.0)), a(0.5, 2.0, 3.0, 4.0)]
    draws = [(X[k], c) for k, c in enumerate(cs)]

    def make(k):
        x, c = draws[k]
        return x.copy(), (c.copy() if c.flags.writeable else _read_only(c))
    # a call whose recording raised may move no counter (nothing was recorded)
    rf = check_replay(f, grad(), make, draws=5,
                      expect=["misses", "hits", "misses", "misses|hits", "hits"])
    assert info(rf)["hits"] >= 1


def test_a_read_only_array_only_read():
    def f(x, c):
        return (np.sin(x) * c).sum()
    cs = [a(1.0, 2.0, 3.0, 4.0), _read_only(a(1.5, 2.0, 3.0, 4.0)), a(1.0, 2.0, 3.0, 4.0), _read_only(a(4.0, 3.0, 2.0, 1.0))]

    def make(k):
        c = cs[k]
        return X[k].copy(), (c.copy() if c.flags.writeable else _read_only(c))
    check_replay(f, grad(), make, draws=4, expect=["misses", "misses|rerecords", "hits", "hits|misses|rerecords"])


# ------------------------------------------------------------------ values flowing into rules: no guard needed


@pytest.mark.parametrize("f", [
    lambda x, c: np.maximum(x, 0.0).sum() + np.abs(x).sum() + np.clip(x, -0.5, 0.5).sum(),
    lambda x, c: (np.sort(x) * np.arange(4.0)).sum() + x.max() * 2 + np.min(x * c),
    lambda x, c: np.where(c > 0, x, 2 * x).sum() + (x * (c > 0)).sum(),
    lambda x, c: np.maximum(x, c).sum() + (np.sin(x) * np.cumsum(c)).sum(),
    lambda x, c: (x * c.sum()).sum() + (x - c.max()).sum() + (x * (c @ c)).sum() + x[0] * np.mean(c),
    lambda x, c: (c.sum(), (x * c).sum())[1],
], ids=["relu-abs-clip", "sort-max-min", "where-of-a-const-mask", "maximum-with-const", "scalars-of-data",
        "an-unused-scalar-of-data"])
def test_values_flowing_into_rules_replay_without_guards(f):
    """The data-dependent part is inside a rule called on the new values: one recording,
    then hits, and the eager engine's results. A scalar NumPy computes from the
    undifferentiated data (``c.sum()``, ``c @ c``, ``np.mean(c)``) and a mask used as data
    (``np.where(c > 0, ...)``) are values the program never converted: the data of a
    minibatch, not a path."""
    check_replay(f, grad(), lambda k: (X[k].copy(), rng(k, 3).uniform(-1, 1, 4)), draws=5)


# ------------------------------------------------------------------ numbers of undifferentiated data in Python

NUMBER_USES = {
    "math.exp": lambda c: math.exp(c[0]),
    "abs": lambda c: abs(c[0]),
    "round": lambda c: round(c[0], 2),
    "max-with-a-float": lambda c: max(c[0], 0.1),
    "min-of-iteration": lambda c: min(c),
    "sum-of-iteration": lambda c: sum(c),
    "sorted": lambda c: sorted(c)[1],
    "list": lambda c: list(c)[2],
    "tolist": lambda c: c.tolist()[0],
    "item": lambda c: c.item(1),
    "float": lambda c: float(c[0]),
    "np.float64": lambda c: np.float64(c[0]),
    "np.float32": lambda c: np.float32(c[0]),
    "complex": lambda c: complex(c[0]).real,
    "arithmetic": lambda c: c[0] ** 2 + 1.0 / c[1] + c[0] // 0.5 + c[0] % 0.7,
    "divmod": lambda c: divmod(c[0], 0.7)[1],
    "math.floor": lambda c: math.floor(c[0] * 3),
    "int": lambda c: int(c[0] * 3),
    "bool-times": lambda c: (c[0] > 0) * 2.0,
    "truth": lambda c: 1.0 if c[0] else 2.0,
    "dict-key": lambda c: {True: 1.0, False: 2.0}[bool(c[0] > 0)],
    "list-index": lambda c: [1.0, 2.0, 3.0][int(c[1] > 0)],
    "in-a-tuple": lambda c: 1.0 + (c[0] in (0.5, 0.3)),
    "str": lambda c: float(str(c[0])),
    "repr": lambda c: float(repr(float(c[1]))),
    "format": lambda c: float(f"{c.sum():.2f}"),
    "percent-format": lambda c: float("%.3f" % c[0]),  # noqa: UP031 (what a user may write)
    "np.asarray": lambda c: np.asarray(c[0]),
    "np.array-of-a-list": lambda c: np.array([c[0], c[1], c[2]]),
    "np.full": lambda c: np.full(3, c[0]),
    "np.linspace": lambda c: np.linspace(0.0, c[0], 3),
    "np.exp": lambda c: np.exp(c[0]),
    "reductions": lambda c: c.mean() + c.std() + np.median(c) + np.percentile(c, 30) + np.linalg.norm(c),
    "np.clip": lambda c: np.clip(c[0], 0, 0.5),
    "np.where": lambda c: np.where(c[0] > 0, 1.0, 2.0),
    "np.interp": lambda c: np.interp(0.1, [0, 1], c[:2]),
    "argsort-index": lambda c: c[np.argsort(c)][0],
    "a-seed": lambda c: np.random.default_rng(abs(int(c[0] * 100))).normal(),
}


@pytest.mark.parametrize("use", list(NUMBER_USES.values()), ids=list(NUMBER_USES))
def test_numbers_of_undifferentiated_data_in_python(use):
    """A number read from an undifferentiated array and used by the program's Python
    (converted, formatted, compared, iterated, given to NumPy): whatever the replay does
    with it (a guard, or a value that flows), the result is the eager engine's."""
    def f(x, c):
        return (x * use(c)).sum() + (x * x).sum()

    def make(k):
        return rng(k).uniform(-1, 1, 3), np.array([0.3, 0.5, -0.4]) + rng(k, 5).uniform(-0.2, 0.2, 3)
    check_replay(f, grad(), make, draws=4, expect=["misses"] + ["hits|rerecords"] * 3)


ACTIVE_NUMBER_USES = {
    "format": lambda s: float(f"{s:.2f}"),
    "format()": lambda s: float(format(s, ".3f")),
    "str": lambda s: float(str(s)),
    "round": lambda s: round(s, 1),
    "round-to-int": lambda s: round(s),
    "math.floor": lambda s: math.floor(s * 3),
    "math.ceil": lambda s: math.ceil(s * 5),
    "math.trunc": lambda s: math.trunc(s * 5),
    "int": lambda s: int(s * 3),
}


@pytest.mark.parametrize("use", list(ACTIVE_NUMBER_USES.values()), ids=list(ACTIVE_NUMBER_USES))
def test_plain_values_of_an_active_number(use):
    """``f"{s:.2f}"``, ``str(s)``, ``round(s)``, ``int(s)`` of an active number give plain
    Python values (docs/engine.md, piecewise constant): values the program's Python saw,
    which a replay must check (or recompute)."""
    def f(x):
        return (x * use(x.sum())).sum()
    check_replay(f, grad(), lambda k: (rng(k).uniform(-1, 1, 3),), draws=4, expect=["misses"] + ["hits|rerecords"] * 3)


# ------------------------------------------------------------------ undifferentiated values written into a plain array

PLAIN_WRITES = {
    "setitem-slice": lambda b, c: b.__setitem__(slice(None), c),
    "setitem-fancy": lambda b, c: b.__setitem__(np.array([0, 2]), c[:2]),
    "setitem-mask": lambda b, c: b.__setitem__(np.array([True, False, True]), c[:2]),
    "setitem-number": lambda b, c: b.__setitem__(1, c[0]),
    "setitem-through-a-view": lambda b, c: b.view().__setitem__(slice(None), c),
    "flat": lambda b, c: b.flat.__setitem__(1, c[2]),
    "fill": lambda b, c: b.fill(c[0]),
    "ndarray.put": lambda b, c: b.put([1], c[2]),
    "np.put": lambda b, c: np.put(b, [0, 1], c[:2]),
    "np.place": lambda b, c: np.place(b, np.array([True, False, True]), c[:2]),
    "np.putmask": lambda b, c: np.putmask(b, np.array([True, False, True]), c),
    "np.copyto": lambda b, c: np.copyto(b, c),
    "np.copyto-where": lambda b, c: np.copyto(b, c, where=np.array([True, False, True])),
    "np.fill_diagonal": lambda b, c: np.fill_diagonal(b.reshape(1, 3), c[0]),
    "iadd": lambda b, c: b.__iadd__(c),
    "imul-by-a-number": lambda b, c: b.__imul__(c[0]),
    "ufunc-out": lambda b, c: np.multiply(c, 2.0, out=b),
    "unary-ufunc-out": lambda b, c: np.sin(c, out=b),
    "ufunc-out-where": lambda b, c: np.divide(c, 2.0, out=b, where=c > 0),
    "ufunc-out-where-only-the-mask-of-data": lambda b, c: np.multiply(b, 0.42, out=b, where=c > 0),
    "matmul-out": lambda b, c: np.matmul(c[None], np.eye(3), out=b[None]),
    "cumsum-out": lambda b, c: np.cumsum(c, out=b),
    "clip-out": lambda b, c: np.clip(c, -0.5, 0.5, out=b),
    "take-out": lambda b, c: np.take(c, [2, 1, 0], out=b),
    "ufunc.at": lambda b, c: np.subtract.at(b, [1], c[0]),
    "sort": lambda b, c: (b.__setitem__(slice(None), c), b.sort()),
}


@pytest.mark.parametrize("write", list(PLAIN_WRITES.values()), ids=list(PLAIN_WRITES))
def test_undifferentiated_values_written_into_a_plain_array(write):
    """``b = np.ones(3)`` made inside f (a plain array the engine does not track), written
    with values of the undifferentiated ``c``, then used with the active ``x``: the
    replay must see the new values (a step, a guard, or run eagerly), never the
    recording's."""
    def f(x, c):
        b = np.ones(3)
        write(b, c)
        return (b * x).sum() + (np.sin(x) * b).sum()
    check_replay(f, grad(), lambda k: (rng(k).uniform(-1, 1, 3), rng(k, 1).uniform(-1, 1, 3)), draws=4,
                 expect=["misses|eager"] + ["hits|rerecords|eager"] * 3)


# ------------------------------------------------------------------ shapes that depend on values

VALUE_SHAPED = {
    "np.flatnonzero": lambda c: np.flatnonzero(c > 0),
    "np.nonzero": lambda c: np.nonzero(c > 0)[0],
    "np.where-of-one-argument": lambda c: np.where(c > 0)[0],
    "np.argwhere": lambda c: np.argwhere(c > 0),
    "np.extract": lambda c: np.extract(c > 0, c),
    "np.compress": lambda c: np.compress(c > 0, c),
    "a-mask": lambda c: c[c > 0],
    "np.unique": lambda c: np.unique(np.round(c)),
    "np.trim_zeros": lambda c: np.trim_zeros(np.maximum(c, 0)),
    "np.setdiff1d": lambda c: np.setdiff1d(np.round(c), [0.0]),
    "np.union1d": lambda c: np.union1d(np.round(c), [0.0]),
    "np.intersect1d": lambda c: np.intersect1d(np.round(c * 2), [1.0, -1.0]),
    "np.delete": lambda c: np.delete(c, np.flatnonzero(c > 0)),
    "np.ravel_multi_index": lambda c: np.ravel_multi_index((np.flatnonzero(c > 0),), (3,)),
}


@pytest.mark.parametrize("how", ["size", "len", "shape", "slice"])
@pytest.mark.parametrize("shaped", list(VALUE_SHAPED.values()), ids=list(VALUE_SHAPED))
def test_the_shape_of_a_result_whose_shape_depends_on_values(shaped, how):
    """A NumPy function of the undifferentiated ``c`` whose result's shape depends on c's
    values; the program reads that shape (``.size``, ``len``, ``.shape``, a slice bound):
    the replay must check it (the spec: "the shapes of results whose shape depends on
    values"), never use the recording's."""
    read = {"size": lambda r: r.size, "len": len, "shape": lambda r: r.shape[0], "slice": lambda r: r.size}[how]
    assert len({shaped(rng(k, 1).uniform(-1, 1, 3)).size for k in range(4)}) > 1  # the draws change the shape

    def f(x, c):
        n = read(shaped(c))
        if how == "slice":
            return (x[:n] ** 2).sum() + x.sum()
        return (x * n).sum() + (x * x).sum()
    check_replay(f, grad(), lambda k: (rng(k).uniform(-1, 1, 3), rng(k, 1).uniform(-1, 1, 3)), draws=4,
                 expect=["misses|eager"] + ["hits|rerecords|eager"] * 3)


def test_a_plain_array_written_then_copied_into_a_const_argument():
    """autodiff leaves the caller's Const arrays as f leaves them: a replay that keeps the
    recording's plain array writes stale values into the caller's array (the fuzzer:
    seed 1201164, ``v1 = np.ones(s); np.multiply(x0, 2.0, out=v1); x0[0:2] = v1``)."""
    def f(x, c):
        b = np.ones(3)
        np.multiply(c, 2.0, out=b)
        c[:] = b
        return (x * x).sum()

    def run(fn, d):
        return ar.autodiff(fn, ar.Duplicated(d["x"], d["dx"]), ar.Const(d["c"]))
    check_replay(f, run, lambda k: {"x": rng(k).uniform(-1, 1, 3), "dx": np.zeros(3), "c": rng(k, 1).uniform(-1, 1, 3)},
                 draws=3, expect=["misses|eager"] + ["hits|rerecords|eager"] * 2)


# ------------------------------------------------------------------ rules given masks and indices of undifferentiated data


def _idx(c):
    return (np.abs(c) * 3).astype(int) % 3


def _into_zeros(write):
    def use(c, x):
        y = np.zeros_like(x)
        write(y, c, x)
        return y
    return use


RULES_ON_DATA = {
    "np.select": lambda c, x: np.select([c > 0, c <= 0], [x, 2 * x]),
    "np.choose": lambda c, x: np.choose((c > 0).astype(int), [x, 2 * x]),
    "np.where": lambda c, x: np.where(c > 0, x, x * x),
    "times-a-mask": lambda c, x: x * (c > 0) + x * _idx(c),
    "np.maximum-with-a-mask": lambda c, x: np.maximum(x, c > 0),
    "np.clip-by-data": lambda c, x: np.clip(x, c, 1.0),
    "sum-where": lambda c, x: x.sum(where=c > 0) * np.ones(3),
    "np.take": lambda c, x: np.take(x, _idx(c)),
    "fancy-index": lambda c, x: x[_idx(c)],
    "np.take_along_axis": lambda c, x: np.take_along_axis(x, _idx(c), axis=0),
    "np.bincount-weights": lambda c, x: np.bincount(_idx(c), weights=x, minlength=3),
    "np.histogram-weights": lambda c, x: np.histogram(c, bins=3, range=(-1, 1), weights=x)[0],
    "np.interp": lambda c, x: np.interp(x, np.sort(c), np.array([0.0, 1.0, 2.0])),
    "np.insert": lambda c, x: np.insert(x, _idx(c)[:1], 5.0)[:3],
    "np.delete": lambda c, x: np.delete(x, _idx(c)[:1]).sum() * np.ones(3),
    "add.at": _into_zeros(lambda y, c, x: np.add.at(y, _idx(c), x)),
    "setitem-fancy": _into_zeros(lambda y, c, x: y.__setitem__(_idx(c), x)),
    "setitem-mask": _into_zeros(lambda y, c, x: y.__setitem__(c > 0, x[c > 0])),
    "copyto-where": _into_zeros(lambda y, c, x: np.copyto(y, x, where=c > 0)),
    "x[mask].sum()": lambda c, x: x[c > 0].sum() * np.ones(3),
    "np.compress": lambda c, x: np.compress(c > 0, x).sum() * np.ones(3),
    "np.extract": lambda c, x: np.extract(c > 0, x).sum() * np.ones(3),
    "np.repeat": lambda c, x: np.repeat(x, _idx(c) + 1)[:3],
}


@pytest.mark.parametrize("use", list(RULES_ON_DATA.values()), ids=list(RULES_ON_DATA))
def test_rules_given_masks_and_indices_of_undifferentiated_data(use):
    """A rule of the active ``x`` given a mask, an index array or counts computed from the
    undifferentiated ``c`` (stand-ins while recording): the recording must work as the
    eager call does, and a replay on new ``c`` must give the eager result, also where
    the rule's output shape follows the values (np.compress, np.extract, np.repeat)."""
    def f(x, c):
        return (use(c, x) * np.sin(x)).sum()
    check_replay(f, grad(), lambda k: (rng(k).uniform(-1, 1, 3), rng(k, 1).uniform(-1, 1, 3)), draws=4,
                 expect=["misses"] + ["hits|rerecords"] * 3)


def _zero_where(x, idx):
    y = x * 1.0
    y[idx] = 0.0
    return (y * x).sum()


INDEXING_2D = {
    "nonzero-of-data": lambda c, x: (x[np.nonzero(c > 0)] ** 2).sum(),
    "nonzero-of-active": lambda c, x: x[np.nonzero(x > 0)].sum() + (x * x).sum(),
    "where-setitem": lambda c, x: _zero_where(x, np.where(c > 0)),
    "mask-setitem": lambda c, x: _zero_where(x, c > 0),
    "row-mask": lambda c, x: x[c[:, 0] > 0].sum() + x.sum(),
    "np.ix_": lambda c, x: x[np.ix_(np.flatnonzero(c[:, 0] > 0), [0, 1])].sum() + x.sum(),
    "unravel-argmax-of-active": lambda c, x: x[np.unravel_index(np.argmax(x), x.shape)] * 3 + x.sum(),
    "unravel-argmax-of-data": lambda c, x: x[np.unravel_index(np.argmax(c), c.shape)] * 3 + x.sum(),
    "triu-by-data": lambda c, x: x[np.triu_indices(2, k=int(c[0, 0] > 0))].sum(),
    "argsort-rows": lambda c, x: x[np.argsort(c[:, 0])].sum(axis=1).prod(),
    "lexsort": lambda c, x: x[np.lexsort((c[:, 1], c[:, 0]))][0].sum(),
    "argmax-per-column": lambda c, x: x.max(axis=0).sum() + x[np.argmax(x, axis=0), [0, 1]].sum(),
}


@pytest.mark.parametrize("use", list(INDEXING_2D.values()), ids=list(INDEXING_2D))
def test_two_dimensional_indices_from_values(use):
    check_replay(lambda x, c: use(c, x), grad(), lambda k: (rng(k).uniform(-1, 1, (2, 2)), rng(k, 1).uniform(-1, 1, (2, 2))),
                 draws=5, expect=["misses"] + ["hits|rerecords"] * 4)
