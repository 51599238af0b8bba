"""gradproof check-layer on layer files written the way public repositories write them (tests/verify/layers/public/):
cs231n assignments, class layers with self.params/self.grads, numpy-ml, float32, einsum, stride tricks, in-place
code, sibling imports. Each right layer passes as a user would run it; each with a realistic bug fails and says where."""

from __future__ import annotations

import shutil
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")

from gradproof.cli import main
from verify.failure import GradientMismatch
from verify.layers import InPlaceChange, LayerArgumentError, check_layer

PUBLIC = Path(__file__).resolve().parents[1] / "verify" / "layers" / "public"
FAST = ["--examples", "5"]

AFFINE = ["--shape", "x=N,D1,D2", "--shape", "w=D1*D2,M", "--shape", "b=M", "--size", "N=1:3,D1=1:2,D2=1:2,M=1:3"]
BATCHNORM = ["--shape", "x=N,D", "--shape", "gamma=D", "--shape", "beta=D", "--size", "N=2:4,D=1:3", "--param",
             '{"mode": "train"}']
CONV = ["--shape", "x=N,C,H,W", "--shape", "w=F,C,3,3", "--shape", "b=F", "--size", "N=1:2,C=1:2,H=4:5,W=4:5,F=1:2",
        "--param", '{"stride": 1, "pad": 1}']
STRIDED = ["--forward", "conv_forward_strides", "--backward", "conv_backward_strides", "--shape", "x=N,C,H,W",
           "--shape", "w=F,C,3,3", "--shape", "b=F", "--size", "N=1:2,C=1:2,H=5,W=7,F=1:2", "--param",
           '{"stride": 2, "pad": 1}']
POOL = ["--shape", "x=N,C,H,W", "--size", "N=1:2,C=1:2,H=4,W=4", "--param",
        '{"pool_height": 2, "pool_width": 2, "stride": 2}']
RNN = ["--shape", "x=N,T,D", "--shape", "h0=N,H", "--shape", "Wx=D,H", "--shape", "Wh=H,H", "--shape", "b=H", "--size",
       "N=1:3,T=1:3,D=1:3,H=1:3"]
EMBED = ["--shape", "x=N,T", "--shape", "W=V,D", "--domain", "x=labels:V", "--size", "N=1:3,T=1:3,V=2:5,D=1:3"]
TEMPORAL_LOSS = ["--loss", "--shape", "x=N,T,V", "--shape", "y=N,T", "--shape", "mask=N,T", "--domain", "y=labels:V",
                 "--domain", "mask=bool", "--size", "N=1:3,T=1:3,V=2:4"]
LSTM = ["--shape", "x=N,D", "--shape", "prev_h=N,H", "--shape", "prev_c=N,H", "--shape", "Wx=D,4*H", "--shape",
        "Wh=H,4*H", "--shape", "b=4*H", "--size", "N=1:3,D=1:3,H=1:3", "--outputs", "next_h,next_c"]
SVM = ["--loss", "--shape", "W=D,C", "--shape", "X=N,D", "--shape", "y=N", "--domain", "y=labels:C", "--param", "0.1",
       "--size", "N=1:5,D=1:4,C=2:5"]
NET = ["--loss", "--shape", "X=N,D", "--shape", "y=N", "--shape", "W1=D,H", "--shape", "b1=H", "--shape", "W2=H,C",
       "--shape", "b2=C", "--domain", "y=labels:C", "--param", "0.05", "--size", "N=1:4,D=1:3,H=1:3,C=2:4"]
XD = ["--shape", "x=N,D", "--size", "N=1:3,D=1:3"]
XWB = ["--shape", "x=N,D", "--shape", "W=D,M", "--shape", "b=M", "--size", "N=1:3,D=1:3,M=1:3"]
LN = ["--shape", "X=N,D", "--shape", "scaler=D", "--shape", "intercept=D", "--size", "N=1:3,D=2:4"]
ATTENTION = ["--shape", "Q=B,T,D", "--shape", "K=B,S,D", "--shape", "V=B,S,D", "--size", "B=1:2,T=1:3,S=1:3,D=1:3"]
GROUPNORM = ["--shape", "x=N,C,H,W", "--shape", "gamma=1,C,1,1", "--shape", "beta=1,C,1,1", "--size",
             "N=1:2,C=4,H=1:2,W=2:3", "--param", "2", "--param", "{}"]

