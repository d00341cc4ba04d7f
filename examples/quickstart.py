"""Quick start: one rule registered once, resolved for several activity combinations."""
import numpy as np

import activerules as ar


@ar.primitive                              # ar.gradient calls the rules below instead of tracing it
def scale_add(A, x, s):
    """y = s * (A @ x)"""
    return s * (A @ x)

@ar.rrule(scale_add)                       # written once, all arguments active
def _scale_add(A, x, s):
    Ax = A @ x
    y = s * Ax
    return y, lambda ybar: (ar.thunk(lambda: s * np.outer(ybar, x)),   # never formed when A is Const
                            s * (A.T @ ybar),
                            float(ybar @ Ax))

@ar.rule(scale_add, ar.Const, ar.Duplicated, ar.Annotation)   # a cheaper rule for a Const matrix
def _scale_add_const_A(cfg, A, x, s):
    y = s.val * (A.val @ x.val)
    def reverse(ybar):
        x.dval += s.val * (A.val.T @ ybar)                   # accumulate into the shadow
        return (None, None, float(ybar @ (A.val @ x.val)) if isinstance(s, ar.Active) else None)
    return y, reverse

types = (np.ndarray, np.ndarray, float)
for acts in [(ar.Const, ar.Duplicated, ar.Active),
             (ar.Const, ar.DuplicatedNoNeed, ar.Const),
             (ar.Duplicated, ar.Const, ar.Active),
             (ar.BatchDuplicated, ar.BatchDuplicated, ar.Const)]:
    print(ar.registry.resolve(scale_add, acts, types))

A, x = np.array([[1.0, 2.0], [3.0, 4.0]]), np.array([1.0, -1.0])
res = ar.registry.resolve(scale_add, (ar.Const, ar.Duplicated, ar.Active), types)
dx = np.zeros(2)
y, reverse = res(ar.RevConfig(res.activities), ar.Const(A), ar.Duplicated(x, dx), ar.Active(2.0))
print(reverse(np.ones(2)), dx)   # (None, None, ds) and dx += s * A^T ybar
