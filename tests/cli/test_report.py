"""gradproof report: each format's structure, status labels at a glance, the gallery, the browser."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

pytest.importorskip("torch")

from derive.catalog import NAMES
from gradproof.cli import main
from gradproof.gallery import MANIFEST, stale_entries, write_gallery
from gradproof.report import build_report, report_html, report_markdown
from verify.forwards import NAMES as FORWARD_NAMES

ROOT = Path(__file__).resolve().parents[2]
GALLERY = ROOT / "reports"


@pytest.fixture(scope="module")
def doc() -> dict:
    return build_report("information", examples=3, dtypes=("float64",))


def test_document_holds_every_part(doc: dict) -> None:
    assert {"name", "title", "section", "question", "symbols", "assumptions", "forward", "graphs", "steps", "results",
            "matrix_form", "checks", "summary", "reproduce"} <= set(doc)
    assert [g["model"] for g in doc["graphs"]] == ["entropy", "kl_pq", "kl"]
    assert all(g["svg"].lstrip().startswith("<") and "<svg" in g["svg"] for g in doc["graphs"])
    assert doc["summary"]["steps"] == {"proved": len(doc["steps"])}
    assert doc["summary"]["numeric_checks"] == {"passed": 8, "failed": 0, "without_formula": 0}
    assert all(c["tolerance"] and c["dtype"] == "float64" for c in doc["checks"])
    json.dumps(doc)  # all of it is JSON


def test_markdown_structure(doc: dict) -> None:
    text = report_markdown(doc, ["information.entropy.svg"])
    for heading in ("# Entropy", "## Symbols", "## Forward computation", "## Computation graph",
                    "## Derivation, step by step", "## Results", "## Numeric checks against PyTorch autograd",
                    "## Reproduce"):
        assert heading in text
    assert "> **At a glance.**" in text and "never a proof" in text
    assert text.count("**proved**") >= len(doc["steps"]) and "$$" in text and "](information.entropy.svg)" in text
    assert "| dKL/dz | matrix | cpu | float64 |" in text and "gradproof verify information" in text


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.attrs: list[tuple[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list) -> None:
        self.tags.append(tag)
        self.attrs += attrs


def test_html_is_self_contained_with_mathml_and_svg(doc: dict) -> None:
    page = report_html(doc)
    parser = _Tags()
    parser.feed(page)
    assert parser.tags.count("svg") == 3 and "script" not in parser.tags and "link" not in parser.tags
    assert parser.tags.count("math") >= len(doc["steps"]) + len(doc["results"])
    remote = [v for k, v in parser.attrs if k in ("src", "href") and v and re.match(r"https?:", v)]
    assert not remote
    assert 'class="badge proved"' in page and "At a glance" in page and '<meta name="viewport"' in page


def test_a_failed_check_shows_and_exits_1(monkeypatch, tmp_path, capsys) -> None:
    import dataclasses

    from verify import targets

    real = targets.targets_for
    def broken(names):
        return [dataclasses.replace(t, reference=lambda v, s, t=t: -t.reference(v, s)) for t in real(names)]
    monkeypatch.setattr(targets, "targets_for", broken)
    assert main(["report", "information", "--examples", "3", "-o", str(tmp_path), "--format", "md"]) == 1
    text = (tmp_path / "information.md").read_text()
    assert "| FAILED |" in text and "0 passed" in text
    assert "[FAILED]" in capsys.readouterr().err


def test_cli_writes_each_format(tmp_path) -> None:
    args = ["report", "information", "--examples", "2", "-o", str(tmp_path)]
    assert main([*args, "--format", "json", "--format", "md", "--format", "html"]) == 0
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["information.entropy.svg", "information.html", "information.json", "information.kl.svg",
                     "information.kl_pq.svg", "information.md"]
    assert json.loads((tmp_path / "information.json").read_text())["name"] == "information"


@pytest.mark.parametrize(("args", "words"), [
    (["report"], "or give --all"),
    (["report", "attention", "--examples", "0"], "--examples must be at least 1"),
    (["report", "nope"], "no catalog entry named 'nope'"),
])
def test_bad_report_input_is_one_line_exit_2(args, words, capsys) -> None:
    assert main(args) == 2
    err = capsys.readouterr().err
    assert words in err and len(err.strip().splitlines()) == 1


GALLERY_ENTRIES = [*NAMES, *FORWARD_NAMES]


def test_gallery_is_complete() -> None:
    """reports/ holds every entry's pages, the index and the manifest of exactly those entries."""
    for name in GALLERY_ENTRIES:
        assert (GALLERY / f"{name}.md").is_file() and (GALLERY / f"{name}.html").is_file(), name
    assert (GALLERY / "index.md").is_file() and (GALLERY / "index.html").is_file()
    assert sorted(json.loads((GALLERY / MANIFEST).read_text(encoding="utf-8"))) == sorted(GALLERY_ENTRIES)
    index = (GALLERY / "index.md").read_text()
    assert all(f"({name}.html)" in index for name in GALLERY_ENTRIES)
    assert "0 failed" in index and " 1 failed" not in index


