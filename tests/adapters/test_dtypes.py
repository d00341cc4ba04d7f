"""One dtype policy for ar.gradient and the three engine adapters (see
``activerules.adapters._bridge.half_of``): a rule's cotangent of a wider type of the
same kind is cast to its argument's dtype; half-precision arguments reach the rule as
float32 and come back in their own dtype. Oracle: jax.numpy in float64."""

import autograd
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch

import activerules as ar
from activerules.adapters.autograd import to_autograd
from activerules.adapters.jax import to_jax
from activerules.adapters.torch import to_torch
from activerules.engine import primitive

SEEN: list[np.dtype] = []       # the dtypes the rule received


@primitive
def cube(x):
    return x ** 3


@ar.rrule(cube)
def _cube_rrule(x):
    SEEN.append(np.asarray(x).dtype)
    wide = np.asarray(x, np.float64)
    return x ** 3, lambda g: (3 * wide ** 2 * np.asarray(g, np.float64),)    # float64 cotangent


@pytest.fixture(autouse=True, scope="module")
def x64():
    old = jax.config.jax_enable_x64
    jax.config.update("jax_enable_x64", True)
    yield
    jax.config.update("jax_enable_x64", old)


X = np.array([0.5, -1.25, 2.0])


def oracle(x):
    return np.asarray(jax.grad(lambda x: jnp.sum(jnp.sin(x ** 3)))(np.asarray(x, np.float64)))


def grad_with(engine, x):
    """(gradient, its dtype name) of sum(sin(cube(x))) through ``engine``."""
    if engine == "gradient":
        g = ar.gradient(lambda x: np.sum(np.sin(cube(x))), x)
    elif engine == "jax":
        g = jax.grad(lambda x: jnp.sum(jnp.sin(to_jax(cube)(x))))(x)
    elif engine == "autograd":
        g = autograd.grad(lambda x: autograd.numpy.sum(autograd.numpy.sin(to_autograd(cube)(x))))(x)
    else:
        t = x.clone().requires_grad_(True)
        torch.sin(to_torch(cube)(t)).sum().backward()
        g = t.grad
    name = str(g.dtype).replace("torch.", "")
    return (g.float().numpy() if isinstance(g, torch.Tensor) else np.asarray(g, np.float64)), name


ENGINES = ["gradient", "jax", "torch", "autograd"]


@pytest.mark.parametrize("engine", ENGINES)
def test_a_float64_cotangent_for_a_float32_argument_is_cast(engine):
    # failed before for jax, torch, autograd: RuleError "cotangent has dtype float64, the argument has
    # dtype float32" where ar.gradient accepted it
    x = torch.tensor(X, dtype=torch.float32) if engine == "torch" else X.astype(np.float32)
    g, dtype = grad_with(engine, x)
    assert dtype == "float32"
    np.testing.assert_allclose(g, oracle(X.astype(np.float32)), rtol=1e-5)


HALF = [("jax", "float16"), ("jax", "bfloat16"), ("torch", "float16"), ("torch", "bfloat16"),
        ("autograd", "float16")]


@pytest.mark.parametrize("engine,half", HALF)
def test_half_precision_is_computed_in_float32_and_cast_back(engine, half):
    # failed before: torch bfloat16 "Got unsupported ScalarType BFloat16"; float16 rules ran in float16
    if engine == "torch":
        x = torch.tensor(X, dtype=getattr(torch, half))
        y = to_torch(cube)(x)
    else:
        x = jnp.asarray(X, getattr(jnp, half)) if engine == "jax" else X.astype(half)
        y = (to_jax if engine == "jax" else to_autograd)(cube)(x)
    assert str(y.dtype).replace("torch.", "") == half
    SEEN.clear()
    g, dtype = grad_with(engine, x)
    assert dtype == half and SEEN == [np.dtype(np.float32)]
    exact = np.asarray(x.float() if engine == "torch" else np.asarray(x, np.float32), np.float64)
    np.testing.assert_allclose(g, oracle(exact), rtol=2e-2)
