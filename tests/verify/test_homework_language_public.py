"""Answers written in public, as the grader will meet them: Stack Exchange posts and MathJax, lecture notes,
Jupyter markdown, copy-paste from PDFs, chat-style replies, NumPy and torch code. Each RIGHT spelling here
was refused ("cannot read") before the reader learnt it; each WRONG one is the same notation with the
mathematics wrong, and must never be credited. The styles repeat across problems on purpose: a spelling
is a property of the reader, not of one problem."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sympy as sp

from verify.homework.language import InvalidAnswer, Vocabulary, normalise, parse, split_products
from verify.homework.problems import grade
from verify.homework.typeset import typeset

RIGHT = [
    # --- wrappers a sentence or a page puts around the maths --------------------------------------
    # a sentence's full stop after the closing $ (Stack Exchange prose)
    ("softmax_ce:grad_z", "$p_i-y_i$."),
    # copy-paste from a PDF or MathJax: no-break and thin spaces
    ("softmax_ce:grad_z", "p_i\u00a0-\u00a0y_i"),
    ("attention:grad_Q", "dS\u2009K / \u221ad_k"),
    # quoted in a chat reply, or as Markdown inline code (Jupyter markdown)
    ("softmax_ce:grad_z", "\u201cp_i - y_i\u201d"),
    ("attention:grad_V", "`A.T @ G`"),
    # a typeset full stop at the end of a display (lecture notes)
    ("perceptron:update_w", r"w_i + \eta (t - y) x_i \text{.}"),
    # a chat's reply: the final answer boxed, labelled in Markdown bold, said in a sentence, coloured
    ("softmax_ce:grad_z", r"\boxed{p_i - y_i}"),
    ("softmax_ce:grad_z", r"\boxed{\frac{\partial L}{\partial z_i} = p_i - y_i}"),
    ("bp:delta_output_sigmoid", r"$\boxed{\delta_k = (T_k - O_k) O_k (1 - O_k)}$"),
    ("softmax_ce:grad_z", "**Answer:** $p_i - y_i$"),
    ("softmax_ce:grad_z", "The gradient is $p_i - y_i$."),
    ("softmax_ce:grad_z", r"\color{blue}{p_i - y_i}"),
    # the last line of a derivation, its = kept
    ("softmax_ce:grad_z", "= p_i - y_i"),
    # the free index's range said again after the formula (lecture notes, textbooks)
    ("softmax_ce:grad_z", r"p_i-y_i \qquad (i = 1, \dots, n)"),
    ("softmax_ce:grad_z", r"\frac{\partial L}{\partial z_i} = p_i - y_i \text{ for } i = 1, \ldots, n"),
    ("softmax_ce:grad_z", r"p_i - y_i, \quad i = 1, \dots, n"),
    ("information:grad_entropy", r"-\log p_i - 1 \quad (1 \le i \le n)"),

    # --- LaTeX that renders the same as what the reader knew ----------------------------------------
    # LaTeX's one-token arguments: \frac1d (TeX.SE answers, hand-typed notes)
    ("layernorm:grad_X", r"\frac{1}{\sigma}\Bigl(\gamma_i g_i - \frac1d\sum_{j=1}^d \gamma_j g_j - \hat x_i\,\frac1d"
                         r"\sum_{j=1}^d \gamma_j g_j \hat x_j\Bigr)"),
    # superscript before subscript, A^TG with the one-letter superscript (MathJax in forum posts)
    ("ffn:grad_W1", r"X^\top ((G W^\top_2) \odot S)"),
    ("attention:grad_V", r"A^TG"),
    ("attention:grad_V", "A^\u22a4G"),
    # plain TeX's font switch, \rm (older papers and notes)
    ("positional_encoding:norm", r"d_{\rm model}/2"),
    # a subscript outside the root's brace (sloppy MathJax)
    ("attention:grad_Q", r"dS K/\sqrt{d}_k"),
    ("attention:score_variance", r"\sqrt{d}_k"),
    # \Sigma as the sum sign (plain-text posts)
    ("softmax_ce:grad_z_general", r"p_i \cdot \Sigma_k y_k - y_i"),
    # a product of matrices without spaces, the last one subscripted (notes in Unicode, MathJax)
    ("ffn:grad_W1", "X\u1d40((GW\u2082\u1d40) \u2299 S)"),
    ("ffn:grad_W1", r"X^{T}((GW_{2}^{T})\odot S)"),
    # index arithmetic in brackets, one pair per index (CNN lecture notes)
    ("conv:grad_W", r"\sum_{i}\sum_{j} G_{ij} \cdot X_{(i+u-1)(j+v-1)}"),
    # the natural log with its base written (information theory notes)
    ("information:grad_entropy", r"-\log_e p_i - 1"),
    ("information:entropy_bound", r"\log_e n"),
    # Hadamard division and the outer product as symbols (matrix cookbook style)
    ("information:grad_q", r"-\mathbf{p} \oslash \mathbf{q}"),
    ("bp:update_w_output", r"W + \alpha\, \delta \otimes H"),
    ("bp:update_w_hidden", "W + \u03b1 \u03b4 \u2297 I"),

    # --- left-hand sides as people label them ---------------------------------------------------------
    # the new value named by a superscript or a prime, the old one by ^{old} (update rules in notes)
    ("perceptron:update_w", r"w_i^{new} = w_i - \eta (y - t) x_i"),
    ("perceptron:update_w", r"w_i^{\text{new}} = w_i + \eta (t - y) x_i"),
    ("perceptron:update_w", r"w_i' = w_i + \eta(t-y)x_i"),
    ("bp:update_w_output", r"w_{kj}^{new} = w_{kj}^{old} + \alpha \delta_k H_j"),
    ("bp:update_w_hidden", r"w_{ji}^{\text{new}} = w_{ji} + \alpha\delta_j I_i"),
    ("perceptron:update_w", r"w_i^{+} = w_i + \eta (t - y) x_i"),
    ("perceptron:update_w", r"w_i^* = w_i + \eta (t - y) x_i"),
    ("perceptron:update_w", r"w_i^{(k+1)} = w_i^{(k)} + \eta (t - y) x_i"),
    ("perceptron:update_w", r"w_i \mathrel{+}= \eta (t - y) x_i"),
    # the derivative as an operator, \partial_z L and \nabla_S L, and \ell for the loss (lecture notes)
    ("softmax_ce:grad_z", r"\partial_{z_i} L = p_i - y_i"),
    ("softmax_ce:grad_z", r"\frac{\partial \ell}{\partial z_i} = p_i - y_i"),
    ("attention:grad_Q", r"\nabla_Q L = \frac{1}{\sqrt{d_k}} (\nabla_S L) K"),
    # the loss named with a subscript or with its arguments (information theory posts)
    ("information:grad_q", r"\frac{\partial D_{KL}}{\partial q_i} = -\frac{p_i}{q_i}"),
    ("information:grad_q", r"\frac{\partial}{\partial q_i} KL(p\|q) = -\frac{p_i}{q_i}"),
    ("information:grad_q", r"\frac{\partial D_{\mathrm{KL}}(p\,\|\,q)}{\partial q_i} = -\frac{p_i}{q_i}"),
    ("information:grad_p", r"\frac{\partial D_{\mathrm{KL}}(p \| q)}{\partial p_i} = \log\frac{p_i}{q_i} + 1"),
    ("information:grad_z", r"\nabla_z \mathrm{KL}(p\|q) = q - p"),
    ("information:grad_entropy", r"\frac{\partial H(p)}{\partial p_i} = -\ln(p_i) - 1"),
    # a two-index variable with a comma (CNN notes)
    ("conv:grad_W", r"\frac{\partial L}{\partial W_{u,v}} = \sum_{i}\sum_{j} G_{i,j}\,X_{i+u-1,\,j+v-1}"),
    # a change Delta w named in a where clause (back-propagation notes)
    ("bp:update_w_output", r"w_{kj}(t+1) = w_{kj}(t) + \Delta w_{kj}, \text{ where } \Delta w_{kj} = \alpha \delta_k H_j"),
    # a code name for a decoration (Python variables)
    ("softmax_ce:grad_z", "y_hat - y"),

    # --- indicators and cases as written in posts --------------------------------------------------
    ("pooling:grad_max", r"g\,\mathbb{1}\left[x_i = \max_{j} x_j\right]"),
    ("pooling:grad_max", r"g \cdot \mathbb{1}_{\{x_i = \max_j x_j\}}"),
    ("pooling:grad_max", r"g\,\mathbf{1}[x_i = \max\{x_1,x_2,x_3,x_4\}]"),
    ("pooling:grad_max", r"\begin{cases} g, & \text{if } x_i = \max_{j} x_j, \\ 0, & \text{otherwise.} \end{cases}"),
    # Python: a comparison in brackets counts as 1 or 0
    ("pooling:grad_max", "g * (x_i == max(x_1, x_2, x_3, x_4))"),

    # --- NumPy and torch code (course notebooks, chat replies) ---------------------------------------
    ("softmax_ce:grad_z", "np.exp(z)/np.sum(np.exp(z)) - y"),
    ("softmax_ce:grad_z", "exp(z_i)/sum(exp(z)) - y_i"),
    ("information:grad_z", "np.exp(z_i)/np.sum(np.exp(z)) - p_i"),
    ("softmax_ce:grad_z_general", "p_i*sum(y) - y_i"),
    ("softmax_ce:grad_z_general", "softmax(z) * np.sum(y) - y"),
    ("attention:grad_V", "np.dot(A.T, G)"),
    ("attention:grad_V", "A.T.dot(G)"),
    ("attention:grad_V", "A.transpose() @ G"),
    ("attention:grad_V", "torch.matmul(A.T, G)"),
    ("attention:grad_V", "A.mT @ G"),
    ("attention:grad_V", "A.t() @ G"),
    ("attention:grad_A", "np.dot(G, V.T)"),
    ("attention:grad_A", "G.dot(V.T)"),
    ("attention:grad_A", "torch.matmul(G, V.transpose(-2, -1))"),
    ("attention:grad_Q", "np.dot(dS, K) / np.sqrt(d_k)"),
    ("attention:grad_Q", "dS.dot(K) / np.sqrt(d_k)"),
    ("attention:grad_K", "dS.T.dot(Q) / np.sqrt(d_k)"),
    ("attention:grad_S", "A * (dA - (dA * A).sum(axis=-1, keepdims=True))"),
    ("attention:grad_S", "A*(dA - np.sum(dA*A, axis=1, keepdims=True))"),
    ("layernorm:grad_X", "(gamma*g - np.mean(gamma*g) - xhat*np.mean(gamma*g*xhat)) / sigma"),
    ("ffn:grad_W1", "np.dot(X.T, np.dot(G, W_2.T) * S)"),
    ("bp:update_w_output", "W + alpha * np.outer(delta, H)"),
    ("bp:update_w_hidden", "W + alpha * np.outer(delta, I)"),
    # MATLAB's transpose of a function's value
    ("attention:grad_V", "softmax(Q * K' / sqrt(d_k))' * G"),
    ("information:grad_q", "np.divide(-p, q)"),
    ("information:grad_q", "np.multiply(-p, 1/q)"),
]

WRONG = [
    # the same wrappers and framing around wrong mathematics
    ("softmax_ce:grad_z", r"\boxed{y_i - p_i}"),
    ("softmax_ce:grad_z", "**Answer:** $p_i + y_i$"),
    ("softmax_ce:grad_z", "The gradient is $y_i - p_i$."),
    ("softmax_ce:grad_z", "The gradient is not $p_i - y_i$."),  # prose is read only as a lead-in, never past it
    ("softmax_ce:grad_z", "= y_i - p_i"),
    ("softmax_ce:grad_z", r"\partial_{z_i} L = y_i - p_i"),
    ("perceptron:update_w", r"w_i^{(k+1)} = w_i^{(k)} + \eta (y - t) x_i"),
    ("attention:grad_Q", r"\nabla_Q L = \frac{1}{\sqrt{d_k}} (\nabla_S L)^T K"),
    ("softmax_ce:grad_z", "$y_i-p_i$."),
    ("softmax_ce:grad_z", "\u201cp_i + y_i\u201d"),
    ("softmax_ce:grad_z", r"p_i \qquad (i = 1, \dots, n)"),
    ("perceptron:update_w", r"w_i^{new} = w_i + \eta (y - t) x_i"),
    ("perceptron:update_w", r"w_i' = w_i - \eta(t-y)x_i"),
    ("bp:update_w_output", r"w_{kj}^{new} = w_{kj}^{old} - \alpha \delta_k H_j"),
    ("information:grad_q", r"\frac{\partial D_{KL}}{\partial q_i} = \frac{p_i}{q_i}"),
    ("information:grad_entropy", r"\frac{\partial H(p)}{\partial p_i} = -\ln(p_i) + 1"),
    ("conv:grad_W", r"\frac{\partial L}{\partial W_{u,v}} = \sum_{i}\sum_{j} G_{i,j}\,X_{i+u,\,j+v}"),
    ("conv:grad_W", r"\sum_{i}\sum_{j} G_{ij} \cdot X_{(j+u-1)(i+v-1)}"),
    ("bp:update_w_output", r"w_{kj}(t+1) = w_{kj}(t) + \Delta w_{kj}, \text{ where } \Delta w_{kj} = \alpha \delta_k"),
    # a chain that names the asked quantity with the other sign on the way (a lecture's delta = -dE/dnet)
    ("bp:delta_output_sigmoid", r"\delta_k = +\frac{\partial E}{\partial \mathrm{net}_k} = (T_k - O_k) O_k (1 - O_k)"),
    ("bp:delta_hidden", r"\delta_j = \frac{\partial E}{\partial net_j} = H_j(1-H_j)\sum_k \delta_k w_{kj}"),
    # a function's derivative on the left is no loss's: d softmax(z)/dz_i is not dL/dz_i
    ("softmax_ce:grad_z", r"\frac{\partial\, \mathrm{softmax}(z)}{\partial z_i} = p_i - y_i"),
    # LaTeX respellings around wrong mathematics
    ("layernorm:grad_X", r"\frac{1}{\sigma}\Bigl(\gamma_i g_i - \frac1d\sum_{j=1}^d \gamma_j g_j\Bigr)"),
    ("attention:grad_V", r"A^TG^T"),
    ("attention:grad_Q", r"dS K/\sqrt{d}"),
    ("information:grad_entropy", r"-\log_2 p_i - 1"),  # bits, not nats: log_2 is not the natural log
    ("information:entropy_bound", r"\log_2 n"),
    ("information:entropy_bound", r"\log_{10} n"),
    ("bp:update_w_output", r"W + \alpha\, H^T \otimes \delta^T"),
    ("pooling:grad_max", r"g \cdot \mathbb{1}_{\{x_i = \min_j x_j\}}"),
    ("pooling:grad_max", "g * (x_i != max(x_1, x_2, x_3, x_4))"),
    ("pooling:grad_max", r"\begin{cases} 0, & \text{if } x_i = \max_{j} x_j, \\ g, & \text{otherwise.} \end{cases}"),
    # NumPy slips: a 1-D row sum broadcasts along rows, not columns; the wrong axis; the wrong operand
    ("attention:grad_S", "A * (dA - (dA * A).sum(axis=-1))"),
    ("attention:grad_S", "A * (dA - (dA * A).sum(axis=0, keepdims=True))"),
    ("attention:grad_S", "A*(dA - np.sum(dA, axis=1, keepdims=True))"),
    ("softmax_ce:grad_z", "np.exp(z)/np.sum(z) - y"),
    ("attention:grad_V", "np.dot(A, G)"),
    ("attention:grad_A", "G.dot(V)"),
    ("attention:grad_Q", "dS.T.dot(K) / np.sqrt(d_k)"),
    ("layernorm:grad_X", "(gamma*g - np.mean(gamma*g) - xhat*np.mean(gamma*g)) / sigma"),
    ("bp:update_w_output", "W - alpha * np.outer(delta, H)"),
    ("attention:grad_V", "softmax(Q * K' / sqrt(d_k)) * G"),
    ("information:grad_q", "np.divide(p, q)"),
    # a remark after the answer is not read past (it may change the meaning): refused, never credited
    ("information:entropy_bound", r"\log n \text{ (in bits)}"),
    ("perceptron:novikoff", r"\frac{R^2}{\gamma^2} \text{ (up to a constant)}"),
]


@pytest.mark.parametrize(("problem", "text"), RIGHT)
def test_a_right_answer_written_in_public_is_credited(problem: str, text: str) -> None:
    g = grade(problem, text)
    assert g.verdict == "correct", f"{text!r}: {g.verdict} [{g.method}] {g.feedback}"


@pytest.mark.parametrize(("problem", "text"), WRONG)
def test_a_wrong_answer_in_the_same_notation_is_never_credited(problem: str, text: str) -> None:
    g = grade(problem, text)
    assert g.verdict != "correct", f"A WRONG ANSWER WAS CREDITED: {text!r}: {g.feedback}"


@pytest.fixture
def rmsnorm(built_in_only: None) -> Iterator[None]:
    """RMSNorm's forward problems, registered for the test and taken away after (built_in_only)."""
    from verify.forwards import register_problems

    register_problems(("rmsnorm",))
    yield


