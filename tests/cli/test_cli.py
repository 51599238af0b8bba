"""The command line contract: list, derive, errors. Run as a user would (subprocess) where it
matters that nothing but one line reaches the terminal."""

import json
import subprocess
import sys

import pytest

from derive import NAMES
from gradproof.cli import main


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "gradproof", *args], capture_output=True, text=True, timeout=600
    )


def test_list_json_names_every_entry(capsys) -> None:
    assert main(["list", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert (doc["schema"], doc["version"]) == ("gradproof/list", 1)
    entries = doc["entries"]
    from verify.forwards import NAMES as FORWARD_NAMES

    assert [e["name"] for e in entries] == list(NAMES) + list(FORWARD_NAMES)
    for entry in entries:
        assert set(entry) == {"name", "title", "section", "targets"}
        assert entry["title"] and entry["section"]
    assert "dL/dz" in next(e for e in entries if e["name"] == "softmax_ce")["targets"]


def test_list_text(capsys) -> None:
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert "attention" in out and "targets:" in out


def test_derive_json_contract(capsys) -> None:
    assert main(["derive", "information", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert (out["schema"], out["version"], out["ok"], len(out["entries"])) == ("gradproof/derive", 1, True, 1)
    (doc,) = out["entries"]
    assert {"name", "title", "assumptions", "steps", "results"} <= set(doc)
    for step in doc["steps"]:
        assert {"claim", "latex", "reason", "status"} <= set(step)
        assert step["status"] in {"proved"} or step["status"].startswith("proved ")
    result = next(r for r in doc["results"] if r["target"] == "dKL/dq")
    assert {"target", "latex", "sympy", "status"} <= set(result)
    assert result["status"] == "proved"
    assert r"\frac{" in result["latex"] and "Indexed" in result["sympy"]


def test_derive_text_shows_status_and_three_notations(capsys) -> None:
    assert main(["derive", "softmax_ce"]) == 0
    out = capsys.readouterr().out
    assert "[proved" in out and "closed form:" in out and "index form" in out and "entrywise at" in out


def test_derive_at_chosen_sizes(capsys) -> None:
    assert main(["derive", "softmax_ce", "--sizes", "n=5", "--json"]) == 0
    (doc,) = json.loads(capsys.readouterr().out)["entries"]
    result = next(r for r in doc["results"] if r["target"] == "dL/dz")
    assert result["entrywise"]["sizes"]["n"] == 5
    assert "z_5" in result["entrywise"]["sympy"]


def test_unknown_name_is_one_line_with_suggestions() -> None:
    done = _run("derive", "softmx")
    assert done.returncode == 2
    assert done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "softmax_ce" in lines[0] and "Traceback" not in done.stderr


@pytest.mark.parametrize(
    "args, words",
    [
        (["derive", "softmax_ce", "--sizes", "n=three"], "NAME=INTEGER"),
        (["derive", "softmax_ce", "--sizes", "q=3"], "no size q"),
        (["derive", "softmax_ce", "--sizes", "n=99"], "out of range"),
        (["derive", "softmax_ce", "bp", "--sizes", "n=2"], "one entry"),
        (["derive", "pooling", "--sizes", "h=4,w=4,k=2,s=1"], "argmax regions"),
        (["derive", "pooling", "--sizes", "h=2,w=2,k=3,s=1"], "does not fit"),
        (["derive"], "--all"),
    ],
)
def test_bad_input_is_one_line_exit_2(args, words) -> None:
    done = _run(*args)
    assert done.returncode == 2, done.stderr
    assert words in done.stderr and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_help_does_not_import_sympy() -> None:
    code = "import sys; from gradproof.cli import main\ntry:\n main(['--help'])\nexcept SystemExit: pass\nprint('sympy' in sys.modules, 'torch' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.stdout.strip().splitlines()[-1] == "False False"


def test_derive_path_does_not_import_torch() -> None:
    code = "import sys; from gradproof.cli import main; main(['derive', 'information', '--json']); print('torch' in sys.modules, file=sys.stderr)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    assert done.stderr.strip().splitlines()[-1] == "False"


def test_failed_step_gives_exit_1(monkeypatch, capsys) -> None:
    import dataclasses

    from derive import catalog

    original = catalog.topic("information")
    first = original.claims[0]
    broken = dataclasses.replace(original, claims=(dataclasses.replace(first, claimed=lambda e: 2 * first.claimed(e), index=None),))
    monkeypatch.setattr(catalog, "topic", lambda name: broken)
    assert main(["derive", "information"]) == 1
    out = capsys.readouterr().out
    assert "[failed" in out and "FAILED:" in out


def test_perceptron_text_shows_the_training_tables(capsys) -> None:
    assert main(["derive", "perceptron"]) == 0
    out = capsys.readouterr().out
    assert "AND: converged after" in out and "XOR: cycles" in out
    assert "[2, 1]        -3" in out  # AND's final weights and bias, exact


def test_perceptron_json_carries_the_traces(capsys) -> None:
    assert main(["derive", "perceptron", "--json"]) == 0
    traces = json.loads(capsys.readouterr().out)["entries"][0]["tables"]["traces"]
    assert set(traces) == {"AND", "OR", "lecture2d", "XOR"}
    assert traces["lecture2d"]["converged"] and not traces["XOR"]["converged"]
    assert traces["lecture2d"]["rows"][0]["x"] == ["-1/2", "-1/2"]


def test_derive_gains_the_matrix_form_from_the_graph_route(capsys) -> None:
    assert main(["derive", "attention", "--json"]) == 0
    (doc,) = json.loads(capsys.readouterr().out)["entries"]
    rows = {(r["model"], r["target"]): r for r in doc["matrix_form"]}
    assert rows[("attention", "dV")]["expanded"] == "Aᵀ G"
    assert rows[("attention", "dQ")]["local"] == "1/√d_k dS K"
    assert {r["status"] for r in doc["matrix_form"]} == {"proved"}
    assert ("causal_attention", "dK") in rows


def test_derive_text_shows_the_matrix_form(capsys) -> None:
    assert main(["derive", "softmax_ce"]) == 0
    out = capsys.readouterr().out
    assert "Matrix form, every size" in out and "softmax(z) ⊙ rowsum(y) - y" in out


def test_a_failed_graph_route_gives_exit_1(monkeypatch, capsys) -> None:
    import dataclasses

    from graphs import ops, prove
    from graphs.matrices import hadamard

    prove.rule_proofs.cache_clear()
    wrong = dataclasses.replace(ops.RULES["log_softmax"], vjps=(lambda ans, x: lambda g: hadamard(g, ans),))
    monkeypatch.setitem(ops.RULES, "log_softmax", wrong)
    try:
        assert main(["derive", "softmax_ce"]) == 1
    finally:
        prove.rule_proofs.cache_clear()
    assert "[failed]" in capsys.readouterr().out


def test_derive_in_several_processes_proves_the_same(capsys) -> None:
    """--jobs spreads the claims over processes; every status and result is what one process gives
    (up to the names SymPy gives dummy variables)."""
    import re

    def run(jobs: str) -> str:
        assert main(["derive", "perceptron", "information", "--json", "--jobs", jobs]) == 0
        return re.sub(r"dummy_index=\d+", "", capsys.readouterr().out)

    parallel, single = run("2"), run("1")
    assert parallel == single and '"proved"' in parallel
    assert main(["derive", "perceptron", "--jobs", "0"]) == 2


def test_large_matrices_print_as_sympy_lays_them_out() -> None:
    """derive's text output lays out one-line-entry matrices itself (SymPy's layout is quadratic in
    the rows); it must be character for character what SymPy prints, and leave the rest to SymPy."""
    import sympy as sp

    from gradproof.render import _pretty, _pretty_matrix

    x, y, g = sp.symbols("x_1 y G_12")
    one_line = [
        sp.Matrix(3, 3, lambda i, j: sp.Symbol(f"G_{i}{j}") if i != j else 0),
        sp.Matrix([[x], [y], [x + y]]),
        sp.Matrix(40, 3, lambda i, j: (i * j) % 3 * g - x if (i + j) % 2 else 0),
        sp.Matrix([[sp.Symbol("alpha"), -x], [sp.Symbol("beta"), 3 * x * y]]),
    ]
    for matrix in one_line:
        assert _pretty_matrix(matrix) == sp.pretty(matrix, use_unicode=True, wrap_line=False)
    fraction = sp.Matrix([[x / 2, 1], [2, y**2]])
    assert _pretty_matrix(fraction) is None
    assert _pretty(fraction) == sp.pretty(fraction, use_unicode=True, wrap_line=False)


@pytest.mark.parametrize("columns", [100, 72])
def test_derive_text_fits_the_terminal(columns: int, monkeypatch, capsys) -> None:
    """attention's entrywise forms at n = 2 once printed lines of 1,874 characters: pictures wider
    than the terminal are cut into bands, prose and formulas folded with an indent."""
    monkeypatch.setenv("COLUMNS", str(columns))
    assert main(["derive", "attention"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert max(len(line) for line in lines) <= columns
    assert any(len(line) > columns - 10 for line in lines)  # the width is used, not a narrower one
    assert "Matrix form, every size" in "\n".join(lines)


@pytest.mark.parametrize("argv", [
    ["problems"], ["list"], ["check", "attention:grad_V", "A G"], ["check", "softmax_ce:grad_z", "y_i - p_i"],
])
def test_every_commands_text_fits_80_columns(argv: list[str], monkeypatch, capsys) -> None:
    """problems printed lines of 634 characters, check's counterexample 191, list 143."""
    monkeypatch.setenv("COLUMNS", "80")
    assert main(argv) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines and max(len(line) for line in lines) <= 80


def test_long_formulas_fold_at_a_top_level_sign() -> None:
    from gradproof.render import fold_line

    line = "    dX = " + " + ".join(f"(a{i} - b{i})" for i in range(12))
    folded = fold_line(line, 40)
    assert all(len(part) <= 40 for part in folded) and len(folded) > 2
    assert all(part.startswith("        + (") for part in folded[1:])  # each piece a whole term, indented
    assert " ".join(part.strip() for part in folded) == line.strip()


def test_rules_lists_every_rule_with_its_proof(capsys) -> None:
    """`gradproof rules`: one line per row of the rule table, each proved at every size or at named shapes."""
    from graphs.ops import RULES

    assert main(["rules"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == len(RULES) + 1
    assert {line.split()[0] for line in lines[:-1]} == set(RULES)
    assert all(" proved " in line and ("every size" in line or "at shapes" in line) for line in lines[:-1])
    assert lines[-1] == f"{sum('every size' in line for line in lines[:-1])} of {len(RULES)} rules proved at every size"
