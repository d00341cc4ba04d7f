"""Enumeration and classification: which functions, which argument kinds, which
activity combinations, and how the registry serves each one."""

from __future__ import annotations

import copy
import importlib
import sys
from typing import Any, Iterable

from ..activity import BatchDuplicated, Const, base_state, is_batch
from ..dispatch import (
    PRIMITIVE_MARK,
    AmbiguousRuleError,
    NoRuleError,
    Resolution,
    RuleRegistry,
    admissible_requests,
    function_name,
    kind_of,
    registry,
)
from ..dispatch.kinds import ARRAY, SCALAR, STATIC
from ..plugins import PluginReport, load_plugins
from .inference import (
    annotated_output,
    arity,
    enumerated_kinds,
    generate_sample,
    position_kinds,
    probe_pullback,
    rrule_kinds,
)
from .model import (
    AMBIGUOUS,
    EXACT,
    FALLBACK,
    RRULE,
    UNRESOLVED,
    Combination,
    CoverageReport,
    FunctionReport,
    Signature,
)

__all__ = ["UsageError", "import_modules", "select_functions", "find_function", "argument_signatures",
           "classify", "inspect_function", "build_report", "return_activity", "unregistered_primitives"]


class UsageError(Exception):
    """A mistake on the command line (unknown module or function): exit status 2.

    >>> find_function("numpy.no_such_function")
    Traceback (most recent call last):
    ...
    activerules.coverage.survey.UsageError: unknown function 'numpy.no_such_function': ...
    """


def import_modules(modules: Iterable[str]) -> None:
    """Import each dotted module name; raise :class:`UsageError` saying which failed and why."""
    for name in modules:
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as e:
            if e.name is not None and (name == e.name or name.startswith(e.name + ".")):
                raise UsageError(f"unknown module {name!r}: no module named {e.name!r} "
                                 "(is the package installed in this environment?)") from None
            raise UsageError(f"importing module {name!r} failed: {type(e).__name__}: {e}") from None
        except Exception as e:
            raise UsageError(f"importing module {name!r} failed: {type(e).__name__}: {e}") from None


def _under(name: str | None, module: str) -> bool:
    return bool(name) and (name == module or name.startswith(module + "."))  # type: ignore[union-attr]


def _in_module(fn: Any, module: str, reg: RuleRegistry) -> bool:
    """Whether ``fn`` is defined in ``module`` (or below) or has rules defined there."""
    if _under(function_name(fn), module) or _under(getattr(fn, "__module__", None), module):
        return True
    return any(_under(getattr(e.impl, "__module__", None), module) for e in reg.entries(fn))


def find_function(name: str, reg: RuleRegistry = registry) -> Any:
    """The registered function called ``name`` (``numpy.linalg.solve``; ``np.`` is accepted
    for ``numpy.``). Raises :class:`UsageError` listing close names when there is none.

    >>> import numpy as np
    >>> find_function("np.linalg.solve") is np.linalg.solve
    True
    """
    wanted = "numpy." + name[3:] if name.startswith("np.") else name
    by_name = {function_name(fn): fn for fn in reg.functions()}
    if wanted in by_name:
        return by_name[wanted]
    for fn in reg.functions():
        qual = f"{getattr(fn, '__module__', '')}.{getattr(fn, '__qualname__', '')}"
        if qual == wanted:
            return fn
    tail = wanted.rsplit(".", 1)[-1]
    close = sorted(n for n in by_name if n.rsplit(".", 1)[-1] == tail)
    hint = f"; did you mean {', '.join(close)}?" if close else \
        "; check the spelling, or import the module that registers it (`activerules coverage MODULE`, `activerules explain --module MODULE`)"
    raise UsageError(f"unknown function {name!r}: nothing is registered under that name{hint}")


def select_functions(modules: Iterable[str] = (), names: Iterable[str] = (),
                     reg: RuleRegistry = registry) -> list[Any]:
    """The registered functions to report, sorted by name: those named (``names``),
    else those of ``modules``, else all. Unknown names raise :class:`UsageError`.

    >>> [f.__name__ for f in select_functions(names=["np.linalg.solve", "np.linalg.inv"])]
    ['inv', 'solve']
    """
    names, modules = list(names), list(modules)
    if names:
        chosen = [find_function(n, reg) for n in names]
    else:
        chosen = [fn for fn in reg.functions() if not modules or any(_in_module(fn, m, reg) for m in modules)]
    unique = {id(fn): fn for fn in chosen}
    return sorted(unique.values(), key=function_name)


# -- argument kinds ---------------------------------------------------------------------------