# (file, layer, arguments, the line with a realistic bug, the bug, the input whose gradient it breaks)
CASES = [
    ("cs231n_layers.py", "affine", AFFINE, "dw = x.reshape(N, -1).T.dot(dout)", "dw = x.reshape(N, -1).T.dot(dout) / N",
     "w"),
    ("cs231n_layers.py", "dropout", ["--shape", "x=N,D", "--size", "N=1:3,D=1:4", "--param",
                                     '{"p": 0.5, "mode": "train", "seed": 123}'],
     "dx = dout * mask", "dx = dout * (mask > 0)", "x"),
    ("cs231n_layers.py", "batchnorm", BATCHNORM, "N * dx_hat - np.sum(dx_hat, axis=0) - x_hat", "N * dx_hat - x_hat",
     "x"),
    ("cs231n_layers.py", "softmax_loss", ["--loss", "--shape", "x=N,C", "--shape", "y=N", "--domain", "y=labels:C",
                                          "--size", "N=1:4,C=2:5"], "dx /= N", "pass", "x"),
    ("cs231n_layers.py", "svm_loss", ["--loss", "--shape", "x=N,C", "--shape", "y=N", "--domain", "y=labels:C",
                                      "--size", "N=1:4,C=2:5"],
     "dx[np.arange(N), y] -= num_pos", "dx[np.arange(N), y] -= 1", "x"),
    ("cs231n_conv.py", "conv", CONV, "db = np.sum(dout, axis=(0, 2, 3))", "db = np.sum(dout, axis=(0, 2, 3)) / x.shape[0]",
     "b"),
    ("cs231n_conv.py", "max_pool", POOL, "i * stride + idx[0], j * stride + idx[1]]", "i * stride + idx[1], j * stride + idx[0]]",
     "x"),
    ("cs231n_conv.py", "spatial_batchnorm", ["--shape", "x=N,C,H,W", "--shape", "gamma=C", "--shape", "beta=C", "--size",
                                             "N=1:2,C=1:3,H=1:3,W=2:3", "--param", '{"mode": "train"}'],
     "dx = dx.reshape(N, H, W, C).transpose(0, 3, 1, 2)", "dx = dx.reshape(N, C, H, W)", "x"),
    ("cs231n_rnn.py", "rnn", RNN, "dh[:, t, :] + dprev_h", "dh[:, t, :]", "x"),
    ("cs231n_rnn.py", "word_embedding", EMBED, "np.add.at(dW, x, dout)", "dW[x] += dout", "W"),
    ("cs231n_rnn.py", "temporal_softmax_loss", TEMPORAL_LOSS, "dx_flat *= mask_flat[:, None]", "pass", "x"),
    ("numpy_ml_style.py", "layernorm", LN, "dIntercept = dLdy.sum(axis=0)", "dIntercept = dLdy.mean(axis=0)", "intercept"),
    ("numpy_ml_style.py", "elu", ["--shape", "z=N,D", "--size", "N=1:3,D=1:3", "--param", "0.5"],
     "alpha * np.exp(z))", "np.exp(z))", "z"),
    ("float32_layers.py", "dense", XWB, "x.T @ dout", "x.T @ dout / len(x)", "W"),
    ("einsum_attention.py", "attention", ATTENTION, "dS /= np.sqrt(d)", "dS /= d", "Q"),
    ("strided_conv.py", "conv", STRIDED, "dx = dxp[:, :, pad:xp.shape[2] - pad, pad:xp.shape[3] - pad]",
     "dx = dxp[:, :, :xp.shape[2] - 2 * pad, :xp.shape[3] - 2 * pad]", "x"),
    ("strided_conv.py", "avg_pool", ["--shape", "x=N,C,H,W", "--size", "N=1:2,C=1:2,H=2:5,W=2:5", "--param",
                                     '{"size": 2}'], "/ (k * k)", "/ k", "x"),
    ("lstm_layers.py", "lstm_step", LSTM, "df = dc * prev_c", "df = dnext_c * prev_c", "x"),
    ("linear_classifier.py", "svm_loss_naive", SVM, "dW += 2 * reg * W", "dW += reg * W", "W"),
    ("linear_classifier.py", "two_layer_net_loss", NET, "dh[h <= 0] = 0", "pass", "W1"),
    ("inplace_layers.py", "scale_shift", ["--shape", "x=N,D", "--shape", "gamma=D", "--shape", "beta=D", "--size",
                                          "N=1:3,D=1:3"], "dout *= gamma", "dout *= 1.0", "x"),
    ("groupnorm.py", "spatial_groupnorm", GROUPNORM, "- dxhat.sum(axis=(2, 3, 4), keepdims=True)", "", "x"),
    ("class_layers.py", "Sigmoid", XD, "dout * out * (1.0 - out)", "dout * out", "x"),
    ("class_layers.py", "Linear", XWB, 'self.grads["b"] = grad.sum(axis=0)', 'self.grads["b"] = grad.mean(axis=0)', "b"),
    ("class_layers.py", "ReLU", ["--shape", "x=N,D", "--size", "N=1:3,D=3"], "return grad * self.mask", "return grad",
     "x"),
    ("class_layers.py", "Dense", ["--shape", "X=N,D", "--shape", "W=D,M", "--shape", "b=1,M", "--size", "N=1:3,D=1:3,M=1:3"],
     "self.dW = self.X.T.dot(dY)", "self.dW = self.X.T.dot(dY) / m", "W"),
    ("class_layers.py", "Embedding", ["--shape", "idx=N,T", "--shape", "W=V,D", "--domain", "idx=labels:V", "--size",
                                      "N=1:3,T=1:3,V=2:4,D=1:3"],
     'np.add.at(self.grads["W"], self.idx, dout)', 'self.grads["W"][self.idx] += dout', "W"),
    ("class_layers.py", "LayerNorm1D", LN, 'self.gradients["intercept"] = dLdy.sum(axis=0)',
     'self.gradients["intercept"] = dLdy.mean(axis=0)', "intercept"),
    ("class_layers.py", "FullyConnected", XWB, "self.x.T @ dout, dout.sum(axis=0)", "self.x.T @ dout, dout.sum(axis=1)",
     "b"),
    ("lstm_class.py", "LSTMCell", LSTM, "lstm_step_backward(dh, dc, self.cache)",
     "lstm_step_backward(dh, np.zeros_like(dc), self.cache)", "x"),
    ("class_layers.py", "AffineLayer", XWB, "return dout @ w.T, x.T @ dout, dout.sum(0)",
     "return dout @ w.T, x.T @ dout, dout.sum(1)", "b"),
]
IDS = [f"{file.removesuffix('.py')}-{name}" for file, name, *_ in CASES]


