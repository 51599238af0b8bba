"""check_layer on the code of review 16: 0-d inputs, float32 forwards, dicts of gradients, extra outputs,
boolean padding masks, argument errors kept apart from bugs."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("torch")

from verify.failure import GradientMismatch
from verify.layers import LayerArgumentError, check_layer
from verify.strategies import make_any


def leaky_forward(x, alpha):
    return np.where(x > 0, x, alpha * x), (x, alpha)


def leaky_backward(dout, cache):
    x, alpha = cache
    return dout * np.where(x > 0, 1.0, alpha), np.sum(dout * np.where(x > 0, 0.0, x))


def leaky_backward_wrong(dout, cache):
    x, alpha = cache
    return dout * np.where(x > 0, 1.0, alpha), np.sum(dout * np.where(x > 0, 0.0, 1.0))


def test_a_0d_input_is_drawn_and_checked() -> None:
    import torch

    g = torch.Generator().manual_seed(0)
    assert make_any("real", (), g, torch.float64).shape == ()
    report = check_layer(leaky_forward, leaky_backward, {"x": ("N",), "alpha": ()}, sizes={"N": (1, 4)}, examples=5)
    assert report.inputs == ["x", "alpha"]
    with pytest.raises(GradientMismatch, match="'alpha'"):
        check_layer(leaky_forward, leaky_backward_wrong, {"x": ("N",), "alpha": ()}, sizes={"N": (1, 4)},
                    examples=5, save=False)


def test_bad_arguments_raise_layer_argument_error() -> None:
    with pytest.raises(LayerArgumentError, match="sizes= does not give"):
        check_layer(leaky_forward, leaky_backward, {"x": ("N",)})
    with pytest.raises(LayerArgumentError, match="no input domain"):
        check_layer(leaky_forward, leaky_backward, {"x": (2,)}, domains={"x": "sphere"})
    with pytest.raises(ValueError):  # still a ValueError for callers that caught that
        check_layer(leaky_forward, leaky_backward, {"x": ("N",)})


def f32_forward(x, w):
    out = np.zeros((x.shape[0], w.shape[0]), dtype=np.float32)
    out[:] = x @ w.T  # computed in float64, stored in float32
    return out, (x, w)


def f32_backward(dout, cache):
    x, w = cache
    return dout @ w, dout.T @ x


def f32_backward_wrong(dout, cache):
    x, w = cache
    return dout @ w, 1.1 * (dout.T @ x)


F32 = {"x": ("N", "D"), "w": ("M", "D")}
F32_SIZES = {"N": (1, 3), "D": (1, 3), "M": (1, 3)}


def test_a_float32_forward_in_a_float64_check_uses_float32_rounding_as_the_reference_floor() -> None:
    report = check_layer(f32_forward, f32_backward, F32, sizes=F32_SIZES, examples=8)
    assert any("float32 rounding" in note for note in report.notes)


def test_a_wrong_float32_layer_still_fails() -> None:
    with pytest.raises(GradientMismatch, match="float32 rounding") as caught:
        check_layer(f32_forward, f32_backward_wrong, F32, sizes=F32_SIZES, examples=8, save=False)
    assert caught.value.input == "w"
