"""verify/homework/typeset.py: an answer typeset as written, from its parse tree, keeping its meaning."""

from __future__ import annotations

import html.parser
import re

import pytest
import sympy as sp
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from verify.homework import typeset as ts
from verify.homework.language import InvalidAnswer, Vocabulary, normalise, parse
from verify.homework.typeset import typeset, typeset_math, typeset_mathml

# Vocabularies as the problems declare them (softmax_ce:grad_z, bp:delta_hidden, layernorm:grad_X,
# attention:grad_Q), written out here so that these tests follow the printer, not the problem set.
SOFTMAX = Vocabulary(indexed={"p": 1, "y": 1, "z": 1}, indices={"i": "n", "j": "n", "k": "n"})
BP = Vocabulary(indexed={"H": 1, "w": 2, "delta": 1, "net": 1, "O": 1, "T": 1}, indices={"j": "H", "k": "O"})
LAYERNORM = Vocabulary(scalars={"d": sp.Integer(3), "sigma": sp.Symbol("sigma", positive=True), "mu": sp.Symbol("mu")},
                       indexed={"xhat": 1, "g": 1, "gamma": 1, "x": 1}, indices={"i": "d", "j": "d", "k": "d"})
_SQUARE, _TALL = (2, 2), (2, 3)
ATTENTION = Vocabulary(scalars={"d_k": sp.Integer(3)},
                       matrices={name: sp.MatrixSymbol(name, *shape) for name, shape in
                                 {"dS": _SQUARE, "S": _SQUARE, "A": _SQUARE, "dA": _SQUARE,
                                  "K": _TALL, "Q": _TALL, "V": _TALL, "G": _TALL, "O": _TALL}.items()})


def _same(a: sp.Basic, b: sp.Basic) -> bool:
    if a == b:
        return True
    # log(p) of a vector is a Lambda over a fresh Dummy in each reading: the same function, bound apart
    a, b = (e.xreplace({d: sp.Symbol(d.name) for d in e.atoms(sp.Dummy)}) for e in (a, b))
    if a == b:
        return True
    difference = a - b
    return bool(sp.simplify(difference.doit() if hasattr(difference, "doit") else difference) == 0)


# --- the form a student wrote ------------------------------------------------------------------

@pytest.mark.parametrize(("text", "words", "latex"), [
    (r"\frac{1}{\sqrt{d_k}} dS K", ATTENTION, r"\frac{1}{\sqrt{d_k}} dS K"),  # d_k: the declared name
    ("(T_k - O_k) O_k (1 - O_k)", BP, r"\left(T_{k} - O_{k}\right) O_{k} \left(1 - O_{k}\right)"),
    (r"A^\top G", ATTENTION, r"A^{\top} G"),
    ("A' G", ATTENTION, "A' G"),
    ("sum_k delta_k w_kj", BP, r"\sum_{k} \delta_{k} w_{kj}"),
    (r"\sum_{k \neq i} p_k", SOFTMAX, r"\sum_{k \neq i} p_{k}"),
    (r"\sum_{k=1}^{n} p_k y_k", SOFTMAX, r"\sum_{k=1}^{n} p_{k} y_{k}"),
    ("p_i - y_i", SOFTMAX, "p_{i} - y_{i}"),
    ("(p_i - y_i)/2", SOFTMAX, r"\left(p_{i} - y_{i}\right) / 2"),
    ("(A .* dA) K", ATTENTION, r"\left(A \odot dA\right) K"),
    ("dS @ K / sqrt(d_k)", ATTENTION, r"dS \cdot K / \sqrt{d_k}"),
    (r"\delta_k \cdot w_{kj}", BP, r"\delta_{k} \cdot w_{kj}"),  # the dot written stays
    ("exp(z_i) / sum_k exp(z_k)", SOFTMAX, r"\exp\left(z_{i}\right) / \sum_{k} \exp\left(z_{k}\right)"),
    (r"\ln p_i", SOFTMAX, r"\ln p_{i}"),
    ("|z_i|", SOFTMAX, r"\left|z_{i}\right|"),
    ("1/sigma (g_i - mu)", LAYERNORM, r"1 / \sigma \left(g_{i} - \mu\right)"),
    (r"\gamma_i \hat{x}_i", LAYERNORM, r"\gamma_{i} \hat{x}_{i}"),
    ("((p_i))", SOFTMAX, r"\left(\left(p_{i}\right)\right)"),
])
def test_the_answer_keeps_the_form_it_was_written_in(text: str, words: Vocabulary, latex: str) -> None:
    assert typeset(text, words) == latex
    assert _same(parse(latex, words), parse(text, words))


