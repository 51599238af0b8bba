"""Answers as people write them (issue 15): the notation of Q&A answers, slides and course notes, each
with a right answer that grades correct and a wrong one that is never credited; refusals that name the
construct; and a round trip of every problem's key through the notations."""

from __future__ import annotations

import pytest
import sympy as sp
from hypothesis import given
from hypothesis import strategies as st

from verify.homework.language import (
    AllOver,
    AtExtremum,
    InvalidAnswer,
    MaxOver,
    MinOver,
    Vocabulary,
    normalise,
    parse,
    star_matters,
)
from verify.homework.problems import PROBLEMS, grade

CE = Vocabulary(indexed={"p": 1, "y": 1, "z": 1}, indices={"i": "n", "j": "n", "k": "n"},
                vectors={"p": sp.MatrixSymbol("p", sp.Symbol("n"), 1)}, applications={("softmax", "z"): "p"})
POOL = Vocabulary(indexed={"x": 1}, scalars={"g": sp.Symbol("g")}, indices={"i": "m", "j": "m"})
A, B, C = sp.MatrixSymbol("A", 3, 3), sp.MatrixSymbol("B", 3, 3), sp.MatrixSymbol("C", 3, 2)
MATS = Vocabulary(matrices={"A": A, "B": B, "C": C})
i, j, k, n, m = (sp.Symbol(s, integer=True, positive=True) for s in "ijknm")
p, y, x = (sp.IndexedBase(s, real=True) for s in "pyx")


def _refused(text: str, words: Vocabulary) -> str:
    with pytest.raises(InvalidAnswer) as caught:
        parse(text, words)
    message = str(caught.value)
    assert "\n" not in message and len(message) < 220, message
    return message


# --- right answers in real notation grade correct; each has a wrong twin that does not -------------

