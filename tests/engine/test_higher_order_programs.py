"""Random programs (the engine fuzzer's, tests/engine/fuzz_programs.py: views, in-place
updates, fancy indexing, ufunc.at, sorting...) differentiated twice: a Hessian-vector
product ``gradient(lambda x: gradient(L, x) @ v, x)`` against central differences of
``ar.gradient`` along ``v``. Each program gives the right numbers or a named error."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from fuzz_programs import compile_fn, copy_args, generate

import activerules as ar


def _hvp_case(seed: int) -> tuple[Any, np.ndarray, np.ndarray] | None:
    prog = generate(seed)
    arrays = [i for i in prog.diff if isinstance(prog.values[i], np.ndarray)]
    if not arrays:
        return None
    k = arrays[0]
    f = compile_fn(prog.np_source(), {"np": np})
    rng = np.random.default_rng(seed)
    outs = f(*copy_args(prog.values))
    weights = [rng.uniform(-1, 1, np.shape(o)) for o in outs]

    def loss(x: Any) -> Any:
        args = copy_args(prog.values)
        args[k] = x
        return sum(((o * w).sum() for o, w in zip(f(*args), weights)), 0.0) ** 2

    return loss, np.array(prog.values[k], dtype=float), rng.uniform(-1, 1, np.shape(prog.values[k]))


@pytest.mark.parametrize("seed", range(100))
def test_hessian_vector_products_of_random_programs(seed: int) -> None:
    case = _hvp_case(seed)
    if case is None:
        return
    loss, x, v = case
    try:
        hvp = ar.gradient(lambda z: (ar.gradient(loss, z) * v).sum(), x.copy())
    except ar.ActiveRulesError as e:  # a named refusal is within the contract:
        try:  # one first order gives too (a write into a plain array made inside loss), or
            ar.gradient(loss, x.copy())
        except ar.ActiveRulesError:
            return
        assert isinstance(e, ar.RuleError) and "second time" in str(e), e  # a rule named as once differentiable
        return
    eps = 1e-6
    want = (ar.gradient(loss, x + eps * v) - ar.gradient(loss, x - eps * v)) / (2 * eps)
    np.testing.assert_allclose(hvp, want, rtol=1e-4, atol=1e-6)
