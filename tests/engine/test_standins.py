"""Stand-ins answer type and shape questions as the values they stand for, convert to
text and piecewise-constant numbers as those do, copy as a recorded copy, refuse to be
pickled, and accept the valid programs NumPy accepts (issue 10)."""

from __future__ import annotations

import copy
import math
import numbers
import pickle
from typing import Any, Callable

import numpy as np
import pytest
from engine_helpers import assert_gradient_matches_fd

import activerules as ar
from activerules.engine import UntrackedWriteError, gradient

W = np.array([[0.5, -1.0, 2.0], [1.5, 0.25, -0.75]])


def _answers(v: Any) -> dict[str, str]:
    """What each type and shape predicate answers for ``v`` (an exception by its type)."""
    predicates: dict[str, Callable[[Any], Any]] = {
        "np.isscalar": np.isscalar,
        "Real": lambda v: isinstance(v, numbers.Real),
        "Number": lambda v: isinstance(v, numbers.Number),
        "Complex": lambda v: isinstance(v, numbers.Complex),
        "float": lambda v: isinstance(v, float),
        "complex": lambda v: isinstance(v, complex),
        "np.generic": lambda v: isinstance(v, np.generic),
        "np.floating": lambda v: isinstance(v, np.floating),
        "np.complexfloating": lambda v: isinstance(v, np.complexfloating),
        "np.ndarray": lambda v: isinstance(v, np.ndarray),
        "np.ndim": np.ndim, "np.shape": np.shape, "np.size": np.size, "np.iterable": np.iterable,
        "np.result_type": np.result_type,
        "np.can_cast": lambda v: np.can_cast(v, np.float32),
        "dtype.kind": lambda v: v.dtype.kind,
        "np.isrealobj": np.isrealobj, "np.iscomplexobj": np.iscomplexobj,
        "np.isreal": np.isreal, "np.iscomplex": np.iscomplex,
        "issubdtype": lambda v: np.issubdtype(v.dtype, np.floating),
        "len": len,
        "flags": lambda v: (v.flags.c_contiguous, v.flags.f_contiguous, v.flags.writeable,
                            v.flags["C_CONTIGUOUS"]),
        "itemsize": lambda v: v.itemsize, "nbytes": lambda v: v.nbytes, "strides": lambda v: v.strides,
        "np.min_scalar_type": np.min_scalar_type,
        "asarray": lambda v: (np.asarray(v).dtype, np.asarray(v).shape),
        "type(shape)": lambda v: type(v.shape), "base": lambda v: v.base is None,
    }
    out = {}
    for name, p in predicates.items():
        try:
            out[name] = repr(p(v))
        except Exception as e:  # noqa: BLE001 - the exception type is the answer
            out[name] = type(e).__name__
    return out