RIGHT_AND_WRONG = [
    # framing: a left-hand side, an arrow, $...$ and friends
    ("softmax_ce:grad_z", r"\frac{\partial L}{\partial z_i} = p_i - y_i", r"\frac{\partial L}{\partial z_i} = y_i - p_i"),
    ("softmax_ce:grad_z", r"$p_i - y_i$", r"$p_i + y_i$"),
    ("softmax_ce:grad_z", r"\[ p_i - y_i \]", r"\[ p_i \]"),
    ("softmax_ce:grad_z", r"dL/dz_i = p_i - y_i.", r"dL/dz_i = p_i - 2 y_i."),
    ("softmax_ce:grad_z", r"\frac{\partial L}{\partial z_i} = \frac{e^{z_i}}{\sum_j e^{z_j}} - y_i = p_i - y_i",
     r"\frac{\partial L}{\partial z_i} = p_i - y_i = p_i"),
    ("bp:delta_output_sigmoid", r"\delta_k = (T_k - O_k) O_k (1 - O_k)", r"\delta_k = (O_k - T_k) O_k (1 - O_k)"),
    ("bp:update_w_output", r"w_{kj} \leftarrow w_{kj} + \alpha \delta_k H_j", (r"w_{kj} \leftarrow w_{kj} + \alpha \delta_k"
     r" H_k")),
    ("bp:update_w_output", r"w_{kj}(t+1) = w_{kj}(t) + \alpha \delta_k H_j", r"w_{kj}(t+1) = w_{kj}(t) + \delta_k H_j"),
    ("bp:update_w_output", r"w_kj += \alpha \delta_k H_j", r"w_kj -= \alpha \delta_k H_j"),
    ("perceptron:update_w", r"w_i := w_i - \eta (y - t) x_i", r"w_i := w_i + \eta (y - t) x_i"),
    ("perceptron:update_w", r"w_i -= \eta (y - t) x_i", r"w_i -= \eta (t - y) x_i"),
    ("perceptron:update_w", r"w_i ← w_i − η (y − t) x_i", r"w_i ← w_i − η (y − t)"),
    ("perceptron:update_w", r"w_i <- w_i - \eta (y - t) x_i", r"w_i <- - \eta (y - t) x_i"),
    ("attention:grad_V", r"\nabla_V L = A^{\mathsf T} G", r"\nabla_V L = A G"),
    # sums
    ("softmax_ce:grad_z", r"-y_i (1 - p_i) + \sum_{k \neq i} y_k p_i", r"-y_i (1 - p_i) + \sum_{k} y_k p_i"),
    ("softmax_ce:grad_z", r"-y_i (1 - p_i) + \sum_{k \ne i} y_k p_i", r"-y_i (1 - p_i) + \sum_{k \ne i} y_k p_k"),
    ("softmax_ce:grad_z", r"-y_i (1 - p_i) + \sum_{k≠i} y_k p_i", r"-y_i + \sum_{k≠i} y_k p_i"),
    ("softmax_ce:grad_z", r"p_i Σ_k y_k - y_i", r"p_i Σ_k y_k - y_k"),
    ("softmax_ce:grad_z", r"p_i ∑_{k} y_k - y_i", r"p_i ∑_{k} y_k + y_i"),
    ("softmax_ce:grad_z", r"\frac{e^{z_i}}{\sum_{j'} e^{z_{j'}}} - y_i", r"\frac{e^{z_i}}{\sum_{j'} e^{z_i}} - y_i"),
    ("softmax_ce:grad_z", r"\frac{e^{z_i}}{\sum\limits_{j} e^{z_j}} - y_i", r"\frac{e^{z_i}}{\sum\limits_{j=2}^{n} e^{z_j}} - y_i"),
    ("softmax_ce:grad_z", r"\frac{\exp(z_i)}{\displaystyle\sum_{k=1}^{n} \exp(z_k)} - y_i",
     r"\frac{\exp(z_i)}{\displaystyle\sum_{k=1}^{n-1} \exp(z_k)} - y_i"),
    ("bp:delta_hidden", r"\delta_j = H_j (1 - H_j) \sum_{k \in \text{outputs}} \delta_k w_{kj}",
     r"\delta_j = H_j (1 - H_j) \sum_{k \in \text{outputs}} \delta_k w_{jk}"),
    ("conv:grad_W", r"\sum_{i,j} G_{ij} X_{i+u-1,j+v-1}", r"\sum_{i,j} G_{ij} X_{i+v-1,j+u-1}"),
    ("conv:grad_W", r"\sum_i \sum_j G[i,j] X_{i+u-1,j+v-1}", r"\sum_i G[i,1] X_{i+u-1,v}"),
    # Kronecker delta and indicators, cases, max over an index
    ("softmax_ce:grad_z", r"-\sum_k y_k (\delta_{ik} - p_i)", r"-\sum_k y_k (\delta_{ik} - p_k)"),
    ("softmax_ce:grad_z", r"-\sum_{k} y_k (δ_{ik} - p_i)", r"\sum_{k} y_k (δ_{ik} - p_i)"),
    ("softmax_ce:grad_z", r"\sum_k y_k (p_i - \mathbb{1}[i = k])", r"\sum_k y_k (p_k - \mathbb{1}[i = k])"),
    ("pooling:grad_max", r"\begin{cases} g & x_i = \max_j x_j \\ 0 & \text{otherwise}\end{cases}",
     r"\begin{cases} g & x_i = \min_j x_j \\ 0 & \text{otherwise}\end{cases}"),
    ("pooling:grad_max", r"\begin{cases} g & \text{if } x_i = \max(x_1, x_2, x_3, x_4) \\ 0 & \text{else}\end{cases}",
     r"\begin{cases} g & \text{if } x_i > 0 \\ 0 & \text{else}\end{cases}"),
    ("pooling:grad_max", r"\begin{cases} g, & x_i \geq x_j \text{ for all } j \\ 0, & \text{otherwise} \end{cases}",
     r"\begin{cases} g, & x_i \geq x_1 \\ 0, & \text{otherwise} \end{cases}"),
    ("pooling:grad_max", r"g \cdot \mathbb{1}[x_i = \max_j x_j]", r"\mathbb{1}[x_i = \max_j x_j]"),
    ("pooling:grad_max", r"g \mathbb{1}\{x_i \geq x_j \forall j \neq i\}", r"g \mathbb{1}\{x_i \leq x_j \forall j \neq i\}"),
    ("pooling:grad_max", r"g \, \mathbf{1}_{x_i = \max_j x_j}", r"g \, \mathbf{1}_{x_i = \max_j x_i}"),
    ("pooling:grad_max", r"g [x_i = \max_j x_j]", r"g [x_i \ge 0]"),
    ("pooling:grad_max", r"g \cdot 1[x_i ≥ x_j ∀ j]", r"g \cdot 1[x_i ≥ x_j ∀ j] + 1[x_i < 0]"),
    # decorations and fonts
    ("layernorm:grad_X", (r"\frac{1}{\sigma}\left(\gamma_i g_i - \frac{1}{d}\sum_j \gamma_j g_j - \hat{x}_i \frac{1}{d}"
     r"\sum_j \gamma_j g_j \hat{x}_j\right)"), (r"\frac{1}{\sigma}\left(\gamma_i g_i - \frac{1}{d}\sum_j \gamma_j g_j - x_i"
     r" \frac{1}{d}\sum_j \gamma_j g_j x_j\right)")),
    ("layernorm:grad_X", (r"\frac{1}{\sigma}\left(\gamma_i g_i - \frac{1}{d}\sum_j \gamma_j g_j - x̂_i \frac{1}{d}"
     r"\sum_j \gamma_j g_j x̂_j\right)"), r"\frac{1}{\sigma}\left(\gamma_i g_i - x̂_i \frac{1}{d}\sum_j \gamma_j g_j x̂_j\right)"),
    ("layernorm:grad_X", (r"\frac{1}{\sigma}\big(\gamma_i g_i - \tfrac{1}{d}\sum_j \gamma_j g_j - \hat x_i \tfrac{1}{d}"
     r"\sum_j \gamma_j g_j \hat x_j\big)"), r"\frac{1}{\sigma}\big(\gamma_i g_i\big)"),
    ("softmax_ce:grad_z", r"\mathrm{softmax}(\mathbf z)_i - y_i", r"\mathrm{softmax}(\mathbf z)_i + y_i"),
    ("softmax_ce:grad_z", r"\operatorname{softmax}(\boldsymbol{z})_i - \mathbf{y}_i", r"\operatorname{softmax}(z)_i"),
    ("attention:grad_S", r"A \odot (dA - \text{rowsum}(dA \odot A))", r"A \odot dA"),
    # brackets, roots, products, powers
    ("softmax_ce:grad_z", r"\left[ p_i - y_i \right]", r"\left[ p_i - y_i \right]^2"),
    ("softmax_ce:grad_z", r"\Big( p_i - y_i \Big)", r"\Big( p_i - y_i \Big) p_i"),
    ("bp:delta_output_sigmoid", r"[T_k - O_k] O_k [1 - O_k]", r"[T_k - O_k] [1 - O_k]"),
    ("bp:delta_output_sigmoid", r"\bigl(T_k - O_k\bigr) \cdot O_k \times (1 - O_k)", r"\bigl(T_k - O_k\bigr) \cdot O_k"),
    ("attention:grad_Q", r"\frac{1}{\sqrt{d_k}} dS K", r"\frac{1}{d_k} dS K"),
    ("attention:grad_Q", r"dS K / √d_k", r"dS K √d_k"),
    ("attention:grad_Q", r"dS K / √(d_k)", r"K dS / √(d_k)"),
    ("attention:grad_Q", r"\frac{dS\,K}{\sqrt d_k}", r"\frac{dS^T K}{\sqrt d_k}"),
    ("attention:grad_Q", r"dS @ K / d_k**0.5", r"dS @ K / d_k**2"),
    ("attention:grad_V", r"A^\intercal G", r"G^\intercal A"),
    ("attention:grad_V", r"A' G", r"A G'"),
    # function notation
    ("softmax_ce:grad_z", r"softmax(z)_i - y_i", r"softmax(z)_i - y_i + 1"),
    ("softmax_ce:grad_z", r"dL/dz_i = p[i] - y[i]", r"dL/dz_i = p[i] - y[i] p[i]"),
    ("softmax_ce:grad_z", r"p - y", r"p + y"),
    ("information:grad_z", r"\mathrm{softmax}(z)_i - p_i", r"p_i - \mathrm{softmax}(z)_i"),
    ("bp:delta_output_sigmoid", r"(T_k - O_k) f'(net_k)", r"(T_k - O_k) f'(O_k)"),
    ("bp:delta_output_sigmoid", r"(T_k - O_k) \sigma'(net_k)", r"(T_k - O_k) \sigma(net_k)"),
    ("bp:delta_output_sigmoid", r"(T_k - O_k) \sigma(\mathrm{net}_k)(1 - \sigma(net_k))", r"(T_k - O_k) \sigma(net_k)"),
    ("bp:delta_hidden", r"H[j] (1 - H[j]) \sum_k \delta[k] w[k][j]", r"H[j] (1 - H[j]) \sum_k \delta[k] w[j][k]"),
    ("bp:delta_hidden", r"H_j (1 - H_j) \sum_k \delta_k w[k,j]", r"H_j (1 - H_j) \sum_k \delta_k w[j,k]"),
    ("bp:delta_hidden", r"f'(net_j) \sum_k \delta_k w_{kj}", r"f'(net_j) \sum_k \delta_k"),
    ("bp:delta_hidden", r"\sum_k \delta_k w_{kj} \cdot \operatorname{Sigmoid}'(net_j)", r"\sum_k \delta_k w_{kj} \tanh'(net_j)"),
    ("bp:delta_hidden", r"\sigma(net_j)(1 - \sigma(net_j)) \sum_k \delta_k w_{kj}",
     r"(1 - \tanh^2(net_j)) \sum_k \delta_k w_{kj}"),
    # the entry of a vector expression, a trailing "for all i", library spellings, math letters
    ("softmax_ce:grad_z", r"(\mathbf{p} - \mathbf{y})_i", r"(\mathbf{p} + \mathbf{y})_i"),
    ("softmax_ce:grad_z", r"[p - y]_i", r"[y - p]_i"),
    ("softmax_ce:grad_z", r"p_i - y_i \quad \forall i", r"p_i \quad \forall i"),
    ("softmax_ce:grad_z", r"p_i - y_i \text{ for all } i", r"p_i - 2 y_i \text{ for all } i"),
    ("softmax_ce:grad_z", r"np.exp(z_i) / sum_j np.exp(z_j) - y_i", r"np.exp(z_i) / sum_j np.exp(z_i) - y_i"),
    ("softmax_ce:grad_z", r"𝐩_i - 𝐲_i", r"𝐩_i - 𝐲_i 𝐩_i"),
    ("attention:grad_Q", r"\frac{1}{\sqrt{d_k}} \mathrm{d}S \, K", r"\frac{1}{\sqrt{d_k}} \mathrm{d}S^\top K"),
    ("attention:grad_Q", r"dS @ K / np.sqrt(d_k)", r"dS @ K / torch.sqrt(d_k) / 2"),
    ("attention:grad_Q", r"\frac{1}{\sqrt{d_k}} dS \cdot K", r"\frac{1}{\sqrt{d_k}} dS"),
    ("attention:grad_Q", r"\frac1{\sqrt{d_k}} dS K", r"\frac12 dS K"),
    ("attention:grad_Q", r"dS K ÷ \sqrt{d_k}", r"dS K ÷ d_k"),
    # argmax, max of a vector, Python's conditional, indicator in round brackets, array-style cases
    ("pooling:grad_max", r"g \cdot \mathbb{1}(x_i = \max_j x_j)", r"g \cdot \mathbb{1}(x_i = x_1)"),
    ("pooling:grad_max", r"g if x_i == max(x) else 0", r"g if x_i == min(x) else 0"),
    ("pooling:grad_max", r"g \, [i = \arg\max_j x_j]", r"g \, [i = \arg\min_j x_j]"),
    ("pooling:grad_max", r"g \, [i = \operatorname*{arg\,max}_j x_j]", r"g \, [i \neq \operatorname*{arg\,max}_j x_j]"),
    ("pooling:grad_max", r"\left\{ \begin{array}{ll} g & x_i = \max_j x_j \\[2pt] 0 & \text{else} \end{array} \right.",
     r"\left\{ \begin{array}{ll} g & x_i = \max_j x_j \\[2pt] g & \text{else} \end{array} \right."),
    ("pooling:grad_max", r"\begin{cases} g & \text{when } x_i = \max_j x_j \\ 0 & \text{otherwise}\end{cases}",
     r"\begin{cases} g & \text{when } x_i < \max_j x_j \\ 0 & \text{otherwise}\end{cases}"),
    # a step written as a superscript, \mathrel{+}=
    ("bp:update_w_output", r"w_{kj}^{(t+1)} = w_{kj}^{(t)} + \alpha \delta_k H_j", r"w_{kj}^{(t+1)} = \alpha \delta_k H_j"),
    ("bp:update_w_output", r"w_{kj} \mathrel{+}= \alpha \delta_k H_j", r"w_{kj} \mathrel{-}= \alpha \delta_k H_j"),
    # \sum_{k=1, k \neq i}^{n}; a derivative the problem names (dS = dL/dS) written as a quotient
    ("softmax_ce:grad_z", r"-y_i (1 - p_i) + \sum_{k=1, k \neq i}^{n} y_k p_i", r"-y_i + \sum_{k=1, k \neq i}^{n} y_k p_i"),
    ("attention:grad_Q", r"\frac{1}{\sqrt{d_k}} \frac{\partial L}{\partial S} K", r"\frac{\partial L}{\partial S} K"),
    ("attention:grad_Q", r"(dL/dS) K / \sqrt{d_k}", r"(dL/dS)^T K / \sqrt{d_k}"),
    ("attention:grad_S", r"A \odot (\frac{\partial L}{\partial A} - \mathrm{rowsum}(\frac{\partial L}{\partial A} \odot A))",
     r"A \odot \frac{\partial L}{\partial A}"),
    # FlashAttention's D = rowsum(dO ⊙ O), n x d_k summed, broadcast against the n x n dP
    ("attention:grad_S", r"A \odot (G V^T - \mathrm{rowsum}(G \odot O))", r"A \odot (G V^T - \mathrm{rowsum}(G V^T))"),
    ("attention:grad_Q", r"(A \odot (G V^T - rowsum(G \odot O))) K / \sqrt{d_k}", r"(A \odot (G V^T - rowsum(G \odot O))) K"),
    # a where clause: the answer in the student's own names, defined after it (the definition counts)
    ("softmax_ce:grad_z", r"s_i - y_i, \text{ where } s_i = \frac{e^{z_i}}{\sum_j e^{z_j}}",
     r"s_i - y_i, \text{ where } s_i = \frac{e^{z_i}}{\sum_{j \neq i} e^{z_j}}"),
    ("softmax_ce:grad_z", r"\hat{s}_i - y_i \quad \text{with} \quad \hat{s} = \mathrm{softmax}(z)",
     r"\hat{s}_i - y_i \quad \text{with} \quad \hat{s} = z"),
    ("softmax_ce:grad_z", r"p_i - y_i, where p = softmax(z)", r"p_i - y_i, where p_i = e^{z_i}"),
    ("softmax_ce:grad_z", r"\frac{\partial L}{\partial z_i} = a_i - y_i, where a_k = \frac{\exp(z_k)}{\sum_j \exp(z_j)}",
     r"\frac{\partial L}{\partial z_i} = a_i - y_i, where a_k = \exp(z_k)"),
    ("attention:grad_Q", r"dS K / s where s = \sqrt{d_k}", r"dS K / s where s = d_k"),
    ("bp:delta_output_sigmoid", r"(T_k - y_k) y_k (1 - y_k) where y_k = O_k", r"(T_k - y_k) y_k where y_k = O_k"),
    # a label before the answer, a layer's label on the left-hand side, ½
    ("softmax_ce:grad_z", r"Answer: $p_i - y_i$", r"Answer: $p_i y_i$"),
    # a summation letter of the student's own where all of the problem's indices share one range
    ("softmax_ce:grad_z", r"p_i \sum_a y_a - y_i", r"p_i \sum_a y_i - y_i"),
    ("pooling:grad_max", r"g [x_i = \max_a x_a]", r"g [x_i = \min_a x_a]"),
    # LaTeX ends a command's name where its letters end: d\sigma is d sigma, g_j\hat{x}_j two factors
    ("layernorm:grad_X", (r"\frac{1}{d\sigma}\left(d\,\gamma_i g_i - \sum_{j=1}^{d} \gamma_j g_j - \hat{x}_i \sum_{j=1}^{d}"
     r" \gamma_j g_j\hat{x}_j\right)"), r"\frac{1}{d\sigma}\left(d\,\gamma_i g_i - \sum_{j=1}^{d} \gamma_j g_j\right)"),
    # NumPy's conventions where the answer shows them: @ for the product makes * elementwise; 1 - O,
    # p / q and log(p) of vectors entry by entry
    ("ffn:grad_W1", r"X.T @ ((G @ W_2.T) * S)", r"X.T @ (G @ W_2.T)"),
    ("bp:delta_output_sigmoid", r"(T - O) \odot O \odot (1 - O)", r"(T - O) \odot O \odot (2 - O)"),
    ("information:grad_q", r"-p / q", r"p / q"),
    ("information:grad_entropy", r"-\log(p) - 1", r"-\log(p) + 1"),
    ("information:grad_p", r"\log(p / q) + 1", r"\log(q / p) + 1"),
    # means: of a vector (a number, broadcast), and over an index
    ("layernorm:grad_X", (r"\frac{1}{\sigma}\left(\gamma \odot g - \mathrm{mean}(\gamma \odot g) - \hat{x} \odot "
     r"\mathrm{mean}(\gamma \odot g \odot \hat{x})\right)"), r"\frac{1}{\sigma}\left(\gamma \odot g - \mathrm{mean}(\gamma \odot g)\right)"),
    ("layernorm:grad_X", r"(gamma_i g_i - mean_j(gamma_j g_j) - xhat_i mean_j(gamma_j g_j xhat_j)) / sigma",
     r"(gamma_i g_i - mean_j(gamma_j g_j) - xhat_i mean_j(gamma_j g_j)) / sigma"),
    # a where clause that states a fact about a function names nothing: the answer is read as written
    ("bp:delta_output_sigmoid", r"(T_k - O_k) f'(net_k), where f'(net_k) = O_k (1 - O_k)",
     r"(T_k - O_k) f'(O_k), where f'(net_k) = O_k (1 - O_k)"),
    ("softmax_ce:grad_z", r"\frac{\partial L}{\partial \mathbf{z}}_i = p_i - y_i", r"\frac{\partial L}{\partial \mathbf{z}}_i = p_i"),
    ("softmax_ce:grad_z", r"\nabla_{z_i} L = p_i - y_i", r"\nabla_{z_i} L = y_i - p_i"),
    ("bp:delta_output_sigmoid", r"\delta_k^{(2)} = (T_k - O_k) O_k (1 - O_k)", r"\delta_k^{(2)} = (T_k - O_k) O_k^2"),
    ("softmax_ce:grad_z", r"½ (2 p_i - 2 y_i)", r"½ (p_i - y_i)"),
    ("softmax_ce:grad_z", r"e^{(z_i)} / \sum_j e^{(z_j)} - y_i", r"e^{(z_i)} / \sum_j e^{(z_i)} - y_i"),
]


