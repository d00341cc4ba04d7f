"""Minimal programs the program fuzzer (``fuzz_programs``, docs/fuzzing.md) found failing,
shrunk by its shrinker and checked against central finite differences and the contract on
the caller's arrays by ``check_request``; each failed on the engine it was found on.
The two ``ufunc.at`` programs pinned the hole NumPy's ``ufunc.at`` left (it ignores the
read-only flag) until the caller's arrays became inert stand-ins (issue 11).
A program's unused names are kept: the calls that define them are recorded on the tape."""

# ruff: noqa: F841

import numpy as np
from fuzz_programs import check_request


def test_fuzz_gradient_fancy_write_into_undifferentiated_array() -> None:
    def f(x0, x1):
        x1[[0, 0]] = -1.15
        return (x0, )

    check_request(f, [np.array([[-0.6]]), np.array([[-0.2]])], diff=(0,), request='gradient', seed=2)


def test_fuzz_vjp_setitem_into_undifferentiated_array() -> None:
    def f(x0, x1):
        x0[...] = 0.18
        return (x0, )

    check_request(f, [np.array([[-1.4]]), np.array([[-0.6]])], diff=(1,), request='vjp', seed=56)


def test_fuzz_vjp_sort_of_a_view_of_undifferentiated_array() -> None:
    def f(x0, x1):
        v3 = x0[:, 1:3]
        v3.sort(axis=1)
        return (x0, )

    check_request(f, [np.array([[1.3, -0.9, -1.0]]), np.array([[-0.2]])], diff=(1,), request='vjp', seed=12)


def test_fuzz_gradient_subtract_at_into_undifferentiated_array() -> None:
    def f(x1, x2, s0):
        np.subtract.at(x2, [3, 3], s0)
        return (s0, )

    check_request(f, [np.array([[1.4]]), np.array([-1.1, -1.3, 0.3, -0.5]), -0.7], diff=(0,), request='gradient', seed=130)


def test_fuzz_vjp_out_into_undifferentiated_array() -> None:
    def f(x0, x2):
        np.sin(x0, out=x0)
        return (x0, )

    check_request(f, [np.array([[0.7]]), np.array([[-0.2]])], diff=(1,), request='vjp', seed=161)


def test_fuzz_gradient_inplace_sort_of_undifferentiated_array() -> None:
    def f(x0, x2, s0):
        x2.sort(axis=1)
        return (x0, )

    check_request(f, [np.array([[-1.4]]), np.array([[-0.4, -0.7]]), -0.5], diff=(2,), request='gradient', seed=80)


def test_fuzz_autodiff_ufunc_at_then_write_into_const_argument() -> None:
    def f(x0, s0):
        v0 = x0.mean()
        np.subtract.at(x0, [0, 0, 0], v0)
        x0 += 0.37
        return (s0, )

    check_request(f, [np.array([-0.687, 0.263, 0.217, 1.488]), -0.6], diff=(1,), request='autodiff', seed=310360)


def test_fuzz_autodiff_restores_caller_arrays_after_error() -> None:
    def f(x0, s0):
        x0[[3, 3]] = -0.93
        x0 *= s0
        return (s0, )

    check_request(f, [np.array([-0.7, -0.3, 1.4, -1.0]), -1.1], diff=(1,), request='autodiff', seed=44)


def test_fuzz_batch_restores_caller_arrays_after_error() -> None:
    def f(x0, x2, s0):
        x0[[3, 3]] = -0.93
        x0 *= s0
        return (s0, )

    check_request(f, [np.array([-0.7, -0.3, 1.4, -1.0]), np.array([[[0.1]]]), -1.1], diff=(1, 2), request='batch', seed=44)


def test_fuzz_vjp_output_and_its_slice() -> None:
    def f(x0):
        v0 = x0 * x0
        v2 = v0[1:4]
        return (v2, v0, )

    check_request(f, [np.array([0.1, -0.4])], diff=(0,), request='vjp', seed=65)


