"""Every report page laid out by headless Chromium, on a phone and at print width.

Each page of the committed gallery (``reports/*.html``, or ``$GRADPROOF_GALLERY_DIR``) and a
homework feedback page is loaded twice in one Chromium process: in a 390 px frame (a phone) and in
a 718 px frame (A4's printable width at 96 dpi) with its print rules applied. A script in each copy
measures every formula that is shown (a folded, closed ``<details>`` block shows none, and a
formula laid out for the other width is not displayed) and posts
the measurements to the outer page, which Chromium's ``--dump-dom`` then prints. The test fails on
``partial(`` text, any MathML ``<merror>``, and any formula wider than its frame or cut off by its
scrolling box.
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = next((shutil.which(b) for b in ("chromium", "chromium-browser") if shutil.which(b)),
                "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no headless Chromium installed")

FRAMES = {"phone": 390, "print": 718}  # CSS px; A4 is 794 px wide, less Chromium's default print margins

# Runs inside each copy of a page: every <math> outside a closed <details>, its box against the
# frame's width and against the box it scrolls in; then hands the numbers to the outer page.
_MEASURE = """<script>
window.addEventListener('load', () => {
  const width = document.documentElement.clientWidth, bad = [];
  for (const m of document.querySelectorAll('math')) {
    if (m.closest('details:not([open])') || m.getClientRects().length === 0) continue;  // folded, or not shown here
    const r = m.getBoundingClientRect(), box = m.closest('.display, .table');
    const cut = box && box.scrollWidth > box.clientWidth + 1;
    if (r.width === 0 || r.left < -1 || r.right > width + 1 || cut)
      bad.push({alt: (m.getAttribute('alttext') || '').slice(0, 80), left: r.left, right: r.right, width: r.width,
                cut: !!cut});
  }
  parent.postMessage({frame: FRAME, width, bad, shown: document.querySelectorAll('math').length,
                      merror: document.getElementsByTagName('merror').length,
                      partial: document.body.innerText.includes('partial(')}, '*');
});
</script>"""

_OUTER = """<!DOCTYPE html><html><body>{frames}<pre id="out"></pre><script>
const got = [];
window.addEventListener('message', e => {{ got.push(e.data);
  if (got.length === {count}) document.getElementById('out').textContent = JSON.stringify(got); }});
</script></body></html>"""


def _pages() -> list[Path]:
    folder = Path(os.environ.get("GRADPROOF_GALLERY_DIR", ROOT / "reports"))
    return sorted(folder.glob("*.html"))


def _homework_page(folder: Path) -> Path:
    from gradproof.homework_report import student_page

    rows = [{"problem": "attention:grad_Q", "answer": r"\frac{1}{\sqrt{d_k}} dS K", "verdict": "correct", "score": "1",
             "feedback": "right", "counterexample": ""},
            {"problem": "softmax_ce:grad_z", "answer": "y_i - p_i", "verdict": "incorrect", "score": "0",
             "feedback": "sign error", "counterexample": json.dumps(
                 {"inputs": {"z": [[0.5, -1.25, 2.0]], "y": [[0, 1, 0]]}, "entry": "(1, 1)", "expected": "0.1",
                  "yours": "-0.1"})}]
    path = folder / "homework_ann.html"
    path.write_text(student_page("ann", rows, {}), encoding="utf-8")
    return path


def _measure(page: Path, work: Path) -> list[dict]:
    """The page's measurements in each frame (one Chromium process for both)."""
    text = page.read_text(encoding="utf-8")
    frames = []
    for frame, width in FRAMES.items():
        copy = text.replace("@media print{", "@media all{") if frame == "print" else text
        copy = copy.replace("</body>", _MEASURE.replace("FRAME", json.dumps(frame)) + "</body>")
        (work / f"{page.stem}.{frame}.html").write_text(copy, encoding="utf-8")
        frames.append(f'<iframe src="{page.stem}.{frame}.html" style="width:{width}px;height:900px;border:0"></iframe>')
    outer = work / f"{page.stem}.probe.html"
    outer.write_text(_OUTER.format(frames="".join(frames), count=len(frames)), encoding="utf-8")
    dom = subprocess.run(
        [CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1200,900",
         "--virtual-time-budget=10000", "--dump-dom", outer.as_uri()],
        capture_output=True, text=True, timeout=120, check=False).stdout
    found = re.search(r'<pre id="out">([^<]*)</pre>', dom)
    assert found and found.group(1), f"{page.name}: Chromium reported nothing"
    return json.loads(html.unescape(found.group(1)))


def test_every_report_page_fits_a_phone_and_a_printed_page(tmp_path: Path) -> None:
    pages = _pages()
    assert pages, "no report pages to check"
    work = tmp_path / "probe"
    work.mkdir()
    for page in pages:  # copies sit next to each other, so relative links (the .svg files) still resolve
        shutil.copy(page, work / page.name)
    checked = [*(work / p.name for p in pages), _homework_page(work)]
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = dict(zip(checked, pool.map(lambda p: _measure(p, work), checked)))
    problems = []
    for page, frames in results.items():
        assert len(frames) == len(FRAMES), page.name
        for f in frames:
            problems += [f"{page.name} [{f['frame']}]: partial( in the text"] if f["partial"] else []
            problems += [f"{page.name} [{f['frame']}]: {f['merror']} merror"] if f["merror"] else []
            problems += [f"{page.name} [{f['frame']}, {f['width']} px]: {b}" for b in f["bad"]]
    assert not problems, "\n".join(problems[:40])
    # the probe measured real formulas: the report pages have many, the homework page its two answers
    assert all(any(f["shown"] for f in frames) for page, frames in results.items() if not page.stem.endswith("index"))


def test_the_probe_catches_a_formula_too_wide_for_a_phone(tmp_path: Path) -> None:
    """The measurement fails where it should: an unfolded long formula, merror and partial( text."""
    from gradproof.report import _page

    wide = "<mi>x</mi><mo>+</mo>" * 80 + "<mi>y</mi>"
    page = tmp_path / "wide.html"
    page.write_text(_page("en", "wide", [f'<div class="display"><math display="block" alttext="wide">{wide}</math>'
                                        "</div><p>partial(p, z, 1)</p><math><merror><mtext>x</mtext></merror></math>"]),
                    encoding="utf-8")
    frames = {f["frame"]: f for f in _measure(page, tmp_path)}
    assert frames["phone"]["bad"] and frames["phone"]["bad"][0]["alt"] == "wide"
    assert frames["phone"]["merror"] == 1 and frames["phone"]["partial"]