@pytest.mark.parametrize(("problem", "right", "wrong"), RIGHT_AND_WRONG)
def test_notation_people_write_reads_right_and_wrong(problem: str, right: str, wrong: str) -> None:
    graded = grade(problem, right)
    assert graded.verdict == "correct", (right, graded.feedback)
    graded = grade(problem, wrong)
    assert graded.verdict != "correct", (wrong, graded.feedback)


# --- what each notation is read as --------------------------------------------------------------

@pytest.mark.parametrize(("written", "normal"), [
    (r"$\hat{x}_i - \mathbf{W}\mathbf{x}$", "xhat_i - W x"),
    (r"\sum_{i,j} a", "sum_{i} sum_{j} a"),
    (r"\sum_{i,j=1}^{n} a", "sum_{i=1}^{n} sum_{j=1}^{n} a"),
    (r"\sum_{k \in \text{outputs}} \delta_k", "sum_{k} delta_k"),
    (r"\mathbb{1}[x_i > 0]", "𝟙[x_i > 0]"),
    (r"\mathbb{1}_{x>0}", "𝟙{x>0}"),
    (r"1[x \geq 0 \land y \le 1]", "𝟙[x >= 0 and y <= 1]"),
    ("x̂ᵢ + ŷ", "xhat_{i} + yhat"),
    (r"\bar{x} + \tilde x", "xbar + xtilde"),
    (r"\mathrm{softmax}(\mathbf z)_i", "softmax(z)_i"),
    (r"w_{kj} \leftarrow w_{kj}", "w_{kj} ← w_{kj}"),
    (r"w \gets w", "w ← w"),
    (r"\Big( a \Bigr]", "( a ]"),
    (r"\sqrt d_k + √x", r"\sqrt d_k + \sqrt x"),
    (r"x**2", "x^2"),
    (r"x_1[i]", "x_1[i]"),
    (r"\max_{j \in R} x_j", "max_{j} x_j"),
])
def test_normalise_respells_tokens_only(written: str, normal: str) -> None:
    assert normalise(written) == normal


