import sys
from pathlib import Path
from typing import Iterator

import pytest

sys.path.insert(0, str(Path(__file__).parent))


@pytest.fixture
def x64() -> Iterator[None]:
    """JAX in float64 for one test (``pytestmark = pytest.mark.usefixtures("x64")``), the
    oracles' precision, restored afterwards so other modules see JAX's default."""
    import jax  # here, not at the top: most engine tests need no JAX

    old = jax.config.jax_enable_x64
    jax.config.update("jax_enable_x64", True)
    yield
    jax.config.update("jax_enable_x64", old)
