"""The tape-based reverse engine over NumPy (mutation, views, nested use).

``autodiff`` (Enzyme's calling convention), ``gradient`` and ``vjp`` run the
user's function on tracked stand-ins, record each NumPy call through its
resolved rule and sweep the tape backwards; ``primitive`` marks a function
whose rule the engine calls instead of tracing it. See :mod:`.standins` for the
stand-ins, :mod:`.views` for the memory model (views, copy-on-write),
:mod:`.recording` for the recording of calls, :mod:`.protocol` for how NumPy reaches
the stand-ins and :mod:`.tape` for the sweep.
"""

from .api import autodiff, gradient, primitive, vjp
from .derivatives import hessian, jacobian
from .ndarray_api import UnsupportedAttributeError
from .nested import once_differentiable
from .replay import Replayed, ReplayInfo, replay
from .standins import Tracked, TrackedScalar
from .tape import MutationError, UntrackedWriteError

__all__ = ["autodiff", "gradient", "vjp", "jacobian", "hessian", "once_differentiable", "primitive", "replay", "Replayed", "ReplayInfo", "MutationError", "UntrackedWriteError",
           "Tracked", "TrackedScalar", "UnsupportedAttributeError"]