def test_numpy_reductions_read_with_their_axis_on_a_forward_problem(rmsnorm: None) -> None:
    # course notebooks: a column sum kept two-dimensional, a row mean broadcast back, MATLAB's transpose
    for text in ("np.sum(G * R, axis=0, keepdims=True).T", "colsum(G .* R)'"):
        assert grade("rmsnorm:grad_g", text).verdict == "correct", text
    text = "(G * g.T - R * (G * g.T * R).mean(axis=1, keepdims=True)) / s"
    assert grade("rmsnorm:grad_X", text).verdict == "correct"
    for text in ("np.sum(G * X, axis=0, keepdims=True).T", "(G * R).sum(axis=1, keepdims=True)"):
        assert grade("rmsnorm:grad_g", text).verdict != "correct", text


# --- the reader itself: what each spelling is read as ---------------------------------------------

CE = Vocabulary(indexed={"p": 1, "y": 1}, indices={"i": "n", "k": "n"},
                vectors={"p": sp.MatrixSymbol("p", 3, 1), "y": sp.MatrixSymbol("y", 3, 1)})
M = sp.MatrixSymbol("M", 2, 3)
MATS = Vocabulary(matrices={"M": M})


@pytest.mark.parametrize(("written", "read"), [
    ("p_i\u00a0-\u2009y_i", "p_i - y_i"),
    ("\u201cp_i\u201d", "p_i"),
    ("```p_i```", "p_i"),
    ("$p_i$.", "p_i"),
    (r"p_i \text{.}", "p_i"),
    (r"p_i, \quad i = 1, \dots, n", "p_i forall i"),
    (r"p_i \text{ for } k = 0, \ldots, n-1", "p_i forall k"),
    (r"\frac1d + \frac1\sigma", r"\frac{1}{d} + \frac{1}{sigma}"),
    (r"W^\top_2 x^2_i", "W_2ᵀ x_i^2"),
    (r"A^TG", "Aᵀ G"),
    (r"d_{\rm model}", "d_{model}"),
    ("x_hat_i - y_bar", "xhat_i - ybar"),
    (r"\log_e x + \log_2 x + \log_{10} x", "ln x + log2 x + log10 x"),
    (r"a \oslash b", "a / b"),
    ("A.mT + A.t() + A.transpose(-2, -1)", "Aᵀ + Aᵀ + Aᵀ"),
])
def test_a_public_spelling_normalises_to_the_one_read(written: str, read: str) -> None:
    assert normalise(written) == read


