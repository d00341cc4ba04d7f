"""Cross-engine check: gradients of composite NumPy programs through the
built-in rules (our engine) agree with HIPS autograd to 1e-8 relative."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import autograd  # the test extra installs it
import autograd.numpy as anp
import numpy as np
import pytest

from activerules.engine import gradient

RTOL = 1e-8
_rng = np.random.default_rng(42)


def _programs(xp: Any) -> dict[str, tuple[Callable[..., Any], tuple[Any, ...]]]:
    """The same programs written against ``xp`` (NumPy for us, autograd.numpy for autograd)."""

    def softmax_loss(x: Any) -> Any:
        e = xp.exp(x - xp.max(x, axis=-1, keepdims=True))
        p = e / xp.sum(e, axis=-1, keepdims=True)
        return xp.sum(p * W_SOFT)

    def logsumexp(x: Any) -> Any:
        m = xp.max(x)
        return m + xp.log(xp.sum(xp.exp(x - m)))

    def mlp_loss(W1: Any, b1: Any, W2: Any, b2: Any) -> Any:
        h = xp.tanh(xp.dot(X_MLP, W1) + b1)
        out = xp.matmul(h, W2) + b2
        return xp.mean((out - Y_MLP) ** 2)

    def gaussian_loglik(A: Any, mu: Any) -> Any:
        sigma = xp.dot(A, A.T) + xp.eye(A.shape[0])
        L = xp.linalg.cholesky(sigma)
        r = X_GAUSS - mu
        alpha = xp.linalg.solve(L, r.T)
        logdet = 2.0 * xp.sum(xp.log(xp.diag(L)))
        n, d = X_GAUSS.shape
        return -0.5 * xp.sum(alpha * alpha) - 0.5 * n * logdet - 0.5 * n * d * xp.log(2 * xp.pi)

    def least_squares(X: Any, y: Any) -> Any:
        G = xp.dot(X.T, X) + 0.1 * xp.eye(X.shape[1])
        w = xp.linalg.solve(G, xp.dot(X.T, y))
        resid = xp.dot(X, w) - y
        return xp.sum(resid ** 2) + 0.1 * xp.sum(w ** 2)

    def ridge_fit(w: Any) -> Any:
        return xp.sum((xp.dot(X_LS, w) - Y_LS) ** 2) + 0.5 * xp.sum(w * w)

    def assorted(x: Any) -> Any:
        a = xp.reshape(x, (3, 4))
        b = xp.concatenate([a, xp.abs(a) ** 1.5], axis=0)
        c = xp.where(b > 0.1, xp.sin(b), xp.cos(b) * b)
        d = xp.sort(xp.ravel(c))[::2]
        e = xp.cumsum(xp.transpose(c), axis=1)
        f = xp.einsum("ij,jk->ik", c, xp.transpose(c))
        return (xp.sum(d) + xp.var(e) + xp.std(c, axis=0).sum() + xp.linalg.norm(f)
                + xp.prod(xp.tanh(a[0]) + 2.0) + xp.maximum(a, 0.2).mean())

    def matrix_functions(M: Any) -> Any:
        S = xp.dot(M, M.T) + 3.0 * xp.eye(3)
        sign, logdet = xp.linalg.slogdet(S)
        return logdet + xp.trace(xp.linalg.inv(S)) + xp.linalg.det(M) ** 2 + xp.sum(xp.linalg.eigh(S)[0] ** 2)

    def attention(Q: Any, K: Any, V: Any) -> Any:
        s = xp.einsum("id,jd->ij", Q, K) / 2.0
        e = xp.exp(s - xp.max(s, axis=1, keepdims=True))
        return xp.sum(xp.einsum("ij,jk->ik", e / xp.sum(e, axis=1, keepdims=True), V) ** 2)

    def elementwise(x: Any, y: Any) -> Any:
        return xp.sum(xp.arctan2(x, y) + xp.hypot(x, y) + xp.log1p(x ** 2) + xp.expm1(y / 3)
                      + xp.power(xp.abs(x) + 1, y) + xp.logaddexp(x, y) + xp.sinh(x) * xp.cosh(y)
                      + xp.sqrt(x * x + 1) + xp.arcsinh(y) + xp.reciprocal(y * y + 1) + xp.minimum(x, y))

    def statistics(x: Any) -> Any:
        return (xp.var(x, axis=0).sum() + xp.std(x) + xp.mean(xp.cumsum(x, axis=1) ** 2)
                + xp.prod(x[:, :2] + 3.0) + xp.linalg.norm(x) + xp.linalg.norm(x, axis=1).sum()
                + xp.max(x, axis=0).sum() - xp.min(x))

    def rearrangements(x: Any) -> Any:
        return (xp.sum(xp.tile(x, (2, 1)) * xp.arange(24.0).reshape(4, 6)) + xp.sum(xp.roll(x, 1, axis=1)[::-1] ** 3)
                + xp.sum(xp.diag(xp.dot(x[:, :2], x[:, :2].T))) + xp.sum(xp.triu(x[:, :2]) ** 2)
                + xp.sum(xp.repeat(x, 2, axis=0) ** 2) + xp.sum(xp.swapaxes(xp.expand_dims(x, 0), 0, 2) ** 2)
                + xp.sum(xp.transpose(xp.reshape(x, (3, 2, 2)), (2, 0, 1))[0] ** 2))

    def products(a: Any, b: Any) -> Any:
        return (xp.sum(xp.kron(a, b) ** 2) + xp.sum(xp.tensordot(a, b, axes=([1], [0])) ** 2)
                + xp.sum(xp.outer(a[0], b[:, 1]) ** 3) + xp.inner(a[0], b[:, 0]))

    def decompositions(M: Any) -> Any:
        S = M + 4 * xp.eye(3)
        return (xp.linalg.det(S) + xp.sum(xp.linalg.pinv(M[:, :2]) ** 2) + xp.sum(xp.linalg.inv(S))
                + xp.sum(xp.linalg.solve(S, M[:, 0])) + xp.trace(xp.dot(S, S.T)))

    def spectral(x: Any) -> Any:
        X = xp.fft.rfft(x)
        smooth = xp.fft.irfft(X * H_SPEC, len(x))
        return (xp.sum(xp.abs(X) ** 2) + xp.sum(smooth ** 3) + xp.sum(xp.real(xp.fft.ifft(xp.fft.fft(x) * 2.0)))
                + xp.sum(xp.abs(xp.fft.fft2(xp.reshape(x, (2, 4)))) ** 2))

    return {
        "spectral": (spectral, (_rng.standard_normal(8),)),
        "attention": (attention, (_rng.standard_normal((4, 3)), _rng.standard_normal((5, 3)),
                                  _rng.standard_normal((5, 2)))),
        "elementwise": (elementwise, (_rng.standard_normal(6), _rng.standard_normal(6))),
        "statistics": (statistics, (_rng.standard_normal((3, 4)),)),
        "rearrangements": (rearrangements, (_rng.standard_normal((2, 6)),)),
        "products": (products, (_rng.standard_normal((2, 3)), _rng.standard_normal((3, 2)))),
        "decompositions": (decompositions, (_rng.standard_normal((3, 3)),)),
        "softmax": (softmax_loss, (_rng.standard_normal((4, 5)),)),
        "logsumexp": (logsumexp, (_rng.standard_normal(7),)),
        "mlp": (mlp_loss, (_rng.standard_normal((3, 6)) * 0.5, _rng.standard_normal(6) * 0.1,
                           _rng.standard_normal((6, 2)) * 0.5, _rng.standard_normal(2) * 0.1)),
        "gaussian_loglik": (gaussian_loglik, (_rng.standard_normal((3, 3)), _rng.standard_normal(3))),
        "least_squares": (least_squares, (_rng.standard_normal((8, 3)), _rng.standard_normal(8))),
        "ridge_fit": (ridge_fit, (_rng.standard_normal(3),)),
        "assorted": (assorted, (_rng.standard_normal(12),)),
        "matrix_functions": (matrix_functions, (_rng.standard_normal((3, 3)),)),
    }


W_SOFT = _rng.standard_normal((4, 5))
H_SPEC = np.exp(-np.arange(5.0)) * (1 + 0.5j)
X_MLP, Y_MLP = _rng.standard_normal((10, 3)), _rng.standard_normal((10, 2))
X_GAUSS = _rng.standard_normal((6, 3))
X_LS, Y_LS = _rng.standard_normal((9, 3)), _rng.standard_normal(9)
OURS, THEIRS = _programs(np), _programs(anp)


@pytest.mark.parametrize("name", sorted(OURS))
def test_gradients_agree_with_autograd(name: str) -> None:
    ours, args = OURS[name]
    theirs, _ = THEIRS[name]
    argnums = tuple(range(len(args)))
    got = gradient(ours, *[a.copy() for a in args], argnums=argnums)
    expected = autograd.grad(theirs, argnums)(*args)
    assert len(got) == len(expected)
    for g, e in zip(got, expected):
        np.testing.assert_allclose(g, e, rtol=RTOL, atol=1e-12 * max(1.0, float(np.max(np.abs(e)))))
