"""Text and Markdown renderings of a coverage report.

Per function: the registered rules, then per argument signature a compact
matrix, one row per activity combination when the space is small (at most
``max_rows`` combinations), otherwise the counts per class and the worst
cases. A summary line for the whole run comes last.
"""

from __future__ import annotations

from .model import (
    DEFAULT_FAIL_ON,
    FAILED,
    FALLBACK,
    RRULE,
    UNVERIFIED,
    Combination,
    CoverageReport,
    FunctionReport,
    Signature,
)

__all__ = ["render_text", "render_markdown", "summary_line", "status_text", "signature_heading",
           "shown_combinations", "MAX_ROWS", "WORST"]

#: beyond this many combinations a signature shows counts and the worst cases only
MAX_ROWS = 256
#: how many worst cases a large signature shows
WORST = 10


def status_text(c: Combination) -> str:
    """``exact``, ``rrule``, ``fallback``, ``fallback (wasteful)``, ``ambiguous``,
    ``unresolved``, with ``, verify FAILED`` (or ``, unverified``) appended."""
    text = c.status + (" (wasteful)" if c.wasteful and c.status in (FALLBACK, RRULE) else "")
    return text + {FAILED: ", verify FAILED", UNVERIFIED: ", unverified"}.get(c.verified or "", "")


def via_text(c: Combination) -> str:
    """The serving rule, or the registry's explanation for a miss."""
    if c.rule is not None:
        return f"{c.form} {c.rule}"
    if c.candidates:
        return "tied: " + "; ".join(c.candidates)
    return (c.message or "").split(". Add ")[0]


def counts_text(counts: dict[str, int]) -> str:
    """``16 combinations: 2 exact, 4 rrule, 10 fallback (3 wasteful), 0 ambiguous, 0 unresolved``."""
    text = (f"{counts['combinations']} combinations: {counts['exact']} exact, {counts['rrule']} rrule, "
            f"{counts['fallback']} fallback ({counts['wasteful']} wasteful), {counts['ambiguous']} "
            f"ambiguous, {counts['unresolved']} unresolved")
    if counts["passed"] or counts["failed"] or counts["unverified"]:
        text += (f"; verified {counts['passed']} passed, {counts['failed']} failed, "
                 f"{counts['unverified']} unverified")
    return text


def signature_heading(sig: Signature) -> str:
    """``(array, scalar) from samples, output array``."""
    output = sig.output or "unknown"
    return f"({', '.join(sig.kinds)}) from {sig.kinds_from}, output {output}"


def shown_combinations(sig: Signature, max_rows: int = MAX_ROWS) -> tuple[list[Combination], bool]:
    """The rows to show and whether they are only the worst cases of a large space."""
    if len(sig.combinations) <= max_rows:
        return sig.combinations, False
    return sorted(sig.combinations, key=Combination.severity)[:min(WORST, max_rows)], True


def summary_line(report: CoverageReport, fail_on: tuple[str, ...] = DEFAULT_FAIL_ON) -> str:
    """One line for the whole run, ending in ``OK`` or ``FAILED: ...``; never ``OK``
    when no combination was examined."""
    counts = report.counts()
    text = f"{counts['functions']} functions ({counts['inactive']} inactive"
    text += f", {counts['unknown']} with unknown argument kinds), " if counts["unknown"] else "), "
    text += counts_text(counts)
    if report.plugins.failed:
        text += f"; {len(report.plugins.failed)} plugin(s) failed to import"
    problems = report.problems(fail_on)
    if not problems and not counts["combinations"]:
        return text + " — nothing to check (no differentiable combination)"
    if not problems:
        return text + " — OK"
    return text + " — FAILED: " + ", ".join(f"{n} {cond}" for cond, n in problems.items())


def _table(rows: list[list[str]], indent: str) -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return [indent + "  ".join(cell.ljust(w) for cell, w in zip(r, widths)).rstrip() for r in rows]


def _row(c: Combination) -> list[str]:
    cost = "" if c.cost is None else str(c.cost)
    detail = "; ".join(c.steps) if c.rule is not None else ""
    if c.verified in (FAILED, UNVERIFIED) and c.verify_message:
        detail += f" verify: {c.verify_message.splitlines()[0]}"
    return [c.label, c.returns or "?", status_text(c), cost, via_text(c), detail]


def _text_function(f: FunctionReport, max_rows: int) -> list[str]:
    lines = [f.name + ("  [inactive]" if f.inactive else "")]
    lines += [f"  {e}" for e in f.entries]
    if f.note:
        lines.append(f"  note: {f.note}")
    for sig in f.signatures:
        if not sig.combinations:
            continue
        lines.append(f"  {signature_heading(sig)}: {counts_text(sig.counts())}")
        rows, worst = shown_combinations(sig, max_rows)
        if worst:
            lines.append(f"    worst {len(rows)} of {len(sig.combinations)}:")
        header = ["activities", "return", "class", "cost", "served by", "steps"]
        lines += _table([header] + [_row(c) for c in rows], "    ")
    return lines


def render_text(report: CoverageReport, fail_on: tuple[str, ...] = DEFAULT_FAIL_ON,
                max_rows: int = MAX_ROWS) -> str:
    """The report as plain text for a terminal or a CI log."""
    lines: list[str] = [str(p) for p in report.plugins.failed]
    for f in report.functions:
        lines += _text_function(f, max_rows) + [""]
    lines.append("summary: " + summary_line(report, fail_on))
    return "\n".join(lines) + "\n"


def _md(cell: str) -> str:
    return cell.replace("|", "\\|").replace("\n", " ")


def _md_function(f: FunctionReport, max_rows: int) -> list[str]:
    lines = [f"## `{f.name}`" + (" (inactive)" if f.inactive else ""), ""]
    lines += [f"- {_md(e)}" for e in f.entries] + [""]
    if f.note:
        lines += [f"> {_md(f.note)}", ""]
    for sig in f.signatures:
        if not sig.combinations:
            continue
        rows, worst = shown_combinations(sig, max_rows)
        lines += [f"**{signature_heading(sig)}**: {counts_text(sig.counts())}"
                  + (f" (worst {len(rows)} shown)" if worst else ""), ""]
        lines += ["| activities | return | class | cost | served by | steps |",
                  "|---|---|---|---:|---|---|"]
        for c in rows:
            cells = _row(c)
            cells[2] = f"**{cells[2]}**" if c.status not in ("exact", "rrule", "fallback") \
                or c.verified in (FAILED, UNVERIFIED) else cells[2]
            lines.append("| " + " | ".join(_md(x) for x in cells) + " |")
        lines.append("")
    return lines


def render_markdown(report: CoverageReport, fail_on: tuple[str, ...] = DEFAULT_FAIL_ON,
                    max_rows: int = MAX_ROWS) -> str:
    """The report as GitHub-flavoured Markdown: a summary, then tables per function."""
    lines = ["# activerules rule coverage", "", summary_line(report, fail_on), ""]
    lines += [f"- {_md(str(p))}" for p in report.plugins.failed]
    for f in report.functions:
        lines += _md_function(f, max_rows)
    return "\n".join(lines).rstrip() + "\n"