def test_kronecker_delta_where_no_delta_is_declared() -> None:
    assert parse(r"\delta_{ik}", CE) == sp.KroneckerDelta(i, k)
    assert parse(r"\delta_{i,k}", CE) == sp.KroneckerDelta(i, k)
    bp = Vocabulary(indexed={"delta": 1, "w": 2}, indices={"k": "O", "j": "H"})
    assert parse(r"\delta_k", bp) == sp.IndexedBase("delta", real=True)[k]


def test_primed_index_is_fresh_with_the_same_range() -> None:
    jp = sp.Symbol("jprime", integer=True, positive=True)
    assert parse(r"\sum_{j'} p_{j'}", CE) == sp.Sum(p[jp], (jp, 1, sp.Symbol("n", integer=True, positive=True)))
    assert "not summed over" in _refused(r"p_{j'}", CE)


def test_max_over_an_index_writes_out_at_a_size() -> None:
    answer = parse(r"\max_j x_j + \min_{j} x_j", POOL)
    assert answer.atoms(MaxOver) and answer.has(sp.Sum) and isinstance(answer.atoms(MaxOver).pop(), MaxOver)
    assert answer.xreplace({m: 3}).doit() == sp.Max(x[1], x[2], x[3]) + sp.Min(x[1], x[2], x[3])
    assert answer.atoms(MinOver) and {type(a) for a in answer.atoms(sp.Sum)} == {sp.Sum}  # a Sum carries each range
    case = parse(r"\begin{cases} g & x_i = \max_j x_j \\ 0 & \text{otherwise}\end{cases}", POOL)
    assert case.atoms(AtExtremum)
    written = case.xreplace({i: 2, m: 3}).doit()
    assert written == sp.Piecewise((sp.Symbol("g"), sp.And(x[2] >= x[1], x[2] >= x[3])), (0, True))
    every = parse(r"[x_i \ge x_j \forall j]", POOL)
    assert every.atoms(AllOver) and every.has(sp.Sum)
    assert j not in every.free_symbols and {i, m} <= every.free_symbols  # the quantifier binds j


def test_max_of_its_arguments_is_the_comparisons() -> None:
    assert parse(r"\mathbb{1}[x_i = \max(x_i, x_j)]", POOL) == sp.Piecewise((1, x[i] >= x[j]), (0, True))


@pytest.mark.parametrize(("text", "reason"), [
    (r"\begin{cases} g & x_i > 0 \end{cases}", "otherwise"),
    (r"\begin{cases} 0 & \text{otherwise} \\ g & x_i > 0 \end{cases}", "last row"),
    (r"\mathbf{1}", "vector of ones"),
    (r"\oint x_i", r"'\\oint'"),
    (r"f(x_i)", "f is not defined"),
    (r"f'(x_i)", "f' is not defined"),
    (r"X_i", "did you mean x_i?"),
    (r"\hat{x}_i", "did you mean x_i?"),
    (r"[x_i > 0", "cannot read"),
    (r"x_i > 0", "cannot read"),
    (r"\frac{\partial L}{\partial x_i}", "cannot read 'partial'"),
    (r"h(x_i)", "unknown symbol"),
])
def test_refusals_name_the_construct(text: str, reason: str) -> None:
    assert reason in _refused(text, POOL)


def test_refusal_examples_are_never_a_key() -> None:
    keys = {p.answer for p in PROBLEMS.values() if getattr(p, "answer", None)}
    for text in (r"\oint x", r"\mathbf{1}", "sum_{k+}"):
        with pytest.raises(InvalidAnswer) as caught:
            normalise(text)
        assert not any(key in str(caught.value) for key in keys), caught.value


def test_a_time_argument_is_refused_where_t_is_a_symbol() -> None:
    words = Vocabulary(indexed={"w": 1, "x": 1}, scalars={"t": sp.Symbol("t"), "eta": sp.Symbol("eta")},
                       indices={"i": "n"})
    assert "reads two ways" in _refused(r"w_i(t) - \eta x_i", words)
    assert "reads two ways" in _refused(r"w_i^{(t)} - \eta x_i", words)
    assert "argmax is an index" in _refused(r"\arg\max_i x_i", words)


