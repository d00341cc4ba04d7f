"""``--verify``: check every resolved combination that has sample inputs against
finite differences with :func:`activerules.testing.check_rule`."""

from __future__ import annotations

import sys
from typing import Any, Callable, TextIO

from ..dispatch import RuleRegistry, format_activities, registry
from .model import AMBIGUOUS, FAILED, NO_SAMPLE, PASSED, UNRESOLVED, CoverageReport, FunctionReport, Signature

__all__ = ["verify", "Progress"]


class Progress:
    """A one-line progress indicator on a terminal; silent when the stream is not a tty."""

    def __init__(self, total: int, stream: TextIO | None = None) -> None:
        self.total = total
        self.done = 0
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = bool(getattr(self.stream, "isatty", lambda: False)())

    def step(self, label: str) -> None:
        """Count one unit of work and show it."""
        self.done += 1
        if self.enabled:
            self.stream.write(f"\rverify {self.done}/{self.total} {label[:60]:<60}")
            self.stream.flush()

    def close(self) -> None:
        """Clear the indicator line."""
        if self.enabled:
            self.stream.write("\r" + " " * 80 + "\r")
            self.stream.flush()


def _failures(message: str, name: str, combos: list[tuple[type, ...]]) -> dict[tuple[type, ...], str]:
    """Attribute the lines of a check_rule failure report to combinations; a failure
    that names none (e.g. the function itself raised) is charged to all of them."""
    out: dict[tuple[type, ...], str] = {}
    for line in message.splitlines():
        text = line.strip().removeprefix("FAIL ").strip()
        for combo in combos:
            label = f"{name}{format_activities(combo)}: "
            if text.startswith(label):
                out[combo] = text[len(label):]
    return out or dict.fromkeys(combos, message.strip())


def _check_sample(check: Callable[..., Any], fn: Any, name: str, sample: Any,
                  combos: list[tuple[type, ...]], reg: RuleRegistry) -> dict[tuple[type, ...], str]:
    try:
        check(fn, *sample.args, activities=combos, registry=reg, **sample.kwargs)
    except AssertionError as e:
        return _failures(str(e), name, combos)
    except Exception as e:  # check_rule itself could not run on this sample
        return dict.fromkeys(combos, f"check_rule raised {type(e).__name__}: {e}")
    return {}


def _verify_signature(f: FunctionReport, sig: Signature, check: Callable[..., Any],
                      progress: Progress, reg: RuleRegistry) -> None:
    resolved = [c for c in sig.combinations if c.status not in (AMBIGUOUS, UNRESOLVED)]
    if not sig.samples:
        progress.step(f"{f.name} (no sample)")
        for c in resolved:
            c.verified = NO_SAMPLE
        return
    combos = [c.activities for c in resolved]
    failures: dict[tuple[type, ...], str] = {}
    for i, sample in enumerate(sig.samples):
        progress.step(f"{f.name} sample {i + 1}")
        if combos:
            for combo, msg in _check_sample(check, f.function, f.name, sample, combos, reg).items():
                failures.setdefault(combo, f"{sample!r}: {msg}")
    for c in resolved:
        c.verified = FAILED if c.activities in failures else PASSED
        c.verify_message = failures.get(c.activities)


def verify(report: CoverageReport, reg: RuleRegistry = registry, stream: TextIO | None = None) -> None:
    """Run ``check_rule`` on every resolved combination with sample inputs, recording
    ``passed``/``failed``/``no-sample`` on each; progress goes to ``stream`` (stderr)
    when it is a terminal."""
    from ..testing import check_rule

    work = [(f, s) for f in report.functions for s in f.signatures if s.combinations]
    progress = Progress(sum(max(len(s.samples), 1) for _, s in work), stream)
    try:
        for f, sig in work:
            _verify_signature(f, sig, check_rule, progress, reg)
    finally:
        progress.close()
    report.verified = True
