"""The statement templates of the program fuzzer (``fuzz_programs``): each op class
emits one statement as NumPy code and as the same statement on torch tensors,
given the current NumPy environment (variable name -> value, for the shapes).
A template may return a statement that does not fit (the generator runs both
versions and drops it); where torch's semantics differ from NumPy's (repeated
indices in a fancy write, ``out=``, ``where=``) the torch line spells NumPy's."""

from __future__ import annotations

import re
from typing import Any, Callable

import numpy as np
from fuzz_programs import Stmt

_NAME = re.compile(r"^[xsv]\d+$")
Operand = tuple[str, str, tuple[int, ...]]  # NumPy expression, torch expression, shape


def _fresh(env: dict[str, Any], count: int = 1) -> list[str]:
    used = [int(n[1:]) for n in env if _NAME.match(n) and n[0] == "v"]
    start = max(used, default=-1) + 1
    return [f"v{start + k}" for k in range(count)]


def _names(env: dict[str, Any], arrays: bool) -> list[str]:
    res = []
    for n, v in env.items():
        if _NAME.match(n):
            is_arr = isinstance(v, np.ndarray) and v.ndim >= 1 and v.size > 0  # empty pieces: no operand
            if is_arr == arrays:
                res.append(n)
    return res


#: Names writes go into when one of them is there (``generate(const_writes=True)``: the
#: undifferentiated inputs, runtime activity), else any writable array.
PREFERRED_TARGETS: list[str] = []


def _targets(env: dict[str, Any]) -> list[str]:
    names = [n for n in _names(env, True) if env[n].flags.writeable]
    preferred = [n for n in names if n in PREFERRED_TARGETS]
    return preferred or names


def _pick(rng: np.random.Generator, seq: list[Any]) -> Any:
    return seq[int(rng.integers(len(seq)))] if seq else None


def operand(rng: np.random.Generator, env: dict[str, Any], shape: tuple[int, ...] | None = None,
            literal: bool = True) -> Operand | None:
    """An operand broadcastable to ``shape`` (any array if ``shape`` is None): a variable,
    a reversed or transposed variable, or a float literal."""
    cands: list[Operand] = []
    for n in _names(env, True):
        s = env[n].shape
        cands.append((n, n, s))
        cands.append((f"{n}[::-1]", f"{n}.flip(0)", s))
        if len(s) == 2:
            cands.append((f"{n}.T", f"{n}.T", s[::-1]))
    if shape is not None:
        cands = [c for c in cands if _broadcasts(c[2], shape)]
        cands += [(n, n, ()) for n in _names(env, False)]
        if literal:
            c = f"{float(np.round(rng.uniform(-1.2, 1.2), 2)) or 0.25}"  # no kink at zero
            cands.append((c, c, ()))
    return _pick(rng, cands)


def _broadcasts(s: tuple[int, ...], shape: tuple[int, ...]) -> bool:
    try:
        return np.broadcast_shapes(s, shape) == shape
    except ValueError:
        return False


def _axis(rng: np.random.Generator, ndim: int) -> int:
    return int(rng.integers(ndim))


# ------------------------------------------------------------ new values

UNARY = {"sin": ("np.sin({})", "torch.sin({})"), "cos": ("np.cos({})", "torch.cos({})"),
         "tanh": ("np.tanh({})", "torch.tanh({})"), "square": ("np.square({})", "torch.square({})"),
         "neg": ("-{}", "-{}"), "soft": ("np.sqrt(1.0 + {0} * {0})", "torch.sqrt(1.0 + {0} * {0})")}
BINARY = {"+": "{} + {}", "-": "{} - {}", "*": "{} * {}", "/": "{} / (1.5 + np.cos({}))"}


def op_unary(rng: np.random.Generator, env: dict[str, Any]) -> Stmt | None:
    a = operand(rng, env)
    if a is None:
        return None
    (v,) = _fresh(env)
    fn, ft = UNARY[_pick(rng, sorted(UNARY))]
    return Stmt("unary", f"{v} = {fn.format(a[0])}", f"{v} = {ft.format(a[1])}")


