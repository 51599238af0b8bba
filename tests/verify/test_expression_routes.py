"""Forwards written only as expressions, run through every route: the matrix form and its status
(graphs/route.py), the compiled gradient against autograd (verify/expression_check.py), the report
(gradproof/expression_report.py); and wrong VJP rows, which both the exact and the numeric route
must catch."""

from __future__ import annotations

import dataclasses
import itertools
from html.parser import HTMLParser

import pytest

torch = pytest.importorskip("torch")

from gradproof.expression_report import build_expression_report
from gradproof.report import report_html, report_markdown
from gradproof.report_tex import report_tex
from graphs import ops
from graphs.check import check_model
from graphs.matrices import Apply, add, hadamard, matmul, ones_like, transpose
from graphs.prove import rule_proofs
from graphs.route import graph_results, model_status
from verify.expression import Forward, read_forward, register
from verify.expression_check import SIZE_RANGE, check_forward

GELU_TANH = "0.5 H ⊙ (1 + tanh(sqrt(2/pi) (H + 0.044715 H^3)))"

# name: (forward, shapes, inputs with a gradient, domains)
FORWARDS: dict[str, tuple[str, dict[str, str], list[str], dict[str, str]]] = {
    "rmsnorm": ("R = X / sqrt(rowmean(X ⊙ X) + epsilon); Y = R ⊙ (1 g^T); L = sum(G ⊙ Y)",
                {"X": "n,d", "g": "d", "G": "n,d"}, ["X", "g"], {}),
    "gelu_mlp": (f"H = X W_1 + 1 b_1^T; A = {GELU_TANH}; L = sum(G ⊙ (A W_2))",
                 {"X": "n,d", "W_1": "d,h", "b_1": "h", "W_2": "h,d", "G": "n,d"}, ["X", "W_1", "b_1", "W_2"], {}),
    "mse": ("L = sum((X W - Y) ⊙ (X W - Y))", {"X": "n,d", "W": "d,k", "Y": "n,k"}, ["W"], {}),
    "batch_norm": ("M = colmean(X); C = X - 1 M; V = colmean(C ⊙ C); Xhat = C / sqrt(1 V + epsilon); "
                   "Y = Xhat ⊙ (1 gamma^T) + 1 beta^T; L = sum(G ⊙ Y)",
                   {"X": "n,d", "gamma": "d", "beta": "d", "G": "n,d"}, ["X", "gamma", "beta"], {}),
    "cross_attention": ("Q = X W_Q; K = Z W_K; V = Z W_V; S = Q K^T / sqrt(d_k); A = softmax(S); O = A V; "
                        "L = sum(G ⊙ O)",
                        {"X": "n,d", "Z": "m,e", "W_Q": "d,d_k", "W_K": "e,d_k", "W_V": "e,d_v", "G": "n,d_v"},
                        ["X", "Z", "W_Q", "W_K", "W_V"], {}),
    "rnn_two_steps": ("H_1 = tanh(X_1 W_x + H_0 W_h + 1 b^T); H_2 = tanh(X_2 W_x + H_1 W_h + 1 b^T); L = sum(G ⊙ H_2)",
                      {"X_1": "n,d", "X_2": "n,d", "H_0": "n,h", "W_x": "d,h", "W_h": "h,h", "b": "h", "G": "n,h"},
                      ["W_x", "W_h", "b", "H_0"], {}),
    "gelu_op_mlp": ("H = X W_1 + 1 b_1^T; L = sum(G ⊙ (gelu(H) W_2))",
                    {"X": "n,d", "W_1": "d,h", "b_1": "h", "W_2": "h,d", "G": "n,d"}, ["X", "W_1", "b_1", "W_2"], {}),
}
# Ops another change adds to graphs/ops.py: the forwards that use them wait for them.
NEEDS = {"batch_norm": "col_mean", "gelu_op_mlp": "gelu"}


def _cases() -> list:
    return [pytest.param(name, marks=pytest.mark.skipif(NEEDS.get(name, "add") not in ops.RULES,
                                                       reason=f"waits for the {NEEDS.get(name)} row of graphs/ops.py"))
            for name in FORWARDS]


def _forward(name: str, suffix: str = "") -> Forward:
    text, shapes, wrt, domains = FORWARDS[name]
    return read_forward(text, shapes, wrt=wrt, domains=domains, name=f"{name}{suffix}" if suffix else None)


