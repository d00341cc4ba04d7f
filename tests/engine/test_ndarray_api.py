"""Every public attribute and method of ``np.ndarray`` (and of a NumPy number) either
works on a stand-in as on its value or raises a named library error, never a bare
AttributeError (issue 10)."""

from __future__ import annotations

import builtins
from typing import Any

import numpy as np
import pytest
from engine_helpers import assert_gradient_matches_fd

import activerules as ar
from activerules.engine import gradient
from activerules.engine.standins import raw

X = np.array([[0.5, -1.0, 2.0], [1.5, 0.25, -0.75], [0.3, 1.1, -2.2]])

#: arguments to call a method with (no arguments otherwise)
ARGS: dict[str, tuple[Any, ...]] = {
    "argpartition": (1,), "choose": ([[1.0]],), "clip": (0.0, 1.0), "compress": ([True, False, True],),
    "dot": (np.ones(3),), "fill": (0.5,), "getfield": (np.float64,), "item": (0,),
    "itemset": (0, 1.0), "partition": (1,), "put": ([0, 4], [7.0, 8.0]), "repeat": (2,),
    "reshape": (9,), "resize": ((9,),), "searchsorted": (0.5,), "setfield": (1.0, np.float64),
    "setflags": (True,), "swapaxes": (0, 1), "take": ([0, 2],), "to_device": ("cpu",),
    "tofile": ("/nonexistent/never-written",), "dump": ("/nonexistent/never-written",),
    "astype": (np.float32,), "view": (np.float64,), "__array_namespace__": (),
}


def _plain(v: Any) -> Any:
    """A comparable plain form of a result (stand-ins by their values)."""
    if isinstance(v, (np.flatiter,)) or type(v).__name__ == "_Flat":
        return [_plain(e) for e in v]
    if type(v).__name__ in ("flagsobj", "_Flags"):
        return (v.c_contiguous, v.f_contiguous, v.writeable)
    if isinstance(v, (tuple, list)):
        return [_plain(e) for e in v]
    if callable(v) and not isinstance(v, np.ndarray):
        return "callable"
    return np.asarray(raw(v)).tolist() if isinstance(raw(v), (np.ndarray, np.generic)) else raw(v)


def _use(v: Any, name: str) -> Any:
    """``v.name`` (called with ARGS when a method)."""
    attr = getattr(v, name)
    if callable(attr) and not isinstance(raw(attr), np.ndarray) and name not in ("T", "mT", "flat", "base"):
        return attr(*ARGS.get(name, ()))
    return attr


def _outcome(v: Any, name: str) -> Any:
    try:
        return ("ok", _plain(_use(v, name)))
    except ar.ActiveRulesError:
        return ("named error", None)
    except Exception as e:  # noqa: BLE001 - the kind of failure is compared
        return ("error", type(e).__name__)


def _names(t: type) -> list[str]:
    return sorted(n for n in dir(t) if not n.startswith("_"))


def _check_all(prototype: np.ndarray | np.generic, get: Any, arg: np.ndarray) -> None:
    outcomes: dict[str, Any] = {}

    def f(x: Any) -> Any:
        for name in _names(type(prototype)):
            outcomes[name] = _outcome(get(x.copy()), name)  # a fresh one: some methods mutate
        return (x ** 2).sum()

    gradient(f, arg.copy())
    bad = {}
    for name, got in outcomes.items():
        if got[0] == "named error":
            continue
        want = _outcome(get(arg.copy()), name)
        if got[0] == "error" and got[1] == "AttributeError" or got != want:
            bad[name] = (got, want)
    assert not bad, bad


def test_every_public_ndarray_attribute_works_or_raises_a_named_error() -> None:
    _check_all(X, lambda x: x, X)


def test_every_public_ndarray_attribute_of_a_view_works_or_raises_a_named_error() -> None:
    _check_all(X, lambda x: x[::2], X)


def test_every_public_attribute_of_a_number_works_or_raises_a_named_error() -> None:
    _check_all(np.float64(1.0), lambda x: x.sum(), X)


