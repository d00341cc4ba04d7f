"""Batch lanes (``dispatch/lanes.py``): a rule registered ``batched=True`` serves a batch
request once on stacked lanes, and the lattice prefers that to running it once per lane.
Oracle: the width-1 rule run lane by lane (itself checked against finite differences by
``check_rule``) and closed-form derivatives."""

from __future__ import annotations

import operator

import numpy as np
import pytest

import activerules as ar
from activerules.dispatch.lanes import lane_count, stacked_view


def _counting_registry(batched: bool):
    """A private registry with ``scale(x) = 3 x`` whose reverse counts its calls and records
    the lane count and the cotangent's shape it saw."""
    reg = ar.RuleRegistry()
    seen: list[tuple[int, tuple[int, ...]]] = []

    @ar.primitive
    def scale(x):
        return 3.0 * x

    @reg.rule(scale, ar.Annotation, batched=batched)
    def _scale(cfg, x):
        def reverse(g):
            seen.append((lane_count(), np.shape(g)))
            if not isinstance(x, ar.Const):
                x.dval += 3.0 * g
        return 3.0 * x.val, reverse

    return reg, scale, seen


@pytest.mark.parametrize("fn, acts, types", [
    (np.sin, (ar.BatchDuplicated,), (np.ndarray,)),
    (np.multiply, (ar.BatchDuplicated, ar.Const), (np.ndarray, float)),
    (np.add, (ar.BatchDuplicated, ar.BatchDuplicated), (np.ndarray, np.ndarray)),
    (np.sum, (ar.BatchDuplicated,), (np.ndarray,)),
    (np.matmul, (ar.Const, ar.BatchDuplicated), (np.ndarray, np.ndarray)),
    (np.linalg.solve, (ar.BatchDuplicated, ar.BatchDuplicated), (np.ndarray, np.ndarray)),
    (operator.getitem, (ar.BatchDuplicated, ar.Const), (np.ndarray, tuple)),
    (operator.setitem, (ar.BatchDuplicated, ar.Const, ar.BatchDuplicated), (np.ndarray, tuple, np.ndarray)),
    (np.copyto, (ar.BatchDuplicated, ar.BatchDuplicated), (np.ndarray, np.ndarray)),
])
def test_the_lattice_picks_the_stacked_form_of_the_built_in_rules(fn, acts, types):
    res = ar.registry.resolve(fn, acts, types)
    assert res.stacked
    assert "lanes stacked on a leading axis, one reverse" in str(res)
    assert "reverse once per lane" not in str(res)


def test_a_rule_not_declared_batched_still_runs_once_per_lane():
    res = ar.registry.resolve(np.dot, (ar.BatchDuplicated, ar.Const), (np.ndarray, np.ndarray))
    assert not res.stacked and res.lanes
    assert "reverse once per lane" in str(res)


def test_stacked_costs_less_than_lanes_and_more_than_a_rule_for_the_batch_request():
    reg, scale, _ = _counting_registry(batched=True)
    res = reg.resolve(scale, (ar.BatchDuplicated,))
    assert res.stacked and res.cost == 1 and res.cost < 2  # lanes: LANES_COST = 2

    @reg.rule(scale, ar.BatchDuplicated)
    def _scale_batch(cfg, x):  # a rule written for the batch request itself wins
        def reverse(gs):
            for d, g in zip(x.dvals, gs):
                d += 3.0 * g
        return 3.0 * x.val, reverse

    exact = reg.resolve(scale, (ar.BatchDuplicated,))
    assert exact.rule is _scale_batch and exact.cost == 0 and not exact.stacked


@pytest.mark.parametrize("batched, calls", [(True, 1), (False, 8)])
def test_a_width_8_sweep_runs_a_batched_reverse_once(batched, calls):
    reg, scale, seen = _counting_registry(batched)
    x = np.array(0.5)  # a 0-d array: scale(x) is the scalar result (the registry has no other rule)
    lanes = tuple(np.zeros(()) for _ in range(8))
    seeds = tuple(float(k + 1) for k in range(8))
    ar.autodiff(scale, ar.BatchDuplicated(x, lanes), returns=ar.Active(seeds), registry=reg)
    assert len(seen) == calls
    if batched:
        assert seen == [(8, (8,))]
    for s, lane in zip(seeds, lanes):
        np.testing.assert_allclose(lane, 3.0 * s)