def op_binary(rng: np.random.Generator, env: dict[str, Any]) -> Stmt | None:
    a = operand(rng, env)
    if a is None:
        return None
    b = operand(rng, env, a[2])
    (v,) = _fresh(env)
    op = _pick(rng, sorted(BINARY))
    tmpl = BINARY[op]
    if rng.random() < 0.5 and b is not None:
        a, b = b, a
    if b is None:
        return None
    t = tmpl.replace("np.", "torch.")
    return Stmt("binary", f"{v} = {tmpl.format(a[0], b[0])}", f"{v} = {t.format(a[1], b[1])}")


def op_matmul(rng: np.random.Generator, env: dict[str, Any]) -> Stmt | None:
    mats = [n for n in _names(env, True) if env[n].ndim == 2]
    a = _pick(rng, mats)
    if a is None:
        return None
    k = env[a].shape[1]
    bs = [n for n in _names(env, True) if env[n].ndim in (1, 2) and env[n].shape[0] == k]
    b = _pick(rng, bs)
    if b is None:
        return None
    (v,) = _fresh(env)
    return Stmt("matmul", f"{v} = {a} @ {b}", f"{v} = {a} @ {b}")


REDUCE = {"sum": ("np.sum({}, axis={})", "torch.sum({}, dim={})"),
          "mean": ("np.mean({}, axis={})", "torch.mean({}, dim={})"),
          "prod": ("np.prod({}, axis={})", "torch.prod({}, dim={})"),
          "max": ("np.max({}, axis={})", "torch.amax({}, dim={})"),
          "cumsum": ("np.cumsum({}, axis={})", "torch.cumsum({}, dim={})"),
          "cumprod": ("np.cumprod({}, axis={})", "torch.cumprod({}, dim={})")}


def _reduction(name: str) -> Callable[[np.random.Generator, dict[str, Any]], Stmt | None]:
    fn, ft = REDUCE[name]

    def op(rng: np.random.Generator, env: dict[str, Any]) -> Stmt | None:
        a = operand(rng, env)
        if a is None:
            return None
        (v,) = _fresh(env)
        if name in ("sum", "mean") and rng.random() < 0.3:  # the whole array, a scalar
            return Stmt(name, f"{v} = {a[0]}.{name}()", f"{v} = {a[1]}.{name}()")
        ax = _axis(rng, len(a[2]))
        np_src, t_src = fn.format(a[0], ax), ft.format(a[1], ax)
        if name in ("sum", "max") and rng.random() < 0.3:
            np_src, t_src = np_src[:-1] + ", keepdims=True)", t_src[:-1] + ", keepdim=True)"
        return Stmt(name, f"{v} = {np_src}", f"{v} = {t_src}")
    return op


def op_where(rng: np.random.Generator, env: dict[str, Any]) -> Stmt | None:
    c = operand(rng, env, literal=False)
    if c is None:
        return None
    a, b = operand(rng, env, c[2]), operand(rng, env, c[2])
    if a is None or b is None:
        return None
    (v,) = _fresh(env)
    return Stmt("where", f"{v} = np.where({c[0]} > 0, {a[0]}, {b[0]})",
                f"{v} = torch.where({c[1]} > 0, {a[1]}, {b[1]})")


def op_concat(rng: np.random.Generator, env: dict[str, Any]) -> Stmt | None:
    a = operand(rng, env, literal=False)
    if a is None:
        return None
    ax = _axis(rng, len(a[2]))
    others = [o for o in _all_operands(env) if len(o[2]) == len(a[2]) and
              all(o[2][d] == a[2][d] for d in range(len(a[2])) if d != ax)]
    b = _pick(rng, others)
    if b is None:
        return None
    (v,) = _fresh(env)
    if rng.random() < 0.5:
        return Stmt("concat", f"{v} = np.concatenate([{a[0]}, {b[0]}], axis={ax})",
                    f"{v} = torch.cat([{a[1]}, {b[1]}], dim={ax})")
    if b[2] != a[2]:
        return None
    return Stmt("stack", f"{v} = np.stack([{a[0]}, {b[0]}], axis={ax})",
                f"{v} = torch.stack([{a[1]}, {b[1]}], dim={ax})")


def _all_operands(env: dict[str, Any]) -> list[Operand]:
    return [(n, n, env[n].shape) for n in _names(env, True)]


