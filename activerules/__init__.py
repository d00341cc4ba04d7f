"""activerules: derivative rules that know which arguments are being differentiated.

Register a vector–Jacobian-product rule once (``ar.rrule``) or per activity
pattern (``ar.rule``); the registry resolves any requested activity tuple
through a fallback lattice, and the tape-based engine (``ar.autodiff``,
``ar.gradient``, ``ar.vjp``) uses the rules to differentiate NumPy code.
"""

from . import rules as _rules  # noqa: F401  (registers the built-in NumPy rules)
from . import testing
from .activity import (
                       Active,
                       ActiveRulesError,
                       ActivityError,
                       Annotation,
                       BatchDuplicated,
                       BatchDuplicatedNoNeed,
                       Const,
                       Duplicated,
                       DuplicatedNoNeed,
                       RevConfig,
                       RuleError,
                       ShadowRebindError,
)
from .dispatch import (
                       AmbiguousRuleError,
                       NoRuleError,
                       ParameterError,
                       RegistrationError,
                       Resolution,
                       RuleRegistry,
                       Sample,
                       inactive,
                       registry,
                       rrule,
                       rule,
                       thunk,
)
from .engine import (
    MutationError,
    UntrackedWriteError,
    autodiff,
    gradient,
    hessian,
    jacobian,
    once_differentiable,
    primitive,
    replay,
    Replayed,
    ReplayInfo,
    vjp,
)
from .plugins import load_plugins

__all__ = [
    "Annotation", "Const", "Active", "Duplicated", "DuplicatedNoNeed", "BatchDuplicated",
    "BatchDuplicatedNoNeed", "RevConfig",
    "ActiveRulesError", "ActivityError", "RuleError", "ShadowRebindError", "NoRuleError", "AmbiguousRuleError",
    "RegistrationError", "ParameterError",
    "RuleRegistry", "Resolution", "Sample", "registry", "rule", "rrule", "inactive", "thunk",
    "autodiff", "gradient", "vjp", "jacobian", "hessian", "once_differentiable", "primitive", "replay", "Replayed", "ReplayInfo", "MutationError", "UntrackedWriteError",
    "testing", "load_plugins",
]

__version__ = "0.1.0"