def test_the_attention_answer_is_not_simplified() -> None:
    latex = typeset(r"\frac{1}{\sqrt{d_k}} dS K", ATTENTION)
    mathml = typeset_mathml(r"\frac{1}{\sqrt{d_k}} dS K", ATTENTION)
    assert "3" not in latex and "3" not in mathml
    assert "<mfrac>" in mathml and "<msqrt>" in mathml and "<mi>dS</mi>" in mathml
    assert mathml.index("<mi>dS</mi>") < mathml.index("<mi>K</mi>")  # the order written


def test_brackets_are_added_only_where_the_meaning_needs_them() -> None:
    assert typeset("{p_i + y_i} z_i", SOFTMAX) == r"\left(p_{i} + y_{i}\right) z_{i}"  # a brace group shows nothing
    assert typeset("p_i {y_i z_i}", SOFTMAX) == r"p_{i} \left(y_{i} z_{i}\right)"
    assert typeset("ln p_i^2", SOFTMAX) == r"\left(\ln p_{i}\right)^{2}"  # what the grammar reads
    assert typeset("(A^T)^T G", ATTENTION) == r"\left(A^{\top}\right)^{\top} G"
    assert typeset("{A^T}^T G", ATTENTION) == r"{A^{\top}}^{\top} G"  # braces, for LaTeX only
    assert typeset("p_i y_i + z_i", SOFTMAX) == "p_{i} y_{i} + z_{i}"


def test_a_bracket_written_against_a_name_stays_against_it() -> None:
    """w_kj(t) is the weight at step t (language.py reads it so only with nothing between)."""
    text = r"w_{kj}(t) + \eta \delta_k H_j"
    assert typeset(text, NEW) == r"w_{kj}\left(t\right) + \eta \delta_{k} H_{j}"
    assert _same(parse(typeset(text, NEW), NEW), parse(text, NEW))
    assert typeset("O_k (1 - O_k)", BP) == r"O_{k} \left(1 - O_{k}\right)"


def test_star_prints_as_the_asterisk_it_is_and_reads_back_as_written() -> None:
    """* is an asterisk under either rule (a centred dot would read as a dot product of two vectors);
    in NumPy code that writes @ too, it is printed as what it was read as, ⊙."""
    elementwise = Vocabulary(matrices=dict(ATTENTION.matrices), scalars=dict(ATTENTION.scalars), star="elementwise")
    assert typeset("A * dA", ATTENTION) == r"A \ast dA" == typeset("A * dA", elementwise)
    assert _same(parse(r"A \ast dA", elementwise), parse("A * dA", elementwise))
    assert _same(parse(r"A \ast dA", ATTENTION), parse("A * dA", ATTENTION))
    assert typeset("A @ (A * dA)", ATTENTION) == r"A \cdot \left(A \odot dA\right)"


def test_the_mathml_is_well_formed_and_the_latex_is_its_alt_text() -> None:
    from gradproof.report import _mathml

    math = typeset_math(r"\sum_{k=1}^{n} |z_k| - \frac{p_i}{2}", SOFTMAX)
    element = _mathml(math, display=True)
    assert "<munderover>" in element and "<mfrac>" in element and 'alttext="\\sum_{k=1}^{n}' in element
    assert _balanced(element)


def test_an_unreadable_answer_is_refused() -> None:
    for text in ("", "p_i +", "p_i ) (", "p_i @@ y_i"):
        with pytest.raises(InvalidAnswer):
            typeset(text, SOFTMAX)


# --- rules the printer does not know ------------------------------------------------------------

