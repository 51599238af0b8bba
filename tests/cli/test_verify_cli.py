"""gradproof verify: records as text and JSON, exit 1 on a failed check, 2 on bad input."""

import dataclasses
import json
import subprocess
import sys

import pytest

pytest.importorskip("torch")

from gradproof.cli import main
from verify.targets import TARGETS


def test_verify_json_records(capsys) -> None:
    assert main(["verify", "information", "--examples", "5", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    records = doc["records"]
    assert (doc["schema"], doc["ok"], doc["summary"]) == ("gradproof/verify", True,
                                                          {"passed": len(records), "failed": 0, "skipped": 0})
    assert {(r["target"], r["route"]) for r in records} == {  # every target of the entry, on each route it has
        (t.name, route) for t in TARGETS if t.entry == "information" for route in ("entrywise", "matrix")
        if route == "entrywise" or t.matrix is not None
    }
    for r in records:
        assert r["status"] == "passed" and r["examples"] >= 5 and r["device"] == "cpu" and r["dtype"] == "float64"
        assert (r["tolerance"]["atol"], r["tolerance"]["rtol"]) == (1e-10, 1e-10) and r["max_abs_error"] < 1e-10
        assert r["tolerance"]["text"].startswith("atol 1e-10") and r["skipped"] is None


def test_verify_text_one_target_float32(capsys) -> None:
    assert main(["verify", "attention:dQ", "--dtype", "float32", "--examples", "5", "--route", "matrix"]) == 0
    out = capsys.readouterr().out
    assert "passed   attention:grad_Q (dQ)" in out and "float32 cpu" in out and "tolerance atol 0.0001" in out
    assert out.strip().endswith("1 passed, 0 failed, 0 without a formula on that route")


def test_verify_large_is_production_size(capsys) -> None:
    assert main(["verify", "attention:dK", "--size", "large", "--examples", "2", "--route", "matrix", "--json"]) == 0
    (record,) = json.loads(capsys.readouterr().out)["records"]
    assert record["sizes"] == {"n": 512, "d_k": 64} and record["mode"] == "vjp" and record["passed"]


def test_a_route_without_formula_is_listed_not_failed(capsys) -> None:
    assert main(["verify", "softmax_ce:d2L/dz2", "--examples", "3"]) == 0
    out = capsys.readouterr().out
    assert "skipped  softmax_ce:hessian (d2L/dz2)" in out and "second derivative" in out
    assert main(["verify", "softmax_ce:d2L/dz2", "--examples", "3", "--json"]) == 0
    skipped = [r for r in json.loads(capsys.readouterr().out)["records"] if r["status"] == "skipped"]
    assert skipped and all(r["max_abs_error"] is None and r["max_rel_error"] is None and r["passed"] is None
                           and "second derivative" in r["skipped"] for r in skipped)


def test_a_failed_check_gives_exit_1_and_shows_where(monkeypatch, capsys) -> None:
    from verify import targets

    real = targets.targets_for(("softmax_ce:dL/dz",))[0]
    broken = dataclasses.replace(real, reference=lambda t, s: -real.reference(t, s))
    monkeypatch.setattr(targets, "targets_for", lambda names: [broken])
    assert main(["verify", "softmax_ce:dL/dz", "--examples", "5"]) == 1
    out = capsys.readouterr().out
    assert "FAILED   softmax_ce:grad_z (dL/dz)" in out and "formula" in out and "vs autograd" in out and "seed" in out
    assert "0 passed, 2 failed" in out


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["verify", "nope"], "no catalog target 'nope'"),
        (["verify", "attention:dZ"], "attention has targets attention:grad_V, attention:grad_A"),
        (["verify", "--examples", "0"], "--examples must be at least 1"),
    ],
)
def test_bad_verify_input_is_one_line_exit_2(args, words, capsys) -> None:
    assert main(args) == 2
    err = capsys.readouterr().err
    assert words in err and len(err.strip().splitlines()) == 1


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="this machine has CUDA")
def test_cuda_without_cuda_is_a_clear_error(capsys) -> None:
    assert main(["verify", "perceptron", "--device", "cuda"]) == 2
    assert "CUDA is not available" in capsys.readouterr().err


def test_verify_help_explains_the_options() -> None:
    out = subprocess.run([sys.executable, "-m", "gradproof", "verify", "--help"], capture_output=True, text=True,
                         timeout=60).stdout
    for words in ("--device", "--dtype", "--examples", "--size", "--json", "autograd", "Exit status 1"):
        assert words in out


def test_verify_without_names_checks_the_whole_catalog_and_the_forwards(monkeypatch) -> None:
    """`gradproof verify` (no names) is every catalog target and every entry written as a forward."""
    import verify.check
    from gradproof.expressions import check_named
    from verify.forwards import NAMES as FORWARD_NAMES
    from verify.targets import TARGETS

    checked: list = []
    monkeypatch.setattr(verify.check, "run_check", lambda targets, routes, **_: checked.extend(targets) or [])
    check_named((), "both")
    assert {t.entry for t in checked} == {t.entry for t in TARGETS} | set(FORWARD_NAMES)
    assert len([t for t in checked if t in TARGETS]) == len(TARGETS)
    checked.clear()
    check_named(("rmsnorm",), "both")
    assert checked and not [t for t in checked if t in TARGETS]