def test_a_bracketed_superscript_is_a_label_not_a_power() -> None:
    assert "labels a layer" in _refused(r"p_i^{(2)} - y_i", CE)
    assert "labels a layer" in _refused(r"p_i^{[l]} - y_i", CE)
    assert parse(r"p_i^{2} - y_i", CE) == p[i] ** 2 - y[i]


def test_a_letter_of_the_students_own_must_be_bound() -> None:
    assert "index a is not summed over" in _refused("p_a - y_b", CE)  # two letters of one's own: which is free?
    free = {x for x in parse("p_a - y_a", CE).free_symbols if x.is_Symbol and x.is_integer}
    assert free == {sp.Symbol("a", integer=True, positive=True)}  # the one letter left free: the grader renames it
    assert "unknown index 'n'" in _refused("p_n", CE)  # a size is no index
    two = Vocabulary(indexed={"w": 2}, indices={"k": "O", "j": "H"})
    # which range? the first letter's here; the grader runs it along what it indexes (w's rows)
    assert parse(r"\sum_a w_{aj}", two).limits[0][2] == sp.Symbol("O", integer=True, positive=True)
    assert "index a is not summed over" in _refused("w_{aj}", two)


def test_where_clauses_are_bounded_and_need_index_letters() -> None:
    assert "index letters" in _refused(r"s_q - y_i where s_q = p_i", CE)
    assert "the limit is 4" in _refused("a where a = p_i, b = y_i, c = z_i, d = p_i, f = y_i", CE)
    assert "degree" in _refused("s_i^8 s_j^8 where s_i = p_i^4", CE)  # a defined name is as big as its value
    assert "defined with 1 index" in _refused("s where s_i = p_i", CE)


def test_the_star_rule() -> None:
    assert parse("A * B", MATS) == A * B
    assert "⊙ or .*" in _refused("C * C", MATS)
    elementwise = Vocabulary(matrices={"A": A, "B": B, "C": C}, star="elementwise")
    assert parse("A * B", elementwise) == sp.HadamardProduct(A, B)
    assert "@" in _refused("A * C", elementwise)
    assert parse("A @ C", elementwise) == A * C and parse("2 * A", elementwise) == 2 * A
    assert star_matters("A * B", MATS) and star_matters("C * C", MATS) and not star_matters("A B + 2 * A", MATS)
    assert not star_matters("A (", MATS)


def test_f_is_the_activation_where_the_problem_says_so() -> None:
    words = Vocabulary(indexed={"net": 1}, indices={"k": "n"}, activation="sigma")
    net = sp.IndexedBase("net", real=True)[k]
    s = 1 / (1 + sp.exp(-net))
    assert parse("f(net_k)", words) == s
    assert sp.simplify(parse("f'(net_k)", words) - s * (1 - s)) == 0
    assert sp.simplify(parse(r"\tanh'(net_k)", words) - (1 - sp.tanh(net) ** 2)) == 0


def test_a_linear_units_activation_is_the_identity() -> None:
    words = Vocabulary(indexed={"net": 1, "T": 1, "O": 1}, indices={"k": "n"}, activation="identity")
    T, O, net = (sp.IndexedBase(s, real=True) for s in ("T", "O", "net"))
    assert parse("(T_k - O_k) f'(net_k)", words) == T[k] - O[k]
    assert parse("f(net_k)", words) == net[k]


def test_applications_read_the_forwards_result() -> None:
    assert parse(r"\mathrm{softmax}(\mathbf{z})_i", CE) == p[i]
    assert parse("softmax(z)", CE) == sp.MatrixSymbol("p", sp.Symbol("n"), 1)
    assert "softmax(z) is p" in _refused("softmax(y)_i", CE)


def test_numbers_functions_and_division_of_matrices_are_entrywise_as_in_forwards() -> None:
    """One language with the forwards (verify/expression.py) and NumPy: 1 - A is 1 - A_ij in each
    entry (not I - A), exp(A) is entry by entry (not the matrix exponential), A / B divides entries."""
    square = Vocabulary(matrices={"A": A, "B": B})
    ones = sp.OneMatrix(*A.shape)
    assert _explicit(parse("1 - A", square)) == _explicit(ones - A)
    assert _explicit(parse("exp(A)", square)) == _explicit(A).applyfunc(sp.exp)
    assert _explicit(parse("A / B", square)) == sp.matrix_multiply_elementwise(_explicit(A), _explicit(B).applyfunc(lambda b: 1 / b))


def test_a_row_or_a_column_broadcasts_over_a_matrix_as_in_forwards() -> None:
    g, s = sp.MatrixSymbol("g", 3, 1), sp.MatrixSymbol("s", 3, 1)
    words = Vocabulary(matrices={"A": A, "g": g, "s": s})
    explicit_a = _explicit(A)
    assert _explicit(parse("A ⊙ (1 g^T)", words)) == sp.Matrix(3, 3, lambda i, j: explicit_a[i, j] * g[j, 0])
    assert _explicit(parse("A / s", words)) == sp.Matrix(3, 3, lambda i, j: explicit_a[i, j] / s[i, 0])
    assert _explicit(parse("A + 1 g^T", words)) == sp.Matrix(3, 3, lambda i, j: explicit_a[i, j] + g[j, 0])
    assert _explicit(parse("colsum(A)", words)) == sp.Matrix(1, 3, lambda i, j: sum(explicit_a[k, j] for k in range(3)))


def _explicit(x: sp.Basic) -> sp.Matrix:
    return sp.Matrix(sp.Matrix(x.as_explicit()).applyfunc(lambda e: sp.simplify(e.doit())))


def test_cdot_is_a_product_whatever_the_star_rule() -> None:
    elementwise = Vocabulary(matrices={"A": A, "B": B, "C": C}, star="elementwise")
    assert parse(r"A \cdot C", elementwise) == A * C and not star_matters(r"A \cdot B", MATS)


def test_parsing_hostile_token_soup_only_ever_refuses() -> None:
    import random

    words = Vocabulary(indexed={"x": 1, "w": 2, "p": 1}, scalars={"g": sp.Symbol("g"), "t": sp.Symbol("t")},
                       matrices={"A": A, "C": C}, indices={"i": "n", "j": "n", "k": "m"},
                       vectors={"p": sp.MatrixSymbol("p", sp.Symbol("n"), 1)}, applications={("softmax", "x"): "p"},
                       activation="sigma")
    tokens = ["x_i", "x_j", "w_{kj}", "p", "A", "C", "g", "t", "(", ")", "[", "]", "{", "}", "+", "-", "*", "/", "^", "=",
              "<-", ":=", "-=", r"\sum_k", r"\sum_{j'}", r"\max_j", r"\mathbb{1}", r"\begin{cases}", r"\end{cases}", "&",
              "\\\\", r"\text{otherwise}", r"\text{if}", ">", r"\geq", r"\forall j", ",", "softmax(x)", "_i", "f'(",
              "sigma'(", "p[i]", "w[k][j]", r"\hat{x}_i", r"\sqrt", "2", "1", "0", r"\delta_{ij}", "'", "|", r"\left(",
              r"\right)", "$", r"\tanh^2(", "ᵀ", "⊙", "@", "e", "exp(", "and", "for all i", "(t)"]
    rng = random.Random(15)
    for _ in range(2000):
        text = " ".join(rng.choice(tokens) for _ in range(rng.randint(1, 12)))
        try:
            parse(text, words)
        except InvalidAnswer:
            pass


