"""verify.check_layer: right NumPy layers pass at drawn shapes, subtly wrong ones fail naming output and entry."""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")

from hypothesis import strategies as st

from verify.failure import GradientMismatch
from verify.layers import InPlaceChange, check_layer
from verify.strategies import labels

sys.path.insert(0, str(Path(__file__).parent / "layers"))
import right_layers as right
import wrong_layers as wrong

EXAMPLES = 10

AFFINE = {"x": ("N", "D"), "w": ("D", "M"), "b": ("M",)}
NORM = {"x": ("N", "D"), "gamma": ("D",), "beta": ("D",)}
CONV = {"x": ("N", "C", "H", "W"), "w": ("F", "C", 3, 3), "b": ("F",)}
CONV_SIZES = {"N": (1, 2), "C": (1, 2), "H": (3, 7), "W": (3, 7), "F": (1, 2)}
RNN = {"x": ("N", "D"), "prev_h": ("N", "H"), "Wx": ("D", "H"), "Wh": ("H", "H"), "b": ("H",)}
LSTM = {"x": ("N", "D"), "prev_h": ("N", "H"), "prev_c": ("N", "H"), "Wx": ("D", "4*H"), "Wh": ("H", "4*H"),
        "b": ("4*H",)}


def _fits(sizes: dict[str, int], conv_param: dict[str, int]) -> bool:
    return all((sizes[d] + 2 * conv_param["pad"] - 3) % conv_param["stride"] == 0 for d in ("H", "W"))


# name -> (forward, backward names, shapes, keyword arguments): the same call for the right and the wrong file.
CASES = {
    "affine": ("affine_forward", "affine_backward", AFFINE, {"sizes": {"N": (1, 4), "D": (1, 4), "M": (1, 4)}}),
    "relu": ("relu_forward", "relu_backward", {"x": ("N", "D")}, {"sizes": {"N": (1, 4), "D": (1, 5)}}),
    "batchnorm": ("batchnorm_forward", "batchnorm_backward", NORM,
                  {"sizes": {"N": (2, 5), "D": (1, 4)}, "params": ({"mode": "train"},)}),
    "layernorm": ("layernorm_forward", "layernorm_backward", NORM,
                  {"sizes": {"N": (1, 4), "D": (2, 5)}, "params": ({"eps": 1e-5},)}),
    "conv": ("conv_forward_naive", "conv_backward_naive", CONV,
             {"sizes": CONV_SIZES, "where": _fits, "examples": 20,
              "params": ({"stride": st.sampled_from([1, 2]), "pad": st.sampled_from([0, 1])},)}),
    "max_pool": ("max_pool_forward_naive", "max_pool_backward_naive", {"x": ("N", "C", "H", "W")},
                 {"sizes": {"N": (1, 2), "C": (1, 2), "H": (2, 5), "W": (2, 5)},
                  "params": ({"pool_height": 2, "pool_width": 2, "stride": 1},)}),
    "rnn_step": ("rnn_step_forward", "rnn_step_backward", RNN, {"sizes": {"N": (1, 3), "D": (1, 3), "H": (1, 3)}}),
    "lstm_step": ("lstm_step_forward", "lstm_step_backward", LSTM,
                  {"sizes": {"N": (1, 3), "D": (1, 3), "H": (1, 3)}, "outputs": ("next_h", "next_c")}),
    "softmax_loss": ("softmax_loss", None, {"x": ("N", "C"), "y": ("N",)},
                     {"sizes": {"N": (1, 4), "C": (2, 5)}, "domains": {"y": labels("C")}}),
    "softmax_loss_vectorized": ("softmax_loss_vectorized", None, {"W": ("D", "C"), "X": ("N", "D"), "y": ("N",)},
                                {"sizes": {"N": (1, 4), "C": (2, 5), "D": (1, 4)}, "domains": {"y": labels("C")},
                                 "params": (st.sampled_from([0.0, 0.5]),)}),
}


def _run(module, case: str, **extra):
    forward, backward, shapes, kwargs = CASES[case]
    fwd = getattr(module, forward)
    bwd = getattr(module, backward) if backward else None
    return check_layer(fwd, bwd, shapes, **{"examples": EXAMPLES, "save": False, **kwargs, **extra})


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_right_layer_passes_at_drawn_shapes(case: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InPlaceChange)
        report = _run(right, case)
    assert report.examples == CASES[case][3].get("examples", EXAMPLES) and report.reference.startswith("numerical derivative")
    assert len(report.sizes_seen) > 1  # several shapes, not one


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_wrong_layer_fails_naming_the_output_and_the_entry(case: str) -> None:
    with pytest.raises(GradientMismatch) as caught:
        _run(wrong, case)
    error = caught.value
    assert isinstance(error, AssertionError) and error.phase == "compare"
    assert error.output is not None and error.entry is not None and error.input is not None
    message = str(error)
    assert f"output {error.output}" in message or f"output '{error.output_name}'" in message
    assert f"at entry {error.entry}" in message and f"input {error.input!r}" in message
    assert abs(error.yours - error.reference) > error.tolerance
    assert "on the inputs" in message and "check them again with" in message