@pytest.mark.parametrize("name", _cases())
def test_the_matrix_form_is_proved_and_the_compiled_gradient_agrees_with_autograd(name: str) -> None:
    forward = _forward(name)
    register(forward)
    status = model_status(forward.name)
    assert status.kind == "proved", status.detail
    records = check_forward(forward, examples=10)
    assert [r.target for r in records] == [f"dL/d{w}" for w in forward.build().sources]
    assert sorted(r.target.removeprefix("dL/d") for r in records) == sorted(FORWARDS[name][2])
    for r in records:
        assert r.passed is True, (r.target, r.worst_input)
        assert r.examples == 10 and r.route == "matrix" and r.dtype == "float64"
        assert r.tolerance.startswith("atol 1e-10") and r.max_rel_error < 1e-9
        assert all(f"{size} in [1, 5]" in r.sizes for size in forward.size_names)


@pytest.mark.parametrize("name", _cases())
def test_the_report_builds_and_its_page_shows_the_adjoints(name: str) -> None:
    forward = _forward(name)
    doc = build_expression_report(forward, examples=4, dtypes=("float64",))
    assert doc["kind"] == "expression" and doc["summary"]["ok"]
    assert [r["wrt"] for r in doc["results"]] == forward.build().sources
    assert all(r["status"]["label"] == "proved" and "proved at every size in index form" in r["rests_on"]
               for r in doc["results"])
    assert doc["summary"]["numeric_checks"] == {"passed": len(FORWARDS[name][2]), "failed": 0, "without_formula": 0}
    page = report_html(doc)
    _assert_well_formed(page)
    for row in doc["matrix_form"]:  # every adjoint, of an input or a named tensor, with its formula
        assert f"<td>{row['target']}</td>" in page and row["local"]["mathml"] in page
    for r in doc["results"]:
        assert r["local"]["mathml"] in page
        assert r["expanded"] is None or r["expanded"]["mathml"] in page
    assert page.count("<svg") == 1 and "gradproof report --expr" in page
    text = report_markdown(doc, [f"{doc['name']}.svg"])
    assert "## Results" in text and "Derivation, step by step" not in text and "Gradients: " in text
    assert r"\begin{aligned}" in text and all(f"### {r['target']} — **proved**" in text for r in doc["results"])
    assert r"\section*{Results}" in report_tex(doc, ["graph.png"])


