"""smoothops: example functions with activerules derivative rules (see ``smoothops.rules``)."""

import numpy as np

__all__ = ["scaled_tanh"]


def scaled_tanh(x: np.ndarray, scale: float) -> np.ndarray:
    """``scale * tanh(x)``: a soft clip of ``x`` to ``(-scale, scale)``."""
    return scale * np.tanh(x)