@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("pad", [0, 1])
def test_conv_right_at_every_padding_and_stride(pad: int, stride: int) -> None:
    check_layer(right.conv_forward_naive, right.conv_backward_naive, CONV, sizes=CONV_SIZES, where=_fits,
                params=({"stride": stride, "pad": pad},), examples=4)


def test_a_stride_bug_shows_only_at_stride_2() -> None:
    check_layer(right.conv_forward_naive, wrong.conv_backward_naive, CONV, sizes=CONV_SIZES, where=_fits,
                params=({"stride": 1, "pad": 1},), examples=4)
    with pytest.raises(GradientMismatch, match="gradient of input 'x'"):
        check_layer(right.conv_forward_naive, wrong.conv_backward_naive, CONV, sizes=CONV_SIZES, where=_fits,
                    params=({"stride": 2, "pad": 1},), examples=10, save=False)


def test_a_padding_bug_shows_only_at_padding_0() -> None:
    check_layer(right.conv_forward_naive, wrong.conv_pad_backward_naive, CONV, sizes=CONV_SIZES, where=_fits,
                params=({"stride": 1, "pad": 1},), examples=4)
    with pytest.raises(GradientMismatch, match=r"gradient of input 'x'.*shape"):
        check_layer(right.conv_forward_naive, wrong.conv_pad_backward_naive, CONV, sizes=CONV_SIZES, where=_fits,
                    params=({"stride": 1, "pad": 0},), examples=4, save=False)


def test_a_backward_right_only_at_square_shapes() -> None:
    """Layer norm scaled by 1/shape[0] instead of 1/D: right when N == D, so one fixed square shape passes."""
    check_layer(wrong.layernorm_forward, wrong.layernorm_backward, NORM, sizes={"N": 3, "D": 3},
                params=({},), examples=3)
    with pytest.raises(GradientMismatch) as caught:
        _run(wrong, "layernorm")
    assert caught.value.sizes["N"] != caught.value.sizes["D"]
    assert caught.value.sizes["N"] + caught.value.sizes["D"] <= 4  # shrunk to the smallest failing sizes


def test_failures_shrink_to_the_smallest_sizes() -> None:
    """db as a mean is right at N = 1 only: the failure shrinks to N = 2 and the other sizes to their smallest."""
    with pytest.raises(GradientMismatch) as caught:
        _run(wrong, "affine")
    assert caught.value.sizes["N"] == 2 and caught.value.input == "b"
    assert sorted(caught.value.sizes.values()) == [1, 2, 3]  # distinct where they can be, as small as that allows


def test_each_output_has_its_own_verdict() -> None:
    """The LSTM's dropped output gate affects only next_h's gradient; next_c's still passes."""
    with pytest.raises(GradientMismatch) as caught:
        _run(wrong, "lstm_step")
    assert caught.value.output_name == "next_h"
    assert caught.value.verdicts["next_c"] == "passed" and caught.value.verdicts["next_h"].startswith("FAILED")
    assert "verdict per output: next_h: FAILED" in str(caught.value)


def test_the_loss_convention_blames_the_regularisation() -> None:
    with pytest.raises(GradientMismatch) as caught:
        _run(wrong, "softmax_loss_vectorized")
    assert caught.value.input == "W" and caught.value.output_name == "loss"


# --- the phase that failed ----------------------------------------------------------------------------
def _double_forward(x):
    return 2 * x, x


def _double_backward(dout, cache):
    return 2 * dout


def test_a_forward_that_raises_is_blamed_with_type_message_and_shapes() -> None:
    def forward(x):
        return undefined_name * x, x  # noqa: F821 - the user's NameError

    with pytest.raises(GradientMismatch) as caught:
        check_layer(forward, _double_backward, {"x": (2, 3)}, examples=2, save=False)
    message = str(caught.value)
    assert caught.value.phase == "forward"
    assert "your forward raised NameError: name 'undefined_name' is not defined" in message
    assert "input shapes x (2, 3)" in message and "check them again with" in message
    assert isinstance(caught.value.__cause__, NameError)


