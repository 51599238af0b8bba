"""One id scheme, ``entry:claim``, across derive, verify, problems, check and grade; the dotted form
(``softmax_ce.grad_z``) and the built-ins' former ids (``kl.grad_q``) still read wherever an id is
typed or stored, and every output shows the canonical id."""

from __future__ import annotations

import csv
import json
import sqlite3
from pathlib import Path

import pytest

from derive.catalog import NAMES, topic
from derive.spec import fact_steps
from gradproof.cli import main
from verify.homework import batch
from verify.homework.exercises import EXERCISES
from verify.homework.problems import _FORMER, PROBLEMS, Problem, canonical_id, grade, problem

ROOT = Path(__file__).resolve().parents[2]
BUILT_IN = {pid: p for pid, p in PROBLEMS.items() if isinstance(p, Problem)}
# every former spelling of a built-in's id: entry.claim for entry:claim, and the renamed ones
DOTTED = {pid.replace(":", ".", 1): pid for pid in PROBLEMS} | _FORMER


def test_a_built_in_problem_is_named_by_its_catalog_claim() -> None:
    for pid, p in BUILT_IN.items():
        assert pid == p.id == f"{p.entry}:{p.claim}"
        # a claim of the entry, or one of its theorems (information:entropy_bound asks for H(p)'s bound)
        keys = [c.key for c in topic(p.entry).claims] + [s.key for s in fact_steps(topic(p.entry))]
        assert p.entry in NAMES and p.claim in keys, pid
    for pid, exercise in EXERCISES.items():  # the tables have no claim, but the same shape of id
        assert pid == exercise.id and pid.split(":")[0] in NAMES


@pytest.mark.parametrize(("spelling", "pid"), sorted(DOTTED.items()))
def test_every_former_spelling_reads_as_the_canonical_id(spelling: str, pid: str) -> None:
    assert canonical_id(spelling) == pid == canonical_id(pid) == canonical_id(f" {spelling.upper()} ")
    assert problem(spelling) is PROBLEMS[pid] is PROBLEMS[spelling]
    assert spelling in PROBLEMS and spelling not in list(PROBLEMS)  # readable, never listed twice


def test_an_unknown_id_names_what_it_looks_like() -> None:
    with pytest.raises(KeyError, match=r"no problem 'kl\.grad_x'; did you mean information:grad_\w"):
        canonical_id("kl.grad_x")
    with pytest.raises(KeyError, match=r"no problem 'nope'; see 'gradproof problems'"):
        canonical_id("nope")


def test_grading_by_a_former_id_reports_the_canonical_one() -> None:
    g = grade("kl.grad_q", "-p_i/q_i")
    assert (g.problem, g.verdict) == ("information:grad_q", "correct")
    g = grade("perceptron.table_and", "0 0 -1")
    assert g.problem == "perceptron:table_and" and g.verdict == "incorrect"


