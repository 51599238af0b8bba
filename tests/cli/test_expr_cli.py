"""Your own gradients from the command line: --expr, --shape, --wrt, --domain on derive, verify,
graph and report, and the catalog entries written as forwards (verify/forwards/)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from gradproof.cli import main

MSE = ["--expr", "L = sum((X W - Y) ⊙ (X W - Y))", "--shape", "X=n,d", "--shape", "W=d,k", "--shape", "Y=n,k",
       "--wrt", "W"]
SOFTMAX_REGRESSION = ["--expr", "L = -sum(Y ⊙ log(softmax(X W + 1 b^T)))", "--shape", "X=n,d", "--shape", "W=d,k",
                      "--shape", "b=k", "--shape", "Y=n,k", "--wrt", "W,b", "--domain", "Y=simplex"]


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "gradproof", *args], capture_output=True, text=True, timeout=600)


def test_derive_expr_prints_the_matrix_form_proved(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["derive", *MSE]) == 0
    out = capsys.readouterr().out
    assert "dW = " in out and "[proved]" in out
    assert "Forward: L = sum((X W - Y) ⊙ (X W - Y))" in out


def test_derive_expr_json_is_one_object_with_the_gradients(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["derive", *SOFTMAX_REGRESSION, "--json"]) == 0
    (doc,) = json.loads(capsys.readouterr().out)["entries"]  # the same envelope as a catalog entry's
    assert doc["wrt"] == ["W", "b"] and doc["domains"] == {"Y": "simplex"} and doc["ok"] is True
    gradients = {r["target"]: r for r in doc["matrix_form"] if not r["intermediate"]}
    assert set(gradients) == {"dW", "db"}
    assert all(r["status"] == "proved" for r in gradients.values())


def test_verify_expr_checks_every_gradient_against_autograd(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["verify", *SOFTMAX_REGRESSION, "--examples", "5", "--json"]) == 0
    records = json.loads(capsys.readouterr().out)["records"]
    assert {r["target"] for r in records} == {"dL/dW", "dL/db"}
    assert all(r["status"] == "passed" for r in records)


def test_graph_expr_draws_the_adjoints(tmp_path: Path) -> None:
    out = tmp_path / "mse.svg"
    assert main(["graph", *MSE, "--adjoints", "-o", str(out)]) == 0
    svg = out.read_text()
    assert svg.lstrip().startswith("<") and "<svg" in svg and "dW" in svg


def test_report_expr_writes_a_page_with_the_gradients(tmp_path: Path) -> None:
    assert main(["report", *MSE, "--format", "html", "--examples", "3", "-o", str(tmp_path)]) == 0
    (page,) = tmp_path.glob("*.html")
    text = page.read_text()
    assert "<math" in text and "proved" in text


@pytest.mark.parametrize(("args", "message"), [
    (["derive", "--expr", "L = sum(foo(X))", "--shape", "X=n,d"], "unknown function 'foo'"),
    (["derive", "--expr", "L = sum(X W)", "--shape", "X=n,d", "--shape", "W=k,m"], "inner sizes differ (d and k)"),
    (["derive", "--expr", "L = X W", "--shape", "X=n,d", "--shape", "W=d,k"], "not a number (1 x 1)"),
    (["derive", "--expr", "L = sum(abs(X))", "--shape", "X=n,d"], "no VJP rule"),
    (["derive", "--shape", "X=n,d"], "give it with --expr"),
    (["derive", "--expr", "L = sum(X)", "--shape", "X"], "--shape wants NAME=VALUE"),
    (["verify", "--expr", "L = sum(X)", "--shape", "X=n,d", "--domain", "X=nowhere"], "unknown domain"),
    (["derive", "softmax_ce", "--expr", "L = sum(X)", "--shape", "X=n,d"], "not both"),
    (["report", "--expr", "L = sum(X)", "--shape", "X=n,d", "--name", "../escape"], "no folders"),
    (["derive", "--expr", "L = sum(X)", "--shape", "X=n,d", "--shape", "W=d,k", "--wrt", "W"], "does not depend on it"),
])
def test_bad_expressions_are_one_line_on_stderr_and_exit_2(args: list[str], message: str) -> None:
    result = _run(*args)
    assert result.returncode == 2, result.stderr
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert result.stdout == ""


def test_a_forward_entry_is_in_the_catalog_commands(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["list", "--json"]) == 0
    names = [e["name"] for e in json.loads(capsys.readouterr().out)["entries"]]
    assert "rmsnorm" in names
    assert main(["derive", "rmsnorm", "--json"]) == 0
    (doc,) = json.loads(capsys.readouterr().out)["entries"]
    assert {c["claim"]: c["status"] for c in doc["claims"]} == {"rmsnorm:grad_g": "proved n<=2, d<=2",
                                                                 "rmsnorm:grad_X": "proved n<=2, d<=2"}
    assert main(["verify", "rmsnorm", "--examples", "5", "--json"]) == 0
    records = json.loads(capsys.readouterr().out)["records"]
    assert {r["target"] for r in records} == {"dL/dX", "dL/dg"} and all(r["status"] == "passed" for r in records)
    assert {r["claim"] for r in records} == {"rmsnorm:grad_X", "rmsnorm:grad_g"}  # the ids problems and derive use


def test_verify_records_name_the_claim_by_the_id_derive_and_problems_use(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["verify", "softmax_ce:grad_z", "--examples", "3", "--json"]) == 0
    records = json.loads(capsys.readouterr().out)["records"]
    assert records and {r["claim"] for r in records} == {"softmax_ce:grad_z"}
