"""``gradient`` and ``vjp``: functional reverse mode (as in JAX), and the pullback."""

from __future__ import annotations

import threading
from typing import Any, Callable

import numpy as np

from ..activity import ActiveRulesError, ActivityError, Const
from .checks import (
    _check_cotangent,
    _check_output,
    _check_scalar_result,
    _clear_outputs,
    _cotangent,
    _dtype_kind,
    _kind,
    _seed_vjp,
    primal_of,
)
from .forward import _gc_pause, _gc_resume
from .inputs import _using, _vjp_run
from .nested import _own_outputs, sweep
from .run import _Run
from .tape import Cell
from .trees import child_path, is_node, items_of, leaves, map_leaves

__all__ = ["gradient", "vjp"]


def vjp(f: Callable[..., Any], *args: Any, registry: Any = None) -> tuple[Any, Callable[[Any], tuple[Any, ...]]]:
    """``y, pullback = vjp(f, *args)``: the primal result and a function mapping an
    output cotangent to a tuple with one cotangent per argument.

    Float and complex arrays and numbers are differentiated, also inside dicts, lists,
    tuples and named tuples (nested): an argument's cotangent has its structure.
    Integers, booleans, strings, ``None``, other values and ``ar.Const(...)``-wrapped
    ones are constant: their cotangent is ``None``. ``f`` may return an array, a
    number or a container of them (``None``, integers and strings inside a container
    are constant outputs); ``ybar`` has the result's structure, ``None`` for a part
    whose cotangent is zero (a constant output must get ``None``), and each leaf its
    output's shape (or one that broadcasts to it, e.g. a number) and no complex dtype
    for a real output: anything else raises ``ar.ActivityError`` naming the output.
    Complex values follow the rules' convention (ChainRules):
    ``pullback(ybar) = conj(J)ᵀ ybar``, which is ``conj(jax_pullback(conj(ybar)))``.
    ``registry``: the ``ar.RuleRegistry`` whose rules serve the calls (default: ``ar.registry``).

    ``vjp`` is functional: no caller array changes, differentiated or not. Every
    array argument reaches ``f`` as a stand-in whose writes go to a copy (made on
    the first write only); an undifferentiated one (integer, ``ar.Const(...)`` and,
    for :func:`gradient`, outside ``argnums``; inside containers too) is inert
    until an active value is written into it, which promotes it (docs/engine.md,
    "Writes into constants"); ``f`` runs once. Containers are rebuilt, so ``f``
    may change a list it is given. The caller's differentiated arrays (and the
    caller's arrays a rule's reverse reads) stay read-only while ``pullback`` is
    alive, so nothing the sweep reads can change under it;
    :func:`gradient` releases them before it returns. Differentiations nest
    (higher order, docs/engine.md): an array or number of an enclosing
    differentiation reaching ``vjp`` (as an argument, inside one, as a value
    ``f`` reads, as a cotangent) is differentiated by both.

    >>> import numpy as np, activerules as ar
    >>> y, pullback = ar.vjp(lambda p: {"s": p["w"] * p["b"]}, {"w": np.ones(2), "b": 3.0})
    >>> pullback({"s": np.array([1.0, 2.0])})
    ({'w': array([3., 6.]), 'b': np.float64(3.0)},)
    """
    run = _using(registry, _vjp_run(args, None))
    result = run.forward(f)
    try:
        if result is None:
            raise ActivityError("vjp: f returned None, so there is no output to pull back; return "
                                "the value (a function that works by mutating its arguments: use "
                                "ar.autodiff with Duplicated arguments)")
        _check_output(result, run.tape, "output")
        if not is_node(result) and _dtype_kind(result) not in "fc":
            raise ActivityError(f"vjp: f returned {_kind(result)}, which has no derivative: "
                                "return a float or complex array or number")
    except BaseException:
        run.tape.unlock()
        raise
    return primal_of(result, run.tape), _Pullback(run, result)


class _Pullback:
    """The pullback :func:`vjp` returns. The tape's locks are released when it is
    freed (``__del__`` costs less than a ``weakref.finalize`` per call).

    Each call is independent of the others: it starts from zero shadows (a sweep
    leaves cotangents behind in buffers no entry releases, such as the target of
    ``np.add.at``), and calls from several threads are serialised, since they share
    the tape's cells and annotations."""

    __slots__ = ("_run", "_result", "_lock", "_swept", "_busy")

    def __init__(self, run: _Run, result: Any) -> None:
        self._run = run
        self._result = result
        self._lock = threading.RLock()  # reentrant: a call from its own sweep raises, not hangs
        self._swept = False  # the cells hold no cotangent before the first call
        self._busy = False

    def __call__(self, ybar: Any) -> tuple[Any, ...]:
        """The cotangents of ``vjp``'s arguments for the output cotangent ``ybar``."""
        _check_cotangent(self._result, ybar, "output")
        with self._lock:
            if self._busy:
                raise ActiveRulesError("a vjp pullback was called from its own sweep (a rule's "
                                       "reverse calling it): call it after it returned")
            self._busy = True
            _gc_pause()
            try:
                if self._swept:
                    self._run.tape.clear_shadows()
                self._swept = True
                return _sweep(self._run, self._result, ybar)
            finally:
                self._busy = False
                _gc_resume()

    def __del__(self) -> None:
        self._run.tape.unlock()