@pytest.mark.parametrize("error", [KeyError("cache"), AttributeError("'tuple' object has no attribute 'T'"),
                                   ValueError(""), IndexError("tuple index out of range")])
def test_a_backward_that_raises_is_blamed_as_the_backward(error: Exception) -> None:
    def backward(dout, cache):
        raise error

    with pytest.raises(GradientMismatch) as caught:
        check_layer(_double_forward, backward, {"x": (2,)}, examples=2, save=False)
    assert caught.value.phase == "backward" and f"your backward raised {type(error).__name__}" in str(caught.value)


@pytest.mark.parametrize(
    ("forward", "backward", "match"),
    [
        (lambda x: 2 * x, _double_backward, "wants `out, cache = forward"),
        (lambda x: ("text", x), _double_backward, "output 0 of your forward is a str"),
        (_double_forward, lambda d, c: (2 * d, 2 * d), r"returned 2 gradient\(s\); the inputs to differentiate are x"),
        (_double_forward, lambda d, c: np.ones((3, 2)), r"the gradient of input 'x' has shape \(3, 2\)"),
        (_double_forward, lambda d, c: "dx", "returned a str"),
        (_double_forward, lambda d, c: {"dw": d}, "none is the gradient of input 'x'"),
        (lambda x: (np.log(x - 100), x), _double_backward, "of your forward is nan"),
        (_double_forward, lambda d, c: (2 * d, None, 1), r"returned 3 gradient\(s\)"),
    ],
)
def test_malformed_layers_fail_with_a_message_not_a_crash(forward, backward, match: str) -> None:
    with pytest.raises(GradientMismatch, match=match):
        check_layer(forward, backward, {"x": (2, 3)}, examples=2, save=False)


def test_a_trailing_none_for_a_param_is_dropped() -> None:
    check_layer(_double_forward, lambda d, c: (2 * d, None), {"x": (2, 3)}, examples=2)


def test_a_flattened_input_uses_a_product_of_sizes() -> None:
    shapes = {"x": ("N", "C", "H"), "w": ("C*H", "M"), "b": ("M",)}
    check_layer(right.affine_forward, right.affine_backward, shapes, sizes={"N": (1, 3), "C": (1, 3), "H": (1, 3),
                                                                            "M": (1, 2)}, examples=5)


def test_none_counts_as_zero_and_dicts_and_row_biases_are_read() -> None:
    def forward(x, unused, b):
        return x * 3 + b, b.shape

    check_layer(forward, lambda d, c: (3 * d, None, d.sum(axis=0, keepdims=True)),  # db as (1, M)
                {"x": ("N", "M"), "unused": (2,), "b": ("M",)}, sizes={"N": (1, 3), "M": (1, 3)}, examples=5)
    check_layer(forward, lambda d, c: {"dx": 3 * d, "dunused": np.zeros(2), "db": d.sum(axis=0)},
                {"x": ("N", "M"), "unused": (2,), "b": ("M",)}, sizes={"N": (1, 3), "M": (1, 3)}, examples=5)
    with pytest.raises(GradientMismatch, match="input 'b'"):
        check_layer(forward, lambda d, c: (3 * d, None, None), {"x": (2, 3), "unused": (2,), "b": (3,)}, examples=2,
                    save=False)


# --- inputs, side effects and degenerate cases ------------------------------------------------------------
def test_in_place_changes_are_reported_and_never_reach_the_caller() -> None:
    def forward(x):
        out = x
        out[out < 0] = 0  # changes the caller's x in place
        return out, out > 0

    x = np.array([[-1.0, 2.0], [3.0, -4.0]])
    kept = x.copy()
    with pytest.warns(InPlaceChange, match="changed input 'x' in place"):
        report = check_layer(forward, lambda d, mask: d * mask, inputs={"x": x})
    assert np.array_equal(x, kept) and any("in place" in n for n in report.notes)


def test_a_relu_at_exactly_zero_is_a_kink_and_subgradients_accept_it() -> None:
    x = np.array([[0.0, 1.5], [-2.0, 0.7]])
    with pytest.raises(GradientMismatch, match="sits on a kink or a tie") as caught:
        check_layer(right.relu_forward, right.relu_backward, inputs={"x": x}, save=False)
    assert caught.value.entry == (0, 0)
    check_layer(right.relu_forward, right.relu_backward, inputs={"x": x}, subgradients=True)
    with pytest.raises(GradientMismatch):  # a slope of 2 is no subgradient of a ReLU at 0
        check_layer(right.relu_forward, lambda d, x: 2 * d * (x >= 0), inputs={"x": x}, subgradients=True,
                    save=False)