def _sample_output_kind(fn: Any, sample: Any) -> str | None:
    """Kind of ``fn``'s output on a copy of the sample (None when the call fails)."""
    try:
        args = copy.deepcopy(sample.args)
        kwargs = copy.deepcopy(sample.kwargs)
        return kind_of(fn(*args, **kwargs))
    except Exception:
        return None


def argument_signatures(fn: Any, reg: RuleRegistry = registry) -> list[Signature]:
    """The argument-kind tuples to enumerate for ``fn``: one per distinct kind tuple
    of its samples; else the kinds its rule patterns and annotations tell, each
    position nothing tells enumerated under each kind it could have (see
    :mod:`activerules.coverage.inference`). Empty when not even the number of
    arguments can be told, or the enumeration would be too large."""
    by_kinds: dict[tuple[str, ...], Signature] = {}
    for sample in reg.samples(fn):
        kinds = tuple(kind_of(a) for a in sample.args)
        sig = by_kinds.get(kinds)
        if sig is None:
            sig = by_kinds[kinds] = Signature(kinds, "samples", _sample_output_kind(fn, sample))
        sig.samples.append(sample)
    if by_kinds:
        return list(by_kinds.values())
    n = arity(fn, reg)
    if n is None:
        return []
    told, sources = position_kinds(fn, n, reg)
    rrule = next((e.impl for e in reg.entries(fn) if e.form == "rrule"), None)
    if rrule is not None and not all(told):
        before = sum(map(len, told))
        told = rrule_kinds(fn, rrule, told)
        sources |= {"rrule"} if sum(map(len, told)) > before else set()
    tuples = enumerated_kinds(told)
    if tuples is None:
        return []
    origin = "+".join(sorted(sources) + (["enumerated"] if not all(told) else []))
    output = annotated_output(fn, reg)
    return [Signature(kinds, origin, output) for kinds in tuples]


# -- classification ---------------------------------------------------------------------------


def return_activity(output: str | None, activities: tuple[type, ...]) -> str | None:
    """The return's activity when the output is differentiated: Active for a scalar,
    Duplicated (BatchDuplicated in a batch request) for an array, Const for a
    non-differentiable output; None when the output kind is unknown."""
    if output == SCALAR:
        return "Active"
    if output == ARRAY:
        return BatchDuplicated.__name__ if any(is_batch(a) for a in activities) else "Duplicated"
    if output == STATIC:
        return "Const"
    return None


def _candidates(message: str) -> tuple[str, ...]:
    return tuple(line.strip()[2:] for line in message.splitlines() if line.startswith("  - "))


def _rrule_steps(res: Resolution, probe: tuple[bool, ...] | None) -> tuple[bool, tuple[str, ...]]:
    """Whether the lifted rrule really computes and drops a Const argument's cotangent
    (known from running its pullback once: ``probe``), and the step's description."""
    consts = [i for i, a in enumerate(res.activities) if base_state(a) is Const]
    if not consts:
        return False, (f"call: lifted all-active rrule (+{res.cost})",)
    if probe is None:
        return False, (f"call: lifted all-active rrule (+{res.cost}); not run (no inputs), so whether "
                       "it computes the cotangent of a Const argument is unknown",)
    dropped = [i for i in consts if probe[i]]
    if dropped:
        args = ", ".join(f"arg {i}" for i in dropped)
        return True, (f"call: lifted all-active rrule (+{res.cost}, wasteful: the cotangent of "
                      f"{args} is computed and dropped; return ar.thunk(lambda: ...) to defer it)",)
    return False, (f"call: lifted all-active rrule (+{res.cost}); Const cotangents are thunks or "
                   "None, never formed",)


def classify(fn: Any, activities: tuple[type, ...], kinds: tuple[str, ...], output: str | None,
             reg: RuleRegistry = registry, probe: tuple[bool, ...] | None = None) -> Combination:
    """Resolve one combination and classify it: exact, rrule, fallback, ambiguous or
    unresolved. ``probe``: per argument, whether the rrule's pullback computes its
    cotangent (:func:`~activerules.coverage.inference.probe_pullback`), which decides
    whether an rrule-served combination is wasteful.

    >>> import numpy as np, activerules as ar
    >>> c = classify(np.linalg.solve, (ar.Const, ar.Duplicated), ("array", "array"), "array")
    >>> c.status, c.cost, c.returns
    ('exact', 0, 'Duplicated')
    """
    returns = return_activity(output, activities)
    try:
        res = reg.resolve(fn, activities, kinds)
    except AmbiguousRuleError as e:
        return Combination(activities, returns, AMBIGUOUS, message=str(e), candidates=_candidates(str(e)))
    except NoRuleError as e:
        return Combination(activities, returns, UNRESOLVED, message=str(e))
    except Exception as e:  # a registry or plum failure: report it, do not crash the run
        return Combination(activities, returns, UNRESOLVED,
                           message=f"resolution raised {type(e).__name__}: {e}")
    status = {"exact": EXACT, "rrule": RRULE}.get(res.kind, FALLBACK)
    wasteful, steps = (_rrule_steps(res, probe) if res.form == "rrule"
                       else (res.wasteful, tuple(str(s) for s in res.steps)))
    return Combination(activities, returns, status, wasteful=wasteful, cost=res.cost, form=res.form,
                       rule=getattr(res.rule, "__qualname__", repr(res.rule)),
                       source=res.entry.source, steps=steps)


