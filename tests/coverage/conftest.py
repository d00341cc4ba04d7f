import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from coverage_demo import make_registry  # noqa: E402


@pytest.fixture
def reg():
    """A fresh private registry with one function per classification (see coverage_demo)."""
    return make_registry()