def test_a_tie_in_max_pooling_is_reported_as_such() -> None:
    x = np.arange(16.0).reshape(1, 1, 4, 4)
    x[0, 0, 1, 1] = x[0, 0, 1, 0]  # two maxima (4 and 4) in the first window
    pool = ({"pool_height": 2, "pool_width": 2, "stride": 2},)
    with pytest.raises(GradientMismatch, match="kink or a tie"):
        check_layer(right.max_pool_forward_naive, right.max_pool_backward_naive, inputs={"x": x}, params=pool,
                    save=False)
    check_layer(right.max_pool_forward_naive, right.max_pool_backward_naive, inputs={"x": x}, params=pool,
                subgradients=True)


def test_failing_inputs_are_saved_and_the_snippet_reproduces(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("GRADPROOF_FAILURES", str(tmp_path))
    with pytest.raises(GradientMismatch) as caught:
        _run(wrong, "rnn_step", save=True)
    saved = caught.value.saved
    assert saved and Path(saved).parent == tmp_path and saved in str(caught.value)
    assert "verify.check_layer(rnn_step_forward, rnn_step_backward, inputs=dict(np.load(" in str(caught.value)
    again = dict(np.load(saved))
    assert set(again) == set(RNN)
    with pytest.raises(GradientMismatch) as loss_replay:  # labels in a saved file stay labels
        _run(wrong, "softmax_loss", save=True)
    check_layer(right.softmax_loss, inputs=dict(np.load(loss_replay.value.saved)))
    with pytest.raises(GradientMismatch) as replay:
        check_layer(wrong.rnn_step_forward, wrong.rnn_step_backward, inputs=again, save=False)
    assert replay.value.entry == caught.value.entry and replay.value.yours == pytest.approx(caught.value.yours)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"shapes": {"x": ("N", 3)}}, ValueError, "names the size 'N'"),
        ({"shapes": {"x": ("N",)}, "sizes": {"N": (0, 3)}}, ValueError, "zero-size"),
        ({"shapes": {"x": (2,)}, "domains": {"x": "sphere"}}, KeyError, "no input domain 'sphere'"),
        ({"shapes": {"x": (2,)}, "domains": {"y": "real"}}, ValueError, "domains= names y"),
        ({"shapes": {"x": (2,)}, "wrt": ["w"]}, ValueError, "wrt= names 'w'"),
        ({"shapes": {"x": (2,)}, "examples": 0}, ValueError, "examples must be a positive integer"),
        ({"shapes": {"x": 2.5}}, TypeError, "a shape is a tuple"),
        ({"shapes": {"x": (2,)}, "dtype": np.int32}, ValueError, "dtype int32 is not supported"),
        ({"inputs": {"x": np.array([1.0, np.nan])}}, ValueError, r"input 'x' is nan at entry \(1,\)"),
        ({"inputs": {"x": np.zeros((0, 3))}}, ValueError, "no entries"),
        ({"shapes": {"x": ("N",)}, "sizes": {"N": (1, 3)}, "where": lambda s: False}, ValueError, "no example satisfies"),
    ],
)
def test_bad_calls_are_named_up_front(kwargs: dict, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        check_layer(_double_forward, _double_backward, **kwargs)


def test_labels_and_masks_are_never_differentiated() -> None:
    def forward(x, y, mask):
        assert y.dtype.kind == "i" and mask.dtype == bool and (y < x.shape[1]).all()
        return x[np.arange(x.shape[0]), y] * mask, (x.shape, y, mask)

    def backward(dout, cache):
        shape, y, mask = cache
        dx = np.zeros(shape)
        dx[np.arange(shape[0]), y] = dout * mask
        return dx, None, None

    report = check_layer(forward, backward, {"x": ("N", "C"), "y": ("N",), "mask": ("N",)},
                         sizes={"N": (1, 4), "C": (1, 4)}, domains={"y": labels("C"), "mask": "bool"}, examples=8)
    assert report.inputs == ["x"]


def test_float32_layers_pass_and_a_wrong_one_gets_advice() -> None:
    check_layer(right.affine_forward, right.affine_backward, AFFINE, sizes=CASES["affine"][3]["sizes"],
                dtype=np.float32, examples=5)
    with pytest.raises(GradientMismatch, match="float32 resolves only about 1e-4"):
        check_layer(wrong.affine_forward, wrong.affine_backward, AFFINE, sizes=CASES["affine"][3]["sizes"],
                    dtype=np.float32, examples=5, save=False)


def test_a_torch_reference_replaces_the_numerical_one() -> None:
    import torch

    report = check_layer(right.affine_forward, right.affine_backward, AFFINE, sizes=CASES["affine"][3]["sizes"],
                         reference=lambda x, w, b: x @ w + b, examples=5)
    assert report.reference.startswith("autograd")
    with pytest.raises(GradientMismatch, match="input 'b'"):
        check_layer(wrong.affine_forward, wrong.affine_backward, AFFINE, sizes=CASES["affine"][3]["sizes"],
                    reference=lambda x, w, b: torch.matmul(x, w) + b, examples=5, save=False)


def test_our_frames_are_hidden_from_pytest_tracebacks() -> None:
    from verify import layers

    for function in (layers.check_layer, layers._one_example, layers._run_backward):
        assert "__tracebackhide__" in function.__code__.co_varnames


def test_a_slow_layer_is_checked_on_fewer_examples_and_says_so() -> None:
    import time

    def forward(x):
        time.sleep(0.005)
        return 2 * x, None

    report = check_layer(forward, lambda d, c: 2 * d, {"x": (2,)}, examples=30, budget=0.2)
    assert 5 <= report.examples < 30 and any("budget" in note for note in report.notes)


def test_dropout_without_a_seed_is_checkable_and_the_callers_generator_is_untouched() -> None:
    def dropout_forward(x, p):
        mask = (np.random.rand(*x.shape) < p) / p  # np.random's global generator, no seed of its own
        return x * mask, mask

    np.random.seed(7)
    expected = np.random.rand()
    np.random.seed(7)
    check_layer(dropout_forward, lambda d, mask: d * mask, {"x": ("N", "D")}, sizes={"N": (1, 3), "D": (1, 3)},
                params=(0.5,), examples=5)
    assert np.random.rand() == expected
    with pytest.raises(GradientMismatch, match="gradient of input .x."):  # the mask forgotten
        check_layer(dropout_forward, lambda d, mask: d, {"x": (3, 4)}, params=(0.5,), examples=3, save=False)


def test_a_forward_with_a_generator_of_its_own_is_named_as_not_deterministic() -> None:
    rng = np.random.default_rng()

    def noisy(x):
        return x + rng.standard_normal(x.shape), None

    with pytest.raises(GradientMismatch, match="different outputs on the same inputs"):
        check_layer(noisy, lambda d, c: d, {"x": (2,)}, examples=2, save=False)


def test_a_single_dict_param_a_range_and_unnamed_shapes_are_understood() -> None:
    conv = {"stride": 1, "pad": 1}
    check_layer(right.conv_forward_naive, right.conv_backward_naive, CONV,
                sizes={"N": 1, "C": range(1, 3), "H": 4, "W": 3, "F": 1}, params=conv, examples=3)
    check_layer(right.affine_forward, right.affine_backward, [(2, 3), (3, 4), (4,)], examples=2)
    check_layer(right.affine_forward, right.affine_backward, {"x": ("N", 3), "w": (3, "M"), "b": "M"},
                sizes={"N": (1, 3), "M": (1, 3)}, examples=2)


def test_a_loss_returning_the_gradient_of_its_second_input_is_matched_by_shape() -> None:
    def loss(X, W, y, reg):  # (X, W) order, dW returned
        loss_value, dW = right.softmax_loss_vectorized(W, X, y, reg)
        return loss_value, dW

    check_layer(loss, None, {"X": ("N", "D"), "W": ("D", "C"), "y": ("N",)}, sizes={"N": (1, 4), "D": (1, 3),
                "C": (4, 5)}, domains={"y": labels("C")}, params=(0.1,), examples=5)


def test_a_forward_undefined_next_to_an_input_is_named_not_passed() -> None:
    def forward(x):  # finite at x = 0, nan just below it
        return np.sqrt(x), x

    with pytest.raises(GradientMismatch, match="not finite") as caught:
        check_layer(forward, lambda d, x: d * 0.5 / np.sqrt(np.maximum(x, 1e-300)), inputs={"x": np.array([0.0, 1.0])},
                    save=False)
    assert caught.value.phase == "reference" and caught.value.entry == (0,)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_a_nan_gradient_never_passes(dtype) -> None:
    with pytest.raises(GradientMismatch, match="yours nan"):
        check_layer(_double_forward, lambda d, c: d * np.nan, {"x": (2, 3)}, dtype=dtype, examples=2, save=False)