def test_numpy_sums_follow_numpy_shapes() -> None:
    ones_row, ones_column = sp.OneMatrix(1, 2), sp.OneMatrix(3, 1)
    assert parse("sum(p)", CE) == (sp.OneMatrix(1, 3) * sp.MatrixSymbol("p", 3, 1))[0, 0]
    assert parse("np.sum(M, axis=1, keepdims=True)", MATS) == M * ones_column
    assert parse("M.sum(0)", MATS) == ones_row * M  # one-dimensional: NumPy broadcasts it as a row
    assert parse("M.sum(axis=1)", MATS).shape == (1, 2)  # so dA - dA.sum(axis=1) is the slip it is in NumPy
    assert parse("M.mean(axis=-1, keepdims=True)", MATS) == M * ones_column / 3


@pytest.mark.parametrize(("text", "refusal"), [
    ("sum(M)", "which axis"),  # a matrix's whole sum is no gradient here: say the axis
    ("sum(M, axis=2)", "axes 0 and 1"),
    ("exp(M, axis=1)", "axis="),
    ("outer(M, M)", "two vectors"),
    ("exp(M)' + abs(1)'", "derivative"),
])
def test_numpy_spellings_out_of_their_reach_are_refused_with_a_reason(text: str, refusal: str) -> None:
    with pytest.raises(InvalidAnswer, match=refusal):
        parse(text, MATS)