@pytest.fixture
def public(tmp_path: Path) -> Path:
    """A copy of the public layer files (a bug is written into the copy, never into the originals)."""
    folder = tmp_path / "public"
    shutil.copytree(PUBLIC, folder, ignore=shutil.ignore_patterns("__pycache__", "conftest.py"))
    return folder


@pytest.mark.parametrize(("file", "name", "args", "line", "bug", "input_name"), CASES, ids=IDS)
def test_a_right_layer_passes(public: Path, capsys, file, name, args, line, bug, input_name) -> None:
    code = main(["check-layer", str(public / file), name, *args, *FAST])
    out = capsys.readouterr()
    assert code == 0, out.out + out.err
    assert "passed on 5 examples" in out.out


@pytest.mark.parametrize(("file", "name", "args", "line", "bug", "input_name"), CASES, ids=IDS)
def test_a_layer_with_a_realistic_bug_fails_and_says_where(public: Path, capsys, file, name, args, line, bug,
                                                          input_name) -> None:
    source = (public / file).read_text()
    assert line in source, f"{file} no longer has the line the bug replaces: {line}"
    (public / file).write_text(source.replace(line, bug))
    code = main(["check-layer", str(public / file), name, *args, *FAST])
    out = capsys.readouterr().out
    assert code == 1, out
    assert f"the gradient of input {input_name!r}" in out, out
    assert "Traceback" not in out


# --- findings, each with the test that failed before its fix ---------------------------------------------------
def test_an_import_of_a_sibling_file_inside_a_function_finds_it(public: Path, capsys) -> None:
    """spatial_batchnorm_forward runs `from cs231n_layers import batchnorm_forward` when called: the file's
    folder was on sys.path only while the file loaded, so it raised ModuleNotFoundError."""
    before = list(sys.path)
    code = main(["check-layer", str(public / "cs231n_conv.py"), "spatial_batchnorm", "--shape", "x=N,C,H,W",
                 "--shape", "gamma=C", "--shape", "beta=C", "--size", "N=1:2,C=1:3,H=1:2,W=2:3", "--param",
                 '{"mode": "train"}', *FAST])
    out = capsys.readouterr()
    assert code == 0, out.out + out.err
    assert sys.path == before  # the folder was taken out again


def test_a_class_layer_with_state_on_self_is_checked_with_its_parameters(public: Path, capsys) -> None:
    """class Linear: forward(self, x) -> out, backward(self, grad) -> dx, self.params/self.grads: it raised
    'Linear.forward() missing 1 required positional argument'."""
    code = main(["check-layer", str(public / "class_layers.py"), "Linear", *XWB, *FAST])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "gradients of x, W, b" in out


