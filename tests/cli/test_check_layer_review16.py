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