def test_conditions_inside_brackets_are_not_framing() -> None:
    assert parse(r"p_i [y_i = 1]", CE) == p[i] * sp.Piecewise((1, sp.Eq(y[i], 1)), (0, True))
    assert parse(r"[y_i<-1]", CE) == sp.Piecewise((1, y[i] < -1), (0, True))
    assert parse(r"q = p_i = p_i - y_i", CE) == p[i] - y[i]


# --- the round trip: every key in every notation --------------------------------------------------

def _frames(key: str) -> list[str]:
    """The key as people dress it: typeset, framed, bracketed, with LaTeX's sums."""
    latex = key.replace("sum_", r"\sum\limits_").replace("sqrt(d_k)", r"\sqrt{d_k}")
    return [f"${key}$", f"$$ {latex} $$", rf"\[ {latex} \]", rf"\left( {latex} \right)", rf"\mathrm{{ans}} = {key}",
            rf"\frac{{\partial L}}{{\partial \theta}} = {latex}", rf"\displaystyle {latex.replace('sum_', 'sum_')}",
            key.replace("sum_", "Σ_"), key.replace("(", r"\big(").replace(")", r"\big)")]


KEYS = {pid: problem.answer for pid, problem in PROBLEMS.items() if getattr(problem, "answer", None)}


@pytest.mark.parametrize("pid", sorted(KEYS))
@given(frame=st.integers(0, 8))
def test_every_key_in_every_notation_parses_back_the_same(pid: str, frame: int) -> None:
    from verify.homework.problems import _setting

    words = _setting(pid, 0)[1]
    key = KEYS[pid]
    assert parse(_frames(key)[frame], words) == parse(key, words)


@pytest.mark.parametrize("pid", sorted(KEYS))
def test_every_key_framed_grades_correct_and_mutated_does_not(pid: str) -> None:
    key = KEYS[pid]
    frames = _frames(key)
    assert grade(pid, frames[hash(pid) % len(frames)]).verdict == "correct"
    assert grade(pid, rf"\frac{{\partial L}}{{\partial \theta}} = 2 \left( {key} \right)").verdict != "correct"


def test_no_message_of_the_language_shows_a_key() -> None:
    """The examples in refusals (e.g. ..., as in ...) show the construct, never a problem's answer: every
    string of language.py but its docstrings and comments is checked."""
    import ast
    import inspect

    from verify.homework import language

    tree = ast.parse(inspect.getsource(language))
    docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                  if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef)) and node.body
                  and isinstance(node.body[0], ast.Expr) and isinstance(node.body[0].value, ast.Constant)}
    shown = " | ".join(node.value for node in ast.walk(tree) if isinstance(node, ast.Constant)
                       and isinstance(node.value, str) and id(node) not in docstrings)
    assert "write it entry by entry" in shown  # the scan sees the messages
    for key in KEYS.values():
        for written in {key, key.replace(" ", ""), key.replace("^T", "'")}:
            assert written not in shown, written


def test_an_entry_in_brackets_may_have_spaces_after_its_commas() -> None:
    from verify.homework.problems import grade

    assert grade("bp:delta_hidden", r"H_j (1 - H_j) \sum_{k} \delta_k w[k, j]").verdict == "correct"
    assert grade("bp:delta_hidden", r"H_j (1 - H_j) \sum_{k} \delta_k w[j, k]").verdict == "incorrect"


@pytest.mark.parametrize(("problem_id", "text", "verdict"), [
    # a left-hand side that says what the answer is: its sign counts
    ("bp:delta_output_sigmoid", r"-\delta_k = (O_k - T_k) O_k (1 - O_k)", "correct"),
    ("bp:delta_output_sigmoid", r"-\delta_k = (T_k - O_k) O_k (1 - O_k)", "incorrect"),
    ("bp:delta_output_sigmoid", r"-\frac{\partial E}{\partial net_k} = (T_k - O_k) O_k (1 - O_k)", "correct"),
    ("bp:delta_output_sigmoid", r"\delta_k = -\frac{\partial E}{\partial net_k} = (T_k - O_k) O_k (1 - O_k)", "correct"),
    ("softmax_ce:grad_z", r"-\frac{\partial L}{\partial z_i} = y_i - p_i", "correct"),
    ("softmax_ce:grad_z", r"-\frac{\partial L}{\partial z_i} = p_i - y_i", "incorrect"),
    ("softmax_ce:grad_z", r"\frac{\partial L}{\partial z_j} = p_j - y_j", "correct"),
    ("softmax_ce:grad_z", r"\frac{\partial L}{\partial o_i} = p_i - y_i", "correct"),  # a name of the source's own
    ("attention:grad_Q", r"dQ = dS K / \sqrt{d_k}", "correct"),
    ("ffn:grad_W1", r"\nabla_{W_1} L = X^T ((G W_2^T) \odot S)", "correct"),
    # a left-hand side that names another quantity of the problem is a false statement
    ("softmax_ce:grad_z", r"\frac{\partial L}{\partial y_i} = p_i - y_i", "invalid"),
    ("attention:grad_Q", r"dK = dS K / \sqrt{d_k}", "invalid"),
    ("ffn:grad_W1", r"\nabla_{W_2} L = X^T ((G W_2^T) \odot S)", "invalid"),
])
def test_a_left_hand_side_is_read_for_its_sign_and_what_it_names(problem_id: str, text: str, verdict: str) -> None:
    from verify.homework.problems import grade

    g = grade(problem_id, text)
    assert g.verdict == verdict, g.feedback
    if verdict == "invalid":
        assert "left-hand side" in g.feedback and "asks for the one with respect to" in g.feedback


def test_a_delta_problem_answered_with_the_derivative_it_names_is_read_by_the_convention() -> None:
    from verify.homework.problems import grade

    right = grade("bp:delta_output_sigmoid", r"\frac{\partial E}{\partial net_k} = (O_k - T_k) O_k (1 - O_k)")
    assert right.verdict == "correct"  # a true dE/dnet_k: delta_k is minus it
    wrong = grade("bp:delta_output_sigmoid", r"\frac{\partial E}{\partial net_k} = (T_k - O_k) O_k (1 - O_k)")
    assert wrong.verdict == "incorrect" and "delta_k = -dE/dnet_k" in wrong.feedback


def _graded_as(problem_id: str, text: str, verdict: str) -> None:
    """The verdict an answer gets, with its feedback shown when it is another."""
    g = grade(problem_id, text)
    assert g.verdict == verdict, g.feedback