def test_a_rule_without_a_printer_shows_its_source_with_its_parts_typeset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(ts.RULES, "sum_over")  # as a rule the grammar gained and the table has not
    latex = typeset("p_i - sum_k p_k y_k", SOFTMAX)
    assert re.fullmatch(r"p_\{i\} - \\text\{sum\\_(k|\\\{k\\\})\} p_\{k\} y_\{k\}", latex), latex
    assert re.search(r"<mtext>sum_(k|\{k\})</mtext>", typeset_mathml("p_i - sum_k p_k y_k", SOFTMAX))


def test_a_node_of_unexpected_shape_is_shown_as_written(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(node, kids, ctx):  # a printer meeting a node it does not expect
        raise ts._Unexpected(node.data)

    monkeypatch.setitem(ts.RULES, "abs", broken)
    assert typeset("2 |z_i - 1|", SOFTMAX) == r"2 \text{|} z_{i} - 1 \text{|}"


def test_every_rule_of_the_original_grammar_has_a_printer() -> None:
    """Rules added later print as their source until they get a row in RULES; these all have one."""
    assert {"name", "number", "add", "sub", "mul", "div", "matmul", "hadamard", "juxtapose", "neg", "sum_over", "pow",
            "transpose", "prime", "abs", "sqrt", "call", "call1", "arguments"} <= set(ts.RULES)
    assert typeset("2e", SOFTMAX) == r"\text{2e}"  # glued_e, refused by parse(), has no printer: shown as typed


# --- hostile text -------------------------------------------------------------------------------

HOSTILE = ['sum_{k=<script>alert("x")&amp;} p_k', "sum_{k='&quot;'} p_k"]


class _Attributes(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.alttext: list[str] = []

    def handle_starttag(self, tag: str, attrs: list) -> None:
        self.tags.append(tag)
        self.alttext += [value for name, value in attrs if name == "alttext"]


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_text_is_escaped(text: str) -> None:
    from gradproof.report import _mathml

    math = typeset_math(text, SOFTMAX)  # the grammar reads it; the builder would not
    page = _mathml(math, display=True)
    parser = _Attributes()
    parser.feed(page)
    assert "script" not in parser.tags and parser.alttext == [math["latex"]]  # no tag, no attribute broken out of
    assert "<script" not in page and _balanced(page)


def test_hostile_text_in_a_rule_without_a_printer_is_escaped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(ts.RULES, "sum_over")
    mathml = typeset_mathml(HOSTILE[0], SOFTMAX)
    assert "<script" not in mathml and "&lt;script&gt;" in mathml and "&quot;" in mathml
    assert r"\&amp;" in typeset(HOSTILE[0], SOFTMAX)  # and in LaTeX: \text{} with its specials escaped


def test_hostile_answers_on_a_page_are_escaped() -> None:
    from gradproof.homework_report import student_page

    rows = [{"problem": "softmax_ce:grad_z", "answer": answer, "verdict": "incorrect", "score": "0",
             "feedback": "<b>", "counterexample": ""}
            for answer in ("<script>alert(1)</script>", "p_i - y_i & \"'", HOSTILE[0])]
    page = student_page("eve", rows, {})
    assert "<script" not in page and "&lt;script&gt;" in page and "<b>" not in page
    assert _balanced(page.split("<body>", 1)[-1])


def test_a_page_shows_the_answer_as_written() -> None:
    from gradproof.homework_report import student_page

    row = {"problem": "attention:grad_Q", "answer": r"\frac{1}{\sqrt{d_k}} dS K", "verdict": "correct",
           "score": "1", "feedback": "", "counterexample": ""}
    page = student_page("ann", [row], {})
    assert "<mfrac>" in page and "<msqrt>" in page and "<mi>dS</mi>" in page and "<mn>3</mn>" not in page
    assert 'alttext="\\frac{1}{\\sqrt{d_k}} dS K"' in page


# --- the printed LaTeX means what was written: a round trip on generated answers ----------------

def _answers(leaves: list[str], summed: list[str]) -> st.SearchStrategy[str]:
    """Small answers in many of the grammar's forms, over ``leaves`` (and ``summed`` under a sum over k)."""
    wrap = st.sampled_from(["{}", "({})", "{{{}}}", r"\left({}\right)"])

    def extend(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
        part = st.tuples(wrap, inner).map(lambda t: t[0].format(t[1]))
        binary = st.tuples(part, st.sampled_from([" + ", " - ", "*", r" \cdot ", " / ", " ", r" \times ", " ⊙ "]), part)
        unary = st.tuples(st.sampled_from(["-{}", r"\frac{{{}}}{{2}}", r"\frac{{1}}{{{}}}", r"\sqrt{{{}}}", "sqrt({})",
                                           "exp({})", r"\exp\left({}\right)", "|{}|", r"\left|{}\right|", "({})^{{2}}",
                                           "({})^2", "e^{{{}}}", r"\sigma({})", "max(0, {})"]), inner)
        summed_body = st.tuples(st.sampled_from(summed), inner).map(lambda t: f"{t[0]} ({t[1]})")
        sums = st.tuples(st.sampled_from([r"\sum_{{k}} {}", "sum_k {}", r"\sum_{{k \neq i}} {}",
                                          r"\sum_{{k=1}}^{{n}} {}", "Σ_k {}"]), summed_body)
        return st.one_of(binary.map("".join), unary.map(lambda t: t[0].format(t[1])),
                         sums.map(lambda t: t[0].format(t[1])))

    leaf = st.sampled_from(leaves)
    return st.recursive(leaf, extend, max_leaves=5)


def _round_trip(text: str, words: Vocabulary) -> None:
    try:
        original = parse(text, words)
    except InvalidAnswer:
        assume(False)
        return
    latex = typeset(text, words)
    assert _same(parse(latex, words), original), (text, latex)
    # no bracket the student wrote is dropped (a root's call brackets become its sign: sqrt(x) is √x)
    normal = normalise(text)
    assert normal.count("(") - normal.count("sqrt(") <= latex.count(r"\left("), (text, latex)
    assert _balanced(f"<math>{typeset_mathml(text, words)}</math>")


@settings(deadline=None)
@given(_answers(["p_i", "y_i", "z_j", "2", "1", "0.5", "e", r"\ln p_i", r"\exp z_i", "p_i^2"], ["p_k", "z_k y_k"]))
def test_round_trip_softmax(text: str) -> None:
    _round_trip(text, SOFTMAX)


@settings(deadline=None)
@given(_answers(["delta_k", "w_kj", "w_{kj}", "O_k", "T_k", "H_j", "net_j", r"\delta_{k}", "3"], ["delta_k w_kj"]))
def test_round_trip_backprop(text: str) -> None:
    _round_trip(text, BP)


@settings(deadline=None)
@given(_answers(["g_i", "xhat_i", r"\hat{x}_i", "sigma", r"\sigma", "mu", r"\gamma_i", "d", "x_j"],
                ["g_k", r"g_k \hat{x}_k"]))
def test_round_trip_layer_norm(text: str) -> None:
    _round_trip(text, LAYERNORM)


def _matrices() -> st.SearchStrategy[tuple[tuple[int, int], str]]:
    """Matrix answers of attention:grad_Q's symbols that fit together: (shape, text)."""
    leaves = st.sampled_from([(_SQUARE, n) for n in ("A", "S", "dS", "dA", "Q K^T", r"G V^\top", "(A)'")]
                             + [(_TALL, n) for n in ("K", "Q", "V", "G", "O")])
    scalars = st.sampled_from([r"\frac{1}{\sqrt{d_k}}", "2", "d_k", "(1/sqrt(d_k))", r"\sqrt{d_k}", "-1"])
    wrap = st.sampled_from(["{}", "({})", r"\left({}\right)"])

    def extend(inner: st.SearchStrategy[tuple[tuple[int, int], str]]) -> st.SearchStrategy[tuple[tuple[int, int], str]]:
        def part(pair: tuple[tuple[int, int], str], how: str) -> str:
            return how.format(pair[1])

        same = st.tuples(inner, inner, wrap, wrap, st.sampled_from([" + ", " - ", " ⊙ ", " .* ", r" \odot "])).filter(
            lambda t: t[0][0] == t[1][0]).map(lambda t: (t[0][0], part(t[0], t[2]) + t[4] + part(t[1], t[3])))
        product = st.tuples(inner, inner, wrap, wrap, st.sampled_from([" ", " @ ", "*"])).filter(
            lambda t: t[0][0] == _SQUARE).map(lambda t: (t[1][0], part(t[0], t[2]) + t[4] + part(t[1], t[3])))
        scaled = st.tuples(scalars, inner, wrap).map(lambda t: (t[1][0], f"{t[0]} {part(t[1], t[2])}"))
        divided = st.tuples(inner, scalars, st.sampled_from(["({}) / {}", r"\frac{{{}}}{{{}}}"])).map(
            lambda t: (t[0][0], t[2].format(t[0][1], t[1])))
        transposed = st.tuples(inner, st.sampled_from([r"({})^\top", "({})^T", "({})ᵀ", "{{{}}}^{{T}}"])).filter(
            lambda t: t[0][0] == _SQUARE).map(lambda t: (_SQUARE, t[1].format(t[0][1])))
        negated = inner.map(lambda t: (t[0], f"-({t[1]})"))
        return st.one_of(same, product, scaled, divided, transposed, negated)

    return st.recursive(leaves, extend, max_leaves=4)


@settings(deadline=None)
@given(_matrices())
def test_round_trip_attention(answer: tuple[tuple[int, int], str]) -> None:
    _round_trip(answer[1], ATTENTION)


def test_real_answers_round_trip() -> None:
    """Every readable answer of the real set (tests/verify/real_answers.toml: people's own notation)
    typesets natively and reads back as what it said."""
    import tomllib
    from pathlib import Path

    from verify.homework.problems import _setting

    source = Path(__file__).with_name("real_answers.toml")
    if not source.exists():
        pytest.skip("no real answers here")
    read = 0
    for answer in tomllib.loads(source.read_text(encoding="utf-8"))["answer"]:
        try:
            words = _setting(answer["problem"], 0)[1]
            original = parse(answer["text"], words)
        except (InvalidAnswer, KeyError, ValueError):
            continue  # refused (or a table of numbers): the page shows it as typed
        latex = typeset(answer["text"], words)
        assert _same(parse(latex, words), original), (answer["text"], latex)
        words_read = r"\\text\{ ?(if|otherwise|else|and|where) ?\}"  # the grammar's words, printed as words
        assert r"\text{" not in re.sub(words_read, "", latex), (answer["text"], latex)  # every rule printed natively
        read += 1
    assert read >= 50


# --- the notation being added to the grammar (issue 15): printed natively where the grammar has it --

def _grammar_has(*rules: str) -> bool:
    from verify.homework.language import _parser

    names = {str(r.alias or r.origin.name) for r in _parser().rules}
    return set(rules) <= names


NEW = Vocabulary(indexed={"x": 1, "g": 1, "p": 1, "y": 1, "delta": 1, "w": 2, "H": 1, "O": 1, "T": 1, "net": 1},
                 indices={"i": "n", "j": "n", "k": "n"}, scalars={"eta": sp.Symbol("eta", positive=True)})


@pytest.mark.parametrize(("text", "rules", "latex"), [
    (r"\delta_k = (T_k - O_k) O_k", ("framed",), r"\delta_{k} = \left(T_{k} - O_{k}\right) O_{k}"),
    (r"w_{kj} \leftarrow w_{kj} + \eta \delta_k H_j", ("framed",), r"w_{kj} \leftarrow w_{kj} + \eta \delta_{k} H_{j}"),
    (r"\frac{\partial L}{\partial x_i} = g_i", ("framed",), r"\frac{\partial L}{\partial x_{i}} = g_{i}"),
    (r"\max_j x_j - x_i", ("extremum_over",), r"\max_{j} x_{j} - x_{i}"),
    (r"\mathbb{1}[x_i > 0] g_i", ("indicator",), r"\mathbb{1}[x_{i} > 0] g_{i}"),
    (r"\begin{cases} g_i & \text{if } x_i > 0 \\ 0 & \text{otherwise} \end{cases}", ("cases",),
     r"\begin{cases} g_{i} & \text{if } x_{i} > 0 \\ 0 & \text{otherwise} \end{cases}"),
    (r"\sigma'(net_k)", ("derivative",), r"\sigma'\left(net_{k}\right)"),
    ("p[i] - y[i]", ("bracketed",), "p[i] - y[i]"),
    (r"\left[p_i - y_i\right] x_i", ("indicator",), r"\left[p_{i} - y_{i}\right] x_{i}"),  # square brackets kept
    (r"\sum_{j'} x_{j'}", ("framed",), r"\sum_{j'} x_{j'}"),
    (r"1 - \tanh^2(x_i)", ("call_power",), r"1 - \tanh^{2}\left(x_{i}\right)"),
    (r"\mathbb{1}[i = \arg\max_j x_j] g_i", ("extremum_over", "indicator"),
     r"\mathbb{1}[i = \arg\max_{j} x_{j}] g_{i}"),
    (r"p_i - y_i \text{ for all } i", ("for_each",), r"p_{i} - y_{i} \quad \forall i"),
    (r"\mathbb{1}[x_i \geq x_j \forall j \neq i] g_i", ("forall",), r"\mathbb{1}[x_{i} \geq x_{j} \forall j \neq i] g_{i}"),
])
def test_new_notation_prints_natively(text: str, rules: tuple[str, ...], latex: str) -> None:
    if not _grammar_has(*rules):
        pytest.skip(f"the grammar has no {rules} yet")
    assert typeset(text, NEW) == latex
    assert "<mtext>" not in typeset_mathml(text, NEW).replace("<mtext>if&#xA0;</mtext>", "").replace(
        "<mtext>otherwise</mtext>", "")  # natively: no part shown as source text
    assert _same(parse(latex, NEW), parse(text, NEW))


def test_an_entry_of_a_bracketed_vector_keeps_its_brackets() -> None:
    if not _grammar_has("entry_of"):
        pytest.skip("the grammar has no entry_of yet")
    vectors = Vocabulary(indexed={"p": 1, "y": 1}, indices={"i": "n"},
                         vectors={"p": sp.MatrixSymbol("p", 3, 1), "y": sp.MatrixSymbol("y", 3, 1)})
    for text, latex in (("(p - y)_i", r"\left(p - y\right)_{i}"), ("[p - y]_i", r"\left[p - y\right]_{i}"),
                        ("((p - y))_i", r"\left(\left(p - y\right)\right)_{i}")):
        assert typeset(text, vectors) == latex
        assert _same(parse(latex, vectors), parse(text, vectors))


@settings(deadline=None)
@given(st.sampled_from([r"\delta_k = ", r"w_{kj} \leftarrow ", r"\frac{\partial E}{\partial net_k} = ", ""]),
       _answers(["delta_k", "w_kj", "O_k", "T_k", "H_j", r"\eta", r"[T_k - O_k]", r"\mathbb{1}[O_k > 0]",
                 r"\max_j H_j", "O[k]"], ["delta_k w_kj"]))
def test_round_trip_new_notation(frame: str, text: str) -> None:
    if not _grammar_has("framed", "indicator", "extremum_over", "bracketed"):
        pytest.skip("the grammar does not have issue 15's notation yet")
    _round_trip(frame + text, NEW)


# --- helpers -------------------------------------------------------------------------------------

class _Balance(html.parser.HTMLParser):
    VOID = frozenset({"mspace", "meta", "br", "img", "input", "link", "hr", "html", "body", "head"})

    def __init__(self) -> None:
        super().__init__()
        self.open: list[str] = []
        self.ok = True

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag not in self.VOID:
            self.open.append(tag)

    def handle_startendtag(self, tag: str, attrs: list) -> None:
        pass

    def handle_endtag(self, tag: str) -> None:
        if tag in self.VOID:
            return
        if not self.open or self.open[-1] != tag:
            self.ok = False
        else:
            self.open.pop()


def _balanced(markup: str) -> bool:
    """Every MathML element opened in ``markup`` is closed, in order (the escaping held)."""
    parser = _Balance()
    parser.feed(markup)
    tags = [t for t in parser.open if t not in ("html", "body", "head")]
    return parser.ok and not tags
