"""--lang zh: no English prose left on a report page (issue 18, "zh complete for every string a user sees").

Each catalog entry's report, and one forward expression's, is built in Chinese with one example in
float64 (the numeric table then has every kind of row: routes, outcomes, sizes, tolerances, notes),
rendered to HTML and Markdown, and read as a user reads it. What is not prose is removed first:
math (``<math>``, ``$...$``), code and commands (``<code>``, ``<pre>``, backticks), the graph
pictures (``<svg>``: their words belong to graphs/draw.py), and then identifiers and numbers. Any
run of two or more English words that remains fails the test, with the words and where they are.
"""

from __future__ import annotations

import html
import re

import pytest

from derive.catalog import NAMES
from gradproof.report import build_report, report_html, report_markdown

# Proper names, the few terms a Chinese lecture writes in English too (softmax 的雅可比矩阵, sigmoid
# 输出, the tolerance's atol and rtol, the device cpu), and the Greek letters the notation spells out
# (the symbol table lists "alpha, beta").
ALLOWED = frozenset({
    "pytorch", "sympy", "hypothesis", "autograd", "torch", "gradproof", "novikoff", "hebb", "transformer", "softmax",
    "sigmoid", "relu", "tanh", "atol", "rtol", "cpu", "cuda", "cauchy", "schwarz", "gibbs",
    "alpha", "beta", "gamma", "delta", "epsilon", "eta", "mu", "sigma", "sin", "cos", "log", "exp",
})
_GREEK = ("alpha", "beta", "gamma", "delta", "epsilon", "eta", "mu", "sigma")
# Terms a Chinese text writes as they are.
ALLOWED_PHRASES = ("one-hot",)
# A word: letters only, all lower case or capitalised ("The"); dL, Xhat, AND, d_k, float64 are notation.
_WORD = re.compile(r"[a-z]{2,}|[A-Z][a-z]+")
# A name right before "(" is a function of the notation: sum(...), softmax(z), corr(X[c], G[o]).
_TOKEN = re.compile(r"[A-Za-z]+\(|[A-Za-z0-9_']+|\S")


def english_runs(text: str) -> list[str]:
    """Runs of two or more English words (separated by spaces, commas or hyphens) in prose.

    >>> english_runs("梯度 dL/dz (general) 与 upstream gradient, row by row；max pooling 的 n <= 3")
    ['upstream gradient, row by row', 'max pooling']
    >>> english_runs("已证明 n<=3, d_k<=3；PyTorch autograd 的数值核对：sum(G ⊙ O)，log p_i；dbeta, dgamma")
    []
    """
    for phrase in ALLOWED_PHRASES:
        text = text.replace(phrase, " ")
    runs: list[list[str]] = [[]]
    for token in _TOKEN.findall(text):
        if _WORD.fullmatch(token) and token.lower() not in ALLOWED and not _differential(token):
            runs[-1].append(token)
        elif token in {",", "-"} and runs[-1]:
            runs[-1].append(token)
        elif runs[-1]:
            runs.append([])
    shown = [" ".join(run).replace(" ,", ",").replace(" - ", "-").rstrip(",- ") for run in runs]
    return [run for run in shown if len(_WORD.findall(run)) >= 2]


def _differential(token: str) -> bool:
    """dz, dw, dbeta, dgamma: a d before a one-letter or Greek name is the notation of a gradient."""
    return token.startswith("d") and (len(token) == 2 or token[1:] in _GREEK)


def html_prose(page: str) -> str:
    """The text a reader sees on an HTML page, less math, code, pictures and the page's head."""
    for tag in ("head", "math", "code", "pre", "svg", "style"):
        page = re.sub(rf"<{tag}\b.*?</{tag}>", " | ", page, flags=re.S)
    return html.unescape(re.sub(r"<[^>]+>", " | ", page))  # a tag ends a run: table cells do not read on


def markdown_prose(text: str) -> str:
    """The text of a Markdown report, less math, code, commands and the targets of links and pictures."""
    text = re.sub(r"```.*?```", " | ", text, flags=re.S)
    text = re.sub(r"\$\$.*?\$\$", " | ", text, flags=re.S)
    text = re.sub(r"\$[^$\n]*\$", " | ", text)
    text = re.sub(r"`[^`\n]*`", " | ", text)
    return re.sub(r"\]\([^)]*\)", "]", text)


def _english(doc: dict) -> list[str]:
    svgs = [f"{doc['name']}.{g['model']}.svg" for g in doc["graphs"]]
    found = [f"html: {run}" for run in english_runs(html_prose(report_html(doc)))]
    return found + [f"md: {run}" for run in english_runs(markdown_prose(report_markdown(doc, svgs)))]