def test_a_class_layers_parameter_it_does_not_have_is_bad_input(public: Path, capsys) -> None:
    code = main(["check-layer", str(public / "class_layers.py"), "Linear", "--shape", "x=N,D", "--shape", "V=D,M",
                 "--size", "N=1:3,D=3,M=2", *FAST])
    err = capsys.readouterr().err
    assert code == 2
    assert "Linear has no parameter 'V'" in err and "self.params['V']" in err


def test_a_class_layer_whose_constructor_needs_arguments_is_bad_input(tmp_path: Path, capsys) -> None:
    (tmp_path / "layers.py").write_text(
        "import numpy as np\n"
        "class Scale:\n"
        "    def __init__(self, n):\n"
        "        self.params, self.grads = {'w': np.ones(n)}, {}\n"
        "    def forward(self, x):\n"
        "        self.x = x\n"
        "        return x * self.params['w']\n"
        "    def backward(self, dout):\n"
        "        self.grads['w'] = (dout * self.x).sum(0)\n"
        "        return dout * self.params['w']\n")
    code = main(["check-layer", str(tmp_path / "layers.py"), "Scale", "--shape", "x=N,D", "--shape", "w=D",
                 "--size", "N=1:2,D=1:2", *FAST])
    err = capsys.readouterr().err
    assert code == 2
    assert "Scale() raised TypeError" in err and "defaults" in err


def test_a_class_layer_that_stores_no_gradient_says_where_it_looked(tmp_path: Path, capsys) -> None:
    (tmp_path / "layers.py").write_text(
        "import numpy as np\n"
        "class Scale:\n"
        "    def __init__(self):\n"
        "        self.w = np.ones(2)\n"
        "    def forward(self, x):\n"
        "        self.x = x\n"
        "        return x * self.w\n"
        "    def backward(self, dout):\n"
        "        return dout * self.w\n")
    code = main(["check-layer", str(tmp_path / "layers.py"), "Scale", "--shape", "x=N,D", "--shape", "w=D",
                 "--size", "N=1:2,D=1:2", *FAST])
    out = capsys.readouterr().out
    assert code == 1
    assert "Scale.backward left no gradient for 'w'" in out and "self.dw" in out


def test_a_bound_class_layer_is_checked_through_the_api() -> None:
    sys.path.insert(0, str(PUBLIC))
    try:
        from class_layers import Linear
    finally:
        sys.path.remove(str(PUBLIC))
    layer = Linear(3, 2)
    report = check_layer(layer.forward, layer.backward, {"x": ("N", 3), "W": (3, 2), "b": (2,)}, sizes={"N": (1, 3)},
                         examples=4)
    assert report.inputs == ["x", "W", "b"]
    assert layer.cache is None and layer.grads == {}  # the instance itself is never run: copies of it are

    class Wrong(Linear):
        def backward(self, grad):
            dx = super().backward(grad)
            self.grads["W"] = self.grads["W"] * 2
            return dx

    wrong = Wrong(3, 2)
    with pytest.raises(GradientMismatch, match="input 'W'"):
        check_layer(wrong.forward, wrong.backward, {"x": ("N", 3), "W": (3, 2), "b": (2,)}, sizes={"N": (1, 3)},
                    examples=4, save=False)


def test_a_forgotten_param_is_bad_input_naming_it(public: Path, capsys) -> None:
    """dropout without --param: it was a FAILED verdict (exit 1) with a TypeError from the user's forward."""
    code = main(["check-layer", str(public / "cs231n_layers.py"), "dropout", "--shape", "x=N,D", "--size", "N=1:3,D=1:4",
                 *FAST])
    err = capsys.readouterr().err
    assert code == 2
    assert "also needs dropout_param" in err and "--param" in err


def test_too_many_arrays_and_params_is_bad_input() -> None:
    def affine_forward(x, w):
        return x @ w, (x, w)

    def affine_backward(dout, cache):
        x, w = cache
        return dout @ w.T, x.T @ dout

    with pytest.raises(LayerArgumentError, match="takes 2 positional argument"):
        check_layer(affine_forward, affine_backward, {"x": (2, 3), "w": (3, 2)}, params=(0.1,))