@pytest.mark.parametrize(("problem_id", "text", "verdict"), [
    # LaTeX's one-character subscripts run together (Math Stack Exchange's softmax derivation)
    ("softmax_ce:grad_z", r"-y_i+y_ip_i+\sum_{k\neq i}y_k({p_i})", "correct"),
    ("softmax_ce:grad_z", r"-y_i+y_ip_i+\sum_{k\neq i}y_k({p_k})", "incorrect"),
    # two vectors side by side, which no matrix product joins, multiply entry by entry (llm.c)
    ("layernorm:grad_X", r"(gamma*g - mean(gamma*g) - xhat*mean(gamma*g*xhat)) / sigma", "correct"),
    ("layernorm:grad_X", r"(gamma g - mean(gamma g) + xhat mean(gamma g xhat)) / sigma", "incorrect"),
    # a summation letter of the student's own where the problem's letters run to different sizes
    ("attention:grad_V", r"dV_{ij} = \sum_{a} A_{ai} G_{aj}", "correct"),
    ("attention:grad_V", r"dV_{ij} = \sum_{a} A_{ia} G_{aj}", "incorrect"),
    # the problem's own weight name for the whole matrix, and the row mean as x-bar
    ("bp:update_w_output", r"w + \alpha \delta H^T", "correct"),
    ("bp:update_w_output", r"w - \alpha \delta H^T", "incorrect"),
    ("layernorm:grad_X", (r"\frac{1}{\sigma}\left(\gamma_i g_i - \frac{1}{d}\sum_j \gamma_j g_j - \frac{x_i - \bar{x}}"
                          r"{d\,\sigma^2}\sum_j \gamma_j g_j (x_j - \bar{x})\right)"), "correct"),
    ("layernorm:grad_X", (r"\frac{1}{\sigma}\left(\gamma_i g_i - \frac{1}{d}\sum_j \gamma_j g_j - \frac{x_i - \bar{x}}"
                          r"{d\,\sigma}\sum_j \gamma_j g_j (x_j - \bar{x})\right)"), "incorrect"),
])
def test_notation_found_in_real_derivations(problem_id: str, text: str, verdict: str) -> None:
    _graded_as(problem_id, text, verdict)


@pytest.mark.parametrize(("problem_id", "text", "verdict"), [
    # a minus on a step of a chain is that step's own: only a left-hand side that names something turns the sign
    ("softmax_ce:grad_z", r"dL/dz_i = -y_i + p_i = y_i - p_i", "incorrect"),
    ("softmax_ce:grad_z", r"-1 = y_i - p_i", "incorrect"),
    ("softmax_ce:grad_z", r"\frac{\partial L}{\partial z_i} = -y_i + p_i \sum_k y_k = p_i - y_i", "correct"),
    ("attention:grad_V", r"dV = -(-A^T G) = -A^T G", "incorrect"),
    ("bp:delta_output_sigmoid", r"\delta_k = -(O_k - T_k) O_k (1 - O_k) = (T_k - O_k) O_k (1 - O_k)", "correct"),
    ("bp:delta_output_sigmoid", (r"\delta_k = -\frac{\partial E}{\partial O_k} \frac{\partial O_k}{\partial net_k} = "
     r"(T_k - O_k) O_k (1 - O_k)"), "correct"),
    ("bp:delta_output_linear", r"\delta_k = -\frac{\partial E}{\partial O_k} = T_k - O_k", "correct"),  # a step, not the LHS
    # a set after \in is a name (the whole range), or an exclusion after it; anything else is refused, never dropped
    ("softmax_ce:grad_z", r"\frac{e^{z_i}}{\sum_{j \in C} e^{z_j}} - y_i", "correct"),
    ("softmax_ce:grad_z", r"\frac{e^{z_i}}{\sum_{j \in C, j \ne i} e^{z_j}} - y_i", "incorrect"),
    ("softmax_ce:grad_z", r"\frac{e^{z_i}}{\sum_{j \in S \setminus i} e^{z_j}} - y_i", "invalid"),
    ("softmax_ce:grad_z", r"\frac{e^{z_i}}{\sum_{j \in [1, i-1]} e^{z_j}} - y_i", "invalid"),
    ("pooling:grad_max", r"g \mathbb{1}[x_i = \max_{j \in W} x_j]", "correct"),
    ("pooling:grad_max", r"g \mathbb{1}[x_i = \max_{j \in S, j \ne i} x_j]", "invalid"),
    # graded where d_k > 1: a row sum of G is not G
    ("attention:grad_S", r"A \odot (dA - rowsum(rowsum(G) \odot O))", "incorrect"),
    ("attention:grad_S", r"A \odot (G V^T - rowsum(G \odot O))", "correct"),
])
def test_found_in_review_chains_sets_and_sizes(problem_id: str, text: str, verdict: str) -> None:
    _graded_as(problem_id, text, verdict)


@pytest.mark.parametrize(("problem_id", "text", "verdict"), [
    # a where clause's stated value for an expression is taken at its word, like a definition
    ("bp:delta_output_sigmoid", r"(T_k - O_k) f'(net_k) where f'(net_k) = O_k (1 - O_k)", "correct"),
    ("bp:delta_output_sigmoid", r"(T_k - O_k) f'(net_k) where f'(net_k) = 1", "incorrect"),
    ("bp:delta_output_linear", r"(T_k - O_k) f'(net_k) where f'(net_k) = 1", "correct"),
    ("bp:delta_output_linear", r"(T_k - O_k) f'(net_k) where f'(net_k) = 2", "invalid"),
    ("bp:delta_output_sigmoid", r"(T_k - O_k) \sigma'(net_k) where \sigma'(x) = 1", "invalid"),
    # a left-hand side's index letters are the answer's
    ("softmax_ce:grad_z", r"dL/dz_j = p_i - y_i", "invalid"),
    ("information:grad_q", r"dKL/dq_j = -p_i/q_i", "invalid"),
    ("softmax_ce:grad_z", r"dL/dz_j = p_j - y_j", "correct"),
    # an upper bound named by a capital that names nothing else: the index's size
    ("softmax_ce:grad_z", r"p_i \sum_{j=1}^{K} y_j - y_i", "correct"),
    ("softmax_ce:grad_z", r"p_i \sum_{j=1}^{K-1} y_j - y_i", "incorrect"),
])
def test_found_in_review_facts_letters_and_bounds(problem_id: str, text: str, verdict: str) -> None:
    _graded_as(problem_id, text, verdict)


@pytest.mark.parametrize(("problem_id", "text", "verdict", "words"), [
    ("softmax_ce:grad_z", "p - y_i", "invalid", "mixes whole vectors or matrices with entries"),
    ("bp:delta_hidden", r"\sigma'(net) \odot (W^T \delta)", "correct", "correct"),  # sigma' of a vector, entry by entry
    ("bp:delta_hidden", r"\sigma'(net) \odot (W \delta)", "incorrect", "swapped indices"),
])
def test_vectors_and_entries(problem_id: str, text: str, verdict: str, words: str) -> None:
    from verify.homework.problems import grade

    g = grade(problem_id, text)
    assert g.verdict == verdict and words in g.feedback


@pytest.mark.parametrize(("problem_id", "text", "verdict"), [
    # a value that differs only where two real inputs tie is refused, never credited
    ("softmax_ce:grad_z", r"p_i - y_i + \mathbb{1}[y_i = 1]", "invalid"),
    ("perceptron:update_w", r"w_i - \eta (y - t) x_i + \mathbb{1}[y = t]", "invalid"),
    ("perceptron:update_b", r"b - \eta (y - t) if y != t else 0", "invalid"),
    # equalities that are comparisons in disguise, or of indices, are read
    ("pooling:grad_max", r"g \mathbb{1}[x_i = \max_j x_j]", "correct"),
    ("softmax_ce:grad_z", r"\sum_k y_k (p_i - \delta_{ik})", "correct"),
])
def test_ties_between_real_inputs_are_refused(problem_id: str, text: str, verdict: str) -> None:
    _graded_as(problem_id, text, verdict)


_R = "(T_k - O_k) O_k (1 - O_k)"