@pytest.mark.parametrize("name", NAMES)
def test_catalog_report_in_zh_has_no_english_prose(name: str) -> None:
    doc = build_report(name, examples=1, dtypes=("float64",), lang="zh")
    assert doc["checks"] and doc["symbols"]  # the walk covers the numeric table and the symbols
    found = _english(doc)
    assert not found, f"{len(found)} English runs on the zh page:\n" + "\n".join(found)


def test_forward_report_in_zh_has_no_english_prose() -> None:
    """A catalog entry written as a forward (rmsnorm): its claims, what they rest on, its checks."""
    from gradproof.expression_report import build_expression_report
    from verify.forwards import claims_for_report, entry, forward_of

    item = entry("rmsnorm")
    doc = build_expression_report(forward_of(item), examples=1, dtypes=("float64",), lang="zh",
                                  claims=claims_for_report(item))
    assert doc["checks"] and any(r.get("claim") for r in doc["results"])
    found = _english(doc)
    assert not found, f"{len(found)} English runs on the zh page:\n" + "\n".join(found)


def test_the_walk_finds_english_on_an_untranslated_page() -> None:
    """The detector is not blind: the same page in English is full of runs, in its prose and its table."""
    doc = build_report("information", examples=1, dtypes=("float64",), lang="en")
    found = _english(doc)
    assert any("checks against" in run for run in found) and any("the data distribution" in run for run in found)
    assert any("own rounding" in run for run in found)


def test_translated_fields_keep_their_english() -> None:
    """Every translated field keeps the English next to it (JSON readers and the lecturer's own check)."""
    from gradproof.words import translate

    doc = {"name": "softmax_ce", "title": "Softmax cross-entropy", "section": "s", "targets": ["dL/dz (general)"],
           "symbols": [{"name": "z", "shape": ["n"], "domain": "real", "meaning": "logits, the scores before softmax"}],
           "assumptions": ["A"], "results": [], "matrix_form": [],
           "steps": [{"key": "grad_z", "claim": "dL/dz = p - y, when sum_i y_i = 1", "reason": "r", "detail": "",
                      "status": {"label": "proved n<=3, N<=3", "kind": "proved_sizes", "meaning": "m"}}],
           "checks": [{"target": "dL/dz (general)", "route": "matrix", "status": "passed", "sizes": "n in [2, 8]",
                       "note": "labels that need not sum to 1",
                       "tolerance": "atol 1e-10 x scale + rtol 1e-10 x |autograd| + 16 x autograd's own rounding"}]}
    zh = translate(doc, "zh")
    step, check = zh["steps"][0], zh["checks"][0]
    assert step["claim"] == "当 sum_i y_i = 1 时，dL/dz = p - y" and step["claim_en"] == doc["steps"][0]["claim"]
    assert step["status"]["label"] == "已证明 n<=3, N<=3" and step["status"]["label_en"] == "proved n<=3, N<=3"
    assert zh["targets_text"] == ["dL/dz（一般形式）"] and zh["targets"] == doc["targets"]  # names stay keys
    assert check["sizes"] == "n in [2, 8]" and check["sizes_text"] == "n ∈ [2, 8]"  # sizes stay data for render.py
    assert check["route"] == "matrix" and check["route_text"] == "矩阵形式"
    data = dict(doc["checks"][0], sizes={"n": [2, 8], "N": 3}, tolerance={"atol": 1e-10, "text": "t"})
    shown = translate(dict(doc, checks=[data]), "zh")["checks"][0]
    assert shown["sizes_text"] == "n ∈ [2, 8], N=3" and shown["tolerance"] == {"atol": 1e-10, "text": "t", "text_en": "t"}
    assert check["status"] == "passed" and check["status_text"] == "通过" and check["note_en"] == doc["checks"][0]["note"]
    assert zh["symbols"][0]["meaning"] == "logits，即 softmax 之前的得分" and zh["assumptions_en"] == ["A"]
    assert translate(doc, "en")["targets"] == doc["targets"] and "targets_text" not in translate(doc, "en")


def _fields(template: str) -> set[str]:
    import string

    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


def test_zh_has_every_page_string_with_the_same_fields() -> None:
    """Every UI string of the pages (words.UI_EN, report.UI_PAGES) has a zh text with the same ``{fields}``:
    a missing key falls back to English, and a zh text naming a field the pages do not pass raises KeyError."""
    import tomllib
    from pathlib import Path

    import gradproof.report as report
    from gradproof.words import UI_EN

    zh = tomllib.loads((Path(report.__file__).parent / "locale" / "zh.toml").read_text(encoding="utf-8"))["ui"]
    english = {**UI_EN, **getattr(report, "UI_PAGES", {})}
    assert sorted(set(english) - set(zh)) == []
    assert {k: _fields(zh[k]) for k in english if _fields(zh[k]) != _fields(english[k])} == {}