@pytest.mark.parametrize("name", ["ctypes", "data", "byteswap", "tobytes", "resize", "setflags", "dumps"])
def test_unsupported_attributes_name_themselves_and_are_attribute_errors(name: str) -> None:
    def f(x: Any) -> Any:
        with pytest.raises(AttributeError, match=f"x.{name} of an active array"):
            _use(x, name)
        assert not hasattr(x, name)  # code probing with hasattr takes its other path
        return x.sum()

    gradient(f, X.copy())


def test_as_strided_raises_a_named_error() -> None:
    def f(x: Any) -> Any:
        return np.lib.stride_tricks.as_strided(x, (2, 2), (8, 8)).sum()

    with pytest.raises(ar.ActiveRulesError, match="__array_interface__.*as_strided"):
        gradient(f, X.copy())


def _flat_and_put(x: Any) -> Any:
    y = x * 2
    y.flat[[0, 4]] = x[0, 1] ** 2  # a scalar to two places
    y.flat[5:8] = [x[1, 1], 3.0]  # repeated cyclically, as NumPy does
    y.put([-1, 2], np.sin(x[2]))
    y.put(12, x[0, 0], mode="wrap")
    y.put([20], x[1, 0], mode="clip")
    s = sum(e * k for k, e in enumerate(y.flat))
    return s + y.flat[3] * y.flat[1:3].sum() + (y.flat[::2] ** 2).sum() + len(y.flat)


def _views_and_base(x: Any) -> Any:
    v = x.view()
    v[0, 0] = 5.0  # reaches x
    w = x[1:].view(np.ndarray)
    w[0, 1] = x[2, 2] * 3  # reaches x
    assert x[1:].base is x and x.base is None and v.base is x
    m = x.mT
    m[1, 0] = x[2, 0] ** 2  # a view: reaches x
    r = x.T.ravel(order="F")  # a view of x
    r[1] = x[2, 1] * 0.5
    k = x.T.ravel(order="K")  # a view too
    k[7] = np.cos(x[0, 1])
    return (x * np.arange(9.0).reshape(3, 3)).sum()


def _in_place_and_divmod(x: Any) -> Any:
    y = x * 3
    v = y[1:]
    v %= 1.0  # in place: y sees it
    v //= 0.5
    q, r = divmod(x, 0.7)
    z = y.copy()
    z.partition(1, axis=0)
    return (y * x).sum() + (r ** 2).sum() + (q * x).sum() + (z * np.arange(9.0).reshape(3, 3)).sum()


def _astype_compress(x: Any) -> Any:
    a = x.astype(np.float64, copy=False)  # x itself, as NumPy
    a[0, 0] = x[1, 1] * 2
    return (x ** 2).sum() + x.compress([True, False, True], axis=1).sum() ** 2 + (0.5 in x)


PROGRAMS = {"flat_and_put": _flat_and_put, "views_and_base": _views_and_base,
            "in_place_and_divmod": _in_place_and_divmod, "astype_compress": _astype_compress}


@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_ndarray_methods_programs(name: str) -> None:
    f = PROGRAMS[name]
    assert ar.vjp(f, X.copy())[0] == pytest.approx(f(X.copy()), rel=1e-12)
    assert_gradient_matches_fd(f, X + 0.013)


def test_flags_cannot_be_set_on_a_stand_in() -> None:
    def f(x: Any) -> Any:
        assert x.flags.writeable and x.flags["W"]
        with pytest.raises(ar.ActiveRulesError, match="flags.writeable"):
            x.flags.writeable = False
        return x.sum()

    gradient(f, X.copy())


def test_isinstance_of_ndarray_and_number_types() -> None:
    def f(x: Any) -> Any:
        assert isinstance(x, np.ndarray) and not isinstance(x, builtins.float)
        s = x.sum()
        assert isinstance(s, (float, np.float64)) and not isinstance(s, np.ndarray)
        assert type(x) is not np.ndarray  # type() still tells the stand-in
        return s

    gradient(f, X.copy())