def test_stacked_view_accepts_rows_in_order_only():
    z = np.zeros((4, 2, 3))
    v = stacked_view(tuple(z))
    assert v is not None and np.shares_memory(v, z) and v.shape == (4, 2, 3)
    v += np.arange(4.0)[:, None, None]
    np.testing.assert_array_equal(z[:, 0, 0], np.arange(4.0))
    assert stacked_view((z[1], z[0], z[2], z[3])) is None          # out of order
    assert stacked_view((z[0], z[0], z[1], z[2])) is None          # a lane twice
    assert stacked_view(tuple(np.zeros((2, 3)) for _ in range(4))) is None  # separate buffers
    cols = tuple(z[:, 0, 1:])                                      # views of each row: still a stack
    w = stacked_view(cols)
    assert w is not None and w.shape == (4, 2)
    w[...] = -1.0
    assert (z[:, 0, 1:] == -1.0).all() and (z[:, 1] == np.arange(4.0)[:, None]).all()


def test_a_stacked_reverse_writes_back_into_separate_lanes_and_returns_active_lanes():
    reg = ar.RuleRegistry()

    def axpy(a, x):
        return a * x

    @reg.rule(axpy, ar.Annotation, ar.Annotation, batched=True)
    def _axpy(cfg, a, x):
        av, xv = a.val, x.val

        def reverse(g):
            if not isinstance(x, ar.Const):
                x.dval += av * g
            da = None if not isinstance(a, ar.Active) else (g * xv).sum(axis=-1)  # one per lane
            return (da, None)
        return av * xv, reverse

    x = np.array([1.0, 2.0, 3.0])
    lanes = (np.ones(3), np.zeros(3), np.full(3, 2.0))
    res = reg.resolve(axpy, (ar.Active, ar.BatchDuplicated), (float, np.ndarray))
    assert res.stacked
    gs = (np.array([1.0, 0.0, 0.0]), np.array([0.0, 1.0, 1.0]), np.array([1.0, 1.0, 1.0]))
    y, reverse = res(ar.RevConfig((ar.Active, ar.BatchDuplicated), width=3),
                     ar.Active(2.0), ar.BatchDuplicated(x, lanes))
    cots = reverse(gs)
    for lane, start, g in zip(lanes, (1.0, 0.0, 2.0), gs):
        np.testing.assert_allclose(lane, start + 2.0 * g)
    np.testing.assert_allclose(cots[0], [g @ x for g in gs])
    assert cots[1] is None and lane_count() == 0


def test_a_stacked_reverse_computes_in_its_cotangent_only_when_it_owns_it():
    """The stacked cotangent is given to the rule (``lanes_donated``) when it is a copy or a
    view of lanes the engine gave away (``released_lanes``), never otherwise."""
    from activerules.dispatch.lanes import lanes_donated, released_lanes, stacked

    seen = []

    def double(cfg, x):
        def reverse(g):
            seen.append(lanes_donated(g))
            if lanes_donated(g):
                g *= 2.0          # computed in g's buffer
                x.dval += g
            else:
                x.dval += 2.0 * g
        return 2.0 * x.val, reverse

    rule = stacked(double, (ar.BatchDuplicated,))
    cfg = ar.RevConfig((ar.BatchDuplicated,), width=3)
    for release, separate in [(False, False), (True, False), (False, True)]:
        z = np.arange(6.0).reshape(3, 2)
        drets = tuple(r.copy() for r in z) if separate else tuple(z)
        x = ar.BatchDuplicated(np.ones(2), tuple(np.zeros(2) for _ in range(3)))
        _, reverse = rule(cfg, x)
        if release:
            with released_lanes(drets):
                reverse(drets)
        else:
            reverse(drets)
        np.testing.assert_array_equal(np.stack(x.dvals), 2.0 * np.arange(6.0).reshape(3, 2))
        if not release:  # a caller's cotangents are never written
            np.testing.assert_array_equal(np.stack(drets), np.arange(6.0).reshape(3, 2))
    assert seen == [False, True, True]
