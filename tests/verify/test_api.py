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


# --- issue 16: several outputs, phases, per-entry comparison, side effects, kinks, reproduction ---------------
class _Polar(torch.autograd.Function):
    """Two outputs, r * cos(t) and r * sin(t), with a hand-written backward."""

    @staticmethod
    def forward(ctx, r, t):
        ctx.save_for_backward(r, t)
        return r * torch.cos(t), r * torch.sin(t)

    @staticmethod
    def backward(ctx, gx, gy):
        r, t = ctx.saved_tensors
        return gx * torch.cos(t) + gy * torch.sin(t), -gx * r * torch.sin(t) + gy * r * torch.cos(t)


class _PolarFirstOnly(_Polar):
    @staticmethod
    def backward(ctx, gx, gy):  # the second output's upstream ignored
        r, t = ctx.saved_tensors
        return gx * torch.cos(t), -gx * r * torch.sin(t)


def _polar(r, t):
    return r * torch.cos(t), r * torch.sin(t)


def test_a_function_with_two_outputs() -> None:
    report = verify.check_gradient(_polar, _Polar, tensors((3, 4), (3, 4)), examples=20)
    assert report.outputs == 2
    with pytest.raises(GradientMismatch) as caught:
        verify.check_gradient(_polar, _PolarFirstOnly, tensors((3, 4), (3, 4)), examples=20, save=False)
    assert caught.value.output == 1 and caught.value.entry is not None
    assert str(caught.value).startswith("output 1: the gradient of input 0 (shape (3, 4)) differs from autograd at entry")


def test_a_formula_gets_one_upstream_per_output() -> None:
    def formula(r, t, gx, gy):
        return gx * torch.cos(t) + gy * torch.sin(t), r * (gy * torch.cos(t) - gx * torch.sin(t))

    verify.check_gradient(_polar, formula, tensors((2, 3), (2, 3)), examples=10)


def test_integer_inputs_are_not_differentiated_by_default() -> None:
    z, y = torch.randn(4, 3, dtype=torch.float64), torch.tensor([0, 2, 1, 2])
    fn = lambda z, y: torch.nn.functional.cross_entropy(z, y)
    right = lambda z, y, g: (g * (torch.softmax(z, -1) - torch.nn.functional.one_hot(y, 3)) / 4,)
    verify.check_gradient(fn, right, (z, y))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_a_wrong_row_next_to_a_huge_row_fails(dtype: torch.dtype) -> None:
    """The old tensor-wide scale let a row that is 2x wrong pass next to a row of 1e6 (float32) / 1e10 (float64)."""
    big = 1e6 if dtype == torch.float32 else 1e10
    w = torch.tensor([[1.0, 2.0, 3.0], [big, big, big]], dtype=dtype)
    x = torch.randn(2, 3, dtype=dtype, generator=torch.Generator().manual_seed(0))
    fn = lambda x, w: x * w

    def wrong(x, w, g):
        grad = g * w
        grad[0] *= 2
        return (grad, g * x)

    verify.check_gradient(fn, lambda x, w, g: (g * w, g * x), (x, w))
    with pytest.raises(GradientMismatch, match=r"input 0 .* at entry \(0, "):
        verify.check_gradient(fn, wrong, (x, w), save=False)


def test_a_small_regularisation_term_is_seen_in_float32() -> None:
    w = torch.randn(20, 10, generator=torch.Generator().manual_seed(3))
    fn = lambda w: (w**2).sum() / 2 + 1e-3 * (w**2).sum()
    verify.check_gradient(fn, lambda w, g: (g * (w + 2e-3 * w),), (w,))
    with pytest.raises(GradientMismatch, match="float32 resolves only about"):
        verify.check_gradient(fn, lambda w, g: (g * w,), (w,), save=False)


@pytest.mark.parametrize(
    ("fn", "yours", "phase", "match"),
    [
        (torch.tanh, lambda x, g: (g * undefined_name,), "backward", "your backward raised NameError"),  # noqa: F821
        (lambda x: x.nonexistent(), lambda x, g: (g,), "reference", "the reference fn raised AttributeError"),
        (torch.tanh, lambda x, g: ({}["key"],), "backward", "your backward raised KeyError"),
    ],
)
def test_the_phase_that_failed_is_named(fn, yours, phase: str, match: str) -> None:
    with pytest.raises(GradientMismatch, match=match) as caught:
        verify.check_gradient(fn, yours, (torch.randn(2, 3),), save=False)
    assert caught.value.phase == phase and "input shapes (2, 3)" in str(caught.value)


