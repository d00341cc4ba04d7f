"""The HTML rendering: one self-contained page (inline CSS, no script, no network
asset) with a colour-coded activity matrix per function.

The matrix of a signature puts the states of the first arguments on the rows
and those of the remaining arguments on the columns; each cell is one activity
combination, coloured by class (exact, fallback, wasteful fallback, ambiguous,
unresolved; a verification failure gets a red frame), with the detail in its
tooltip and in a collapsible table below. A signature with more than
``max_rows`` combinations shows its counts and worst cases instead.
"""

from __future__ import annotations

import itertools
from html import escape

from ..dispatch.kinds import ADMISSIBLE
from .model import (
    AMBIGUOUS,
    DEFAULT_FAIL_ON,
    EXACT,
    FAILED,
    UNRESOLVED,
    Combination,
    CoverageReport,
    FunctionReport,
    Signature,
)
from .text import (
    MAX_ROWS,
    counts_text,
    shown_combinations,
    signature_heading,
    status_text,
    summary_line,
    via_text,
)

__all__ = ["render_html"]

_CSS = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 24px; color: #1d2330; }
h1 { font-size: 22px; margin: 0 0 8px; }
h2 { font-size: 16px; margin: 28px 0 4px; font-family: ui-monospace, monospace; }
.summary { padding: 10px 14px; border-radius: 6px; background: #eef3f8; margin: 8px 0 16px; }
.summary.failed { background: #fde2e2; } .summary.ok { background: #e3f4e5; }
.rules { margin: 0; padding-left: 18px; color: #4a5568; font-size: 12px; }
table { border-collapse: collapse; margin: 6px 0; }
th, td { border: 1px solid #c9d1dc; padding: 3px 7px; font-size: 12px; }
th { background: #f4f6f9; font-weight: 600; text-align: left; }
.grid td { text-align: center; min-width: 56px; font-family: ui-monospace, monospace; }
.exact { background: #b9e4c1; } .rrule { background: #dcefd0; } .fallback { background: #c9def5; } .wasteful { background: #ffd9a8; }
.ambiguous { background: #e0c3f0; } .unresolved { background: #f6b3b3; } .na { background: #eceff3; color: #9aa3af; }
.verify-failed { outline: 3px solid #c62828; outline-offset: -3px; }
.legend span { display: inline-block; padding: 2px 8px; margin-right: 6px; border-radius: 4px; font-size: 12px; }
.note { color: #7a4b00; } details { margin: 4px 0 10px; } summary { cursor: pointer; color: #2b5c9e; }
"""

_CELL = {EXACT: "exact", AMBIGUOUS: "ambiguous", UNRESOLVED: "no rule"}


def _css_class(c: Combination) -> str:
    cls = "wasteful" if c.wasteful and c.status in ("fallback", "rrule") else c.status
    return cls + (" verify-failed" if c.verified == FAILED else "")


def _tooltip(c: Combination) -> str:
    lines = [f"{c.label} → return {c.returns or '?'}: {status_text(c)}", via_text(c)]
    lines += list(c.steps)
    if c.verify_message:
        lines.append("verify: " + c.verify_message)
    return "\n".join(line for line in lines if line)


def _cell(c: Combination | None) -> str:
    if c is None:
        return '<td class="na" title="not admissible">–</td>'
    text = _CELL.get(c.status, f"+{c.cost}")
    return f'<td class="{_css_class(c)}" title="{escape(_tooltip(c))}">{escape(text)}</td>'


def _grid(sig: Signature) -> str:
    """The colour-coded matrix: row args × column args, one cell per combination."""
    n = len(sig.kinds)
    split = 0 if n == 1 else n - n // 2  # one argument: a single row
    states = [ADMISSIBLE[k] for k in sig.kinds]
    rows = list(itertools.product(*states[:split]))
    cols = list(itertools.product(*states[split:]))
    by_acts = {c.activities: c for c in sig.combinations}
    row_args = ", ".join(f"arg {i}" for i in range(split))
    corner = (row_args + " \\ " if row_args else "") + ", ".join(f"arg {i}" for i in range(split, n))
    head = "".join(f"<th>{escape(', '.join(a.__name__ for a in col))}</th>" for col in cols)
    body = "".join(
        f"<tr><th>{escape(', '.join(a.__name__ for a in row) or 'activity')}</th>"
        + "".join(_cell(by_acts.get(row + col)) for col in cols) + "</tr>" for row in rows)
    return f'<table class="grid"><tr><th>{escape(corner)}</th>{head}</tr>{body}</table>'


def _detail_table(rows: list[Combination]) -> str:
    head = "<tr><th>activities</th><th>return</th><th>class</th><th>cost</th><th>served by</th>" \
           "<th>steps</th></tr>"
    body = "".join(
        f'<tr><td>{escape(c.label)}</td><td>{escape(c.returns or "?")}</td>'
        f'<td class="{_css_class(c)}">{escape(status_text(c))}</td><td>{"" if c.cost is None else c.cost}</td>'
        f"<td>{escape(via_text(c))}</td><td>{escape('; '.join(c.steps))}</td></tr>" for c in rows)
    return f"<table>{head}{body}</table>"


def _signature(sig: Signature, max_rows: int) -> str:
    heading = f"<p><b>{escape(signature_heading(sig))}</b>: {escape(counts_text(sig.counts()))}</p>"
    rows, worst = shown_combinations(sig, max_rows)
    if worst:
        return heading + f"<p>worst {len(rows)} of {len(sig.combinations)}:</p>" + _detail_table(rows)
    return heading + _grid(sig) + "<details><summary>details</summary>" + _detail_table(rows) + "</details>"


def _anchor(name: str) -> str:
    return "fn-" + "".join(ch if ch.isalnum() else "-" for ch in name)


def _function(f: FunctionReport, max_rows: int) -> str:
    parts = [f'<section id="{_anchor(f.name)}"><h2>{escape(f.name)}'
             + (" <small>(inactive)</small>" if f.inactive else "") + "</h2>",
             '<ul class="rules">' + "".join(f"<li>{escape(e)}</li>" for e in f.entries) + "</ul>"]
    if f.note:
        parts.append(f'<p class="note">{escape(f.note)}</p>')
    parts += [_signature(s, max_rows) for s in f.signatures if s.combinations]
    return "".join(parts) + "</section>"


def _legend() -> str:
    items = [("exact", "exact: a rule written for it"), ("rrule", "+10: the lifted all-active rrule"),
             ("fallback", "+cost: fallback"),
             ("wasteful", "+cost: wasteful fallback"), ("ambiguous", "ambiguous"),
             ("unresolved", "no rule: unresolved"), ("na", "– not admissible")]
    return '<p class="legend">' + "".join(f'<span class="{c}">{escape(t)}</span>' for c, t in items) + "</p>"


def _problem_links(report: CoverageReport) -> str:
    bad = [f for f in report.functions if any(c.status in (AMBIGUOUS, UNRESOLVED) or c.verified == FAILED
                                             for c in f.combinations)]
    if not bad:
        return ""
    links = ", ".join(f'<a href="#{_anchor(f.name)}">{escape(f.name)}</a>' for f in bad)
    return f"<p><b>Functions with problems:</b> {links}</p>"


def render_html(report: CoverageReport, fail_on: tuple[str, ...] = DEFAULT_FAIL_ON,
                max_rows: int = MAX_ROWS) -> str:
    """The report as one self-contained HTML page."""
    status = "failed" if report.problems(fail_on) else "ok"
    plugin_notes = "".join(f'<p class="note">{escape(str(p))}</p>' for p in report.plugins.failed)
    body = "".join(_function(f, max_rows) for f in report.functions)
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>activerules rule coverage</title><style>{_CSS}</style></head><body>"
        "<h1>activerules rule coverage</h1>"
        f'<div class="summary {status}">{escape(summary_line(report, fail_on))}</div>'
        f"{_legend()}{plugin_notes}{_problem_links(report)}{body}</body></html>\n"
    )