_UNKNOWN_NOTE = ("argument kinds unknown: the number of arguments cannot be told (or too many "
                 "positions are unknown to enumerate); declare sample inputs (samples=[ar.Sample(...)] "
                 "or ar.add_samples), parametrise the rule pattern (ar.Duplicated[np.ndarray]) or "
                 "annotate the function's parameters")


def _inputs(fn: Any, sig: Signature) -> Any:
    """The sample to run the function on: the first declared, else generated ones."""
    if sig.samples:
        return sig.samples[0]
    sig.generated = generate_sample(fn, sig.kinds)
    if sig.generated is not None and sig.output is None:
        sig.output = _sample_output_kind(fn, sig.generated)
    return sig.generated


def inspect_function(fn: Any, reg: RuleRegistry = registry) -> FunctionReport:
    """The report for one function: its registrations, signatures and classified combinations.

    >>> import numpy as np
    >>> f = inspect_function(np.linalg.solve)
    >>> f.name, f.signatures[0].kinds, len(f.combinations)
    ('numpy.linalg.solve', ('array', 'array'), 16)
    """
    entries = reg.entries(fn)
    report = FunctionReport(function_name(fn), fn, [e.describe() for e in entries])
    if reg.is_inactive(fn):
        report.inactive = True
        return report
    if not entries:
        report.note = ("an ar.primitive with no rule registered: ar.gradient and the adapters "
                       "raise NoRuleError for it; register an @ar.rrule or @ar.rule")
    report.signatures = argument_signatures(fn, reg)
    if not report.signatures:
        report.unknown = True
        report.note = _UNKNOWN_NOTE
    rrule = next((e.impl for e in entries if e.form == "rrule"), None)
    for sig in report.signatures:
        inputs = _inputs(fn, sig) if entries else None
        probe = probe_pullback(rrule, inputs) if rrule is not None and inputs is not None else None
        sig.combinations = [classify(fn, acts, sig.kinds, sig.output, reg, probe)
                            for acts in admissible_requests(sig.kinds)]
    if report.signatures and not report.combinations:
        report.note = "no differentiable argument (every argument kind is static)"
    return report


def unregistered_primitives(modules: Iterable[str], reg: RuleRegistry = registry) -> list[Any]:
    """The ``@ar.primitive`` functions the (imported) modules define that have nothing
    registered: reported as unresolved rather than left out."""
    found: dict[int, Any] = {}
    for name in modules:
        module = sys.modules.get(name)
        for value in vars(module).values() if module is not None else ():
            if getattr(value, PRIMITIVE_MARK, False) and not reg.has_rules(value) \
                    and _under(getattr(value, "__module__", None), name):
                found[id(value)] = value
    return list(found.values())


def build_report(modules: Iterable[str] = (), names: Iterable[str] = (), *, plugins: bool = True,
                 reg: RuleRegistry = registry) -> CoverageReport:
    """Import ``modules`` (and the installed plugins), select the functions and classify
    every admissible activity combination. Raises :class:`UsageError` for unknown
    modules or function names.

    >>> report = build_report(names=["numpy.linalg.solve"], plugins=False)
    >>> report.counts()["combinations"], report.problems()
    (16, {})
    """
    modules = list(modules)
    plugin_report = load_plugins(warn=False) if plugins else PluginReport()
    import_modules(modules)
    functions = select_functions(modules, names, reg)
    if not list(names):
        functions = sorted(functions + unregistered_primitives(modules, reg), key=function_name)
    if modules and not functions and not list(names):
        raise UsageError(f"no registered function belongs to {', '.join(modules)}: the module(s) "
                         "imported but define or register no rules")
    return CoverageReport([inspect_function(fn, reg) for fn in functions], modules, plugin_report)
