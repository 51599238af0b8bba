"""gradproof grade --report: one typeset HTML feedback page per student, escaped, plus an index."""

from __future__ import annotations

import csv
import html.parser
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from gradproof.cli import main

ANSWERS = ("student,problem,answer\n"
           "ann,softmax_ce:grad_z,p_i - y_i\n"
           "ann,attention:grad_V,A^\\top G\n"
           "bob,softmax_ce:grad_z,y_i - p_i\n"
           'bob,information:grad_q,"__import__(""os"")"\n'
           "<script>alert(1)</script>,attention:grad_S,A .* dA\n")


@pytest.fixture(scope="module")
def graded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("class")
    (root / "answers.csv").write_text(ANSWERS)
    assert main(["grade", "lecture", str(root / "answers.csv"), "-o", str(root / "out"), "--report", str(root / "pages")]) == 0
    return root


class _Tags(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []

    def handle_starttag(self, tag: str, attrs: list) -> None:
        self.tags.append(tag)


def _tags(page: Path) -> list[str]:
    parser = _Tags()
    parser.feed(page.read_text())
    return parser.tags


def test_one_page_per_student_and_an_index(graded: Path) -> None:
    pages = sorted(p.name for p in (graded / "pages").iterdir())
    assert pages[:2] == ["ann.html", "bob.html"] and "index.html" in pages and len(pages) == 4
    index = (graded / "pages" / "index.html").read_text()
    assert 'href="ann.html"' in index and "2 / 2" in index and "0.5 / 2" in index


def test_results_keep_the_answer_and_counterexample(graded: Path) -> None:
    with (graded / "out" / "results.csv").open(newline="") as handle:
        rows = {(r["student"], r["problem"]): r for r in csv.DictReader(handle)}
    assert rows[("ann", "attention:grad_V")]["answer"] == "A^\\top G"
    counter = json.loads(rows[("bob", "softmax_ce:grad_z")]["counterexample"])
    assert counter["expected"] == -counter["yours"] != 0  # the sign error, at a real point


def test_a_page_typesets_answers_and_shows_feedback(graded: Path) -> None:
    bob = graded / "pages" / "bob.html"
    text = bob.read_text()
    assert "Homework feedback: bob" in text and "Score 0.5 / 2" in text
    assert _tags(bob).count("math") == 1  # the valid answer typeset; the invalid one is not
    assert "sign error" in text and "Counterexample." in text and "your answer gives" in text
    assert "__import__(&quot;os&quot;)" in text  # the invalid answer as typed, escaped
    assert "invalid" in text and "cannot read" in text
    ann = (graded / "pages" / "ann.html").read_text()
    # typeset as written (A^\top G), not from the SymPy it reads as
    assert re.search(r"<msup><mrow><mi>A</mi></mrow><mi>⊤</mi></msup>.*<mi>G</mi>", ann, re.DOTALL)
    assert 'alttext="A^{\\top} G"' in ann


def test_hostile_names_are_escaped_and_hashed(graded: Path) -> None:
    page = next(p for p in (graded / "pages").iterdir() if p.name.startswith("student-"))
    assert "<script>" not in page.read_text() and "&lt;script&gt;alert(1)" in page.read_text()
    assert "script" not in _tags(page) and "<script>" not in (graded / "pages" / "index.html").read_text()


def test_report_from_a_resumed_run_includes_earlier_answers(graded: Path) -> None:
    assert main(["grade", "lecture", str(graded / "answers.csv"), "-o", str(graded / "out"),
                 "--report", str(graded / "again")]) == 0
    assert "Score 2 / 2" in (graded / "again" / "ann.html").read_text()


@pytest.mark.skipif(shutil.which("chromium") is None, reason="no headless Chromium installed")
def test_chromium_lays_out_the_answer_math(graded: Path, tmp_path: Path) -> None:
    probe = tmp_path / "probe.html"
    script = ("<script>const m=[...document.querySelectorAll('math')].map(e=>e.getBoundingClientRect());"
              "document.body.setAttribute('data-m',JSON.stringify(m.map(r=>[r.width,r.height])));</script></body>")
    probe.write_text((graded / "pages" / "ann.html").read_text().replace("</body>", script))
    dom = subprocess.run(["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--dump-dom", probe.as_uri()],
                         capture_output=True, text=True, timeout=120, check=False).stdout
    sizes = json.loads(re.search(r'data-m="([^"]*)"', dom).group(1).replace("&quot;", '"'))
    assert len(sizes) == 2 and all(w > 10 and h > 5 for w, h in sizes), sizes


def test_an_exercise_table_shows_its_first_wrong_row() -> None:
    from gradproof.homework_report import student_page
    from verify.homework.problems import grade

    g = grade("bp:step", "1/8; 1/32 -1/64; 1 1")
    row = {"problem": "bp:step", "answer": "1/8; 1/32 -1/64; 1 1", "verdict": g.verdict, "score": str(g.score),
           "feedback": g.feedback, "counterexample": json.dumps(g.counterexample)}
    page = student_page("cy", [row], {})
    assert "First wrong row." in page and "33/32, -15/32" in page and "<math" not in page  # a table is shown as typed
