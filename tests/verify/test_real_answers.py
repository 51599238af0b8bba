"""Real answers as people write them (issue 15): derivations from public sources, right and wrong, each in
its source's notation (tests/verify/real_answers.toml). A wrong answer graded correct always fails. A right
answer the grader does not read as correct yet carries ``xfail = "reason"`` in the file and is a strict
xfail here, so the day it grades correct the test says to remove the mark."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from verify.homework.problems import PROBLEMS, Problem, grade

FILE = Path(__file__).with_name("real_answers.toml")
ANSWERS = tomllib.loads(FILE.read_text(encoding="utf-8"))["answer"]


def _params() -> list:
    params = []
    for number, entry in enumerate(ANSWERS, start=1):
        marks = []
        if entry.get("xfail"):
            marks.append(pytest.mark.xfail(reason=entry["xfail"], strict=True))
        kind = "right" if entry["right"] else "wrong"
        params.append(pytest.param(entry, id=f"{number:03d}-{entry['problem']}-{kind}", marks=marks))
    return params


def test_the_file_is_well_formed() -> None:
    formula = {name for name, p in PROBLEMS.items() if isinstance(p, Problem)}  # not the numeric exercises' tables
    for entry in ANSWERS:
        assert set(entry) <= {"problem", "text", "right", "source", "xfail"}, entry
        assert entry["problem"] in formula, entry["problem"]
        assert isinstance(entry["right"], bool) and entry["text"].strip() and entry["source"].strip(), entry
        assert not entry.get("xfail") or entry["right"], f"only a right answer may be an expected failure: {entry}"
    texts = [(e["problem"], e["text"]) for e in ANSWERS]
    assert len(texts) == len(set(texts)), "an answer is listed twice"


@pytest.mark.parametrize("entry", _params())
def test_a_real_answer_grades_as_it_should(entry: dict) -> None:
    g = grade(entry["problem"], entry["text"])
    shown = f"{entry['text']!r} ({entry['source']}): {g.verdict} [{g.method}] {g.feedback}"
    if entry["right"]:
        assert g.verdict == "correct", f"a right answer was not credited: {shown}"
    else:
        assert g.verdict != "correct", f"A WRONG ANSWER WAS CREDITED: {shown}"