def test_the_loss_name_on_a_left_hand_side_is_not_taken_for_a_problem_symbol() -> None:
    # a problem's own symbol in the numerator stays as written: dH_j/dnet_j is not a loss's derivative
    words = Vocabulary(indexed={"p": 1, "q": 1, "H": 1}, indices={"i": "n", "j": "n"}, asks={"d/dq": 1})
    assert parse(r"\frac{\partial D_{KL}(p \| q)}{\partial q_i} = p_i", words) == parse("p_i", words)
    with pytest.raises(InvalidAnswer, match="left-hand side"):
        parse(r"\frac{\partial H(p)}{\partial H_i} = p_i", Vocabulary(indexed={"p": 1, "H": 1}, indices={"i": "n"},
                                                                      asks={"d/dp": 1}))


@pytest.mark.parametrize("text", [r"\frac{R^2}{\gamma^2} \text{ mistakes}", r"\sqrt{d_k} \quad \text{(the standard deviation)}"])
def test_a_remark_after_the_answer_is_refused_saying_so(text: str) -> None:
    with pytest.raises(InvalidAnswer, match="remark"):
        normalise(text)


def test_sigma_is_a_sum_sign_only_where_the_problem_has_no_sigma() -> None:
    assert parse(r"\Sigma_k y_k", CE) == parse(r"\sum_k y_k", CE)
    words = Vocabulary(indexed={"Sigma": 1}, indices={"k": "n"})
    assert parse(r"\Sigma_k", words) == sp.IndexedBase("Sigma", real=True)[sp.Symbol("k", integer=True, positive=True)]