def test_generated_templates_name_only_fields_their_pattern_has() -> None:
    """A [generated] template fills its fields from the English text's pattern (gradproof/words.py)."""
    from gradproof.words import _GENERATED, Words

    table = Words("zh").table["generated"]
    assert set(table) == set(_GENERATED)
    assert {name: _fields(t) for name, t in table.items() if not _fields(t) <= set(_GENERATED[name].groupindex)} == {}
    assert Words("zh").detail("rule mul at (2, 3): differs by x") == "规则 mul 在 (2, 3) 处：differs by x"


def test_what_a_matrix_form_rests_on_reads_in_zh() -> None:
    """graphs/route.py's status detail, split at "; " and each part read by its pattern, numbers kept."""
    from gradproof.words import Words

    english = ("matrix form at every size: reverse mode (chain rule) over 2 rules, each proved at every size in index "
               "form (mul, sum); corroborated by 8 checks of every adjoint against the exact derivative at n<=2, d<=3")
    assert Words("zh").detail(english) == (
        "对任意尺寸成立的矩阵形式：在 2 条规则上做反向模式（链式法则），每条规则都以下标形式对任意尺寸证明（mul、sum）；"
        "另有 8 次核对佐证：每个伴随都在 n<=2, d<=3 处与精确导数比较")
    assert Words("en").detail(english) == english


@pytest.mark.parametrize("name", NAMES)
def test_every_catalog_text_reads_in_zh(name: str) -> None:
    """Before any proof runs (seconds, not minutes): every text of the entry's topic, read through the
    zh words, has no English prose: symbol meanings and domains, assumptions, claims, facts, targets."""
    from derive.catalog import topic
    from gradproof.words import Words

    words, t = Words("zh"), topic(name)
    texts = [words.symbol(name, s.name, s.meaning) for s in t.symbols] + [words.domain(s.domain) for s in t.symbols]
    texts += [words.assumption(name, i, a) for i, a in enumerate(t.assumptions)]
    texts += [words.claim(name, c.key, c.statement) for c in t.claims]
    texts += [words.reason(name, c.key, c.reason) for c in t.claims]
    texts += [words.target(c.target) for c in t.claims if c.target]
    steps = t.facts() if t.facts else ()
    texts += [words.claim(name, s.key, s.claim) for s in steps] + [words.reason(name, s.key, s.reason) for s in steps]
    texts += [words.detail(s.status.detail) for s in steps]
    texts += [words.proof(name, s.key, i, fact) for s in steps for i, fact in enumerate(getattr(s, "proof", ()))]
    assert {text: english_runs(text) for text in texts if english_runs(text)} == {}


def test_every_graph_model_has_a_zh_title() -> None:
    """The pictures' headings: every catalog graph model's title has its Chinese, with no English prose."""
    from gradproof.words import Words
    from graphs.models import CATALOG_MODELS, model

    titles = {name: Words("zh").model_title(name, model(name).title) for name in CATALOG_MODELS}
    assert {name: t for name, t in titles.items() if t == model(name).title or english_runs(t)} == {}


def test_a_zh_pages_pictures_carry_the_zh_title() -> None:
    """The graph picture inside a zh page was drawn with the model's English title; it is drawn again with
    the Chinese one (the English kept beside it as title_en)."""
    from gradproof.words import Words, translate
    from graphs.draw import render
    from graphs.models import model

    built = model("attention")
    doc = {"name": "attention", "title": "t", "section": "s", "steps": [], "targets": [],
           "graphs": [{"model": "attention", "svg": render(built, "svg", adjoints=True).decode()}]}
    graph = translate(doc, "zh")["graphs"][0]
    assert Words("zh").model_title("attention", built.title) in graph["svg"]
    assert built.title not in graph["svg"] and graph["title_en"] == built.title
    assert translate(doc, "en")["graphs"][0]["svg"] == doc["graphs"][0]["svg"]


def test_how_a_lifted_claim_holds_reads_in_zh() -> None:
    """graphs/lift.py's detail of a claim proved at every size through the graph route, with the
    entrywise label it keeps as corroboration."""
    from gradproof.words import Words

    english = ("proved at every size: the graph route's dW_2 of model ffn is reverse mode (chain rule) over 3 rules, "
               "each proved at every size in index form (add_row, matmul, relu); the claim's closed form (intermediates "
               "replaced by their own closed forms) equals it entry by entry in index form at symbolic sizes; "
               "corroborated entrywise: proved n<=3, d<=3 (entrywise at every listed size)")
    zh = Words("zh").detail(english)
    assert zh.startswith("对任意尺寸已证明：模型 ffn 的计算图路线给出的 dW_2 是在 3 条规则上做反向模式（链式法则）")
    assert zh.endswith("逐元素佐证：已证明 n<=3, d<=3（在所列每个尺寸上逐元素成立）") and english_runs(zh) == []
