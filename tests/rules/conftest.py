import sys
from pathlib import Path

# engine_helpers: gradients through the engine against central finite differences
sys.path.insert(0, str(Path(__file__).parents[1] / "engine"))
