import sys
from pathlib import Path

# engine_helpers: gradients through the engine against central finite differences
sys.path.insert(0, str(Path(__file__).parents[1] / "engine"))
# oracle_engine: the oracles (JAX in float64, autograd) for any rules test
sys.path.insert(0, str(Path(__file__).parent))