def _sweep(run: _Run, result: Any, ybar: Any, consume: bool = False) -> tuple[Any, ...]:
    """The sweep of :func:`vjp`'s pullback for the output cotangent ``ybar``
    (``consume``: the only sweep, see :func:`.sweep.sweep`), the collector paused."""
    for c in run.cells:
        if type(c) is Cell:
            c.shadow = None
        elif c is not None:
            for leaf in leaves(c):
                if leaf is not None:
                    leaf.shadow = None
    result = _own_outputs(result, run.tape)
    _clear_outputs(result)
    nested = run.tape.nested
    try:
        _seed_vjp(result, ybar)  # a seed of an enclosing level makes this sweep a nested one
        sweep(run.tape, consume)
    finally:
        run.tape.nested = nested
    return tuple(_cotangent(c, 0) for c in run.cells)


def gradient(f: Callable[..., Any], *args: Any, argnums: int | tuple[int, ...] = 0,
             holomorphic: bool = False, registry: Any = None) -> Any:
    """The gradient of the real scalar function ``f`` with respect to ``args[argnums]``
    (a tuple of gradients for a tuple ``argnums``; negative positions count from the
    end). Functional like :func:`vjp`.

    An argument may be a float or complex array or number, or a dict, list, tuple or
    named tuple of those (nested): its gradient has the same structure. A leaf with
    no derivative (an integer, a boolean, a string, ``None``...) raises
    ``ar.ActivityError`` naming it, as ``jax.grad`` does; wrap it as ``ar.Const(v)``
    to keep it constant (its gradient is ``None``). ``f`` must return one real
    scalar; a complex, integer or container result raises (use :func:`vjp`). The
    gradient with respect to a complex argument follows the rules' (ChainRules')
    convention, ``conj`` of ``jax.grad``'s. ``argnums`` out of range raises
    ``ar.ActivityError`` naming it. ``holomorphic=True``, as in ``jax.grad``: ``f``
    is a holomorphic function of complex arguments with a complex scalar result,
    and the gradient is its complex derivative ``f'(z)`` (equal to
    ``jax.grad(f, holomorphic=True)``). ``registry``: the ``ar.RuleRegistry`` whose
    rules serve the calls (default: ``ar.registry``).

    >>> import numpy as np, activerules as ar
    >>> ar.gradient(lambda x: (x ** 2).sum(), np.array([1.0, 2.0]))
    array([2., 4.])
    >>> ar.gradient(lambda p, n: (p["w"] ** n).sum() * p["b"], {"w": np.ones(2), "b": 2.0}, 3)
    {'w': array([6., 6.]), 'b': np.float64(2.0)}
    >>> ar.gradient(lambda z: z * z, 1.0 + 2.0j, holomorphic=True)
    np.complex128(2+4j)
    """
    nums = _argnums(argnums, len(args))
    if holomorphic:
        for k in nums:
            _refuse_real(args[k], f"argument {k}")
    # one pause of the collector for the forward and the sweep
    run = _using(registry, _vjp_run(args, nums))
    result = run.forward(f, sweep_follows=True)
    try:
        try:
            _check_scalar_result(result, run.tape, "gradient", holomorphic)
            if holomorphic and _dtype_kind(result) != "c":
                raise ActivityError("gradient(holomorphic=True): f returned a real result; a "
                                    "holomorphic f returns a complex scalar (as jax.grad)")
            cots = _sweep(run, result, 1.0, consume=True)
        finally:
            run.tape.unlock()
            run.tape.entries.clear()
        del run, result
    finally:
        _gc_resume()  # the tape is freed first
    if holomorphic:  # the rules give conj(f'(z)) * 1 (ChainRules), jax.grad f'(z)
        cots = tuple(map_leaves(lambda v, _: v if v is None else np.conj(v), c, "") for c in cots)
    return cots[nums[0]] if isinstance(argnums, int) else tuple(cots[i] for i in nums)


def _refuse_real(v: Any, where: str) -> None:
    """``gradient(holomorphic=True)`` differentiates complex values only (as jax.grad)."""
    if is_node(v):
        for k, e in items_of(v):
            _refuse_real(e, child_path(where, k))
    elif not isinstance(v, Const) and _dtype_kind(v) != "c":
        raise ActivityError(f"gradient(holomorphic=True): {where} is {_kind(v)}, not complex: a "
                            "holomorphic function takes complex arguments (as jax.grad); pass "
                            "it as a complex value, or differentiate without holomorphic=True")


def _argnums(argnums: Any, n: int) -> tuple[int, ...]:
    """``argnums`` as a tuple of positions in ``range(n)``, or an error naming it."""
    nums = (argnums,) if isinstance(argnums, int) else argnums
    if not isinstance(nums, (tuple, list)) or any(isinstance(i, bool) or not isinstance(i, int)
                                                  for i in nums):
        raise ActivityError(f"gradient: argnums={argnums!r} must be an int or a tuple of ints")
    bad = [i for i in nums if not -n <= i < n]
    if bad:
        raise ActivityError(f"gradient: argnums={argnums!r} is out of range: f was given {n} "
                            f"positional argument(s), positions 0..{n - 1} (or -{n}..-1)")
    return tuple(i % n for i in nums)
