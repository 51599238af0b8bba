"""verify.check_gradient: a right backward passes, a wrong one fails with a message that helps."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from hypothesis import given

import verify
from verify.api import GradientMismatch
from verify.strategies import tensors


def _layer_norm(x: torch.Tensor) -> torch.Tensor:
    return torch.nn.functional.layer_norm(x, x.shape[-1:], eps=1e-5)


def _layer_norm_backward(x: torch.Tensor, g: torch.Tensor, drop_mean: bool = False) -> tuple[torch.Tensor]:
    mu = x.mean(-1, keepdim=True)
    sigma = ((x - mu) ** 2).mean(-1, keepdim=True).add(1e-5).sqrt()
    xhat = (x - mu) / sigma
    mean_g = 0 if drop_mean else g.mean(-1, keepdim=True)
    return ((g - mean_g - xhat * (g * xhat).mean(-1, keepdim=True)) / sigma,)


def _function(backward):
    class LayerNorm(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return _layer_norm(x)

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return backward(x, g)[0]

    return LayerNorm


def test_a_right_autograd_function_passes() -> None:
    report = verify.check_gradient(_layer_norm, _function(_layer_norm_backward), tensors((4, 6), domain="spread_rows"),
                                   examples=30)
    assert report.examples == 30 and report.max_abs_error < 1e-12 and "own measured rounding" in report.tolerance


def test_a_wrong_autograd_function_fails_with_both_values() -> None:
    wrong = _function(lambda x, g: _layer_norm_backward(x, g, drop_mean=True))
    with pytest.raises(GradientMismatch) as caught:
        verify.check_gradient(_layer_norm, wrong, tensors((4, 6), domain="spread_rows"), examples=30)
    message = str(caught.value)
    assert "gradient of input 0 (shape (4, 6))" in message
    assert "yours" in message and "autograd" in message and "on the inputs" in message
    assert isinstance(caught.value, AssertionError)


def test_a_wrong_forward_is_reported_as_such() -> None:
    class Doubled(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return 2 * torch.tanh(x)

        @staticmethod
        def backward(ctx, g):
            return g

    with pytest.raises(GradientMismatch, match="the forward output"):
        verify.check_gradient(torch.tanh, Doubled, tensors((3,)), examples=5)


def test_a_formula_for_some_inputs() -> None:
    def matmul_grads(a: torch.Tensor, b: torch.Tensor, g: torch.Tensor) -> tuple[torch.Tensor]:
        return (a.T @ g,)

    report = verify.check_gradient(lambda a, b: a @ b, matmul_grads, tensors((3, 4), (4, 2)), wrt=[1], examples=10)
    assert report.examples == 10
    with pytest.raises(GradientMismatch, match="input 1"):
        verify.check_gradient(lambda a, b: a @ b, lambda a, b, g: (-(a.T @ g),), tensors((3, 4), (4, 2)), wrt=[1],
                              examples=10)


def test_a_backward_that_crashes_is_a_mismatch_with_the_shapes() -> None:
    with pytest.raises(GradientMismatch, match=r"your backward raised RuntimeError: .*\(input shapes \(3, 4\), \(4, 3\)\)"):
        verify.check_gradient(lambda a, b: a @ b, lambda a, b, g: (a @ g.T,), tensors((3, 4), (4, 3)), wrt=[1],
                              examples=10)


def test_wrong_number_of_gradients() -> None:
    with pytest.raises(GradientMismatch, match="gave 1 gradients for 2 inputs"):
        verify.check_gradient(lambda a, b: a * b, lambda a, b, g: (g * b,), (torch.ones(2), torch.ones(2)))


@given(tensors((5,), domain="real", dtype=torch.float32))
def test_inside_your_own_hypothesis_test(xs: tuple[torch.Tensor, ...]) -> None:
    def softplus_grad(x: torch.Tensor, g: torch.Tensor) -> tuple[torch.Tensor]:
        return (g * torch.sigmoid(x),)

    verify.check_gradient(torch.nn.functional.softplus, softplus_grad, xs)


def test_float32_uses_its_own_tolerance() -> None:
    x = (torch.randn(8, generator=torch.Generator().manual_seed(0)),)
    report = verify.check_gradient(torch.sin, lambda x, g: (g * torch.cos(x),), x)
    assert report.tolerance.startswith("rtol 0.0001")


def test_an_integer_label_does_not_loosen_the_tolerance() -> None:
    """Review finding: a floor from the largest input let a dropped softmax term pass in float32."""
    labels = torch.randint(0, 2000, (40,), generator=torch.Generator().manual_seed(0))
    z = torch.randn(40, 2000, generator=torch.Generator().manual_seed(1))
    loss = lambda z, y: torch.nn.functional.cross_entropy(z, y)

    def right(z, y, g):
        return (g * (torch.softmax(z, -1) - torch.nn.functional.one_hot(y, 2000)) / 40,)

    def no_softmax(z, y, g):
        return (-g * torch.nn.functional.one_hot(y, 2000).float() / 40,)

    verify.check_gradient(loss, right, (z, labels), wrt=[0])
    with pytest.raises(GradientMismatch):
        verify.check_gradient(loss, no_softmax, (z, labels), wrt=[0])


def test_a_large_input_elsewhere_does_not_loosen_the_tolerance() -> None:
    x, t = torch.randn(6), torch.full((6,), 1e6) + torch.arange(6.0)
    fn = lambda x, t: x * torch.sin(t)
    verify.check_gradient(fn, lambda x, t, g: (g * torch.sin(t),), (x, t), wrt=[0])
    for wrong in (lambda x, t, g: (-g * torch.sin(t),), lambda x, t, g: (torch.zeros_like(x),)):
        with pytest.raises(GradientMismatch):
            verify.check_gradient(fn, wrong, (x, t), wrt=[0])


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precisions_have_their_own_tolerances(dtype: torch.dtype) -> None:
    z = torch.randn(4, 8, generator=torch.Generator().manual_seed(2)).to(dtype)
    softmax = lambda z: torch.softmax(z, -1)

    def right(z, g):
        p = torch.softmax(z, -1)
        return (p * (g - (g * p).sum(-1, keepdim=True)),)

    verify.check_gradient(softmax, right, (z,))
    with pytest.raises(GradientMismatch):
        verify.check_gradient(softmax, lambda z, g: (0.75 * right(z, g)[0],), (z,))


def test_a_gradient_of_the_wrong_shape_fails_even_with_the_right_count() -> None:
    a = torch.randn(3, 5, dtype=torch.float64)
    with pytest.raises(GradientMismatch, match=r"shape \(5, 3\)"):
        verify.check_gradient(lambda a: a * 2, lambda a, g: ((2 * g).T.contiguous(),), (a,))


def test_integer_inputs_are_shown_in_the_message() -> None:
    y = torch.tensor([1, 0, 2])
    z = torch.randn(3, 3, dtype=torch.float64)
    with pytest.raises(GradientMismatch, match=r"input 1: \[1\.0, 0\.0, 2\.0\]"):
        verify.check_gradient(lambda z, y: torch.nn.functional.cross_entropy(z, y),
                              lambda z, y, g: (torch.zeros_like(z),), (z, y), wrt=[0])