def test_a_function_whose_forward_raises_is_blamed_as_the_forward() -> None:
    class Broken(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x.reshape(7)

        @staticmethod
        def backward(ctx, g):
            return g

    with pytest.raises(GradientMismatch, match="your forward raised RuntimeError") as caught:
        verify.check_gradient(torch.tanh, Broken, (torch.randn(2, 3),), save=False)
    assert caught.value.phase == "forward"


def test_in_place_changes_never_reach_the_caller() -> None:
    x = torch.randn(3, 4, dtype=torch.float64)
    kept = x.clone()

    def zeroing(x, g):
        grad = g * torch.cos(x)
        x.zero_()
        return (grad,)

    with pytest.warns(verify.api.InPlaceChange, match="changed input 0 in place"):
        report = verify.check_gradient(torch.sin, zeroing, (x,))
    assert torch.equal(x, kept) and report.notes


@pytest.mark.parametrize(
    ("inputs", "match"),
    [((torch.tensor([1.0, float("nan")]),), r"input 0 is nan at entry \(1,\)"),
     ((torch.tensor([float("inf")]),), "input 0 is inf"),
     ((torch.zeros(0, 3),), "no entries")],
)
def test_degenerate_inputs_get_a_clear_message(inputs, match: str) -> None:
    from verify.strategies import InvalidInput

    with pytest.raises(InvalidInput, match=match):
        verify.check_gradient(torch.sin, lambda x, g: (g * torch.cos(x),), inputs)


def test_numpy_arrays_point_to_check_layer() -> None:
    import numpy as np

    with pytest.raises(TypeError, match="verify.check_layer"):
        verify.check_gradient(torch.sin, lambda x, g: (g,), (np.ones(3),))


class _ReluOneAtZero(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x.clamp_min(0)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * (x >= 0)  # 1 at 0 where autograd chose 0: both valid subgradients


def test_a_kink_is_reported_and_any_subgradient_can_be_accepted() -> None:
    x = torch.tensor([[0.0, 1.0], [-1.0, 2.0]], dtype=torch.float64)
    relu = lambda x: torch.relu(x)
    with pytest.raises(GradientMismatch, match="sits on a kink or a tie") as caught:
        verify.check_gradient(relu, _ReluOneAtZero, (x,), save=False)
    assert caught.value.entry == (0, 0)
    verify.check_gradient(relu, _ReluOneAtZero, (x,), subgradients=True)


def test_the_failing_inputs_are_saved_and_reproduce(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("GRADPROOF_FAILURES", str(tmp_path))
    wrong = lambda z, v: (torch.softmax(z, -1) * v,)
    softmax = lambda z: torch.softmax(z, -1)
    with pytest.raises(GradientMismatch) as caught:
        verify.check_gradient(softmax, wrong, tensors((3, 5)), examples=10)
    error = caught.value
    assert error.saved and error.saved.endswith(".pt") and error.seed is not None
    assert "verify.check_gradient(<lambda>, <lambda>, torch.load(" in str(error)
    again = torch.load(error.saved)
    assert all(torch.equal(a, b) for a, b in zip(again, error.inputs))
    with pytest.raises(GradientMismatch) as replay:
        verify.check_gradient(softmax, wrong, again, save=False)
    assert replay.value.entry == error.entry


def test_our_frames_are_hidden_from_pytest_tracebacks() -> None:
    assert "__tracebackhide__" in verify.api.check_gradient.__code__.co_varnames


@pytest.mark.cuda
def test_a_custom_function_on_cuda_agrees_with_the_cpu() -> None:
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    r = torch.rand(64, 32, dtype=torch.float64, generator=torch.Generator().manual_seed(0)) + 0.5
    t = torch.randn(64, 32, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    cpu = verify.check_gradient(_polar, _Polar, (r, t))
    gpu = verify.check_gradient(_polar, _Polar, (r.cuda(), t.cuda()))
    assert gpu.examples == cpu.examples == 1 and gpu.outputs == 2
    gr, gt = r.cuda().requires_grad_(), t.cuda().requires_grad_()
    x, y = _Polar.apply(gr, gt)
    (x.sum() + 2 * y.sum()).backward()
    cr, ct = r.clone().requires_grad_(), t.clone().requires_grad_()
    x, y = _Polar.apply(cr, ct)
    (x.sum() + 2 * y.sum()).backward()
    assert torch.allclose(gr.grad.cpu(), cr.grad, rtol=1e-12, atol=1e-12)
    assert torch.allclose(gt.grad.cpu(), ct.grad, rtol=1e-12, atol=1e-12)
    with pytest.raises(GradientMismatch, match="output 1"):
        verify.check_gradient(_polar, _PolarFirstOnly, (r.cuda(), t.cuda()), save=False)
    for dtype in (torch.float32, torch.float64):
        verify.check_gradient(_polar, _Polar, tensors((8, 16), (8, 16), dtype=dtype, device="cuda"), examples=10)


def test_a_backward_right_only_at_square_shapes_fails_at_drawn_shapes() -> None:
    """Centring a row, its gradient scaled by 1/shape[0] where 1/shape[-1] belongs: right when N == D."""
    centre = lambda x: x - x.mean(-1, keepdim=True)

    def square_only(x, g):
        return (g - g.sum(-1, keepdim=True) / x.shape[0],)

    verify.check_gradient(centre, square_only, tensors((3, 3)), examples=5)
    with pytest.raises(GradientMismatch) as caught:
        verify.check_gradient(centre, square_only, tensors(("N", "D"), sizes={"N": (1, 4), "D": (1, 4)}),
                              examples=20, save=False)
    n, d = caught.value.inputs[0].shape
    assert n != d and n + d <= 3  # shrunk to the smallest non-square shape


class _MaxWithIndex(torch.autograd.Function):
    """Row max and its index (an integer output, like torch.max): only the values have a gradient."""

    @staticmethod
    def forward(ctx, x):
        values, index = x.max(-1)
        ctx.save_for_backward(index)
        ctx.mark_non_differentiable(index)
        ctx.shape = x.shape
        return values, index

    @staticmethod
    def backward(ctx, g, _):
        (index,) = ctx.saved_tensors
        return torch.zeros(ctx.shape, dtype=g.dtype).scatter(-1, index.unsqueeze(-1), g.unsqueeze(-1))


def test_an_integer_output_has_no_upstream() -> None:
    verify.check_gradient(lambda x: x.max(-1), _MaxWithIndex, tensors((3, 4), domain="distinct"), examples=10)


def test_non_tensor_arguments_are_passed_along_and_never_differentiated() -> None:
    x = torch.randn(2, 5, dtype=torch.float64)
    fn = lambda x, options: torch.nn.functional.leaky_relu(x, options["slope"])
    right = lambda x, options, g: (g * torch.where(x > 0, torch.ones_like(x), torch.full_like(x, options["slope"])),)
    verify.check_gradient(fn, right, (x, {"slope": 0.1}))
    with pytest.raises(GradientMismatch, match=r"input 1: \{'slope': 0.1\}"):
        verify.check_gradient(fn, lambda x, options, g: (g * (x > 0),), (x, {"slope": 0.1}), save=False)


def test_a_nan_gradient_never_passes_as_within_tolerance() -> None:
    x = torch.tensor([0.0, 1.0, 4.0], dtype=torch.float64)  # autograd's d sqrt(x) at 0 is inf
    verify.check_gradient(torch.sqrt, lambda x, g: (g * 0.5 / torch.sqrt(x),), (x,))
    with pytest.raises(GradientMismatch, match=r"entry \(0,\)"):
        verify.check_gradient(torch.sqrt, lambda x, g: (g * 0.5 / torch.sqrt(x + 1e-12),), (x,), save=False)
    with pytest.raises(GradientMismatch):
        verify.check_gradient(torch.sin, lambda x, g: (g * torch.cos(x) / (x != 0),), (x,), save=False)
