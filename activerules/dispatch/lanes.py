"""Batch lanes: serve a BatchDuplicated request with a width-1 rule.

The augmented forward runs once, on lane 0's shadows; the reverse runs once per
lane after pointing every batch argument's annotation at that lane's shadow
(rules read shadows through their annotations at reverse time).
"""

from __future__ import annotations

from typing import Any, Callable

from ..activity import BatchDuplicatedNoNeed, Duplicated, DuplicatedNoNeed, RevConfig, annotate, is_batch

__all__ = ["unbatched_activities", "lanes"]


def unbatched_activities(activities: tuple[type, ...]) -> tuple[type, ...]:
    """The width-1 request each lane makes: BatchDuplicated → Duplicated.

    >>> from activerules.activity import BatchDuplicated, Const
    >>> [a.__name__ for a in unbatched_activities((BatchDuplicated, Const))]
    ['Duplicated', 'Const']
    """
    return tuple(
        (DuplicatedNoNeed if issubclass(a, BatchDuplicatedNoNeed) else Duplicated) if is_batch(a) else a
        for a in activities)


def lanes(rule: Callable[..., Any], activities: tuple[type, ...]) -> Callable[..., Any]:
    """Wrap a width-1 ``rule`` (written for ``unbatched_activities(activities)``)
    so it serves the batch request ``activities``.

    >>> import numpy as np
    >>> from activerules.activity import BatchDuplicated, RevConfig
    >>> def double(cfg, x):
    ...     def reverse(g):
    ...         x.dval += 2 * g
    ...     return 2 * x.val, reverse
    >>> x = BatchDuplicated(np.ones(2), (np.zeros(2), np.zeros(2)))
    >>> y, reverse = lanes(double, (BatchDuplicated,))(RevConfig((BatchDuplicated,), width=2), x)
    >>> reverse((np.ones(2), np.full(2, 3.0))); x.dvals
    (array([2., 2.]), array([6., 6.]))
    """
    inner_acts = unbatched_activities(activities)
    batch_pos = tuple(i for i, a in enumerate(activities) if is_batch(a))

    def batched(cfg: Any, *args: Any, **kwargs: Any) -> tuple[Any, Any]:
        inner = list(args)
        for i in batch_pos:
            inner[i] = annotate(inner_acts[i], args[i].val, args[i].dvals[0])
        inner_cfg = RevConfig(inner_acts, cfg.needs_primal, 1, cfg.overwritten)
        y, reverse = rule(inner_cfg, *inner, **kwargs)

        def batched_reverse(drets: Any) -> Any:
            per_lane = []
            for k, dret in enumerate(drets):
                for i in batch_pos:
                    inner[i]._dval = args[i].dvals[k]
                per_lane.append(reverse(dret))
            if all(r is None for r in per_lane):
                return None
            return tuple(
                None if all(r is None or r[i] is None for r in per_lane)
                else tuple(None if r is None else r[i] for r in per_lane)
                for i in range(len(args)))

        return y, batched_reverse

    batched.__name__ = getattr(rule, "__name__", "rule")
    return batched
