"""Annotations: construction, validation messages, plum types."""

import numpy as np
import plum
import pytest

import activerules as ar
from activerules.activity import annotate


def test_states_hold_values_and_shadows():
    x, dx = np.ones(3), np.zeros(3)
    assert ar.Const(x).val is x
    assert ar.Active(2.0).val == 2.0
    d = ar.Duplicated(x, dx)
    assert d.val is x and d.dval is dx
    b = ar.BatchDuplicated(x, (np.zeros(3), np.zeros(3)))
    assert b.width == 2


def test_subclassing_and_parametric_types():
    x = np.ones(2)
    assert isinstance(ar.DuplicatedNoNeed(x, np.zeros(2)), ar.Duplicated)
    assert isinstance(ar.BatchDuplicatedNoNeed(x, (np.zeros(2),)), ar.BatchDuplicated)
    assert type(ar.Duplicated(x, np.zeros(2))) is ar.Duplicated[np.ndarray]
    assert issubclass(ar.DuplicatedNoNeed[np.ndarray], ar.Duplicated[np.ndarray])
    assert plum.is_faithful(ar.Duplicated[np.ndarray]) and plum.is_faithful(ar.Active[float])


def test_annotations_dispatch_in_plum_with_its_cache_on():
    f = plum.Function(lambda *a: None)
    f.register(lambda x: "dup", signature=plum.Signature(ar.Duplicated[np.ndarray]))
    f.register(lambda x: "active", signature=plum.Signature(ar.Active[float]))
    assert f(ar.DuplicatedNoNeed(np.ones(1), np.zeros(1))) == "dup"
    assert f(ar.Active(1.0)) == "active"
    assert f._resolver.is_faithful


@pytest.mark.parametrize("make, message", [
    (lambda: ar.Active(np.ones(3)), "Active(ndarray): arrays are mutable: use Duplicated(x, dx) or Const(x)"),
    (lambda: ar.Active("a"), "Active(str): only floats, complex numbers, NumPy scalars and tuples of those"),
    (lambda: ar.Duplicated(1.5, 0.0), "Duplicated(float, ...): numbers are immutable: use Active(x)"),
    (lambda: ar.Duplicated([1.0], [0.0]), "Duplicated(list, ...): needs a NumPy array"),
    (lambda: ar.Duplicated(np.ones(3), np.zeros(4)),
     "Duplicated: shadow has shape (4,) and dtype float64, primal has shape (3,) and dtype float64"),
    (lambda: ar.Duplicated(np.ones(3), np.zeros(3, np.float32)), "shadow has shape (3,) and dtype float32"),
    (lambda: ar.DuplicatedNoNeed(np.ones(3), np.zeros(3).tolist()),
     "DuplicatedNoNeed: the shadow must be an ndarray like its primal, got list"),
    (lambda: (lambda x: ar.Duplicated(x, x))(np.ones(3)), "the shadow is the primal object itself"),
    (lambda: (lambda x: ar.Duplicated(x, x[:]))(np.ones(3)), "the shadow shares memory with the primal"),
    (lambda: ar.BatchDuplicated(np.ones(3), ()), "BatchDuplicated: dvals must be a non-empty tuple of shadows"),
    (lambda: ar.BatchDuplicated(np.ones(3), (np.zeros(3), np.zeros(2))), "shadows of unequal shape"),
])
def test_wrong_annotations_say_what_to_write(make, message):
    with pytest.raises(ar.ActivityError) as info:
        make()
    assert message in str(info.value)


def test_int_active_becomes_float_and_unchecked_annotate_is_plain():
    assert ar.Active(3).val == 3.0 and isinstance(ar.Active(3).val, float)
    ann = annotate(ar.Duplicated, np.ones(2))
    assert type(ann) is ar.Duplicated and ann.dval is None
    ann.dval = np.zeros(2)
    assert annotate(ar.BatchDuplicated, np.ones(2), (np.zeros(2),)).dvals[0].shape == (2,)


def test_revconfig_defaults():
    cfg = ar.RevConfig((ar.Const, ar.Active))
    assert cfg.needs_primal and cfg.width == 1 and cfg.overwritten is None