def test_a_run_of_capitals_splits_only_into_the_problem_s_matrices() -> None:
    assert split_products("GW_{2}ᵀ", {"G"}, known={"G", "W_2"}) == "(G W_{2}ᵀ)"
    assert split_products("GW_{2}", {"G"}, known={"G", "W_1"}) == "GW_{2}"  # W_2 names nothing: left alone
    assert split_products("GW_{2}", {"G"}, known={"G", "W_2", "GW_2"}) == "GW_{2}"  # the run is a name itself


@pytest.mark.parametrize("text", ["A.T.dot(G)", "np.sum(A * A, axis=1, keepdims=True)", r"\log_2 n + log10(n)",
                                  r"\frac{\partial D_{KL}(p\|q)}{\partial A} = A", r"\delta \otimes H"])
def test_new_spellings_typeset_and_read_back_the_same(text: str) -> None:
    n = sp.Symbol("n", positive=True)
    A, G = sp.MatrixSymbol("A", 3, 3), sp.MatrixSymbol("G", 3, 2)
    words = Vocabulary(matrices={"A": A, "G": G}, scalars={"n": n},
                       vectors={"delta": sp.MatrixSymbol("delta", 3, 1), "H": sp.MatrixSymbol("H", 2, 1)})
    latex = typeset(text, words)
    assert r"\text{" not in latex.replace(r"\text{axis=1}", "").replace(r"\text{keepdims=True}", ""), latex
    assert parse(latex, words) == parse(text, words)


