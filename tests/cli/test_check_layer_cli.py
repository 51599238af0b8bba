"""gradproof check-layer: a verdict per output, exit 0/1, one-line errors with exit 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("torch")

from gradproof.cli import main

LAYERS = Path(__file__).parents[1] / "verify" / "layers"
RIGHT, WRONG = str(LAYERS / "right_layers.py"), str(LAYERS / "wrong_layers.py")
AFFINE = ["affine", "--shape", "x=N,D", "--shape", "w=D,M", "--shape", "b=M", "--size", "N=1:4,D=1:4,M=1:4",
          "--examples", "8"]
LSTM = ["lstm_step", "--shape", "x=N,D", "--shape", "prev_h=N,H", "--shape", "prev_c=N,H", "--shape", "Wx=D,8",
        "--shape", "Wh=H,8", "--shape", "b=8", "--size", "N=1:3,D=1:3,H=2", "--outputs", "next_h,next_c",
        "--examples", "6"]


def test_a_right_layer_passes(capsys) -> None:
    assert main(["check-layer", RIGHT, *AFFINE]) == 0
    out = capsys.readouterr().out
    assert "passed on 8 examples" in out and "output out: passed" in out and "numerical derivative" in out


def test_a_wrong_layer_exits_1_with_a_verdict_per_output(capsys, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("GRADPROOF_FAILURES", str(tmp_path))
    assert main(["check-layer", WRONG, *LSTM]) == 1
    out = capsys.readouterr().out
    assert "output next_h: FAILED: dx at entry" in out and "output next_c: passed" in out
    assert "check them again with" in out


def test_json_output(capsys, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("GRADPROOF_FAILURES", str(tmp_path))
    assert main(["check-layer", WRONG, *AFFINE, "--json"]) == 1
    result = json.loads(capsys.readouterr().out)
    assert result["passed"] is False and result["input"] == "b" and result["outputs"]["out"].startswith("FAILED")
    assert Path(result["saved"]).exists()
    assert main(["check-layer", RIGHT, *AFFINE, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["outputs"] == {"out": "passed"}


def test_the_loss_convention(capsys) -> None:
    args = ["softmax_loss_vectorized", "--loss", "--shape", "W=D,C", "--shape", "X=N,D", "--shape", "y=N",
            "--domain", "y=labels:C", "--param", "0.5", "--size", "N=1:4,D=1:3,C=2:4", "--examples", "6"]
    assert main(["check-layer", RIGHT, *args]) == 0
    assert main(["check-layer", WRONG, *args]) == 1
    assert "the gradient of input 'W'" in capsys.readouterr().out


def test_a_forward_that_raises_is_a_failure_not_a_crash(tmp_path, capsys) -> None:
    layer = tmp_path / "broken.py"
    layer.write_text("def f_forward(x):\n    return x.T @ nothing, x\n\ndef f_backward(dout, cache):\n    return dout\n")
    assert main(["check-layer", str(layer), "f", "--shape", "x=2,3"]) == 1
    out = capsys.readouterr().out
    assert "FAILED (forward)" in out and "your forward raised NameError" in out


@pytest.mark.parametrize(
    ("argv", "match"),
    [
        (["missing.py", "affine", "--shape", "x=2"], "no such file"),
        ([RIGHT, "nope", "--shape", "x=2"], "no pair nope_forward/nope_backward"),
        ([RIGHT, "softmax_loss", "--shape", "x=2"], "add --loss"),
        ([RIGHT, "relu"], "give the forward's arrays in order with --shape"),
        ([RIGHT, "relu", "--shape", "x"], "--shape wants NAME=DIMS"),
        ([RIGHT, "relu", "--shape", "x=N,2.5"], "is neither a size name"),
        ([RIGHT, "relu", "--shape", "x=N"], "names the size 'N'"),
        ([RIGHT, "relu", "--shape", "x=N", "--size", "N=0:3"], "want 1 <= LOW <= HIGH"),
        ([RIGHT, "relu", "--shape", "x=N", "--size", "N=a"], "--size wants NAME=LOW:HIGH"),
        ([RIGHT, "relu", "--shape", "x=2", "--param", "{stride: 1}"], "--param wants a JSON value"),
        ([RIGHT, "relu", "--shape", "x=2", "--domain", "x=sphere"], "no domain 'sphere'"),
        ([RIGHT, "relu", "--shape", "x=2", "--domain", "y=labels"], "labels need a count"),
        ([RIGHT, "relu", "--shape", "x=2", "--examples", "0"], "--examples wants a positive number"),
        ([RIGHT, "relu", "--shape", "x=2", "--wrt", "w"], "wrt= names 'w'"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(argv: list[str], match: str, capsys) -> None:
    assert main(["check-layer", *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert match in err and len(err.splitlines()) == 1


def test_a_file_that_does_not_import_is_one_line(tmp_path, capsys) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("def f(:\n")
    assert main(["check-layer", str(bad), "f", "--shape", "x=2"]) == 2
    assert "importing it raised SyntaxError" in capsys.readouterr().err


def test_the_readme_example_fails_as_shown(tmp_path, monkeypatch) -> None:
    """README's NumPy layer example runs, and its wrong db fails with the message the README shows."""
    import numpy as np

    from verify.failure import GradientMismatch

    monkeypatch.setenv("GRADPROOF_FAILURES", str(tmp_path))
    text = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
    block = next(b.split("```", 1)[0] for b in text.split("```python")[1:] if "def affine_backward" in b)
    namespace: dict = {}
    exec(compile(block, "README.md", "exec"), namespace)  # noqa: S102 - our own README, not user input
    with pytest.raises(GradientMismatch) as caught:
        namespace["test_affine"]()
    shown = next(b.split("```", 1)[0] for b in text.split("```text")[1:] if "GradientMismatch" in b)
    first = shown.strip().splitlines()[0].removeprefix("E   verify.failure.GradientMismatch: ")
    assert str(caught.value).splitlines()[0] == first
    assert caught.value.sizes == {"N": 2, "D": 1, "M": 3}
    right = block.replace("dout.mean(axis=0)", "dout.sum(axis=0)")
    exec(compile(right, "README.md", "exec"), namespace)  # noqa: S102
    namespace["test_affine"]()
    assert np.load(caught.value.saved)["b"].shape == (3,)


@pytest.mark.parametrize(("prelude", "passed"), [
    ('print("loading my layers")\n', True),                     # chatter at import and in the forward
    ("import argparse\nargparse.ArgumentParser().parse_args()\n", True),  # a script's own options at import
    ("import sys\nsys.exit(0)\n", False),                        # an exit at import is an error, not a pass
])
def test_a_layer_files_own_prints_and_exits_do_not_spoil_the_json(tmp_path, capsys, prelude: str, passed: bool) -> None:


    layer = tmp_path / "layer.py"
    layer.write_text(prelude + "def affine_forward(x, w, b):\n    print('forward')\n    return x @ w + b, (x, w)\n\n"
                     "def affine_backward(d, cache):\n    x, w = cache\n    return d @ w.T, x.T @ d, d.sum(0)\n")
    status = main(["check-layer", str(layer), "affine", "--shape", "x=N,D", "--shape", "w=D,M", "--shape", "b=M",
                   "--size", "N=1:3,D=1:3,M=1:3", "--examples", "3", "--json"])
    out, err = capsys.readouterr()
    document = json.loads(out)  # stdout is the one document, whatever the file printed
    if passed:
        assert status == 0 and document["passed"] is True and "forward" in err
    else:
        assert status == 2 and "sys.exit(0)" in document["error"]
