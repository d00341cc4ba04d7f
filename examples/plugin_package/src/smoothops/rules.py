"""Derivative rules for smoothops, registered on import (the plugin entry point)."""

import numpy as np

import activerules as ar

from . import scaled_tanh

_SAMPLES = [ar.Sample(np.array([-1.5, -0.2, 0.4, 2.0]), 1.5),
            ar.Sample(np.array([[0.3, -0.7], [1.1, 0.05]]), 0.5)]


@ar.rrule(scaled_tanh, samples=_SAMPLES)
def _scaled_tanh_rrule(x, scale):
    """All-active rule: serves every activity combination through the lattice."""
    t = np.tanh(x)

    def pullback(ybar):
        return ybar * scale * (1 - t * t), float(np.sum(ybar * t))

    return scale * t, pullback


@ar.rule(scaled_tanh, ar.Duplicated, ar.Const)
def _scaled_tanh_dx(cfg, x, scale):
    """The common case, specialised: only ``x`` is differentiated, so the
    cotangent of ``scale`` is never formed and ``x``'s is accumulated in place."""
    t = np.tanh(x.val)

    def reverse(ybar):
        x.dval += ybar * scale.val * (1 - t * t)
        return None

    return scale.val * t, reverse
