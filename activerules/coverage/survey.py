"""Enumeration and classification: which functions, which argument kinds, which
activity combinations, and how the registry serves each one."""

from __future__ import annotations

import copy
import importlib
import inspect as pyinspect
import typing
from typing import Any, Iterable

import plum

from ..activity import BatchDuplicated, is_batch
from ..dispatch import (
    AmbiguousRuleError,
    NoRuleError,
    RuleRegistry,
    admissible_requests,
    function_name,
    kind_of,
    kind_of_type,
    registry,
)
from ..dispatch.kinds import ARRAY, SCALAR, STATIC
from ..plugins import PluginReport, load_plugins
from .model import (
    AMBIGUOUS,
    EXACT,
    FALLBACK,
    UNRESOLVED,
    Combination,
    CoverageReport,
    FunctionReport,
    Signature,
)

__all__ = ["UsageError", "import_modules", "select_functions", "find_function", "argument_signatures",
           "classify", "inspect_function", "build_report", "return_activity"]


class UsageError(Exception):
    """A mistake on the command line (unknown module or function): exit status 2."""


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
    for ``numpy.``). Raises :class:`UsageError` listing close names when there is none."""
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
    else those of ``modules``, else all. Unknown names raise :class:`UsageError`."""
    names, modules = list(names), list(modules)
    if names:
        chosen = [find_function(n, reg) for n in names]
    else:
        chosen = [fn for fn in reg.functions() if not modules or any(_in_module(fn, m, reg) for m in modules)]
    unique = {id(fn): fn for fn in chosen}
    return sorted(unique.values(), key=function_name)


# -- argument kinds ---------------------------------------------------------------------------


def _pattern_kind(p: Any) -> str | None:
    """The primal kind a pattern entry declares (``Duplicated[np.ndarray]``), else None."""
    if typing.get_origin(p) is typing.Union:
        kinds = {_pattern_kind(m) for m in typing.get_args(p)}
        return kinds.pop() if len(kinds) == 1 else None
    if getattr(p, "_concrete", False):
        return kind_of_type(plum.type_parameter(p))
    return None


def _annotation_kind(t: Any) -> str | None:
    if isinstance(t, type):
        return kind_of_type(t)
    return None


def _annotated_kinds(fn: Any) -> tuple[tuple[str, ...], str | None] | None:
    """Kinds of ``fn``'s required positional parameters from its annotations, and of its return."""
    try:
        sig = pyinspect.signature(fn)
        hints = typing.get_type_hints(fn)
    except Exception:  # builtins, ufuncs, unresolvable hints
        return None
    params = [p for p in sig.parameters.values()
              if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.default is p.empty]
    kinds = [_annotation_kind(hints.get(p.name)) for p in params]
    if not params or any(k is None for k in kinds):
        return None
    ret = hints.get("return")
    return tuple(typing.cast(list[str], kinds)), _annotation_kind(ret) if ret is not None else None


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
    of its samples; else the kinds its rule patterns declare; else its annotations
    (or its rrule's). Empty when the kinds cannot be told."""
    by_kinds: dict[tuple[str, ...], Signature] = {}
    for sample in reg.samples(fn):
        kinds = tuple(kind_of(a) for a in sample.args)
        sig = by_kinds.get(kinds)
        if sig is None:
            sig = by_kinds[kinds] = Signature(kinds, "samples", _sample_output_kind(fn, sample))
        sig.samples.append(sample)
    if by_kinds:
        return list(by_kinds.values())
    for entry in reg.entries(fn):
        if entry.form == "rule" and entry.pattern and not entry.varargs:
            kinds_or_none = [_pattern_kind(p) for p in entry.pattern]
            if all(k is not None for k in kinds_or_none):
                return [Signature(tuple(typing.cast(list[str], kinds_or_none)), "patterns", None)]
    for candidate in [fn] + [e.impl for e in reg.entries(fn) if e.form == "rrule"]:
        annotated = _annotated_kinds(candidate)
        if annotated is not None:
            return [Signature(annotated[0], "annotations", annotated[1])]
    return []


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


def classify(fn: Any, activities: tuple[type, ...], kinds: tuple[str, ...], output: str | None,
             reg: RuleRegistry = registry) -> Combination:
    """Resolve one combination and classify it: exact, fallback, ambiguous or unresolved."""
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
    return Combination(activities, returns, EXACT if res.kind == "exact" else FALLBACK,
                       wasteful=res.wasteful, cost=res.cost, form=res.form,
                       rule=getattr(res.rule, "__qualname__", repr(res.rule)),
                       source=res.entry.source, steps=tuple(str(s) for s in res.steps))


def inspect_function(fn: Any, reg: RuleRegistry = registry) -> FunctionReport:
    """The report for one function: its registrations, signatures and classified combinations."""
    report = FunctionReport(function_name(fn), fn, [e.describe() for e in reg.entries(fn)])
    if reg.is_inactive(fn):
        report.inactive = True
        return report
    report.signatures = argument_signatures(fn, reg)
    if not report.signatures:
        report.note = ("argument kinds unknown: declare sample inputs (samples=[ar.Sample(...)] or "
                       "ar.dispatch.add_samples), parametrise the rule pattern (ar.Duplicated[np.ndarray]) "
                       "or annotate the function's parameters")
    for sig in report.signatures:
        sig.combinations = [classify(fn, acts, sig.kinds, sig.output, reg)
                            for acts in admissible_requests(sig.kinds)]
    if report.signatures and not report.combinations:
        report.note = "no differentiable argument (every argument kind is static)"
    return report


def build_report(modules: Iterable[str] = (), names: Iterable[str] = (), *, plugins: bool = True,
                 reg: RuleRegistry = registry) -> CoverageReport:
    """Import ``modules`` (and the installed plugins), select the functions and classify
    every admissible activity combination. Raises :class:`UsageError` for unknown
    modules or function names."""
    modules = list(modules)
    plugin_report = load_plugins(warn=False) if plugins else PluginReport()
    import_modules(modules)
    functions = select_functions(modules, names, reg)
    if modules and not functions and not list(names):
        raise UsageError(f"no registered function belongs to {', '.join(modules)}: the module(s) "
                         "imported but define or register no rules")
    return CoverageReport([inspect_function(fn, reg) for fn in functions], modules, plugin_report)
