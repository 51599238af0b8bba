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


def two_layer_loss(W1, b1, W2, b2, X, y, reg):
    h = np.maximum(0, X @ W1 + b1)
    s = h @ W2 + b2
    s = s - s.max(1, keepdims=True)
    p = np.exp(s)
    p /= p.sum(1, keepdims=True)
    N = X.shape[0]
    loss = -np.log(p[np.arange(N), y]).mean() + 0.5 * reg * (np.sum(W1 * W1) + np.sum(W2 * W2))
    ds = p.copy()
    ds[np.arange(N), y] -= 1
    ds /= N
    grads = {"W2": h.T @ ds + reg * W2, "b2": ds.sum(0)}
    dh = ds @ W2.T
    dh[h <= 0] = 0
    grads["W1"] = X.T @ dh + reg * W1
    grads["b1"] = dh.sum(0)
    return loss, grads


TWO_LAYER = {"W1": ("D", "H"), "b1": ("H",), "W2": ("H", "C"), "b2": ("C",), "X": ("N", "D"), "y": ("N",)}
TWO_LAYER_SIZES = {"N": (1, 3), "D": (1, 3), "H": (1, 3), "C": (2, 4)}


def test_a_dict_of_gradients_names_the_inputs_it_differentiates() -> None:
    from verify.strategies import labels

    seen: list[np.ndarray] = []

    def loss(W1, b1, W2, b2, X, y, reg):
        seen.append(X.copy())
        return two_layer_loss(W1, b1, W2, b2, X, y, reg)

    report = check_layer(loss, None, TWO_LAYER, params=(0.1,), domains={"y": labels("C")}, sizes=TWO_LAYER_SIZES,
                         examples=4, budget=None)
    assert report.examples == 4 and report.inputs == ["W1", "b1", "W2", "b2"]
    # X gets no gradient to compare, so the numerical reference never moves it (no time spent on it):
    # X takes one value per example.
    assert len({(x.shape, x.tobytes()) for x in seen}) <= report.examples


def test_a_dict_whose_keys_match_no_input_suggests_wrt() -> None:
    def loss(w, x):
        return float(np.sum(w * x)), {"dW": x}

    with pytest.raises(GradientMismatch, match="wrt="):
        check_layer(loss, None, {"a": (3,), "x": (3,)}, examples=2, save=False)
    report = check_layer(loss, None, {"a": (3,), "x": (3,)}, wrt=["a"], examples=2)
    assert report.inputs == ["a"]


def attn_lse_forward(q, k, v):
    s = q @ k.T / np.sqrt(q.shape[1])
    m = s.max(1, keepdims=True)
    lse = (m + np.log(np.exp(s - m).sum(1, keepdims=True)))[:, 0]
    p = np.exp(s - lse[:, None])
    return p @ v, lse, (q, k, v, p)


def attn_lse_backward(dout, cache):
    q, k, v, p = cache
    dv = p.T @ dout
    dp = dout @ v.T
    ds = p * (dp - (dp * p).sum(1, keepdims=True)) / np.sqrt(q.shape[1])
    return ds @ k, ds.T @ q, dv


def attn_lse_backward_wrong(dout, cache):
    dq, dk, dv = attn_lse_backward(dout, cache)
    return dq, dk, 2 * dv


ATTN = {"q": ("T", "d"), "k": ("S", "d"), "v": ("S", "e")}
ATTN_SIZES = {"T": (1, 3), "S": (1, 3), "d": (1, 3), "e": (1, 3)}


@pytest.mark.parametrize("outputs", [["out"], [0], "out"])
def test_outputs_selects_the_outputs_the_backward_gets_a_gradient_for(outputs) -> None:
    report = check_layer(attn_lse_forward, attn_lse_backward, ATTN, outputs=outputs, sizes=ATTN_SIZES, examples=5)
    assert len(report.outputs) == 1
    with pytest.raises(GradientMismatch, match="'v'"):
        check_layer(attn_lse_forward, attn_lse_backward_wrong, ATTN, outputs=outputs, sizes=ATTN_SIZES, examples=5,
                    save=False)


