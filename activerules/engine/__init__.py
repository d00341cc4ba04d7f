"""The tape-based reverse engine over NumPy (mutation, views, nested use).

``autodiff`` (Enzyme's calling convention), ``gradient`` and ``vjp`` run the
user's function on tracked stand-ins, record each NumPy call through its
resolved rule and sweep the tape backwards; ``primitive`` marks a function
whose rule the engine calls instead of tracing it. See :mod:`.tracked` for the
memory model (views, copy-on-write) and :mod:`.tape` for the sweep.
"""

from .api import autodiff, gradient, primitive, vjp
from .derivatives import hessian, jacobian
from .nested import once_differentiable
from .tape import MutationError, UntrackedWriteError
from .tracked import Tracked, TrackedScalar, UnsupportedAttributeError

__all__ = ["autodiff", "gradient", "vjp", "jacobian", "hessian", "once_differentiable", "primitive", "MutationError", "UntrackedWriteError",
           "Tracked", "TrackedScalar", "UnsupportedAttributeError"]