class _Balance(HTMLParser):
    """Tags opened and closed in order; void elements (meta) and self-closed SVG/MathML need no end."""

    VOID = {"meta", "br", "img", "hr", "link", "input"}

    def __init__(self) -> None:
        super().__init__()
        self.open: list[str] = []
        self.errors: list[str] = []
        self.seen: set[str] = set()
        self.attrs: list[tuple[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list) -> None:
        self.seen.add(tag)
        self.attrs += attrs
        if tag not in self.VOID:
            self.open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.open or self.open[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.open[-1:] or 'nothing'}")
        else:
            self.open.pop()


def _assert_well_formed(page: str) -> None:
    parser = _Balance()
    parser.feed(page)
    assert not parser.errors and not parser.open, (parser.errors[:3], parser.open[-3:])
    assert page.startswith("<!DOCTYPE html>") and "script" not in parser.seen and "link" not in parser.seen
    assert not [v for k, v in parser.attrs if k in ("src", "href") and v and v.startswith(("http:", "https:"))]
    assert {"math", "svg", "table", "mtable"} <= parser.seen


def test_the_report_reproduces_with_the_same_forward() -> None:
    doc = build_expression_report(_forward("mse"), examples=2, dtypes=("float64",))
    command = doc["reproduce"][0]
    assert command == "gradproof derive --expr 'L = sum((X W - Y) ⊙ (X W - Y))' --shape X=n,d --shape W=d,k " \
                      "--shape Y=n,k --wrt W"
    again = read_forward("L = sum((X W - Y) ⊙ (X W - Y))", {"X": "n,d", "W": "d,k", "Y": "n,k"}, wrt=["W"])
    assert again.name == doc["name"]
    # no named intermediate: reverse mode's local form is the whole gradient
    assert doc["results"][0]["local"]["text"].replace(" ", "") == "X.T*(X*W-Y)+X.T*(X*W-Y)"


# --- wrong VJP rows still fail --------------------------------------------------------------------
def _softmax_without_row_sum(ans, x):
    return lambda g: hadamard(ans, g)


def _matmul_without_transpose_of_g(ans, a, b):
    return lambda g: matmul(transpose(a), transpose(g))  # A^T G^T: shapes fit where G is square


def _tanh_sign_flipped(ans, x):
    return lambda g: hadamard(g, add(ones_like(ans), Apply(ans, "square")))  # 1 + tanh^2


MUTANTS = {
    "softmax without its row-sum term": ("softmax", 0, _softmax_without_row_sum, "cross_attention", None),
    "matmul's B adjoint with G transposed": ("matmul", 1, _matmul_without_transpose_of_g, None,
                                             ("L = sum(G ⊙ (X W))", {"X": "n,d", "W": "d,n", "G": "n,n"}, ["W"])),
    "tanh' with a sign flipped": ("tanh", 0, _tanh_sign_flipped, "rnn_two_steps", None),
}
_fresh = itertools.count()


@pytest.fixture
def clean_proofs():
    """Rule proofs are cached per op set: none made under a mutant may outlive it, or leak into it."""
    rule_proofs.cache_clear()
    yield
    rule_proofs.cache_clear()


def _mutated(mutant: str, monkeypatch) -> Forward:
    """The mutant's row put in the table (for this test only), and its forward under a fresh name."""
    op, argnum, wrong, case, inline = MUTANTS[mutant]
    row = ops.RULES[op]
    vjps = list(row.vjps)
    vjps[argnum] = wrong
    monkeypatch.setitem(ops.RULES, op, dataclasses.replace(row, vjps=tuple(vjps)))
    suffix = f"_mutant_{op}_{next(_fresh)}"  # a fresh name: compiled gradients are cached by model name
    if case:
        return _forward(case, suffix)
    text, shapes, wrt = inline
    return read_forward(text, shapes, wrt=wrt, name=f"inline{suffix}")


@pytest.mark.parametrize("mutant", list(MUTANTS))
def test_a_wrong_vjp_row_fails_both_the_exact_and_the_numeric_route(mutant: str, monkeypatch, clean_proofs) -> None:
    op = MUTANTS[mutant][0]
    forward = _mutated(mutant, monkeypatch)
    name = register(forward)
    assert op in forward.build().ops
    assert model_status(name).kind == "failed"
    # the model check itself, not only the rule's own proof, sees it (at the sizes where 3 and 1 alternate)
    assert check_model(name, forward.check_sizes()[1]).kind == "failed"
    assert all(r.status.kind == "failed" for r in graph_results(name))
    records = check_forward(forward, examples=15)
    failed = [r for r in records if r.passed is False]
    assert failed, [(r.target, r.status) for r in records]
    worst = failed[0].worst_input
    assert worst["sizes"] and abs(worst["formula"] - worst["autograd"]) > worst["allowed"]
    assert any(r.passed is False for r in check_forward(forward, examples=2, size="large"))  # at scale, too


def test_a_wrong_vjp_row_shows_in_the_report(monkeypatch, clean_proofs) -> None:
    doc = build_expression_report(_mutated("tanh' with a sign flipped", monkeypatch), examples=5, dtypes=("float64",))
    assert doc["summary"]["ok"] is False and doc["summary"]["gradients"] == {"failed": 4}
    assert doc["summary"]["numeric_checks"]["failed"] == 4
    assert all("rule tanh" in r["rests_on"] for r in doc["results"])
    page = report_html(doc)
    assert '<span class="badge failed">4 FAILED</span>' in page and '<span class="badge FAILED">FAILED</span>' in page


def test_without_the_mutant_the_same_forwards_pass(clean_proofs) -> None:
    """The mutants' forwards fail because of the mutant: with the table as it is, they pass."""
    forward = read_forward("L = sum(G ⊙ (X W))", {"X": "n,d", "W": "d,n", "G": "n,n"}, wrt=["W"],
                           name=f"inline_clean_{next(_fresh)}")
    assert model_status(register(forward)).kind == "proved"
    assert all(r.passed for r in check_forward(forward, examples=10))


# --- drawn sizes and domains ---------------------------------------------------------------------
def test_sizes_are_drawn_only_where_the_forward_builds() -> None:
    # a kernel wider than its map builds symbolically but not at n = 1, p = 3: never drawn
    forward = read_forward("L = sum(X ⋆ K)", {"X": "n,m", "K": "p,q"}, wrt=["X", "K"])
    records = check_forward(forward, examples=20)
    assert [r.status for r in records] == ["passed", "passed"] and all(r.examples == 20 for r in records)
    assert SIZE_RANGE == (1, 5)


def test_sizes_written_as_arithmetic_of_size_names() -> None:
    forward = read_forward("L = sum(G ⊙ (X W))", {"X": "n,2 d", "W": "2 d,d+1", "G": "n,d+1"}, wrt=["X", "W"])
    assert [r.passed for r in check_forward(forward, examples=10)] == [True, True]


def test_inputs_are_drawn_from_their_declared_domains() -> None:
    shapes = {"P": "n,d", "G": "n,d"}
    positive = read_forward("L = sum(G ⊙ sqrt(P))", shapes, wrt=["P"], domains={"P": "positive"})
    assert [r.passed for r in check_forward(positive, examples=10)] == [True]
    assert read_forward("L = sum(G ⊙ sqrt(P))", shapes, wrt=["P"]).domains == {"P": "positive"}  # by the rule's domain
    # declared real: negative entries, NaN on both sides, a failure
    real = read_forward("L = sum(G ⊙ sqrt(P))", shapes, wrt=["P"], domains={"P": "real"})
    (record,) = check_forward(real, examples=10)
    assert record.passed is False and record.worst_input["autograd"] != record.worst_input["autograd"]


def test_an_input_that_does_not_reach_the_loss_is_said_so() -> None:
    forward = read_forward("A = W W; L = sum(X ⊙ X)", {"X": "n,d", "W": "d,d"})  # W: every input, by default
    records = {r.target: r for r in check_forward(forward, examples=5)}
    assert records["dL/dX"].passed is True
    assert records["dL/dW"].passed is None and records["dL/dW"].note == "W does not reach L: its gradient is 0"
    assert records["dL/dW"].to_json()["status"] == "skipped"


def test_large_sizes_are_checked_along_random_directions() -> None:
    records = check_forward(_forward("cross_attention"), examples=2, size="large")
    assert all(r.passed is True and r.mode == "vjp" for r in records)
    assert records[0].sizes == "n=64, d=48, m=32, e=56, d_k=40, d_v=24"
    with pytest.raises(ValueError, match="cannot be built at the large sizes p=64, n=48"):  # a kernel wider than its map
        check_forward(read_forward("L = sum(X ⋆ K)", {"K": "p,p", "X": "n,n"}), size="large")


def test_float32_uses_its_own_tolerance() -> None:
    (record,) = check_forward(_forward("mse"), examples=5, dtype=torch.float32)
    assert record.passed is True and record.dtype == "float32" and record.tolerance.startswith("atol 0.0001")


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is available here")
def test_cuda_without_cuda_is_refused_not_failed() -> None:
    with pytest.raises(ValueError, match="CUDA is not available"):
        check_forward(_forward("mse"), examples=2, device="cuda")


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA is not available")
def test_cuda_agrees_with_autograd() -> None:
    for dtype in (torch.float64, torch.float32):
        records = check_forward(_forward("cross_attention"), examples=10, device="cuda", dtype=dtype)
        assert all(r.passed is True and r.device == "cuda" for r in records), [(r.target, r.worst_input) for r in records]


def test_the_report_in_chinese_keeps_its_structure() -> None:
    doc = build_expression_report(_forward("mse"), examples=2, dtypes=("float64",), lang="zh")
    page = report_html(doc)
    assert doc["lang"] == "zh" and '<html lang="zh-CN">' in page and "--lang zh" in doc["reproduce"][-1]
    assert "结果" in page  # the catalog's words in Chinese; the expression's own fall back to English


@pytest.mark.parametrize("text", ["L = sum(X)", "L = mean(X)", "L = sum(X) + sum(W ⊙ W)"])
def test_a_constant_gradient_is_checked_at_every_batch_element(text: str) -> None:
    """d sum(X) / dX is all ones: compiled, it has no batch dimension of its own, and is broadcast."""
    forward = read_forward(text, {"X": "n,d", "W": "n,d"})
    assert all(r.passed for r in check_forward(forward, examples=3))


def test_a_deep_stack_is_checked_by_numbers_and_a_wrong_rule_fails_that_check(monkeypatch: pytest.MonkeyPatch) -> None:
    """20 tanh layers are too deep to write out entry by entry: the model check compares every compiled
    gradient with autograd instead. The matrix form is still proved at every size (its rules are, in
    index form) with that check as corroboration; a wrong tanh row fails both."""
    import dataclasses

    from graphs import ops
    from graphs.matrices import hadamard
    from graphs.route import graph_results
    from verify.expression import _numeric_check

    text = "repeat l = 1..20 { X = tanh(X W_l) }\nL = sum(X)"
    forward = read_forward(text, {"X": "n,d", "W_l": "d,d"}, name="deep_tanh_right")
    register(forward)
    results = graph_results(forward.name)
    assert {r.status.kind for r in results} == {"proved"}
    assert all("every size in index form" in r.status.detail and "numeric" in r.status.detail for r in results)
    wrong = dataclasses.replace(ops.RULES["tanh"], vjps=(lambda ans, x: lambda g: hadamard(g, ans),))
    monkeypatch.setitem(ops.RULES, "tanh", wrong)
    broken = read_forward(text, {"X": "n,d", "W_l": "d,d"}, name="deep_tanh_wrong")
    register(broken)
    (outcome,) = _numeric_check(broken, broken.check_sizes())
    assert outcome.kind == "failed" and "compiled gradient and torch autograd differ" in outcome.detail
    assert {r.status.kind for r in graph_results(broken.name)} == {"failed"}
