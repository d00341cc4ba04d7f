"""A private registry for the coverage tests: one function per classification."""

from __future__ import annotations

import numpy as np

import activerules as ar

__all__ = ["make_registry", "scale", "tied", "only_dup", "annotated", "parametrised", "mystery",
           "shape_of", "broken", "M"]

M = __name__

X = np.array([0.3, -1.2, 0.8])
Y = np.array([1.5, 0.4, -0.6])


def scale(x: np.ndarray, a: float) -> np.ndarray:
    return a * x


def tied(x, y):
    return x + y


def only_dup(x, y):
    return x * y


def annotated(x: np.ndarray, n: int) -> float:
    return float(np.sum(x)) * n


def parametrised(x, a):
    return a * x


def mystery(*args):
    return args[0]


def shape_of(x):
    return x.shape


def broken(x, a):
    return a * x


def make_registry() -> ar.RuleRegistry:
    """A fresh registry with rules for every function of this module."""
    reg = ar.RuleRegistry()

    @reg.rrule(scale, samples=[ar.Sample(X, 2.0)])
    def _scale_rrule(x, a):
        return a * x, lambda g: (a * g, float(np.sum(g * x)))

    @reg.rule(scale, ar.Duplicated, ar.Const)
    def _scale_dx(cfg, x, a):
        def reverse(g):
            x.dval += a.val * g
        return a.val * x.val, reverse

    def _tied_rule(cfg, x, y):
        def reverse(g):
            for v in (x, y):
                if not isinstance(v, ar.Const):
                    v.dval += g
        return x.val + y.val, reverse

    reg.rule(tied, ar.Duplicated, ar.Annotation, samples=[ar.Sample(X, Y)])(_tied_rule)
    reg.rule(tied, ar.Annotation, ar.Duplicated)(_tied_rule)

    @reg.rule(only_dup, ar.Duplicated, ar.Const, samples=[ar.Sample(X, Y)])
    def _only_dup(cfg, x, y):
        def reverse(g):
            x.dval += g * y.val
        return x.val * y.val, reverse

    @reg.rrule(annotated)
    def _annotated_rrule(x, n):
        return float(np.sum(x)) * n, lambda g: (np.full_like(x, g * n), None)

    reg.rule(parametrised, ar.Duplicated[np.ndarray], ar.Const[float])(_scale_dx)

    @reg.rrule(mystery)
    def _mystery_rrule(*args):
        return args[0], lambda g: (g,) + (None,) * (len(args) - 1)

    reg.inactive(shape_of)

    reg.rrule(broken, samples=[ar.Sample(X, 2.0)])(_scale_rrule)

    @reg.rule(broken, ar.Duplicated, ar.Const)
    def _broken_dx(cfg, x, a):
        def reverse(g):
            x.dval[...] = a.val * g  # assigns instead of accumulating: check_rule catches it
        return a.val * x.val, reverse

    return reg