def test_python_2_names_get_a_hint(tmp_path: Path, capsys) -> None:
    (tmp_path / "old.py").write_text(
        "import numpy as np\n"
        "def relu_forward(x):\n"
        "    return np.maximum(0, x), x\n"
        "def relu_backward(dout, cache):\n"
        "    dx = np.array(dout)\n"
        "    for i in xrange(dx.shape[0]):\n"
        "        dx[i][cache[i] <= 0] = 0\n"
        "    return dx\n")
    code = main(["check-layer", str(tmp_path / "old.py"), "relu", *XD, *FAST])
    out = capsys.readouterr().out
    assert code == 1
    assert "hint: xrange is Python 2" in out and "write range instead" in out


def test_a_transposed_gradient_is_named_so(public: Path, capsys) -> None:
    file = public / "class_layers.py"
    file.write_text(file.read_text().replace('self.grads["W"] = x.T @ grad', 'self.grads["W"] = grad.T @ x'))
    code = main(["check-layer", str(file), "Linear", "--shape", "x=N,D", "--shape", "W=D,M", "--shape", "b=M",
                 "--size", "N=1:3,D=2,M=3", *FAST])
    out = capsys.readouterr().out
    assert code == 1
    assert "has shape (3, 2); W has shape (2, 3) (its transpose" in out


def test_indices_drawn_as_floats_hint_at_the_command_line_option(public: Path, capsys) -> None:
    code = main(["check-layer", str(public / "cs231n_rnn.py"), "word_embedding", "--shape", "x=N,T", "--shape", "W=V,D",
                 "--size", "N=1:3,T=1:3,V=2:5,D=1:3", *FAST])
    out = capsys.readouterr().out
    assert code == 1
    assert "--domain x=labels:V" in out


def test_a_loss_mask_bug_is_not_blamed_on_the_domain_alone(public: Path, capsys) -> None:
    """A backward that ignores a padded sequence's loss mask: shrinking leaves the mask all False, and the hint
    said only that such a row might be outside the domain."""
    file = public / "cs231n_rnn.py"
    file.write_text(file.read_text().replace("dx_flat *= mask_flat[:, None]", "pass"))
    code = main(["check-layer", str(file), "temporal_softmax_loss", *TEMPORAL_LOSS, *FAST])
    out = capsys.readouterr().out
    assert code == 1
    assert "check how your backward uses the mask" in out


def test_an_in_place_warning_points_at_the_callers_line() -> None:
    def center_forward(x):
        x -= x.mean(axis=0)
        return x.copy(), None

    def center_backward(dout, cache):
        return dout - dout.mean(axis=0)

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check_layer(center_forward, center_backward, {"x": ("N", 2)}, sizes={"N": (2, 3)}, examples=5)
    found = [w for w in caught if issubclass(w.category, InPlaceChange)]
    assert found and all(w.filename == __file__ for w in found), [(w.filename, str(w.message)) for w in found]


def test_the_float32_dense_layer_passes_in_float32_too(public: Path, capsys) -> None:
    code = main(["check-layer", str(public / "float32_layers.py"), "dense", *XWB, "--dtype", "float32", *FAST])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "float32 rounding" in out


def test_a_keyword_only_argument_is_bad_input_saying_params_go_by_position() -> None:
    def scale_forward(x, *, alpha):
        return alpha * x, alpha

    def scale_backward(dout, cache):
        return dout * cache

    with pytest.raises(LayerArgumentError, match="keyword-only argument.* alpha"):
        check_layer(scale_forward, scale_backward, {"x": (2, 3)})


def test_methods_in_the_out_cache_convention_that_take_self(public: Path, capsys) -> None:
    """class AffineLayer: forward(self, x, w, b) -> (out, cache), backward(self, dout, cache): it was called
    unbound (x taken for self)."""
    code = main(["check-layer", str(public / "class_layers.py"), "AffineLayer", *XWB, *FAST])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "gradients of x, W, b" in out


ASSERTING = ["--shape", "x=N,C,H,W", "--shape", "w=F,C,3,3", "--shape", "b=F", "--param", '{"stride": 2, "pad": 1}']


def test_sizes_a_forward_refuses_with_its_own_assert_are_set_aside(public: Path, capsys) -> None:
    """cs231n's conv asserts 'width does not work' where the stride does not fit: the first such example was a
    FAILED verdict (exit 1), as if the gradient were wrong."""
    code = main(["check-layer", str(public / "conv_with_asserts.py"), "conv", *ASSERTING, "--size",
                 "N=1:2,C=1:2,H=4:7,W=4:7,F=1:2", *FAST])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "set aside: your forward refused them with its own assert" in out
    assert "height does not work" in out or "width does not work" in out


