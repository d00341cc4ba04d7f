"""smoothops: example functions with activerules derivative rules (see ``smoothops.rules``)."""

import numpy as np

import activerules as ar

__all__ = ["scaled_tanh"]


@ar.primitive  # ar.gradient calls the registered rules instead of tracing the body
def scaled_tanh(x: np.ndarray, scale: float) -> np.ndarray:
    """``scale * tanh(x)``: a soft clip of ``x`` to ``(-scale, scale)``."""
    return scale * np.tanh(x)
