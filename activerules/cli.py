"""The ``activerules`` command (also ``python -m activerules``).

* ``activerules coverage [MODULE ...]``: the rule coverage report; exit 0 when
  nothing listed in ``--fail-on`` occurs, 1 otherwise, 2 on usage errors.
* ``activerules explain FUNCTION ACTIVITY...``: how one request is resolved.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Sequence, TextIO

from .coverage import (
    DEFAULT_FAIL_ON,
    FAIL_CONDITIONS,
    FORMATS,
    MAX_ROWS,
    UsageError,
    build_report,
    explain,
    render,
    verify,
)
from .coverage.text import summary_line
from .plugins import load_plugins

__all__ = ["main", "build_parser"]

_EPILOG = """exit status: 0 when none of the --fail-on conditions occurs, 1 when one does,
2 on usage errors (unknown module or function)."""


def _fail_on(value: str) -> tuple[str, ...]:
    """Parse ``unresolved,ambiguous``; ``none`` (or empty) fails on nothing."""
    items = tuple(v.strip() for v in value.split(",") if v.strip() and v.strip() != "none")
    unknown = [v for v in items if v not in FAIL_CONDITIONS]
    if unknown:
        raise argparse.ArgumentTypeError(
            f"unknown condition(s) {', '.join(unknown)}: choose from {', '.join(FAIL_CONDITIONS)} or none")
    return items


def _positive(value: str) -> int:
    try:
        n = int(value)
    except ValueError:
        n = 0
    if n < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value!r}")
    return n


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``activerules`` command."""
    parser = argparse.ArgumentParser(prog="activerules", description="Inspect activerules derivative rules.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    cov = sub.add_parser("coverage", help="report which activity combinations have rules",
                         description="Classify every admissible activity combination of the registered "
                                     "functions: exact, rrule, fallback (wasteful?), ambiguous, unresolved; "
                                     "a function that cannot be enumerated is unknown.",
                         epilog=_EPILOG)
    cov.add_argument("modules", nargs="*", metavar="MODULE",
                     help="import these modules and report only the functions they define or register "
                          "rules for (default: every registered function)")
    cov.add_argument("--function", "-f", action="append", default=[], metavar="NAME",
                     help="report only this function (repeatable), e.g. numpy.linalg.solve")
    cov.add_argument("--format", choices=FORMATS, default="text", help="output format (default: text)")
    cov.add_argument("--output", "-o", type=Path, metavar="FILE", help="write the report to FILE")
    cov.add_argument("--verify", action="store_true",
                     help="run check_rule on every resolved combination, on the sample inputs or "
                          "else generated ones; one that cannot be checked is 'unverified'")
    cov.add_argument("--fail-on", type=_fail_on, default=DEFAULT_FAIL_ON, metavar="LIST",
                     help=f"comma-separated conditions that make the exit status 1: "
                          f"{','.join(FAIL_CONDITIONS)} or none (default: {','.join(DEFAULT_FAIL_ON)})")
    cov.add_argument("--max-rows", type=_positive, default=MAX_ROWS, metavar="N",
                     help=f"list every combination up to N per signature, else counts and the worst "
                          f"cases (default: {MAX_ROWS})")
    cov.add_argument("--no-plugins", action="store_true",
                     help="do not import the installed plugins (entry-point group activerules.rules)")

    exp = sub.add_parser("explain", help="show how one activity request is resolved",
                         description="Show the resolution of FUNCTION called with the given activities: "
                                     "the rule, the steps, the cost, where the rule is defined.",
                         epilog="example: activerules explain numpy.linalg.solve Const Duplicated")
    exp.add_argument("function", metavar="FUNCTION", help="dotted name, e.g. numpy.linalg.solve")
    exp.add_argument("activities", nargs="+", metavar="ACTIVITY",
                     help="one per argument: Const, Active, Duplicated, DuplicatedNoNeed, "
                          "BatchDuplicated, BatchDuplicatedNoNeed")
    exp.add_argument("--module", "-m", action="append", default=[], metavar="MODULE",
                     help="import this module first (repeatable)")
    exp.add_argument("--format", choices=("text", "json"), default="text",
                     help="output format (default: text)")
    return parser


def _report_plugin_failures(failures: Sequence[object], stream: TextIO) -> None:
    for failure in failures:
        print(f"activerules: warning: {failure}", file=stream)


def _coverage(args: argparse.Namespace) -> int:
    report = build_report(args.modules, args.function, plugins=not args.no_plugins)
    _report_plugin_failures(report.plugins.failed, sys.stderr)
    if args.verify:
        verify(report)
    text = render(report, args.format, args.fail_on, args.max_rows)
    if args.output is not None:
        try:
            args.output.write_text(text, encoding="utf-8")
        except OSError as e:
            raise UsageError(f"cannot write {args.output}: {e.strerror}") from None
        print(f"wrote {args.output}\nsummary: {summary_line(report, args.fail_on)}")
    else:
        sys.stdout.write(text)
    return 1 if report.problems(args.fail_on) else 0


def _explain(args: argparse.Namespace) -> int:
    from .coverage.survey import import_modules

    _report_plugin_failures(load_plugins(warn=False).failed, sys.stderr)
    import_modules(args.module)
    text, status = explain(args.function, args.activities, fmt=args.format)
    print(text)
    return status


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``activerules`` command with ``argv`` (default ``sys.argv[1:]``); returns
    the exit status (0 ok, 1 problems found, 2 usage error)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # argparse: --help (0) or a usage error (2)
        return e.code if isinstance(e.code, int) else 2
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    try:
        return _coverage(args) if args.command == "coverage" else _explain(args)
    except UsageError as e:
        print(f"activerules {args.command}: error: {e}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `activerules coverage | head`
        sys.stderr.close()
        return 0
