"""to_torch: gradients, needs_input_grad reaching the rule, in-place with mark_dirty,
once_differentiable, version checks, no_grad, dtypes."""

import numpy as np
import pytest
import torch
from adapter_fns import CASES, axpy_, inputs, matvec, polar, reference, scaled_tanh

import activerules as ar
from activerules.adapters.torch import to_torch

tmatvec = to_torch(matvec)
taxpy_ = to_torch(axpy_, mutates=(0,))
tscaled_tanh = to_torch(scaled_tanh)
tpolar = to_torch(polar)


def _axpy_loss(y, a, x):
    y = y * 1                 # in place on a non-leaf copy, as torch requires
    return (taxpy_(y, a, x) ** 2).sum()


LOSSES = {
    "matvec": lambda A, x: torch.sin(tmatvec(A, x)).sum(),
    "axpy": _axpy_loss,
    "scaled_tanh": lambda a, x: torch.cos(tscaled_tanh(a, x)).sum(),
    "polar": lambda x, y: (lambda r, t: (r ** 2 * torch.sin(t)).sum())(*tpolar(x, y)),
}


def _leaves(args, grad=True):
    return [torch.tensor(a, dtype=torch.float64, requires_grad=grad) for a in args]


@pytest.mark.parametrize("case", sorted(CASES))
def test_gradients_match_engine_and_finite_differences(case):
    d = inputs()
    args = [d[n] for n in CASES[case][2]]
    expected = reference(case, args)
    leaves = _leaves(args)
    LOSSES[case](*leaves).backward()
    for t, e in zip(leaves, expected):
        np.testing.assert_allclose(t.grad.numpy(), e, rtol=1e-10)


def test_requires_grad_false_runs_the_specialised_rule(calls):
    d = inputs()
    expected = reference("matvec", [d["A"], d["x"]])[0]
    A = torch.tensor(d["A"], requires_grad=True)
    LOSSES["matvec"](A, torch.tensor(d["x"])).backward()
    np.testing.assert_allclose(A.grad.numpy(), expected, rtol=1e-10)
    assert dict(calls) == {"matvec.dup_const": 1}          # no rrule, no thunk


def test_the_other_thunk_is_never_evaluated(calls):
    d = inputs()
    x = torch.tensor(d["x"], requires_grad=True)
    LOSSES["matvec"](torch.tensor(d["A"]), x).backward()
    assert dict(calls) == {"matvec.rrule": 1, "matvec.thunk_x": 1}


def test_autograd_grad_with_respect_to_one_input_still_computes_both(calls):
    # torch's needs_input_grad mirrors requires_grad, not the inputs= of autograd.grad
    # (pytorch#56500): activity is what requires_grad says
    d = inputs()
    expected = reference("matvec", [d["A"], d["x"]])[0]
    A, x = _leaves([d["A"], d["x"]])
    (gA,) = torch.autograd.grad(LOSSES["matvec"](A, x), A)
    np.testing.assert_allclose(gA.numpy(), expected, rtol=1e-10)
    assert dict(calls) == {"matvec.rrule": 1, "matvec.thunk_A": 1, "matvec.thunk_x": 1}


def test_no_grad_records_nothing(calls):
    d = inputs()
    A, x = _leaves([d["A"], d["x"]])
    with torch.no_grad():
        y = tmatvec(A, x)
    assert not y.requires_grad and dict(calls) == {"matvec": 1}    # the function, no rule
    np.testing.assert_allclose(y.numpy(), d["A"] @ d["x"])


def test_in_place_marks_dirty_and_returns_the_same_tensor(calls):
    d = inputs()
    y0, a, x = _leaves([d["y"], d["a"], d["x"]])
    y = y0 * 1
    version = y._version
    out = taxpy_(y, a, x)
    assert out is y and y._version > version
    np.testing.assert_allclose(y.detach().numpy(), d["y"] + d["a"] * d["x"])
    assert y.grad_fn is not None and "axpy_" in type(y.grad_fn).__name__
    (y ** 2).sum().backward()
    e = reference("axpy", [d["y"], d["a"], d["x"]])
    for t, ei in zip((y0, a, x), e):
        np.testing.assert_allclose(t.grad.numpy(), ei, rtol=1e-10)


def test_in_place_needs_a_cpu_tensor():
    with pytest.raises(TypeError, match="CPU tensor"):
        taxpy_(np.zeros(4), 1.0, torch.zeros(4))


def test_in_place_on_a_leaf_raises_torch_error():
    d = inputs()
    y, a, x = _leaves([d["y"], d["a"], d["x"]])
    with pytest.raises(RuntimeError, match="leaf"):
        taxpy_(y, a, x)