# (argument, how the function obtains the value from it): arrays of several ndims,
# dtypes and layouts, and numbers of several types
CASES: dict[str, tuple[np.ndarray, Callable[[Any], Any]]] = {
    "float64 1-d": (np.array([0.5, 1.5, -2.0]), lambda x: x),
    "float64 2-d": (W.copy(), lambda x: x),
    "float64 F 2-d": (np.asfortranarray(W), lambda x: x),
    "float64 0-d": (np.array(1.25), lambda x: x),
    "float32 3-d": (np.arange(1.0, 25.0, dtype=np.float32).reshape(2, 3, 4) / 7, lambda x: x),
    "complex128 2-d": (W * (1 + 0.5j), lambda x: x),
    "float64 view": (W.copy(), lambda x: x[:, 1:]),
    "float64 number": (np.array([0.5, 1.5, -2.0]), lambda x: x.sum()),
    "float32 number": (np.array([0.5, 1.5], np.float32), lambda x: x.sum()),
    "complex number": (np.array([0.5 + 1j, 1.5]), lambda x: x.sum()),
    "element": (np.array([0.5, 1.5, -2.0]), lambda x: x[1]),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_predicates_answer_as_for_the_value(case: str) -> None:
    arg, get = CASES[case]
    inside: dict[str, str] = {}

    def f(x: Any) -> Any:
        inside.update(_answers(get(x)))
        return (abs(x) ** 2).sum()

    gradient(f, arg.copy(order="K"))
    assert inside == _answers(get(arg.copy(order="K")))


def _branches(x: Any) -> Any:
    s = (x ** 2).sum()
    if np.isscalar(s) and isinstance(s, numbers.Real) and isinstance(s, float):
        s = s * 3.0
    if isinstance(x, np.ndarray) and np.ndim(s) == 0:
        s = s + x[0] ** 3
    return s


def test_branches_on_predicates_take_numpy_s_path() -> None:
    x = np.array([0.5, -1.5, 2.0])
    assert_gradient_matches_fd(_branches, x)
    np.testing.assert_allclose(gradient(_branches, x), 6 * x + [3 * x[0] ** 2, 0, 0])


CONVERSIONS: dict[str, Callable[[Any], Any]] = {
    "format .3f": lambda s: f"{s:.3f}", "format": format, "str": str, "f-string": lambda s: f"{s}",
    "round": round, "round 2": lambda s: round(s, 2), "floor": math.floor, "ceil": math.ceil,
    "trunc": math.trunc, "int": int, "is_integer": lambda s: s.is_integer(),
}


@pytest.mark.parametrize("name", sorted(CONVERSIONS))
def test_conversions_of_a_number_give_the_value_s_plain_result(name: str) -> None:
    conv = CONVERSIONS[name]
    x = np.array([0.5, 1.5, 1.123456])
    got: list[Any] = []

    def f(x: Any) -> Any:
        s = x.sum()
        got.append(conv(s))
        return s * 2

    np.testing.assert_allclose(gradient(f, x.copy()), 2 * np.ones(3))
    want = conv(x.sum())
    assert type(got[0]) is type(want) and got[0] == want


def test_float_of_an_active_number_raises_and_says_what_to_do() -> None:
    with pytest.raises(UntrackedWriteError, match=r"float\(\).*keep computing with the value"):
        gradient(lambda x: float(x.sum()), np.ones(2))


def _copy_then_write(cp: Callable[[Any], Any]) -> Callable[[Any], Any]:
    def f(x: Any) -> Any:
        y = cp(x[1:] * 2)
        y[0] = x[0] ** 2  # the copy is independent of what it copied
        z = cp(x)
        z[1] = 3.0
        return (y * x[:2]).sum() + (z * x).sum() + cp(x.sum()) ** 2
    return f


@pytest.mark.parametrize("cp", [copy.copy, copy.deepcopy], ids=["copy", "deepcopy"])
def test_copy_module_makes_a_recorded_copy(cp: Callable[[Any], Any]) -> None:
    x = np.array([0.5, -1.5, 2.0])
    assert_gradient_matches_fd(_copy_then_write(cp), x)


def test_copy_copy_of_a_transposed_array_keeps_numpy_s_layout() -> None:
    seen: list[Any] = []

    def f(x: Any) -> Any:
        y = copy.copy(x.T)
        seen.append((y.flags.c_contiguous, y.flags.f_contiguous))
        return (y ** 2).sum()

    gradient(f, W.copy())
    y = copy.copy(W.T)
    assert seen == [(y.flags.c_contiguous, y.flags.f_contiguous)]


@pytest.mark.parametrize("get", [lambda x: x, lambda x: x[1:], lambda x: x.sum()], ids=["array", "view", "number"])
def test_pickling_a_stand_in_raises_naming_it(get: Callable[[Any], Any]) -> None:
    def f(x: Any) -> Any:
        pickle.dumps(get(x))
        return x.sum()

    with pytest.raises(ar.ActiveRulesError, match="pickling the active value"):
        gradient(f, np.ones(3))


def _copyto_nothing(x: Any) -> Any:
    d = np.zeros(3)
    np.copyto(d, x, where=[False, False, False])  # writes nothing: valid NumPy
    np.copyto(d, x, where=[False])
    np.copyto(d, x, where=False)
    e = np.zeros(0)
    np.copyto(e, x[:0], where=[])
    np.copyto(e, x[:0])
    np.sin(x, out=d, where=False)
    return (d + x ** 2).sum() + e.sum()


def test_copyto_that_writes_nothing_into_a_plain_array_is_accepted() -> None:
    x = np.array([0.5, -1.5, 2.0])
    assert _copyto_nothing(x.copy()) == (x ** 2).sum()
    assert_gradient_matches_fd(_copyto_nothing, x)


def test_copyto_that_writes_into_a_plain_array_still_raises() -> None:
    def f(x: Any) -> Any:
        d = np.zeros(3)
        np.copyto(d, x, where=[False, True, False])
        return x.sum()

    with pytest.raises(UntrackedWriteError):
        gradient(f, np.ones(3))


def _write_into_reshaped_broadcast(x: Any) -> Any:
    b = np.broadcast_to(x, (2, 3)).reshape(6)  # NumPy: a writable copy
    b[0] = 5.0
    c = np.broadcast_to(x[:, None], (3, 2)).reshape(6)
    c[1] = x[0] * x[2]
    return (b * np.arange(6.0)).sum() + (c ** 2 * np.arange(6.0)).sum() + (b[2:4] * x[1:]).sum()


def test_writing_into_a_reshape_of_broadcast_to_works_as_in_numpy() -> None:
    x = np.array([0.5, -1.5, 2.0])
    v = _write_into_reshaped_broadcast(x.copy())
    assert ar.vjp(_write_into_reshaped_broadcast, x.copy())[0] == v
    assert_gradient_matches_fd(_write_into_reshaped_broadcast, x)


def test_a_reshape_of_broadcast_to_that_numpy_keeps_a_view_stays_read_only() -> None:
    def f(x: Any) -> Any:
        b = np.broadcast_to(x, (2, 3)).reshape(2, 3)  # NumPy: still the read-only view
        b[0, 0] = 1.0
        return b.sum()

    with pytest.raises(ValueError, match="read-only"):
        f(np.ones(3))
    with pytest.raises(ar.ActiveRulesError):
        gradient(f, np.ones(3))


def test_flags_writeable_says_whether_a_write_works() -> None:
    seen: list[Any] = []

    def f(x: Any) -> Any:
        b = np.broadcast_to(x, (2, 3))  # NumPy: a read-only view; the engine: writes raise
        seen.append((x.flags.writeable, x[1:].flags.writeable, b.flags.writeable,
                     np.diagonal(np.outer(x, x)).flags.writeable))
        return (b * x).sum()

    gradient(f, np.ones(3))
    x = np.ones(3)
    want = (x.flags.writeable, x[1:].flags.writeable, np.broadcast_to(x, (2, 3)).flags.writeable,
            np.diagonal(np.outer(x, x)).flags.writeable)
    assert seen == [want]


LIST_PREDICATES: dict[str, Callable[[Any], Any]] = {
    "ndim": lambda x: np.ndim([x[0], x[1]]), "shape": lambda x: np.shape([x, x]),
    "size": lambda x: np.size([x[0], 1.0]), "shape nested": lambda x: np.shape([[x[0]], [2.0]]),
}


@pytest.mark.parametrize("name", sorted(LIST_PREDICATES))
def test_shape_predicates_of_lists_holding_stand_ins(name: str) -> None:
    p = LIST_PREDICATES[name]
    got: list[Any] = []

    def f(x: Any) -> Any:
        got.append(p(x))
        return x.sum()

    gradient(f, np.array([0.5, 1.5]))
    assert got == [p(np.array([0.5, 1.5]))]