def test_fuzz_vjp_input_and_its_strided_view() -> None:
    def f(x0):
        v2 = x0[::2]
        return (v2, x0, )

    check_request(f, [np.array([[-0.2]])], diff=(0,), request='vjp', seed=225)


def test_fuzz_vjp_input_and_a_split_piece() -> None:
    def f(x0):
        v3, v4 = np.split(x0, [1], axis=0)
        return (v4, x0, )

    check_request(f, [np.array([[[0.6]], [[0.6]]])], diff=(0,), request='vjp', seed=302)


def test_fuzz_autodiff_multiply_at_values_diagonal_of_target() -> None:
    def f(x0):
        v0 = np.diagonal(x0)
        np.multiply.at(x0, [0, 2], v0)
        return (x0, )

    check_request(f, [np.array([[0.5], [-0.2], [-1.2]])], diff=(0,), request='autodiff', seed=37)


def test_fuzz_gradient_multiply_at_values_split_piece_of_target() -> None:
    def f(x1):
        v3, v4 = np.split(x1, 2, axis=0)
        np.multiply.at(x1, [0, 1], v3)
        return (x1, )

    check_request(f, [np.array([[1.018], [-1.353]])], diff=(0,), request='gradient', seed=400)


def test_fuzz_vjp_multiply_at_target_is_values() -> None:
    def f(x1, x2):
        v0, v1 = np.split(x2, [1], axis=0)
        v2 = x1 / (1.5 + np.cos(v1))
        np.multiply.at(v2, [2, 1, 1], v2)
        return (v2, )

    check_request(f, [np.array([[0.7, 1.4, 0.4, -0.1], [-0.3, -0.7, 0.2, -0.1], [0.7, -0.5, -1.4, 0.1]]), np.array([[1.4, -0.2, 0.1, 1.2], [-0.6, 0.6, -0.5, -0.3], [1.0, -0.7, 0.2, -0.4], [1.0, 0.7, 1.0, -0.2]])], diff=(1,), request='vjp', seed=143)


def test_fuzz_gradient_cumprod_after_zeroing() -> None:
    def f(x0):
        x0 -= x0
        v1 = np.cumprod(x0, axis=0)
        return (v1, )

    check_request(f, [np.array([-0.5])], diff=(0,), request='gradient', seed=101457)


def test_fuzz_gradient_fancy_iadd_into_constant_kept_by_matmul() -> None:
    def f(x0, x1):
        v5 = 0.2 - x1
        v9 = x0 @ v5
        v5[[1, 1, 0]] += x1
        return (x0, )

    check_request(f, [np.array([[0.8, -0.8, -0.9]]), np.array([[0.6], [-1.3], [-0.4]])], diff=(0,), request='gradient', seed=100884)


def test_fuzz_vjp_multiply_at_into_constant_kept_by_a_rule() -> None:
    def f(x0, x1, s0):
        v0 = np.sum(x1, axis=1)
        v1 = x0.T * x1.T
        v4 = v0 / (1.5 + np.cos(x1.T))
        v1 *= v4
        np.multiply.at(v4, [0, 2], v0)
        return (s0, )

    check_request(f, [np.array([[0.8, 0.3, -0.5], [1.2, -0.0, -0.5], [0.3, 0.4, -0.5], [0.5, 1.0, 0.3]]), np.array([[-1.1, 0.9, 1.2], [-0.3, 0.1, -1.1], [-0.7, -1.0, -1.2], [0.5, -1.3, 1.2]]), -0.4], diff=(0,), request='vjp', seed=101437)


