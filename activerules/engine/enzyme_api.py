"""``autodiff``: reverse mode with Enzyme's calling convention."""

from __future__ import annotations

from typing import Any, Callable

from .checks import _DEFAULT, _derivative, _seed, primal_of
from .forward import _gc_resume
from .inputs import _autodiff_run, _using, _width
from .run import _Run

__all__ = ["autodiff"]


def autodiff(f: Callable[..., Any], *args: Any, returns: Any = _DEFAULT,
             with_primal: bool = False, registry: Any = None) -> Any:
    """Reverse-mode derivatives of ``f(*args)`` with Enzyme's calling convention.

    ``args`` are annotated (``Const``, ``Active``, ``Duplicated``,
    ``BatchDuplicated``...; plain values count as Const). Returns a tuple with
    one entry per argument: the derivative for Active arguments, ``None``
    otherwise. A Duplicated shadow holds on entry the cotangent of the
    argument's final value and on exit that of its initial value; every caller
    array (Const and Duplicated alike) ends as ``f`` left it, as plain NumPy
    would leave it, if the call succeeds (none changes if it raises). Every array
    reaches ``f`` as a stand-in, a Const one inert until an active value is
    written into it, which promotes it (runtime activity: the derivative flows
    through it; docs/engine.md, "Writes into constants"); ``f`` runs once.
    ``returns``: ``ar.Active`` (seed 1.0), ``ar.Active(seed)`` or ``ar.Const``; by
    default Active for a scalar result and Const for ``None``. An Active return needs one real scalar result (a 0-d array
    included; a complex one only with a complex seed); anything else (a tuple,
    a dict, an integer, a function) raises ``ar.ActivityError``: pass
    ``returns=ar.Const`` and let derivatives flow through the shadows, or use
    :func:`vjp`. ``with_primal=True`` returns ``(derivatives, primal)``.
    ``registry``: the ``ar.RuleRegistry`` whose rules serve the calls (default:
    ``ar.registry``), as for the adapters.

    Containers, as Enzyme takes structs: ``Active((a, b))`` (a tuple of numbers)
    returns a tuple of derivatives; ``Duplicated(params, dparams)``, with
    ``params`` a list, tuple or dict of arrays (a dict may nest lists, tuples and
    dicts) and ``dparams`` shadows in the same structure, passes ``f`` that
    structure of stand-ins and fills each shadow; ``BatchDuplicated(params,
    (dparams1, dparams2))`` takes one such structure per lane. Numbers inside a
    Duplicated container are refused (pass them as their own ``Active``).
    Integers cannot be differentiated: ``Active(np.int64(3))`` and
    ``Duplicated`` of an integer array raise an ``ar.ActivityError`` naming the
    argument.

    >>> import numpy as np, activerules as ar
    >>> x, dx = np.array([1.0, 2.0]), np.zeros(2)
    >>> ar.autodiff(lambda x, c: (c * x * x).sum(), ar.Duplicated(x, dx), ar.Active(3.0))
    (None, np.float64(5.0))
    >>> dx
    array([ 6., 12.])
    >>> ar.autodiff(lambda p: p[0] * p[1], ar.Active((2.0, 5.0)))
    ((np.float64(5.0), np.float64(2.0)),)
    >>> p, dp = {"w": np.array([1.0, 2.0])}, {"w": np.zeros(2)}
    >>> ar.autodiff(lambda p: (p["w"] ** 2).sum(), ar.Duplicated(p, dp))
    (None,)
    >>> dp
    {'w': array([2., 4.])}
    """
    width = _width(args)
    # one pause of the collector for the forward and the sweep
    run = _using(registry, _autodiff_run(args, width))
    result = run.forward(f, sweep_follows=True)
    _seed_and_sweep(run, result, returns)
    derivs = tuple(_derivative(a, c, run.tape.width) for a, c in zip(args, run.cells))
    return (derivs, primal_of(result)) if with_primal else derivs


def _seed_and_sweep(run: _Run, result: Any, returns: Any) -> None:
    """Seed and sweep :func:`autodiff`'s tape, then give the caller's arrays ``f``'s side
    effects (none after a failure); the collector resumed once the tape is freed."""
    try:
        failed = True
        try:
            _seed(result, returns, run.tape)
            run.sweep_or_restore()
            failed = False
        finally:
            run.finish(failed)
            run.tape.entries.clear()
    finally:
        _gc_resume()  # the tape is freed first
