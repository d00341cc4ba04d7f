"""The long run of the engine's program fuzzer (tests/engine/fuzz_programs.py).

    PYTHONPATH=. nice -n 10 python scripts/fuzz.py --programs 10000 --budget 3600

prints the counts by outcome (agree / named_error / disagree / crash /
caller_changed, per program and per request) and every distinct failure, shrunk
and printed as a regression test. ``--all-ops`` also generates the op classes of
``KNOWN_BROKEN``. ``--replay`` checks ``ar.replay`` instead (tests/engine/fuzz_replay.py):
each program on three input draws, replayed against the eager engine bit for bit.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "engine"))

import fuzz_programs  # noqa: E402
import fuzz_replay  # noqa: E402
import torch  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--programs", type=int, default=1000)
    p.add_argument("--start", type=int, default=0, help="first seed")
    p.add_argument("--budget", type=float, default=float("inf"), help="seconds")
    p.add_argument("--shrink-each", type=int, default=40, help="failures shrunk per signature")
    p.add_argument("--all-ops", action="store_true", help="generate KNOWN_BROKEN op classes too")
    p.add_argument("--report", help="file rewritten with the report so far every 500 programs")
    p.add_argument("--const-writes", action="store_true",
                   help="runtime activity: writes go into undifferentiated inputs (generate(const_writes=True))")
    p.add_argument("--replay", action="store_true",
                   help="ar.replay against the eager engine, bit for bit, on three input draws (fuzz_replay)")
    a = p.parse_args()
    torch.set_num_threads(1)  # tiny tensors: threads only cost
    exclude: dict[str, str] | None = {} if a.all_ops else None

    def text(rep: fuzz_programs.Report) -> str:
        return rep.text() + ("\n" + fuzz_replay.stats_text() if a.replay else "")

    def progress(rep: fuzz_programs.Report) -> None:
        if a.report:
            Path(a.report).write_text(text(rep) + "\n")

    check = fuzz_replay.check_program_replayed if a.replay else None
    rep = fuzz_programs.campaign(a.start, a.programs, a.budget, a.shrink_each, exclude, progress,
                                 const_writes=a.const_writes, check=check,
                                 checker="check_replay_request" if a.replay else "check_request",
                                 shrink_check=fuzz_replay.check_quietly if a.replay else None,
                                 extra_ops=fuzz_replay.EXTRA_OPS if a.replay else None)
    progress(rep)
    print(text(rep))


if __name__ == "__main__":
    main()
