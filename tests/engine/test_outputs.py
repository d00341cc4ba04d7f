"""Every output of a recorded call is tracked (named tuples, lists) or refused:
none escapes the tape silently."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from engine_helpers import assert_gradient_matches_fd, fd_grad

import activerules as ar
from activerules.engine import gradient, vjp

X = np.array([0.3, 1.1, 2.0])


def _spd(x: Any) -> Any:
    return np.outer(x, x) + np.diag([1.0, 2.0, 3.0])


NAMED_TUPLE_PROGRAMS = {
    "slogdet": lambda x: np.linalg.slogdet(_spd(x))[1],
    "slogdet_field": lambda x: np.linalg.slogdet(_spd(x)).logabsdet * 2.0,
    "eigh_values": lambda x: (np.linalg.eigh(_spd(x)).eigenvalues ** 2).sum(),
    "eigh_vectors": lambda x: (np.linalg.eigh(_spd(x))[1][:, 0] ** 4).sum(),
    "svd": lambda x: np.linalg.svd(_spd(x))[1].sum() + (np.linalg.svd(_spd(x)).U ** 4).sum(),
    "qr": lambda x: np.linalg.qr(_spd(x))[1].sum() + (np.linalg.qr(_spd(x)).Q ** 3).sum(),
    "split_list": lambda x: (np.split(np.concatenate([x, x]), 2)[1] ** 3).sum(),
}


@pytest.mark.parametrize("name", sorted(NAMED_TUPLE_PROGRAMS))
def test_named_tuple_and_list_outputs_are_tracked(name: str) -> None:
    assert_gradient_matches_fd(NAMED_TUPLE_PROGRAMS[name], X)


def test_vjp_of_a_named_tuple_result_keeps_its_type_and_seeds_each_field() -> None:
    y, pullback = vjp(lambda x: np.linalg.slogdet(_spd(x)), X)
    assert type(y) is type(np.linalg.slogdet(_spd(X)))
    assert not any(isinstance(v, (ar.engine.Tracked, ar.engine.TrackedScalar)) for v in y)
    (g,) = pullback((None, 1.0))
    np.testing.assert_allclose(g, fd_grad(lambda x: np.linalg.slogdet(_spd(x))[1], X), rtol=1e-6)


def test_an_output_the_engine_cannot_track_is_refused() -> None:
    @ar.primitive
    def as_dict(x: Any) -> Any:
        return {"y": 2 * x}

    @ar.rrule(as_dict)
    def _as_dict(x: Any) -> Any:
        return as_dict(x), lambda g: (2 * g["y"],)

    with pytest.raises(ar.ActiveRulesError, match="dict the engine cannot track"):
        gradient(lambda x: as_dict(x)["y"].sum(), X)


def _sin_where(x: Any) -> Any:
    y = x * 2.0
    np.sin(x, out=y, where=x > 1.0)  # y keeps 2 * x where x <= 1
    return (y * np.arange(1.0, 4.0)).sum()


def _log_where(x: Any) -> Any:
    y = np.zeros_like(x)
    np.log(x - 1.0, out=y, where=x > 1.0)
    return (y ** 2).sum() + (x ** 2).sum()


def _reduce_where(x: Any) -> Any:
    y = x.copy()  # a reduction's where= masks its input: out is written whole
    np.add.reduce(np.outer(x, x), axis=0, out=y, where=np.array([True, False, True]))
    return (y ** 2).sum()


@pytest.mark.filterwarnings("ignore:'where' used without 'out':UserWarning")
@pytest.mark.parametrize("f", [_sin_where, _log_where, _reduce_where], ids=lambda f: f.__name__)
def test_ufunc_out_with_where_keeps_the_entries_it_does_not_select(f: Any) -> None:
    assert_gradient_matches_fd(f, X)
