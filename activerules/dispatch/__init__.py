"""The registry: registration, the plum adapter, the lattice, resolution and its cache.

``registry`` is the default :class:`RuleRegistry`; ``rule``, ``rrule``,
``inactive`` and ``add_samples`` register into it.
"""

from ..activity import RuleError
from .errors import AmbiguousRuleError, NoRuleError, RegistrationError, RuleLookupError
from .kinds import ARRAY, SCALAR, STATIC, kind_of, kind_of_type, normalise_type
from .lattice import Step, admissible_requests
from .lifting import Thunk, thunk, unthunk
from .params import KEYWORD_ALIASES, ParameterError, check_call, check_positional, check_values, signature_of
from .resolution import Resolution, RuleEntry, format_activities, function_name
from .rule_registry import MUTATES_MARK, PRIMITIVE_MARK, RuleRegistry, Sample, is_primitive

__all__ = [
    "RuleRegistry", "Sample", "Resolution", "RuleEntry", "Step", "registry",
    "rule", "rrule", "inactive", "add_samples", "thunk", "unthunk", "Thunk",
    "NoRuleError", "AmbiguousRuleError", "ParameterError", "KEYWORD_ALIASES", "check_call", "check_positional", "check_values", "signature_of", "RuleLookupError", "RegistrationError", "RuleError",
    "kind_of", "kind_of_type", "normalise_type", "ARRAY", "SCALAR", "STATIC",
    "admissible_requests", "function_name", "format_activities", "PRIMITIVE_MARK", "MUTATES_MARK", "is_primitive",
]

#: the default registry every built-in rule and every plugin registers into
registry = RuleRegistry(require_primitive=True)

rule = registry.rule
rrule = registry.rrule
inactive = registry.inactive
add_samples = registry.add_samples