@pytest.mark.parametrize("name", GALLERY_ENTRIES)
def test_gallery_says_what_the_code_says(name: str) -> None:
    """The gallery's steps, statuses and formulas are the code's (run `gradproof report --all -o reports`)."""
    assert stale_entries(GALLERY, [name]) == {}


def test_a_changed_status_or_formula_makes_the_gallery_stale(tmp_path) -> None:
    stored = json.loads((GALLERY / MANIFEST).read_text(encoding="utf-8"))
    changed = json.loads(json.dumps(stored))
    changed["information"]["steps"][0]["status"]["label"] = "numeric"
    changed["perceptron"]["steps"][-1]["math"]["latex"] += " + 1"
    (tmp_path / MANIFEST).write_text(json.dumps(changed), encoding="utf-8")
    stale = stale_entries(tmp_path, ["information", "perceptron", "bp"])
    assert sorted(stale) == ["information", "perceptron"]
    assert "status" in stale["information"] and "latex" in stale["perceptron"]


def test_regenerating_after_no_change_rewrites_nothing(tmp_path) -> None:
    """Float digits of the numeric table churn between runs; an unchanged page keeps its bytes."""
    doc = build_report("information", examples=3, dtypes=("float64",))
    page = report_html(doc).replace("</body>", "<p>max error 1.2e-07</p></body>")
    assert write_gallery(tmp_path, {"information": {"information.html": page}}, {"information": doc}) == \
        ["information.html", MANIFEST]
    churned = page.replace("1.2e-07", "3.4e-07")
    assert write_gallery(tmp_path, {"information": {"information.html": churned}}, {"information": doc}) == []
    assert (tmp_path / "information.html").read_text(encoding="utf-8") == page
    changed = {**doc, "title": doc["title"] + "!"}
    assert write_gallery(tmp_path, {"information": {"information.html": churned}}, {"information": changed}) == \
        ["information.html", MANIFEST]
    assert not list(tmp_path.glob(".*partial"))


def _browser() -> str | None:
    return next((b for b in ("chromium", "chromium-browser", "google-chrome") if shutil.which(b)), None)


@pytest.mark.skipif(_browser() is None, reason="no headless Chromium installed")
def test_a_real_browser_renders_math_and_graph(tmp_path) -> None:
    """Headless Chromium lays the gallery page out: math has size, the graph is drawn."""
    from PIL import Image

    page = GALLERY / "attention.html"
    shot = tmp_path / "page.png"
    common = [_browser(), "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars"]
    subprocess.run([*common, f"--screenshot={shot}", "--window-size=900,2400", page.as_uri()],
                   capture_output=True, timeout=120, check=False)
    image = Image.open(shot).convert("L")
    assert image.size == (900, 2400)
    dark = sum(1 for v in image.getdata() if v < 200) / (900 * 2400)
    assert dark > 0.02, f"the page looks blank ({dark:.1%} inked)"
    # Element sizes: a copy of the page with a measuring script (the report itself has none).
    probe = tmp_path / "probe.html"
    measure = (
        "<script>document.querySelectorAll('details').forEach(d=>{d.open=true});"  # folded formulas, opened
        # a formula shown only at another width (the phone's folded copy) is display:none here
        "const shown=e=>{for(let a=e;a;a=a.parentElement){if(getComputedStyle(a).display==='none')return false}return true};"
        "const m=[...document.querySelectorAll('math')].filter(shown).map(e=>e.getBoundingClientRect());"
        "const g=[...document.querySelectorAll('figure svg')].map(e=>e.getBoundingClientRect());"
        "document.body.setAttribute('data-measure',JSON.stringify({math:m.length,"
        "sized:m.filter(r=>r.width>4&&r.height>4).length,graphs:g.map(r=>[Math.round(r.width),Math.round(r.height)])}));"
        "</script></body>"
    )
    probe.write_text(page.read_text().replace("</body>", measure))
    dom = subprocess.run([*common, "--window-size=900,2400", "--dump-dom", probe.as_uri()], capture_output=True,
                         text=True, timeout=120, check=False).stdout
    found = re.search(r'data-measure="([^"]*)"', dom)
    assert found, "the measuring script did not run"
    sizes = json.loads(found.group(1).replace("&quot;", '"'))
    assert sizes["math"] > 20 and sizes["sized"] == sizes["math"], sizes  # every formula laid out with a size
    assert len(sizes["graphs"]) == 2 and all(w > 200 and h > 300 for w, h in sizes["graphs"]), sizes