# Found by review: readings added for public answers that credited false statements.
@pytest.mark.parametrize(("problem", "answer"), [
    ("bp:delta_output_sigmoid", r"-\partial_{net_k} O_k = (T_k - O_k) O_k (1 - O_k)"),  # dO_k/dnet_k is not delta_k
    ("information:grad_q", r"\partial_{q_i} p_i = -p_i/q_i"),  # dp_i/dq_i = 0
    ("attention:grad_K", r"\partial_K Q = dS^T Q / \sqrt{d_k}"),
    ("attention:grad_V", r"\partial_V O = A^T G"),
    ("attention:grad_K", r"dK' = dS^T Q / \sqrt{d_k}"),  # a gradient's prime reads as its transpose
    ("attention:grad_V", r"dV' = A^T G"),
    ("bp:update_w_output", r"w_kj^{old} = w_kj + alpha delta_k H_j"),  # says the current weight is the update
    ("softmax_ce:grad_z", r"p_i - y_i, \quad k = 1, \dots, n"),  # the range of another letter
    ("softmax_ce:grad_z", r"p_i - y_i, 1 \le i \le 2"),  # not the whole range
    ("softmax_ce:grad_z", r"p_i - y_i forall k"),
])
def test_a_false_statement_in_a_public_spelling_is_never_credited(problem: str, answer: str) -> None:
    assert grade(problem, answer).verdict != "correct"


@pytest.mark.parametrize(("problem", "answer"), [
    ("softmax_ce:grad_z", r"\partial_{z_i} L = p_i - y_i"), ("information:grad_q", r"\partial_{q_i} KL = -p_i/q_i"),
    ("perceptron:update_w", r"w_i' = w_i - eta (y - t) x_i"),
    ("bp:update_w_output", r"w_kj^{new} = w_kj^{old} + alpha delta_k H_j"),
    ("softmax_ce:grad_z", r"p_i - y_i, \quad i = 1, \dots, n"),
])
def test_the_same_spellings_stated_truly_are_still_credited(problem: str, answer: str) -> None:
    g = grade(problem, answer)
    assert g.verdict == "correct", g.feedback