def test_fuzz_autodiff_iop_into_constant_kept_by_matmul() -> None:
    def f(x0, x1):
        v0 = np.swapaxes(x1, 0, 1)
        v2, v3 = np.split(v0, 2, axis=0)
        v4 = np.cos(v2.T)
        v5 = x0 @ v4
        v4 *= v3.T
        return (x0, )

    check_request(f, [np.array([[0.8, 0.8, 1.4]]), np.array([[-0.8, 0.8, 1.0, -1.0], [-1.3, 1.0, 1.4, 1.1], [-1.3, 0.0, -0.2, 0.5]])], diff=(0,), request='autodiff', seed=101680)


def test_fuzz_batch_out_into_constant_kept_by_setitem() -> None:
    def f(x0, x1):
        v0 = np.cumsum(x0.T, axis=0)
        x1[1:4] = v0.T
        np.cos(v0, out=v0)
        return (x0, )

    check_request(f, [np.array([[0.6, 0.8, 0.1, 0.6], [-0.3, 1.4, -0.6, 0.0], [-0.7, 1.4, -0.7, 1.4]]), np.array([[1.3, 1.2, 1.0, 0.6], [-0.7, -0.3, 0.4, -0.8], [-1.0, 0.8, -0.6, 0.8], [1.3, 0.4, -0.7, 0.8]])], diff=(1,), request='batch', seed=101232)


def test_fuzz_batch_inplace_sort_of_const_argument() -> None:
    def f(x0, x1, s0):
        np.subtract.at(x0, [1, 3, 1], x1.T)
        x1.sort(axis=1)
        return (s0, )

    check_request(f, [np.array([[-0.3, -1.3, 1.1, 1.2], [0.3, 1.0, 1.0, 0.1], [-0.7, 1.0, 1.2, -0.9], [1.2, -1.4, 0.4, 0.0]]), np.array([[-1.3, 0.3, 0.5], [0.3, -1.1, -1.2], [0.8, -0.2, -0.6], [1.2, 1.4, 1.2]]), 0.9], diff=(0,), request='batch', seed=401)


def test_fuzz_gradient_reshape_of_transposed_product() -> None:
    def f(x0):
        v1 = x0.T * x0.T
        v2 = np.swapaxes(v1, 0, 1)
        v4 = v2.reshape(6,)
        return (v4, )

    check_request(f, [np.array([[-0.7, 0.5, 0.4], [-1.1, 0.8, -1.3]])], diff=(0,), request='gradient', seed=2373)


def test_fuzz_gradient_ravel_of_split_piece_of_squared_transpose() -> None:
    def f(x0):
        v0 = np.square(x0.T)
        v1, v2 = np.split(v0, [1], axis=1)
        v4 = v1.ravel()
        return (v4, )

    check_request(f, [np.array([[-0.3, -0.6], [-0.1, 0.8]])], diff=(0,), request='gradient', seed=100850)


def test_fuzz_vjp_reshape_of_swapped_cumsum_of_transpose() -> None:
    def f(x1):
        v0 = np.cumsum(x1.T, axis=0)
        v1 = np.swapaxes(v0, 0, 1)
        v7 = v1.reshape(2, 6)
        return (v7, )

    check_request(f, [np.array([[0.089, 0.376, -0.301, 0.432], [-0.188, 0.818, 0.234, -0.561], [1.753, 1.148, 1.552, -0.524]])], diff=(0,), request='vjp', seed=101089)


def test_fuzz_autodiff_multiply_at_after_zeroing() -> None:
    def f(x0):
        x0 -= x0
        v0 = np.prod(x0, axis=0)
        np.multiply.at(x0, [0, 0, 2], v0)
        return (x0, )

    check_request(f, [np.array([[-0.9], [0.3], [-1.3]])], diff=(0,), request='autodiff', seed=102963)