def test_tex_structure(doc: dict) -> None:
    from gradproof.report_tex import escape, report_tex

    tex = report_tex(doc, ["information.entropy.png"])
    assert tex.startswith(r"\documentclass") and tex.rstrip().endswith(r"\end{document}")
    assert tex.count(r"\item ") == len(doc["steps"]) and r"\includegraphics" in tex
    assert r"\status{proved}" in tex and "At a glance" in tex
    assert escape("KL(p||q) & 5% of $x_1") == r"KL(p\textbar{}\textbar{}q) \& 5\% of \$x\_1"
    assert "?" == escape("\u4e2d")  # never dropped silently


@pytest.mark.skipif(shutil.which("pdflatex") is None or shutil.which("pdftoppm") is None,
                    reason="no TeX installed (Debian: texlive-latex-recommended, poppler-utils)")
def test_pdf_compiles_and_has_pages(tmp_path) -> None:
    assert main(["report", "softmax_ce", "--format", "pdf", "--examples", "2", "-o", str(tmp_path)]) == 0
    pdf = tmp_path / "softmax_ce.pdf"
    assert pdf.read_bytes().startswith(b"%PDF")
    subprocess.run(["pdftoppm", "-r", "30", "-png", "-f", "1", "-l", "1", str(pdf), str(tmp_path / "page")],
                   check=True, timeout=60)
    assert any(p.name.startswith("page") for p in tmp_path.iterdir())


def test_every_reason_has_its_chinese() -> None:
    """--lang zh: every step's reason, entry title and section has a translation (no silent English)."""
    import tomllib

    from derive.catalog import topic

    zh = tomllib.loads((ROOT / "gradproof" / "locale" / "zh.toml").read_text(encoding="utf-8"))
    keys = set()
    for name in NAMES:
        t = topic(name)
        keys |= {f"{name}.{c.key}" for c in t.claims}
        keys |= {f"{name}.{s.key}" for s in (t.facts() if t.facts else ())}
        assert name in zh["titles"] and name in zh["sections"], name
    assert sorted(keys - set(zh["reasons"])) == []
    from gradproof.words import UI_EN

    assert set(UI_EN) <= set(zh["ui"])


def test_chinese_report(doc: dict) -> None:
    from gradproof.words import translate

    zh = translate(doc, "zh")
    page, text = report_html(zh), report_markdown(zh)
    assert '<html lang="zh-CN">' in page and "逐步推导" in page and "与 PyTorch autograd 的数值核对" in page
    assert text.startswith("# 熵、交叉熵与 KL 散度") and "*理由:* 代入 I(x_i) = -log p_i" in text
    assert zh["steps"][0]["reason_en"] == doc["steps"][0]["reason"]


def test_at_a_glance_says_how_each_target_holds_at_every_size() -> None:
    """Attention's claims are proved at every size by the graph route's lift; the glance says so, and
    a target proved only entrywise stays at its listed sizes."""
    from gradproof.report import UI_PAGES, strongest

    glance = {row["target"]: row for row in strongest(build_report("attention", examples=1, dtypes=()))}
    assert glance["dQ"]["kind"] == "proved" and glance["dQ"]["how"] == UI_PAGES["strongest_lifted"]
    conv = {row["target"]: row for row in strongest(build_report("conv", examples=1, dtypes=()))}
    assert {row["kind"] for row in conv.values()} >= {"proved_sizes"}