def test_a_forward_that_refuses_every_size_is_bad_input(public: Path, capsys) -> None:
    code = main(["check-layer", str(public / "conv_with_asserts.py"), "conv", *ASSERTING, "--size",
                 "N=1:2,C=1:2,H=4,W=4:7,F=1:2", *FAST])
    err = capsys.readouterr().err
    assert code == 2
    assert "refused every example drawn with its own assert (AssertionError: height does not work" in err


def test_a_bug_is_still_found_among_refused_sizes(public: Path, capsys) -> None:
    file = public / "conv_with_asserts.py"
    file.write_text(file.read_text().replace("dout.sum(axis=(0, 2, 3))", "dout.sum(axis=(0, 2, 3)) / 2"))
    code = main(["check-layer", str(file), "conv", *ASSERTING, "--size", "N=1:2,C=1:2,H=4:7,W=4:7,F=1:2", *FAST])
    out = capsys.readouterr().out
    assert code == 1, out
    assert "conv: output 'out': the gradient of input 'b'" in out  # named conv, as asked, not conv_naive


NET_METHOD = ["--loss", "--forward", "TwoLayerNet.loss", "--shape", "X=N,D", "--shape", "y=N", "--shape", "W1=D,H",
              "--shape", "b1=H", "--shape", "W2=H,C", "--shape", "b2=C", "--domain", "y=labels:C", "--size",
              "N=1:4,D=1:3,H=1:3,C=2:4"]


def test_a_loss_method_with_its_parameters_in_self_params(public: Path, capsys) -> None:
    """cs231n's TwoLayerNet.loss(self, X, y): it was called unbound (X taken for self)."""
    code = main(["check-layer", str(public / "two_layer_net.py"), "TwoLayerNet", *NET_METHOD, *FAST])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "gradients of W1, b1, W2, b2" in out
    file = public / "two_layer_net.py"
    file.write_text(file.read_text().replace("affine_backward(da * (h > 0), cache1)", "affine_backward(da, cache1)"))
    code = main(["check-layer", str(file), "TwoLayerNet", *NET_METHOD, *FAST])
    out = capsys.readouterr().out
    assert code == 1, out
    assert "the gradient of input 'W1'" in out or "the gradient of input 'b1'" in out


def test_a_file_two_packages_deep_with_relative_imports_loads() -> None:
    """cs231n/classifiers/fc_net.py does `from ..layers import *`: load_module imports it within its package."""
    from verify.layer_file import load_module

    module = load_module(str(PUBLIC / "cs231n" / "classifiers" / "fc_net.py"))
    report = check_layer(module.TwoLayerNet.loss, None, {"X": ("N", "D"), "y": ("N",), "W1": ("D", "H"), "b1": ("H",),
                                                         "W2": ("H", "C"), "b2": ("C",)},
                         domains={"y": "index"}, sizes={"N": (1, 3), "D": (1, 3), "H": (1, 3), "C": 10}, examples=4)
    assert report.inputs == ["W1", "b1", "W2", "b2"]


def test_a_run_over_its_budget_says_how_long_it_really_took() -> None:
    """A naive conv at H, W up to 16: the first, smallest example took 13 s, the run 249 s, and the note said only
    'one took 13 s and the budget is 60 s'."""
    import time

    def slow_forward(x):
        time.sleep(2e-4 * x.size ** 2)  # naive loops: larger sizes take longer per call
        return 2.0 * x, None

    def slow_backward(dout, cache):
        return 2.0 * dout

    report = check_layer(slow_forward, slow_backward, {"x": ("N",)}, sizes={"N": (1, 12)}, budget=0.02)
    assert report.examples == 5
    note = next(n for n in report.notes if n.startswith("checked "))
    assert "over the budget of 0.02 s" in note and "the first, smallest one took" in note, report.notes


MSE = ["--shape", "pred=N,D", "--shape", "target=N,D", "--size", "N=1:4,D=1:3"]


def test_a_none_gradient_for_a_target_fails_saying_how_to_leave_it_out(public: Path, capsys) -> None:
    """mse_backward returns (dpred, None): it failed with 'yours 0' and the note that None was taken as 0 was not
    shown with the failure."""
    code = main(["check-layer", str(public / "losses_naive.py"), "mse", *MSE, *FAST])
    out = capsys.readouterr().out
    assert code == 1
    assert "your backward returned None for 'target', taken as 0" in out and "--wrt pred" in out


