"""``--verify``: check every resolved combination against finite differences with
:func:`activerules.testing.check_rule`, on the declared sample inputs, else on
inputs the inspector generates (:func:`~activerules.coverage.inference.generate_sample`);
a combination neither can serve is ``unverified``, which fails the run."""

from __future__ import annotations

import sys
from typing import Any, Callable, TextIO

from ..dispatch import RuleRegistry, format_activities, registry
from .inference import generate_sample
from .model import (
    AMBIGUOUS,
    FAILED,
    PASSED,
    UNRESOLVED,
    UNVERIFIED,
    CoverageReport,
    FunctionReport,
    Signature,
)

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
    samples = list(sig.samples)
    if not samples:
        if sig.generated is None:
            sig.generated = generate_sample(f.function, sig.kinds)
        samples = [] if sig.generated is None else [sig.generated]
    if not samples:
        progress.step(f"{f.name} (no inputs)")
        why = ("unverified: no sample inputs, and none could be generated (a static argument, or "
               "the function refused small random arrays of one common shape); declare "
               "samples=[ar.Sample(...)]")
        for c in resolved:
            c.verified, c.verify_message = UNVERIFIED, why
        return
    combos = [c.activities for c in resolved]
    failures: dict[tuple[type, ...], str] = {}
    for i, sample in enumerate(samples):
        progress.step(f"{f.name} sample {i + 1}")
        if combos:
            for combo, msg in _check_sample(check, f.function, f.name, sample, combos, reg).items():
                failures.setdefault(combo, f"{sample!r}: {msg}")
    for c in resolved:
        c.verified = FAILED if c.activities in failures else PASSED
        c.verify_message = failures.get(c.activities)
        if c.verified == PASSED and not sig.samples:
            c.verify_message = f"on generated inputs {samples[0]!r}"


def verify(report: CoverageReport, reg: RuleRegistry = registry, stream: TextIO | None = None) -> None:
    """Run ``check_rule`` on every resolved combination, on its sample inputs or
    generated ones, recording ``passed``/``failed``/``unverified`` on each; progress
    goes to ``stream`` (stderr) when it is a terminal.

    >>> from activerules.coverage import build_report
    >>> report = build_report(names=["numpy.linalg.inv"], plugins=False)
    >>> verify(report)
    >>> report.counts()["failed"], report.counts()["passed"] > 0
    (0, True)
    """
    from ..testing import check_rule

    work = [(f, s) for f in report.functions for s in f.signatures if s.combinations]
    progress = Progress(sum(max(len(s.samples), 1) for _, s in work), stream)
    try:
        for f, sig in work:
            _verify_signature(f, sig, check_rule, progress, reg)
    finally:
        progress.close()
    report.verified = True
