"""The README's quick start is the real output of examples/quickstart.py."""

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_quickstart_output_is_what_the_readme_shows():
    out = subprocess.run([sys.executable, "examples/quickstart.py"], cwd=ROOT, capture_output=True,
                         text=True, check=True).stdout
    readme = (ROOT / "README.md").read_text()
    shown = re.search(r"prints \(`python examples/quickstart.py`\) how each request is served:\n\n```\n(.*?)```",
                      readme, re.S)
    assert shown is not None
    assert out.startswith(shown.group(1))
    # the last line: reverse returned ds = ybar . (A x) and accumulated s * A^T ybar into dx
    assert out.rstrip().splitlines()[-1] == "(None, None, -2.0) [ 8. 12.]"