def test_wrt_leaves_out_an_input_whose_gradient_is_none(public: Path, capsys) -> None:
    """With --wrt pred, (dpred, None) was refused: 'returned 2 gradient(s); the inputs to differentiate are pred'."""
    code = main(["check-layer", str(public / "losses_naive.py"), "mse", *MSE, "--wrt", "pred", *FAST])
    out = capsys.readouterr().out
    assert code == 0, out
    file = public / "losses_naive.py"
    file.write_text(file.read_text().replace("return dout * 2 * diff / diff.size, None", "return dout * diff / diff.size, None"))
    code = main(["check-layer", str(file), "mse", *MSE, "--wrt", "pred", *FAST])
    assert code == 1
    assert "the gradient of input 'pred'" in capsys.readouterr().out


def test_a_softmax_loss_without_the_max_shift_passes_at_drawn_scales(public: Path, capsys) -> None:
    code = main(["check-layer", str(public / "losses_naive.py"), "softmax_loss_naive", *SVM, *FAST])
    out = capsys.readouterr().out
    assert code == 0, out


def test_a_class_layer_called_through_dunder_call(public: Path, capsys) -> None:
    """class Linear with __call__(self, x) and backward(self, grad): NAME Linear said 'Linear itself is a function:
    add --loss'."""
    code = main(["check-layer", str(public / "callable_layers.py"), "Linear", *XWB, *FAST])
    out = capsys.readouterr().out
    assert code == 0, out
    file = public / "callable_layers.py"
    file.write_text(file.read_text().replace("self.db = grad.sum(0)", "self.db = grad.mean(0)"))
    code = main(["check-layer", str(file), "Linear", *XWB, *FAST])
    assert code == 1
    assert "the gradient of input 'b'" in capsys.readouterr().out


def test_a_module_level_instance_as_the_forward(public: Path, capsys) -> None:
    """--forward layer (the instance, callable) --backward layer.backward: it was called with x, W and b."""
    code = main(["check-layer", str(public / "callable_layers.py"), "layer", "--forward", "layer", "--backward",
                 "layer.backward", "--shape", "x=N,3", "--shape", "W=3,2", "--shape", "b=2", "--size", "N=1:3", *FAST])
    out = capsys.readouterr().out
    assert code == 0, out


def test_loss_with_a_class_name_checks_its_loss_method(public: Path, capsys) -> None:
    """--loss TwoLayerNet called the class itself (TwoLayerNet(X, y, W1, ...)), a TypeError from its __init__."""
    args = [a for a in NET_METHOD if a not in ("--forward", "TwoLayerNet.loss")]
    code = main(["check-layer", str(public / "two_layer_net.py"), "TwoLayerNet", *args, *FAST])
    out = capsys.readouterr().out
    assert code == 0, out
    code = main(["check-layer", str(public / "class_layers.py"), "Dense", "--loss", "--shape", "X=N,D", "--size",
                 "N=1:3,D=2", *FAST])
    assert code == 2
    assert "Dense is a class with no loss method (its methods: backward, forward)" in capsys.readouterr().err


def test_python_2_integer_division_in_a_size_gets_a_hint(tmp_path: Path, capsys) -> None:
    (tmp_path / "pool.py").write_text(
        "import numpy as np\n"
        "def max_pool_forward_naive(x, pool_param):\n"
        "    N, C, H, W = x.shape\n"
        "    s = pool_param['stride']\n"
        "    H_out = 1 + (H - 2) / s\n"
        "    return np.zeros((N, C, H_out, H_out)), x\n"
        "def max_pool_backward_naive(dout, cache):\n"
        "    return np.zeros_like(cache)\n")
    code = main(["check-layer", str(tmp_path / "pool.py"), "max_pool", "--shape", "x=N,C,4,4", "--size", "N=1:2,C=1:2",
                 "--param", '{"stride": 2}', *FAST])
    out = capsys.readouterr().out
    assert code == 1
    assert "a size computed with / is a float in Python 3" in out


def test_a_plotting_import_that_is_not_installed_says_what_to_do(tmp_path: Path, capsys) -> None:
    (tmp_path / "layers.py").write_text("import numpy as np\nimport no_such_plotting_lib as plt\n"
                                        "def relu_forward(x):\n    return np.maximum(x, 0), x\n"
                                        "def relu_backward(d, x):\n    return d * (x > 0)\n")
    code = main(["check-layer", str(tmp_path / "layers.py"), "relu", "--shape", "x=3"])
    err = capsys.readouterr().err
    assert code == 2
    assert "the file imports no_such_plotting_lib, which is not installed here" in err


def test_a_size_without_a_range_is_told_in_command_line_terms(public: Path, capsys) -> None:
    """Run as a user first would, without --size: the advice was Python's sizes={'N': (1, 4)} only."""
    code = main(["check-layer", str(public / "cs231n_layers.py"), "affine", "--shape", "x=N,D", "--shape", "w=D,M",
                 "--shape", "b=M"])
    err = capsys.readouterr().err
    assert code == 2
    assert "--size N=1:4" in err