def op_sort(rng: np.random.Generator, env: dict[str, Any]) -> Stmt | None:
    a = operand(rng, env)
    if a is None:
        return None
    ax = _axis(rng, len(a[2]))
    (v,) = _fresh(env)
    return Stmt("sort", f"{v} = np.sort({a[0]}, axis={ax})", f"{v} = torch.sort({a[1]}, dim={ax}).values")


def op_sort_inplace(rng: np.random.Generator, env: dict[str, Any]) -> Stmt | None:
    x = _pick(rng, _targets(env))
    if x is None:
        return None
    ax = _axis(rng, env[x].ndim)
    return Stmt("sort_inplace", f"{x}.sort(axis={ax})", f"{x}.copy_(torch.sort({x}, dim={ax}).values)")


# ------------------------------------------------------------ views

def _span(rng: np.random.Generator, n: int) -> tuple[int, int]:
    i = int(rng.integers(n))
    j = int(rng.integers(i + 1, n + 1))
    return i, j


def op_slice(rng: np.random.Generator, env: dict[str, Any]) -> Stmt | None:
    x = _pick(rng, _names(env, True))
    if x is None:
        return None
    shape = env[x].shape
    (v,) = _fresh(env)
    r = rng.random()
    if r < 0.2:
        return Stmt("slice", f"{v} = {x}[::2]", f"{v} = {x}[::2]")
    ax = 1 if len(shape) >= 2 and r < 0.5 else 0
    i, j = _span(rng, shape[ax])
    idx = f"{i}:{j}" if ax == 0 else f":, {i}:{j}"
    return Stmt("slice", f"{v} = {x}[{idx}]", f"{v} = {x}[{idx}]")


def op_index(rng: np.random.Generator, env: dict[str, Any]) -> Stmt | None:
    x = _pick(rng, _names(env, True))
    if x is None:
        return None
    shape = env[x].shape
    (v,) = _fresh(env)
    if len(shape) >= 2 and rng.random() < 0.6:  # a row: a view in both
        i = int(rng.integers(shape[0]))
        return Stmt("index", f"{v} = {x}[{i}]", f"{v} = {x}[{i}]")
    idx = ", ".join(str(int(rng.integers(n))) for n in shape)  # an element: NumPy copies it
    return Stmt("index", f"{v} = {x}[{idx}]", f"{v} = {x}[{idx}].clone()")


def op_transpose(rng: np.random.Generator, env: dict[str, Any]) -> Stmt | None:
    x = _pick(rng, [n for n in _names(env, True) if env[n].ndim >= 2])
    if x is None:
        return None
    (v,) = _fresh(env)
    nd = env[x].ndim
    if nd == 2 and rng.random() < 0.5:
        return Stmt("transpose", f"{v} = {x}.T", f"{v} = {x}.T")
    if nd == 3 and rng.random() < 0.5:
        return Stmt("transpose", f"{v} = np.transpose({x})", f"{v} = {x}.permute(2, 1, 0)")
    return Stmt("transpose", f"{v} = np.swapaxes({x}, 0, 1)", f"{v} = {x}.transpose(0, 1)")


