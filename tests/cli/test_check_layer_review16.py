"""gradproof check-layer after review 16: 0-d inputs, internal bugs not called bad input, --forward/--backward,
layer files of a package with relative imports."""

from __future__ import annotations

import pytest

pytest.importorskip("torch")

from gradproof.cli import main

LEAKY = '''import numpy as np
def leaky_forward(x, alpha):
    return np.where(x > 0, x, alpha * x), (x, alpha)
def leaky_backward(dout, cache):
    x, alpha = cache
    return dout * np.where(x > 0, 1.0, alpha), np.sum(dout * np.where(x > 0, 0.0, x))
'''


def test_a_0d_shape_on_the_command_line(tmp_path, capsys) -> None:
    (tmp_path / "leaky.py").write_text(LEAKY)
    code = main(["check-layer", str(tmp_path / "leaky.py"), "leaky", "--shape", "x=N", "--shape", "alpha=",
                 "--size", "N=1:3", "--examples", "4"])
    assert code == 0, capsys.readouterr()


def test_an_internal_error_is_not_bad_input(tmp_path, monkeypatch) -> None:
    import verify.layers

    (tmp_path / "leaky.py").write_text(LEAKY)

    def broken(*args, **kwargs):
        raise TypeError("an internal bug")

    monkeypatch.setattr(verify.layers, "_run", broken)
    with pytest.raises(TypeError, match="an internal bug"):
        main(["check-layer", str(tmp_path / "leaky.py"), "leaky", "--shape", "x=3", "--shape", "alpha="])


LAYERS = '''import numpy as np
def affine_forward(x, w, b):
    return x @ w + b, (x, w)
def affine_backward(dout, cache):
    x, w = cache
    return dout @ w.T, x.T @ dout, dout.sum(axis=0)
'''
UTILS = '''from .layers import *


def affine_relu_forward(x, w, b):
    a, fc_cache = affine_forward(x, w, b)
    return np.maximum(a, 0), (fc_cache, a)


def affine_relu_backward(dout, cache):
    fc_cache, a = cache
    return affine_backward(dout * (a > 0), fc_cache)
'''
AFFINE_RELU = ["affine_relu", "--shape", "x=N,D", "--shape", "w=D,M", "--shape", "b=M", "--size", "N=1:3,D=1:3,M=1:3",
               "--examples", "4"]


@pytest.mark.parametrize("package", [True, False])
def test_a_layer_file_with_relative_imports_loads(tmp_path, capsys, package) -> None:
    folder = tmp_path / "cs231n"
    folder.mkdir()
    if package:
        (folder / "__init__.py").write_text("")
    (folder / "layers.py").write_text(LAYERS)
    (folder / "layer_utils.py").write_text(UTILS)
    code = main(["check-layer", str(folder / "layer_utils.py"), *AFFINE_RELU])
    assert code == 0, capsys.readouterr()


def test_a_package_file_with_absolute_imports_of_its_package_loads(tmp_path, capsys) -> None:
    folder = tmp_path / "mypkg_review16"
    folder.mkdir()
    (folder / "__init__.py").write_text("")
    (folder / "layers.py").write_text(LAYERS)
    (folder / "layer_utils.py").write_text(UTILS.replace("from .layers import *", "from mypkg_review16.layers import *"))
    assert main(["check-layer", str(folder / "layer_utils.py"), *AFFINE_RELU]) == 0, capsys.readouterr()


CLASS_LAYER = '''import numpy as np
class Affine:
    @staticmethod
    def forward(x, w):
        return x @ w, (x, w)
    @staticmethod
    def backward(dout, cache):
        x, w = cache
        return dout @ w.T, x.T @ dout
def fwd(x, w):
    return Affine.forward(x, w)
def bwd(dout, cache):
    return Affine.backward(dout, cache)
'''
SHAPES = ["--shape", "x=N,D", "--shape", "w=D,M", "--size", "N=1:3,D=1:3,M=1:3", "--examples", "4"]


@pytest.mark.parametrize("names", [
    ["Affine"],
    ["layer", "--forward", "Affine.forward", "--backward", "Affine.backward"],
    ["layer", "--forward", "fwd", "--backward", "bwd"],
])
def test_forward_and_backward_named_explicitly(tmp_path, capsys, names) -> None:
    (tmp_path / "cls.py").write_text(CLASS_LAYER)
    assert main(["check-layer", str(tmp_path / "cls.py"), *names, *SHAPES]) == 0, capsys.readouterr()


def test_an_unknown_forward_name_is_one_line(tmp_path, capsys) -> None:
    (tmp_path / "cls.py").write_text(CLASS_LAYER)
    assert main(["check-layer", str(tmp_path / "cls.py"), "x", "--forward", "Affine.fwd", "--backward", "bwd",
                 *SHAPES]) == 2
    err = capsys.readouterr().err.strip()
    assert "Affine has no 'fwd'" in err and "forward" in err and len(err.splitlines()) == 1


TORCH_LAYER = '''import torch
class Scale:
    @staticmethod
    def forward(x):
        return x.mul(2.0), x.size()
    @staticmethod
    def backward(dout, cache):
        return dout.mul(2.0)
'''


def test_torch_gives_a_torch_layer_tensors(tmp_path, capsys) -> None:
    (tmp_path / "t.py").write_text(TORCH_LAYER)
    argv = ["check-layer", str(tmp_path / "t.py"), "Scale", "--shape", "x=N", "--size", "N=1:3", "--examples", "3"]
    assert main(argv) == 1 and "--torch" in capsys.readouterr().out
    assert main([*argv, "--torch"]) == 0, capsys.readouterr()