def test_double_backward_raises_an_activerules_error():
    # failed before: torch's own "trying to differentiate twice ... once_differentiable"
    d = inputs()
    A, x = _leaves([d["A"], d["x"]])
    (gx,) = torch.autograd.grad(LOSSES["matvec"](A, x), x, create_graph=True)
    np.testing.assert_allclose(gx.detach().numpy(), reference("matvec", [d["A"], d["x"]])[1], rtol=1e-10)
    with pytest.raises(ar.ActiveRulesError, match=r"activerules: to_torch\(matvec\).*torch operations"):
        gx.sum().backward()
    with pytest.raises(NotImplementedError, match="First derivatives work"):
        torch.autograd.functional.hessian(lambda x: LOSSES["matvec"](A.detach(), x), torch.tensor(d["x"]))


def test_modifying_a_saved_input_before_backward_raises():
    d = inputs()
    A = torch.tensor(d["A"], requires_grad=True)
    x = torch.tensor(d["x"])
    loss = LOSSES["matvec"](A, x)
    with torch.no_grad():
        x.add_(1.0)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        loss.backward()


def test_zero_dim_tensor_is_active_and_dtypes_are_kept(calls):
    d = inputs()
    a = torch.tensor(d["a"], dtype=torch.float32, requires_grad=True)
    x = torch.tensor(d["x"], dtype=torch.float32)
    y = tscaled_tanh(a, x)
    assert y.dtype == torch.float32
    torch.cos(y).sum().backward()
    assert a.grad.dtype == torch.float32 and a.grad.shape == ()
    expected = reference("scaled_tanh", [d["a"], d["x"]])[0]
    np.testing.assert_allclose(a.grad.item(), expected, rtol=1e-5)


def test_retain_graph_allows_a_second_backward(calls):
    d = inputs()
    A, x = _leaves([d["A"], d["x"]])
    loss = LOSSES["matvec"](A, x)
    loss.backward(retain_graph=True)
    first = x.grad.clone()
    loss.backward()
    np.testing.assert_allclose(x.grad.numpy(), 2 * first.numpy(), rtol=1e-12)


def test_non_tensor_and_keyword_arguments_are_const():
    d = inputs()
    A = torch.tensor(d["A"], requires_grad=True)
    total = to_torch(np.sum)
    torch.sin(total(A, 1)).sum().backward()              # a positional int: Const
    np.testing.assert_allclose(A.grad.numpy(), np.cos(d["A"].sum(1))[:, None] * np.ones((3, 4)), rtol=1e-12)
    A.grad = None
    torch.sin(total(A, axis=0)).sum().backward()         # a keyword: passed through
    np.testing.assert_allclose(A.grad.numpy(), np.cos(d["A"].sum(0))[None, :] * np.ones((3, 4)), rtol=1e-12)


def test_tuple_output_with_one_component_used():
    d = inputs()
    x, y = _leaves([d["x"], d["y"]])
    r, t = tpolar(x, y)
    r.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), d["x"] / np.hypot(d["x"], d["y"]), rtol=1e-12)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine")
def test_gpu_tensors_are_copied_to_the_host_and_back():
    d = inputs()
    A, x = (torch.tensor(v, device="cuda", requires_grad=True) for v in (d["A"], d["x"]))
    y = tmatvec(A, x)
    assert y.device.type == "cuda"
    LOSSES["matvec"](A, x).backward()
    assert A.grad.device.type == "cuda" and x.grad.device.type == "cuda"
    for g, e in zip((A.grad, x.grad), reference("matvec", [d["A"], d["x"]])):
        np.testing.assert_allclose(g.cpu().numpy(), e, rtol=1e-10)


def test_pytree_arguments_and_outputs():
    # failed before: the dict and the list reached the rule with tensors inside, untracked by torch
    from adapter_fns import TREES_SEEN, Pair, tree_model

    rng = np.random.default_rng(3)
    p = {"w": torch.tensor(rng.standard_normal(4), requires_grad=True),
         "b": torch.tensor(rng.standard_normal(4), requires_grad=True)}
    xs = [torch.tensor(rng.standard_normal(4), requires_grad=True), torch.tensor(rng.standard_normal(4))]
    f = to_torch(tree_model)
    TREES_SEEN.clear()
    out = f(p, xs)
    assert isinstance(out, Pair) and TREES_SEEN == [("dict", "list")]
    torch.sum(torch.sin(out.lin) * out.sq).backward()
    got = [p["w"].grad, p["b"].grad, xs[0].grad]
    for t in (p["w"], p["b"], xs[0]):
        t.grad = None
    lin = p["w"] * xs[0] + p["b"]                     # the same model in torch: the oracle
    torch.sum(torch.sin(lin) * lin * xs[1]).backward()
    for g, t in zip(got, (p["w"], p["b"], xs[0])):
        np.testing.assert_allclose(g.numpy(), t.grad.numpy(), rtol=1e-12)
    assert xs[1].grad is None
    with torch.no_grad():
        plain = f(p, xs)
    assert isinstance(plain, Pair) and isinstance(plain.sq, torch.Tensor)
