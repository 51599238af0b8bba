"""--reveal: the key is in feedback only when the instructor asks (then for every answer), on the command line, in a class's
exports and pages, and in an autograder's results.json; the store keeps the feedback as graded."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from gradproof.cli import main
from verify.homework.problems import problem

KEY = problem("information:grad_q").answer


def test_check_shows_the_key_only_with_reveal(capsys: pytest.CaptureFixture[str], monkeypatch) -> None:
    monkeypatch.setenv("COLUMNS", "500")  # one line per message: this test reads what is said, not how it folds
    assert KEY and main(["check", "information:grad_q", "p_i/q_i"]) == 0
    hidden = capsys.readouterr().out
    assert hidden.startswith("incorrect") and KEY not in hidden and "the gradient:" not in hidden
    assert main(["check", "information:grad_q", "p_i/q_i", "--reveal"]) == 0
    assert f"; the gradient: {KEY}" in capsys.readouterr().out
    assert main(["check", "information:grad_q", KEY, "--reveal"]) == 0  # a right answer is shown the key too, asked for
    assert capsys.readouterr().out.startswith("correct") and KEY


def test_grade_reveals_in_the_exports_but_the_store_keeps_what_was_graded(tmp_path: Path) -> None:
    (tmp_path / "class.csv").write_text(f"student,problem,answer\nann,information:grad_q,p_i/q_i\nbob,information:grad_q,{KEY}\n")
    out = tmp_path / "graded"
    assert main(["grade", "lecture", str(tmp_path / "class.csv"), "-o", str(out), "--workers", "1"]) == 0
    assert "the gradient:" not in (out / "results.csv").read_text()
    assert main(["grade", "lecture", str(tmp_path / "class.csv"), "-o", str(out), "--workers", "1", "--reveal",
                 "--report", str(tmp_path / "pages")]) == 0
    results = (out / "results.csv").read_text()
    assert f"; the gradient: {KEY}" in results and results.count("the gradient:") == 2  # ann's and bob's
    ann = json.loads(next((out / "gradescope").glob("ann/results.json")).read_text())
    assert ann["tests"][0]["output"].endswith(f"the gradient: {KEY}")
    assert "the gradient:" in (tmp_path / "pages" / "ann.html").read_text()
    with sqlite3.connect(out / "grades.sqlite") as db:
        stored = [row[0] for row in db.execute("select feedback from grades")]
    assert stored and not any("the gradient:" in f for f in stored)


def test_single_reveals_in_results_json(tmp_path: Path) -> None:
    (tmp_path / "one.csv").write_text("problem,answer\nkl.grad_q,p_i/q_i\n")
    for flag, shown in (([], False), (["--reveal"], True)):
        out = tmp_path / ("shown" if shown else "hidden")
        assert main(["grade", "lecture", "--single", str(tmp_path / "one.csv"), "-o", str(out), *flag]) == 0
        output = json.loads((out / "results.json").read_text())["tests"][0]["output"]
        assert (f"the gradient: {KEY}" in output) is shown
