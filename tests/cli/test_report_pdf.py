"""The PDF report: TeX's dependencies known up front, a real page rasterised and read back, no
temporary files, formulas that fit the line, prose math typeset as math."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from gradproof import report_tex
from gradproof.report_tex import compile_pdf, overfull_boxes, prose, tex_problems

HAVE_TEX = all(shutil.which(tool) for tool in ("pdflatex", "pdftoppm", "pdftotext", "kpsewhich"))


def test_tex_problems_names_a_missing_package_and_its_debian_package(monkeypatch) -> None:
    monkeypatch.setattr(report_tex.shutil, "which", lambda tool: f"/usr/bin/{tool}")

    def kpsewhich(command, **_):  # finds every file but booktabs.sty, as on a texlive-latex-base system
        assert command[0] == "kpsewhich"
        found = [f"/usr/share/texmf/{name}" for name in command[1:] if name != "booktabs.sty"]
        return subprocess.CompletedProcess(command, 1, stdout="\n".join(found) + "\n", stderr="")

    monkeypatch.setattr(report_tex.subprocess, "run", kpsewhich)
    assert tex_problems() == ["booktabs.sty is missing (Debian: texlive-latex-recommended)"]
    assert tex_problems("zh")[-1].startswith("the PDF report is in English only (no zh)")
    assert tex_problems("zh", pdf=False) == [tex_problems("zh")[-1]]  # --format tex needs no TeX, only a language
    assert tex_problems("en", pdf=False) == []


def test_tex_problems_names_a_missing_engine(monkeypatch) -> None:
    monkeypatch.setattr(report_tex.shutil, "which", lambda tool: None)  # no TeX at all
    problems = tex_problems()
    assert problems[0] == "pdflatex is not installed (Debian: texlive-latex-base)"
    assert any("booktabs.sty" in p and "texlive-latex-recommended" in p for p in problems)


def test_prose_sets_ascii_math_as_math() -> None:
    assert prose("quotient rule on e^{z_i} / sum_k e^{z_k}") == r"quotient rule on $e^{z_{i}} / \sum_{k} e^{z_{k}}$"
    assert prose("scores S = Q K^T / sqrt(d_k)") == r"scores $S = Q K^{T} / \sqrt{d_{k}}$"
    assert prose("O = A V is linear in V; L = sum(G * O)") == r"$O = A V$ is linear in $V$; $L = \sum(G * O)$"
    assert prose("(W_O^h)^T, Xhat_ij, delta^(l)") == r"$(W_{O}^{h})^{T}$, $\hat{X}_{ij}$, $\delta^{(l)}$"
    # English stays text: the article, a function's name alone, code, and TeX's special characters
    assert prose("A shift of a vector; the sum over k") == r"A shift of a vector; the sum over $k$"
    assert prose("torch.nn.functional.layer_norm, 5% & $") == r"torch.nn.functional.layer\_norm, 5\% \& \$"
    assert prose("off the kinks, i.e. where H > 0") == r"off the kinks, i.e. where $H > 0$"


def test_a_zh_document_is_refused_not_garbled() -> None:
    with pytest.raises(ValueError, match="English only"):
        report_tex.report_tex({"lang": "zh"})


@pytest.mark.skipif(not HAVE_TEX, reason="no TeX (Debian: texlive-latex-base, texlive-latex-recommended, lmodern, "
                    "poppler-utils)")
def test_a_failed_compile_names_the_first_error_and_leaves_nothing(tmp_path) -> None:
    tex = tmp_path / "broken.tex"
    tex.write_text("\\documentclass{article}\\begin{document}\n$\\frac{1}$ and \\undefinedmacro\n\\end{document}\n")
    with pytest.raises(RuntimeError) as error:
        compile_pdf(tex)
    message = str(error.value)
    assert "\n" not in message and "broken.tex" in message and "l.2" in message, message
    assert sorted(p.name for p in tmp_path.iterdir()) == ["broken.tex"]  # no .aux, .log, half a PDF


@pytest.mark.skipif(not HAVE_TEX, reason="no TeX (Debian: texlive-latex-base, texlive-latex-recommended, lmodern, "
                    "poppler-utils)")
def test_pdf_page_one_is_typeset_and_reads_back(tmp_path) -> None:
    pytest.importorskip("torch")
    from gradproof.report import build_report
    from graphs.draw import render
    from graphs.models import model

    doc = build_report("information", examples=2, dtypes=("float64",))
    out = tmp_path / "out"
    out.mkdir()
    pngs = [f"information.{g['model']}.png" for g in doc["graphs"]]
    for graph, png in zip(doc["graphs"], pngs):
        (out / png).write_bytes(render(model(graph["model"]), "png", adjoints=True))
    tex = out / "information.tex"
    tex.write_text(report_tex.report_tex(doc, pngs))
    log = tmp_path / "information.log"
    pdf = compile_pdf(tex, log=log)

    assert pdf == tex.with_suffix(".pdf") and pdf.read_bytes().startswith(b"%PDF")
    assert sorted(p.name for p in out.iterdir()) == sorted([*pngs, "information.tex", "information.pdf"])
    assert overfull_boxes(log.read_text()) == []  # nothing runs into the margin

    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True,
                          timeout=60).stdout
    # the title and the question (pdftotext puts a space after an italic H: "dH /dp")
    assert doc["title"] in text and "derive dH/dp, dKL/dq" in text.replace(" /", "/")
    assert "--format pdf" in text and "--format html" not in text  # Reproduce names this format
    flat = " ".join(text.split())
    assert "What holds for each target, and how: • proved for every size" in flat  # the strongest result, per target
    assert "\\" not in text and "?" not in text.replace("dH/dp?", "")  # no raw TeX, nothing unsettable

    subprocess.run(["pdftoppm", "-r", "40", "-gray", "-f", "1", "-l", "1", str(pdf), str(tmp_path / "page")],
                   check=True, timeout=60)
    page = next(tmp_path.glob("page*.pgm")).read_bytes()
    width, height, pixels = _pgm(page)
    ink = sum(1 for p in pixels if p < 128) / (width * height)
    assert width > 300 and height > 400, (width, height)  # A4 at 40 dpi is 331 x 468
    assert 0.005 < ink < 0.25, ink  # text on the page, not a blank or black page


def _pgm(data: bytes) -> tuple[int, int, bytes]:
    """Width, height and pixels of a binary PGM (pdftoppm -gray): header 'P5 W H 255' then bytes."""
    fields, at = [], 0
    while len(fields) < 4:
        while data[at:at + 1].isspace():
            at += 1
        end = at
        while not data[end:end + 1].isspace():
            end += 1
        fields.append(data[at:end])
        at = end
    assert fields[0] == b"P5"
    width, height = int(fields[1]), int(fields[2])
    return width, height, data[at + 1:at + 1 + width * height]