@pytest.mark.parametrize(("outputs", "match"), [
    (None, "returns 2 output.* backward takes 1 upstream gradient.*outputs="),
    (["out", "lse", "extra"], "names 3 outputs .*returns 2"),
    ([5], "selects output 5"),
    (["out", "lse"], "outputs=\\['out', 'lse'\\] selects 2"),
])
def test_an_output_count_mismatch_is_told_not_ignored(outputs, match) -> None:
    with pytest.raises(GradientMismatch, match=match):
        check_layer(attn_lse_forward, attn_lse_backward, ATTN, outputs=outputs, sizes=ATTN_SIZES, examples=2,
                    save=False)


def test_outputs_mixing_names_and_indices_is_an_argument_error() -> None:
    with pytest.raises(LayerArgumentError, match="outputs="):
        check_layer(attn_lse_forward, attn_lse_backward, ATTN, outputs=["out", 1], sizes=ATTN_SIZES)


def masked_attention_forward(q, k, v, mask):
    s = q @ k.T / np.sqrt(q.shape[1])
    s[~mask] = -np.inf  # True: may attend
    s = s - s.max(axis=1, keepdims=True)
    p = np.exp(s)
    p /= p.sum(axis=1, keepdims=True)
    return p @ v, (q, k, v, p)


def masked_attention_backward(dout, cache):
    q, k, v, p = cache
    dv = p.T @ dout
    dp = dout @ v.T
    ds = p * (dp - (dp * p).sum(axis=1, keepdims=True)) / np.sqrt(q.shape[1])
    return ds @ k, ds.T @ q, dv


MASKED = {"q": ("T", "d"), "k": ("S", "d"), "v": ("S", "e"), "mask": ("T", "S")}
MASKED_SIZES = {"T": (1, 3), "S": (1, 3), "d": (1, 3), "e": (1, 3)}


def test_mask_rows_draws_boolean_masks_with_a_true_per_row() -> None:
    import torch

    g = torch.Generator().manual_seed(0)
    for _ in range(50):
        m = make_any("mask_rows", (3, 4), g, torch.float64).numpy()
        assert m.dtype == np.bool_ and m.any(axis=-1).all()
    seen: list[np.ndarray] = []

    def forward(q, k, v, mask):
        seen.append(mask)
        return masked_attention_forward(q, k, v, mask)

    check_layer(forward, masked_attention_backward, MASKED, domains={"mask": "mask_rows"}, sizes=MASKED_SIZES,
                examples=10)
    assert all(m.dtype == np.bool_ and m.any(axis=-1).all() for m in seen)
    assert any(not m.all() for m in seen)  # some keys are masked


def test_a_fully_masked_row_hints_at_mask_rows() -> None:
    with pytest.raises(GradientMismatch, match="mask_rows"):
        check_layer(masked_attention_forward, masked_attention_backward, MASKED, domains={"mask": "bool"},
                    sizes=MASKED_SIZES, examples=10, save=False)


def test_a_float_input_used_as_indices_hints_at_labels() -> None:
    def embed_forward(W, ids):
        return W[ids], (W, ids)

    def embed_backward(dout, cache):
        W, ids = cache
        dW = np.zeros_like(W)
        np.add.at(dW, ids, dout)
        return dW

    with pytest.raises(GradientMismatch, match=r"labels\('V'\)"):
        check_layer(embed_forward, embed_backward, {"W": ("V", "D"), "ids": ("N",)},
                    sizes={"V": (2, 4), "D": (1, 3), "N": (1, 3)}, examples=3, save=False)


def test_a_check_cut_short_by_the_budget_says_so_in_its_notes() -> None:
    import time

    def slow_forward(x, w):
        if x.shape[0] > 1:  # the first, simplest example is fast: the budget runs out during the rest
            time.sleep(0.002)
        return x @ w, (x, w)

    def backward(dout, cache):
        x, w = cache
        return dout @ w.T, x.T @ dout

    began = time.perf_counter()
    report = check_layer(slow_forward, backward, {"x": ("N", "D"), "w": ("D", "M")},
                         sizes={"N": (1, 3), "D": (1, 3), "M": (1, 3)}, examples=25, budget=0.3)
    took = time.perf_counter() - began
    assert report.examples < 25
    assert any(f"checked {report.examples} of 25 examples" in n and "budget" in n for n in report.notes), report.notes
    assert took < 1.5  # stops soon after the budget, not after drawing the rest