@pytest.mark.parametrize(("problem_id", "text", "verdict"), [
    # the left-hand side is read: a factor, power or transpose on what the problem asks is refused
    ("bp:delta_output_sigmoid", rf"2\delta_k = {_R}", "invalid"),
    ("bp:delta_output_sigmoid", rf"\delta_k^2 = {_R}", "invalid"),
    ("attention:grad_V", r"dV^T = A^T G", "invalid"),
    # another quantity of the problem on the left is a false statement
    ("bp:delta_output_sigmoid", rf"O_k = {_R}", "invalid"),
    ("softmax_ce:grad_z", r"p_i = p_i - y_i", "invalid"),
    ("softmax_ce:grad_z", r"\nabla_p L = p - y", "invalid"),
    ("layernorm:grad_X", r"dL/d\sigma = (gamma_i g_i - (1/d) sum_j gamma_j g_j - xhat_i (1/d) sum_j gamma_j g_j xhat_j) / sigma",
     "invalid"),
    # dE/dnet_k is minus delta_k: a true one is right, a false one is a sign slip
    ("bp:delta_output_sigmoid", rf"\frac{{\partial E}}{{\partial net_k}} = -{_R}", "correct"),
    ("bp:delta_output_sigmoid", rf"dE/dnet_k = {_R}", "incorrect"),
    # labels of the author's own, a layer's label, and the asked quantity whole are read
    ("bp:delta_output_sigmoid", rf"E = {_R}", "correct"),
    ("bp:delta_output_sigmoid", rf"\delta_k^{{(2)}} = {_R}", "correct"),
    ("softmax_ce:grad_z", r"\nabla_{\mathbf z} \mathcal{L} = p - y", "correct"),
    ("perceptron:update_w", r"\nabla_\theta L = w_i - \eta (y - t) x_i", "correct"),  # theta, not its t
    ("bp:update_w_output", r"W \leftarrow W + \alpha \delta H^T", "correct"),
    ("perceptron:update_w", r"w_i \leftarrow w_i - \eta (y - t) x_i", "correct"),
    ("perceptron:update_w", r"x_i \leftarrow w_i - \eta (y - t) x_i", "invalid"),
])
def test_the_left_hand_side_says_what_the_answer_is(problem_id: str, text: str, verdict: str) -> None:
    from verify.homework.problems import grade

    g = grade(problem_id, text)
    assert g.verdict == verdict, g.feedback


@pytest.mark.parametrize(("problem_id", "text", "verdict", "words"), [
    # a chain's steps and a where clause's values are statements: a false one makes a right value wrong
    ("bp:delta_output_sigmoid", rf"\delta_k = (T_k - O_k) = {_R}", "incorrect", "the step T_k - O_k"),
    ("softmax_ce:grad_z", r"dL/dz_i = y_i - p_i = p_i - y_i", "incorrect", "the step y_i - p_i"),
    ("bp:delta_output_sigmoid", r"\delta_k = -(T_k - O_k) f'(net_k) where f'(net_k) = -O_k(1 - O_k)", "incorrect",
     "where clause's f'(net_k)"),
    ("bp:delta_output_sigmoid", r"(T_k - net_k) net_k (1 - net_k) where net_k = O_k", "incorrect", "net_k = O_k"),
    # true ones, and steps that are no expression (partial derivatives), leave a right answer right
    ("softmax_ce:grad_z", r"\frac{\partial L}{\partial z_i} = -y_i + p_i \sum_k y_k = p_i - y_i", "correct", "correct"),
    ("bp:delta_output_sigmoid", rf"\delta_k = -\frac{{\partial E}}{{\partial net_k}} = {_R}", "correct", "correct"),
    ("softmax_ce:grad_z", r"p_i - y_i where p_i = e^{z_i}/\sum_k e^{z_k}", "correct", "correct"),
    ("bp:delta_output_linear", r"(T_k - net_k) where net_k = O_k", "correct", "correct"),
])
def test_steps_and_stated_values_are_checked(problem_id: str, text: str, verdict: str, words: str) -> None:
    from verify.homework.problems import grade

    g = grade(problem_id, text)
    assert g.verdict == verdict and words in g.feedback, g.feedback


@pytest.mark.parametrize(("problem_id", "text", "verdict"), [
    # one undeclared capital stands for one size; a single letter is no set's name
    ("conv:grad_W", r"\sum_{i=1}^{H} \sum_{j=1}^{H} G_{ij} X_{i+u-1,j+v-1}", "invalid"),
    ("softmax_ce:grad_z", r"p_i \sum_{j=1}^{K} y_j - y_i \sum_{k=1}^{K} y_k", "correct"),
    ("softmax_ce:grad_z_general", r"p_i \sum_{j \in i} y_j - y_i", "invalid"),
    ("softmax_ce:grad_z_general", r"p_i \sum_{j \in C} y_j - y_i", "correct"),
])
def test_capitals_and_sets_in_sum_bounds(problem_id: str, text: str, verdict: str) -> None:
    _graded_as(problem_id, text, verdict)


@pytest.mark.parametrize(("problem_id", "text", "verdict"), [
    # the free index under a letter of the author's own (Mitchell's delta_h, j for an output)
    ("bp:delta_output_sigmoid", r"\delta_j = (T_j - O_j) O_j (1 - O_j)", "correct"),
    ("bp:delta_hidden", r"\delta_h = H_h(1-H_h)\sum_o w_{oh}\delta_o", "correct"),
    ("bp:delta_hidden", r"\delta_h = H_h(1-H_h)\sum_o w_{ho}\delta_o", "incorrect"),
    ("bp:delta_output_sigmoid", r"(T_j - O_k) O_j (1 - O_j)", "invalid"),
    ("softmax_ce:grad_z", r"p_a - y_b", "invalid"),
])
def test_the_free_index_under_the_authors_own_letter(problem_id: str, text: str, verdict: str) -> None:
    _graded_as(problem_id, text, verdict)


@pytest.mark.parametrize(("problem_id", "text", "verdict"), [
    # softmax of an expression the forward does not name: of a vector over its entries, of a matrix by rows
    ("attention:grad_V", r"\mathrm{softmax}\left(\frac{Q K^T}{\sqrt{d_k}}\right)^T G", "correct"),
    ("attention:grad_V", r"\mathrm{softmax}\left(\frac{Q K^T}{\sqrt{d_k}}\right) G", "incorrect"),
    ("attention:grad_V", r"\mathrm{softmax}\left(Q K^T\right)^T G", "incorrect"),
    ("softmax_ce:grad_z", r"softmax(z + 1) - y", "correct"),
    ("softmax_ce:grad_z", r"softmax(2 z) - y", "incorrect"),
])
def test_softmax_of_an_expression(problem_id: str, text: str, verdict: str) -> None:
    _graded_as(problem_id, text, verdict)


@pytest.mark.parametrize(("problem_id", "text", "verdict"), [
    # X ⋆ G, the valid cross-correlation CNN notes write for a convolution's weight gradient
    ("conv:grad_W", r"X \star G", "correct"),
    ("conv:grad_W", r"X ⋆ G", "correct"),
    ("conv:grad_W", r"2 X \star G", "incorrect"),
    ("conv:grad_W", r"G \star X", "invalid"),  # the kernel must fit inside the signal
])
def test_cross_correlation(problem_id: str, text: str, verdict: str) -> None:
    _graded_as(problem_id, text, verdict)