def test_fuzz_vjp_inplace_sort_of_view_of_constant_read_by_multiply() -> None:
    def f(x0, x1):
        v0 = x0[:, 1:4]
        v1 = x0 * x1
        v0.sort(axis=1)
        return (v1, )

    check_request(f, [np.array([[-1.1, 1.1, -0.9, -1.4], [-0.1, 0.6, 0.2, -1.3], [-0.6, -0.1, 0.5, 1.1]]), np.array([[1.1, -0.7, -0.7, -0.2], [1.2, -0.6, 0.3, 0.1], [-0.4, 0.6, -0.5, 0.7]])], diff=(1,), request='vjp', seed=715)


def test_fuzz_gradient_subtract_at_into_constant_read_by_iop() -> None:
    def f(x0, x1):
        v0 = x1[[3, 0, 1]]
        v1 = np.sqrt(1.0 + x1 * x1)
        v2 = v1 - x1
        x0 *= v2
        np.subtract.at(v2, [2, 3, 3], v0)
        return (x0, )

    check_request(f, [np.array([[1.288, -0.304, 1.065, -0.261]]), np.array([1.4, 0.6, 1.2, -0.1])], diff=(0,), request='gradient', seed=217692)


def test_fuzz_gradient_write_through_transpose_of_f_ordered_constant_read_by_iop() -> None:
    def f(x0, x1, x2):
        v0 = np.where(x0.T > 0, x2, x2)
        v1 = np.square(v0.T)
        v2 = v1.T
        x1 *= v2.T
        v2 -= x0.T
        return (x1, )

    check_request(f, [np.array([[-1.455, -1.045, -1.109], [-0.635, -0.843, 0.3], [0.144, 1.272, 0.928], [0.422, -0.05, 0.973]]), np.array([[-1.4, -0.1, -1.0], [-1.5, -0.7, -0.4], [1.2, -0.2, 0.6], [-0.9, 1.4, -0.5]]), np.array([1.059, -1.442, 1.346, 1.222])], diff=(1,), request='gradient', seed=219862)


def test_fuzz_autodiff_write_through_ravel_of_constant_read_by_multiply() -> None:
    def f(x0, x1):
        v0 = x0.ravel()
        v1 = 1.18 + v0
        np.multiply(x0, x1, out=x1)
        v0[...] = v1
        return (x0, )

    check_request(f, [np.array([[1.436, -0.239, -1.439, -1.062], [1.257, -0.722, 1.423, -0.18], [-0.511, -0.871, -0.88, -1.312], [0.261, 0.741, -0.835, 1.317]]), np.array([[0.423, -1.296, -0.656, 0.087], [0.276, 1.406, -0.095, 0.693], [0.283, -0.094, 0.923, -0.753], [-1.283, 1.309, -0.051, -0.569]])], diff=(1,), request='autodiff', seed=1950)


def test_fuzz_autodiff_promotes_const_argument_multiplied_by_active_scalar() -> None:
    # test_fuzz_autodiff_restores_caller_arrays_after_error without its first write
    def f(x0, s0):
        x0 *= s0
        return (s0, )

    check_request(f, [np.array([0.6, 1.1, -0.8, 0.3]), -0.7], diff=(1,), request='autodiff', seed=44,
                  named_error_ok=False)


def test_fuzz_gradient_multiply_at_with_a_zero_value() -> None:
    # test_fuzz_autodiff_multiply_at_after_zeroing with a derivative that is not zero
    def f(x0, x1):
        v0 = x0 * 1.0
        np.multiply.at(v0, [0, 0], x1)
        return (v0, )

    check_request(f, [np.array([0.5, 1.0]), np.array([0.0, 3.0])], diff=(0, 1), request='gradient', seed=0)


def test_fuzz_batch_caller_array_updated_with_a_view_of_itself() -> None:
    # seed 8 (batch rules, issue 12): the caller's lanes, stacked into a copy for the
    # subtraction's one reverse, were written back over what the view x1[::-1] added
    def f(x1):
        x1 -= x1[::-1]
        return (x1 * 1.0, )

    check_request(f, [np.array([[0.9, 0.2], [0.3, -1.0]])], diff=(0,), request='batch', seed=8)