def op_reshape(rng: np.random.Generator, env: dict[str, Any]) -> Stmt | None:
    x = _pick(rng, _names(env, True))
    if x is None:
        return None
    size = env[x].size
    (v,) = _fresh(env)
    if rng.random() < 0.25:
        return Stmt("reshape", f"{v} = {x}.ravel()", f"{v} = {x}.ravel()", _layout(env[x], (size,)))
    shapes = [(size,)] + [(a, size // a) for a in range(2, size) if size % a == 0]
    shapes += [(1, size), (size, 1)]
    s = _pick(rng, shapes)
    return Stmt("reshape", f"{v} = {x}.reshape{s}", f"{v} = {x}.reshape{s}", _layout(env[x], s))


def _layout(a: np.ndarray, shape: tuple[int, ...]) -> tuple[str, ...]:
    """``("reshape_view_of_f_ordered",)`` if NumPy's reshape of ``a`` is a view into a
    storage that is not C-ordered (the result of an elementwise op on a transpose)."""
    root = a
    while isinstance(root.base, np.ndarray):
        root = root.base
    view = np.shares_memory(a.reshape(shape), a)
    return ("reshape_view_of_f_ordered",) if view and not root.flags.c_contiguous else ()


def op_split(rng: np.random.Generator, env: dict[str, Any]) -> Stmt | None:
    x = _pick(rng, _names(env, True))
    if x is None:
        return None
    shape = env[x].shape
    ax = _axis(rng, len(shape))
    v, w = _fresh(env, 2)
    if shape[ax] % 2 == 0 and rng.random() < 0.5:
        return Stmt("split", f"{v}, {w} = np.split({x}, 2, axis={ax})",
                    f"{v}, {w} = torch.tensor_split({x}, 2, dim={ax})")
    i = int(rng.integers(1, shape[ax])) if shape[ax] > 1 else 1
    whole = ("split_whole_piece",) if i >= shape[ax] else ()
    return Stmt("split", f"{v}, {w} = np.split({x}, [{i}], axis={ax})",
                f"{v}, {w} = torch.tensor_split({x}, [{i}], dim={ax})", whole)


def op_otherview(rng: np.random.Generator, env: dict[str, Any]) -> Stmt | None:
    x = _pick(rng, _names(env, True))
    if x is None:
        return None
    (v,) = _fresh(env)
    r = rng.random()
    if r < 0.35:
        return Stmt("flip", f"{v} = {x}[::-1]", f"{v} = {x}.flip(0)")
    if r < 0.7 or env[x].ndim != 2:
        return Stmt("newaxis", f"{v} = {x}[None]", f"{v} = {x}[None]")
    return Stmt("diagonal", f"{v} = np.diagonal({x})", f"{v} = torch.diagonal({x})")


# ------------------------------------------------------------ writes

def op_iop(rng: np.random.Generator, env: dict[str, Any]) -> Stmt | None:
    x = _pick(rng, _targets(env))
    if x is None:
        return None
    a = operand(rng, env, env[x].shape)
    if a is None:
        return None
    op = _pick(rng, ["+=", "-=", "*="])
    return Stmt("iop", f"{x} {op} {a[0]}", f"{x} {op} {a[1]}")


def op_setitem(rng: np.random.Generator, env: dict[str, Any]) -> Stmt | None:
    x = _pick(rng, _targets(env))
    if x is None:
        return None
    shape = env[x].shape
    r = rng.random()
    if r < 0.25:
        idx, sub = "...", shape
    elif r < 0.5:
        i = int(rng.integers(shape[0]))
        idx, sub = f"{i}", shape[1:]
    else:
        i, j = _span(rng, shape[0])
        idx, sub = f"{i}:{j}", (j - i,) + shape[1:]
    a = operand(rng, env, tuple(sub))
    if a is None:
        return None
    op = "+=" if rng.random() < 0.3 else "="
    return Stmt("setitem", f"{x}[{idx}] {op} {a[0]}", f"{x}[{idx}] {op} {a[1]}")


def _fancy_index(rng: np.random.Generator, n: int) -> list[int]:
    k = int(rng.integers(2, 4))
    idx = [int(i) for i in rng.integers(n, size=k)]
    if n > 1 and len(set(idx)) == k and rng.random() < 0.7:
        idx[-1] = idx[0]  # mostly repeated
    return idx


def _last_writes(idx: list[int]) -> tuple[list[int], list[int]]:
    """The distinct indices of ``idx`` and the position of each one's last occurrence:
    NumPy keeps the last write, torch leaves the order of repeated writes undefined."""
    last = {i: p for p, i in enumerate(idx)}
    return list(last), list(last.values())


def op_fancy_get(rng: np.random.Generator, env: dict[str, Any]) -> Stmt | None:
    x = _pick(rng, _names(env, True))
    if x is None:
        return None
    idx = _fancy_index(rng, env[x].shape[0])
    (v,) = _fresh(env)
    return Stmt("fancy_get", f"{v} = {x}[{idx}]", f"{v} = {x}[{idx}]")


def op_fancy_set(rng: np.random.Generator, env: dict[str, Any]) -> Stmt | None:
    x = _pick(rng, _targets(env))
    if x is None:
        return None
    shape = env[x].shape
    idx = _fancy_index(rng, shape[0])
    a = operand(rng, env, (len(idx),) + shape[1:])
    if a is None:
        return None
    uniq, pos = _last_writes(idx)
    full = len(a[2]) == len(shape) and a[2][0] == len(idx) > 1
    src = f"({a[1]})[{pos}]" if full else a[1]
    if rng.random() < 0.4:
        return Stmt("fancy_iadd", f"{x}[{idx}] += {a[0]}", f"{x}[{uniq}] = {x}[{uniq}] + {src}")
    return Stmt("fancy_set", f"{x}[{idx}] = {a[0]}", f"{x}[{uniq}] = {src}")


def op_ufunc_at(rng: np.random.Generator, env: dict[str, Any]) -> Stmt | None:
    x = _pick(rng, _targets(env))
    if x is None:
        return None
    shape = env[x].shape
    idx = _fancy_index(rng, shape[0])
    full = (len(idx),) + shape[1:]
    a = operand(rng, env, full, literal=False)
    if a is None:
        return None
    src = f"({a[1]}).expand{full}"
    t_idx = f"torch.tensor({idx})"
    kind = _pick(rng, ["add", "subtract", "multiply"])
    base = env.get(a[0].split("[")[0].split(".")[0])
    alias = isinstance(base, np.ndarray) and np.shares_memory(env[x], base)
    if kind == "multiply":
        t = f"{x}.index_reduce_(0, {t_idx}, {src}, 'prod')"
    else:
        t = f"{x}.index_put_(({t_idx},), {'-' if kind == 'subtract' else ''}{src}, accumulate=True)"
    return Stmt(f"{kind}.at", f"np.{kind}.at({x}, {idx}, {a[0]})", t, ("ufunc_at_alias",) if alias else ())


def op_out(rng: np.random.Generator, env: dict[str, Any]) -> Stmt | None:
    x = _pick(rng, _targets(env))
    if x is None:
        return None
    shape = env[x].shape
    a = operand(rng, env, shape, literal=False)
    if a is None:
        return None
    if rng.random() < 0.5:
        name = _pick(rng, ["sin", "tanh", "cos"])
        return Stmt("out", f"np.{name}({a[0]}, out={x})", f"{x}.copy_(torch.{name}({a[1]}))")
    b = operand(rng, env, shape)
    if b is None:
        return None
    name, sym = _pick(rng, [("add", "+"), ("multiply", "*"), ("subtract", "-")])
    return Stmt("out", f"np.{name}({a[0]}, {b[0]}, out={x})", f"{x}.copy_({a[1]} {sym} {b[1]})")


def op_where_kw(rng: np.random.Generator, env: dict[str, Any]) -> Stmt | None:
    x = _pick(rng, _targets(env))
    if x is None:
        return None
    shape = env[x].shape
    a, b = operand(rng, env, shape, literal=False), operand(rng, env, shape)
    c = operand(rng, env, shape, literal=False)
    if a is None or b is None or c is None:
        return None
    name, sym = _pick(rng, [("add", "+"), ("multiply", "*")])
    return Stmt("where_kw", f"np.{name}({a[0]}, {b[0]}, out={x}, where={c[0]} > 0)",
                f"{x}.copy_(torch.where({c[1]} > 0, {a[1]} {sym} {b[1]}, {x}))")


OPS: dict[str, Callable[[np.random.Generator, dict[str, Any]], Stmt | None]] = {
    "unary": op_unary, "binary": op_binary, "matmul": op_matmul, "where": op_where,
    "concat": op_concat, "sort": op_sort, "sort_inplace": op_sort_inplace,
    "slice": op_slice, "index": op_index, "transpose": op_transpose, "reshape": op_reshape,
    "split": op_split, "otherview": op_otherview, "iop": op_iop, "setitem": op_setitem,
    "fancy_get": op_fancy_get, "fancy_set": op_fancy_set, "ufunc_at": op_ufunc_at,
    "out": op_out, "where_kw": op_where_kw,
    **{name: _reduction(name) for name in REDUCE},
}
# writes and views are what the engine finds hardest: drawn more often
WEIGHTS = {"iop": 3, "setitem": 3, "slice": 3, "fancy_set": 2, "ufunc_at": 2, "out": 2, "where_kw": 1,
           "reshape": 2, "split": 2, "transpose": 2, "unary": 3, "binary": 3}


def propose(rng: np.random.Generator, op: str, env: dict[str, Any]) -> Stmt | None:
    """A statement of op class ``op`` for the environment ``env`` (None if none fits)."""
    return OPS[op](rng, env)
