"""np.array / np.asarray of lists and tuples holding tracked values record through
``operator.setitem``; untracked writes still raise."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from engine_helpers import assert_gradient_matches_fd

from activerules.engine import UntrackedWriteError, gradient, vjp

X = np.array([0.3, 1.1, 2.0])
_ORIGINAL_ARRAY = np.array


def _write_into_copy(x: Any) -> Any:
    y = np.array(x)  # a copy: the write below must not reach x
    y[0] = 5.0
    return (y * x).sum()


def _write_through_asarray(x: Any) -> Any:
    y = np.asarray(x)  # x itself: the write below reaches x
    y[0] = 5.0
    return (y * x).sum()


def _asarray_fortran_copies(x: Any) -> Any:
    M = x.reshape(1, 3)[:, ::-1]
    F = np.asarray(M, order="F")  # not F-contiguous: NumPy copies, the write below stays in F
    F[0, 0] = 5.0
    return (F * M).sum()


PROGRAMS = {
    "scalars_and_constants": lambda x: (np.array([x[0], 2 * x[1], 3.0]) ** 2).sum(),
    "nested_lists_and_tuples": lambda x: ((np.asarray([[x[0], 1.0], (x[2], x[1] * x[0])]) @ np.array([1.0, 2.0])) ** 2).sum(),
    "rows_of_arrays": lambda x: (np.array([x, 2 * x, np.ones(3)]) ** 3).sum(),
    "ndmin": lambda x: (np.array([x[0], x[1]], ndmin=3) ** 3).sum(),
    "tracked_scalar": lambda x: np.asarray(x[1] * 3) ** 2,
    "int_cast_has_no_derivative": lambda x: np.array([x[0], x[1]], dtype=int).sum() + x[2] ** 2,
    "array_copies": _write_into_copy,
    "asarray_aliases": _write_through_asarray,
    "asarray_with_order_copies": _asarray_fortran_copies,
}


@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_construction_from_sequences_matches_finite_differences(name: str) -> None:
    assert_gradient_matches_fd(PROGRAMS[name], X)


SEQUENCE_ARGUMENTS = {
    "stack_of_scalars": lambda x: (np.stack([x[0], x[1] * x[2]]) ** 2).sum(),
    "hstack_with_constants": lambda x: (np.hstack([x, 1.0, x[0], 2]) ** 2).sum(),
    "concatenate_with_a_list": lambda x: (np.concatenate([x, [1.0, 2]]) * np.arange(5.0)).sum() ** 2,
}


@pytest.mark.parametrize("name", sorted(SEQUENCE_ARGUMENTS))
def test_sequence_arguments_holding_numbers_and_constants(name: str) -> None:
    assert_gradient_matches_fd(SEQUENCE_ARGUMENTS[name], X)


BLOCKS = {
    # 2x2 blocks of a reshaped x, constants among them
    "matrix": lambda x: (np.block([[x[:2].reshape(2, 1), 2 * x[:2].reshape(2, 1)],
                                   [np.ones((1, 1)), x[2:] * x[:1]]]) * np.arange(1.0, 7.0).reshape(3, 2)).sum(),
    # one level: scalars, constants and arrays of different lengths
    "row": lambda x: (np.block([x[0], np.ones(2), x[1:] * 3.0]) ** 2).sum(),
    # blocks of fewer dimensions than the result get leading ones
    "promoted": lambda x: (np.block([[x], [x * x]]) ** 3).sum(),
}


@pytest.mark.parametrize("name", BLOCKS)
def test_np_block_is_built_from_recorded_calls(name: str) -> None:
    value, _ = vjp(BLOCKS[name], X.copy())
    np.testing.assert_allclose(value, BLOCKS[name](X.copy()))  # the value NumPy's np.block gives
    assert_gradient_matches_fd(BLOCKS[name], X)


@pytest.mark.parametrize("arrays, error", [
    (lambda x: [[x], x], "depths are mismatched"),
    (lambda x: [], "cannot be empty"),
    (lambda x: [(x, x)], "tuple"),
])
def test_np_block_refuses_what_numpy_refuses(arrays: Any, error: str) -> None:
    with pytest.raises((ValueError, TypeError)) as raised:
        np.block(arrays(X))  # NumPy's own refusal...
    with pytest.raises(type(raised.value), match=error):  # ...and the engine's, same type
        gradient(lambda x: np.block(arrays(x)).sum(), X.copy())


def _setitem_list(x: Any) -> Any:
    y = np.zeros((3, 3), like=x)
    y[0, :2] = [x[0] * x[2], x[1]]
    y[1:] = [x, 2 * x]
    y[0, 2:] = (x[0],)
    return (y ** 2).sum()


def _copyto_and_iadd_list(x: Any) -> Any:
    y = np.zeros_like(x)
    np.copyto(y, [x[0], x[1] ** 2, 1.0])
    y += [x[2], 1.0, x[0]]
    return (y ** 2).sum()


# Lists as NumPy reads them for an array parameter: one array (np.asarray), not a
# sequence of arrays; each of these gave a silently wrong gradient or a RuleError.
ARRAY_LIKE_ARGUMENTS = {
    "dot": lambda x: np.dot(x, [x[0], x[1], 1.0]) + (np.dot([x, 2 * x], x) ** 2).sum(),
    "solve": lambda x: np.linalg.solve(np.diag(x), [x[0], 1.0, x[2]]).sum(),
    "where": lambda x: np.where(x > 1, x, [x[1], 0.0, 0.0]).sum(),
    "setitem": _setitem_list,
    "copyto_and_iadd": _copyto_and_iadd_list,
    "select_choice_given_as_list": lambda x: np.select([x > 1, x <= 1], [x ** 2, [x[0], 1.0, 2.0]]).sum(),
    "concatenate_with_a_list_of_numbers": lambda x: np.concatenate([[x[0], x[1]], x]).sum() ** 2,
}


@pytest.mark.parametrize("name", sorted(ARRAY_LIKE_ARGUMENTS))
def test_lists_given_for_array_parameters_are_one_array(name: str) -> None:
    assert_gradient_matches_fd(ARRAY_LIKE_ARGUMENTS[name], X)


def test_a_list_a_numpy_function_converts_itself_gets_a_hint() -> None:
    # np.sum converts its list argument in C, past any Python-level interception
    with pytest.raises(UntrackedWriteError, match=r"np\.sum\(\[a, b\]\).*np\.array\(\[a, b\]\)"):
        gradient(lambda x: np.sum([x[0], x[1]]), X.copy())
    assert_gradient_matches_fd(lambda x: np.sum(np.array([x[0], x[1]])), X)


def test_np_array_is_numpy_s_own_outside_a_differentiation() -> None:
    gradient(lambda x: np.array([x[0], x[1]]).sum(), X.copy())
    assert np.array is _ORIGINAL_ARRAY
    with pytest.raises(ZeroDivisionError):
        gradient(lambda x: np.array([x[0], 1 / 0]).sum(), X.copy())
    assert np.array is _ORIGINAL_ARRAY


def test_writing_into_an_untracked_buffer_still_raises() -> None:
    def into_buffer(x: Any) -> Any:
        buf = np.array([0.0, 0.0])
        buf[0] = x[0]
        return buf.sum()

    with pytest.raises(UntrackedWriteError, match=r"np\.zeros_like\(x\)"):
        gradient(into_buffer, X.copy())
