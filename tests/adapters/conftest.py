import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from adapter_fns import CALLS  # noqa: E402


@pytest.fixture
def calls():
    """The rule call counters, cleared."""
    CALLS.clear()
    return CALLS