def test_methods_of_a_local_class_given_without_an_instance_get_a_hint() -> None:
    class Double:  # defined in a function: its class cannot be found from the method's module to build one
        def forward(self, x):
            return 2 * x

        def backward(self, dout):
            return 2 * dout

    with pytest.raises(LayerArgumentError, match="without an instance .* pass an instance's methods"):
        check_layer(Double.forward, Double.backward, {"x": (2,)}, save=False)
    layer = Double()
    check_layer(layer.forward, layer.backward, {"x": (2,)}, examples=2)


CE = ["--loss", "--shape", "y=N,C", "--shape", "y_pred=N,C", "--domain", "y_pred=positive", "--size", "N=1:3,C=2:4"]


def test_a_loss_whose_target_comes_first_is_told_to_name_its_gradient(public: Path, capsys) -> None:
    """cross_entropy(y, y_pred) returns d/dy_pred: matched by shape to y, it failed as 'the gradient of y' with no
    word of the guess."""
    code = main(["check-layer", str(public / "numpy_ml_losses.py"), "cross_entropy", *CE, *FAST])
    out = capsys.readouterr().out
    assert code == 1
    assert "taken as that of 'y', the first input of its shape" in out and "--wrt y_pred" in out
    code = main(["check-layer", str(public / "numpy_ml_losses.py"), "cross_entropy", *CE, "--wrt", "y_pred", *FAST])
    assert code == 0, capsys.readouterr().out


def test_load_module_takes_a_folder_without_init_as_the_package_of_a_relative_import(tmp_path: Path) -> None:
    from verify.layer_file import LayerFileError, load_module

    (tmp_path / "layers.py").write_text("def double_forward(x):\n    return 2 * x, None\n"
                                        "def double_backward(dout, cache):\n    return 2 * dout\n")
    (tmp_path / "layer_utils.py").write_text("from .layers import double_forward, double_backward\n")
    module = load_module(str(tmp_path / "layer_utils.py"))
    check_layer(module.double_forward, module.double_backward, {"x": (3,)}, examples=2)
    (tmp_path / "broken.py").write_text("from .no_such_sibling import f\n")
    with pytest.raises(LayerFileError, match="broken.py: importing it raised ModuleNotFoundError"):
        load_module(str(tmp_path / "broken.py"))


class Counted:
    """A class layer that counts its constructions and draws its weight from np.random, as TwoLayerNet does."""

    built = 0

    def __init__(self):
        Counted.built += 1
        self.params = {"w": np.random.randn(2)}
        self.grads = {}

    def forward(self, x):
        self.x = x
        return x * self.params["w"]

    def backward(self, dout):
        self.grads["w"] = (dout * self.x).sum(axis=0)
        return dout * self.params["w"]


def test_a_class_layer_is_built_once_and_leaves_the_callers_random_numbers_alone() -> None:
    """Built for every forward call, cs231n's TwoLayerNet() (3072 x 100 random weights, 13 ms) took 11 s for 5
    examples."""
    Counted.built = 0
    np.random.seed(7)
    expected = np.random.rand()
    np.random.seed(7)
    check_layer(Counted.forward, Counted.backward, {"x": ("N", 2), "w": (2,)}, sizes={"N": (1, 3)}, examples=4)
    assert Counted.built == 1
    assert np.random.rand() == expected


def test_the_cli_checks_a_file_two_packages_deep(capsys) -> None:
    """`check-layer cs231n/classifiers/fc_net.py TwoLayerNet --loss ...` failed with 'attempted relative import
    beyond top-level package': the CLI loaded it with the file's folder as the package."""
    code = main(["check-layer", str(PUBLIC / "cs231n" / "classifiers" / "fc_net.py"), "TwoLayerNet", *NET_METHOD, *FAST])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "passed" in out


def test_an_in_place_change_is_said_once_in_the_report() -> None:
    """The report's note names an in-place change; no raw Python warning line follows it on stderr (run as a
    user would, in its own process: pytest would catch the warning itself)."""
    import subprocess
    import sys

    # center_forward changes its input x in place: the case check_layer also warns of
    command = [sys.executable, "-m", "gradproof", "check-layer", str(PUBLIC / "inplace_layers.py"), "center",
               "--shape", "x=N,D", "--size", "N=2:3,D=1:3", *FAST]
    run = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert "InPlaceChange" not in run.stderr, run.stderr
    assert run.returncode in (0, 1) and "in place" in (run.stdout + run.stderr).lower()
