"""Built-in rules for NumPy, one module per area (ChainRules style).

Importing this package registers every rule in the default registry; the
package ``activerules`` does so on import.  ``indexing`` (``__getitem__``,
``__setitem__``, ``np.copyto``) is maintained with the engine.
"""

from importlib import import_module

__all__: list[str] = []

_MODULES = (  # by area; the order in which their rules register
    "elementwise", "binary", "pointwise", "ufunc_at",
    "reductions", "folds", "scans", "statistics", "differences", "norms",
    "shapes", "products", "solves", "decompositions",
    "fft", "constructors", "histograms", "inactive", "indexing",
)

for _name in _MODULES:
    try:
        import_module(f"{__name__}.{_name}")
    except ModuleNotFoundError as _err:  # a module not written yet
        if _err.name != f"{__name__}.{_name}":
            raise