def test_check_takes_either_spelling_and_prints_the_canonical_id(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "softmax_ce.grad_z", "y_i - p_i", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["problem"] == "softmax_ce:grad_z"
    assert main(["check", "softmax_ce:grad_y", "p_i"]) == 2
    err = capsys.readouterr().err
    assert "did you mean softmax_ce:grad_z" in err and len(err.strip().splitlines()) == 1


def test_verify_selects_a_target_by_the_problems_id() -> None:
    from verify.targets import targets_for

    for pid, p in BUILT_IN.items():
        if not any(c.key == p.claim and c.target for c in topic(p.entry).claims):
            continue  # a theorem's problem (a bound, a norm): no gradient for verify to check numerically
        chosen = targets_for((pid,))
        assert [t.claim for t in chosen] == [p.claim] and chosen == targets_for((pid.replace(":", ".", 1),)), pid
    with pytest.raises(KeyError, match="softmax_ce has targets softmax_ce:grad_z_general, softmax_ce:grad_z"):
        targets_for(("softmax_ce:grad_y",))
    for theorem in ("information:entropy_bound", "positional_encoding:norm"):  # problems' ids, no gradient to run
        with pytest.raises(KeyError, match="is a statement, not a gradient.*'gradproof derive"):
            targets_for((theorem,))


def test_derive_takes_an_entry_claim_for_its_entry(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["derive", "perceptron.update_w", "perceptron:update_b", "--json"]) == 0
    assert [e["name"] for e in json.loads(capsys.readouterr().out)["entries"]] == ["perceptron"]  # one entry, derived once
    assert main(["derive", "information:entropy_bound", "--json"]) == 0  # a theorem's problem id derives its entry
    steps = json.loads(capsys.readouterr().out)["entries"][0]["steps"]
    assert any(step["key"] == "entropy_bound" for step in steps)
    assert main(["derive", "perceptron:nope"]) == 2
    assert "perceptron has no claim 'nope'; its claims are perceptron:update_w" in capsys.readouterr().err


def _dotted(text: str) -> str:
    """A class file as written before ids were entry:claim."""
    for old, new in sorted(_FORMER.items()):
        text = text.replace(f",{new},", f",{old},")
    return text.replace(":", ".")  # no answer in the example class has a colon


def _results(out: Path) -> list[dict[str, str]]:
    with (out / "results.csv").open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_a_class_file_with_dotted_ids_grades_as_the_canonical_one(tmp_path: Path) -> None:
    canonical = (ROOT / "examples" / "class.csv").read_text(encoding="utf-8")
    assert "kl.grad_q" in _dotted(canonical) and ":" not in _dotted(canonical)
    (tmp_path / "old.csv").write_text(_dotted(canonical), encoding="utf-8")
    rows = batch.read_submissions(tmp_path / "old.csv")
    assert rows == batch.read_submissions(ROOT / "examples" / "class.csv")
    assert {r.problem for r in rows} == {"softmax_ce:grad_z", "information:grad_q", "attention:grad_V",
                                         "bp:delta_output_linear"}
    wide = tmp_path / "wide.csv"
    wide.write_text("student,softmax_ce.grad_z,KL.grad_q,bp.step\nann,p_i - y_i,-p_i/q_i,\n", encoding="utf-8")
    assert [r.problem for r in batch.read_submissions(wide)] == ["softmax_ce:grad_z", "information:grad_q", "bp:step"]
    single = tmp_path / "single.csv"
    single.write_text("problem,answer\nlayernorm.grad_x,x\nlayernorm:grad_X,gamma_i g_i\n", encoding="utf-8")
    warnings: list[str] = []
    assert [r.problem for r in batch.read_single(single, warnings)] == ["layernorm:grad_X"]
    assert warnings == ["problem layernorm:grad_X: rows 2, 3; the last (row 3) is graded"]  # one problem, not two


def test_a_store_written_with_former_ids_resumes_without_regrading(tmp_path: Path) -> None:
    old = tmp_path / "old.csv"
    old.write_text(_dotted((ROOT / "examples" / "class.csv").read_text(encoding="utf-8")), encoding="utf-8")
    rows = batch.read_submissions(old)
    out = tmp_path / "out"
    graded = list(batch.grade_class(rows, out, grader=grade))
    first = _results(out)
    assert len(graded) == len(first) == 16
    with sqlite3.connect(out / "grades.sqlite") as db:  # as a version with dotted ids left it
        db.execute("UPDATE grades SET problem = 'kl.grad_q' WHERE problem = 'information:grad_q'")
        db.execute("UPDATE grades SET problem = replace(problem, ':', '.') WHERE problem != 'kl.grad_q'")
        assert {r[0] for r in db.execute("SELECT problem FROM grades")} == {
            "softmax_ce.grad_z", "kl.grad_q", "attention.grad_V", "bp.delta_output_linear"}
    plans: list[batch.Plan] = []
    regraded = list(batch.grade_class(rows, out, grader=lambda p, a: pytest.fail(f"{p} regraded"), plans=plans))
    assert regraded == [] and plans[0].kept == 16 and not plans[0].missing
    assert "16 stored answers were under former problem ids" in plans[0].notes[0]
    assert _results(out) == first  # the same rows, under the canonical ids, none twice
    with sqlite3.connect(out / "grades.sqlite") as db:
        assert db.execute("SELECT count(*), count(DISTINCT student || problem) FROM grades").fetchone() == (16, 16)
    assert {r["problem"] for r in first} == {"softmax_ce:grad_z", "information:grad_q", "attention:grad_V",
                                             "bp:delta_output_linear"}


def test_an_instructors_file_cannot_take_a_former_id(tmp_path: Path, built_in_only: None) -> None:
    from verify.homework.problem_file import ProblemFileError, load_problems

    text = (ROOT / "examples" / "problems.toml").read_text(encoding="utf-8")
    first = text.index('id = "') + len('id = "')
    taken = text[:first] + "kl.grad_q" + text[text.index('"', first):]
    (tmp_path / "p.toml").write_text(taken, encoding="utf-8")
    with pytest.raises(ProblemFileError, match="the id 'kl.grad_q' is already taken"):
        load_problems(tmp_path / "p.toml")


def test_a_results_file_with_former_ids_is_imported_under_the_canonical_ones(tmp_path: Path) -> None:
    rows = batch.read_submissions(ROOT / "examples" / "class.csv")
    out = tmp_path / "out"
    list(batch.grade_class(rows, out, grader=grade))
    first = _results(out)
    results = out / "results.csv"
    former = {new: old for old, new in DOTTED.items()}  # the renamed ones last: kl.grad_q, not information.grad_q
    with results.open("w", newline="", encoding="utf-8") as handle:  # as a version before ids were entry:claim wrote it
        writer = csv.DictWriter(handle, list(first[0]))
        writer.writeheader()
        writer.writerows({**r, "problem": former[r["problem"]]} for r in first)
    assert "kl.grad_q" in results.read_text(encoding="utf-8") and "information:" not in results.read_text(encoding="utf-8")
    (out / "grades.sqlite").unlink()
    plans: list[batch.Plan] = []
    list(batch.grade_class(rows, out, grader=grade, plans=plans))
    assert plans[0].count("imported") == 16 and not plans[0].missing  # regraded once, as any import is
    assert [(r["student"], r["problem"], r["verdict"]) for r in _results(out)] == \
        [(r["student"], r["problem"], r["verdict"]) for r in first]