def test_a_float32_check_keeps_the_float64_reference_floor() -> None:
    """dtype=float32 gives your code float32 arrays; the reference runs your forward on float64 ones, so its
    noise floor stays float64's (no float32 note)."""
    def forward(x, w):
        return x @ w.T, (x, w)

    report = check_layer(forward, f32_backward, F32, sizes=F32_SIZES, examples=4, dtype=np.float32)
    assert not any("float32 rounding" in note for note in report.notes)


def test_a_mismatch_on_a_fully_masked_row_hints_at_mask_rows() -> None:
    def forward(q, k, v, mask):
        s = np.where(mask, q @ k.T, -1e9)
        s = s - s.max(axis=1, keepdims=True)
        p = np.exp(s)
        p /= p.sum(axis=1, keepdims=True)
        return p @ v, (q, k, v, p)

    def backward(dout, cache):  # ignores the mask: wrong only on a fully masked row
        q, k, v, p = cache
        dp = dout @ v.T
        ds = p * (dp - (dp * p).sum(axis=1, keepdims=True))
        return ds @ k, ds.T @ q, p.T @ dout

    with pytest.raises(GradientMismatch, match="mask_rows"):
        check_layer(forward, backward, MASKED, domains={"mask": "bool"}, sizes=MASKED_SIZES, examples=20, save=False)
    check_layer(forward, backward, MASKED, domains={"mask": "mask_rows"}, sizes=MASKED_SIZES, examples=20)


class Scale:
    @staticmethod
    def forward(x):
        return 2 * x, None

    @staticmethod
    def backward(dout, cache):
        return 3 * dout


def test_a_class_layer_is_named_by_its_class_in_the_message_and_the_snippet() -> None:
    with pytest.raises(GradientMismatch) as caught:
        check_layer(Scale.forward, Scale.backward, {"x": (3,)}, examples=2, save=False)
    text = str(caught.value)
    assert text.startswith("Scale:") and "check_layer(Scale.forward, Scale.backward" in text


class TorchLayerNorm:  # llm.c's doc/layernorm style: torch tensors in, (out, cache) out
    @staticmethod
    def forward(x, w, b):
        C = x.size(-1)
        mean = x.sum(-1, keepdim=True) / C
        xshift = x - mean
        rstd = ((xshift**2).sum(-1, keepdim=True) / C + 1e-5) ** -0.5
        norm = xshift * rstd
        return norm * w + b, (x, w, mean, rstd)

    @staticmethod
    def backward(dout, cache):
        x, w, mean, rstd = cache
        norm = (x - mean) * rstd
        db = dout.sum((0, 1))
        dw = (dout * norm).sum((0, 1))
        dnorm = dout * w
        dx = dnorm - dnorm.mean(-1, keepdim=True) - (dnorm * norm).mean(-1, keepdim=True) * norm
        return dx * rstd, dw, db

    @staticmethod
    def backward_wrong(dout, cache):  # the mean over the batch, not the features: right only when B*T == C
        x = cache[0]
        dx, dw, db = TorchLayerNorm.backward(dout, cache)
        return dx, dw, db / x.size(-1) * x.size(0) * x.size(1)


LN = {"x": ("B", "T", "C"), "w": "C", "b": "C"}
LN_SIZES = {"B": (1, 2), "T": (1, 3), "C": (2, 4)}


def test_a_torch_layer_gets_tensors_with_tensors_true() -> None:
    with pytest.raises(GradientMismatch, match="tensors=True"):
        check_layer(TorchLayerNorm.forward, TorchLayerNorm.backward, LN, sizes=LN_SIZES, examples=3, save=False)
    report = check_layer(TorchLayerNorm.forward, TorchLayerNorm.backward, LN, sizes=LN_SIZES, examples=8,
                         tensors=True)
    assert report.examples == 8
    with pytest.raises(GradientMismatch, match="'b'"):
        check_layer(TorchLayerNorm.forward, TorchLayerNorm.backward_wrong, LN, sizes=LN_SIZES, examples=8,
                    tensors=True, save=False)
